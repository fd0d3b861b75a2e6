"""The compression chapters' figures, drawn from stored results (no network is needed)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pose_helpers.studies.compression.common import check_thresholds
from pose_helpers.studies.compression.tables import thesis_table

__all__ = [
    "magnitudes_of",
    "plot_kept_channels",
    "plot_learning_curves",
    "plot_outers",
    "plot_sparsity_vs_pckh",
    "plot_weight_magnitudes",
]


def plot_sparsity_vs_pckh(
    tables: Mapping[str, pd.DataFrame],
    thesis: Mapping[str, pd.DataFrame] | None = None,
    *,
    baseline_pckh: float | None = None,
):
    """Mean PCKh against the retained fraction of the weights: ours beside the thesis's.

    Two panels with a shared x axis (ours on SynthPose at CPU scale; the thesis's on MPII at
    full scale: the PCKh levels differ, the shapes compare), one colour per method, the
    baseline's PCKh as a dotted line (ours from ``baseline_pckh``, the thesis's Table 5.3).

    Args:
        tables: ``{method: cells_table(...)}`` (or one frame with a ``method`` column per key).
        thesis: ``{method: thesis_table(method)}``; ``None`` draws ours alone.
        baseline_pckh: our baseline's mean PCKh.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    def stack(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        parts = [f.assign(method=m) for m, f in frames.items() if len(f)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    panels = [("ours (SynthPose, CPU scale)", stack(tables), baseline_pckh)]
    if thesis:
        base = float(thesis_table("baseline")["pckh"].iloc[0])
        panels.append(("thesis (MPII, full scale)", stack(thesis), base))
    methods = list(dict.fromkeys([*tables, *(thesis or {})]))
    palette = dict(zip(methods, sns.color_palette(n_colors=len(methods)), strict=True))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, (title, data, base) in zip(axes, panels, strict=True):
        if len(data):
            data = data.dropna(subset=["retained", "pckh"])
            sns.scatterplot(
                data=data, x="retained", y="pckh", hue="method", palette=palette, s=45, ax=ax
            )
        if base is not None and not math.isnan(base):
            ax.axhline(base, color="grey", linestyle=":", label="baseline")
        ax.set(
            title=title,
            xlabel="retained fraction of the baseline's weights",
            ylabel="mean PCKh@0.5 (%)",
        )
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_learning_curves(runs: pd.DataFrame):
    """Per method (rows): heatmap loss, penalty and validation PCKh per fine-tuning epoch,
    one line per lambda, from ``regularized_run``'s sweep frame."""
    import matplotlib.pyplot as plt

    ok = runs[runs["history"].apply(lambda h: isinstance(h, list) and len(h) > 0)]
    methods = list(dict.fromkeys(ok["method"]))
    fig, axes = plt.subplots(
        max(1, len(methods)), 3, figsize=(12, 3.2 * max(1, len(methods))), squeeze=False
    )
    for row, method in zip(axes, methods, strict=False):
        for _, run in ok[ok["method"] == method].sort_values("lam", ascending=False).iterrows():
            history = pd.DataFrame(run["history"])
            label = f"λ = {run['lam']:.0e}"
            row[0].plot(history["epoch"], history["train_loss"], marker=".", label=label)
            row[1].plot(history["epoch"], history["extra_loss"], marker=".", label=label)
            row[2].plot(history["epoch"], history["val_pckh_mean"], marker=".", label=label)
        row[0].set(title=f"{method}: heatmap loss", xlabel="epoch")
        row[1].set(title=f"{method}: penalty (λ x R)", xlabel="epoch")
        for ax in row[:2]:
            if all(v > 0 for line in ax.get_lines() for v in line.get_ydata()):
                ax.set_yscale("log")
        row[2].set(title=f"{method}: validation", xlabel="epoch", ylabel="mean PCKh@0.5 (%)")
        row[2].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def magnitudes_of(model: Any, thresholds: Sequence[float]) -> dict[str, Any]:
    """Where the thresholds fall in a network, as JSON: per panel (the single convolution
    weights' magnitudes, what L1 thresholding compares; the channel groups' L2 norms, what
    group thresholding compares) a log-spaced histogram of the positive values (``bins``,
    ``counts``) and the share of all values below each threshold (``below``: ``[threshold,
    percent]``, largest threshold first).

    Raises:
        ValueError: for bad thresholds.
    """
    import torch

    from pose_helpers.compress import regularizers

    thresholds = check_thresholds(thresholds)
    with torch.no_grad():
        weights = torch.cat(
            [w.detach().abs().flatten() for w in regularizers.conv_weights(model).values()]
        )
        norms = regularizers.group_norms(model).detach()
    panels = []
    for title, values in (
        ("single weights |w| (L1 thresholding)", weights.numpy()),
        ("group L2 norms (group-lasso thresholding)", norms.numpy()),
    ):
        positive = values[values > 0]
        low = min(min(thresholds) / 10, positive.min()) if positive.size else min(thresholds) / 10
        high = max(positive.max(), max(thresholds) * 10) if positive.size else 1.0
        bins = np.logspace(np.log10(low), np.log10(high), 60)
        counts, _ = np.histogram(positive, bins=bins)
        below = [[t, 100 * float((values < t).mean())] for t in sorted(thresholds, reverse=True)]
        panels.append(
            {"title": title, "bins": bins.tolist(), "counts": counts.tolist(), "below": below}
        )
    return {"panels": panels}


def plot_weight_magnitudes(magnitudes: Mapping[str, Any]):
    """Histograms of :func:`magnitudes_of`'s data on log axes, with one line per threshold
    and the share of the values below it."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, panel in zip(axes, magnitudes["panels"], strict=True):
        bins = np.asarray(panel["bins"])
        ax.hist(bins[:-1], bins=bins, weights=panel["counts"], color="C0", alpha=0.8)
        for i, (t, share) in enumerate(panel["below"]):
            ax.axvline(t, color=f"C{i + 1}", linestyle="--", label=f"{t:g}: {share:.1f} % below")
        ax.set(xscale="log", title=panel["title"], xlabel="magnitude", ylabel="count")
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_kept_channels(engineered: Mapping[str, Any]):
    """Output channels of every convolution before and after surgery, in network order
    (an ``engineered_run`` record's ``layers``)."""
    import matplotlib.pyplot as plt

    layers = pd.DataFrame(engineered["layers"])
    x = np.arange(len(layers))
    fig, ax = plt.subplots(figsize=(11, 3.4))
    ax.bar(x, layers["out_before"], color="lightgrey", label="before")
    ax.bar(x, layers["out_after"], color="C0", label="after surgery")
    stages = layers["layer"].str.extract(r"^(?:backbone\.)?(\w+?)\.")[0].fillna(layers["layer"])
    starts = [i for i in range(len(stages)) if i == 0 or stages.iloc[i] != stages.iloc[i - 1]]
    ax.set_xticks(starts, [stages.iloc[i] for i in starts], rotation=45, ha="right", fontsize=8)
    ax.set(ylabel="output channels", yscale="log", xlim=(-1, len(layers)))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_outers(outers: pd.DataFrame):
    """Per outer iteration and lambda: live groups, median gamma, validation PCKh (the
    Bayesian sweep's ``outer_table``)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for lam, part in outers.groupby("lambda", sort=False):
        label = f"λ = {lam:.0e}"
        axes[0].plot(part["outer"], part["groups_live"], marker="o", label=label)
        axes[1].plot(part["outer"], part["gamma_median"], marker="o", label=label)
        axes[2].plot(part["outer"], part["val_pckh"], marker="o", label=label)
    axes[0].set(title="live groups", xlabel="outer iteration")
    axes[1].set(title="median γ of the live groups", xlabel="outer iteration", yscale="log")
    axes[2].set(title="validation PCKh@0.5 (%)", xlabel="outer iteration")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig
