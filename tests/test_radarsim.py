"""The simulated radar data set: layout, determinism, realistic points and movements."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pose_helpers.data import mars, radarsim

J = {name: i for i, name in enumerate(mars.JOINTS)}


@pytest.fixture(scope="module")
def small():
    return radarsim.simulate("train", n_subjects=2, seconds=20.0, seed=0)


def _joints(labels):
    return np.stack([labels[:, :19], labels[:, 19:38], labels[:, 38:]], axis=-1)


def test_layout_is_the_mars_layout(small):
    features, labels, index = small
    n = 2 * 10 * 200
    assert features.shape == (n, 8, 8, 5) and features.dtype == np.float32
    assert labels.shape == (n, 57) and labels.dtype == np.float32
    assert list(index.columns) == ["subject", "movement", "frame"] and len(index) == n
    assert sorted(index["movement"].unique()) == list(range(1, 11))
    joints = _joints(labels)
    # radar frame: depth y about 2 m, the subject's left at +x, heads above feet
    assert 1.4 < joints[..., 1].mean() < 2.4
    assert (joints[:, J["ShoulderLeft"], 0] > joints[:, J["ShoulderRight"], 0]).mean() > 0.95
    assert (joints[:, J["Head"], 2] > joints[:, J["SpineBase"], 2]).all()
    assert -1.1 < joints[:, J["FootLeft"], 2].mean() < -0.75  # radar about 0.95 m up


def test_same_seed_same_data_other_seed_other_data():
    a = radarsim.simulate("test", n_subjects=1, seconds=3.0, seed=3)
    b = radarsim.simulate("test", n_subjects=1, seconds=3.0, seed=3)
    c = radarsim.simulate("test", n_subjects=1, seconds=3.0, seed=4)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[1], c[1])


def test_splits_have_disjoint_subjects():
    subjects = {
        split: set(radarsim.simulate(split, n_subjects=2, seconds=1.0)[2]["subject"])
        for split in mars.SPLITS
    }
    assert len(subjects["train"] | subjects["validate"] | subjects["test"]) == 6


def test_points_are_sparse_padded_and_realistic(small):
    features, labels, _ = small
    points = features.reshape(len(features), 64, 5)
    valid = np.abs(points).sum(-1) > 0
    count = valid.sum(1)
    # padding only after the last point of a frame
    assert (valid == (np.arange(64)[None, :] < count[:, None])).all()
    assert 15 <= np.median(count) <= 50 and np.percentile(count, 10) >= 5
    assert (count == 64).mean() > 0.02 and count.max() == 64
    assert 0.005 < (count == 0).mean() < 0.05  # occasional empty frames
    xyz, doppler, intensity = points[valid][:, :3], points[valid][:, 3], points[valid][:, 4]
    assert 1.5 < np.median(xyz[:, 1]) < 2.3  # depth
    bins = doppler / radarsim.DOPPLER_STEP
    np.testing.assert_allclose(bins, np.round(bins), atol=1e-4)
    assert np.abs(doppler).max() <= radarsim.DOPPLER_MAX + 1e-6 and (doppler != 0).mean() > 0.3
    assert intensity.min() >= 2 and 8 < np.median(intensity) < 40
    # points lie near the body: most within 30 cm of some joint
    joints = _joints(labels)
    frame = np.repeat(np.arange(len(features)), count)
    nearest = np.linalg.norm(xyz[:, None, :] - joints[frame], axis=-1).min(1)
    assert np.median(nearest) < 0.2 and (nearest < 0.3).mean() > 0.8


def test_moving_frames_have_more_points(small):
    features, labels, _ = small
    count = (np.abs(features.reshape(len(features), 64, 5)).sum(-1) > 0).sum(1)
    speed = np.r_[0.0, np.abs(np.diff(labels, axis=0)).mean(1)]
    assert count[speed > np.median(speed)].mean() > 1.2 * count[speed <= np.median(speed)].mean()


def test_movements_move_the_right_joints(small):
    _, labels, index = small
    joints = _joints(labels)

    def take(movement):
        return joints[((index["movement"] == movement) & (index["subject"] == 1)).to_numpy()]

    left_arm = take(1)
    assert np.ptp(left_arm[:, J["WristLeft"], 2]) > 0.8
    assert np.ptp(left_arm[:, J["WristRight"], 2]) < 0.2
    squat = take(6)
    assert np.ptp(squat[:, J["SpineBase"], 2]) > 0.15
    assert np.ptp(squat[:, J["AnkleLeft"]], axis=0).max() < 0.02  # feet stay put
    lunge = take(4)  # left front lunge: the right (rear) foot stays, the left steps
    assert np.ptp(lunge[:, J["AnkleRight"]], axis=0).max() < 0.02
    assert np.ptp(lunge[:, J["AnkleLeft"], 1]) > 0.2


def test_fast_and_checked():
    start = time.perf_counter()
    features, _, _ = radarsim.simulate("train", n_subjects=1, seconds=36.0)
    assert len(features) == 3600 and time.perf_counter() - start < 5.0
    with pytest.raises(ValueError, match="split="):
        radarsim.simulate("training")
    with pytest.raises(ValueError, match="positive"):
        radarsim.simulate("test", n_subjects=0)


def test_windows_follow_the_takes(small):
    _, _, index = small
    rows = mars.window_indices(index, 5)
    keys = index[["subject", "movement"]].to_numpy()
    assert (keys[rows] == keys[:, None, :]).all()
    starts = np.flatnonzero(index["frame"].to_numpy() == 0)
    assert len(starts) == 20 and (rows[starts] == starts[:, None]).all()
