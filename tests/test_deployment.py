"""The deployment study: designs, fronts, decoders, filters and the choices they make."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pose_helpers.cost import deploy
from pose_helpers.studies import deployment as dep


def test_check_designs_rejects_bad_designs_before_work():
    assert dep.check_designs([[256, 3], (64, 2)]) == [(256, 3), (64, 2)]
    for bad in ([], [[256]], [[0, 3]], [[256, 4]], [[256, 3], [256, 3]]):
        with pytest.raises(ValueError):
            dep.check_designs(bad)


def test_cpu_channels_scale_like_the_baseline_head():
    baseline = {"model_kwargs": {"width": 16, "deconv_channels": 64, "zero_init_head": True}}
    assert [dep.cpu_channels(c, baseline) for c in (256, 128, 64, 32, 1)] == [64, 32, 16, 8, 1]


def test_pareto_keeps_only_unbeaten_points():
    latency = [10, 20, 30, 15, np.nan]
    score = [50, 60, 55, 50, 99]
    assert dep.pareto(latency, score).tolist() == [True, True, False, False, False]
    # lower is better (an error): the slow, worse point is beaten
    assert dep.pareto([1, 2], [5.0, 6.0], higher_is_better=False).tolist() == [True, False]


def _heads(changes, speedups):
    rows = [
        {
            "design": "256 × 3",
            "deconv_channels": 256,
            "num_deconv": 3,
            "head_params_share": 0.3,
            "head_macs_share": 0.6,
            "latency_ms": 100.0,
            "speedup": 1.0,
            "pckh": 60.0,
            "pckh_change": 0.0,
        }
    ]
    for i, (change, speedup) in enumerate(zip(changes, speedups, strict=True)):
        rows.append(
            {
                "design": f"{128 >> i} × 3",
                "deconv_channels": 128 >> i,
                "num_deconv": 3,
                "head_params_share": 0.1,
                "head_macs_share": 0.2,
                "latency_ms": 100.0 / speedup,
                "speedup": speedup,
                "pckh": 60.0 + change,
                "pckh_change": change,
            }
        )
    return pd.DataFrame(rows)


def test_heads_note_names_the_fastest_design_within_noise_and_those_beyond():
    note = dep.heads_note(_heads([-0.5, -3.0], [1.5, 2.5]), noise=1.0)
    assert "60 % of the multiply-accumulates" in note
    assert "**128 × 3**: 1.50×" in note
    assert "64 × 3 (-3.00 points, 2.50×)" in note


def _outputs(n=20, j=16, size=16, shift=0.3, seed=0):
    """Gaussian heatmaps whose peaks sit ``shift`` px off the pixel grid, and their truth."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(3, size - 4, (n, j, 2)) + shift
    yy, xx = np.mgrid[0:size, 0:size]
    hm = np.exp(
        -((xx - centres[..., 0, None, None]) ** 2 + (yy - centres[..., 1, None, None]) ** 2) / 2
    )
    scale = 4.0  # 64-px input, 16-px heatmaps
    return {
        "heatmaps": hm.astype(np.float32),
        "gt": centres * scale,
        "head_size": np.full(n, 2.0),  # a tight threshold: 1 px of input
        "visible": np.ones((n, j), dtype=bool),
        "input_size": np.array([64, 64]),
    }


def test_dark_recovers_sub_pixel_peaks_the_quarter_shift_misses():
    out = _outputs()
    quarter, dark = dep.heatmap_pckh(out, "quarter"), dep.heatmap_pckh(out, "dark")
    assert dark == pytest.approx(100.0)
    assert quarter < dark
    score = {"heatmap_size": "16 × 16", "pckh_quarter": quarter, "pckh_dark": dark}
    table = dep.decoding_table({"m": score})
    assert table["dark_change"].iloc[0] == pytest.approx(dark - quarter)
    with pytest.raises(ValueError):
        dep.heatmap_pckh(out, "soft-argmax")


def _sequences(n_rec=3, frames=40, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None, None] / 10.0
    truth = np.concatenate([np.sin(t + k) * 10 + np.zeros((frames, 19, 3)) for k in range(n_rec)])
    pred = truth + rng.normal(0, noise, truth.shape)
    return {"pred": pred, "labels": truth, "starts": np.arange(0, n_rec * frames, frames)}


def test_the_filter_is_chosen_on_validation_and_lowers_jitter_on_test():
    valid, test = _sequences(seed=0), _sequences(seed=1)
    grid = dep.filter_grid(valid, [0.3, 1.0, 3.0], [0.0, 0.01], fps=10.0, split="validate")
    choice = dep.choose_filter(grid)
    table = dep.smoothing_table(grid, test, choice, fps=10.0)
    rows = table[table["split"] == "test"]
    raw, done = rows.iloc[0], rows.iloc[1]
    assert done["jitter"] < raw["jitter"] and done["mae_cm"] < raw["mae_cm"]
    assert "Chosen on the validation recordings" in dep.smoothing_note(table)
    with pytest.raises(ValueError, match="validate"):
        dep.choose_filter(grid.assign(split="test"))


def test_chosen_window_reads_the_validation_choice_only():
    selection = pd.DataFrame(
        {
            "choice": ["window", "window"],
            "dataset": ["mars", "sim"],
            "split": ["validation", "validation"],
            "value": [4, 2],
        }
    )
    assert dep.chosen_window(selection, "mars") == 4
    with pytest.raises(ValueError):
        dep.chosen_window(selection.assign(split="test"), "mars")


def test_best_engineered_needs_a_cut_within_the_budget():
    table = pd.DataFrame(
        {"retained": [1.0, 0.56, 0.13], "pckh": [59.0, 58.5, 54.5], "label": ["a", "b", "c"]}
    )
    assert dep.best_engineered(table, 59.35, 2.0)["label"] == "b"
    assert dep.best_engineered(table, 62.0, 2.0) is None


def test_frontier_anchors_ratios_and_marks_each_familys_front():
    h2h = pd.DataFrame(
        {
            "method": ["baseline", "narrower"],
            "setting": ["dense", "width × 0.5, trained from scratch"],
            "speedup": [1.0, 3.0],
            "pckh": [59.0, 46.0],
        }
    )
    mmwave = pd.DataFrame(
        {
            "config": ["baseline", "impr_small"],
            "dataset": ["mars", "mars"],
            "runtime": ["onnxruntime", "onnxruntime"],
            "batch": [1, 1],
            "latency_ms": [0.2, 0.1],
            "mae_cm": [5.2, 7.0],
        }
    )
    distill = pd.DataFrame({"width_factor": [0.5], "alpha": [0.5], "distilled": [50.0]})
    table = dep.frontier_points(
        dense_ms=90.0, head_to_head=h2h, distillation=distill, mmwave=mmwave
    )
    sb = table[table["family"].str.startswith("Simple Baselines")]
    assert sb["latency_ms"].tolist() == pytest.approx([90.0, 30.0, 30.0])
    # the distilled student beats the plain one at the same speed: the plain one is off the front
    assert sb["pareto"].tolist() == [True, False, True]
    assert table[table["metric"] == "MAE (cm)"]["pareto"].tolist() == [True, True]
    note = dep.shipping_note(table, [50.0, 10.0], reference=dep.family_references(table))
    assert "distilled" in note and "-9.0 points" in note and "nothing fits" in note


def test_shipping_note_names_what_the_timing_spread_could_swap():
    table = dep.frontier_points(
        dense_ms=100.0,
        head_to_head=pd.DataFrame(
            {
                "method": ["baseline", "torch_pruning", "narrower"],
                "setting": ["dense", "keep 0.35", "width × 0.35, trained from scratch"],
                "speedup": [1.0, 100 / 28.2, 100 / 30.1],
                "pckh": [59.0, 21.5, 42.9],
            }
        ),
    )
    refs = dep.family_references(table)
    plain = dep.shipping_note(table, [30.0], reference=refs)
    assert "keep 0.35" in plain and "timing noise" not in plain
    noisy = dep.shipping_note(table, [30.0], reference=refs, spread=0.046)
    assert "±4.6 %" in noisy and "width × 0.35" in noisy and "timing noise" in noisy
    # a budget far from every model: the spread changes nothing
    assert dep.shipping_note(table, [200.0], reference=refs, spread=0.046).count("ship") == 1
    assert "timing noise" not in dep.shipping_note(table, [200.0], reference=refs, spread=0.046)


def test_timing_spread_is_the_dense_files_larger_side():
    table = pd.DataFrame(
        {
            "model": ["dense", "dense"],
            "format": ["fp32", "int8_static"],
            "threads": [1, 1],
            "latency_ms": [200.0, 160.0],
            "latency_p10_ms": [194.0, 150.0],
            "latency_p90_ms": [210.0, 170.0],
        }
    )
    assert dep.timing_spread(table) == pytest.approx(0.05)


def test_engineered_model_is_found_by_its_key_or_named_missing(tmp_path, monkeypatch):
    from pose_helpers.core.store import RunStore
    from pose_helpers.studies.compression import baseline as compression_baseline
    from pose_helpers.studies.compression import engineering
    from pose_helpers.studies.compression.engineering import ENGINEERED_STUDY

    monkeypatch.setenv("POSE_HELPERS_RUNS", str(tmp_path))
    RunStore(ENGINEERED_STUDY, version=1).save(
        {"lam": 1e-6}, {"key": "abc", "checkpoint": "engineered-abc.pt"}, seconds=1.0
    )
    row = {"key": "other", "method": "group_lasso", "lambda": 1e-6, "threshold": 0.01}
    with pytest.raises(FileNotFoundError, match="no stored engineering other"):
        dep.engineered_cpu_model(row, {})
    # found by its key, its checkpoint missing (a fresh clone): engineered again from the
    # record's settings as its chapter computed it (the baseline first, on the chapter's
    # threads; the regularized run on a sweep worker's one thread), then loaded
    computed, loads, baselines = [], [], []

    def load(record, baseline):
        loads.append(record["checkpoint"])
        if len(loads) == 1:
            raise FileNotFoundError(record["checkpoint"])
        return "model"

    monkeypatch.setattr(engineering, "load_engineered_model", load)
    monkeypatch.setattr(engineering, "engineered_run", lambda **kw: computed.append(kw))
    monkeypatch.setattr(
        compression_baseline, "load_baseline", lambda b, **kw: baselines.append((b, kw))
    )
    model = dep.engineered_cpu_model({**row, "key": "abc"}, {"width": 4}, threads=2)
    assert model == "model"
    assert loads == ["engineered-abc.pt", "engineered-abc.pt"]
    assert baselines == [({"width": 4}, {"threads": 2, "progress": True})]
    assert computed == [{"lam": 1e-6, "threads": 2, "regularized_threads": 1, "progress": True}]


def test_dense_latency_needs_its_row():
    table = pd.DataFrame(
        {"model": ["dense"], "format": ["fp32"], "threads": [1], "latency_ms": [70.0]}
    )
    assert dep.dense_latency(table) == 70.0
    with pytest.raises(ValueError):
        dep.dense_latency(table, threads=2)


def test_format_files_marks_what_the_tools_cannot_do_and_scores_each_format(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 2, 1)
    ).eval()
    calib = [
        np.random.default_rng(i).standard_normal((1, 3, 16, 16)).astype(np.float32)
        for i in range(4)
    ]
    files = dep.format_files(net, tmp_path, (3, 16, 16), calib)
    assert set(files) == set(dep.FORMATS)
    for fmt, (path, note) in files.items():
        assert (path is not None) != bool(note), fmt
    out = dep.ort_outputs(deploy.ort_session(files["fp32"][0], threads=1), np.concatenate(calib))
    with torch.no_grad():
        expected = net(torch.from_numpy(np.concatenate(calib))).numpy()
    assert np.allclose(out, expected, atol=1e-5)
    timings = dep.interleaved_ort({"fp32": files["fp32"][0]}, (3, 16, 16), repeats=1, rounds=1)
    assert math.isfinite(timings["fp32"].median_ms)


def test_quantization_table_times_full_scale_files_beside_the_stored_scores(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)

    def net(width):
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, width, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(width, 2, 1)
        ).eval()

    full = {"dense": net(8), "cut": net(4)}
    scores = {
        name: {
            "format_scores": {
                "fp32": {"pckh": pckh, "note": ""},
                "int8_static": {"pckh": pckh - 1.0, "note": ""},
            }
        }
        for name, pckh in (("dense", 60.0), ("cut", 58.0))
    }
    calib = [np.zeros((1, 3, 16, 16), dtype=np.float32)]
    table = dep.quantization_table(
        full,
        scores,
        full_calibration=calib,
        full_size=16,
        threads=[1],
        repeats=1,
        rounds=1,
        formats=["fp32", "int8_static"],
        folder=tmp_path,
    )
    assert table[["model", "format"]].values.tolist() == [
        ["dense", "fp32"],
        ["dense", "int8_static"],
        ["cut", "fp32"],
        ["cut", "int8_static"],
    ]
    assert table["pckh"].tolist() == [60.0, 59.0, 58.0, 57.0]
    assert table["pckh_change"].tolist() == [0.0, -1.0, 0.0, -1.0]
    assert table.loc[0, "speedup"] == pytest.approx(1.0)
    assert table["latency_ms"].gt(0).all() and table["supported"].all()
    with pytest.raises(ValueError, match="differ"):
        dep.quantization_table(
            {"dense": full["dense"]}, scores, full_calibration=calib, full_size=16
        )
    with pytest.raises(ValueError, match="lack formats"):
        dep.quantization_table(full, scores, full_calibration=calib, full_size=16, formats=["fp16"])


def test_deployed_models_name_the_engineering_only_where_the_store_holds_it(tmp_path, monkeypatch):
    from pose_helpers.core.store import RunStore
    from pose_helpers.studies.compression.engineering import ENGINEERED_STUDY

    monkeypatch.setenv("POSE_HELPERS_RUNS", str(tmp_path))
    engineered = pd.DataFrame(
        {
            "label": ["cut"],
            "method": ["group_lasso"],
            "lambda": [1e-6],
            "threshold": [0.01],
            "retained": [0.5],
            "pckh": [58.0],
            "finetune_epochs": [2],
            "keep_layer1.internal": [0.5],
            "key": ["abc"],
        }
    )
    kwargs = {
        "baseline_pckh": 59.0,
        "max_drop": 2.0,
        "full_kwargs": {"width": 4, "deconv_channels": 8},
        "full_size": 32,
    }
    models, full, note = dep.deployed_models({}, engineered, **kwargs)
    assert models == {"dense": None} and list(full) == ["dense"]
    assert "not in the run store" in note and "no stored engineering abc" in note
    RunStore(ENGINEERED_STUDY, version=1).save(
        {"lam": 1e-6}, {"key": "abc", "checkpoint": "engineered-abc.pt"}, seconds=1.0
    )
    models, full, note = dep.deployed_models({}, engineered, **kwargs)
    name = "group lasso λ_thesis 1e-06"
    assert models == {
        "dense": None,
        name: {"key": "abc", "method": "group_lasso", "lambda": 1e-6, "threshold": 0.01},
    }
    assert list(full) == ["dense", name] and note.startswith("Deployed beside the dense model")
