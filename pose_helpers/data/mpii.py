"""MPII Human Pose: joint constants and loaders for the annotation files under ``<data root>/mpii``.

No MPII images are available, only annotations (see ``../shared/data/README.md``):
``gt_valid.mat`` (the standard PCKh ground truth of 2,958 validation persons),
``valid.h5`` (the same persons in the stacked-hourglass layout), ``train_joints.csv``
(14,975 fully annotated training persons) and published predictions
(``bearpaw-hg_s2_b1.mat``, ``bearpaw-hg_s8_b1.mat``).

Coordinate convention: every loader returns pixel coordinates **as stored**, i.e. the
1-based (MATLAB) pixel coordinates of the MPII annotation, for ground truth and predictions
alike. PCKh only uses distances between the two, so no offset is applied; subtract 1 to get
0-based pixel centres. Un-annotated joints are stored as ``(0, 0)``.

Every ``root`` argument is a data-root override with the semantics of
:func:`pose_helpers.core.paths.dataset_dir`. A missing ``mpii/`` folder or file raises
:class:`FileNotFoundError` (callers may then fall back to synthetic data); a file that exists
but cannot be read or has unexpected shapes raises :class:`ValueError` naming the file.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pose_helpers.core.paths import data_root, dataset_dir

__all__ = [
    "FLIP_PAIRS",
    "check_files",
    "HEAD",
    "JOINT_GROUPS",
    "JOINT_NAMES",
    "L_ANK",
    "L_ELB",
    "L_HIP",
    "L_KNEE",
    "L_SHO",
    "L_WRI",
    "MEAN_JOINTS",
    "NECK",
    "NUM_JOINTS",
    "PCKH_COLUMNS",
    "PELVIS",
    "PREDICTION_NAMES",
    "R_ANK",
    "R_ELB",
    "R_HIP",
    "R_KNEE",
    "R_SHO",
    "R_WRI",
    "SKELETON",
    "THORAX",
    "load_gt_valid",
    "load_predictions",
    "load_train_joints",
    "load_valid",
    "mpii_dir",
    "published_pckh",
]

PathLike = str | os.PathLike

NUM_JOINTS = 16

JOINT_NAMES: tuple[str, ...] = (
    "r_ankle",  # 0
    "r_knee",  # 1
    "r_hip",  # 2
    "l_hip",  # 3
    "l_knee",  # 4
    "l_ankle",  # 5
    "pelvis",  # 6
    "thorax",  # 7
    "upper_neck",  # 8
    "head_top",  # 9
    "r_wrist",  # 10
    "r_elbow",  # 11
    "r_shoulder",  # 12
    "l_shoulder",  # 13
    "l_elbow",  # 14
    "l_wrist",  # 15
)

# Joint indices by name, in MPII order (``JOINT_NAMES[R_ANK] == "r_ankle"``).
R_ANK, R_KNEE, R_HIP, L_HIP, L_KNEE, L_ANK, PELVIS, THORAX, NECK, HEAD = range(10)
R_WRI, R_ELB, R_SHO, L_SHO, L_ELB, L_WRI = range(10, 16)

#: (right, left) index pairs that swap under a horizontal flip.
FLIP_PAIRS: tuple[tuple[int, int], ...] = ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13))

#: Limbs (joint index pairs) for drawing a stick figure.
SKELETON: tuple[tuple[int, int], ...] = (
    (0, 1),  # r shin
    (1, 2),  # r thigh
    (2, 6),  # r hip - pelvis
    (6, 3),  # pelvis - l hip
    (3, 4),  # l thigh
    (4, 5),  # l shin
    (6, 7),  # spine
    (7, 8),  # thorax - neck
    (8, 9),  # neck - head top
    (10, 11),  # r forearm
    (11, 12),  # r upper arm
    (12, 7),  # r shoulder - thorax
    (7, 13),  # thorax - l shoulder
    (13, 14),  # l upper arm
    (14, 15),  # l forearm
)

#: Columns of the standard PCKh table: Head is the head top alone, other groups average
#: their right and left joint.
JOINT_GROUPS: dict[str, list[int]] = {
    "Head": [9],
    "Shoulder": [12, 13],
    "Elbow": [11, 14],
    "Wrist": [10, 15],
    "Hip": [2, 3],
    "Knee": [1, 4],
    "Ankle": [0, 5],
}

#: Columns of the standard PCKh table, in the published order.
PCKH_COLUMNS: tuple[str, ...] = (
    "Head",
    "Shoulder",
    "Elbow",
    "Wrist",
    "Hip",
    "Knee",
    "Ankle",
    "Mean",
)

#: Joints averaged (unweighted) into the table's Mean: all but pelvis (6) and thorax (7).
MEAN_JOINTS: tuple[int, ...] = tuple(j for j in range(NUM_JOINTS) if j not in (6, 7))

#: Prediction files shipped beside the annotations (``<name>.mat`` holding ``preds``).
PREDICTION_NAMES: tuple[str, ...] = ("bearpaw-hg_s2_b1", "bearpaw-hg_s8_b1")

#: ``0.6 x`` head-box diagonal is the PCKh head size (the ``SC_BIAS`` of the reference code).
HEAD_SIZE_FACTOR = 0.6


def mpii_dir(root: PathLike | None = None) -> Path:
    """Return the ``mpii/`` folder under the data root.

    Args:
        root: data-root override (see :func:`pose_helpers.core.paths.dataset_dir`).

    Returns:
        The folder's path.

    Raises:
        FileNotFoundError: there is no data root, or it holds no ``mpii/`` folder.
    """
    path = dataset_dir("mpii", root)
    if path is None:
        base = data_root(root)
        where = "no data root exists" if base is None else f"{str(base)!r} has no mpii/ folder"
        raise FileNotFoundError(
            f"MPII annotations not found: {where} (set $POSE_HELPERS_DATA or pass root=...)"
        )
    return path


def check_files(folder: Path) -> list[str]:
    """Cheap checks of an ``mpii/`` folder before a chapter reads it: the annotation files
    exist and their headers (MATLAB variables, HDF5 keys, the CSV's first line) hold what the
    loaders need. One line per problem; the loaders check the values themselves."""
    from scipy.io import whosmat

    folder = Path(folder)
    problems = []
    mats = {"gt_valid.mat": "pos_gt_src", **{f"{n}.mat": "preds" for n in PREDICTION_NAMES}}
    for name, variable in mats.items():
        path = folder / name
        if not path.is_file():
            if name == "gt_valid.mat":
                problems.append(f"missing MPII file {path}")
            continue
        try:
            names = {entry[0] for entry in whosmat(path)}
        except Exception as err:  # noqa: BLE001 - scipy raises many types for junk input
            problems.append(f"cannot read {path}: {type(err).__name__}: {err}")
            continue
        if variable not in names:
            problems.append(f"{path}: no variable {variable!r} (has {sorted(names)})")
    path = folder / "valid.h5"
    if path.is_file():
        import h5py

        try:
            with h5py.File(path, "r") as f:
                keys = set(f.keys())
        except Exception as err:  # noqa: BLE001 - h5py raises OSError and others for junk
            problems.append(f"cannot read {path}: {type(err).__name__}: {err}")
        else:
            if not {"center", "scale", "part"} <= keys:
                problems.append(f"{path}: keys {sorted(keys)}, expected center, scale, part")
    path = folder / "train_joints.csv"
    if path.is_file():
        with open(path) as f:
            fields = f.readline().strip().split(",")
        if len(fields) != 1 + 2 * NUM_JOINTS:
            problems.append(
                f"{path}: first line has {len(fields)} fields, expected {1 + 2 * NUM_JOINTS}"
            )
    return problems


def _file(name: str, root: PathLike | None) -> Path:
    path = mpii_dir(root) / name
    if not path.is_file():
        raise FileNotFoundError(f"MPII file {str(path)!r} does not exist")
    return path


def _loadmat(path: Path) -> dict[str, Any]:
    from scipy.io import loadmat

    try:
        return loadmat(path)
    except Exception as exc:  # scipy raises several types for junk input
        raise ValueError(f"{str(path)!r} is not a readable .mat file: {exc}") from exc


def _get(data: Any, key: str, path: Path) -> np.ndarray:
    if key not in data:
        raise ValueError(f"{str(path)!r} has no variable {key!r} (found {sorted(data.keys())})")
    try:
        return np.asarray(data[key])
    except Exception as exc:
        raise ValueError(f"{str(path)!r}: cannot read {key!r}: {exc}") from exc


def _numeric(array: np.ndarray, key: str, path: Path, shape: tuple[int | None, ...]) -> np.ndarray:
    """Check a numeric array's shape (``None`` = any size) and return it as float64."""
    ok = array.ndim == len(shape) and all(
        s is None or s == a for s, a in zip(shape, array.shape, strict=True)
    )
    if not ok:
        dims = ["N" if s is None else str(s) for s in shape]
        want = "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
        raise ValueError(f"{str(path)!r}: {key!r} must have shape {want}; got {array.shape}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"{str(path)!r}: {key!r} must be numeric; got dtype {array.dtype}")
    return array.astype(np.float64)


def _same_n(path: Path, **sizes: int) -> None:
    if len(set(sizes.values())) > 1:
        raise ValueError(f"{str(path)!r}: inconsistent numbers of persons {sizes}")


def load_gt_valid(root: PathLike | None = None) -> dict[str, Any]:
    """Load the standard PCKh ground truth ``mpii/gt_valid.mat`` (2,958 validation persons).

    Args:
        root: data-root override.

    Returns:
        A dict with ``pos_gt`` (N, 16, 2) float64 joint positions (1-based pixels, as stored),
        ``jnt_missing`` (N, 16) bool (True = not annotated), ``visible`` (N, 16) bool (True =
        annotated, i.e. counts in PCKh), ``headboxes`` (N, 2, 2) float64 (corner, xy),
        ``head_size`` (N,) float64 (0.6 x head-box diagonal) and ``joint_names`` (16 str).

    Raises:
        FileNotFoundError: the ``mpii/`` folder or the file is absent.
        ValueError: the file is unreadable or a variable has the wrong shape.
    """
    path = _file("gt_valid.mat", root)
    data = _loadmat(path)
    pos = _numeric(_get(data, "pos_gt_src", path), "pos_gt_src", path, (NUM_JOINTS, 2, None))
    missing = _numeric(_get(data, "jnt_missing", path), "jnt_missing", path, (NUM_JOINTS, None))
    boxes = _numeric(_get(data, "headboxes_src", path), "headboxes_src", path, (2, 2, None))
    _same_n(
        path, pos_gt_src=pos.shape[2], jnt_missing=missing.shape[1], headboxes_src=boxes.shape[2]
    )
    if not np.isin(missing, (0, 1)).all():
        raise ValueError(f"{str(path)!r}: 'jnt_missing' must hold only 0 and 1")
    headboxes = boxes.transpose(2, 0, 1)  # (N, corner, xy)
    head_size = HEAD_SIZE_FACTOR * np.linalg.norm(headboxes[:, 1] - headboxes[:, 0], axis=1)
    jnt_missing = missing.T.astype(bool)
    return {
        "pos_gt": pos.transpose(2, 0, 1),
        "jnt_missing": jnt_missing,
        "visible": ~jnt_missing,
        "headboxes": headboxes,
        "head_size": head_size,
        "joint_names": list(JOINT_NAMES),
    }


def load_valid(root: PathLike | None = None) -> dict[str, Any]:
    """Load ``mpii/valid.h5``: the validation persons in the stacked-hourglass layout.

    Note the file's ``visible`` is MPII's *visibility* flag (False for occluded joints, about
    10k annotated joints are occluded); PCKh counts every *annotated* joint, given here as
    ``annotated`` (a joint stored as ``(0, 0)`` is not annotated). ``part`` agrees with
    ``gt_valid.mat`` to about 1.4 px (88% to 1e-4 px), except 13 joints where
    ``gt_valid.mat`` stores a 0 coordinate; evaluate PCKh against :func:`load_gt_valid`.

    Args:
        root: data-root override.

    Returns:
        A dict with ``imgname`` (list of N str), ``center`` (N, 2) float64 person centre
        (pixels), ``scale`` (N,) float64 person height / 200 px, ``part`` (N, 16, 2) float64
        joints (1-based pixels, as stored), ``visible`` (N, 16) bool, ``annotated`` (N, 16)
        bool and ``normalize`` (N,) float64 head size (0.6 x head-box diagonal).

    Raises:
        FileNotFoundError: the ``mpii/`` folder or the file is absent.
        ValueError: the file is unreadable or a dataset is missing or has the wrong shape.
    """
    import h5py

    path = _file("valid.h5", root)
    try:
        with h5py.File(path, "r") as f:
            raw = {
                k: _get(f, k, path)
                for k in ("imgname", "center", "scale", "part", "visible", "normalize")
            }
    except ValueError:
        raise
    except Exception as exc:  # h5py raises OSError and others for junk input
        raise ValueError(f"{str(path)!r} is not a readable HDF5 file: {exc}") from exc
    part = _numeric(raw["part"], "part", path, (None, NUM_JOINTS, 2))
    n = part.shape[0]
    center = _numeric(raw["center"], "center", path, (n, 2))
    scale = _numeric(raw["scale"], "scale", path, (n,))
    visible = _numeric(raw["visible"], "visible", path, (n, NUM_JOINTS))
    normalize = _numeric(raw["normalize"], "normalize", path, (n,))
    names = raw["imgname"]
    if names.shape != (n,):
        raise ValueError(f"{str(path)!r}: 'imgname' must have shape ({n},); got {names.shape}")
    imgname = [s.decode() if isinstance(s, bytes) else str(s) for s in names.tolist()]
    return {
        "imgname": imgname,
        "center": center,
        "scale": scale,
        "part": part,
        "visible": visible > 0,
        "annotated": ~(part == 0).all(axis=2),
        "normalize": normalize,
    }


def load_train_joints(
    root: PathLike | None = None, *, with_names: bool = False
) -> np.ndarray | tuple[np.ndarray, list[str]]:
    """Load ``mpii/train_joints.csv``: 14,975 training persons with all 16 joints annotated.

    Each row is an image name then 16 x (x, y) pixel coordinates (1-based, as stored) in MPII
    joint order.

    Args:
        root: data-root override.
        with_names: also return the image name of each person.

    Returns:
        joints (N, 16, 2) float32, or ``(joints, imgnames)`` when ``with_names``.

    Raises:
        FileNotFoundError: the ``mpii/`` folder or the file is absent.
        ValueError: a row does not hold a name and 32 numbers, or the file is empty.
    """
    path = _file("train_joints.csv", root)
    names: list[str] = []
    rows: list[list[str]] = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for line_no, row in enumerate(csv.reader(f), start=1):
                if not row:
                    continue
                if len(row) != 1 + 2 * NUM_JOINTS:
                    raise ValueError(
                        f"{str(path)!r} line {line_no}: expected {1 + 2 * NUM_JOINTS} fields "
                        f"(name + 16 x (x, y)); got {len(row)}"
                    )
                names.append(row[0])
                rows.append(row[1:])
    except UnicodeDecodeError as exc:
        raise ValueError(f"{str(path)!r} is not a UTF-8 text file: {exc}") from exc
    if not rows:
        raise ValueError(f"{str(path)!r} holds no persons")
    try:
        joints = np.asarray(rows, dtype=np.float32).reshape(-1, NUM_JOINTS, 2)
    except ValueError as exc:
        raise ValueError(f"{str(path)!r}: non-numeric joint coordinate: {exc}") from exc
    return (joints, names) if with_names else joints


def load_predictions(name: str, root: PathLike | None = None) -> np.ndarray:
    """Load published validation predictions ``mpii/<name>.mat`` (variable ``preds``).

    Args:
        name: e.g. ``"bearpaw-hg_s2_b1"`` or ``"bearpaw-hg_s8_b1"`` (see ``PREDICTION_NAMES``).
        root: data-root override.

    Returns:
        preds (N, 16, 2) float64 in 1-based pixels (as stored), same persons as
        :func:`load_gt_valid`.

    Raises:
        FileNotFoundError: the ``mpii/`` folder or the file is absent.
        ValueError: ``name`` is not a plain file stem, or the file is unreadable or has the
            wrong shape.
    """
    if not name or Path(name).name != name or name.endswith(".mat"):
        raise ValueError(f"name must be a file stem such as {PREDICTION_NAMES[0]!r}; got {name!r}")
    directory = mpii_dir(root)
    path = directory / f"{name}.mat"
    if not path.is_file():
        raise FileNotFoundError(
            f"MPII predictions {str(path)!r} do not exist (known: {', '.join(PREDICTION_NAMES)})"
        )
    preds = _get(_loadmat(path), "preds", path)
    return _numeric(preds, "preds", path, (None, NUM_JOINTS, 2))


def published_pckh(root: PathLike | None = None) -> pd.DataFrame:
    """The published PCKh@0.5 tables stated in the data root's ``README.md`` (reference only).

    Returns one row per predictions file (``2-stack hourglass``, ``8-stack hourglass``) with
    the columns Head ... Mean, read from the README's Markdown table rather than typed here.

    Raises:
        FileNotFoundError: no data root or no README there.
        ValueError: the README has no such table.
    """
    path = mpii_dir(root).parent / "README.md"
    if not path.is_file():
        raise FileNotFoundError(f"no README.md beside the mpii folder ({path})")
    columns = ["predictions", *PCKH_COLUMNS]
    rows = []
    header_seen = False
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells == columns:
            header_seen = True
        elif header_seen and len(cells) == len(columns) and not set(cells[1]) <= {"-", ":"}:
            try:
                rows.append([cells[0], *map(float, cells[1:])])
            except ValueError:
                break
        elif header_seen and rows:
            break
    if not rows:
        raise ValueError(f"{path}: no PCKh table with columns {columns}")
    return pd.DataFrame(rows, columns=columns)
