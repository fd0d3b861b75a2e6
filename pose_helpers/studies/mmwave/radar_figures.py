"""The mmWave study's figures: latency against error, the component sweep, learning curves
and radar frames over the skeleton."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pose_helpers.studies.mmwave.radar_runs import load_dataset
from pose_helpers.studies.mmwave.radar_tables import COMPONENTS

__all__ = [
    "BONES",
    "plot_component_sweep",
    "plot_frames",
    "plot_latency_vs_mae",
    "plot_learning_curves",
    "points_per_frame",
]


def _datasets(table: pd.DataFrame, dataset: str | None) -> list[str]:
    names = list(dict.fromkeys(table["dataset"])) if dataset is None else [dataset]
    if not names or any(n not in set(table["dataset"]) for n in names):
        raise ValueError(f"dataset={dataset!r}; the table holds {sorted(set(table['dataset']))}")
    return names


def plot_latency_vs_mae(
    table: pd.DataFrame,
    dataset: str | None = None,
    floors: dict[str, dict[str, float]] | None = None,
):
    """Batch-1 CPU latency against test MAE, one labelled point per configuration.

    One panel per data set (or only ``dataset``); colour = the component scaled. With
    ``floors`` (:func:`mean_pose_floors`), a dashed line marks each data set's mean-pose MAE.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    names = _datasets(table, dataset)
    fig, axes = plt.subplots(1, len(names), figsize=(6.5 * len(names), 4.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        part = table[table["dataset"] == name]
        sns.scatterplot(data=part, x="latency_ms", y="mae_cm", hue="component", s=60, ax=ax)
        for row in part.itertuples(index=False):
            ax.annotate(
                row.config,
                (row.latency_ms, row.mae_cm),
                xytext=(4, 3),
                textcoords="offset points",
                fontsize=8,
            )
        if floors and name in floors:
            ax.axhline(floors[name]["mae_cm"], ls="--", color="grey", lw=1, label="mean pose")
        ax.set(
            xlabel="latency, batch 1, 1 CPU thread (ms)",
            ylabel="test MAE (cm)",
            title=f"{name}: faster is left, more accurate is down",
        )
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def plot_component_sweep(table: pd.DataFrame, dataset: str | None = None):
    """Latency and MAE against each component's scale factor (x0.125, x0.25, x1, x2).

    Each component's line runs through the baseline at x1. One row of two panels
    (latency, MAE) per data set.
    """
    import matplotlib.pyplot as plt

    names = _datasets(table, dataset)
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 3.8 * len(names)), squeeze=False)
    for (ax_lat, ax_mae), name in zip(axes, names, strict=True):
        part = table[table["dataset"] == name]
        base = part[part["component"] == "baseline"]
        for component, label in COMPONENTS.items():
            line = pd.concat([part[part["component"] == component], base]).sort_values("scale")
            for ax, column in ((ax_lat, "latency_ms"), (ax_mae, "mae_cm")):
                ax.plot(line["scale"], line[column], marker="o", label=label)
        for ax, ylabel in ((ax_lat, "latency (ms)"), (ax_mae, "test MAE (cm)")):
            ax.set_xscale("log", base=2)
            ax.set_xticks([0.125, 0.25, 1, 2], ["x0.125", "x0.25", "x1", "x2"])
            ax.set_xlim(0.1, 2.5)  # the same four sizes on every panel
            ax.set(xlabel="component size (x baseline)", ylabel=ylabel, title=name)
        if "mae_sd_cm" in part:
            ax_mae.errorbar(
                base["scale"],
                base["mae_cm"],
                yerr=base["mae_sd_cm"],
                color="black",
                capsize=3,
                fmt="none",
            )
        ax_lat.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_learning_curves(runs: pd.DataFrame, dataset: str, seed: int = 0):
    """Validation MAE per epoch of each configuration's run on ``dataset`` with ``seed``."""
    import matplotlib.pyplot as plt

    part = runs[(runs["dataset"] == dataset) & (runs["seed"] == seed) & runs["history"].notna()]
    if part.empty:
        raise ValueError(f"no runs with dataset={dataset!r} and seed={seed!r}")
    fig, ax = plt.subplots(figsize=(7, 4))
    for row in part.itertuples(index=False):
        history = pd.DataFrame(row.history)
        ax.plot(history["epoch"], history["val_mae_cm"], marker=".", label=row.config)
    ax.set(xlabel="epoch", ylabel="validation MAE (cm)", title=f"{dataset}, seed {seed}")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


#: Bones of the 19-joint Kinect skeleton (pairs of :data:`mars.JOINTS` names), for figures.
BONES = (
    ("SpineBase", "SpineMid"),
    ("SpineMid", "SpineShoulder"),
    ("SpineShoulder", "Neck"),
    ("Neck", "Head"),
    ("SpineShoulder", "ShoulderLeft"),
    ("ShoulderLeft", "ElbowLeft"),
    ("ElbowLeft", "WristLeft"),
    ("SpineShoulder", "ShoulderRight"),
    ("ShoulderRight", "ElbowRight"),
    ("ElbowRight", "WristRight"),
    ("SpineBase", "HipLeft"),
    ("HipLeft", "KneeLeft"),
    ("KneeLeft", "AnkleLeft"),
    ("AnkleLeft", "FootLeft"),
    ("SpineBase", "HipRight"),
    ("HipRight", "KneeRight"),
    ("KneeRight", "AnkleRight"),
    ("AnkleRight", "FootRight"),
)


def points_per_frame(features: np.ndarray) -> np.ndarray:
    """Radar points in each frame of ``(N, 8, 8, 5)`` features (zero-padded slots excluded)."""
    points = np.asarray(features).reshape(len(features), -1, 5)
    return (np.abs(points).sum(axis=2) > 0).sum(axis=1)


def plot_frames(datasets: Sequence[str], data_root: Any = None, n: int = 3, seed: int = 0):
    """Radar points (front view, colour = Doppler) over the Kinect skeleton for ``n`` test
    frames of each data set, and the distribution of points per frame.

    Frames are drawn at random (seeded) from the test split.
    """
    import matplotlib.pyplot as plt

    from pose_helpers.data.mars import JOINTS

    joint = {name: i for i, name in enumerate(JOINTS)}
    fig, axes = plt.subplots(
        len(datasets), n + 1, figsize=(3.0 * (n + 1), 3.4 * len(datasets)), squeeze=False
    )
    rng = np.random.default_rng(seed)
    for row, name in zip(axes, datasets, strict=True):
        features, labels, _ = load_dataset(name, "test", data_root)
        counts = points_per_frame(features)
        frames = rng.choice(np.flatnonzero(counts > 0), n, replace=False)
        for ax, i in zip(row[:n], frames, strict=True):
            pose = np.asarray(labels[i]).reshape(3, 19)  # x, y, z rows
            for a, b in BONES:
                ax.plot(pose[0, [joint[a], joint[b]]], pose[2, [joint[a], joint[b]]], "k-", lw=1.5)
            pts = np.asarray(features[i]).reshape(-1, 5)
            pts = pts[np.abs(pts).sum(axis=1) > 0]
            sc = ax.scatter(
                pts[:, 0], pts[:, 2], c=pts[:, 3], cmap="coolwarm", s=14, vmin=-1, vmax=1
            )
            # Frame the body: stray clutter points would otherwise shrink it to a dot.
            (x0, z0), (x1, z1) = pose[[0, 2]].min(axis=1) - 0.4, pose[[0, 2]].max(axis=1) + 0.4
            ax.set(
                title=f"{name} test frame {i} ({len(pts)} points)",
                xlabel="x (m)",
                xlim=(x0, x1),
                ylim=(z0, z1),
                aspect="equal",
            )
            ax.title.set_fontsize(8)
        row[0].set_ylabel("z (m)")
        row[n].hist(counts, bins=np.arange(0, 66, 2), color="C0")
        row[n].set(title=f"{name}: points per frame", xlabel="points", ylabel="frames")
        row[n].title.set_fontsize(8)
        fig.colorbar(sc, ax=row[n - 1], label="Doppler (m/s)", fraction=0.046)
    fig.tight_layout()
    return fig
