"""PCKh and heatmap decoding.

PCKh (Andriluka et al., 2014): a joint is correct where its distance to the ground truth is
``<= threshold x head size`` (head size = 0.6 x head-box diagonal on MPII), and counts only
where it is annotated. :func:`pckh_table` follows the standard protocol of the MPII
evaluation code (see ``../shared/data/README.md``).

Heatmap convention (the one the targets must be rendered with): coordinates are ``(x, y)``,
0-based, and an integer coordinate is the *centre* of that heatmap pixel, so heatmap pixel
``[i, j]`` sits at ``(x=j, y=i)``. An image point ``x`` maps to heatmap ``x * W_hm / W_in``
(and ``y * H_hm / H_in``): a Gaussian target for an image joint at ``x`` is centred at
heatmap coordinate ``x * W_hm / W_in``, and :func:`heatmap_to_image_coords` inverts exactly
that (image coordinates use the same scaling, whatever their own origin).

Inputs may be NumPy arrays or torch tensors; PCKh functions return NumPy values, the
heatmap functions return the type of their input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from pose_helpers.data.mpii import FLIP_PAIRS, JOINT_GROUPS, MEAN_JOINTS, NUM_JOINTS

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
]

Size = int | Sequence[int]


def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def _to_numpy(x: Any, name: str) -> np.ndarray:
    if _is_torch(x):
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":  # NumPy has no bfloat16
            x = x.float()
        x = x.numpy()
    try:
        return np.asarray(x)
    except Exception as exc:
        raise ValueError(f"{name} must be an array or tensor; got {type(x).__name__}") from exc


def _real(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise ValueError(f"{name} must hold real numbers; got dtype {array.dtype}")
    return array.astype(np.float64)


def _mask(array: np.ndarray, name: str) -> np.ndarray:
    """A bool array, or a numeric one holding only 0 and 1 (as in the .mat / .h5 files)."""
    if array.dtype == bool:
        return array
    if np.issubdtype(array.dtype, np.number) and np.isin(array, (0, 1)).all():
        return array.astype(bool)
    raise ValueError(f"{name} must be bool (or 0/1 numbers); got dtype {array.dtype}")


def _check_inputs(
    pred: Any, gt: Any, head_size: Any, visible: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    gt_a = _to_numpy(gt, "gt")
    if gt_a.ndim != 3 or gt_a.shape[2] != 2 or gt_a.shape[1] < 1:
        raise ValueError(f"gt must have shape (N, J, 2), e.g. (N, 16, 2); got {gt_a.shape}")
    n, j, _ = gt_a.shape
    pred_a = _to_numpy(pred, "pred")
    if pred_a.shape != gt_a.shape:
        raise ValueError(
            f"pred must have shape (N, {j}, 2) like gt {gt_a.shape}; got {pred_a.shape}"
        )
    head_a = _to_numpy(head_size, "head_size")
    if head_a.shape != (n,):
        raise ValueError(
            f"head_size must have shape ({n},) to match gt {gt_a.shape}; got {head_a.shape}"
        )
    vis_a = _to_numpy(visible, "visible")
    if vis_a.shape != (n, j):
        raise ValueError(
            f"visible must have shape ({n}, {j}) to match gt {gt_a.shape}; got {vis_a.shape}"
        )
    gt_a, pred_a, head_a = _real(gt_a, "gt"), _real(pred_a, "pred"), _real(head_a, "head_size")
    vis_a = _mask(vis_a, "visible")
    counted = vis_a.any(axis=1)
    bad = counted & ~(np.isfinite(head_a) & (head_a > 0))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"head_size must be positive and finite for persons with visible joints; "
            f"{int(bad.sum())} are not (first: index {first}, value {head_a[first]!r})"
        )
    return pred_a, gt_a, head_a, vis_a


def _check_threshold(threshold: float) -> float:
    t = float(threshold)
    if not (np.isfinite(t) and t >= 0):
        raise ValueError(f"threshold must be a finite number >= 0; got {threshold!r}")
    return t


def normalized_distances(pred: Any, gt: Any, head_size: Any, visible: Any) -> np.ndarray:
    """Distances between predictions and ground truth in head sizes, NaN where not visible.

    Args:
        pred: (N, J, 2) predicted pixel coordinates.
        gt: (N, J, 2) ground-truth pixel coordinates.
        head_size: (N,) head size of each person in pixels.
        visible: (N, J) bool, True where the joint is annotated (counts).

    Returns:
        (N, J) float64 array.

    Raises:
        ValueError: shapes or dtypes do not match, or a head size is not positive.
    """
    pred_a, gt_a, head_a, vis_a = _check_inputs(pred, gt, head_size, visible)
    dist = np.linalg.norm(pred_a - gt_a, axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = dist / head_a[:, None]
    # A NaN or inf prediction is a miss, not a skipped joint.
    scaled = np.where(np.isnan(scaled), np.inf, scaled)
    return np.where(vis_a, scaled, np.nan)


def _pckh_from_scaled(scaled: np.ndarray, threshold: float) -> np.ndarray:
    visible = ~np.isnan(scaled)
    count = visible.sum(axis=0)
    correct = (visible & (np.where(visible, scaled, np.inf) <= threshold)).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, 100.0 * correct / np.maximum(count, 1), np.nan)


def pckh(pred: Any, gt: Any, head_size: Any, visible: Any, threshold: float = 0.5) -> np.ndarray:
    """Per-joint PCKh in percent.

    A joint is correct where ``||pred - gt|| <= threshold * head_size`` (inclusive); only
    visible (annotated) joints count. NaN or infinite predictions count as misses.

    Args:
        pred: (N, J, 2) predicted pixel coordinates (NumPy or torch), J = 16 on MPII.
        gt: (N, J, 2) ground-truth pixel coordinates, same origin as ``pred``.
        head_size: (N,) head size of each person in pixels (0.6 x head-box diagonal on MPII).
        visible: (N, J) bool (or 0/1), True where the joint is annotated.
        threshold: fraction of the head size, >= 0.

    Returns:
        (J,) float64 PCKh in %, NaN for joints that are visible in no person.

    Raises:
        ValueError: a shape or dtype does not match (the message gives the expected and the
            received shape), a head size of a person with visible joints is not positive, or
            the threshold is negative.
    """
    t = _check_threshold(threshold)
    return _pckh_from_scaled(normalized_distances(pred, gt, head_size, visible), t)


def pckh_curve(
    pred: Any,
    gt: Any,
    head_size: Any,
    visible: Any,
    thresholds: Iterable[float],
    *,
    joints: Sequence[int] | None = None,
) -> np.ndarray:
    """Mean PCKh (%) as a function of the threshold, for a PCKh curve.

    Args:
        pred, gt, head_size, visible: as in :func:`pckh`.
        thresholds: thresholds (fractions of the head size) to evaluate.
        joints: joints averaged (unweighted) at each threshold; default: the table's
            ``MEAN_JOINTS`` (all but pelvis and thorax) when J = 16, else all joints.

    Returns:
        (len(thresholds),) float64 mean PCKh in %.

    Raises:
        ValueError: as in :func:`pckh`, or a joint index is out of range.
    """
    scaled = normalized_distances(pred, gt, head_size, visible)
    num_joints = scaled.shape[1]
    if joints is None:
        joints = MEAN_JOINTS if num_joints == NUM_JOINTS else range(num_joints)
    idx = np.asarray(list(joints), dtype=int)
    if idx.size == 0 or idx.min() < 0 or idx.max() >= num_joints:
        raise ValueError(f"joints must be indices in [0, {num_joints}); got {idx.tolist()}")
    ts = [_check_threshold(t) for t in thresholds]
    out = np.empty(len(ts))
    for k, t in enumerate(ts):
        per_joint = _pckh_from_scaled(scaled, t)[idx]
        out[k] = np.nanmean(per_joint) if np.isfinite(per_joint).any() else np.nan
    return out


def pckh_table(per_joint: Any, *, counts: Any | None = None) -> dict[str, float]:
    """Group per-joint MPII PCKh into the standard table.

    Head is the head top (joint 9) alone; Shoulder, Elbow, Wrist, Hip, Knee and Ankle average
    their right and left joint; Mean is the unweighted mean of the 14 per-joint values other
    than pelvis (6) and thorax (7), upper neck included (the protocol of the published
    tables). NaN entries (no visible joint) are left out of the averages; a column is NaN
    when all of its joints are.

    Args:
        per_joint: (16,) per-joint PCKh, e.g. from :func:`pckh`.
        counts: optional (16,) numbers of visible joints (``visible.sum(0)``); when given,
            Mean is weighted by them, as the ``jnt_ratio`` of the MPII evaluation script
            (some papers report that weighted Mean). The group columns are unchanged.

    Returns:
        ``{"Head": ..., "Shoulder": ..., ..., "Ankle": ..., "Mean": ...}`` as floats.

    Raises:
        ValueError: ``per_joint`` or ``counts`` does not have shape (16,), or a count is
            negative.
    """
    values = _real(_to_numpy(per_joint, "per_joint"), "per_joint")
    if values.shape != (NUM_JOINTS,):
        raise ValueError(
            f"per_joint must have shape ({NUM_JOINTS},) (MPII joints); got {values.shape}"
        )

    def mean(idx: Sequence[int]) -> float:
        v = values[list(idx)]
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")

    table = {name: mean(idx) for name, idx in JOINT_GROUPS.items()}
    if counts is None:
        table["Mean"] = mean(MEAN_JOINTS)
        return table
    weights = _real(_to_numpy(counts, "counts"), "counts")
    if weights.shape != (NUM_JOINTS,) or (weights < 0).any():
        raise ValueError(
            f"counts must have shape ({NUM_JOINTS},) with values >= 0; got shape {weights.shape}"
        )
    idx = np.asarray(MEAN_JOINTS)
    v, w = values[idx], weights[idx]
    keep = np.isfinite(v) & (w > 0)
    table["Mean"] = float((v[keep] * w[keep]).sum() / w[keep].sum()) if keep.any() else float("nan")
    return table


def left_right_swaps(
    pred: Any,
    gt: Any,
    head_size: Any,
    visible: Any,
    *,
    threshold: float | None = 0.5,
    flip_pairs: Sequence[tuple[int, int]] = FLIP_PAIRS,
) -> float:
    """Fraction of limb joints predicted on the mirrored joint (a left/right swap).

    Only joints of ``flip_pairs`` count where both the joint and its mirror are visible.
    With a ``threshold``, a joint is swapped where its prediction misses its own ground
    truth (distance > threshold x head size) but hits the mirrored joint's (<=), i.e. it
    would be correct had left and right been exchanged. With ``threshold=None`` it is
    swapped wherever the prediction is strictly closer to the mirrored joint's ground truth.

    Args:
        pred, gt, head_size, visible: as in :func:`pckh`.
        threshold: PCKh threshold, or None for the plain "closer to the mirror" criterion.
        flip_pairs: (right, left) index pairs; MPII's by default.

    Returns:
        The swap rate in [0, 1]; NaN where no pair is visible.

    Raises:
        ValueError: as in :func:`pckh`, or a pair index is out of range.
    """
    pred_a, gt_a, head_a, vis_a = _check_inputs(pred, gt, head_size, visible)
    num_joints = gt_a.shape[1]
    pairs = np.asarray(flip_pairs, dtype=int).reshape(-1, 2)
    if pairs.size == 0 or pairs.min() < 0 or pairs.max() >= num_joints:
        raise ValueError(
            f"flip_pairs must be index pairs in [0, {num_joints}); got {pairs.tolist()}"
        )
    own = np.concatenate([pairs[:, 0], pairs[:, 1]])
    mirror = np.concatenate([pairs[:, 1], pairs[:, 0]])
    counted = vis_a[:, own] & vis_a[:, mirror]
    total = int(counted.sum())
    if total == 0:
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        d_own = np.linalg.norm(pred_a[:, own] - gt_a[:, own], axis=2) / head_a[:, None]
        d_mirror = np.linalg.norm(pred_a[:, own] - gt_a[:, mirror], axis=2) / head_a[:, None]
    if threshold is None:
        swapped = d_mirror < d_own
    else:
        t = _check_threshold(threshold)
        swapped = (d_own > t) & (d_mirror <= t)
    return float((swapped & counted).sum() / total)


def heatmaps_to_coords(heatmaps: Any) -> tuple[Any, Any]:
    """Decode heatmaps to coordinates: argmax plus a quarter-pixel shift.

    As in the stacked-hourglass and Simple Baselines reference code, the argmax moves by
    0.25 px toward the higher of its two neighbours, separately in x and y, wherever both
    neighbours lie inside the map (no shift on the border or between equal neighbours).
    Coordinates are heatmap pixels ``(x, y)``, 0-based, integer = pixel centre. Unlike the
    reference code, joints whose maximum is <= 0 keep their argmax; mask them with
    ``maxvals`` if needed.

    Args:
        heatmaps: (N, J, H, W) NumPy array or torch tensor.

    Returns:
        ``(coords, maxvals)``: (N, J, 2) float32 coordinates and (N, J) maxima, NumPy arrays
        for NumPy input, tensors on the input's device for torch input.

    Raises:
        ValueError: ``heatmaps`` is not 4-D with a non-empty map, or not real-valued.
    """
    is_torch = _is_torch(heatmaps)
    hm = _to_numpy(heatmaps, "heatmaps")
    if hm.ndim != 4 or hm.shape[2] < 1 or hm.shape[3] < 1:
        raise ValueError(f"heatmaps must have shape (N, J, H, W); got {hm.shape}")
    hm = _real(hm, "heatmaps")
    n, j, h, w = hm.shape
    flat = hm.reshape(n, j, h * w)
    idx = flat.argmax(axis=2)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    px, py = idx % w, idx // w
    coords = np.stack([px, py], axis=-1).astype(np.float64)

    nn, jj = np.meshgrid(np.arange(n), np.arange(j), indexing="ij")
    inside_x = (px > 0) & (px < w - 1)
    inside_y = (py > 0) & (py < h - 1)
    right = hm[nn, jj, py, np.minimum(px + 1, w - 1)]
    left = hm[nn, jj, py, np.maximum(px - 1, 0)]
    down = hm[nn, jj, np.minimum(py + 1, h - 1), px]
    up = hm[nn, jj, np.maximum(py - 1, 0), px]
    coords[..., 0] += np.where(inside_x, 0.25 * np.sign(right - left), 0.0)
    coords[..., 1] += np.where(inside_y, 0.25 * np.sign(down - up), 0.0)

    coords, maxvals = coords.astype(np.float32), maxvals.astype(np.float32)
    if is_torch:
        import torch

        device = heatmaps.device
        return torch.from_numpy(coords).to(device), torch.from_numpy(maxvals).to(device)
    return coords, maxvals


def _size_xy(size: Size, name: str) -> np.ndarray:
    """An int (square) or a ``(width, height)`` pair as a positive float array [w, h]."""
    arr = np.asarray(size, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2 or not (np.isfinite(arr).all() and (arr > 0).all()):
        raise ValueError(f"{name} must be a positive int or a (width, height) pair; got {size!r}")
    return arr


def _scale_coords(coords: Any, factor: np.ndarray) -> Any:
    if _is_torch(coords):
        import torch

        if coords.shape[-1:] != (2,):
            raise ValueError(f"coords must have shape (..., 2); got {tuple(coords.shape)}")
        return coords * torch.as_tensor(factor, dtype=coords.dtype, device=coords.device)
    arr = np.asarray(coords)
    if arr.shape[-1:] != (2,):
        raise ValueError(f"coords must have shape (..., 2); got {arr.shape}")
    return _real(arr, "coords") * factor


def heatmap_to_image_coords(coords: Any, input_size: Size, heatmap_size: Size) -> Any:
    """Map heatmap coordinates back to input-image coordinates: ``x * W_in / W_hm``.

    Args:
        coords: (..., 2) heatmap coordinates ``(x, y)`` (NumPy or torch).
        input_size: input image size, an int (square) or ``(width, height)``.
        heatmap_size: heatmap size, an int (square) or ``(width, height)``.

    Returns:
        (..., 2) image coordinates, same type as ``coords``.

    Raises:
        ValueError: a size is not positive, or ``coords`` does not end in 2.
    """
    factor = _size_xy(input_size, "input_size") / _size_xy(heatmap_size, "heatmap_size")
    return _scale_coords(coords, factor)


def image_to_heatmap_coords(coords: Any, input_size: Size, heatmap_size: Size) -> Any:
    """Map input-image coordinates to heatmap coordinates: ``x * W_hm / W_in``.

    This is where a target Gaussian for an image joint at ``coords`` is centred; it inverts
    :func:`heatmap_to_image_coords`.

    Args:
        coords: (..., 2) image coordinates ``(x, y)`` (NumPy or torch).
        input_size: input image size, an int (square) or ``(width, height)``.
        heatmap_size: heatmap size, an int (square) or ``(width, height)``.

    Returns:
        (..., 2) heatmap coordinates, same type as ``coords``.

    Raises:
        ValueError: a size is not positive, or ``coords`` does not end in 2.
    """
    factor = _size_xy(heatmap_size, "heatmap_size") / _size_xy(input_size, "input_size")
    return _scale_coords(coords, factor)


def heatmap_to_original_coords(
    coords: Any,
    center: Any,
    scale: Any,
    heatmap_size: Size,
    *,
    pixel_std: float = 200.0,
) -> np.ndarray:
    """Map heatmap coordinates of an axis-aligned person crop back to the original image.

    The crop is the box of side ``scale * pixel_std`` (per axis if ``scale`` is (N, 2))
    centred at ``center``, MPII's ``center`` / ``scale`` convention (scale = person height /
    200 px). With the module's convention, heatmap ``x`` maps to
    ``center_x - box_w / 2 + x * box_w / W_hm``. Rotation is not supported.

    Args:
        coords: (N, J, 2) heatmap coordinates.
        center: (N, 2) crop centres in image pixels.
        scale: (N,) or (N, 2) crop scales.
        heatmap_size: an int (square) or ``(width, height)``.
        pixel_std: box side per unit of scale.

    Returns:
        (N, J, 2) float64 image coordinates (NumPy).

    Raises:
        ValueError: shapes do not match or a size is not positive.
    """
    c = _real(_to_numpy(coords, "coords"), "coords")
    if c.ndim != 3 or c.shape[2] != 2:
        raise ValueError(f"coords must have shape (N, J, 2); got {c.shape}")
    n = c.shape[0]
    ctr = _real(_to_numpy(center, "center"), "center")
    if ctr.shape != (n, 2):
        raise ValueError(
            f"center must have shape ({n}, 2) to match coords {c.shape}; got {ctr.shape}"
        )
    s = _real(_to_numpy(scale, "scale"), "scale")
    if s.shape == (n,):
        s = np.repeat(s[:, None], 2, axis=1)
    if s.shape != (n, 2):
        raise ValueError(f"scale must have shape ({n},) or ({n}, 2); got {s.shape}")
    box = s * float(pixel_std)  # (N, 2) box width, height
    hm = _size_xy(heatmap_size, "heatmap_size")
    return ctr[:, None, :] - box[:, None, :] / 2 + c * (box / hm)[:, None, :]
