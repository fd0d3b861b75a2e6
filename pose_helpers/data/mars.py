"""The MARS mmWave data set (An & Ogras 2021): loading a split and windowing its frames.

Layout (``<data root>/mars/feature/``, see ``shared/data/README.md``): per split
``featuremap_<split>.npy`` ``(N, 8, 8, 5)`` float32 (up to 64 radar points of x, y, z in
metres, Doppler, intensity; zero padded), ``labels_<split>.npy`` ``(N, 57)`` (19 Kinect
joints: columns 0-18 x, 19-37 y, 38-56 z, metres) and ``index_<split>.csv`` (subject,
movement, frame). :func:`pose_helpers.data.radarsim.simulate` returns the same triple.

Windows for sequence models (:func:`window_indices`): the window of frame ``i`` is the
``T`` frames ending at ``i`` within its sequence, a run of consecutive rows with the same
(subject, movement) and increasing frame numbers. The first ``T - 1`` frames of a sequence
are **padded by repeating the sequence's first frame**, so that every frame is a target:
the test set is the same for every window length (and for single-frame models), which is
what lets configurations with different windows be compared. Small gaps in the frame
numbers (1-5 frames, where the recording dropped frames) do not split a sequence.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from pose_helpers.core.paths import dataset_dir

__all__ = [
    "INDEX_COLUMNS",
    "JOINTS",
    "MOVEMENTS",
    "SPLITS",
    "RadarWindows",
    "check_files",
    "check_split",
    "load_split",
    "window_indices",
    "windows",
]

SPLITS = ("train", "validate", "test")
#: Kinect V2 joints minus hands, hand tips and thumbs, in the label columns' order.
JOINTS = (
    "SpineBase",
    "SpineMid",
    "Neck",
    "Head",
    "ShoulderLeft",
    "ElbowLeft",
    "WristLeft",
    "ShoulderRight",
    "ElbowRight",
    "WristRight",
    "HipLeft",
    "KneeLeft",
    "AnkleLeft",
    "FootLeft",
    "HipRight",
    "KneeRight",
    "AnkleRight",
    "FootRight",
    "SpineShoulder",
)
#: The ten rehabilitation movements, by movement id 1-10 (MARS README).
MOVEMENTS = (
    "left upper limb extension",
    "right upper limb extension",
    "both upper limb extension",
    "left front lunge",
    "right front lunge",
    "squat",
    "left side lunge",
    "right side lunge",
    "left limb extension",
    "right limb extension",
)
INDEX_COLUMNS = ("subject", "movement", "frame")
FRAME_SHAPE = (8, 8, 5)


def check_split(split: str) -> None:
    """Raise ``ValueError`` unless ``split`` is one of :data:`SPLITS`."""
    if split not in SPLITS:
        raise ValueError(f"split={split!r}; expected one of {SPLITS}")


def check_files(folder: Path) -> list[str]:
    """Cheap checks of a ``mars/`` folder before a chapter reads it: every split's three
    files exist, the arrays' headers (not their data) have the expected shapes and agree,
    and each index file starts with the expected columns. One line per problem."""
    problems = []
    feature = Path(folder) / "feature"
    for split in SPLITS:
        paths = {
            "features": feature / f"featuremap_{split}.npy",
            "labels": feature / f"labels_{split}.npy",
            "index": feature / f"index_{split}.csv",
        }
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            problems += [f"missing MARS file {m}" for m in missing]
            continue
        try:
            features = np.load(paths["features"], mmap_mode="r", allow_pickle=False)
            labels = np.load(paths["labels"], mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            problems.append(f"cannot read a MARS {split} array in {feature}: {err}")
            continue
        if features.ndim != 4 or features.shape[1:] != FRAME_SHAPE:
            problems.append(f"{paths['features']}: shape {features.shape}, expected (N, 8, 8, 5)")
        if labels.shape != (features.shape[0], 57):
            problems.append(f"{paths['labels']}: shape {labels.shape}, expected (N, 57)")
        with open(paths["index"]) as f:
            header = f.readline().strip().split(",")
        if not set(INDEX_COLUMNS) <= set(header):
            problems.append(f"{paths['index']}: header {header}, expected columns {INDEX_COLUMNS}")
    return problems


def _feature_dir(root: str | os.PathLike | None) -> Path:
    # ``root`` may be the data root or the mars folder itself (the ``mars_root`` fixture).
    if root is not None and (Path(root) / "feature").is_dir():
        return Path(root) / "feature"
    folder = dataset_dir("mars", root)
    if folder is None or not (folder / "feature").is_dir():
        raise FileNotFoundError(
            "no MARS data: expected <data root>/mars/feature/ (data root: the data_root "
            "argument, $POSE_HELPERS_DATA or ../shared/data); use pose_helpers.data.radarsim "
            "for the simulated data set"
        )
    return folder / "feature"


def _load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"missing MARS file {path}")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"cannot read {path}: {err}") from err


def load_split(
    split: str, root: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Features, labels and index of one MARS split.

    Args:
        split: ``'train'``, ``'validate'`` or ``'test'``.
        root: the data root (``None``: ``$POSE_HELPERS_DATA``, else ``../shared/data``),
            or the ``mars`` folder itself.

    Returns:
        ``features`` ``(N, 8, 8, 5)`` float32, ``labels`` ``(N, 57)`` float32 (metres) and
        ``index``, a DataFrame with integer columns subject, movement, frame.

    Raises:
        FileNotFoundError: when there is no MARS folder or a file is missing.
        ValueError: for an unknown split, or a file that is unreadable, has the wrong
            shape, non-finite values, or a row count that disagrees with the others
            (the message names the file).
    """
    check_split(split)
    folder = _feature_dir(root)
    paths = {
        "features": folder / f"featuremap_{split}.npy",
        "labels": folder / f"labels_{split}.npy",
        "index": folder / f"index_{split}.csv",
    }
    features = _load_npy(paths["features"])
    if features.ndim != 4 or features.shape[1:] != FRAME_SHAPE:
        raise ValueError(f"{paths['features']}: shape {features.shape}, expected (N, 8, 8, 5)")
    labels = _load_npy(paths["labels"])
    if labels.shape != (len(features), 57):
        raise ValueError(f"{paths['labels']}: shape {labels.shape}, expected ({len(features)}, 57)")
    for name, array in (("features", features), ("labels", labels)):
        if not np.isfinite(array).all():
            raise ValueError(f"{paths[name]}: contains NaN or infinite values")
    if not paths["index"].is_file():
        raise FileNotFoundError(f"missing MARS file {paths['index']}")
    try:
        index = pd.read_csv(paths["index"])
        index = index[list(INDEX_COLUMNS)].astype("int64")
    except (KeyError, ValueError, pd.errors.ParserError) as err:
        raise ValueError(
            f"{paths['index']}: expected integer columns {INDEX_COLUMNS}: {err}"
        ) from err
    if len(index) != len(features):
        raise ValueError(f"{paths['index']}: {len(index)} rows, expected {len(features)}")
    return features.astype(np.float32, copy=False), labels.astype(np.float32, copy=False), index


def window_indices(index: pd.DataFrame, window: int) -> np.ndarray:
    """Row numbers of each frame's window: ``(N, window)``, the last column is the frame itself.

    A sequence starts where subject or movement changes or the frame number does not
    increase; its first ``window - 1`` frames repeat the sequence's first row.

    Raises:
        ValueError: for ``window < 1`` or an index without the three columns.
    """
    if int(window) != window or window < 1:
        raise ValueError(f"window={window!r}; expected an int >= 1")
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise ValueError(f"index lacks columns {missing}")
    n = len(index)
    rows = np.arange(n)
    values = {c: index[c].to_numpy() for c in INDEX_COLUMNS}
    start = np.ones(n, dtype=bool)
    if n > 1:
        start[1:] = (
            (values["subject"][1:] != values["subject"][:-1])
            | (values["movement"][1:] != values["movement"][:-1])
            | (values["frame"][1:] <= values["frame"][:-1])
        )
    first = np.maximum.accumulate(np.where(start, rows, 0))  # first row of each row's sequence
    offsets = np.arange(-int(window) + 1, 1)
    return np.maximum(rows[:, None] + offsets[None, :], first[:, None])


def windows(
    features: np.ndarray, labels: np.ndarray, index: pd.DataFrame, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Materialised windows: ``X`` ``(N, window, 8, 8, 5)`` and the last frames' ``y`` ``(N, 57)``.

    For large splits and windows prefer :class:`RadarWindows` (it gathers lazily).
    """
    if not len(features) == len(labels) == len(index):
        raise ValueError(
            f"features, labels and index differ in length: "
            f"{len(features)}, {len(labels)}, {len(index)}"
        )
    rows = window_indices(index, window)
    return features[rows], labels


class RadarWindows(Dataset):
    """A torch Dataset of ``(window (T, 8, 8, 5), label (57,))`` float32 tensor pairs.

    Args:
        features, labels, index: a split as :func:`load_split` returns it.
        window: frames per window ``T``.
    """

    def __init__(
        self, features: np.ndarray, labels: np.ndarray, index: pd.DataFrame, window: int
    ) -> None:
        if not len(features) == len(labels) == len(index):
            raise ValueError(
                f"features, labels and index differ in length: "
                f"{len(features)}, {len(labels)}, {len(index)}"
            )
        self.features = torch.as_tensor(np.asarray(features, dtype=np.float32))
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.float32))
        self.rows = torch.as_tensor(window_indices(index, window))
        self.window = int(window)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[self.rows[i]], self.labels[i]
