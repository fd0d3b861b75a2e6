"""Metrics: PCKh and heatmap decoding for 2-D pose (:mod:`.pose`), joint errors for radar
pose (:mod:`.radar`). The pose metrics are re-exported here (``ph.metrics.pckh``)."""

from __future__ import annotations

from . import pose, radar
from .pose import (
    heatmap_to_image_coords,
    heatmap_to_original_coords,
    heatmaps_to_coords,
    image_to_heatmap_coords,
    left_right_swaps,
    normalized_distances,
    pckh,
    pckh_curve,
    pckh_table,
)

__all__ = [
    "heatmap_to_image_coords",
    "heatmap_to_original_coords",
    "heatmaps_to_coords",
    "image_to_heatmap_coords",
    "left_right_swaps",
    "normalized_distances",
    "pckh",
    "pckh_curve",
    "pckh_table",
    "pose",
    "radar",
]

from pose_helpers.core.lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__, __path__)
