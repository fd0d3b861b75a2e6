"""PCKh and heatmap decoding: hand-computed cases and the published MPII tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pose_helpers import metrics
from pose_helpers.data.mpii import FLIP_PAIRS, JOINT_GROUPS, MEAN_JOINTS, NUM_JOINTS

# The published PCKh@0.5 tables of ../shared/data/README.md (standard protocol).
COLUMNS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean")
PUBLISHED = {
    "bearpaw-hg_s2_b1": (95.80, 94.57, 88.12, 83.31, 86.24, 80.88, 77.44, 86.76),
    "bearpaw-hg_s8_b1": (96.79, 95.19, 90.08, 85.32, 87.48, 84.26, 80.73, 88.64),
}


def _people(n: int = 4, j: int = NUM_JOINTS, seed: int = 0):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 200, size=(n, j, 2)).astype(float)  # integers: exact distances
    head = np.full(n, 20.0)
    visible = np.ones((n, j), dtype=bool)
    return gt, head, visible


def _offset(gt: np.ndarray, dist: float | np.ndarray) -> np.ndarray:
    """Predictions ``dist`` pixels from gt along a 3-4-5 direction (exact for multiples of 5)."""
    step = np.asarray(dist, dtype=float)[..., None] / 5 * np.array([3.0, 4.0])
    return gt + step


# --- PCKh: hand-computed cases ---------------------------------------------------------


def test_perfect_prediction_is_100():
    gt, head, vis = _people()
    np.testing.assert_array_equal(
        metrics.pckh(gt.copy(), gt, head, vis), np.full(NUM_JOINTS, 100.0)
    )


def test_all_misses_are_0():
    gt, head, vis = _people()
    pred = _offset(gt, 10.5)  # 0.5 * 20 = 10 px threshold
    np.testing.assert_array_equal(metrics.pckh(pred, gt, head, vis), np.zeros(NUM_JOINTS))


def test_threshold_boundary_is_inclusive():
    gt, head, vis = _people()
    pred = gt + np.array([6.0, 8.0])  # exactly 10 px = 0.5 x 20
    np.testing.assert_array_equal(metrics.pckh(pred, gt, head, vis, threshold=0.5), 100.0)
    np.testing.assert_array_equal(metrics.pckh(pred, gt, head, vis, threshold=0.49), 0.0)


def test_head_size_scales_the_threshold():
    gt, _, vis = _people(n=4)
    pred = _offset(gt, 15.0)
    head = np.array([20.0, 29.0, 30.0, 40.0])  # 0.5 * head: 10, 14.5 (miss), 15, 20 (hits)
    np.testing.assert_allclose(metrics.pckh(pred, gt, head, vis), 50.0)
    # Scaling all pixels and head sizes together leaves PCKh unchanged.
    np.testing.assert_allclose(metrics.pckh(3 * pred, 3 * gt, 3 * head, vis), 50.0)


def test_mixed_hits_per_joint():
    gt, head, vis = _people(n=4)
    dist = np.zeros((4, NUM_JOINTS))
    dist[:, 0] = [0, 5, 11, 30]  # 2 of 4 hit
    dist[:3, 1] = 12  # 1 of 4 hits
    pred = _offset(gt, dist)
    out = metrics.pckh(pred, gt, head, vis)
    assert out[0] == pytest.approx(50.0)
    assert out[1] == pytest.approx(25.0)
    assert out[2:] == pytest.approx(np.full(NUM_JOINTS - 2, 100.0))


def test_invisible_joints_are_ignored_and_nan_where_none_visible():
    gt, head, vis = _people(n=4)
    pred = gt.copy()
    pred[0, 0] += 100  # a miss, but on an invisible joint
    vis[0, 0] = False
    pred[1, 1] += 100  # a counted miss
    vis[:, 2] = False  # joint 2 visible nowhere
    pred[:, 2] += 100
    out = metrics.pckh(pred, gt, head, vis)
    assert out[0] == 100.0
    assert out[1] == pytest.approx(75.0)
    assert math.isnan(out[2])
    assert np.isfinite(np.delete(out, 2)).all()


def test_nan_prediction_is_a_miss_and_head_size_of_invisible_person_is_free():
    gt, head, vis = _people(n=2)
    pred = gt.copy()
    pred[0, 3] = np.nan
    head[1] = 0.0  # person 1 has no visible joint, so its head size is never used
    vis[1] = False
    out = metrics.pckh(pred, gt, head, vis)
    assert out[3] == 0.0 and out[4] == 100.0


def test_general_number_of_joints_and_torch_and_01_masks():
    torch = pytest.importorskip("torch")
    gt, head, vis = _people(n=3, j=5)
    pred = gt.copy()
    pred[0, 4] += 50
    expected = np.array([100, 100, 100, 100, 200 / 3])
    out = metrics.pckh(
        torch.from_numpy(pred), torch.from_numpy(gt), torch.from_numpy(head), torch.from_numpy(vis)
    )
    np.testing.assert_allclose(out, expected)
    np.testing.assert_allclose(metrics.pckh(pred, gt, head, vis.astype(np.uint8)), expected)
    assert out.shape == (5,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pred": np.zeros((2958, 15, 2))}, "pred must have shape (N, 16, 2) like gt (2958, 16, 2); got (2958, 15, 2)"),
        ({"gt": np.zeros((2958, 16))}, "gt must have shape (N, J, 2)"),
        ({"head_size": np.ones((2958, 1))}, "head_size must have shape (2958,) to match gt (2958, 16, 2); got (2958, 1)"),
        ({"visible": np.ones((16, 2958), bool)}, "visible must have shape (2958, 16) to match gt (2958, 16, 2); got (16, 2958)"),
        ({"visible": np.full((2958, 16), 0.5)}, "visible must be bool (or 0/1 numbers); got dtype float64"),
        ({"pred": np.zeros((2958, 16, 2), dtype=complex)}, "pred must hold real numbers; got dtype complex128"),
        ({"head_size": np.r_[0.0, np.ones(2957)]}, "index 0, value"),
        ({"threshold": -0.1}, "threshold must be a finite number >= 0; got -0.1"),
    ],
)  # fmt: skip
def test_bad_inputs_raise_value_error_with_shapes(kwargs, message):
    args = {
        "pred": np.zeros((2958, 16, 2)),
        "gt": np.zeros((2958, 16, 2)),
        "head_size": np.ones(2958),
        "visible": np.ones((2958, 16), bool),
    }
    args.update(kwargs)
    with pytest.raises(ValueError) as err:
        metrics.pckh(**args)
    assert message in str(err.value)


def test_pckh_curve_is_monotone_and_matches_pckh():
    gt, head, vis = _people(n=50, seed=1)
    rng = np.random.default_rng(2)
    pred = gt + rng.normal(0, 8, size=gt.shape)
    thresholds = np.linspace(0, 1, 11)
    curve = metrics.pckh_curve(pred, gt, head, vis, thresholds)
    assert curve.shape == (11,)
    assert np.all(np.diff(curve) >= 0) and curve[0] == 0.0
    at_half = metrics.pckh(pred, gt, head, vis, 0.5)[list(MEAN_JOINTS)].mean()
    assert curve[5] == pytest.approx(at_half)
    all_joints = metrics.pckh_curve(pred, gt, head, vis, [0.5], joints=range(NUM_JOINTS))
    assert all_joints[0] == pytest.approx(metrics.pckh(pred, gt, head, vis).mean())
    with pytest.raises(ValueError, match="joints must be indices"):
        metrics.pckh_curve(pred, gt, head, vis, [0.5], joints=[16])


# --- The standard table -----------------------------------------------------------------


def test_pckh_table_protocol():
    per_joint = np.arange(NUM_JOINTS, dtype=float) * 5  # joint j -> 5 j
    table = metrics.pckh_table(per_joint)
    assert list(table) == [*JOINT_GROUPS, "Mean"]
    assert table["Head"] == 45.0  # joint 9 alone, not the upper neck (8)
    assert table["Shoulder"] == (60 + 65) / 2
    assert table["Elbow"] == (55 + 70) / 2
    assert table["Wrist"] == (50 + 75) / 2
    assert table["Hip"] == (10 + 15) / 2
    assert table["Knee"] == (5 + 20) / 2
    assert table["Ankle"] == (0 + 25) / 2
    # Unweighted mean of the 14 joints other than pelvis (6) and thorax (7), neck (8) included.
    assert table["Mean"] == pytest.approx((sum(range(16)) - 6 - 7) * 5 / 14)


def test_pckh_table_weighted_mean_and_nan():
    per_joint = np.full(NUM_JOINTS, 50.0)
    per_joint[9] = 100.0
    counts = np.ones(NUM_JOINTS)
    counts[9] = 13.0  # head top weighs 13 of 26
    table = metrics.pckh_table(per_joint, counts=counts)
    assert table["Mean"] == pytest.approx(75.0)
    assert table["Head"] == 100.0
    per_joint[[0, 5]] = np.nan
    per_joint[1] = np.nan
    table = metrics.pckh_table(per_joint)
    assert math.isnan(table["Ankle"]) and table["Knee"] == 50.0
    with pytest.raises(ValueError, match=r"per_joint must have shape \(16,\).*got \(14,\)"):
        metrics.pckh_table(np.zeros(14))


# --- Left/right swaps ---------------------------------------------------------------------


def test_left_right_swaps():
    gt, head, vis = _people(n=2)
    gt[:, :, 0] = np.arange(NUM_JOINTS) * 40.0  # joints 40 px apart, far beyond 10 px
    gt[:, :, 1] = 0.0
    pred = gt.copy()
    pred[0, 10], pred[0, 15] = gt[0, 15], gt[0, 10]  # swapped wrists: 2 swaps
    pred[1, 0] = gt[1, 5] + 3.0  # right ankle near the left one: 1 swap
    pred[1, 1, 1] += 200.0  # a plain miss, not a swap
    pred[1, 9] = gt[1, 8]  # head top on neck: not a flip pair
    assert metrics.left_right_swaps(pred, gt, head, vis) == pytest.approx(3 / 24)
    vis[0, 15] = False  # the pair (10, 15) of person 0 no longer counts
    assert metrics.left_right_swaps(pred, gt, head, vis) == pytest.approx(1 / 22)
    assert metrics.left_right_swaps(pred, gt, head, vis, threshold=None) == pytest.approx(1 / 22)
    assert len(FLIP_PAIRS) == 6


# --- Heatmaps -------------------------------------------------------------------------------


def _gaussian(h: int, w: int, x: float, y: float, sigma: float = 2.0) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    return np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))


def test_heatmap_quarter_pixel_shift():
    hm = _gaussian(64, 48, x=10.3, y=20.8)[None, None]
    coords, maxvals = metrics.heatmaps_to_coords(hm)
    assert coords.shape == (1, 1, 2) and maxvals.shape == (1, 1)
    np.testing.assert_allclose(coords[0, 0], [10.25, 20.75])  # argmax (10, 21), shifted
    assert maxvals[0, 0] == pytest.approx(hm.max())
    # On the border there is no shift; equal neighbours give no shift.
    border = _gaussian(16, 16, x=0.2, y=7.0)[None, None]
    np.testing.assert_allclose(metrics.heatmaps_to_coords(border)[0][0, 0], [0.0, 7.0])


def test_heatmap_decoding_beats_plain_argmax():
    rng = np.random.default_rng(0)
    truth = rng.uniform(4, 28, size=(8, 16, 2))
    hm = np.stack([[_gaussian(32, 32, x, y) for x, y in person] for person in truth])
    coords, _ = metrics.heatmaps_to_coords(hm)
    flat = hm.reshape(8, 16, -1).argmax(-1)
    argmax = np.stack([flat % 32, flat // 32], axis=-1)
    err_shift = np.linalg.norm(coords - truth, axis=-1).mean()
    err_argmax = np.linalg.norm(argmax - truth, axis=-1).mean()
    assert err_shift < 0.8 * err_argmax


def test_heatmap_decoding_torch_and_bad_shape():
    torch = pytest.importorskip("torch")
    hm = torch.from_numpy(_gaussian(20, 20, x=5.6, y=12.4)[None, None].astype(np.float32))
    coords, maxvals = metrics.heatmaps_to_coords(hm)
    assert isinstance(coords, torch.Tensor) and coords.dtype == torch.float32
    torch.testing.assert_close(coords[0, 0], torch.tensor([5.75, 12.25]))
    assert maxvals.shape == (1, 1)
    with pytest.raises(
        ValueError, match=r"heatmaps must have shape \(N, J, H, W\); got \(20, 20\)"
    ):
        metrics.heatmaps_to_coords(np.zeros((20, 20)))


def test_heatmap_image_round_trip_and_target_convention():
    rng = np.random.default_rng(3)
    image_xy = rng.uniform(0, 256, size=(4, 16, 2))
    hm_xy = metrics.image_to_heatmap_coords(image_xy, 256, 64)
    np.testing.assert_allclose(hm_xy, image_xy / 4)
    np.testing.assert_allclose(metrics.heatmap_to_image_coords(hm_xy, 256, 64), image_xy)
    # Non-square (width, height): x scales by widths, y by heights.
    out = metrics.heatmap_to_image_coords(np.array([[10.0, 10.0]]), (192, 256), (48, 64))
    np.testing.assert_allclose(out, [[40.0, 40.0]])
    # A target rendered at the mapped point decodes back to the image point within 1/4 heatmap px.
    x, y = 100.0, 60.0
    hx, hy = metrics.image_to_heatmap_coords(np.array([x, y]), 256, 64)
    coords, _ = metrics.heatmaps_to_coords(_gaussian(64, 64, hx, hy)[None, None])
    back = metrics.heatmap_to_image_coords(coords[0, 0], 256, 64)
    assert np.abs(back - [x, y]).max() <= 0.25 * 256 / 64
    with pytest.raises(ValueError, match="input_size must be a positive int"):
        metrics.heatmap_to_image_coords(hm_xy, 0, 64)


def test_heatmap_to_original_coords():
    coords = np.array([[[0.0, 0.0], [32.0, 32.0], [64.0, 16.0]]])
    center, scale = np.array([[500.0, 300.0]]), np.array([1.28])  # a 256 px box
    out = metrics.heatmap_to_original_coords(coords, center, scale, 64)
    np.testing.assert_allclose(out[0], [[372.0, 172.0], [500.0, 300.0], [628.0, 236.0]])


# --- The published tables -------------------------------------------------------------------


@pytest.mark.real_data
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_mpii_tables(mpii_root, name):
    from pose_helpers.data import mpii

    gt = mpii.load_gt_valid(mpii_root.parent)
    preds = mpii.load_predictions(name, mpii_root.parent)
    per_joint = metrics.pckh(preds, gt["pos_gt"], gt["head_size"], gt["visible"], threshold=0.5)
    table = metrics.pckh_table(per_joint)
    assert list(table) == list(COLUMNS)
    for column, published in zip(COLUMNS, PUBLISHED[name], strict=True):
        assert table[column] == pytest.approx(published, abs=0.01), column
