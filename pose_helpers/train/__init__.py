"""Training: the loop (:mod:`.loop`: ``fit``, ``predict``, ``evaluate``) and one training
run on SynthPose as a plain, cached function (:mod:`.runs`)."""

from __future__ import annotations

from .loop import TrainConfig, TrainResult, evaluate, fit, predict

__all__ = ["TrainConfig", "TrainResult", "evaluate", "fit", "predict"]

from pose_helpers.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, __path__)
