"""Figures of SynthPose for the book: a skeleton overlay and a gallery of items."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pose_helpers.data.mpii import (
    HEAD,
    L_ANK,
    L_ELB,
    L_HIP,
    L_KNEE,
    L_SHO,
    L_WRI,
    NECK,
    NUM_JOINTS,
    PELVIS,
    R_ANK,
    R_ELB,
    R_HIP,
    R_KNEE,
    R_SHO,
    R_WRI,
    SKELETON,
    THORAX,
)
from pose_helpers.data.synthpose import MEAN, STD, SynthPose

__all__ = ["denormalize", "draw_skeleton", "show_gallery"]


_LEFT_STYLE = {"color": "tab:blue", "linestyle": "-"}
_RIGHT_STYLE = {"color": "tab:orange", "linestyle": "--"}
_CENTRE_STYLE = {"color": "tab:green", "linestyle": "-"}
_LEFT_JOINTS = {L_HIP, L_KNEE, L_ANK, L_SHO, L_ELB, L_WRI}
_RIGHT_JOINTS = {R_HIP, R_KNEE, R_ANK, R_SHO, R_ELB, R_WRI}


def draw_skeleton(
    ax: Any,
    joints: Any,
    visible: Any | None = None,
    *,
    linewidth: float = 2.0,
    markersize: float = 3.0,
    legend: bool = False,
    alpha: float = 1.0,
) -> None:
    """Overlay a 16-joint MPII skeleton on ``ax``.

    Left limbs are solid blue, right limbs dashed orange, the spine and head solid green;
    joints are dots of the same colours. Limbs with an invisible end are not drawn.

    Args:
        ax: a matplotlib Axes.
        joints: (16, 2) ``(x, y)`` in the axes' data coordinates (e.g. input pixels).
        visible: (16,) bool (default: all visible).
        linewidth, markersize, alpha: line and marker looks.
        legend: add a legend naming the left / right styles.
    """
    joints = np.asarray(joints, np.float64)
    if joints.shape != (NUM_JOINTS, 2):
        raise ValueError(f"joints must have shape ({NUM_JOINTS}, 2); got {joints.shape}")
    vis = np.ones(NUM_JOINTS, bool) if visible is None else np.asarray(visible, bool).reshape(-1)
    if vis.shape != (NUM_JOINTS,):
        raise ValueError(f"visible must have shape ({NUM_JOINTS},); got {vis.shape}")
    for a, b in SKELETON:
        if not (vis[a] and vis[b]):
            continue
        ends = {a, b}
        style = (
            _LEFT_STYLE
            if ends & _LEFT_JOINTS
            else _RIGHT_STYLE
            if ends & _RIGHT_JOINTS
            else _CENTRE_STYLE
        )
        ax.plot(joints[[a, b], 0], joints[[a, b], 1], linewidth=linewidth, alpha=alpha, **style)
    for group, style in ((_LEFT_JOINTS, _LEFT_STYLE), (_RIGHT_JOINTS, _RIGHT_STYLE)):
        idx = [i for i in sorted(group) if vis[i]]
        ax.plot(
            joints[idx, 0],
            joints[idx, 1],
            "o",
            color=style["color"],
            markersize=markersize,
            alpha=alpha,
        )
    idx = [i for i in (PELVIS, THORAX, NECK, HEAD) if vis[i]]
    ax.plot(
        joints[idx, 0],
        joints[idx, 1],
        "o",
        color=_CENTRE_STYLE["color"],
        markersize=markersize,
        alpha=alpha,
    )
    if legend:
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], linewidth=linewidth, **_LEFT_STYLE, label="left"),
            Line2D([], [], linewidth=linewidth, **_RIGHT_STYLE, label="right"),
            Line2D([], [], linewidth=linewidth, **_CENTRE_STYLE, label="centre"),
        ]
        ax.legend(handles=handles, loc="lower left", fontsize="x-small", framealpha=0.7)


def denormalize(image: Any) -> np.ndarray:
    """A normalized (3, S, S) image as an (S, S, 3) float array in [0, 1] for ``imshow``."""
    image = np.asarray(image, np.float32)
    rgb = (
        image * np.asarray(STD, np.float32)[:, None, None]
        + np.asarray(MEAN, np.float32)[:, None, None]
    )
    return np.clip(rgb.transpose(1, 2, 0), 0.0, 1.0)


def show_gallery(
    dataset: SynthPose,
    n: int = 8,
    *,
    indices: Sequence[int] | None = None,
    ncols: int = 4,
    heatmaps: bool = True,
) -> Any:
    """A figure of ``n`` items: each image with its skeleton and, below, its summed heatmaps.

    Args:
        dataset: a :class:`SynthPose`.
        n: number of items (the first ``n`` unless ``indices`` is given).
        indices: items to show.
        ncols: items per row.
        heatmaps: add the target heatmaps summed over joints under each image.

    Returns:
        The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    idx = list(range(min(n, len(dataset)))) if indices is None else [int(i) for i in indices]
    if not idx:
        raise ValueError(f"nothing to show: n={n}, indices={indices}")
    ncols = min(ncols, len(idx))
    rows = math.ceil(len(idx) / ncols)
    per = 2 if heatmaps else 1
    fig, axes = plt.subplots(
        rows * per, ncols, figsize=(2.2 * ncols, 2.2 * rows * per), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    size = dataset.input_size
    for k, i in enumerate(idx):
        item = dataset.sample(i)
        r, c = divmod(k, ncols)
        ax = axes[r * per, c]
        ax.imshow(denormalize(item["image"]), extent=(-0.5, size - 0.5, size - 0.5, -0.5))
        draw_skeleton(
            ax, item["joints"], item["visible"], linewidth=1.2, markersize=2, legend=k == 0
        )
        ax.set_xlim(-0.5, size - 0.5)
        ax.set_ylim(size - 0.5, -0.5)
        ax.set_title(f"#{i}  head {float(item['head_size']):.1f} px", fontsize=8)
        if heatmaps:
            hm = item["heatmaps"].sum(axis=0)
            axes[r * per + 1, c].imshow(hm, cmap="magma", vmin=0, vmax=max(float(hm.max()), 1e-6))
            axes[r * per + 1, c].set_title("targets (sum)", fontsize=8)
    fig.suptitle(f"SynthPose {dataset.split} ({dataset.source} poses, {size} px)", fontsize=10)
    fig.tight_layout()
    return fig
