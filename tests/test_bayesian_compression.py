"""Tests of pose_helpers.studies.compression.bayesian at toy scale (width 8, 64 px, 8 images)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from pose_helpers.core.store import RunStore
from pose_helpers.studies import compression as C
from pose_helpers.studies.compression import bayesian as B
from pose_helpers.train import loop as train

TINY = {
    "model_kwargs": {"width": 8, "deconv_channels": 16, "zero_init_head": True},
    "input_size": 64,
    "n_train": 8,
    "n_valid": 4,
    "epochs": 1,
    "batch_size": 4,
}
RUN = {"outers": 2, "inner_epochs": 1, "hessian_batches": 1, "hessian_samples": 1}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POSE_HELPERS_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lam": 0.0}, "lam=0"),
        ({"lam": -1e-8}, "lam=-1e-08"),
        ({"outers": 0}, "outers=0"),
        ({"inner_epochs": 1.5}, "inner_epochs=1.5"),
        ({"final_lr_factor": 0.0}, r"final_lr_factor=0.0; expected a number in \(0, 1\]"),
        ({"thresholds": [0.01, -1]}, "threshold=-1"),
        ({"hessian_samples": 0}, "hessian_samples=0"),
        ({"baseline": {**TINY, "widht": 8}}, r"unknown settings \['widht'\]"),
    ],
)
def test_bad_arguments_fail_before_any_work(kwargs, match, monkeypatch):
    monkeypatch.setattr(B, "load_baseline", lambda *_, **__: pytest.fail("work started"))
    args = {"lam": 1e-8, "baseline": TINY, **RUN, **kwargs}
    with pytest.raises(ValueError, match=match):
        B.bayesian_run(**args)
    with pytest.raises(ValueError, match="lam=0"):
        B.sweep_points([1e-8, 0.0], baseline=TINY)


def test_bayesian_run_outers_cells_cache_and_resume(cache, monkeypatch):
    record = B.bayesian_run(1e-6, baseline=TINY, thresholds=[0.01, 0.001], **RUN)
    json.dumps(record)
    assert [o["outer"] for o in record["outer_log"]] == [1, 2]
    assert [h["outer"] for h in record["history"]] == [1, 2]
    assert record["history"][0]["extra_loss"] > 0  # the penalty was on
    first = record["outer_log"][0]
    assert first["groups_live"] + first["groups_pruned"] > 0 and first["gamma_median"] > 0
    sparsity = [c["sparsity"] for c in record["cells"]]
    assert sparsity[0] >= sparsity[1] >= 0  # the masks nest
    assert all(0 <= c["pckh"] <= 100 for c in record["cells"])
    net, state = B.load_bayesian_model(record, TINY)
    assert len(state.gamma) == len(state.omega) and math.isfinite(float(state.gamma.max()))

    calls = []
    real_fit = train.fit

    def counting_fit(*args, **kwargs):
        if kwargs.get("extra_loss") is not None:  # an outer (the baseline loads through fit too)
            calls.append(1)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(train, "fit", counting_fit)
    assert B.bayesian_run(1e-6, baseline=TINY, thresholds=[0.01, 0.001], **RUN) == record
    assert calls == []  # a finished run trains no outer: it is read back and scored again
    assert record["checkpoint"] == f"bayesian-{record['key']}-outer2.pt"  # names in the cache
    # an interrupted run resumes after its last finished outer
    folder = C.checkpoint_folder()
    assert not (folder / f"bayesian-{record['key']}.json").exists()  # no second copy of it
    (folder / f"bayesian-{record['key']}-outer2.json").unlink()
    again = B.bayesian_run(1e-6, baseline=TINY, thresholds=[0.01, 0.001], **RUN)
    assert len(calls) == 1 and len(again["outer_log"]) == 2
    assert again["cells"][0]["sparsity"] == pytest.approx(record["cells"][0]["sparsity"])


def test_a_damaged_outer_is_moved_aside_and_trained_again(cache, monkeypatch):
    from pose_helpers.core.io import CorruptFileWarning

    args = dict(baseline=TINY, thresholds=[0.01, 0.001], **RUN)
    record = B.bayesian_run(1e-6, **args)
    folder = C.checkpoint_folder()
    outer1 = folder / f"bayesian-{record['key']}-outer1.pt"
    outer1.write_bytes(outer1.read_bytes()[:100])
    outers = []
    real_fit = train.fit

    def counting_fit(*args, **kwargs):
        if kwargs.get("extra_loss") is not None:  # an outer (the baseline loads through fit too)
            outers.append(1)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(train, "fit", counting_fit)
    with pytest.warns(CorruptFileWarning, match=rf"{outer1.name} does not load"):
        again = B.bayesian_run(1e-6, **args)
    assert len(outers) == 1  # that outer alone was trained again
    assert (folder / f"{outer1.name}.corrupt").stat().st_size == 100  # kept beside
    assert again["cells"][0]["sparsity"] == pytest.approx(record["cells"][0]["sparsity"])

    # the final weights, read to use them: named, moved aside, and what to do about it
    final = folder / record["checkpoint"]
    final.write_bytes(b"")
    with (
        pytest.warns(CorruptFileWarning),
        pytest.raises(FileNotFoundError, match=rf"{final.name} did not load.*call bayesian_run"),
    ):
        B.load_bayesian_model(record, TINY)
    assert (folder / f"{final.name}.corrupt").is_file()
    B.bayesian_run(1e-6, **args)  # doing what it says trains the last outer again
    assert len(outers) == 2 and B.load_bayesian_model(record, TINY)[0] is not None


def test_bayesian_engineering_is_exact(cache):
    record = B.bayesian_run(1e-6, baseline=TINY, **RUN)
    _, state = B.load_bayesian_model(record, TINY)
    live = state.gamma[state.active]
    threshold = float(torch.quantile(live, 0.3))
    cut = B.bayesian_engineered_run(1e-6, threshold, baseline=TINY, finetune_epochs=0, **RUN)
    json.dumps(cut)
    assert cut["method"] == "bayesian" and cut["groups_pruned"] > 0
    assert cut["params"] < cut["params_full"]
    assert cut["pckh_before"] == cut["pckh_thresholded"]  # the cut is exact
    tuned = B.bayesian_engineered_run(1e-6, threshold, baseline=TINY, finetune_epochs=1, **RUN)
    assert len(tuned["history"]) == 1 and tuned["params"] == cut["params"]
    summary = C.engineered_summary([cut, tuned], C.baseline_run(**TINY))
    assert len(summary) == 1 + 2 * 2 + 2

    targets = {"a third": (1e-6, threshold, [])}
    stored = B.engineer_cells(targets, baseline=TINY, finetune_epochs=1, **RUN)
    assert stored == {"a third": tuned}
    saved = RunStore(B.ENGINEERED_STUDY, B.STUDY_VERSION).records()
    assert {"lam", "threshold"}.isdisjoint(saved[-1]["result"])  # kept once, in the settings
    small = C.load_engineered_model(tuned, TINY)
    assert sum(p.numel() for p in small.parameters()) == tuned["params"]


def test_outer_table_and_plot(cache):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    record = B.bayesian_run(1e-6, baseline=TINY, **RUN)
    runs = pd.DataFrame([{"lam": 1e-6, **record}, {"lam": 1e-7, "outer_log": float("nan")}])
    table = B.outer_table(runs)
    assert list(table["outer"]) == [1, 2] and (table["lambda"] == 1e-6).all()
    fig = B.plot_outers(table)
    assert len(fig.axes) == 3
    plt.close(fig)


def test_groups_below_counts_what_a_threshold_prunes(cache, monkeypatch):
    record = B.bayesian_run(1e-6, baseline=TINY, **RUN)
    _, state = B.load_bayesian_model(record, TINY)
    live = state.gamma[state.active]
    threshold = float(torch.quantile(live, 0.3))
    table = B.groups_below_table(state, [threshold, threshold / 1e6])
    assert table["below"].sum() == int((state.active & (state.gamma < threshold)).sum())
    assert set(table["threshold"]) <= {threshold, threshold / 1e6}
    assert (table["below"] <= table["groups"]).all()

    # the chapter's step: a stored run of the Bayesian run's own thresholds
    stored = B.groups_below(1e-6, baseline=TINY, thresholds=list(C.THESIS_THRESHOLDS), **RUN)
    pd.testing.assert_frame_equal(stored, B.groups_below_table(state, C.THESIS_THRESHOLDS))
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("a stored run trained"))
    monkeypatch.setattr(B, "bayesian_run", lambda *a, **k: pytest.fail("a stored run ran"))
    again = B.groups_below(1e-6, baseline=TINY, thresholds=list(C.THESIS_THRESHOLDS), **RUN)
    pd.testing.assert_frame_equal(again, stored)


def test_exclude_leaves_a_layer_out_of_algorithm_1(cache):
    plain = B.bayesian_run(1e-6, baseline=TINY, **RUN)
    record = B.bayesian_run(1e-6, baseline=TINY, exclude=["final_layer"], **RUN)
    assert record["key"] != plain["key"] and record["excluded_layers"] == ["final_layer"]
    _, state = B.load_bayesian_model(record, TINY)
    assert "final_layer" not in {family.layer for family in state.groups}
    _, full = B.load_bayesian_model(plain, TINY)
    assert len(full.gamma) > len(state.gamma)
    with pytest.raises(ValueError, match="nope"):
        B.bayesian_run(1e-6, baseline=TINY, exclude=["nope"], **RUN)


def test_a_diverged_run_has_nan_cells(cache):
    # 1e300 x the penalty overflows float32: the first outer diverges and is recorded
    record = B.bayesian_run(1e300, baseline=TINY, thresholds=[0.01], **RUN)
    assert record["diverged"] and math.isnan(record["pckh_unthresholded"])
    (cell,) = record["cells"]
    assert math.isnan(cell["pckh"]) and math.isnan(cell["nonzero_weights"])  # as compression's


def test_engineering_targets_and_cells_by_method():
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
    diagnostic = cells.assign(retained=[0.1, 0.6, 0.9], pckh=[57.0, 56.0, 58.0])
    targets = B.engineering_targets(cells, diagnostic, (1e-9, 0.01), 58.0, 5.0, ["final_layer"])
    assert targets == {
        "thesis's cell": (1e-9, 0.01, []),
        "sparsest within 5 points": (1e-8, 0.01, []),
        "diagnostic, sparsest within 5 points": (5e-8, 0.01, ["final_layer"]),
    }
    assert list(B.engineering_targets(cells, diagnostic.iloc[:0], (1e-9, 0.01), 99.0, 5.0)) == [
        "thesis's cell"
    ]
    others = pd.DataFrame(
        {
            "method": ["l1", "group_lasso", "l1", "group_lasso", "l1"],
            "statistic": ["weight", "norm", "weight", "rms", "weight"],
            "lambda": [1e-8, 1e-8, 1e-9, 1e-8, 0.0],
            "retained": [0.1, 0.2, 0.3, 0.15, 0.99],
        }
    )
    by_method = B.cells_by_method(others, cells, diagnostic)  # one reading; no control
    assert list(by_method) == ["l1", "group_lasso", "bayesian", "bayesian, diagnostic"]
    assert list(by_method["l1"]["retained"]) == [0.1, 0.3]
    assert list(by_method["group_lasso"]["retained"]) == [0.2]
    rms = B.cells_by_method(others, cells, diagnostic, statistic="rms")
    assert list(rms["group_lasso"]["retained"]) == [0.15]
    assert set(by_method["bayesian, diagnostic"]["method"]) == {"bayesian, diagnostic"}
    assert list(B.cells_by_method(others, cells, diagnostic.iloc[:0])) == [
        "l1",
        "group_lasso",
        "bayesian",
    ]


def test_printed_form_and_outers_until_gamma_settles(cache):
    with pytest.raises(ValueError, match="form='book'"):
        B.bayesian_run(1e-6, baseline=TINY, form="book", **RUN)
    run = {**RUN, "outers": 3}
    settled = B.bayesian_run(
        1e-6, baseline=TINY, thresholds=[0.01], form="printed", gamma_tolerance=1e9, **run
    )
    # the first outer has no change to measure; the second settles at any tolerance
    assert settled["outers_run"] == 2 and settled["converged"]
    assert settled["outer_log"][0]["gamma_change"] is None
    strict = B.bayesian_run(
        1e-6, baseline=TINY, thresholds=[0.01], form="printed", gamma_tolerance=1e-12, **run
    )
    assert strict["outers_run"] == 3 and not strict["converged"]
    assert strict["key"] != settled["key"]
    derived = B.bayesian_run(1e-6, baseline=TINY, thresholds=[0.01], **run)
    assert derived["converged"] and derived["outers_run"] == 3  # no tolerance: every outer
    assert derived["outer_log"][1]["gamma_median"] != strict["outer_log"][1]["gamma_median"]


def test_the_printed_form_with_the_proximal_step_prunes_and_records_its_length(cache):
    record = B.bayesian_run(
        1e-2,
        baseline=TINY,
        thresholds=[0.01, 0.001],
        form="printed",
        step="proximal",
        gamma_tolerance=0.05,
        **RUN,
    )
    json.dumps(record)
    assert record["epochs"] == len(record["history"]) >= 1
    assert record["lambda_ours"] > 0 and record["outers_run"] >= 1
    assert record["cells"][0]["retained"] < 1  # the prox zeroed whole groups
    with pytest.raises(ValueError, match="step"):
        B.bayesian_run(1e-8, baseline=TINY, step="adam", **RUN)
