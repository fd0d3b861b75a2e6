"""Tests of pose_helpers.decode: DARK against known sub-pixel peaks, the 1-euro filter's
limits and its effect on jitter."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pose_helpers.decode import OneEuroFilter, dark_coords, jitter, one_euro
from pose_helpers.metrics import heatmaps_to_coords


def _gaussian_maps(centres: np.ndarray, size: int = 16, sigma: float = 1.0) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    maps = [np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)) for cx, cy in centres]
    return np.stack(maps)[None].astype(np.float32)


def test_dark_finds_sub_pixel_peaks_the_quarter_shift_misses():
    rng = np.random.default_rng(0)
    centres = rng.uniform(3, 12, size=(17, 2))
    maps = _gaussian_maps(centres)
    dark, maxvals = dark_coords(maps, sigma=1.0)
    quarter, _ = heatmaps_to_coords(maps)
    err_dark = np.abs(dark[0] - centres).max()
    err_quarter = np.abs(quarter[0] - centres).max()
    assert err_dark < 0.05 < err_quarter
    assert maxvals.shape == (1, 17) and (maxvals <= 1).all()


def test_dark_keeps_the_argmax_on_the_border_and_flat_maps():
    maps = np.zeros((1, 2, 8, 8), dtype=np.float32)
    maps[0, 0, 0, 5] = 1.0  # a peak on the border
    coords, _ = dark_coords(maps, sigma=0)
    assert coords[0, 0].tolist() == [5.0, 0.0] and coords[0, 1].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="shape"):
        dark_coords(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="sigma"):
        dark_coords(maps, sigma=-1)


def test_one_euro_limits_and_jitter():
    t = np.arange(300) / 30.0
    clean = np.stack([np.sin(t), np.cos(t)], axis=-1)[:, None, :]  # (T, 1, 2)
    noisy = clean + np.random.default_rng(0).normal(0, 0.05, clean.shape)
    error = np.abs(noisy - clean).mean()
    still = one_euro(noisy, freq=30, min_cutoff=0.5, beta=0.0)
    assert jitter(still) < 0.1 * jitter(noisy)
    assert np.abs(still - clean).mean() > 2 * error  # a low cutoff alone lags the motion
    adaptive = one_euro(noisy, freq=30, min_cutoff=0.5, beta=5.0)
    assert jitter(adaptive) < 0.5 * jitter(noisy)
    assert np.abs(adaptive - clean).mean() < error  # beta follows the motion: less lag
    follow = one_euro(noisy, freq=30, min_cutoff=1e6)  # a cutoff far above the rate: identity
    assert np.allclose(follow, noisy, atol=1e-4)
    assert math.isnan(jitter(noisy[:2]))
    f = OneEuroFilter(30)
    assert f(np.array([1.0, 2.0])).tolist() == [1.0, 2.0]  # the first sample passes
    with pytest.raises(ValueError, match="beta"):
        OneEuroFilter(30, beta=-1)
    with pytest.raises(ValueError, match="freq"):
        one_euro(noisy, freq=0)
