"""Table cells: a thresholded copy of a network, scored (sparsity, theoretical size, PCKh).

One convention for a run that diverged (NaN loss): its cells are NaN everywhere, its
``nonzero_weights`` included (:func:`diverged_cells`), for every method.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

from pose_helpers.data.mpii import PCKH_COLUMNS
from pose_helpers.studies.compression.common import (
    EVAL_BATCH,
    THRESHOLD_MODES,
    full_scale_baseline_mb,
)

__all__ = ["diverged_cells", "nan_table", "score_cell", "score_cells", "thresholding"]


def nan_table() -> dict[str, float]:
    """A PCKh table (Head ... Mean) of NaN: what a diverged network scores."""
    return {c: math.nan for c in PCKH_COLUMNS}


def diverged_cells(thresholds: Sequence[float]) -> list[dict[str, Any]]:
    """The cells of a run that diverged: one per threshold, every value NaN."""
    return [
        {
            "threshold": t,
            "sparsity": math.nan,
            "retained": math.nan,
            "size_mb": math.nan,
            "nonzero_weights": math.nan,
            "pckh": math.nan,
            "table": nan_table(),
        }
        for t in thresholds
    ]


def score_cell(
    sparse: Any, threshold: float, val_data: Any, baseline_params: int
) -> dict[str, Any]:
    """One table cell: a thresholded network's sparsity, theoretical size (retained x the
    full-scale checkpoint, :func:`full_scale_baseline_mb`) and PCKh on ``val_data``.

    Returns:
        ``threshold``, ``sparsity`` (% zero), ``retained``, ``size_mb``, ``nonzero_weights``,
        ``pckh`` (mean) and ``table`` (Head ... Mean).
    """
    from pose_helpers.compress import regularizers
    from pose_helpers.train import loop as train

    _, table = train.evaluate(sparse, val_data, batch_size=EVAL_BATCH)
    report = regularizers.sparsity_report(
        sparse, baseline_params, baseline_mb=full_scale_baseline_mb()
    )
    return {
        "threshold": float(threshold),
        "sparsity": float(report["sparsity"]),
        "retained": float(report["retained"]),
        "size_mb": float(report["size_mb"]),
        "nonzero_weights": int(report["nonzero_weights"]),
        "pckh": float(table["Mean"]),
        "table": table,
    }


def score_cells(
    model: Any,
    zero: Callable[[Any, float], Any],
    thresholds: Sequence[float],
    val_data: Any,
    baseline_params: int,
) -> list[dict[str, Any]]:
    """Per threshold: a copy of ``model`` with ``zero(copy, threshold)`` applied, scored
    (:func:`score_cell`)."""
    cells = []
    for threshold in thresholds:
        sparse = copy.deepcopy(model).eval()
        zero(sparse, threshold)
        cells.append(score_cell(sparse, threshold, val_data, baseline_params))
    return cells


def thresholding(method: str) -> Callable[[Any, float], Any]:
    """How a method's model is zeroed at a threshold: single weights (L1), whole groups."""
    from pose_helpers.compress import regularizers

    return lambda model, threshold: regularizers.threshold_(
        model, threshold, THRESHOLD_MODES[method]
    )
