"""Tests of the SynthPose renderer and data set (fast: a few renders per test)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from pose_helpers import metrics
from pose_helpers.core import paths
from pose_helpers.data import drawing, mpii, poses, render
from pose_helpers.data import synthpose as sp
from pose_helpers.data import synthpose_figures as figures

HAS_MPII = paths.dataset_dir("mpii") is not None
needs_mpii = pytest.mark.skipif(not HAS_MPII, reason="no mpii/ folder under the data root")


@pytest.fixture
def empty_root(tmp_path, monkeypatch):
    """A data root without mpii/: SynthPose must fall back to procedural poses."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv(paths.DATA_ENV, str(root))
    return root


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv(paths.CACHE_ENV, str(cache))
    return cache


def _equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)


def test_deterministic_by_seed_and_index():
    ds = sp.SynthPose("train", n=10, input_size=64, seed=3)
    again = sp.SynthPose("train", n=10, input_size=64, seed=3)
    _equal(ds.sample(7), again.sample(7))
    _equal(ds.sample(7), ds.sample(7))  # no hidden state between calls
    other = sp.SynthPose("train", n=10, input_size=64, seed=4).sample(7)
    assert not np.array_equal(ds.sample(7)["image"], other["image"])
    assert not np.array_equal(ds.sample(7)["image"], ds.sample(8)["image"])


@pytest.mark.parametrize("size", [64, 128, 256])
def test_shapes_and_dtypes(size):
    ds = sp.SynthPose("valid", n=3, input_size=size, sigma=1.5)
    item = ds[1]
    h = size // 4
    expected = {
        "image": ((3, size, size), torch.float32),
        "heatmaps": ((16, h, h), torch.float32),
        "joints": ((16, 2), torch.float32),
        "visible": ((16,), torch.bool),
        "occluded": ((16,), torch.bool),
        "target_weight": ((16,), torch.float32),
        "head_size": ((), torch.float32),
        "affine": ((2, 3), torch.float32),
        "center": ((2,), torch.float32),
        "crop_scale": ((), torch.float32),
        "index": ((), torch.int64),
    }
    assert set(item) == set(expected)
    for key, (shape, dtype) in expected.items():
        assert tuple(item[key].shape) == shape, key
        assert item[key].dtype == dtype, key
    assert torch.equal(item["target_weight"], item["visible"].float())
    assert float(item["head_size"]) > 0
    # normalized: roughly zero-mean, unit-scale over a few images
    images = torch.stack([ds[i]["image"] for i in range(3)])
    assert abs(float(images.mean())) < 0.6 and 0.4 < float(images.std()) < 1.6


def test_heatmap_peaks_decode_to_joints():
    ds = sp.SynthPose("train", n=12, input_size=64, sigma=2.0)
    hm = np.stack([ds.sample(i)["heatmaps"] for i in range(12)])
    joints = np.stack([ds.sample(i)["joints"] for i in range(12)])
    visible = np.stack([ds.sample(i)["visible"] for i in range(12)])
    coords, maxvals = metrics.heatmaps_to_coords(hm)
    target = joints * (hm.shape[-1] / 64)
    err = np.linalg.norm(coords - target, axis=-1)[visible]
    assert visible.sum() > 100
    assert err.max() <= 1.0, err.max()
    assert (maxvals[visible] > 0.5).all()
    assert (hm.reshape(12, 16, -1).max(-1)[~visible] == 0).all()


def test_visibility_is_annotated_and_inside_frame():
    ds = sp.SynthPose("train", n=40, input_size=64, difficulty={"translation": 0.25})
    outside = 0
    for i in range(len(ds)):
        item = ds.sample(i)
        inside = ((item["joints"] >= 0) & (item["joints"] < 64)).all(axis=1)
        annotated = ds.bank.annotated[i % len(ds.bank)]
        if np.linalg.det(item["affine"][:, :2]) < 0:  # flipped: labels swapped
            perm = np.arange(16)
            for r, left in mpii.FLIP_PAIRS:
                perm[r], perm[left] = left, r
            annotated = annotated[perm]
        np.testing.assert_array_equal(item["visible"], inside & annotated)
        outside += int((~inside).sum())
    assert outside > 0  # the large translation pushes some joints out of the crop


def test_to_source_inverts_the_crop():
    ds = sp.SynthPose("train", n=8, input_size=128)  # rotation, scale, flip jitter
    for i in range(8):
        item = ds.sample(i)
        back = sp.to_source(item["joints"], item["affine"])
        src = ds.bank.joints[i].astype(np.float64)
        if np.linalg.det(item["affine"][:, :2]) < 0:
            perm = np.arange(16)
            for r, left in mpii.FLIP_PAIRS:
                perm[r], perm[left] = left, r
            src = src[perm]
        np.testing.assert_allclose(back, src, atol=1e-2)


@needs_mpii
@pytest.mark.real_data
def test_head_size_and_crop_follow_valid_h5():
    valid = mpii.load_valid()
    ds = sp.SynthPose("valid", n=50, input_size=64)
    assert ds.source == "mpii" and len(sp.SynthPose("valid")) == len(valid["part"])
    for i in range(0, 50, 7):
        item = ds.sample(i)
        side = 200.0 * valid["scale"][i] * 1.25
        assert item["head_size"] == pytest.approx(valid["normalize"][i] * 64 / side, rel=1e-5)
        ann = valid["annotated"][i]
        back = sp.to_source(item["joints"], item["affine"])
        np.testing.assert_allclose(back[ann], valid["part"][i][ann], atol=1e-2)
        # the crop is the hourglass one: metrics maps heatmap coordinates back exactly
        orig = metrics.heatmap_to_original_coords(
            item["joints"][None] / 4, item["center"][None], item["crop_scale"][None], 16
        )[0]
        np.testing.assert_allclose(orig[ann], valid["part"][i][ann], atol=1e-2)
        assert not item["visible"][~ann].any()


def test_procedural_fallback_without_mpii(empty_root):
    assert paths.dataset_dir("mpii") is None
    ds = sp.SynthPose("train", n=4, input_size=64)
    assert ds.source == "procedural"
    assert len(sp.SynthPose("valid")) == poses.MPII_SIZES["valid"]
    item = ds.sample(2)
    assert item["visible"].sum() >= 12 and np.isfinite(item["image"]).all()
    bank = poses.procedural_poses(200, seed=1)
    # human-like proportions: the head top is above the ankles in upright poses
    upright = bank.joints[:, mpii.HEAD, 1] < bank.joints[:, [mpii.R_ANK, mpii.L_ANK], 1].min(axis=1)
    assert upright.mean() > 0.8


def test_corrupt_mpii_files_raise_instead_of_falling_back(tmp_path, monkeypatch):
    (tmp_path / "mpii").mkdir()
    (tmp_path / "mpii" / "train_joints.csv").write_text("img.jpg,1,2,3\n")
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="expected 33 fields"):
        sp.SynthPose("train", n=2)


def test_cache_round_trip_equals_on_the_fly(tmp_cache):
    kwargs = dict(split="valid", n=5, input_size=64, sigma=2.0, seed=1, difficulty="hard")
    arrays = sp.render_set(**kwargs)
    files = list((tmp_cache / "synthpose").iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"  # no temporary file left behind
    assert arrays["image"].shape == (5, 3, 64, 64) and arrays["image"].dtype == np.uint8
    mtime = files[0].stat().st_mtime_ns
    again = sp.render_set(**kwargs)
    assert files[0].stat().st_mtime_ns == mtime
    _equal(arrays, again)
    cached = sp.SynthPose(cache=True, **kwargs)
    fresh = sp.SynthPose(**kwargs)
    for i in range(5):
        _equal(cached.sample(i), fresh.sample(i))
    sp.render_set(**{**kwargs, "seed": 2})  # another key, another file
    assert len(list((tmp_cache / "synthpose").iterdir())) == 2


def test_dataloader_with_workers_matches_direct_items():
    ds = sp.SynthPose("train", n=4, input_size=64)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)
    batches = list(loader)
    direct = torch.stack([ds[i]["image"] for i in range(4)])
    assert torch.equal(torch.cat([b["image"] for b in batches]), direct)


def test_limb_colours_do_not_depend_on_side():
    kinds = ("upper_arm", "forearm", "thigh", "shin")
    left = {k: [] for k in kinds}
    right = {k: [] for k in kinds}
    for seed in range(400):
        cols = render.limb_colours(np.random.default_rng(seed))
        for k in kinds:
            left[k].append(cols[("l", k)])
            right[k].append(cols[("r", k)])
    for k in kinds:
        lc, rc = np.array(left[k]), np.array(right[k])
        # same palette colour per kind: left and right differ only by i.i.d. tints
        diff = lc - rc
        assert np.abs(diff.mean(axis=0)).max() < 0.01
        brighter_left = (lc.sum(axis=1) > rc.sum(axis=1)).mean()
        assert 0.4 < brighter_left < 0.6  # a colour rule cannot tell the sides apart
        ratio = np.median(np.abs(diff).sum(axis=1) / (lc.sum(axis=1) + 1e-6))
        assert ratio < 0.2


def test_difficulty_presets_and_errors():
    assert sp.SynthPose("train", n=1, difficulty="easy").difficulty.occluders == 0
    d = sp.SynthPose("train", n=1, difficulty={"preset": "hard", "noise": 0.0}).difficulty
    assert d.occluders == render.DIFFICULTIES["hard"].occluders and d.noise == 0.0
    with pytest.raises(ValueError, match="'extreme'"):
        sp.SynthPose("train", n=1, difficulty="extreme")
    with pytest.raises(ValueError, match="clutter"):
        render.Difficulty(clutter=2.0)
    with pytest.raises(ValueError, match="input_size"):
        sp.SynthPose("train", n=1, input_size=66)
    with pytest.raises(ValueError, match="split"):
        sp.SynthPose("test", n=1)
    with pytest.raises(IndexError):
        sp.SynthPose("train", n=2).sample(2)


def test_gallery_and_skeleton_drawing():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = figures.show_gallery(sp.SynthPose("valid", n=3, input_size=64), n=3, ncols=3)
    assert len(fig.axes) == 6
    plt.close(fig)
    fig, ax = plt.subplots()
    figures.draw_skeleton(ax, np.zeros((16, 2)), np.ones(16, bool), legend=True)
    styles = {line.get_linestyle() for line in ax.lines}
    assert {"-", "--"} <= styles  # left solid, right dashed
    with pytest.raises(ValueError, match="joints"):
        figures.draw_skeleton(ax, np.zeros((14, 2)))
    plt.close(fig)


def test_render_speed():
    """Single-thread render speed at 128 px; asserts >= 500 images/s only with POSE_HELPERS_BENCH=1."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ds = sp.SynthPose("train", n=200, input_size=128)
        ds.sample(0)
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(200):
            ds.sample(i)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        torch.set_num_threads(threads)
    rate = 200 / cpu
    print(f"SynthPose 128 px: {rate:.0f} images/s (CPU time), {200 / wall:.0f} images/s (wall)")
    if os.environ.get("POSE_HELPERS_BENCH") == "1":
        assert rate >= 500, f"render speed {rate:.0f} images/s < 500 at 128 px"


# --- The modules behind the data set --------------------------------------------------------


def test_as_difficulty_resolves_names_dicts_and_instances():
    assert render.as_difficulty("easy") is render.DIFFICULTIES["easy"]
    custom = render.Difficulty(occluders=1)
    assert render.as_difficulty(custom) is custom
    assert render.as_difficulty({"noise": 0.0}) == render.Difficulty(noise=0.0)  # on 'medium'
    assert render.as_difficulty({"preset": "hard", "blur": 0.0}).occluders == 4
    with pytest.raises(ValueError, match="'extreme'"):
        render.as_difficulty("extreme")
    with pytest.raises(ValueError, match="unknown difficulty fields"):
        render.as_difficulty({"wind": 1.0})
    with pytest.raises(TypeError, match="str, dict or Difficulty"):
        render.as_difficulty(3)


def test_renderer_is_a_pure_function_of_the_generator():
    bank = poses.procedural_poses(2, seed=0)
    joints = bank.joints[0].astype(np.float64) - bank.center[0] + 32.0  # roughly centred
    renderer = render.Renderer(64)
    diff = render.DIFFICULTIES["hard"]
    image, occluded = renderer.render(np.random.default_rng(1), joints, 8.0, True, diff)
    assert image.shape == (3, 64, 64) and image.dtype == np.uint8
    assert occluded.shape == (16,) and occluded.dtype == bool
    again, _ = render.Renderer(64).render(np.random.default_rng(1), joints, 8.0, True, diff)
    np.testing.assert_array_equal(image, again)


def test_drawing_primitives_paint_inside_their_shape():
    grid = np.arange(16, dtype=np.float32)
    red = drawing.hsv(0.0, 1.0, 1.0)
    np.testing.assert_array_equal(red, np.array([1, 0, 0], np.float32))
    np.testing.assert_array_equal(drawing.hsv(0.5, 0.0, 0.5), np.full(3, 0.5, np.float32))

    img, mask = np.zeros((3, 16, 16), np.float32), np.zeros((16, 16), bool)
    drawing.capsule(img, grid, np.array([3.0, 8.0]), np.array([12.0, 8.0]), 2, 2, red, None, mask)
    assert img[0, 8, 3:13].min() == 1.0 and img[0, 0, :].max() == 0.0  # flat colour, no spill
    assert mask[8, 3:13].all() and not mask[0].any()

    img = np.zeros((3, 16, 16), np.float32)
    light = drawing.Light(0.0, 0.0, 1.0, 0.5, 0.5)  # head-on: full brightness at the centre
    drawing.ellipse(img, grid, np.array([8.0, 8.0]), np.array([1.0, 0.0]), 5, 3, red, light)
    assert img[0, 8, 8] == pytest.approx(1.0) and img[0, 8, 12] < img[0, 8, 8]
    assert img[0, 3, 8] == 0.0  # beyond the 3 px semi-axis

    square = np.array([[2.0, 2.0], [12.0, 2.0], [12.0, 12.0], [2.0, 12.0], [7.0, 7.0]])
    hull = drawing.convex_hull(square)
    assert len(hull) == 4 and not (hull == [7.0, 7.0]).all(axis=1).any()
    img, mask = np.zeros((3, 16, 16), np.float32), np.zeros((16, 16), bool)
    drawing.polygon(img, grid, hull, red, None, mask=mask)
    assert mask[3:12, 3:12].all() and mask.sum() == 9 * 9  # edge pixels are half covered
    assert img[0, 2, 7] == pytest.approx(0.5) and img[0, 7, 7] == 1.0


def test_denormalize_inverts_the_normalization():
    item = sp.SynthPose("valid", n=1, input_size=32).sample(0)
    raw = sp.SynthPose("valid", n=1, input_size=32).render(0)["image"]
    rgb = figures.denormalize(item["image"])
    assert rgb.shape == (32, 32, 3)
    np.testing.assert_allclose(rgb, raw.transpose(1, 2, 0) / 255.0, atol=1e-6)


def test_pose_bank_splits_and_sizes(empty_root):
    assert poses.SPLITS == ("train", "valid")
    for split in poses.SPLITS:
        bank = poses.pose_bank(split)
        assert len(bank) == poses.MPII_SIZES[split] and bank.source == "procedural"
        assert not bank.joints.flags.writeable  # shared through the cache
    with pytest.raises(ValueError, match="split"):
        poses.pose_bank("test")
