"""Pose banks of SynthPose: MPII's poses with their crops, or procedural ones without MPII.

A :class:`PoseBank` holds one split's poses in source pixels with MPII's person centre,
scale and head size. :func:`pose_bank` reads MPII's (``train_joints.csv`` for training,
``valid.h5`` for evaluation) when ``<data root>/mpii`` exists, else generates as many poses
from a 3D kinematic skeleton (:func:`procedural_poses`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pose_helpers.core.paths import dataset_dir
from pose_helpers.data import mpii
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

__all__ = [
    "HEAD_PER_LENGTH",
    "HEAD_PER_SCALE",
    "MPII_SIZES",
    "SPLITS",
    "PoseBank",
    "pose_bank",
    "procedural_poses",
]

SPLITS = ("train", "valid")
MPII_SIZES = {"train": 14975, "valid": 2958}

#: MPII: normalize (0.6 x head-box diagonal) = 20 x scale; normalize ~ 0.75 x |head top - neck|.
HEAD_PER_SCALE = 20.0
HEAD_PER_LENGTH = 0.75


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
