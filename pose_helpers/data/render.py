"""The SynthPose renderer: one figure in a pose, drawn over clutter, as an 8-bit image.

Rendering (:meth:`Renderer.render`): background (gradient, smooth colour noise, stripes,
blobs, distractor limbs), then the figure in depth order (far leg and, half the time, far
arm; torso; near leg; neck and head; remaining arms), then occluders, exposure / white
balance, blur and uniform pixel noise. Each part gets a palette colour by *kind* (shirt,
sleeves or skin, trousers, shoes, skin, hair) times an independent per-limb tint, so left
and right limbs share one colour distribution (:func:`limb_colours`); the only side cues are
the pose itself and the hair, which covers the top of a head facing the camera and most of
a head seen from behind (as a face would tell). How much clutter, how many occluders and
how much training-crop jitter is set by a :class:`Difficulty`.

Any change here changes the renders: bump
:data:`pose_helpers.data.synthpose.CODE_VERSION`, which keys the render cache.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pose_helpers.data.drawing import Light, capsule, convex_hull, ellipse, hsv, polygon
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
    THORAX,
)

__all__ = ["DIFFICULTIES", "Difficulty", "Renderer", "as_difficulty", "limb_colours"]


# --------------------------------------------------------------------------------------
# Difficulty
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difficulty:
    """Nuisance and jitter settings of the renderer.

    Args:
        occluders: maximum number of occluders per image (uniform 0..occluders).
        clutter: background clutter in [0, 1]: texture contrast, stripes and blobs.
        distractors: mean number of distractor limbs (body-part-like capsules) in the background.
        noise: standard deviation of the pixel noise (image values in [0, 1]), scaled by
            U(0.5, 1.5) per image.
        blur: probability of a 3x3 binomial blur.
        scale_jitter: training crops scale by clip(N(1, s), 1 - s, 1 + s) (0 = off).
        rotation: training crops rotate by clip(N(0, r), -2r, 2r) degrees with
            probability 0.6 (0 = off).
        translation: training crops shift by U(-t, t) x crop side per axis.
        flip: mirror half of the training crops (labels swapped by ``FLIP_PAIRS``).

    Evaluation (``split='valid'``) crops never jitter: head sizes stay MPII's exactly.
    """

    occluders: int = 2
    clutter: float = 0.6
    distractors: float = 1.0
    noise: float = 0.03
    blur: float = 0.3
    scale_jitter: float = 0.25
    rotation: float = 30.0
    translation: float = 0.05
    flip: bool = True

    def __post_init__(self) -> None:
        if self.occluders < 0:
            raise ValueError(f"occluders must be >= 0; got {self.occluders}")
        if not 0.0 <= self.clutter <= 1.0:
            raise ValueError(f"clutter must lie in [0, 1]; got {self.clutter}")
        if not 0.0 <= self.blur <= 1.0:
            raise ValueError(f"blur must be a probability in [0, 1]; got {self.blur}")
        for name in ("distractors", "noise", "scale_jitter", "rotation", "translation"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)}")
        if self.scale_jitter >= 1:
            raise ValueError(f"scale_jitter must be < 1; got {self.scale_jitter}")


#: Presets. 'easy': plain figure on a mildly textured background (no occluders, distractors
#: or blur); 'medium' (default): up to 2 occluders, one distractor limb on average, clutter
#: 0.6, noise 0.03, blur on 30 % of images; 'hard': up to 4 occluders, 3 distractors, full
#: clutter, noise 0.06, blur on half. All share the training jitter of the stacked-hourglass
#: recipe (scale +-25 %, rotation sd 30 deg on 60 %, flips) plus +-5 % shifts.
DIFFICULTIES: dict[str, Difficulty] = {
    "easy": Difficulty(occluders=0, clutter=0.3, distractors=0.0, noise=0.02, blur=0.0),
    "medium": Difficulty(),
    "hard": Difficulty(occluders=4, clutter=1.0, distractors=3.0, noise=0.06, blur=0.5),
}


def as_difficulty(difficulty: str | Difficulty | dict[str, Any]) -> Difficulty:
    """The :class:`Difficulty` that ``difficulty`` names.

    Args:
        difficulty: a preset name (a key of :data:`DIFFICULTIES`), a :class:`Difficulty`
            (returned as is), or a dict of fields overriding its ``'preset'`` (default
            ``'medium'``).

    Raises:
        ValueError: an unknown preset or field, or a field out of range.
        TypeError: ``difficulty`` is none of these types.
    """
    if isinstance(difficulty, Difficulty):
        return difficulty
    if isinstance(difficulty, str):
        if difficulty not in DIFFICULTIES:
            raise ValueError(
                f"difficulty must be one of {sorted(DIFFICULTIES)}; got {difficulty!r}"
            )
        return DIFFICULTIES[difficulty]
    if isinstance(difficulty, dict):
        preset = as_difficulty(difficulty.get("preset", "medium"))
        fields = {k: v for k, v in difficulty.items() if k != "preset"}
        unknown = set(fields) - {f.name for f in dataclasses.fields(Difficulty)}
        if unknown:
            raise ValueError(f"unknown difficulty fields {sorted(unknown)}")
        return dataclasses.replace(preset, **fields)
    raise TypeError(f"difficulty must be a str, dict or Difficulty; got {type(difficulty)}")


# --------------------------------------------------------------------------------------
# Colours
# --------------------------------------------------------------------------------------


_SKIN = (np.array([0.96, 0.80, 0.69], np.float32), np.array([0.33, 0.21, 0.14], np.float32))
_HAIR = np.array(
    [
        [0.07, 0.05, 0.04],
        [0.25, 0.15, 0.08],
        [0.45, 0.30, 0.15],
        [0.80, 0.65, 0.38],
        [0.55, 0.55, 0.55],
    ],
    np.float32,
)

#: Limb kinds: (first joint, second joint, radius at first, radius at second) in head lengths.
_LIMB_SHAPE = {
    "thigh": (0.27, 0.19),
    "shin": (0.19, 0.12),
    "upper_arm": (0.17, 0.13),
    "forearm": (0.13, 0.095),
}
_SIDES = {
    "r": {
        "hip": R_HIP,
        "knee": R_KNEE,
        "ankle": R_ANK,
        "shoulder": R_SHO,
        "elbow": R_ELB,
        "wrist": R_WRI,
    },
    "l": {
        "hip": L_HIP,
        "knee": L_KNEE,
        "ankle": L_ANK,
        "shoulder": L_SHO,
        "elbow": L_ELB,
        "wrist": L_WRI,
    },
}


def _palette(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Colours of one figure by body-part kind; nothing depends on the body side."""
    skin = _SKIN[0] + (_SKIN[1] - _SKIN[0]) * np.float32(rng.random())
    hair = _HAIR[rng.integers(len(_HAIR))] * np.float32(rng.uniform(0.8, 1.2))

    def cloth() -> np.ndarray:
        return hsv(rng.random(), rng.uniform(0.0, 0.9), rng.uniform(0.12, 0.95))

    shirt, pants, shoes = cloth(), cloth(), cloth() * np.float32(0.6)
    long_sleeves, shorts = rng.random() < 0.5, rng.random() < 0.25
    return {
        "skin": skin,
        "hair": np.clip(hair, 0, 1),
        "shirt": shirt,
        "pants": pants,
        "shoes": shoes,
        "upper_arm": shirt,
        "forearm": shirt if long_sleeves else skin,
        "thigh": pants,
        "shin": skin if shorts else pants,
        "hand": skin,
        "foot": shoes,
    }


def _figure_colours(
    rng: np.random.Generator,
) -> tuple[dict[tuple[str, str], np.ndarray], dict[str, np.ndarray]]:
    """Side-limb colours keyed by (side, kind) and the figure's palette (see limb_colours)."""
    pal = _palette(rng)
    tints = rng.normal(1.0, 0.07, (4, 2, 3)).astype(np.float32)
    cols = {}
    for k, kind in enumerate(("upper_arm", "forearm", "thigh", "shin")):
        for s, side in enumerate(("r", "l")):
            cols[(side, kind)] = np.clip(pal[kind] * tints[k, s], 0.0, 1.0)
    return cols, pal


def limb_colours(rng: np.random.Generator) -> dict[tuple[str, str], np.ndarray]:
    """Colours of the eight side limbs of one figure, keyed by (side, kind).

    Each limb gets its kind's palette colour times an independent per-limb tint
    N(1, 0.07) per channel; tints are drawn in a fixed order that alternates sides, so left
    and right limbs have identical colour distributions and colour never tells the sides apart.
    """
    return _figure_colours(rng)[0]


# --------------------------------------------------------------------------------------
# The renderer
# --------------------------------------------------------------------------------------


class Renderer:
    """Renders figures at one input size; keeps the grids and interpolation matrices.

    :meth:`render` draws one image from a generator, the joints (16, 2) in input pixels,
    the pixels per head length and which side is nearer the camera; its steps
    (:meth:`background`, :meth:`figure`, :meth:`occluders`, :meth:`camera`) draw from the
    generator in a fixed order, so one generator state gives one image.

    Args:
        size: side S of the square image in pixels.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.grid = np.arange(size, dtype=np.float32)
        self.xn = (self.grid / max(size - 1, 1))[None, :]
        self.yn = self.xn.T.copy()
        self._interp: dict[int, np.ndarray] = {}

    def _matrix(self, g: int) -> np.ndarray:
        """Bilinear upsampling matrix (S, g)."""
        if g not in self._interp:
            pos = np.linspace(0, g - 1, self.size)
            lo = np.minimum(pos.astype(int), g - 2)
            frac = pos - lo
            m = np.zeros((self.size, g), np.float32)
            m[np.arange(self.size), lo] = 1 - frac
            m[np.arange(self.size), lo + 1] = frac
            self._interp[g] = m
        return self._interp[g]

    def smooth_noise(self, rng: np.random.Generator, g: int, channels: int = 3) -> np.ndarray:
        """Gaussian noise on a (g, g) grid, bilinearly upsampled to (channels, S, S)."""
        m = self._matrix(g)
        return m @ rng.standard_normal((channels, g, g), dtype=np.float32) @ m.T

    def light(self, rng: np.random.Generator) -> Light:
        """A random light on the viewer's side (37-73 deg above the image plane, any azimuth),
        ambient weight 0.35-0.6, diffuse 0.45-0.7."""
        theta = rng.uniform(0, 2 * np.pi)
        m = rng.uniform(0.3, 0.8)
        return Light(
            m * math.cos(theta),
            m * math.sin(theta),
            math.sqrt(1 - m * m),
            rng.uniform(0.35, 0.6),
            rng.uniform(0.45, 0.7),
        )

    def background(
        self, rng: np.random.Generator, diff: Difficulty, unit: float, light: Light
    ) -> np.ndarray:
        """A new (3, S, S) float32 canvas: gradient, clutter and distractor limbs of ``diff``,
        sized by ``unit`` (pixels per head length)."""
        s = self.size
        c1 = hsv(rng.random(), rng.uniform(0, 0.7), rng.uniform(0.15, 0.95))
        c2 = hsv(rng.random(), rng.uniform(0, 0.7), rng.uniform(0.15, 0.95))
        theta = rng.uniform(0, 2 * np.pi)
        ramp = self.xn * np.float32(math.cos(theta) * 0.5) + self.yn * np.float32(
            math.sin(theta) * 0.5
        )
        img = c1[:, None, None] + (c2 - c1)[:, None, None] * (ramp + 0.5)
        clutter = diff.clutter
        if clutter > 0:
            g = int(rng.choice([3, 5, 9, 17]))
            g = min(g, max(s // 2, 2))
            amp = clutter * rng.uniform(0.05, 0.3)
            noise = self.smooth_noise(rng, g, 1) + 0.35 * self.smooth_noise(rng, g, 3)
            img += np.float32(amp) * noise
            if rng.random() < 0.5 * clutter:  # stripes
                phi = rng.uniform(0, np.pi)
                freq = rng.uniform(2, 12) * 2 * np.pi
                arg = (
                    self.xn * np.float32(math.cos(phi)) + self.yn * np.float32(math.sin(phi))
                ) * np.float32(freq)
                stripes = np.sin(arg + np.float32(rng.uniform(0, 2 * np.pi)))
                stripes = np.clip(
                    stripes * np.float32(rng.uniform(0.5, 4)) + 0.5, 0, 1
                ) * np.float32(clutter * rng.uniform(0.3, 1))
                c3 = hsv(rng.random(), rng.uniform(0, 0.8), rng.uniform(0.1, 1))
                img += stripes * (c3[:, None, None] - img)
            for _ in range(rng.poisson(3 * clutter)):  # blobs
                c = rng.uniform(-0.1, 1.1, 2) * s
                r1, r2 = rng.uniform(0.5, 3.0, 2) * unit
                ang = rng.uniform(0, 2 * np.pi)
                col = hsv(rng.random(), rng.uniform(0, 0.9), rng.uniform(0.1, 1))
                ellipse(
                    img,
                    self.grid,
                    c,
                    np.array([math.cos(ang), math.sin(ang)]),
                    r1,
                    r2,
                    col,
                    light if rng.random() < 0.5 else None,
                )
        for _ in range(rng.poisson(diff.distractors)):  # limb-like distractors
            a = rng.uniform(-0.1, 1.1, 2) * s
            ang = rng.uniform(0, 2 * np.pi)
            length = rng.uniform(1.0, 2.2) * unit
            b = a + length * np.array([math.cos(ang), math.sin(ang)])
            kind = str(rng.choice(list(_LIMB_SHAPE)))
            ra, rb = _LIMB_SHAPE[kind]
            pal = _palette(rng)
            capsule(img, self.grid, a, b, ra * unit, rb * unit, pal[kind], light)
        return img

    def figure(
        self,
        rng: np.random.Generator,
        img: np.ndarray,
        j: np.ndarray,
        unit: float,
        near_left: bool,
        light: Light,
    ) -> None:
        """Draw the figure with joints ``j`` (16, 2) input px; ``unit`` = px per head length."""
        cols, pal = _figure_colours(rng)
        build = rng.uniform(0.85, 1.2) * unit
        jit = rng.uniform(0.92, 1.08, 16)
        grid = self.grid
        far, near = ("r", "l") if near_left else ("l", "r")
        far_arm_front = rng.random() < 0.5
        foot_sign = 1.0 if rng.random() < 0.5 else -1.0
        foot_len = rng.uniform(0.3, 0.6) * unit

        def leg(side: str) -> None:
            ids = _SIDES[side]
            hip, knee, ank = j[ids["hip"]], j[ids["knee"]], j[ids["ankle"]]
            k = 0 if side == "r" else 1
            r = _LIMB_SHAPE["thigh"]
            capsule(
                img,
                grid,
                hip,
                knee,
                r[0] * build * jit[k],
                r[1] * build * jit[k],
                cols[(side, "thigh")],
                light,
            )
            shin = ank - knee
            n = math.hypot(*shin) + 1e-6
            toe = (
                ank
                + foot_len * foot_sign * np.array([-shin[1], shin[0]]) / n
                + 0.1 * shin / n * unit
            )
            capsule(img, grid, ank, toe, 0.11 * build, 0.09 * build, pal["foot"], light)
            r = _LIMB_SHAPE["shin"]
            capsule(
                img,
                grid,
                knee,
                ank,
                r[0] * build * jit[2 + k],
                r[1] * build * jit[2 + k],
                cols[(side, "shin")],
                light,
            )

        def arm(side: str) -> None:
            ids = _SIDES[side]
            sho, elb, wri = j[ids["shoulder"]], j[ids["elbow"]], j[ids["wrist"]]
            k = 0 if side == "r" else 1
            r = _LIMB_SHAPE["upper_arm"]
            capsule(
                img,
                grid,
                sho,
                elb,
                r[0] * build * jit[4 + k],
                r[1] * build * jit[4 + k],
                cols[(side, "upper_arm")],
                light,
            )
            r = _LIMB_SHAPE["forearm"]
            capsule(
                img,
                grid,
                elb,
                wri,
                r[0] * build * jit[6 + k],
                r[1] * build * jit[6 + k],
                cols[(side, "forearm")],
                light,
            )
            d = wri - elb
            n = math.hypot(*d)
            axis = d / n if n > 1e-3 else np.array([0.0, 1.0])
            ellipse(
                img,
                grid,
                wri + 0.12 * unit * axis,
                axis,
                0.2 * build,
                0.13 * build,
                pal["hand"],
                light,
            )

        def torso() -> None:
            quad = j[[R_SHO, L_SHO, L_HIP, R_HIP]].astype(np.float64)
            axis = j[PELVIS] - j[THORAX]
            n = math.hypot(*axis)
            axis = axis / n if n > 1e-3 else np.array([0.0, 1.0])
            hull = convex_hull(quad)
            half = 0.5 * max(math.hypot(*(j[L_SHO] - j[R_SHO])), math.hypot(*(j[L_HIP] - j[R_HIP])))
            capsule(
                img, grid, j[THORAX], j[PELVIS], 0.42 * build, 0.38 * build, pal["shirt"], light
            )
            if len(hull) >= 3:
                polygon(
                    img,
                    grid,
                    hull,
                    pal["shirt"],
                    light,
                    grow=0.12 * build,
                    axis=axis,
                    half_width=half + 0.12 * build,
                )
            capsule(img, grid, j[R_SHO], j[L_SHO], 0.17 * build, 0.17 * build, pal["shirt"], light)
            capsule(img, grid, j[R_HIP], j[L_HIP], 0.24 * build, 0.24 * build, pal["pants"], light)

        def head() -> None:
            capsule(img, grid, j[THORAX], j[NECK], 0.17 * build, 0.15 * build, pal["skin"], light)
            d = j[HEAD] - j[NECK]
            n = math.hypot(*d)
            axis = d / n if n > 1e-3 else np.array([0.0, -1.0])
            ra = max(0.55 * n, 0.42 * unit)
            rb = 0.4 * unit * rng.uniform(0.9, 1.1)
            # Facing cue, like a face in a photo: hair covers the top of a head facing the
            # camera and nearly all of a head seen from behind.
            sh, hp = j[L_SHO] - j[R_SHO], j[PELVIS] - j[THORAX]
            facing = (sh[0] * hp[1] - sh[1] * hp[0]) / (math.hypot(*sh) * math.hypot(*hp) + 1e-6)
            cap_from = 0.25 if facing > 0.2 else (-0.7 if facing < -0.2 else rng.uniform(-0.5, 0.3))
            centre = 0.5 * (j[HEAD] + j[NECK])
            ellipse(
                img,
                grid,
                centre,
                axis,
                ra,
                rb,
                pal["skin"],
                light,
                cap_colour=pal["hair"],
                cap_from=cap_from,
            )

        leg(far)
        if not far_arm_front:
            arm(far)
        torso()
        leg(near)
        head()
        if far_arm_front:
            arm(far)
        arm(near)

    def occluders(
        self,
        rng: np.random.Generator,
        img: np.ndarray,
        j: np.ndarray,
        unit: float,
        count: int,
        light: Light,
    ) -> np.ndarray:
        """Draw ``count`` occluders near the body; return the (S, S) bool mask they cover."""
        mask = np.zeros((self.size, self.size), bool)
        for _ in range(count):
            c = j[rng.integers(NUM_JOINTS)] + rng.normal(0, 0.7, 2) * unit
            col = hsv(rng.random(), rng.uniform(0, 1), rng.uniform(0.1, 1))
            ang = rng.uniform(0, 2 * np.pi)
            axis = np.array([math.cos(ang), math.sin(ang)])
            kind = rng.random()
            lit = light if rng.random() < 0.6 else None
            if kind < 0.4:
                r1, r2 = rng.uniform(0.3, 1.0, 2) * unit
                ellipse(img, self.grid, c, axis, r1, r2, col, lit, mask=mask)
            elif kind < 0.8:
                h1, h2 = rng.uniform(0.25, 0.9, 2) * unit
                perp = np.array([-axis[1], axis[0]])
                pts = np.stack(
                    [
                        c - h1 * axis - h2 * perp,
                        c + h1 * axis - h2 * perp,
                        c + h1 * axis + h2 * perp,
                        c - h1 * axis + h2 * perp,
                    ]
                )
                polygon(
                    img, self.grid, convex_hull(pts), col, lit, axis=axis, half_width=h2, mask=mask
                )
            else:  # a bar (pole, rope, table edge)
                length = rng.uniform(2.0, 5.0) * unit
                r = rng.uniform(0.1, 0.3) * unit
                capsule(
                    img,
                    self.grid,
                    c - 0.5 * length * axis,
                    c + 0.5 * length * axis,
                    r,
                    r,
                    col,
                    lit,
                    mask=mask,
                )
        return mask

    def camera(self, rng: np.random.Generator, img: np.ndarray, diff: Difficulty) -> np.ndarray:
        """Exposure, white balance, blur and noise; returns the 8-bit image (3, S, S)."""
        gain = rng.uniform(0.75, 1.25) * rng.uniform(0.9, 1.1, 3)
        img *= gain.astype(np.float32)[:, None, None]
        if rng.random() < diff.blur:  # 3x3 binomial blur, borders kept
            h = img[:, :, :-2] + img[:, :, 2:]
            h += 2.0 * img[:, :, 1:-1]
            img[:, :, 1:-1] = h * np.float32(0.25)
            v = img[:, :-2] + img[:, 2:]
            v += 2.0 * img[:, 1:-1]
            img[:, 1:-1] = v * np.float32(0.25)
        if diff.noise > 0:  # uniform noise of standard deviation sd (cheaper than Gaussian)
            sd = diff.noise * rng.uniform(0.5, 1.5)
            noise = rng.random(img.shape, dtype=np.float32)
            noise -= np.float32(0.5)
            noise *= np.float32(sd * math.sqrt(12.0))
            img += noise
        img *= 255.0
        img += 0.5
        np.clip(img, 0, 255, out=img)
        return img.astype(np.uint8)

    def render(
        self,
        rng: np.random.Generator,
        joints: np.ndarray,
        unit: float,
        near_left: bool,
        diff: Difficulty,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Render one image; returns (uint8 (3, S, S), occluded (16,) bool)."""
        light = self.light(rng)
        img = self.background(rng, diff, unit, light)
        self.figure(rng, img, joints, unit, near_left, light)
        count = int(rng.integers(0, diff.occluders + 1)) if diff.occluders > 0 else 0
        occluded = np.zeros(NUM_JOINTS, bool)
        if count:
            mask = self.occluders(rng, img, joints, unit, count, light)
            ij = np.round(joints).astype(int)
            inside = ((ij >= 0) & (ij < self.size)).all(axis=1)
            occluded[inside] = mask[ij[inside, 1], ij[inside, 0]]
        return self.camera(rng, img, diff), occluded
