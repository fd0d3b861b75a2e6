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
joints (see :func:`~pose_helpers.data.poses.pose_bank`) and add the train-time jitter of the
:class:`~pose_helpers.data.render.Difficulty`. At 64 px the median head is then 5.1 px, so
PCKh@0.5 asks for 2.6 px (0.64 heatmap px). Which side is nearer the camera is random for
MPII poses.

This module holds the data set and its disk cache; it draws on :mod:`.poses` (the pose
banks), :mod:`.render` (the :class:`~pose_helpers.data.render.Difficulty` presets and the
renderer) and :mod:`.drawing` (the renderer's shaded primitives). :mod:`.synthpose_figures`
draws skeletons and galleries of it for the book.

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
import hashlib
import json
import math
import os
import time
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from pose_helpers.core.io import write_atomic
from pose_helpers.core.paths import cache_dir
from pose_helpers.data.mpii import FLIP_PAIRS, NUM_JOINTS
from pose_helpers.data.poses import HEAD_PER_LENGTH, HEAD_PER_SCALE, SPLITS, PoseBank, pose_bank
from pose_helpers.data.render import Difficulty, Renderer, as_difficulty

__all__ = [
    "CODE_VERSION",
    "MEAN",
    "STD",
    "SynthPose",
    "heatmaps_from_joints",
    "render_set",
    "to_source",
]

#: Bump whenever rendering changes: it is part of every cache key.
CODE_VERSION = "synthpose-1"

#: Per-channel mean and standard deviation of SynthPose images (8-bit values / 255),
#: measured on 2,000 'medium' training renders at 64 px (rounded).
MEAN: tuple[float, float, float] = (0.44, 0.44, 0.44)
STD: tuple[float, float, float] = (0.22, 0.22, 0.22)


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
        self.difficulty = as_difficulty(difficulty)
        self.bank = pose_bank(split, data_root)
        self.source = self.bank.source
        self.n = len(self.bank) if n is None else int(n)
        if self.n < 1:
            raise ValueError(f"n must be >= 1; got {n}")
        self._renderer = Renderer(self.input_size)
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
    :data:`CODE_VERSION`; the file is written atomically
    (:func:`pose_helpers.core.io.write_atomic`), so concurrent runs never read a partial
    file. Heatmaps are not stored (they follow from joints and visibility:
    :func:`heatmaps_from_joints`).

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
        write_atomic(path, lambda fh: np.savez_compressed(fh, **arrays))
    return arrays
