"""mmWave study: models, MARS loading and windows, metrics, the training run and the tables."""

from __future__ import annotations

import inspect
import json
import math
import pickle

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from pose_helpers.chapters import verdicts
from pose_helpers.chapters.references import SEEDS_DIR
from pose_helpers.core import sweep
from pose_helpers.data import mars
from pose_helpers.metrics import radar as radar_metrics
from pose_helpers.models.mmwave import CONFIGS, MarsCNN, RadarPoseNet
from pose_helpers.models.registry import create_model, list_models, model_cfg
from pose_helpers.studies import mmwave
from pose_helpers.studies.mmwave import radar_costs as mmwave_costs
from pose_helpers.studies.mmwave import radar_runs as mmwave_runs

matplotlib.use("Agg")

NAMES = [f"mmwave_{c}" for c in CONFIGS] + ["mmwave_mars_cnn"]
TINY = dict(dataset="sim", epochs=1, batch_size=32, n_train=96, n_valid=48, n_test=120, window=2)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("POSE_HELPERS_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)


# --------------------------------------------------------------------------- models


def test_configs_are_the_poster_table():
    path = SEEDS_DIR / "tables" / "mmwave_configs.csv"
    if not path.is_file():
        pytest.skip("seed table mmwave_configs.csv is absent")
    table = pd.read_csv(path, dtype={"model_name": str})
    printed = {
        row.model_name: (
            (row.feat_extr_layer1_size, row.feat_extr_layer2_size, row.feat_extr_layer3_size),
            row.rec_layer_size,
            row.reg_head_size,
        )
        for row in table.itertuples(index=False)
    }
    assert printed == CONFIGS
    assert list_models("mmwave_*") == sorted(NAMES)
    assert model_cfg("mmwave_baseline").input_size == (8, 8)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("frames", [1, 4])
def test_output_shape(name, frames):
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(torch.rand(3, frames, 8, 8, 5))
    assert out.shape == (3, 57) and torch.isfinite(out).all()


def test_baseline_parameter_count_by_hand():
    convs = 5 * 32 * 9 + 32 * 48 * 9 + 48 * 64 * 9  # no conv bias: BN follows
    norms = 2 * (32 + 48 + 64)
    gru = 3 * 64 * (64 * 8 * 8) + 3 * 64 * 64 + 2 * 3 * 64  # input, hidden, two biases
    head = 64 * 128 + 128 + 128 * 57 + 57
    expected = convs + norms + gru + head
    assert expected == 857_977
    assert sum(p.numel() for p in create_model("mmwave_baseline").parameters()) == expected
    lstm = create_model("mmwave_baseline", cell="lstm")
    assert sum(p.numel() for p in lstm.parameters()) == expected + (4 - 3) * gru // 3


def test_mars_cnn_parameter_count_by_hand():
    expected = (5 * 16 * 9 + 16) + (16 * 32 * 9 + 32) + 2 * 32 + (2048 * 512 + 512)
    expected += 2 * 512 + 512 * 57 + 57
    assert sum(p.numel() for p in create_model("mmwave_mars_cnn").parameters()) == expected


def test_smaller_components_have_fewer_parameters():
    def count(name):
        return sum(p.numel() for p in create_model(f"mmwave_{name}").parameters())

    for component in ("feat", "rec", "head"):
        counts = [count(f"{f}_{component}") for f in ("0125", "0250")]
        counts += [count("baseline"), count(f"2000_{component}")]
        assert counts == sorted(counts) and len(set(counts)) == 4, component
    assert count("impr_small") < count("impr_medium") < count("impr_large") < count("baseline")


@pytest.mark.parametrize(
    "shape", [(2, 8, 8, 5), (2, 3, 8, 8, 4), (2, 3, 64, 5), (2, 0, 8, 8, 5), (2, 3, 5, 8, 8)]
)
def test_wrong_shape_names_the_expected_shape(shape):
    model = create_model("mmwave_baseline")
    with pytest.raises(ValueError, match=r"\(B, T, 8, 8, 5\)"):
        model(torch.zeros(shape))


@pytest.mark.parametrize("name", ["mmwave_baseline", "mmwave_mars_cnn"])
def test_nan_input_is_refused(name):
    x = torch.rand(2, 3, 8, 8, 5)
    x[1, 2, 0, 0, 1] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        create_model(name).eval()(x)


def test_empty_frames_are_fine():
    model = create_model("mmwave_baseline").eval()
    x = torch.zeros(2, 4, 8, 8, 5)  # window 0: no radar points at all
    x[1, :2, 0, :3] = torch.tensor([0.1, 2.0, 0.3, 0.36, 20.0])  # window 1: two empty frames
    with torch.no_grad():
        out = model(x)
    assert torch.isfinite(out).all()
    model.train()  # and in training mode, with batch statistics
    model(x).square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_recurrent_model_uses_earlier_frames_and_mars_cnn_only_the_last():
    x = torch.rand(1, 4, 8, 8, 5)
    changed = x.clone()
    changed[:, 0] += 1.0
    radar, cnn = create_model("mmwave_baseline").eval(), create_model("mmwave_mars_cnn").eval()
    with torch.no_grad():
        assert not torch.allclose(radar(x), radar(changed))
        torch.testing.assert_close(cnn(x), cnn(changed))
        torch.testing.assert_close(cnn(x), cnn(x[:, -1:]))


def test_label_stats_map_outputs_to_metres():
    model = create_model("mmwave_impr_small").eval()
    x = torch.rand(2, 3, 8, 8, 5)
    with torch.no_grad():
        raw = model(x)
        model.set_label_stats(np.arange(57.0), 2.0)
        torch.testing.assert_close(model(x), 2 * raw + torch.arange(57.0))
    assert "output_scale.label_mean" in model.state_dict()
    with pytest.raises(ValueError, match="57 means"):
        model.set_label_stats(np.zeros(56), 1.0)


def test_model_arguments_are_checked():
    with pytest.raises(ValueError, match="cell="):
        RadarPoseNet(cell="rnn")
    with pytest.raises(ValueError, match="3 positive conv widths"):
        RadarPoseNet(feat=(8, 8))
    assert isinstance(create_model("mmwave_mars_cnn"), MarsCNN)


# --------------------------------------------------------------------------- MARS data


def _index(rows):
    return pd.DataFrame(rows, columns=["subject", "movement", "frame"])


def test_window_indices_pad_at_sequence_starts_and_respect_boundaries():
    index = _index([(1, 1, 0), (1, 1, 1), (1, 1, 3), (1, 2, 0), (1, 2, 1), (2, 2, 1), (2, 2, 0)])
    rows = mars.window_indices(index, 3)
    expected = [[0, 0, 0], [0, 0, 1], [0, 1, 2], [3, 3, 3], [3, 3, 4], [5, 5, 5], [6, 6, 6]]
    np.testing.assert_array_equal(rows, expected)  # a frame gap (1 -> 3) does not split
    np.testing.assert_array_equal(mars.window_indices(index, 1), np.arange(7)[:, None])
    with pytest.raises(ValueError, match="window"):
        mars.window_indices(index, 0)


def test_windows_and_dataset_agree():
    features = np.arange(4 * 320, dtype=np.float32).reshape(4, 8, 8, 5)
    labels = np.arange(4 * 57, dtype=np.float32).reshape(4, 57)
    index = _index([(1, 1, 0), (1, 1, 1), (1, 2, 0), (1, 2, 1)])
    x, y = mars.windows(features, labels, index, 2)
    assert x.shape == (4, 2, 8, 8, 5)
    np.testing.assert_array_equal(x[2, 0], features[2])  # padded: sequence 2 starts at row 2
    np.testing.assert_array_equal(x[3], features[2:4])
    data = mars.RadarWindows(features, labels, index, 2)
    window, label = data[3]
    assert len(data) == 4 and window.shape == (2, 8, 8, 5)
    np.testing.assert_array_equal(window.numpy(), x[3])
    np.testing.assert_array_equal(label.numpy(), y[3])
    with pytest.raises(ValueError, match="differ in length"):
        mars.RadarWindows(features[:3], labels, index, 2)


def test_load_split_without_data_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="mars/feature"):
        mars.load_split("train", tmp_path)
    with pytest.raises(ValueError, match="split="):
        mars.load_split("valid", tmp_path)


def _fake_mars(root, n=5, rows=None, labels_shape=None):
    folder = root / "mars" / "feature"
    folder.mkdir(parents=True)
    np.save(folder / "featuremap_test.npy", np.zeros((n, 8, 8, 5), np.float32))
    np.save(folder / "labels_test.npy", np.zeros(labels_shape or (n, 57), np.float32))
    index = _index([(1, 1, i) for i in range(n if rows is None else rows)])
    index.to_csv(folder / "index_test.csv", index=False)
    return folder


def test_load_split_reads_a_well_formed_folder(tmp_path):
    _fake_mars(tmp_path)
    features, labels, index = mars.load_split("test", tmp_path)
    assert features.shape == (5, 8, 8, 5) and labels.shape == (5, 57)
    assert list(index.columns) == ["subject", "movement", "frame"]
    assert mars.load_split("test", tmp_path / "mars")[0].shape == (5, 8, 8, 5)  # mars folder too


@pytest.mark.parametrize(
    ("kwargs", "file"),
    [
        ({"labels_shape": (5, 56)}, "labels_test.npy"),
        ({"rows": 4}, "index_test.csv"),
        ({"corrupt": True}, "featuremap_test.npy"),
    ],
)
def test_load_split_names_the_bad_file(tmp_path, kwargs, file):
    corrupt = kwargs.pop("corrupt", False)
    folder = _fake_mars(tmp_path, **kwargs)
    if corrupt:
        (folder / "featuremap_test.npy").write_bytes(b"not a numpy file")
    with pytest.raises(ValueError, match=file):
        mars.load_split("test", tmp_path)


@pytest.mark.real_data
def test_real_mars_splits(mars_root):
    sizes = {"train": 14_365, "validate": 8_033, "test": 7_984}
    for split, n in sizes.items():
        features, labels, index = mars.load_split(split, mars_root)
        assert features.shape == (n, 8, 8, 5) and features.dtype == np.float32
        assert labels.shape == (n, 57) and len(index) == n
        # the label layout: x then y (depth, 1-2.5 m) then z; heads above ankles
        assert 1.0 < labels[:, 19:38].mean() < 2.5
        assert (labels[:, 38 + 3] > labels[:, 38 + 12]).mean() > 0.99
    rows = mars.window_indices(index, 4)
    keys = index[["subject", "movement"]].to_numpy()
    assert (keys[rows] == keys[:, None, :]).all()  # no window crosses a sequence boundary
    assert (np.diff(rows, axis=1) >= 0).all() and (rows[:, -1] == np.arange(len(index))).all()


# --------------------------------------------------------------------------- metrics


def test_metrics_against_a_hand_computation():
    target = np.zeros((2, 57))
    pred = np.zeros((2, 57))
    pred[0, :19], pred[1, :19] = 0.01, 0.03  # x errors: 1 cm, then 3 cm
    pred[:, 38:] = -0.02  # z errors: 2 cm
    pred[0, 38] = 0.0  # ... except joint 0 of frame 0
    mae = radar_metrics.mae_cm(pred, target)
    assert mae["x"] == pytest.approx(2.0) and mae["y"] == 0.0
    assert mae["z"] == pytest.approx((37 * 2) / 38)
    assert mae["mean"] == pytest.approx((2.0 + 0.0 + 74 / 38) / 3)
    rmse = radar_metrics.rmse_cm(pred, target)
    assert rmse["x"] == pytest.approx(math.sqrt((1 + 9) / 2))
    assert rmse["z"] == pytest.approx((math.sqrt(2) + 18 * 2) / 19)  # per joint, then mean
    per_joint = radar_metrics.per_joint_cm(pred, target)
    assert per_joint[0] == pytest.approx((1 + math.sqrt(9 + 4)) / 2)
    assert per_joint[5] == pytest.approx((math.sqrt(5) + math.sqrt(13)) / 2)
    summary = radar_metrics.summary(pred, target)
    assert summary["mpjpe_cm"] == pytest.approx(per_joint.mean())
    assert len(summary["per_joint_cm"]) == 19
    json.dumps(summary)


def test_metrics_refuse_bad_input():
    with pytest.raises(ValueError, match=r"\(N, 57\)"):
        radar_metrics.mae_cm(np.zeros((2, 54)), np.zeros((2, 54)))
    with pytest.raises(ValueError, match="differs"):
        radar_metrics.mae_cm(np.zeros((2, 57)), np.zeros((3, 57)))
    bad = np.zeros((2, 57))
    bad[0, 0] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        radar_metrics.summary(bad, np.zeros((2, 57)))


# --------------------------------------------------------------------------- runs


def test_radar_run_returns_a_record_then_the_cache(monkeypatch):
    first = mmwave.radar_run("impr_small", **TINY)
    json.dumps(first)
    assert first["epochs_run"] == 1 and len(first["history"]) == 1 and not first["diverged"]
    assert first["params"] == 27_545 and first["n_train_frames"] == 96
    assert first["n_test_frames"] == 120
    assert 0 < first["mae_cm"] < 100 and len(first["per_joint_cm"]) == 19
    arguments = set(inspect.signature(mmwave.radar_run).parameters)
    assert not set(first) & arguments, "a record key would shadow a sweep grid column"

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(mmwave_runs, "_train_epoch", no_training)
    again = mmwave.radar_run("mmwave_impr_small", **TINY)
    assert again["epochs_run"] == 0 and again["key"] == first["key"]
    assert again["mae_cm"] == first["mae_cm"] and again["history"] == first["history"]
    with pytest.raises(AssertionError, match="trained again"):
        mmwave.radar_run("impr_small", **{**TINY, "seed": 1})


def test_a_distilled_radar_run_trains_on_its_teachers_blend_and_keeps_plain_keys():
    plain = mmwave.radar_run("impr_small", **TINY)
    taught = mmwave.radar_run("impr_small", **TINY, teacher="0125_head", alpha=0.5)
    assert taught["key"] != plain["key"] and taught["epochs_run"] == 1
    assert taught["mae_cm"] != plain["mae_cm"]  # the same seed, other targets
    # the plain run's key is what it was before teachers existed (stored runs stay valid)
    assert mmwave.radar_run("impr_small", **TINY)["key"] == plain["key"]
    with pytest.raises(ValueError, match="alpha"):
        mmwave.radar_run("impr_small", **TINY, teacher="0125_head", alpha=0.0)


def test_radar_run_resumes_after_an_interruption(monkeypatch):
    real = mmwave_runs._train_epoch
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(mmwave_runs, "_train_epoch", interrupted)
    settings = {**TINY, "epochs": 2}
    with pytest.raises(KeyboardInterrupt):
        mmwave.radar_run("impr_small", **settings)
    monkeypatch.setattr(mmwave_runs, "_train_epoch", real)
    record = mmwave.radar_run("impr_small", **settings)
    assert record["epochs_run"] == 1 and [h["epoch"] for h in record["history"]] == [1, 2]


def test_a_damaged_radar_checkpoint_is_moved_aside_and_trained_again():
    from pathlib import Path

    from pose_helpers.core.io import CorruptFileWarning

    first = mmwave.radar_run("impr_small", **TINY)
    path = Path(first["checkpoint"])
    cut = path.read_bytes()[: path.stat().st_size // 3]
    path.write_bytes(cut)  # was a bare "OSError: [Errno 22]" or a zip error, naming no file
    with pytest.warns(CorruptFileWarning, match=rf"{path.name} does not load.*\.corrupt,"):
        again = mmwave.radar_run("impr_small", **TINY)
    assert again["epochs_run"] == 1 and again["key"] == first["key"]  # trained again
    assert again["mae_cm"] == pytest.approx(first["mae_cm"])
    assert path.with_name(f"{path.name}.corrupt").read_bytes() == cut
    assert mmwave.radar_run("impr_small", **TINY)["epochs_run"] == 0  # the new one is read


def test_radar_run_marks_divergence(monkeypatch):
    monkeypatch.setattr(mmwave_runs, "_train_epoch", lambda *args, **kwargs: math.nan)
    record = mmwave.radar_run("impr_small", **TINY)
    assert record["diverged"] and math.isnan(record["mae_cm"])
    json.dumps(record)


def test_radar_run_stops_early_and_scores_its_best_validation_epoch(monkeypatch):
    # Validation MAE 5, 4, 6, 7, ...: the best epoch is 2, and patience 2 stops after epoch 4.
    scores = iter([5.0, 4.0, 6.0, 7.0, 8.0, 9.0])
    monkeypatch.setattr(radar_metrics, "mae_cm", lambda *a, **k: {"mean": next(scores)})
    settings = {**TINY, "score_test": False}
    record = mmwave.radar_run("impr_small", **{**settings, "epochs": 6, "patience": 2})
    assert record["epochs_trained"] == 4 and record["best_epoch"] == 2
    assert record["best_val_mae_cm"] == 4.0 and record["converged"]
    capped = mmwave.radar_run("impr_small", **{**settings, "epochs": 1, "patience": 2, "seed": 3})
    assert capped["epochs_trained"] == 1 and not capped["converged"]


def test_selection_never_reads_the_test_split(monkeypatch):
    real = mmwave_runs.load_dataset

    def guarded(dataset, split, data_root=None):
        if split == "test":
            raise AssertionError("selection read the test split")
        return real(dataset, split, data_root)

    monkeypatch.setattr(mmwave_runs, "load_dataset", guarded)
    settings = {k: v for k, v in TINY.items() if k not in ("dataset", "n_test")}
    points = mmwave.window_grid("sim", [1, 2], seed=0, **settings)
    window_runs = pd.DataFrame([{**p, **mmwave.radar_run(**p)} for p in points])
    assert window_runs["mae_cm"].isna().all()
    assert mmwave.choose_window(window_runs) in (1, 2)
    with pytest.raises(AssertionError, match="test split"):
        mmwave.radar_run("impr_small", **TINY)
    with pytest.raises(ValueError, match="validation"):
        mmwave.choose_window(window_runs, metric="mae_cm")
    runs = window_runs.assign(config="baseline")
    table = mmwave.selection_table(window_runs, runs)
    assert set(table["split"]) == {"validation"} and list(table["choice"])[0] == "window"
    assert set(table.columns) >= {"choice", "value", "split", "metric"}


def test_radar_run_checks_its_arguments():
    with pytest.raises(ValueError, match="config="):
        mmwave.radar_run("tiny", **TINY)
    with pytest.raises(ValueError, match="dataset="):
        mmwave.radar_run("baseline", **{**TINY, "dataset": "coco"})
    with pytest.raises(ValueError, match="lr"):
        mmwave.radar_run("baseline", **{**TINY, "lr": 0.0})


def test_radar_run_works_in_a_sweep(tmp_path):
    pickle.dumps(mmwave.radar_run)  # process workers need it by reference
    points = sweep.grid(config=["impr_small", "mars_cnn"], seed=[0], **TINY)
    table = sweep.run_sweep(
        mmwave.radar_run,
        points,
        name="mmwave",
        executor="serial",
        runs_dir=tmp_path,
        progress=False,
        raise_errors=True,
    )
    assert table["error"].isna().all() and (table["mae_cm"] > 0).all()
    assert list(table["config"]) == ["impr_small", "mars_cnn"]


def test_mean_pose_floor_is_the_error_of_the_mean_pose():
    floor = mmwave.mean_pose_floor("sim", n_train=500)
    _, labels, _ = mmwave.load_dataset("sim", "train")
    _, test, _ = mmwave.load_dataset("sim", "test")
    mean = labels[mmwave_runs._subset(len(labels), 500)].mean(axis=0)
    assert floor["mae_cm"] == pytest.approx(100 * np.abs(test - mean).mean())
    assert floor["mae_cm"] > 5.0


# --------------------------------------------------------------------------- costs and tables


def test_activation_bytes_by_hand():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(inplace=True))
    total, peak = mmwave_costs._activation_bytes(model, torch.ones(1, 4))
    assert total == 4 * 4 + 3 * 4  # input + linear output; the in-place ReLU adds nothing
    assert peak == 4 * 4 + 3 * 4


def test_cost_card():
    card = mmwave.cost_card("impr_small", window=2, repeats=3, warmup=1)
    assert card["config"] == "impr_small" and card["params"] == 27_545
    assert card["weights_mb"] == pytest.approx(27_545 * 4 / 1e6)
    assert card["activation_mb"] > card["peak_layer_mb"] > 0
    assert card["latency_p10_ms"] <= card["latency_ms"] <= card["latency_p90_ms"]
    assert card["macs"] > 0 and card["window"] == 2


def test_component_scale():
    assert mmwave.component_scale("0250_rec") == ("rec", 0.25)
    assert mmwave.component_scale("mmwave_2000_feat") == ("feat", 2.0)
    assert mmwave.component_scale("baseline") == ("baseline", 1.0)
    assert mmwave.component_scale("impr_small")[0] == "improved"


def _toy_study():
    configs = ["baseline", "impr_small", "0250_rec", "0125_feat"]
    runs = pd.DataFrame(
        [
            {
                "config": c,
                "dataset": "sim",
                "seed": s,
                "mae_cm": m + s,
                "rmse_cm": m,
                "mpjpe_cm": m,
                "diverged": False,
                "error": None,
                "history": [{"epoch": 1, "val_mae_cm": m}],
                "epochs_trained": 3,
                "converged": s == 0,
            }
            for c, m in zip(configs, [5.0, 5.24, 4.9, 7.0], strict=True)
            for s in (0, 1)
        ]
    )
    runs.loc[len(runs)] = {
        "config": "0125_feat",
        "dataset": "sim",
        "seed": 2,
        "mae_cm": math.nan,
        "rmse_cm": math.nan,
        "mpjpe_cm": math.nan,
        "diverged": True,
        "error": None,
        "history": None,
        "epochs_trained": 1,
        "converged": False,
    }
    cards = pd.DataFrame(
        {
            "config": configs,
            "params": [4, 1, 2, 3],
            "latency_ms": [10.0, 1.41, 9.0, 2.0],
            "window": 4,
        }
    )
    return runs, cards


def test_study_table_and_findings_by_hand():
    runs, cards = _toy_study()
    table = mmwave.study_table(runs, cards)
    assert list(table["config"]) == ["baseline", "0125_feat", "0250_rec", "impr_small"]
    base = table.set_index("config").loc["baseline"]
    assert base["mae_cm"] == pytest.approx(5.5) and base["seeds"] == 2
    assert base["mae_sd_cm"] == pytest.approx(math.sqrt(0.5))
    assert table.set_index("config").loc["0125_feat", "diverged"] == 1
    assert base["epochs"] == 3 and base["converged"] == 1
    runs.loc[runs["config"] == "impr_small", "diverged"] = True
    all_diverged = mmwave.study_table(runs, cards).set_index("config").loc["impr_small"]
    assert all_diverged["seeds"] == 0 and all_diverged["diverged"] == 2
    assert math.isnan(all_diverged["mae_cm"])
    found = mmwave.findings(table).set_index("config")
    small = found.loc["impr_small"]
    assert small["latency_saving_pct"] == pytest.approx(85.9)
    assert small["accuracy_cost_pct"] == pytest.approx(100 * (5.74 / 5.5 - 1))
    assert small["accuracy_cost_cm"] == pytest.approx(0.24)
    if (SEEDS_DIR / "tables" / "mmwave_findings.csv").is_file():
        assert small["paper_latency_saving_pct"] == 85.9
        assert small["paper_accuracy_cost_pct"] == 4.8
        assert math.isnan(found.loc["0250_rec", "paper_latency_saving_pct"])


def test_figures():
    import matplotlib.pyplot as plt

    runs, cards = _toy_study()
    table = mmwave.study_table(runs, cards)
    for fig in (
        mmwave.plot_latency_vs_mae(table),
        mmwave.plot_component_sweep(table, "sim"),
        mmwave.plot_learning_curves(runs, "sim"),
    ):
        assert isinstance(fig, matplotlib.figure.Figure) and fig.axes
        plt.close(fig)
    with pytest.raises(ValueError, match="dataset="):
        mmwave.plot_latency_vs_mae(table, "mars")


def test_points_per_frame_counts_nonzero_slots():
    from pose_helpers.studies import mmwave

    features = np.zeros((3, 8, 8, 5), dtype=np.float32)
    features[0].reshape(-1, 5)[:5] = 1.0
    features[2].reshape(-1, 5)[:] = 0.5
    assert mmwave.points_per_frame(features).tolist() == [5, 0, 64]


def test_plot_frames_draws_each_dataset():
    import matplotlib

    matplotlib.use("Agg")
    from pose_helpers.studies import mmwave

    fig = mmwave.plot_frames(["sim"], n=2)
    assert len(fig.axes) == 4  # two frames, the histogram and the colour bar


# --------------------------------------------------------------------------- the chapter's calls


def test_the_package_is_one_import_and_radar_run_keeps_its_study_version():
    assert set(mmwave.__all__) <= set(dir(mmwave))
    assert mmwave.radar_run.__module__ == "pose_helpers.studies.mmwave.radar_runs"
    assert sweep.study_version(mmwave.radar_run) == str(mmwave.STUDY_VERSION)


def test_radar_run_keeps_no_json_copy_of_its_record(tmp_path):
    mmwave.radar_run("impr_small", **TINY, checkpoint_dir=tmp_path)
    assert [p.suffix for p in tmp_path.iterdir()] == [".pt"]  # the run store holds the record


def test_study_configs_checks_every_name_and_adds_the_reference():
    assert mmwave.study_configs(["baseline", "0250_rec"]) == ["baseline", "0250_rec", "mars_cnn"]
    assert mmwave.study_configs(["mmwave_baseline"], reference=False) == ["mmwave_baseline"]
    with pytest.raises(ValueError, match="config='tiny'"):
        mmwave.study_configs(["baseline", "tiny"])


def test_mean_pose_floors_is_one_floor_per_dataset():
    floors = mmwave.mean_pose_floors(["sim"], n_train=500)
    assert list(floors) == ["sim"]
    assert floors["sim"] == mmwave.mean_pose_floor("sim", n_train=500)


def test_error_table_and_results_table():
    runs, cards = _toy_study()
    cards["latency_p10_ms"] = cards["latency_p90_ms"] = cards["latency_ms"]
    table = mmwave.study_table(runs, cards)
    errors = mmwave.error_table(table, "sim")
    assert list(errors.columns) == list(mmwave.ERROR_COLUMNS)
    assert len(errors) == len(table)
    with pytest.raises(ValueError, match="dataset='mars'"):
        mmwave.error_table(table, "mars")
    saved = mmwave.results_table(table)
    assert "latency_p10_ms" not in saved and "latency_p90_ms" not in saved
    assert "latency_ms" in saved and len(saved) == len(table)
    assert list(mmwave.results_table(saved).columns) == list(saved.columns)  # nothing to drop


def test_datasets_note_says_when_only_the_simulation_ran():
    assert mmwave.datasets_note(["mars", "sim"]) == "Data sets in this run: `mars`, `sim`."
    assert mmwave.datasets_note(["sim"]) == (
        "Data sets in this run: `sim` (no real radar data here: the simulated radar only)."
    )


@pytest.mark.skipif(
    not (SEEDS_DIR / "tables" / "external_references.csv").is_file(),
    reason="needs ../shared/seeds",
)
def test_mars_paper_mae_comes_from_the_external_references():
    from pose_helpers.chapters.references import external_reference

    assert mmwave.mars_paper_mae_cm() == external_reference("mars_cnn_mae")["value"]


@pytest.mark.skipif(
    not (SEEDS_DIR / "tables" / "mmwave_findings.csv").is_file(), reason="needs ../shared/seeds"
)
def test_discussion_states_the_measured_numbers_and_the_mars_reference():
    runs, cards = _toy_study()
    reference = runs[runs["config"] == "baseline"].assign(config="mars_cnn", mae_cm=9.0)
    runs = pd.concat([runs, reference], ignore_index=True)
    cards.loc[len(cards)] = {"config": "mars_cnn", "params": 5, "latency_ms": 3.0, "window": 4}
    table = mmwave.study_table(runs, cards)
    found = pd.DataFrame(
        {
            "finding": ["a", "b", "c"],
            "ours_mars": ["not run"] * 3,
            "ours_sim": ["x1", "x2", "x3"],
            "verdict": ["holds", "does not hold", "not tested"],
        }
    )
    text = mmwave.discussion(table, {"sim": {"mae_cm": 12.345}}, found)
    assert "the mean-pose floor is 12.35 cm" in text
    assert "**Does not hold** (1 of 3): *b* (ours: x2)" in text
    assert "**Holds** (1 of 3): *a* (ours: x1)" in text and "**Not tested** (1): *c*" in text
    assert "9.00 cm MAE on `sim`" in text
    assert f"the MARS paper reports {mmwave.mars_paper_mae_cm():.2f} cm" in text


def test_runtime_latency_times_both_runtimes_and_the_floor():
    table = mmwave.runtime_latency(
        ["impr_small", "baseline"], window=2, batches=(1, 4), repeats=3, rounds=3
    )
    assert set(table["runtime"]) == {"pytorch", "onnxruntime"} and set(table["batch"]) == {1, 4}
    assert list(dict.fromkeys(table["config"])) == ["impr_small", "baseline", mmwave.FLOOR]
    assert (table["latency_ms"] > 0).all() and (table["note"] == "").all()
    floor = table[table["config"] == mmwave.FLOOR]
    assert (floor["above_floor_ms"] == 0).all()
    assert np.allclose(table["per_window_ms"] * table["batch"], table["latency_ms"])
    savings = mmwave.latency_savings(table).set_index(["runtime", "batch"])
    assert len(savings) == 4
    row = savings.loc[("pytorch", 1)]
    assert row["saving_pct"] == pytest.approx(100 * (1 - row["latency_ms"] / row["reference_ms"]))
    with pytest.raises(ValueError, match="batches"):
        mmwave.runtime_latency(["impr_small"], batches=(0,))


def test_results_table_with_runtimes_has_a_row_per_runtime_and_batch():
    runs, cards = _toy_study()
    table = mmwave.study_table(runs, cards)
    latencies = pd.DataFrame(
        [
            {
                "config": c,
                "runtime": r,
                "batch": b,
                "latency_ms": 1.0,
                "latency_p10_ms": 0.9,
                "latency_p90_ms": 1.1,
                "per_window_ms": 1.0 / b,
                "floor_ms": 0.5,
                "above_floor_ms": 0.5,
                "note": "",
            }
            for c in ["baseline", "impr_small", "0250_rec", "0125_feat"]
            for r in ("pytorch", "onnxruntime")
            for b in (1, 32)
        ]
    )
    saved = mmwave.results_table(table, latencies)
    assert len(saved) == 4 * len(table) and {"runtime", "batch", "floor_ms"} <= set(saved)


def test_findings_table_gives_every_finding_a_verdict_from_its_rule():
    configs = ["baseline", "0125_feat", "0125_rec", "0125_head", "0250_rec", "impr_small"]
    maes = [5.0, 7.0, 5.05, 5.02, 5.0, 5.3]
    lat = [0.50, 0.28, 0.45, 0.49, 0.46, 0.25]
    runs = pd.DataFrame(
        [
            {
                "config": c,
                "dataset": "sim",
                "seed": s,
                "mae_cm": m + 0.05 * s,
                "rmse_cm": m,
                "mpjpe_cm": m,
                "diverged": False,
                "error": None,
                "epochs_trained": 3,
                "converged": True,
            }
            for c, m in zip(configs, maes, strict=True)
            for s in (0, 1)
        ]
    )
    cards = pd.DataFrame({"config": configs, "params": 1, "latency_ms": lat})
    table = mmwave.study_table(runs, cards)
    latencies = pd.DataFrame(
        [
            {
                "config": c,
                "runtime": r,
                "batch": 1,
                "latency_ms": t,
                "latency_p10_ms": t - 0.005,
                "latency_p90_ms": t + 0.005,
            }
            for c, t in zip(configs, lat, strict=True)
            for r in ("pytorch", "onnxruntime")
        ]
    )
    found = mmwave.findings_table(table, latencies).set_index("finding")
    assert list(found.reset_index().columns[:7]) == list(mmwave.FINDING_COLUMNS)
    assert set(found["verdict"]) <= set(verdicts.VERDICTS)
    assert found.loc["feature extractor moves latency the most", "verdict"] == "holds"
    assert found.loc["feature extractor moves accuracy the most", "verdict"] == "holds"
    assert found.loc["recurrent layer costs latency", "verdict"] == "holds"
    assert found["verdict_mars"].eq("not tested").all()
    small = found.loc["impr_small's latency saving (PyTorch, batch 1)"]
    assert small["margin_sim"] == pytest.approx(50.0)
    if (SEEDS_DIR / "tables" / "mmwave_findings.csv").is_file():
        assert small["verdict"] == "holds in direction only"
