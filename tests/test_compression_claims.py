"""Tests of pose_helpers.studies.compression.claims on hand-made result tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from pose_helpers.studies import compression as C
from pose_helpers.studies.compression import claims as K


def _engineered(method: str, retained: float, pckh: float) -> pd.DataFrame:
    lam, threshold = C.THESIS_ENGINEERED_CELLS[method]
    record = {
        "lam": lam,
        "threshold": threshold,
        "params": int(1000 * retained),
        "params_full": 1000,
        "retained": retained,
        "pckh_before": pckh - 5,
        "pckh_after": pckh,
    }
    return C.engineered_summary(
        [record],
        {"table": {"Mean": 60.0}},
        thesis="group_lasso" if method == "group_lasso" else "bayesian",
    )


def _results(**changes) -> dict[str, pd.DataFrame]:
    results = {
        "baseline": pd.DataFrame(
            {
                "source": [
                    "thesis (Table 5.3, MPII)",
                    "ours, full scale (counted)",
                    "ours, trained",
                ],
                "params_m": [33.9, 33.99944, 2.1],
                "size_mb": [136.3, 136.32, 8.7],
                "pckh": [87.8, math.nan, 60.0],
            }
        ),
        # our cells: the thesis's retained fractions, with PCKh shifted to our baseline (60)
        **{
            m: C.thesis_table(m).assign(pckh=lambda t: t["pckh"] - 27.8).drop(columns="method")
            for m in ("l1", "group_lasso", "bayesian")
        },
        "group_lasso_engineered": _engineered("group_lasso", 0.5, 58.0),
        "bayesian_engineered": _engineered("bayesian", 0.4, 59.0),
        "full_scale_latency": pd.DataFrame(
            {
                "variant": ["dense", "engineered", "random sparsity (70 % of conv weights zero)"],
                "retained": [1.0, 0.5, 0.3],
                "speedup": [1.0, 2.0, 1.02],
            }
        ),
        "deployment": pd.DataFrame(
            {
                "model": ["dense", "dense", "Bayesian, thesis's cell", "Bayesian, thesis's cell"],
                "runtime": ["pytorch", "onnxruntime"] * 2,
                "format": "fp32",
                "threads": 1,
                "speedup": [1.0, 1.0, 1.6, 1.2],
            }
        ),
    }
    results.update(changes)
    return results


def test_claims_reproduced_like_the_thesis_hold():
    table = K.claims(_results())
    assert list(table.columns) == ["claim", "where", "thesis", "ours", "verdict", "rule", "why"]
    assert len(table) == 8
    assert (table["verdict"] == "holds").all(), table[["claim", "verdict"]]
    assert "34.00 M, 136.32 MB" in table["ours"].iloc[0]
    thesis = C.thesis_table("baseline").iloc[0]  # the thesis's numbers, read from its table
    assert table["thesis"].iloc[0] == f"{thesis['params_m']:g} M, {thesis['size_mb']:g} MB"
    assert table["claim"].iloc[0] == (
        "Simple Baselines ResNet-50 has 33.9 M parameters and a 136.3 MB checkpoint"
    )
    assert table["thesis"].iloc[-1] == "1.93× on a 2016 phone (PyTorch Mobile)"
    assert (
        K.verdict_counts(table) == "The thesis's 8 claims checked here, by verdict: *holds*: **8**."
    )
    lines = K.reasons(table).split("\n")
    assert len(lines) == 8 and lines[0].startswith("* **Simple Baselines ResNet-50 has")
    assert lines[0].endswith(
        "(Table 5.3): *holds*. The architecture fixes the count; ours is counted, not trained."
    )
    assert "0.333 of the parameters kept, PCKh 86.42 (-1.4 points)" in table["thesis"].iloc[5]


def test_claims_that_fail_here():
    flat = C.thesis_table("l1").assign(retained=0.9, pckh=60.0).drop(columns="method")
    table = K.claims(
        _results(
            l1=flat,
            group_lasso_engineered=_engineered("group_lasso", 0.99, 59.0),
            bayesian_engineered=_engineered("bayesian", 0.7, 59.0),
            deployment=_results()["deployment"].assign(speedup=[1.0, 1.0, 1.05, 1.0]),
        )
    ).set_index("where")
    assert table.loc["Table 5.4", "verdict"] == "does not hold here"  # retained does not move
    assert table.loc["Table 5.6", "verdict"] == "does not hold here"  # nothing was cut
    assert table.loc["Table 5.8", "verdict"] == "holds in direction only"  # cut, but too little
    assert table.loc["Table 5.9", "verdict"] == "does not hold here"


def test_load_results_names_what_is_missing(tmp_path):
    (tmp_path / "table_5_3_baseline.csv").write_text("a\n1\n")
    with pytest.raises(
        FileNotFoundError, match=r"table_5_4_l1.csv \(run the chapter compression_sparsity\)"
    ):
        K.load_results(tmp_path)


def test_plot_summary():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = K.plot_summary(_results())
    assert len(fig.axes) == 2
    plt.close(fig)
