"""The toolkit chapter's check of the metric: our PCKh on the published MPII predictions.

The data folder ships the predictions of a public 2-stack and 8-stack hourglass on MPII's
2,958 validation persons (:func:`pose_helpers.data.mpii.load_predictions`) and states their
published PCKh@0.5 tables in its README (:func:`pose_helpers.data.mpii.published_pckh`).
:func:`score_published_predictions` puts our :func:`pose_helpers.metrics.pose.pckh` beside
them; :func:`plot_published_curves` draws mean PCKh against the threshold.

Every ``root`` argument is a data-root override (see
:func:`pose_helpers.core.paths.dataset_dir`); without MPII annotations these functions raise
:class:`FileNotFoundError`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pandas as pd

from pose_helpers.data.mpii import (
    PCKH_COLUMNS,
    PREDICTION_NAMES,
    load_gt_valid,
    load_predictions,
    published_pckh,
)
from pose_helpers.metrics.pose import pckh, pckh_curve, pckh_table

__all__ = ["plot_published_curves", "score_published_predictions"]

PathLike = str | os.PathLike


def score_published_predictions(root: PathLike | None = None) -> pd.DataFrame:
    """Score the shipped hourglass predictions with :func:`~pose_helpers.metrics.pose.pckh`
    beside the published table.

    Args:
        root: data-root override.

    Returns:
        One row per predictions file and source (``ours`` / ``published``) with the
        columns Head ... Mean, and a ``max |diff|`` column on our rows.

    Raises:
        FileNotFoundError: the MPII annotations, predictions or README are absent.
        ValueError: a file is corrupt, or the README has no PCKh table.
    """
    gt = load_gt_valid(root)
    published = published_pckh(root)
    rows = []
    for name, label in zip(PREDICTION_NAMES, published["predictions"], strict=True):
        per_joint = pckh(load_predictions(name, root), gt["pos_gt"], gt["head_size"], gt["visible"])
        ours = pckh_table(per_joint)
        theirs = published.loc[published["predictions"] == label].iloc[0]
        diff = max(abs(ours[c] - float(theirs[c])) for c in PCKH_COLUMNS)
        rows.append({"predictions": label, "source": "ours", **ours, "max |diff|": diff})
        rows.append(
            {
                "predictions": label,
                "source": "published",
                **{c: float(theirs[c]) for c in PCKH_COLUMNS},
            }
        )
    return pd.DataFrame(rows)


def plot_published_curves(thresholds: Sequence[float], root: PathLike | None = None) -> Any:
    """Mean PCKh against the threshold for each shipped predictions file.

    Args:
        thresholds: PCKh thresholds (fractions of the head size), the x axis.
        root: data-root override.

    Returns:
        The matplotlib Figure (one curve per predictions file, labelled as in the README).

    Raises:
        FileNotFoundError: the MPII annotations, predictions or README are absent.
        ValueError: a file is corrupt, the README has no PCKh table, or a threshold is
            negative.
    """
    import matplotlib.pyplot as plt

    gt = load_gt_valid(root)
    labels = published_pckh(root)["predictions"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, label in zip(PREDICTION_NAMES, labels, strict=True):
        curve = pckh_curve(
            load_predictions(name, root), gt["pos_gt"], gt["head_size"], gt["visible"], thresholds
        )
        ax.plot(thresholds, curve, marker="o", markersize=3, label=label)
    ax.axvline(0.5, color="grey", linestyle=":")
    ax.set(xlabel="threshold (fraction of head size)", ylabel="mean PCKh (%)", ylim=(0, 100))
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig
