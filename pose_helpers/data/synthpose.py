"""SynthPose: a synthetic 2D human-pose data set, rendered on the fly and deterministic by seed.

There are no MPII images on this machine, so the book trains and evaluates its models on
SynthPose: real MPII poses (``train_joints.csv`` for training, ``valid.h5`` for evaluation)
drawn as shaded articulated figures (tapered limbs, torso, head with hair, hands and feet)
over random textured backgrounds, with distractor limbs, occluders, pixel noise and blur.
Without the MPII files the poses come from a procedural 3D kinematic skeleton instead
(``source == "procedural"``).

Conventions of one sample (see :meth:`SynthPose.sample`):

* ``image`` (3, S, S) float32: the render is quantized to 8 bits (like a decoded JPEG), then
  normalized per channel as ``(u8 / 255 - MEAN) / STD``.
* ``joints`` (16, 2) float32: ``(x, y)`` in input pixels, MPII joint order, pixel centres at
  integers. The crop maps the person centre to ``(S / 2, S / 2)``, the convention of
  :func:`pose_helpers.metrics.pose.heatmap_to_original_coords`.
* ``heatmaps`` (16, S/4, S/4) float32: an unnormalized Gaussian (value 1 at its centre) of
  standard deviation ``sigma`` heatmap pixels at ``joints / 4`` (the stacked-hourglass
  convention; the centre is sub-pixel, not rounded), all zeros for invisible joints.
* ``visible`` (16,) bool: annotated in MPII *and* inside the input frame. Joints covered by an
  occluder or by another body part stay visible, as in MPII, whose annotators mark occluded
  joints and whose PCKh counts them; ``occluded`` (16,) bool flags joints under an occluder.
* ``target_weight`` (16,) float32: ``visible`` as 0/1, the weight of each joint in the loss.
* ``head_size`` () float32: MPII's head size (0.6 x head-box diagonal) in input pixels,
  ``normalize * S / side`` where ``side`` is the crop side in source pixels, so PCKh on these
  coordinates is normalized exactly as in MPII.
* ``affine`` (2, 3) float32 maps source pixels (MPII pixels as stored, or the procedural
  frame) to input pixels; :func:`to_source` inverts it. ``center`` (2,) and ``crop_scale`` ()
  describe the crop (side = 200 x crop_scale) for the axis-aligned validation crops.

Evaluation crops follow the stacked-hourglass pipeline: centre shifted down by 15 x scale,
side 200 x scale x 1.25 px (``padding``). Training crops take the centre and scale from the
joints (see :func:`pose_bank`) and add the train-time jitter of the :class:`Difficulty`.
At 64 px the median head is then 5.1 px, so PCKh@0.5 asks for 2.6 px (0.64 heatmap px).

Rendering: background (gradient, smooth colour noise, stripes, blobs, distractor limbs),
then the figure in depth order (far leg and, half the time, far arm; torso; near leg; neck
and head; remaining arms), then occluders, exposure / white balance, blur and uniform pixel
noise. Each part gets a palette colour by *kind* (shirt, sleeves or skin, trousers, shoes,
skin, hair) times an independent per-limb tint, so left and right limbs share one colour
distribution (:func:`limb_colours`); the only side cues are the pose itself and the hair,
which covers the top of a head facing the camera and most of a head seen from behind (as a
face would tell). Which side is nearer is random for MPII poses.

Defaults (``difficulty='medium'``, ``sigma=2``, ``padding=1.25``) keep MPII's geometry and
the book's target settings. Measured on this machine (one thread, 2-stack hourglass of
width 32 at 64 px, Adam 1e-3, batch 16, cached renders, first 1,000 validation persons),
mean PCKh@0.5 after 480 CPU-seconds: 'medium' 32.5, 'easy' 39.4, 'medium' with
``sigma=1`` 37.2. 'easy' with ``sigma=1`` reaches 43.9 / 54.1 / 58.0 / 62.8 after
300 / 600 / 900 / 1,200 CPU-seconds (lr x 0.1 after 960 s; wrists 44.8, ankles 60.5,
head 90.9, left/right swaps 10.6 %). At 64 px, ``sigma=2`` heatmap px is 1.6 head sizes,
too blurred for a 0.5-head threshold; ``sigma=1`` suits 64 px crops better. PCKh@1.0 is
70-86 %: most misses are near misses, and wrists, ankles and left/right swaps stay hard.

Speed (one thread, CPU time): about 900 images/s at 64 px, 700-800 at 128 px and 300 at
256 px; :func:`render_set` caches whole sets (``SynthPose(..., cache=True)``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from pose_helpers.core.paths import cache_dir, dataset_dir
from pose_helpers.data import mpii

__all__ = [
    "CODE_VERSION",
    "DIFFICULTIES",
    "MEAN",
    "STD",
    "Difficulty",
    "PoseBank",
    "SynthPose",
    "denormalize",
    "draw_skeleton",
    "heatmaps_from_joints",
    "limb_colours",
    "pose_bank",
    "procedural_poses",
    "render_set",
    "show_gallery",
    "to_source",
]

#: Bump whenever rendering changes: it is part of every cache key.
CODE_VERSION = "synthpose-1"

NUM_JOINTS = mpii.NUM_JOINTS
FLIP_PAIRS = mpii.FLIP_PAIRS
SKELETON = mpii.SKELETON
JOINT_NAMES = mpii.JOINT_NAMES

#: Per-channel mean and standard deviation of SynthPose images (8-bit values / 255),
#: measured on 2,000 'medium' training renders at 64 px (rounded).
MEAN: tuple[float, float, float] = (0.44, 0.44, 0.44)
STD: tuple[float, float, float] = (0.22, 0.22, 0.22)

SPLITS = ("train", "valid")
MPII_SIZES = {"train": 14975, "valid": 2958}

# Joint indices (MPII order).
R_ANK, R_KNEE, R_HIP, L_HIP, L_KNEE, L_ANK, PELVIS, THORAX, NECK, HEAD = range(10)
R_WRI, R_ELB, R_SHO, L_SHO, L_ELB, L_WRI = range(10, 16)

#: MPII: normalize (0.6 x head-box diagonal) = 20 x scale; normalize ~ 0.75 x |head top - neck|.
HEAD_PER_SCALE = 20.0
HEAD_PER_LENGTH = 0.75


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


def _difficulty(difficulty: str | Difficulty | dict[str, Any]) -> Difficulty:
    if isinstance(difficulty, Difficulty):
        return difficulty
    if isinstance(difficulty, str):
        if difficulty not in DIFFICULTIES:
            raise ValueError(
                f"difficulty must be one of {sorted(DIFFICULTIES)}; got {difficulty!r}"
            )
        return DIFFICULTIES[difficulty]
    if isinstance(difficulty, dict):
        preset = _difficulty(difficulty.get("preset", "medium"))
        fields = {k: v for k, v in difficulty.items() if k != "preset"}
        unknown = set(fields) - {f.name for f in dataclasses.fields(Difficulty)}
        if unknown:
            raise ValueError(f"unknown difficulty fields {sorted(unknown)}")
        return dataclasses.replace(preset, **fields)
    raise TypeError(f"difficulty must be a str, dict or Difficulty; got {type(difficulty)}")


# --------------------------------------------------------------------------------------
# Poses
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoseBank:
    """Poses of one split with their crop parameters (source pixels).

    ``joints`` (N, 16, 2) float32 holds all 16 joints (MPII joints that are not annotated are
    imputed from the nearest training pose, for drawing only), ``annotated`` (N, 16) bool
    marks the labelled ones, ``center`` (N, 2) and ``scale`` (N,) are MPII's person centre
    and scale (height / 200 px), ``normalize`` (N,) the head size in pixels, and
    ``near_left`` (N,) int8 is 1 / 0 where the left / right side is nearer the camera (known
    for procedural poses) and -1 where unknown (chosen at random per render).
    """

    source: str
    joints: np.ndarray
    annotated: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    normalize: np.ndarray
    near_left: np.ndarray

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                value.flags.writeable = False  # banks are cached and shared

    def __len__(self) -> int:
        return len(self.joints)


def _rot(axis: int, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices (N, 3, 3) about coordinate ``axis`` by ``angle`` (N,) radians."""
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros((len(angle), 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m[:, axis, axis] = 1
    m[:, i, i], m[:, i, j], m[:, j, i], m[:, j, j] = c, -s, s, c
    return m


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def procedural_poses(n: int, *, seed: int = 0) -> PoseBank:
    """Random human poses from a 3D kinematic skeleton within joint limits.

    Bone lengths follow MPII training poses (in head lengths, upper neck to head top); joint
    angles are drawn within human limits (hip flexion -30..120 deg, knee 0..150, shoulder
    elevation 0..170, elbow 0..150, trunk bend, twist, head tilt), the body turns by a yaw
    biased toward facing the camera, and the skeleton is projected orthographically with a
    small camera pitch and an in-plane roll. Centre and scale come from the joints as for
    MPII training poses (see :func:`pose_bank`).

    Args:
        n: number of poses.
        seed: seed of the pose generator.

    Returns:
        A :class:`PoseBank` with ``source == "procedural"``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    rng = np.random.default_rng([seed, 7919])
    deg = np.pi / 180
    u = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731
    size = lambda mean: mean * rng.normal(1.0, 0.05, n)  # noqa: E731
    shin, thigh, hip_half = size(1.75), size(1.75), size(0.45)
    torso, neck, fore, upper, sho_half = size(2.1), size(0.4), size(1.05), size(1.2), size(0.72)
    p = np.zeros((n, NUM_JOINTS, 3))  # body frame: x to the person's left, y down, z forward

    # Lower body: hips, thighs (flexion phi, abduction alpha), shins (knee flexion kappa).
    p[:, R_HIP, 0], p[:, L_HIP, 0] = -hip_half, hip_half
    for side, hip, knee, ank in ((-1, R_HIP, R_KNEE, R_ANK), (1, L_HIP, L_KNEE, L_ANK)):
        mode = rng.random(n)
        phi = np.where(mode < 0.45, rng.normal(0, 15, n), u(-30, 120)) * deg
        phi = np.clip(phi, -30 * deg, 120 * deg)
        alpha = np.clip(rng.normal(5, 12, n), -10, 45) * deg
        kappa = np.where(mode < 0.45, np.abs(rng.normal(0, 15, n)), u(0, 150)) * deg
        kappa = np.minimum(kappa, 150 * deg)
        alpha2 = alpha * u(0.3, 1.0)
        d1 = np.stack(
            [side * np.sin(alpha), np.cos(alpha) * np.cos(phi), np.cos(alpha) * np.sin(phi)], -1
        )
        d2 = np.stack(
            [
                side * np.sin(alpha2),
                np.cos(alpha2) * np.cos(phi - kappa),
                np.cos(alpha2) * np.sin(phi - kappa),
            ],
            -1,
        )
        p[:, knee] = p[:, hip] + thigh[:, None] * d1
        p[:, ank] = p[:, knee] + shin[:, None] * d2

    # Upper body: trunk bend (forward beta, lateral gamma) and twist tau.
    beta = np.clip(np.abs(rng.normal(0, 20, n)) * np.where(rng.random(n) < 0.85, 1, -0.5), -20, 90)
    upper_rot = (
        _rot(0, -beta * deg)
        @ _rot(2, rng.normal(0, 8, n) * deg)
        @ _rot(1, rng.normal(0, 15, n) * deg)
    )
    up = np.array([0.0, -1.0, 0.0])
    p[:, THORAX] = torso[:, None] * (upper_rot @ up)
    for idx, sgn in ((R_SHO, -1.0), (L_SHO, 1.0)):
        p[:, idx] = p[:, THORAX] + sho_half[:, None] * (upper_rot @ np.array([sgn, 0.05, 0.0]))
    head_rot = upper_rot @ _rot(0, rng.normal(0, 15, n) * deg) @ _rot(2, rng.normal(0, 10, n) * deg)
    p[:, NECK] = p[:, THORAX] + neck[:, None] * (head_rot @ up)
    p[:, HEAD] = p[:, NECK] + head_rot @ up

    # Arms in the upper-body frame: elevation e from hanging, azimuth a (0 = sideways,
    # 90 = forward, > 90 = across the body), elbow flexion f toward a random bend direction.
    for side, sho, elb, wri in ((-1, R_SHO, R_ELB, R_WRI), (1, L_SHO, L_ELB, L_WRI)):
        mode = rng.random(n)
        e = np.where(mode < 0.35, np.abs(rng.normal(0, 20, n)), u(0, 170)) * deg
        a = u(-40, 130) * deg
        d1 = np.stack([side * np.sin(e) * np.cos(a), np.cos(e), np.sin(e) * np.sin(a)], -1)
        f = np.where(mode < 0.35, u(0, 60), u(0, 150)) * deg
        bend = np.stack([-side * u(0, 0.6), -u(0, 1.0), np.ones(n)], -1)
        w = _unit(bend - (bend * d1).sum(-1, keepdims=True) * d1)
        d2 = np.cos(f)[:, None] * d1 + np.sin(f)[:, None] * w
        p[:, elb] = p[:, sho] + upper[:, None] * (upper_rot @ d1[..., None])[..., 0]
        p[:, wri] = p[:, elb] + fore[:, None] * (upper_rot @ d2[..., None])[..., 0]
    p[:, PELVIS] = 0.5 * (p[:, R_HIP] + p[:, L_HIP])

    # View: yaw (mostly facing the camera), pitch, in-plane roll (sometimes lying).
    mode = rng.random(n)
    yaw = np.where(
        mode < 0.55,
        rng.normal(0, 35, n),
        np.where(mode < 0.75, rng.normal(180, 35, n), u(-180, 180)),
    )
    roll = np.where(rng.random(n) < 0.05, u(-100, 100), rng.normal(0, 8, n))
    view = _rot(2, roll * deg) @ _rot(0, rng.normal(0, 10, n) * deg) @ _rot(1, yaw * deg)
    q = np.einsum("nij,nkj->nki", view, p)
    head_px = 40.0 * u(0.8, 1.25)
    joints = (q[..., :2] * head_px[:, None, None] + 500.0).astype(np.float32)
    depth = q[..., 2]  # larger = nearer the camera (the front faces +z)
    left = [L_HIP, L_KNEE, L_ANK, L_SHO, L_ELB, L_WRI]
    right = [R_HIP, R_KNEE, R_ANK, R_SHO, R_ELB, R_WRI]
    near_left = (depth[:, left].mean(1) > depth[:, right].mean(1)).astype(np.int8)
    normalize = HEAD_PER_LENGTH * head_px
    center, scale = _center_scale(joints, normalize)
    return PoseBank(
        source="procedural",
        joints=joints,
        annotated=np.ones((n, NUM_JOINTS), bool),
        center=center,
        scale=scale,
        normalize=normalize,
        near_left=near_left,
    )


def _center_scale(joints: np.ndarray, normalize: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MPII-like person centre and scale from joints (N, 16, 2) and head sizes (N,).

    MPII's scale is the head size / 20; it is clipped so that the 1.25 x crop holds the
    joints' bounding box (scale >= extent / 190) without shrinking the person below what
    MPII does (scale <= 2.6 x extent / 200). MPII's centre lies 7 x scale below the box
    centre (median over valid.h5).
    """
    lo, hi = joints.min(axis=1), joints.max(axis=1)
    extent = (hi - lo).max(axis=1).astype(np.float64)
    scale = np.clip(normalize / HEAD_PER_SCALE, extent / 190.0, extent * 2.6 / 200.0)
    center = 0.5 * (lo + hi).astype(np.float64)
    center[:, 1] += 7.0 * scale
    return center, scale


def _impute(
    joints: np.ndarray, annotated: np.ndarray, normalize: np.ndarray, templates: np.ndarray
) -> np.ndarray:
    """Fill joints that are not annotated from the training pose that fits the rest best.

    Each template is aligned by a least-squares similarity (rotation, scale, shift; no
    reflection) to the annotated joints; a penalty keeps its scale near the one the head
    size implies. Only used for drawing: imputed joints are never labelled.
    """
    out = joints.astype(np.float64)
    tpl = templates.astype(np.float64)
    t_head = np.maximum(HEAD_PER_LENGTH * np.linalg.norm(tpl[:, HEAD] - tpl[:, NECK], axis=1), 1e-6)
    for i in np.flatnonzero(~annotated.all(axis=1)):
        m = annotated[i]
        if m.sum() < 2:  # nothing to align: the first template at the head-size scale
            a = normalize[i] / t_head[0]
            shift = out[i, m].mean(axis=0) if m.any() else np.zeros(2)
            full = a * (tpl[0] - tpl[0].mean(axis=0)) + shift
            out[i, ~m] = full[~m]
            continue
        z = out[i, m]
        zm = z.mean(axis=0)
        zc = z - zm
        tx, ty = tpl[:, m, 0], tpl[:, m, 1]  # (M, k)
        txm, tym = tx.mean(axis=1, keepdims=True), ty.mean(axis=1, keepdims=True)
        tx, ty = tx - txm, ty - tym
        norm = np.maximum((tx * tx + ty * ty).sum(axis=1), 1e-9)
        # similarity z ~ (ar + i ai) t: least squares via complex inner products
        ar = (tx @ zc[:, 0] + ty @ zc[:, 1]) / norm
        ai = (tx @ zc[:, 1] - ty @ zc[:, 0]) / norm
        resid = (zc**2).sum() - (ar**2 + ai**2) * norm
        expected = normalize[i] / t_head
        resid += (
            0.5 * normalize[i] ** 2 * np.log(np.maximum(np.hypot(ar, ai), 1e-9) / expected) ** 2
        )
        b = int(np.argmin(resid))
        dx, dy = tpl[b, :, 0] - txm[b, 0], tpl[b, :, 1] - tym[b, 0]
        full = np.stack([ar[b] * dx - ai[b] * dy, ar[b] * dy + ai[b] * dx], axis=-1) + zm
        out[i, ~m] = full[~m]
    return out.astype(np.float32)


@functools.lru_cache(maxsize=8)
def _mpii_bank(split: str, mpii_path: str) -> PoseBank:
    root = str(Path(mpii_path).parent)
    train = mpii.load_train_joints(root)
    if split == "train":
        n = len(train)
        normalize = HEAD_PER_LENGTH * np.linalg.norm(train[:, HEAD] - train[:, NECK], axis=1)
        normalize = np.maximum(normalize.astype(np.float64), 1.0)
        center, scale = _center_scale(train, normalize)
        return PoseBank(
            "mpii",
            train,
            np.ones((n, NUM_JOINTS), bool),
            center,
            scale,
            normalize,
            np.full(n, -1, np.int8),
        )
    valid = mpii.load_valid(root)
    annotated = np.asarray(valid["annotated"], bool)
    normalize = np.asarray(valid["normalize"], np.float64)
    joints = _impute(np.asarray(valid["part"], np.float32), annotated, normalize, train[::5])
    n = len(joints)
    return PoseBank(
        "mpii",
        joints,
        annotated,
        np.asarray(valid["center"], np.float64),
        np.asarray(valid["scale"], np.float64),
        normalize,
        np.full(n, -1, np.int8),
    )


@functools.lru_cache(maxsize=4)
def _procedural_bank(split: str) -> PoseBank:
    return procedural_poses(MPII_SIZES[split], seed=SPLITS.index(split) + 1)


def pose_bank(split: str = "train", data_root: str | os.PathLike | None = None) -> PoseBank:
    """Poses of a split: MPII's when ``<data root>/mpii`` exists, else procedural ones.

    Training poses come from ``train_joints.csv`` (14,975 persons, all joints annotated); their
    head size is estimated as 0.75 x |head top - upper neck| (the median ratio in valid.h5),
    scale and centre as in :func:`_center_scale`. Evaluation poses are the 2,958 persons of
    ``valid.h5`` with MPII's centre, scale and head size (``normalize``). Procedural banks
    hold as many poses as MPII's splits, generated with a fixed seed per split, so the
    evaluation poses never depend on a data set's ``seed``.

    Raises:
        ValueError: ``split`` is unknown, or an MPII file exists but is corrupt (no fallback).
        FileNotFoundError: the mpii folder exists but a file is missing (no fallback).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
    directory = dataset_dir("mpii", data_root)
    if directory is None:
        return _procedural_bank(split)
    return _mpii_bank(split, str(directory))


# --------------------------------------------------------------------------------------
# Rendering primitives: all draw into a (3, S, S) float32 canvas inside a bounding box.
# --------------------------------------------------------------------------------------


@dataclass
class _Light:
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


def _capsule(
    img: np.ndarray,
    grid: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    ra: float,
    rb: float,
    colour: np.ndarray,
    light: _Light | None,
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


def _ellipse(
    img: np.ndarray,
    grid: np.ndarray,
    c: np.ndarray,
    axis: np.ndarray,
    ra: float,
    rb: float,
    colour: np.ndarray,
    light: _Light | None,
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


def _polygon(
    img: np.ndarray,
    grid: np.ndarray,
    pts: np.ndarray,
    colour: np.ndarray,
    light: _Light | None,
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


def _convex_hull(pts: np.ndarray) -> np.ndarray:
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


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """One HSV colour (all in [0, 1]) as float32 RGB."""
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb, np.float32)


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
        return _hsv(rng.random(), rng.uniform(0.0, 0.9), rng.uniform(0.12, 0.95))

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


class _Renderer:
    """Renders figures at one input size; keeps the grids and interpolation matrices."""

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
        m = self._matrix(g)
        return m @ rng.standard_normal((channels, g, g), dtype=np.float32) @ m.T

    def light(self, rng: np.random.Generator) -> _Light:
        theta = rng.uniform(0, 2 * np.pi)
        m = rng.uniform(0.3, 0.8)
        return _Light(
            m * math.cos(theta),
            m * math.sin(theta),
            math.sqrt(1 - m * m),
            rng.uniform(0.35, 0.6),
            rng.uniform(0.45, 0.7),
        )

    def background(
        self, rng: np.random.Generator, diff: Difficulty, unit: float, light: _Light
    ) -> np.ndarray:
        s = self.size
        c1 = _hsv(rng.random(), rng.uniform(0, 0.7), rng.uniform(0.15, 0.95))
        c2 = _hsv(rng.random(), rng.uniform(0, 0.7), rng.uniform(0.15, 0.95))
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
                c3 = _hsv(rng.random(), rng.uniform(0, 0.8), rng.uniform(0.1, 1))
                img += stripes * (c3[:, None, None] - img)
            for _ in range(rng.poisson(3 * clutter)):  # blobs
                c = rng.uniform(-0.1, 1.1, 2) * s
                r1, r2 = rng.uniform(0.5, 3.0, 2) * unit
                ang = rng.uniform(0, 2 * np.pi)
                col = _hsv(rng.random(), rng.uniform(0, 0.9), rng.uniform(0.1, 1))
                _ellipse(
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
            _capsule(img, self.grid, a, b, ra * unit, rb * unit, pal[kind], light)
        return img

    def figure(
        self,
        rng: np.random.Generator,
        img: np.ndarray,
        j: np.ndarray,
        unit: float,
        near_left: bool,
        light: _Light,
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
            _capsule(
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
            _capsule(img, grid, ank, toe, 0.11 * build, 0.09 * build, pal["foot"], light)
            r = _LIMB_SHAPE["shin"]
            _capsule(
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
            _capsule(
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
            _capsule(
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
            _ellipse(
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
            hull = _convex_hull(quad)
            half = 0.5 * max(math.hypot(*(j[L_SHO] - j[R_SHO])), math.hypot(*(j[L_HIP] - j[R_HIP])))
            _capsule(
                img, grid, j[THORAX], j[PELVIS], 0.42 * build, 0.38 * build, pal["shirt"], light
            )
            if len(hull) >= 3:
                _polygon(
                    img,
                    grid,
                    hull,
                    pal["shirt"],
                    light,
                    grow=0.12 * build,
                    axis=axis,
                    half_width=half + 0.12 * build,
                )
            _capsule(img, grid, j[R_SHO], j[L_SHO], 0.17 * build, 0.17 * build, pal["shirt"], light)
            _capsule(img, grid, j[R_HIP], j[L_HIP], 0.24 * build, 0.24 * build, pal["pants"], light)

        def head() -> None:
            _capsule(img, grid, j[THORAX], j[NECK], 0.17 * build, 0.15 * build, pal["skin"], light)
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
            _ellipse(
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
        light: _Light,
    ) -> np.ndarray:
        """Draw ``count`` occluders near the body; return the (S, S) bool mask they cover."""
        mask = np.zeros((self.size, self.size), bool)
        for _ in range(count):
            c = j[rng.integers(NUM_JOINTS)] + rng.normal(0, 0.7, 2) * unit
            col = _hsv(rng.random(), rng.uniform(0, 1), rng.uniform(0.1, 1))
            ang = rng.uniform(0, 2 * np.pi)
            axis = np.array([math.cos(ang), math.sin(ang)])
            kind = rng.random()
            lit = light if rng.random() < 0.6 else None
            if kind < 0.4:
                r1, r2 = rng.uniform(0.3, 1.0, 2) * unit
                _ellipse(img, self.grid, c, axis, r1, r2, col, lit, mask=mask)
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
                _polygon(
                    img, self.grid, _convex_hull(pts), col, lit, axis=axis, half_width=h2, mask=mask
                )
            else:  # a bar (pole, rope, table edge)
                length = rng.uniform(2.0, 5.0) * unit
                r = rng.uniform(0.1, 0.3) * unit
                _capsule(
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


# --------------------------------------------------------------------------------------
# Crops, targets and the data set
# --------------------------------------------------------------------------------------


def _crop_affine(
    center: np.ndarray, side: float, size: int, rotation_deg: float = 0.0, flip: bool = False
) -> np.ndarray:
    """(2, 3) map from source pixels to input pixels: centre -> (S/2, S/2), side -> S."""
    k = size / side
    c, s = math.cos(math.radians(rotation_deg)), math.sin(math.radians(rotation_deg))
    lin = k * np.array([[c, s], [-s, c]])
    if flip:
        lin[0] = -lin[0]
    shift = np.array([size / 2, size / 2]) - lin @ center
    return np.concatenate([lin, shift[:, None]], axis=1)


def to_source(coords: Any, affine: Any) -> np.ndarray:
    """Map input-pixel coordinates (..., J, 2) back to source pixels with ``affine`` (..., 2, 3).

    For MPII items the source frame is the MPII image (pixels as stored by the annotation
    files); for flipped training items the joint order is already swapped.
    """
    coords = np.asarray(coords, np.float64)
    affine = np.asarray(affine, np.float64)
    if coords.shape[-1] != 2 or affine.shape[-2:] != (2, 3):
        raise ValueError(
            f"coords must be (..., J, 2) and affine (..., 2, 3); got {coords.shape}, {affine.shape}"
        )
    inv = np.linalg.inv(affine[..., :2])
    return np.einsum("...ij,...kj->...ki", inv, coords - affine[..., None, :, 2])


def heatmaps_from_joints(
    joints: np.ndarray,
    visible: np.ndarray,
    heatmap_size: int,
    sigma: float = 2.0,
    *,
    stride: int = 4,
) -> np.ndarray:
    """Gaussian target heatmaps (..., J, h, h) float32 at ``joints / stride`` (zero if invisible).

    Args:
        joints: (..., J, 2) input-pixel coordinates ``(x, y)``.
        visible: (..., J) bool.
        heatmap_size: ``h``, the input size / ``stride``.
        sigma: standard deviation in heatmap pixels.
        stride: input pixels per heatmap pixel.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0; got {sigma}")
    grid = np.arange(heatmap_size, dtype=np.float32)
    mu = np.asarray(joints, np.float32) / np.float32(stride)
    inv = np.float32(-0.5 / sigma**2)
    gx = np.exp((grid - mu[..., 0:1]) ** 2 * inv)
    gy = np.exp((grid - mu[..., 1:2]) ** 2 * inv) * np.asarray(visible, np.float32)[..., None]
    return gy[..., :, None] * gx[..., None, :]


class SynthPose(Dataset):
    """A synthetic pose data set: item ``i`` is a pure function of ``(seed, split, i)``.

    Args:
        split: ``'train'`` (poses of ``train_joints.csv``, jittered crops) or ``'valid'``
            (the persons of ``valid.h5`` in MPII's crops, item i = person i).
        n: number of items (default: the number of poses, 14,975 / 2,958); poses repeat
            cyclically when ``n`` exceeds them, each repeat with a fresh render.
        input_size: side S of the square input (a multiple of 4, >= 16).
        sigma: standard deviation of the target Gaussians in heatmap pixels (S / 4 grid).
        seed: seed of the renders (poses do not depend on it).
        difficulty: a preset name (``'easy'``, ``'medium'``, ``'hard'``), a
            :class:`Difficulty`, or a dict of fields overriding a ``'preset'``.
        data_root: data-root override (see :func:`pose_helpers.core.paths.data_root`).
        padding: crop side = 200 x scale x ``padding`` source pixels; 1.25 is the
            stacked-hourglass crop, smaller values enlarge the person (head sizes and PCKh
            stay MPII's, in input pixels).
        cache: render the whole set once via :func:`render_set` (cached on disk) and serve
            items from memory; items are identical to the on-the-fly ones.

    Attributes:
        source: ``'mpii'`` or ``'procedural'`` (no ``mpii/`` folder under the data root).
    """

    def __init__(
        self,
        split: str = "train",
        n: int | None = None,
        input_size: int = 64,
        sigma: float = 2.0,
        seed: int = 0,
        difficulty: str | Difficulty | dict[str, Any] = "medium",
        data_root: str | os.PathLike | None = None,
        *,
        padding: float = 1.25,
        cache: bool = False,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
        if input_size < 16 or input_size % 4:
            raise ValueError(f"input_size must be a multiple of 4 and >= 16; got {input_size}")
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0; got {sigma}")
        if not 0.5 <= padding <= 3.0:
            raise ValueError(f"padding must lie in [0.5, 3]; got {padding}")
        self.padding = float(padding)
        self.split = split
        self.input_size = int(input_size)
        self.heatmap_size = self.input_size // 4
        self.sigma = float(sigma)
        self.seed = int(seed)
        self.difficulty = _difficulty(difficulty)
        self.bank = pose_bank(split, data_root)
        self.source = self.bank.source
        self.n = len(self.bank) if n is None else int(n)
        if self.n < 1:
            raise ValueError(f"n must be >= 1; got {n}")
        self._renderer = _Renderer(self.input_size)
        self._arrays: dict[str, np.ndarray] | None = None
        if cache:
            self._arrays = render_set(
                split,
                self.n,
                input_size,
                sigma,
                seed,
                self.difficulty,
                data_root,
                padding=padding,
                cache=True,
            )

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return (
            f"SynthPose(split={self.split!r}, n={self.n}, input_size={self.input_size}, "
            f"sigma={self.sigma}, seed={self.seed}, source={self.source!r})"
        )

    def render(self, i: int) -> dict[str, np.ndarray]:
        """Render item ``i`` without targets: ``image`` uint8 and the label arrays."""
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} items")
        size = self.input_size
        rng = np.random.default_rng([self.seed, SPLITS.index(self.split), i])
        bank, k = self.bank, i % len(self.bank)
        s = float(bank.scale[k])
        center = bank.center[k] + np.array([0.0, 15.0 * s])  # stacked-hourglass crop
        side = 200.0 * s * self.padding
        rotation, flip = 0.0, False
        diff = self.difficulty
        if self.split == "train":
            sj = diff.scale_jitter
            side *= float(np.clip(rng.normal(1.0, sj), 1 - sj, 1 + sj)) if sj > 0 else 1.0
            if diff.rotation > 0 and rng.random() < 0.6:
                rotation = float(
                    np.clip(rng.normal(0, diff.rotation), -2 * diff.rotation, 2 * diff.rotation)
                )
            center = center + rng.uniform(-diff.translation, diff.translation, 2) * side
            flip = bool(diff.flip and rng.random() < 0.5)
        affine = _crop_affine(center, side, size, rotation, flip)
        joints = bank.joints[k].astype(np.float64) @ affine[:, :2].T + affine[:, 2]
        annotated = bank.annotated[k]
        near = int(bank.near_left[k])
        near_left = bool(rng.random() < 0.5) if near < 0 else bool(near)
        if flip:
            perm = np.arange(NUM_JOINTS)
            for right, left in FLIP_PAIRS:
                perm[right], perm[left] = left, right
            joints, annotated, near_left = joints[perm], annotated[perm], not near_left
        unit = HEAD_PER_SCALE / HEAD_PER_LENGTH * s * size / side
        image, occluded = self._renderer.render(rng, joints, unit, near_left, diff)
        inside = ((joints >= 0) & (joints < size)).all(axis=1)
        return {
            "image": image,
            "joints": joints.astype(np.float32),
            "visible": annotated & inside,
            "occluded": occluded,
            "head_size": np.float32(bank.normalize[k] * size / side),
            "affine": affine.astype(np.float32),
            "center": center.astype(np.float32),
            "crop_scale": np.float32(side / 200.0),
        }

    def _raw(self, i: int) -> dict[str, np.ndarray]:
        if self._arrays is None:
            return self.render(i)
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} items")
        return {k: v[i] for k, v in self._arrays.items() if k in _ITEM_KEYS}

    def sample(self, i: int) -> dict[str, np.ndarray]:
        """Item ``i`` as NumPy arrays (the keys of the module docstring plus ``index``)."""
        raw = self._raw(i)
        mean = np.asarray(MEAN, np.float32)[:, None, None]
        std = np.asarray(STD, np.float32)[:, None, None]
        image = (raw["image"].astype(np.float32) * np.float32(1 / 255) - mean) / std
        visible = np.asarray(raw["visible"], bool)
        out = dict(raw)
        out["image"] = image
        out["heatmaps"] = heatmaps_from_joints(
            raw["joints"], visible, self.heatmap_size, self.sigma
        )
        out["target_weight"] = visible.astype(np.float32)
        out["index"] = np.int64(i)
        return out

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: torch.as_tensor(v) for k, v in self.sample(int(i)).items()}


_ITEM_KEYS = (
    "image",
    "joints",
    "visible",
    "occluded",
    "head_size",
    "affine",
    "center",
    "crop_scale",
)


def _bank_digest(bank: PoseBank) -> str:
    h = hashlib.sha1(bank.source.encode())
    for arr in (
        bank.joints,
        bank.annotated,
        bank.center,
        bank.scale,
        bank.normalize,
        bank.near_left,
    ):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def render_set(
    split: str = "train",
    n: int | None = None,
    input_size: int = 64,
    sigma: float = 2.0,
    seed: int = 0,
    difficulty: str | Difficulty | dict[str, Any] = "medium",
    data_root: str | os.PathLike | None = None,
    *,
    padding: float = 1.25,
    cache: bool = True,
    verbose: bool = False,
) -> dict[str, np.ndarray]:
    """Render a whole set to arrays, cached as compressed ``.npz`` in ``cache_dir('synthpose')``.

    The cache key covers every argument that changes the renders, a digest of the poses and
    :data:`CODE_VERSION`; the file is written to a temporary name and moved into place
    atomically, so concurrent runs never read a partial file. Heatmaps are not stored (they
    follow from joints and visibility: :func:`heatmaps_from_joints`).

    Returns:
        ``image`` (N, 3, S, S) uint8, ``joints`` (N, 16, 2) float32, ``visible`` and
        ``occluded`` (N, 16) bool, ``head_size`` (N,), ``affine`` (N, 2, 3), ``center`` (N, 2)
        and ``crop_scale`` (N,) float32, plus 0-d ``source`` (str) and ``seconds`` (render time).
    """
    ds = SynthPose(split, n, input_size, sigma, seed, difficulty, data_root, padding=padding)
    key = {
        "split": split,
        "n": ds.n,
        "input_size": ds.input_size,
        "seed": ds.seed,
        "padding": ds.padding,
        "difficulty": dataclasses.asdict(ds.difficulty),
        "poses": _bank_digest(ds.bank),
        "mean": MEAN,
        "std": STD,
        "version": CODE_VERSION,
    }
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = (
        cache_dir("synthpose")
        / f"{split}_{ds.source}_{ds.input_size}px_n{ds.n}_s{ds.seed}_{digest}.npz"
    )
    if cache and path.is_file():
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    start = time.perf_counter()
    items = [ds.render(i) for i in range(ds.n)]
    arrays: dict[str, np.ndarray] = {k: np.stack([it[k] for it in items]) for k in _ITEM_KEYS}
    arrays["source"] = np.array(ds.source)
    arrays["seconds"] = np.array(time.perf_counter() - start)
    if verbose:
        print(
            f"rendered {ds.n} {split} images at {ds.input_size} px in {float(arrays['seconds']):.1f} s"
        )
    if cache:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp.npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return arrays


# --------------------------------------------------------------------------------------
# Figures for the book
# --------------------------------------------------------------------------------------

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
