"""DARK: distribution-aware decoding of heatmaps (Zhang et al., CVPR 2020; seed 002 names it).

The argmax of a heatmap is quantized to its pixels; the reference codes' quarter-pixel shift
toward the larger neighbour halves that error at best. DARK instead assumes the heatmap is a
Gaussian around the joint and reads the sub-pixel maximum from its shape:

1. **modulation**: the heatmap is smoothed with a Gaussian of the training targets' sigma
   (a network's heatmap has several peaks and ripples; the smoothed one is closer to the
   Gaussian the Taylor step assumes), and rescaled to keep its original maximum;
2. **log**: ``log`` of the clipped heatmap is a quadratic around a Gaussian's mean;
3. **Taylor step**: at the argmax ``m``, the maximum of the second-order expansion is
   ``m - H^-1 g`` with the gradient ``g`` and Hessian ``H`` of the log-heatmap by central
   finite differences. Where ``H`` is not negative definite (a flat or border peak) the
   argmax is kept.

Coordinates follow :func:`pose_helpers.metrics.heatmaps_to_coords`: heatmap pixels
``(x, y)``, 0-based, integer = pixel centre.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["dark_coords"]

#: Smallest heatmap value before the log (the heatmap is clipped to it).
EPS = 1e-10


def _gaussian_blur(hm: np.ndarray, sigma: float) -> np.ndarray:
    """Each (H, W) map blurred by a Gaussian of ``sigma`` pixels (separable, zero padding)."""
    radius = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(hm, ((0, 0), (0, 0), (radius, radius), (radius, radius)))
    rows = sum(kernel[i] * padded[:, :, i : i + hm.shape[2], :] for i in range(kernel.size))
    return sum(kernel[i] * rows[:, :, :, i : i + hm.shape[3]] for i in range(kernel.size))


def dark_coords(heatmaps: Any, sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel joint coordinates by DARK (module docstring).

    Args:
        heatmaps: (N, J, H, W) NumPy array or torch tensor.
        sigma: the target Gaussian's standard deviation in heatmap pixels (the modulation
            kernel); 0 skips the modulation.

    Returns:
        ``(coords, maxvals)``: (N, J, 2) float32 ``(x, y)`` and the (N, J) maxima of the
        unmodulated heatmaps, NumPy arrays.

    Raises:
        ValueError: for heatmaps that are not 4-D and real, or a negative ``sigma``.
    """
    hm = heatmaps.detach().cpu().numpy() if hasattr(heatmaps, "detach") else np.asarray(heatmaps)
    if hm.ndim != 4 or min(hm.shape[2:]) < 1 or not np.isrealobj(hm):
        raise ValueError(f"heatmaps must be real with shape (N, J, H, W); got {hm.shape}")
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0; got {sigma!r}")
    hm = hm.astype(np.float64)
    n, j, h, w = hm.shape
    flat = hm.reshape(n, j, h * w)
    idx = flat.argmax(axis=2)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    px, py = idx % w, idx // w
    smooth = hm
    if sigma > 0:
        smooth = _gaussian_blur(hm, sigma)
        peak = smooth.reshape(n, j, -1).max(axis=2)[..., None, None]
        smooth = smooth * (maxvals[..., None, None] / np.where(peak > 0, peak, 1.0))
    log = np.log(np.maximum(smooth, EPS))
    coords = np.stack([px, py], axis=-1).astype(np.float64)
    inside = (px > 0) & (px < w - 1) & (py > 0) & (py < h - 1)
    nn, jj = np.nonzero(inside)
    x, y = px[nn, jj], py[nn, jj]

    def at(dy: int, dx: int) -> np.ndarray:
        return log[nn, jj, y + dy, x + dx]

    gx = 0.5 * (at(0, 1) - at(0, -1))
    gy = 0.5 * (at(1, 0) - at(-1, 0))
    hxx = at(0, 1) - 2 * at(0, 0) + at(0, -1)
    hyy = at(1, 0) - 2 * at(0, 0) + at(-1, 0)
    hxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = hxx * hyy - hxy**2
    ok = (hxx < 0) & (det > 0)  # negative definite: a proper maximum
    safe = np.where(ok, det, 1.0)
    dx = -(hyy * gx - hxy * gy) / safe
    dy = -(hxx * gy - hxy * gx) / safe
    # a step beyond the neighbouring pixel means the quadratic does not describe the peak
    ok &= (np.abs(dx) <= 1) & (np.abs(dy) <= 1)
    coords[nn, jj, 0] += np.where(ok, dx, 0.0)
    coords[nn, jj, 1] += np.where(ok, dy, 0.0)
    return coords.astype(np.float32), maxvals.astype(np.float32)
