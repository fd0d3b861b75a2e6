"""Datasets: MPII annotations (:mod:`.mpii`), SynthPose renders of them (:mod:`.synthpose`:
the data set, built on :mod:`.poses`, :mod:`.render` and :mod:`.drawing`; figures in
:mod:`.synthpose_figures`), MARS radar features (:mod:`.mars`) and a simulated radar
(:mod:`.radarsim`)."""

from pose_helpers.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, __path__)
