"""Tests of pose_helpers.studies.compression at toy scale (width 8, 64 px, 8 training images, 1 epoch)."""

from __future__ import annotations

import copy
import functools
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from pose_helpers.compress import regularizers as R
from pose_helpers.core.store import RunStore
from pose_helpers.core.sweep import cached_run
from pose_helpers.data import synthpose
from pose_helpers.studies import compression as C
from pose_helpers.studies.compression import baseline as baseline_module
from pose_helpers.studies.compression import sparsity as sparsity_module
from pose_helpers.train import loop as train
from pose_helpers.train import runs as experiments

TINY = {
    "model_kwargs": {"width": 8, "deconv_channels": 16, "zero_init_head": True},
    "input_size": 64,
    "n_train": 8,
    "n_valid": 4,
    "epochs": 1,
    "batch_size": 4,
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One cache for the module: the tiny baseline is trained once."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("cache")
        mp.setenv("POSE_HELPERS_CACHE", str(path))
        yield path


def _no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a cached run trained or loaded data")

    monkeypatch.setattr(train, "fit", refuse)
    # the baseline's settings are validated against synthpose_run's signature: keep it
    monkeypatch.setattr(
        experiments, "synthpose_run", functools.wraps(experiments.synthpose_run)(refuse)
    )
    monkeypatch.setattr(synthpose, "SynthPose", refuse)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "l2"}, r"method='l2'; expected one of \('l1', 'group_lasso'\)"),
        ({"lam": -1e-9}, r"lam=-1e-09; expected a finite number >= 0"),
        ({"lam": math.nan}, "lam=nan"),
        ({"thresholds": [0.01, 0.0]}, r"threshold=0.0; expected a finite number > 0"),
        ({"thresholds": []}, "non-empty list"),
        ({"max_epochs": 0}, r"max_epochs=0; expected an int >= 1"),
        ({"lambda_factor": 0.0}, r"lambda_factor=0.0"),
        ({"tolerance": -1.0}, r"tolerance=-1.0"),
        ({"lr": 0.0}, r"lr=0.0"),
        ({"baseline": {**TINY, "widht": 8}}, r"unknown settings \['widht'\]; valid: \['model'"),
        ({"baseline": {"cache_renders": False}}, r"unknown settings \['cache_renders'\]"),
    ],
)
def test_regularized_run_validates_at_once(tmp_path, monkeypatch, kwargs, match):
    _no_training(monkeypatch)
    args = {"method": "l1", "lam": 1e-8, "baseline": TINY, "max_epochs": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        C.regularized_run(args.pop("method"), args.pop("lam"), checkpoint_dir=tmp_path, **args)


def test_engineered_run_validates_at_once(tmp_path, monkeypatch):
    _no_training(monkeypatch)
    common = dict(baseline=TINY, epochs=1, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="threshold=-0.1"):
        C.engineered_run("group_lasso", 1e-8, -0.1, finetune_epochs=1, **common)
    with pytest.raises(ValueError, match="finetune_epochs=-1"):
        C.engineered_run("group_lasso", 1e-8, 0.1, finetune_epochs=-1, **common)
    with pytest.raises(ValueError, match="method='bayes'"):
        C.engineered_run("bayes", 1e-8, 0.1, finetune_epochs=1, **common)


def test_sweep_points():
    points = C.sweep_points(
        {"l1": [1e-7, 1e-8], "group_lasso": [3e-10]}, baseline=TINY, max_epochs=1
    )
    assert [(p["method"], p["lam"]) for p in points] == [
        ("l1", 1e-7),
        ("l1", 1e-8),
        ("group_lasso", 3e-10),
    ]
    assert all(p["baseline"] == TINY and p["max_epochs"] == 1 for p in points)
    json.dumps(points)
    with pytest.raises(ValueError, match="method='L1'"):
        C.sweep_points({"L1": [1e-8]})


# --------------------------------------------------------------------------- runs


def test_baseline_run_key_and_record(cache, monkeypatch):
    record = C.baseline_run(**TINY)
    assert record["key"] == C.baseline_key(TINY)
    assert "seconds" not in record and record["train_seconds"] > 0
    assert "checkpoint" not in record  # a stored record names no file of this machine
    assert C.baseline_key({**TINY, "seed": 1}) != record["key"]
    assert C.baseline_key({**TINY, "threads": 2, "progress": True}) == record["key"]
    trained = C.train_baseline(**TINY)
    assert trained["key"] == record["key"] and trained["table"] == record["table"]

    _no_training(monkeypatch)  # stored: read back, whatever the threads
    assert C.baseline_run(**TINY, threads=2, progress=True) == record
    assert C.baseline_run(**{**TINY, "seed": 0}) == record  # defaults spelled out: one record


def test_full_scale_baseline_mb():
    assert C.full_scale_baseline_mb() == pytest.approx(136.32, abs=0.01)


def test_regularized_run_l1_cells_and_cache(cache, monkeypatch):
    record = C.regularized_run("l1", 1e-6, baseline=TINY, max_epochs=1)
    json.dumps(record)
    assert not record["diverged"] and len(record["history"]) == 1
    assert record["history"][0]["extra_loss"] > 0  # the penalty was on
    cells = record["cells"]
    assert [c["threshold"] for c in cells] == [0.01, 0.001, 0.0001]
    sparsity = [c["sparsity"] for c in cells]
    assert sparsity[0] > sparsity[1] > sparsity[2] >= 0  # more is cut at a larger threshold
    for cell in cells:
        assert cell["retained"] == pytest.approx(1 - cell["sparsity"] / 100)  # same params
        assert cell["size_mb"] == pytest.approx(cell["retained"] * C.full_scale_baseline_mb())
        assert 0 <= cell["pckh"] <= 100 and cell["pckh"] == cell["table"]["Mean"]

    again = C.regularized_run("l1", 1e-6, baseline=TINY, max_epochs=1)  # the checkpoint is finished
    assert again == record
    assert record["checkpoint"] == f"l1-{record['key']}.pt"  # its name in the checkpoint folder

    point = dict(method="l1", lam=1e-6, baseline=TINY, max_epochs=1)
    stored = cached_run(C.regularized_run, study=C.SPARSITY_STUDY, **point)
    assert stored["cells"] == cells
    _no_training(monkeypatch)  # a stored run is read back, without training or data
    assert cached_run(C.regularized_run, study=C.SPARSITY_STUDY, **point) == stored


def test_regularized_run_records_divergence(cache):
    # 1e300 x |w| overflows float32: the first penalty is infinite, so fit stops and records it.
    record = C.regularized_run("l1", 1e300, baseline=TINY, max_epochs=1, thresholds=[0.01])
    assert record["diverged"]
    assert len(record["cells"]) == 1 and math.isnan(record["cells"][0]["pckh"])
    assert math.isnan(record["cells"][0]["nonzero_weights"])  # one convention: NaN


def test_group_lasso_then_engineering_is_exact(cache, monkeypatch):
    common = dict(baseline=TINY, epochs=1)
    record = C.regularized_run("group_lasso", 1e-6, baseline=TINY, max_epochs=1)
    assert [c["statistic"] for c in record["cells"]] == ["norm"] * 3 + ["rms"] * 3
    for stat in ("norm", "rms"):
        sparsity = [c["sparsity"] for c in record["cells"] if c["statistic"] == stat]
        assert sparsity == sorted(sparsity, reverse=True)

    # a threshold that zeroes about a third of the groups of the regularized model
    model = C.load_regularized_model(record, TINY)
    threshold = float(torch.quantile(R.group_norms(model).detach(), 0.3))
    sparse = copy.deepcopy(model)
    R.threshold_(sparse, threshold, "group")

    cut = C.engineered_run("group_lasso", 1e-6, threshold, finetune_epochs=0, **common)
    json.dumps(cut)
    assert cut["channels"]["channels_after"] < cut["channels"]["channels_before"]
    assert cut["params"] < cut["params_full"] and cut["size_mb"] < cut["size_mb_full"]
    assert cut["pckh_before"] == cut["pckh_thresholded"] == cut["pckh_after"]
    assert cut["history"] == [] and not cut["diverged"]
    assert min(cut["keep_ratios"].values()) < 1.0
    small = C.load_engineered_model(cut, TINY)
    assert sum(p.numel() for p in small.parameters()) == cut["params"]
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(small(x), sparse.eval()(x), rtol=1e-4, atol=1e-5)

    targets = {"a third": (1e-6, threshold)}
    tuned = C.engineer_cells(targets, method="group_lasso", finetune_epochs=1, **common)
    tuned = tuned["a third"]
    assert tuned == C.engineered_run("group_lasso", 1e-6, threshold, finetune_epochs=1, **common)
    assert tuned["key"] != cut["key"] and len(tuned["history"]) == 1
    assert tuned["params"] == cut["params"] and tuned["pckh_before"] == cut["pckh_before"]
    assert math.isfinite(tuned["pckh_after"])
    assert C.load_engineered_model(tuned, TINY)(x).shape == (2, 16, 16, 16)
    table = C.engineered_table(tuned, C.baseline_run(**TINY))
    assert list(table["model"]) == [
        "baseline",
        "engineered, before fine-tuning",
        "engineered and fine-tuned",
    ]

    fig = C.plot_kept_channels(tuned)
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    layers = len(tuned["layers"])
    assert len(heights) == 2 * layers and sum(heights[layers:]) == cut["channels"]["channels_after"]

    _no_training(monkeypatch)
    again = C.engineer_cells(targets, method="group_lasso", finetune_epochs=1, **common)
    assert again == {"a third": tuned}
    assert C.keep_ratios(again, "group lasso") == {"group lasso, a third": tuned["keep_ratios"]}
    assert C.keep_ratios(again) == {"a third": tuned["keep_ratios"]}


def test_baseline_control_and_table(cache, monkeypatch):
    record = C.baseline_run(**TINY)
    control = C.baseline_cells(TINY, [0.01, 0.001])
    assert list(control["method"]) == ["l1", "l1", "group_lasso", "group_lasso"]
    assert (control["lambda"] == 0).all() and list(control["threshold"]) == [0.01, 0.001] * 2
    net = C.create_baseline_model(C.baseline_arguments(TINY))
    weights = torch.cat([w.flatten() for w in R.conv_weights(net).values()])
    # weight thresholding at 0.01 zeroes what is below 0.01 in the *trained* baseline
    trained, trained_record = C.load_baseline(TINY)
    assert trained_record["key"] == record["key"]
    small = sum(int((w.abs() < 0.01).sum()) for w in R.conv_weights(trained).values())
    total = sum(p.numel() for p in trained.parameters())
    assert control["sparsity"].iloc[0] == pytest.approx(100 * small / total)
    assert weights.numel() < total
    with pytest.raises(ValueError, match="threshold=-1"):
        C.baseline_cells(TINY, [-1])

    cpu = C.cpu_scale_card(TINY, repeats=1)
    full = {**cpu, "params": 33_999_440, "checkpoint_mb": 136.32, "input_shape": [3, 256, 256]}
    table = C.baseline_table(full, cpu, record)
    assert list(table["source"].str.split(",").str[0]) == ["thesis (Table 5.3", "ours", "ours"]
    assert table["params_m"].tolist()[:2] == [33.9, 33.99944]
    assert table["input"].tolist() == [256, 256, 64]
    assert table["pckh"].iloc[2] == record["table"]["Mean"] and math.isnan(table["pckh"].iloc[1])
    assert cpu["params"] == record["params"]

    magnitudes = C.weight_magnitudes(TINY, [0.01, 0.001])
    assert magnitudes == C.magnitudes_of(trained, [0.01, 0.001])
    _no_training(monkeypatch)  # both are stored runs
    pd.testing.assert_frame_equal(C.baseline_cells(TINY, [0.01, 0.001]), control)
    assert C.weight_magnitudes(TINY, [0.01, 0.001]) == magnitudes


# --------------------------------------------------------------------------- tables


def _cells(lam: float, offset: float) -> list[dict]:
    return [
        {"threshold": t, "sparsity": s, "retained": 1 - s / 100, "size_mb": 1.0, "pckh": offset}
        for t, s in ((0.0001, 10.0), (0.01, 30.0), (0.001, 20.0))
    ]


def test_cells_table_shape_and_order():
    runs = pd.DataFrame(
        {
            "method": ["l1", "l1", "group_lasso", "l1"],
            "lam": [1e-9, 1e-7, 3e-10, 5e-9],
            "cells": [_cells(1e-9, 1.0), _cells(1e-7, 2.0), _cells(3e-10, 3.0), np.nan],
            "diverged": [False, True, False, np.nan],
            "error": [None, None, None, "RuntimeError: boom"],
        }
    )
    table = C.cells_table(runs)
    assert list(table.columns) == [
        "method",
        "statistic",
        "lambda",
        "lambda_ours",
        "threshold",
        "sparsity",
        "retained",
        "pckh",
        "size_mb",
        "epochs",
        "converged",
        "diverged",
    ]
    assert table.shape == (9, 12)  # the failed point is left out
    assert list(table["statistic"]) == ["weight"] * 6 + ["norm"] * 3  # the methods' defaults
    assert list(table["method"]) == ["l1"] * 6 + ["group_lasso"] * 3
    assert list(table["lambda"]) == [1e-7] * 3 + [1e-9] * 3 + [3e-10] * 3
    assert list(table["threshold"]) == [0.01, 0.001, 0.0001] * 3
    assert list(table["sparsity"][:3]) == [30.0, 20.0, 10.0]
    assert table["diverged"].tolist() == [True] * 3 + [False] * 6
    with pytest.raises(ValueError, match=r"lacks the columns \['cells'\]"):
        C.cells_table(runs.drop(columns="cells"))


def test_thesis_tables_use_our_names():
    for method in C.METHODS:
        table = C.thesis_table(method)
        assert list(table.columns) == [
            "method",
            "lambda",
            "threshold",
            "retained",
            "pckh",
            "size_mb",
        ]
        assert len(table) == 18 and set(table["method"]) == {method}
        assert set(table["threshold"]) == set(R.THESIS_THRESHOLDS)
        assert list(dict.fromkeys(table["lambda"])) == list(R.THESIS_LAMBDAS[method])
        # "Sparsity" is the retained fraction: the theoretical size is retained x 136.3 MB
        np.testing.assert_allclose(table["retained"] * 136.3, table["size_mb"], atol=0.15)
    assert C.thesis_table("l1").iloc[1][["retained", "size_mb"]].tolist() == [0.287, 39.1]
    engineered = C.thesis_table("engineered").iloc[0]
    assert (engineered["size_mb"], engineered["params_m"], engineered["pckh"]) == (
        58.4,
        14.5,
        84.22,
    )
    assert C.thesis_table("baseline").iloc[0]["size_mb"] == 136.3
    with pytest.raises(ValueError, match="'bayes'"):
        C.thesis_table("bayes")


def test_compare_cells():
    thesis = C.thesis_table("group_lasso")
    ours = thesis.iloc[:6].copy()
    ours["lambda"] = ours["lambda"] * (1 + 1e-12)  # floats that went through JSON and back
    ours["pckh"] = ours["pckh"] - 10
    both = C.compare_cells(ours, thesis)
    assert len(both) == 18
    assert list(both.columns[:3]) == ["method", "lambda", "threshold"]
    first = both.iloc[0]
    assert (first["lambda"], first["threshold"]) == (1e-7, 0.01)
    assert first["pckh_thesis"] - first["pckh_ours"] == pytest.approx(10)
    assert first["retained_ours"] == first["retained_thesis"] == 0.228
    assert both["pckh_ours"].isna().sum() == 12


def test_table_with_thesis_and_findings():
    thesis = C.thesis_table("l1")
    ours = thesis.assign(sparsity=100 * (1 - thesis["retained"]), diverged=False)
    ours["lambda"] = ours["lambda"] * (1 + 1e-12)  # floats that went through JSON and back
    ours["pckh"] = ours["pckh"] - 20
    table = C.table_with_thesis(ours, "l1")
    assert len(table) == 18 and "method" not in table.columns
    assert (table["pckh_thesis"] - table["pckh"]).round(9).eq(20).all()
    assert (table["retained"] == table["retained_thesis"]).all()
    control = pd.DataFrame(
        {
            "method": "l1",
            "lambda": 0.0,
            "threshold": [0.01, 0.001, 0.0001],
            "retained": [0.9, 0.95, 0.99],
            "pckh": 70.0,
        }
    )
    text = C.sweep_findings(ours, control)
    assert "ρ(λ, retained) = -0.99; the thesis's -0.99" in text  # ours equal the thesis's here
    assert "0.243 of the weights remain at 55.3 % PCKh; the control keeps 0.900 at 70.0 %" in text
    assert C.table_with_thesis(ours.iloc[:0], "l1").empty


def test_choose_cell_and_engineered_summary():
    cells = pd.DataFrame(
        {
            "method": ["group_lasso"] * 3 + ["l1"],
            "lambda": [1e-5, 1e-6, 1e-7, 1e-5],
            "threshold": 0.01,
            "retained": [0.2, 0.5, 0.9, 0.1],
            "pckh": [40.0, 55.0, 58.0, 57.0],
            "diverged": False,
        }
    )
    chosen = C.choose_cell(cells, "group_lasso", baseline_pckh=58.0, max_drop=5)
    assert chosen["lambda"] == 1e-6  # 1e-5 loses 18 points; l1 is another method
    assert C.choose_cell(cells, "group_lasso", 80.0, 5) is None
    with pytest.raises(ValueError, match="max_drop=-1"):
        C.choose_cell(cells, "group_lasso", 58.0, -1)

    record = {
        "lam": 3e-9,
        "threshold": 0.01,
        "params": 500,
        "params_full": 1000,
        "retained": 0.5,
        "pckh_before": 40.0,
        "pckh_after": 50.0,
    }
    table = C.engineered_summary([record], {"table": {"Mean": 55.0}})
    assert list(table["source"]) == ["ours (CPU scale)"] * 3 + ["thesis"] * 2
    assert table["pckh"].tolist() == [55.0, 40.0, 50.0, 87.8, 84.22]
    assert table["theoretical_mb"].iloc[1] == pytest.approx(0.5 * C.full_scale_baseline_mb())
    assert table["retained"].iloc[-1] == pytest.approx(14.5 / 33.9)
    assert (table["lambda"].iloc[-1], table["threshold"].iloc[-1]) == C.THESIS_ENGINEERED_CELLS[
        "group_lasso"
    ]


def test_engineering_targets_and_notes():
    cells = pd.DataFrame(
        {
            "method": "bayesian",
            "lambda": [5e-8, 1e-8, 1e-9],
            "threshold": 0.01,
            "retained": [0.2, 0.5, 0.9],
            "pckh": [40.0, 55.0, 58.0],
            "diverged": False,
        }
    )
    both = C.engineering_targets(cells, "bayesian", (1e-9, 0.01), 58.0, 5.0)
    assert both == {"thesis's cell": (1e-9, 0.01), "sparsest within 5 points": (1e-8, 0.01)}
    one = C.engineering_targets(cells, "bayesian", (1e-8 * (1 + 1e-12), 0.01), 58.0, 5.0)
    assert list(one) == ["thesis's cell, also the sparsest within the drop"]
    assert list(C.engineering_targets(cells, "bayesian", (1e-8, 0.01), 99.0, 5.0)) == [
        "thesis's cell"
    ]
    also = C.engineering_targets(cells, "bayesian", (1e-9, 0.01), 58.0, 5.0, also=[5e-8, 1e-8])
    assert also["λ_thesis 5e-08"] == (5e-8, 0.01) and "λ_thesis 1e-08" not in also  # chosen
    with pytest.raises(ValueError, match="no bayesian cell at λ"):
        C.engineering_targets(cells, "bayesian", (1e-9, 0.01), 58.0, 5.0, also=[3e-6])
    record = {
        "lam": 1e-8,
        "threshold": 0.01,
        "retained": 0.75,
        "channels": {"channels_before": 100, "channels_after": 60, "layers_pruned": 3, "layers": 9},
        "pckh_thresholded": 50.0,
        "pckh_before": 50.0,
        "pckh_after": 55.5,
    }
    text = C.engineering_notes({"a": record})
    assert "removed 40 of 100 output channels in 3 of 9 layers (25.0 % of the parameters)" in text
    assert "55.50 % after fine-tuning" in text
    summary = C.engineered_summary(
        [{**record, "params": 5, "params_full": 10}], {"table": {"Mean": 60.0}}, thesis="bayesian"
    )
    assert summary["pckh"].iloc[-1] == 86.42 and summary["params_m"].iloc[-1] == 11.3
    with pytest.raises(ValueError, match="thesis='l1'"):
        C.engineered_summary([record], {"table": {"Mean": 60.0}}, thesis="l1")


def test_method_comparison_and_bayesian_thesis_table():
    bayes = C.thesis_table("bayesian")
    assert len(bayes) == 9 and list(dict.fromkeys(bayes["lambda"])) == [5e-8, 1e-8, 1e-9]
    ours = {m: C.thesis_table(m) for m in C.TABLE_METHODS}
    text = C.method_comparison(ours, 87.8, drops=(3.0,))
    # the thesis's own cells: within 3 points of 87.8 (>= 84.8) the Bayesian cells reach 0.301
    assert "bayesian 0.301 (thesis 0.301)" in text
    assert "group lasso 0.404 (thesis 0.404)" in text


def test_deployment_findings():
    table = pd.DataFrame(
        {
            "model": ["dense", "dense", "small", "small"],
            "runtime": ["pytorch", "onnxruntime"] * 2,
            "format": "fp32",
            "threads": 1,
            "speedup": [1.0, 1.0, 2.5, float("nan")],
        }
    )
    text = C.deployment_findings(table)
    assert (
        "**small**: pytorch 1 thread(s) 2.50×." in text and "dense" not in text.split("\n")[0][:12]
    )
    assert "1.93×" in text


def test_speed_findings():
    speed = pd.DataFrame(
        {
            "variant": ["dense", "engineered", "random"],
            "retained": [1.0, 0.5, 0.3],
            "gmacs": [10.0, 4.0, 10.0],
            "latency_ms": [200.0, 100.0, 198.0],
            "speedup": [1.0, 2.0, 200 / 198],
        }
    )
    text = C.speed_findings(speed)
    assert "0.400 of the multiply-accumulates" in text and "**2.00× faster**" in text
    assert "ran 1.93× faster than its baseline on a phone" in text
    assert "runs at 1.01× the dense speed" in text


# --------------------------------------------------------------------------- full scale


def test_full_scale_latency_on_a_small_model():
    ratios = {"layer3.internal": 0.5, "layer4.residual": 0.5, "deconv0": 0.5}
    table = C.full_scale_latency(
        ratios,
        repeats=2,
        warmup=1,
        model_kwargs={"width": 8, "deconv_channels": 16},
        input_size=64,
    )
    assert list(table["variant"][:2]) == ["dense", "engineered"]
    with pytest.raises(ValueError, match="'dense' names the uncut model"):
        C.full_scale_models({"dense": ratios})
    dense, engineered, sparse = (table.iloc[i] for i in range(3))
    assert engineered["params"] < dense["params"] and engineered["gmacs"] < dense["gmacs"]
    assert engineered["checkpoint_mb"] < dense["checkpoint_mb"]
    # random zeros change neither the shapes nor the work
    assert sparse["params"] == dense["params"] and sparse["gmacs"] == dense["gmacs"]
    assert dense["retained"] == 1.0 and engineered["retained"] < 1.0
    assert 0.3 < sparse["retained"] < 0.35  # 70 % of conv weights (BN is dense)
    assert sparse["theoretical_mb"] == pytest.approx(sparse["retained"] * dense["checkpoint_mb"])
    assert dense["speedup"] == 1.0 and (table["latency_ms"] > 0).all()
    with pytest.raises(ValueError, match="random_sparsity=1.0"):
        C.full_scale_latency(ratios, random_sparsity=1.0)
    two = C.full_scale_latency(
        {"a": ratios, "b": {"layer3.internal": 0.25}},
        repeats=1,
        warmup=0,
        model_kwargs={"width": 8, "deconv_channels": 16},
        input_size=64,
    )
    assert list(two["variant"][:3]) == ["dense", "engineered (a)", "engineered (b)"]
    assert two["params"].iloc[1] == engineered["params"] and len(two) == 4


# --------------------------------------------------------------------------- figures


def test_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = pd.DataFrame(
        {
            "method": ["l1", "group_lasso"],
            "lam": [1e-8, 1e-9],
            "cells": [_cells(1e-8, 50.0), _cells(1e-9, 40.0)],
            "diverged": [False, False],
            "history": [
                [{"epoch": 1, "train_loss": 1e-3, "extra_loss": 1e-4, "val_pckh_mean": 50.0}]
            ]
            * 2,
        }
    )
    table = C.cells_table(runs)
    fig = C.plot_sparsity_vs_pckh(
        {m: table[table["method"] == m] for m in C.METHODS},
        {m: C.thesis_table(m) for m in C.METHODS},
        baseline_pckh=60.0,
    )
    assert len(fig.axes) == 2
    plt.close(fig)
    fig = C.plot_learning_curves(runs)
    assert len(fig.axes) == 6
    plt.close(fig)
    net = C.create_baseline_model(C.baseline_arguments(TINY))
    magnitudes = C.magnitudes_of(net, [0.01, 0.001])
    json.dumps(magnitudes)
    weights = torch.cat([w.detach().abs().flatten() for w in R.conv_weights(net).values()])
    single = magnitudes["panels"][0]
    assert sum(single["counts"]) == int((weights > 0).sum())
    assert single["below"][0] == [0.01, pytest.approx(100 * float((weights < 0.01).float().mean()))]
    fig = C.plot_weight_magnitudes(magnitudes)
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2]
    assert "% below" in fig.axes[0].get_legend().get_texts()[0].get_text()
    plt.close(fig)


# --------------------------------------------------------------------------- settings and store


def test_baseline_settings_build_the_chapters_dict():
    settings = C.baseline_settings(
        width=8,
        deconv_channels=16,
        input_size=64,
        sigma=1.0,
        difficulty="easy",
        n_train=8,
        n_valid=4,
        epochs=1,
        batch_size=4,
        lr=1e-3,
        milestones=(0.75, 0.85),
    )
    assert settings["model_kwargs"] == {**TINY["model_kwargs"]}
    assert settings["milestones"] == [0.75, 0.85] and settings["seed"] == 0
    assert settings["data_root"] is None
    json.dumps(settings)
    arguments = C.baseline_arguments(settings)
    assert arguments["model"] == C.CPU_BASELINE["model"] and arguments["n_train"] == 8
    assert C.baseline_key(settings) == C.baseline_key({**TINY, "sigma": 1.0, "lr": 1e-3})


def test_stored_run_keys_settings_not_execution(tmp_path, monkeypatch):
    monkeypatch.setenv("POSE_HELPERS_RUNS", str(tmp_path))
    calls = []

    def fn(x, threads, progress):
        calls.append((threads, progress))
        return {"y": 2 * x}

    fn.__module__ = baseline_module.__name__  # its STUDY_VERSION keys the record
    assert C.stored_run(fn, "toy", threads=2, progress=True, x=3) == {"y": 6}
    assert C.stored_run(fn, "toy", threads=1, x=3) == {"y": 6}
    assert calls == [(2, True)]
    assert RunStore("toy", baseline_module.STUDY_VERSION, tmp_path).path({"x": 3}).is_file()


def test_sweep_trains_the_baselines_of_missing_points_first(tmp_path, monkeypatch):
    monkeypatch.setenv("POSE_HELPERS_RUNS", str(tmp_path))
    trained, swept = [], []
    monkeypatch.setattr(baseline_module, "train_baseline", lambda **kw: trained.append(kw))
    monkeypatch.setattr(
        baseline_module, "run_sweep", lambda fn, points, **kw: swept.append((points, kw))
    )
    points = C.sweep_points({"l1": [1e-8, 1e-9]}, baseline=TINY, max_epochs=1)
    C.sparsity_sweep(points, workers=3)
    assert trained == [{**TINY, "threads": 3, "progress": True}]  # once for both points
    assert swept == [(points, {"name": C.SPARSITY_STUDY, "workers": 3})]
    store = RunStore(C.SPARSITY_STUDY, sparsity_module.STUDY_VERSION, tmp_path)
    for point in points:
        store.save(point, {"cells": []}, 1.0)
    C.sparsity_sweep(points, workers=3)
    assert len(trained) == 1 and len(swept) == 2  # every point stored: nothing to train


def test_reproduction_table_and_notes():
    thesis = C.thesis_table("l1")
    cells = thesis.assign(sparsity=100 * (1 - thesis["retained"]), diverged=False)
    table = C.reproduction_table(cells, "l1", [1e-7 * (1 + 1e-12), 3e-8])
    assert sorted(set(table["lambda"])) == [3e-8, 1e-7] and len(table) == 6
    view = C.reproduction_view(table)
    assert list(view.columns) == list(C.TABLE_COLUMNS.values())
    assert "(retained × 136.32 MB)" in C.reproduction_caption("5.4", 3)
    assert "at most 3 epochs" in C.reproduction_caption("5.4", 3)

    phone = C.thesis_phone()
    assert phone["dense_s"] > phone["compressed_s"]
    assert phone["speedup"] == pytest.approx(phone["dense_s"] / phone["compressed_s"])
    assert C.thesis_phone_note() == (
        "The thesis's phone: 2.37 s dense, 1.23 s compressed (1.93×), apps of 335 and 146 MB."
    )
    full = {
        "params": 33_999_440,
        "params_m": 33.99944,
        "checkpoint_mb": 136.32,
        "gmacs": 15.0,
        "input_shape": (3, 256, 256),
    }
    cpu = {"params": 136_820, "gmacs": 0.0021, "input_shape": (3, 64, 64)}
    assert C.baseline_cost_note(full, cpu) == (
        "The full-scale network has **33,999,440 parameters** (34.00 M; the thesis: 33.9 M) and a "
        "**136.32 MB** checkpoint (the thesis: 136.3 MB), 15.00 GMACs at 256 × 256. The CPU-scale "
        "model has 136,820 parameters (0.4 % of them) and 0.002 GMACs at 64 × 64."
    )
    assert "it clears the 50 %" in C.baseline_verdict({"table": {"Mean": 62.0}})
    assert C.baseline_verdict({"table": {"Mean": 0.0}}).endswith(
        "it **misses** the 50 % the compression chapters need to measure an accuracy cost "
        "(raise `epochs`, `width` or `input_size`)."
    )
    control = pd.DataFrame(
        {
            "method": ["l1", "l1", "group_lasso"],
            "threshold": [0.01, 0.001, 0.01],
            "retained": [0.656, 0.9, 1.0],
            "pckh": [0.0, 0.0, 0.0],
        }
    )
    assert C.control_note(control) == (
        "Without any penalty, the largest threshold (0.01) leaves 0.656 of the weights at 0.0 % "
        "PCKh (l1 thresholding) and 1.000 of the weights at 0.0 % PCKh (group lasso "
        "thresholding). What the regularizers of the next chapter add must be read against this "
        "control."
    )
    targets = {"thesis's cell": (3e-9, 0.01), "b": (1e-8, 0.001, ["final_layer"])}
    assert C.targets_note(targets) == (
        "Engineered cells: *thesis's cell*: λ = 3e-09, threshold 0.01; *b*: λ = 1e-08, "
        "threshold 0.001."
    )


def test_rank_correlation_is_spearman():
    x = pd.Series([1.0, 2.0, 3.0, 4.0, np.nan])
    assert C.rank_correlation(x, pd.Series([4.0, 3.0, 3.0, 1.0, 0.0])) == pytest.approx(
        -0.9486832980505138
    )
    assert math.isnan(C.rank_correlation(x, pd.Series([1.0, 1.0, 1.0, 1.0, 2.0])))
    assert math.isnan(C.rank_correlation(x[:2], x[:2]))  # too few pairs


# --------------------------------------------------------------------------- curves


def _sweep_cells(method, rows):
    """A cells_table-like frame: rows of (lambda, threshold, statistic, retained, pckh)."""
    return pd.DataFrame(
        [
            {
                "method": method,
                "statistic": stat,
                "lambda": lam,
                "lambda_ours": 10 * lam,
                "threshold": t,
                "sparsity": 100 * (1 - r),
                "retained": r,
                "pckh": p,
                "size_mb": r * 136.32,
                "epochs": 2.0,
                "converged": True,
                "diverged": False,
            }
            for lam, t, stat, r, p in rows
        ]
    )


def test_span_and_extension_reach_both_ends():
    cells = _sweep_cells(
        "l1", [(1e-8, 0.01, "weight", 0.9, 60.0), (1e-7, 0.01, "weight", 0.5, 59.0)]
    )
    reach = C.curves.span(cells, 60.0)
    assert not reach["reaches_top"] and not reach["reaches_bottom"]
    assert C.curves.extension([1e-8, 1e-7], cells, 60.0) == [1e-9, 1e-6]
    collapsed = _sweep_cells(
        "l1", [(1e-9, 0.01, "weight", 0.97, 60.0), (1e-6, 0.01, "weight", 0.3, 39.0)]
    )
    assert C.curves.span(collapsed, 60.0)["collapsed"]  # 21 points below: a collapse
    assert C.curves.extension([1e-9, 1e-6], collapsed, 60.0) == []


def test_choose_reading_prefers_the_thesis_range_and_sweep_table_marks_its_cells():
    thesis = C.thesis_table("group_lasso")
    rows = []
    for lam, t, r in thesis[["lambda", "threshold", "retained"]].itertuples(index=False):
        rows += [(lam, t, "norm", 1.0, 60.0), (lam, t, "rms", r * 1.1, 59.0)]
    rows.append((1e-5, 0.01, "rms", 0.1, 30.0))  # beyond the thesis's range
    cells = _sweep_cells("group_lasso", rows)
    reading = C.choose_reading(cells)
    assert C.chosen_statistic(reading) == "rms"
    assert reading.set_index("statistic").loc["norm", "in_range"] == 0.0
    assert "**rms** reading" in C.reading_note(reading)
    table = C.sweep_table(cells, "group_lasso", sorted(set(thesis["lambda"])))
    assert list(table.columns[:7]) == [
        "lambda",
        "lambda_thesis",
        "statistic",
        "threshold",
        "retained",
        "pckh",
        "epochs",
    ]
    assert (table["lambda"] == 10 * table["lambda_thesis"]).all()  # ours, by the rule
    beyond = table[table["lambda_thesis"] == 1e-5]
    assert not beyond["thesis_cell"].any() and beyond["retained_thesis"].isna().all()
    assert table["thesis_cell"].sum() == 2 * len(thesis)
    text = C.sweep_note(table, "rms", cells.iloc[:0], 60.0)
    assert "spans from ≥ 0.95" not in text and "every run converged" in text


def test_largest_change_compares_with_the_start_then_the_epoch_before():
    reference = {"weight@0.01": 1.0}
    rows = [{"retained": {"weight@0.01": 0.7}}, {"retained": {"weight@0.01": 0.695}}]
    assert sparsity_module.largest_change(rows[:1], reference) == pytest.approx(0.3)
    assert sparsity_module.largest_change(rows, reference) == pytest.approx(0.005)
    assert math.isnan(sparsity_module.largest_change([], reference))


def test_narrower_scales_both_widths_and_validates():
    half = C.narrower(TINY, 0.5)
    assert half["model_kwargs"] == {"width": 4, "deconv_channels": 8, "zero_init_head": True}
    assert C.baseline_key(C.narrower(TINY, 1.0)) == C.baseline_key(TINY)
    with pytest.raises(ValueError, match="factor=0"):
        C.narrower(TINY, 0)
    with pytest.raises(ValueError, match="at least one channel"):
        C.narrower(TINY, 0.01)


def test_redundancy_note_reads_the_seeds_spread():
    table = pd.DataFrame(
        {
            "width_factor": [1.0, 1.0, 0.5, 0.5],
            "seed": [0, 1, 0, 1],
            "params": [100, 100, 30, 30],
            "pckh": [60.0, 59.0, 50.0, 51.0],
        }
    )
    text = C.redundancy_note(table)
    assert "loss of **9.0 points**" in text and "up to 1.0 points" in text
    assert "is not over-provisioned" in text
    close = table.assign(pckh=[60.0, 58.0, 57.5, 56.5])
    assert "at the edge" in C.redundancy_note(close)


def test_regularized_runs_stop_when_converged_and_say_so(cache):
    quiet = C.regularized_run("l1", 1e-12, baseline=TINY, max_epochs=3)
    assert quiet["epochs"] == 1 and quiet["converged"]  # nothing moved: one epoch is enough
    assert set(quiet["history"][0]["retained"]) == {"weight@0.01", "weight@0.001", "weight@0.0001"}
    control = C.regularized_run("l1", 0.0, baseline=TINY, max_epochs=2)
    assert control["epochs"] == 2 and control["converged"]  # as long as the cap, always
    assert {c["statistic"] for c in control["cells"]} == {"weight", "norm", "rms"}
    strict = C.regularized_run("l1", 1e-3, baseline=TINY, max_epochs=2, tolerance=1e-12)
    assert strict["epochs"] == 2 and not strict["converged"] and strict["last_change"] > 0
    table = C.cells_table(pd.DataFrame([{"method": "l1", "lam": 1e-3, **strict}]))
    assert (table["epochs"] == 2).all() and (~table["converged"].astype(bool)).all()


def test_magnitude_pruning_control_cuts_and_fine_tunes(cache, monkeypatch):
    with pytest.raises(ValueError, match="keep=0"):
        C.pruning_controls([0.5, 0], baseline=TINY, finetune_epochs=1)
    record, cut = C.pruning_controls([0.5, 1.0], baseline=TINY, finetune_epochs=1)
    json.dumps(record)
    assert 0.2 < record["retained"] < 0.4  # half the channels: about a quarter of the weights
    assert record["macs"] < record["macs_full"] and len(record["history"]) == 1
    assert set(record["keep_ratios"].values()) == {0.5}
    assert cut["retained"] == 1.0 and cut["params"] == cut["params_full"]
    _no_training(monkeypatch)
    assert C.pruning_controls([0.5], baseline=TINY, finetune_epochs=1) == [record]


def test_group_magnitude_control_reaches_the_retained_fraction(cache):
    net = C.create_baseline_model(C.baseline_arguments(TINY))
    zeroed = C.controls.prune_smallest_groups(net, 0.6)
    reached = R.sparsity_report(net)["retained"]
    assert zeroed > 0 and reached <= 0.6
    record = C.group_magnitude_run(0.6, baseline=TINY, epochs=1)
    json.dumps(record)
    assert record["retained_reached"] <= 0.6 and len(record["history"]) == 1
    model = C.create_baseline_model(C.baseline_arguments(TINY))
    state = torch.load(C.checkpoint_folder() / record["checkpoint"], weights_only=True)
    model.load_state_dict(state["model"])
    assert R.sparsity_report(model)["retained"] == pytest.approx(record["retained_reached"])


def test_head_to_head_reads_the_chapters_tables_and_compares_with_the_controls(tmp_path):
    with pytest.raises(FileNotFoundError, match="compression_sparsity"):
        C.head_to_head(baseline_pckh=60.0, pruning=[], narrower=pd.DataFrame(), results=tmp_path)
    record = {
        "lam": 1e-6,
        "threshold": 0.01,
        "params": 100,
        "retained": 0.5,
        "pckh_after": 59.0,
        "history": [{}, {}],
        "keep_ratios": {"layer1.internal": 0.5, "deconv0": 1.0},
        "key": "0123456789abcdef",
    }
    models = C.engineered_models_table({"sparsest": record}, "group_lasso")
    assert list(models.columns[-3:]) == ["keep_deconv0", "keep_layer1.internal", "key"]
    assert models.loc[0, "key"] == "0123456789abcdef"  # how the deployment chapter finds it
    assert models.loc[0, "finetune_epochs"] == 2 and models.loc[0, "pckh"] == 59.0
    table = pd.DataFrame(
        {
            "method": ["baseline", "l1", "group_lasso", "torch_pruning", "narrower"],
            "setting": ["dense", "a", "b", "keep 0.5", "width × 0.5"],
            "params": [100, 30, 60, 30, 25],
            "macs": [1000, 1000, 700, 300, 260],
            "retained": [1.0, 0.3, 0.6, 0.3, 0.25],
            "pckh": [60.0, 59.0, 58.5, 57.0, 55.0],
            "finetune_epochs": [0, 3, 2, 3, 0],
            "latency_ms": [100.0, 100.0, 80.0, 40.0, 35.0],
            "latency_p10_ms": [95.0] * 5,
            "latency_p90_ms": [105.0] * 5,
            "speedup": [1.0, 1.0, 1.25, 2.5, 2.9],
            "latency_pytorch_ms": [200.0] * 5,
            "speedup_pytorch": [1.0] * 5,
        }
    )
    note = C.head_to_head_note(table, 2.0, noise=1.0)
    assert "fastest model at full scale is **group_lasso**" in note
    assert "**l1** (a) keeps 1.00 of the dense MACs at 59.0 %" in note
    assert "+1.5 points (seed noise ±1.0), the method beats it" in note  # GL vs pruning
    assert "No model of bayesian" in note
    compared = C.against_controls(table).set_index("method")
    assert compared.loc["l1", "cuts"] is False or not compared.loc["l1", "cuts"]
    assert compared.loc["group_lasso", "control"] == "torch_pruning (keep 0.5)"
    assert C.plot_head_to_head(table) is not None


def test_the_proximal_group_lasso_prunes_where_the_penalty_cannot(cache):
    kwargs = dict(baseline=TINY, max_epochs=2, lambda_factor=1.0)
    prox = C.regularized_run("group_lasso", 1e-2, step="proximal", **kwargs)
    plain = C.regularized_run("group_lasso", 1e-2, **kwargs)
    assert prox["key"] != plain["key"]
    kept = {c["statistic"]: c["retained"] for c in prox["cells"] if c["threshold"] == 0.0001}
    assert kept["norm"] < 1  # exact zeros: whole groups are gone at the smallest threshold
    assert math.isfinite(prox["penalty_change"])
    with pytest.raises(ValueError, match="step"):
        C.regularized_run("l1", 1e-8, step="sgd", **kwargs)
