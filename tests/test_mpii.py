"""MPII constants and loaders: real files where present, missing and corrupt files always."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.io import savemat

from pose_helpers.data import mpii


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    """A data root with an empty ``mpii/`` folder."""
    (tmp_path / "mpii").mkdir()
    return tmp_path


# --- Constants ----------------------------------------------------------------------------


def test_joint_constants():
    assert len(mpii.JOINT_NAMES) == mpii.NUM_JOINTS == 16
    assert mpii.JOINT_NAMES[9] == "head_top" and mpii.JOINT_NAMES[8] == "upper_neck"
    for right, left in mpii.FLIP_PAIRS:
        assert mpii.JOINT_NAMES[right].startswith("r_") and mpii.JOINT_NAMES[left].startswith("l_")
        assert mpii.JOINT_NAMES[right][2:] == mpii.JOINT_NAMES[left][2:]
    flipped = {j for pair in mpii.FLIP_PAIRS for j in pair}
    assert flipped == {j for j, n in enumerate(mpii.JOINT_NAMES) if n[:2] in ("r_", "l_")}
    assert all(0 <= a < 16 and 0 <= b < 16 and a != b for a, b in mpii.SKELETON)
    assert {j for limb in mpii.SKELETON for j in limb} == set(range(16))  # a connected figure
    assert mpii.JOINT_GROUPS == {
        "Head": [9],
        "Shoulder": [12, 13],
        "Elbow": [11, 14],
        "Wrist": [10, 15],
        "Hip": [2, 3],
        "Knee": [1, 4],
        "Ankle": [0, 5],
    }
    assert mpii.MEAN_JOINTS == (0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15)


def test_joint_indices_name_the_joints():
    names = {
        "R_ANK": "r_ankle",
        "R_KNEE": "r_knee",
        "R_HIP": "r_hip",
        "L_HIP": "l_hip",
        "L_KNEE": "l_knee",
        "L_ANK": "l_ankle",
        "PELVIS": "pelvis",
        "THORAX": "thorax",
        "NECK": "upper_neck",
        "HEAD": "head_top",
        "R_WRI": "r_wrist",
        "R_ELB": "r_elbow",
        "R_SHO": "r_shoulder",
        "L_SHO": "l_shoulder",
        "L_ELB": "l_elbow",
        "L_WRI": "l_wrist",
    }
    assert sorted(getattr(mpii, n) for n in names) == list(range(mpii.NUM_JOINTS))
    for constant, joint in names.items():
        assert mpii.JOINT_NAMES[getattr(mpii, constant)] == joint
        assert constant in mpii.__all__


# --- Real files ---------------------------------------------------------------------------


@pytest.mark.real_data
def test_load_gt_valid(mpii_root):
    gt = mpii.load_gt_valid(mpii_root.parent)
    n = 2958
    assert gt["pos_gt"].shape == (n, 16, 2)
    assert gt["visible"].shape == gt["jnt_missing"].shape == (n, 16)
    assert gt["visible"].dtype == bool and not (gt["visible"] & gt["jnt_missing"]).any()
    assert gt["headboxes"].shape == (n, 2, 2) and gt["head_size"].shape == (n,)
    assert (gt["head_size"] > 0).all()
    # Un-annotated joints are stored as (0, 0); annotated ones are (almost) never both 0.
    assert (gt["pos_gt"][~gt["visible"]] == 0).all()
    assert gt["joint_names"] == list(mpii.JOINT_NAMES)


@pytest.mark.real_data
def test_load_valid_agrees_with_gt_valid(mpii_root):
    valid = mpii.load_valid(mpii_root.parent)
    gt = mpii.load_gt_valid(mpii_root.parent)
    n = 2958
    assert len(valid["imgname"]) == n and valid["imgname"][0].endswith(".jpg")
    assert valid["center"].shape == (n, 2) and valid["scale"].shape == (n,)
    assert valid["part"].shape == (n, 16, 2)
    assert valid["visible"].dtype == bool and valid["annotated"].dtype == bool
    np.testing.assert_array_equal(valid["annotated"], gt["visible"])
    # The file's `visible` is the occlusion flag: a subset of the annotated joints.
    assert not (valid["visible"] & ~valid["annotated"]).any()
    assert valid["visible"].sum() < valid["annotated"].sum()
    np.testing.assert_allclose(valid["normalize"], gt["head_size"], atol=1e-3)
    # Same joints up to ~1.4 px, except 13 where gt_valid.mat stores a 0 coordinate.
    far = np.linalg.norm(valid["part"] - gt["pos_gt"], axis=2) > 1.5
    assert far[gt["visible"]].sum() <= 13


@pytest.mark.real_data
def test_load_train_joints(mpii_root):
    joints = mpii.load_train_joints(mpii_root.parent)
    assert joints.shape == (14975, 16, 2) and joints.dtype == np.float32
    joints2, names = mpii.load_train_joints(mpii_root.parent, with_names=True)
    np.testing.assert_array_equal(joints, joints2)
    assert len(names) == 14975 and all(name.endswith(".jpg") for name in names)
    valid_images = set(mpii.load_valid(mpii_root.parent)["imgname"])
    assert not valid_images & set(names)


@pytest.mark.real_data
@pytest.mark.parametrize("name", mpii.PREDICTION_NAMES)
def test_load_predictions(mpii_root, name):
    preds = mpii.load_predictions(name, mpii_root.parent)
    assert preds.shape == (2958, 16, 2) and np.isfinite(preds).all()


# --- Missing and corrupt files --------------------------------------------------------------


def test_missing_mpii_folder_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no mpii/ folder"):
        mpii.load_gt_valid(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mpii.load_valid(tmp_path / "nowhere")  # an explicit root that does not exist


def test_missing_files_raise_file_not_found(fake_root):
    with pytest.raises(FileNotFoundError, match="train_joints.csv"):
        mpii.load_train_joints(fake_root)
    with pytest.raises(FileNotFoundError, match=r"bearpaw-hg_s2_b1.mat.*known: bearpaw-hg_s2_b1"):
        mpii.load_predictions("bearpaw-hg_s2_b1", fake_root)
    with pytest.raises(ValueError, match="name must be a file stem"):
        mpii.load_predictions("../gt_valid", fake_root)


@pytest.mark.parametrize(
    ("filename", "loader"),
    [
        ("gt_valid.mat", mpii.load_gt_valid),
        ("bearpaw-hg_s8_b1.mat", lambda root: mpii.load_predictions("bearpaw-hg_s8_b1", root)),
        ("valid.h5", mpii.load_valid),
        ("train_joints.csv", mpii.load_train_joints),
    ],
)
def test_corrupt_file_raises_value_error_naming_it(fake_root, filename, loader):
    (fake_root / "mpii" / filename).write_bytes(b"\x00\xffjunk, not a data file\n" * 10)
    with pytest.raises(ValueError, match=filename.replace(".", r"\.")):
        loader(fake_root)


def test_wrong_shapes_raise_value_error(fake_root):
    folder = fake_root / "mpii"
    savemat(folder / "bearpaw-hg_s2_b1.mat", {"preds": np.zeros((10, 15, 2))})
    with pytest.raises(
        ValueError, match=r"'preds' must have shape \(N, 16, 2\); got \(10, 15, 2\)"
    ):
        mpii.load_predictions("bearpaw-hg_s2_b1", fake_root)
    savemat(folder / "bearpaw-hg_s8_b1.mat", {"other": np.zeros(3)})
    with pytest.raises(ValueError, match="has no variable 'preds'"):
        mpii.load_predictions("bearpaw-hg_s8_b1", fake_root)
    savemat(
        folder / "gt_valid.mat",
        {
            "pos_gt_src": np.zeros((16, 2, 5)),
            "jnt_missing": np.zeros((16, 4)),
            "headboxes_src": np.zeros((2, 2, 5)),
        },
    )
    with pytest.raises(ValueError, match="gt_valid.mat.*inconsistent numbers of persons"):
        mpii.load_gt_valid(fake_root)
    with h5py.File(folder / "valid.h5", "w") as f:
        f["part"] = np.zeros((5, 16, 2))
        for key, shape in [("center", (5, 2)), ("scale", (5,)), ("visible", (5, 16))]:
            f[key] = np.zeros(shape)
        f["normalize"] = np.zeros(4)
        f["imgname"] = np.array([b"a.jpg"] * 5)
    with pytest.raises(
        ValueError, match=r"valid.h5.*'normalize' must have shape \(5,\); got \(4,\)"
    ):
        mpii.load_valid(fake_root)
    (folder / "train_joints.csv").write_text("a.jpg,1,2,3\n")
    with pytest.raises(ValueError, match="train_joints.csv' line 1: expected 33 fields"):
        mpii.load_train_joints(fake_root)
    (folder / "train_joints.csv").write_text("a.jpg," + ",".join(["x"] * 32) + "\n")
    with pytest.raises(ValueError, match="non-numeric joint coordinate"):
        mpii.load_train_joints(fake_root)


@pytest.mark.real_data
def test_published_pckh_is_read_from_the_data_readme(mpii_root):
    table = mpii.published_pckh()
    assert list(table["predictions"]) == ["2-stack hourglass", "8-stack hourglass"]
    assert list(table.columns[1:]) == list(mpii.PCKH_COLUMNS)
    assert table.loc[0, "Mean"] == pytest.approx(86.76)
    assert table.loc[1, "Head"] == pytest.approx(96.79)


def test_published_pckh_without_a_table_raises(fake_root):
    (fake_root / "README.md").write_text("# no table here\n")
    with pytest.raises(ValueError, match="no PCKh table"):
        mpii.published_pckh(fake_root)
