"""Drawing primitives of the SynthPose renderer: shaded shapes blended into a canvas.

Every primitive draws into ``img``, a (3, S, S) float32 canvas (RGB in [0, 1], changed in
place), and touches only the shape's bounding box; ``grid`` is ``np.arange(S,
dtype=np.float32)`` (pixel centres at integers) and points are ``(x, y)`` in those pixels.
Edges are anti-aliased over one pixel. With a :class:`Light` the colour is shaded as
``ambient + diffuse x max(n . l, 0)`` with the normal ``n`` of a sphere (:func:`ellipse`),
a swept sphere (:func:`capsule`) or a cylinder (:func:`polygon`); without one it is flat.
``mask``, an (S, S) bool array, is set where a shape covers more than half a pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Light", "capsule", "convex_hull", "ellipse", "hsv", "polygon"]


@dataclass
class Light:
    """A directional light: unit direction ``(x, y, z)`` toward the light (x right, y down,
    z toward the viewer) and the ``ambient`` and ``diffuse`` weights of the shading."""

    x: float
    y: float
    z: float
    ambient: float
    diffuse: float


def _clip01(x: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] in place (two ufunc calls: cheaper than ``np.clip`` on small arrays)."""
    np.maximum(x, 0.0, out=x)
    return np.minimum(x, 1.0, out=x)


def _bbox(
    x_lo: float, x_hi: float, y_lo: float, y_hi: float, size: int
) -> tuple[int, int, int, int] | None:
    x0, x1 = max(int(x_lo) - 1, 0), min(int(x_hi) + 2, size)
    y0, y1 = max(int(y_lo) - 1, 0), min(int(y_hi) + 2, size)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, x1, y0, y1


def _blend(
    img: np.ndarray,
    box: tuple[int, int, int, int],
    alpha: np.ndarray,
    colour: np.ndarray,
    shade: np.ndarray | None,
) -> None:
    x0, x1, y0, y1 = box
    region = img[:, y0:y1, x0:x1]
    paint = colour[:, None, None] * shade if shade is not None else colour[:, None, None]
    region += alpha * (paint - region)


def capsule(
    img: np.ndarray,
    grid: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    ra: float,
    rb: float,
    colour: np.ndarray,
    light: Light | None,
    mask: np.ndarray | None = None,
) -> None:
    """A tapered capsule (radius ra at a, rb at b) shaded as a swept sphere."""
    size = img.shape[1]
    r = max(ra, rb)
    box = _bbox(
        min(a[0], b[0]) - r, max(a[0], b[0]) + r, min(a[1], b[1]) - r, max(a[1], b[1]) + r, size
    )
    if box is None:
        return
    x0, x1, y0, y1 = box
    px = grid[x0:x1] - np.float32(a[0])
    py = (grid[y0:y1] - np.float32(a[1]))[:, None]
    dx, dy = float(b[0] - a[0]), float(b[1] - a[1])
    l2 = dx * dx + dy * dy + 1e-6
    t = px * np.float32(dx / l2) + py * np.float32(dy / l2)
    _clip01(t)
    ex = px - t * np.float32(dx)
    ey = py - t * np.float32(dy)
    d2 = ex * ex + ey * ey
    rad = np.float32(ra) + np.float32(rb - ra) * t
    alpha = rad - np.sqrt(d2)
    alpha += 0.5
    _clip01(alpha)
    if mask is not None:
        mask[y0:y1, x0:x1] |= alpha > 0.5
    shade = None
    if light is not None:
        inv = 1.0 / np.maximum(rad, 0.5)
        nz = np.sqrt(np.maximum(1.0 - d2 * (inv * inv), 0.0))
        dot = (ex * np.float32(light.x) + ey * np.float32(light.y)) * inv + nz * np.float32(light.z)
        shade = np.float32(light.diffuse) * np.maximum(dot, 0.0) + np.float32(light.ambient)
    _blend(img, box, alpha, colour, shade)


def ellipse(
    img: np.ndarray,
    grid: np.ndarray,
    c: np.ndarray,
    axis: np.ndarray,
    ra: float,
    rb: float,
    colour: np.ndarray,
    light: Light | None,
    *,
    cap_colour: np.ndarray | None = None,
    cap_from: float = 2.0,
    mask: np.ndarray | None = None,
) -> None:
    """An ellipse (semi-axes ra along the unit vector ``axis``, rb across) shaded as a sphere.

    ``cap_colour`` paints the part beyond ``cap_from`` (in units of ra, along ``axis``), e.g.
    hair on a head.
    """
    size = img.shape[1]
    r = max(ra, rb)
    box = _bbox(c[0] - r, c[0] + r, c[1] - r, c[1] + r, size)
    if box is None:
        return
    x0, x1, y0, y1 = box
    px = grid[x0:x1] - np.float32(c[0])
    py = (grid[y0:y1] - np.float32(c[1]))[:, None]
    ux, uy = float(axis[0]), float(axis[1])
    qa = (px * np.float32(ux) + py * np.float32(uy)) * np.float32(1.0 / ra)
    qb = (py * np.float32(ux) - px * np.float32(uy)) * np.float32(1.0 / rb)
    rho2 = qa * qa + qb * qb
    rho = np.sqrt(rho2)
    alpha = (1.0 - rho) * np.float32(min(ra, rb)) + 0.5
    _clip01(alpha)
    if mask is not None:
        mask[y0:y1, x0:x1] |= alpha > 0.5
    shade = None
    if light is not None:
        nz = np.sqrt(np.maximum(1.0 - rho2, 0.0))
        # in-plane normal = qa * axis + qb * perp, perp = (-uy, ux)
        lx = np.float32(light.x * ux + light.y * uy)
        ly = np.float32(-light.x * uy + light.y * ux)
        dot = qa * lx + qb * ly + nz * np.float32(light.z)
        shade = np.float32(light.diffuse) * np.maximum(dot, 0.0) + np.float32(light.ambient)
    if cap_colour is not None:
        cap = _clip01((qa - np.float32(cap_from)) * np.float32(ra) + 0.5)
        paint = colour[:, None, None] + (cap_colour - colour)[:, None, None] * cap
        region = img[:, y0:y1, x0:x1]
        region += alpha * ((paint * shade if shade is not None else paint) - region)
        return
    _blend(img, box, alpha, colour, shade)


def polygon(
    img: np.ndarray,
    grid: np.ndarray,
    pts: np.ndarray,
    colour: np.ndarray,
    light: Light | None,
    *,
    grow: float = 0.0,
    axis: np.ndarray | None = None,
    half_width: float = 1.0,
    mask: np.ndarray | None = None,
) -> None:
    """A convex polygon (vertices in counter-clockwise image order), grown by ``grow`` px.

    Shading is that of a cylinder along ``axis`` through the centroid with radius
    ``half_width`` (flat when ``axis`` is None).
    """
    size = img.shape[1]
    lo, hi = pts.min(axis=0) - grow, pts.max(axis=0) + grow
    box = _bbox(lo[0], hi[0], lo[1], hi[1], size)
    if box is None:
        return
    x0, x1, y0, y1 = box
    xs = grid[x0:x1]
    ys = grid[y0:y1][:, None]
    dist = None
    k = len(pts)
    for i in range(k):
        p, q = pts[i], pts[(i + 1) % k]
        ex, ey = float(q[0] - p[0]), float(q[1] - p[1])
        norm = math.hypot(ex, ey)
        if norm < 1e-6:
            continue
        # inward normal of a counter-clockwise polygon in image coordinates (y down)
        nx, ny = -ey / norm, ex / norm
        d = (xs - np.float32(p[0])) * np.float32(nx) + (ys - np.float32(p[1])) * np.float32(ny)
        dist = d if dist is None else np.minimum(dist, d)
    if dist is None:
        return
    alpha = _clip01(dist + np.float32(grow + 0.5))
    if mask is not None:
        mask[y0:y1, x0:x1] |= alpha > 0.5
    shade = None
    if light is not None and axis is not None:
        cx, cy = pts.mean(axis=0)
        perp_x, perp_y = -float(axis[1]), float(axis[0])
        s = (
            (xs - np.float32(cx)) * np.float32(perp_x) + (ys - np.float32(cy)) * np.float32(perp_y)
        ) * np.float32(1.0 / max(half_width, 1.0))
        np.clip(s, -1.0, 1.0, out=s)
        nz = np.sqrt(1.0 - s * s)
        dot = s * np.float32(light.x * perp_x + light.y * perp_y) + nz * np.float32(light.z)
        shade = np.float32(light.diffuse) * np.maximum(dot, 0.0) + np.float32(light.ambient)
    _blend(img, box, alpha, colour, shade)


def convex_hull(pts: np.ndarray) -> np.ndarray:
    """Convex hull (monotone chain) of a few points, counter-clockwise in image coordinates."""
    p = sorted(map(tuple, pts.tolist()))

    def cross(o: tuple, a: tuple, b: tuple) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple] = []
    for q in p:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], q) <= 0:
            lower.pop()
        lower.append(q)
    upper: list[tuple] = []
    for q in reversed(p):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], q) <= 0:
            upper.pop()
        upper.append(q)
    # Counter-clockwise for y up, i.e. the order whose inward normal is (-ey, ex) for y down.
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def hsv(h: float, s: float, v: float) -> np.ndarray:
    """One HSV colour (all in [0, 1]) as float32 RGB."""
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb, np.float32)
