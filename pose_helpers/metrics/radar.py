"""Errors of 3-D joint predictions in the MARS label layout, in centimetres.

Predictions and targets are ``(N, 57)`` arrays in metres: columns 0-18 are the 19 joints'
x, 19-37 their y, 38-56 their z (:func:`to_joints` gives ``(N, 19, 3)``). The definitions
follow the MARS paper's evaluation code (``MARS_model.py``):

- MAE per coordinate: the mean of ``|error|`` over frames and joints (``mae_x`` ...);
  ``mae_cm`` is the mean of the three.
- RMSE per coordinate: the root-mean-square error over frames of each joint's coordinate,
  then averaged over the 19 joints (MARS takes sklearn's per-column RMSE, then the mean);
  ``rmse_cm`` is the mean of the three. It is not ``sqrt`` of the pooled squared error.
- Per-joint error and MPJPE: the Euclidean distance between predicted and true joint,
  averaged over frames (per joint) and over joints too (MPJPE).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["AXES", "mae_cm", "mpjpe_cm", "per_joint_cm", "rmse_cm", "summary", "to_joints"]

AXES = ("x", "y", "z")
NUM_JOINTS = 19


def to_joints(flat: Any) -> np.ndarray:
    """``(N, 57)`` MARS layout -> ``(N, 19, 3)`` (joint, then x, y, z).

    Raises:
        ValueError: unless the input is a finite ``(N, 57)`` array with ``N >= 1``.
    """
    array = np.asarray(flat, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3 * NUM_JOINTS or len(array) < 1:
        raise ValueError(f"expected an (N, 57) array of joints, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("joint array contains NaN or infinite values")
    return array.reshape(len(array), 3, NUM_JOINTS).transpose(0, 2, 1)


def _errors(pred: Any, target: Any) -> np.ndarray:
    """Prediction minus target in cm, ``(N, 19, 3)``."""
    p, t = to_joints(pred), to_joints(target)
    if p.shape != t.shape:
        raise ValueError(f"prediction shape {p.shape} differs from target shape {t.shape}")
    return 100.0 * (p - t)


def mae_cm(pred: Any, target: Any) -> dict[str, float]:
    """Mean absolute error per coordinate (``x``, ``y``, ``z``) and their mean (``mean``), cm."""
    per_axis = np.abs(_errors(pred, target)).mean(axis=(0, 1))
    return {
        **{a: float(v) for a, v in zip(AXES, per_axis, strict=True)},
        "mean": float(per_axis.mean()),
    }


def rmse_cm(pred: Any, target: Any) -> dict[str, float]:
    """MARS's RMSE per coordinate (per-joint RMSE over frames, averaged over joints) and mean, cm."""
    per_joint_axis = np.sqrt(np.square(_errors(pred, target)).mean(axis=0))  # (19, 3)
    per_axis = per_joint_axis.mean(axis=0)
    return {
        **{a: float(v) for a, v in zip(AXES, per_axis, strict=True)},
        "mean": float(per_axis.mean()),
    }


def per_joint_cm(pred: Any, target: Any) -> np.ndarray:
    """Mean Euclidean error of each of the 19 joints over the frames, cm."""
    return np.linalg.norm(_errors(pred, target), axis=2).mean(axis=0)


def mpjpe_cm(pred: Any, target: Any) -> float:
    """Mean per-joint position error: the Euclidean error averaged over joints and frames, cm."""
    return float(per_joint_cm(pred, target).mean())


def summary(pred: Any, target: Any) -> dict[str, Any]:
    """All of the above as one JSON-able dict.

    Keys: ``mae_cm``, ``mae_x``, ``mae_y``, ``mae_z``, ``rmse_cm``, ``rmse_x``, ``rmse_y``,
    ``rmse_z``, ``mpjpe_cm`` and ``per_joint_cm`` (a list of 19, in :data:`mars.JOINTS` order).
    """
    mae, rmse = mae_cm(pred, target), rmse_cm(pred, target)
    per_joint = per_joint_cm(pred, target)
    return {
        "mae_cm": mae["mean"],
        **{f"mae_{a}": mae[a] for a in AXES},
        "rmse_cm": rmse["mean"],
        **{f"rmse_{a}": rmse[a] for a in AXES},
        "mpjpe_cm": float(per_joint.mean()),
        "per_joint_cm": [float(v) for v in per_joint],
    }
