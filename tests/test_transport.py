"""The λ transport rule (pose_helpers.compress.transport)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from pose_helpers.chapters.references import SEEDS_DIR
from pose_helpers.compress import transport

SETTINGS = {"heatmap_size": 256, "joints": 16, "epochs": 140, "lr": 1e-3, "batch_size": 16}


def test_transport_table_and_to_ours_by_hand():
    table = transport.transport_table({"median": 4e-7}, {"median": 1e-7}, SETTINGS).set_index(
        "reading"
    )
    # Simple Baselines: g_thesis = 0.5 x 1e-7, so the factor is 4e-7 / 5e-8 = 8.
    assert table.loc["simple_baselines", "factor"] == pytest.approx(8.0)
    assert table.loc["printed", "reading_factor"] == 256**2 * 16
    assert table.loc["printed", "factor"] == pytest.approx(4.0 / (256**2 * 16))
    assert transport.to_ours(1e-8, table.reset_index()) == pytest.approx(8e-8)
    with pytest.raises(ValueError, match="reading="):
        transport.to_ours(1e-8, table.reset_index(), reading="guess")
    with pytest.raises(ValueError, match="lambda_thesis"):
        transport.to_ours(-1.0, table.reset_index())


def test_an_unmeasurable_gradient_stops_the_rule_before_training():
    with pytest.raises(ValueError, match="zero-initialized"):
        transport.transport_table({"median": 0.0}, {"median": 1e-7}, SETTINGS)
    with pytest.raises(ValueError, match="gradient"):
        transport.transport_table({"median": 1e-7}, {"median": math.nan}, SETTINGS)


def test_gradient_scale_measures_conv_weights_and_leaves_no_gradient():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1))
    batch = {"image": torch.randn(2, 3, 8, 8), "target": torch.rand(2, 2, 8, 8)}
    scale = transport.gradient_scale(model, batch)
    assert scale["median"] > 0 and scale["rms"] >= scale["median"] and scale["loss"] > 0
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="no convolution"):
        transport.gradient_scale(nn.Sequential(nn.Linear(8, 8)), batch, lambda *a: a[0].sum())


def test_sgd_reach_is_lr_lambda_steps():
    reach = transport.sgd_reach([1e-7], SETTINGS, n_images=160)
    assert reach["steps"].iloc[0] == 140 * 10
    assert reach["max_shift"].iloc[0] == pytest.approx(1e-3 * 1e-7 * 1400)
    with pytest.raises(ValueError, match="n_images"):
        transport.sgd_reach([1e-7], SETTINGS, n_images=0)


@pytest.mark.skipif(
    not (SEEDS_DIR / "tables" / "thesis_table_5_2.csv").is_file(), reason="no seed tables"
)
def test_thesis_settings_read_table_5_2():
    settings = transport.thesis_settings()
    assert settings["heatmap_size"] == 256 and settings["joints"] == 16
    assert settings["optimizer"] == "sgd" and settings["batch_size"] == 16
