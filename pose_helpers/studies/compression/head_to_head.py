"""Is compression worth it? Each method's best model beside two plain controls, on one axis.

The controls a reader needs before adopting a sparsity method: Torch-Pruning-style one-shot
magnitude pruning with the same fine-tuning budget as a sweep cell
(:func:`controls.pruning_controls`), and the baseline's recipe trained plainly at a smaller
width (:func:`baseline.redundancy_table`). Beside them, each method's best cell: the sparsest
within ``max_pckh_drop`` points of the baseline, read from the tables its chapter saved
(``sweep_l1.csv``; ``engineered_group_lasso.csv``, the engineered models with their
keep-ratios).

**Cost at full scale, accuracy at CPU scale.** Every model's structure is carried to the
thesis's ResNet-50 Simple Baselines at 256 x 256 (keep-ratios through
:func:`surgery.apply_keep_ratios`; the narrower networks at the same width factor) and its
parameters, multiply-accumulates and batch-1 latency are measured there, in ONNX Runtime
(fp32) and PyTorch, interleaved rounds (:func:`deploy.deployment_table`); PCKh is the
CPU-scale network's. L1's zeros fall anywhere in the tensors: its row keeps the dense
network's shape, MACs and latency, and counts only its non-zero parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pose_helpers.studies.compression.common import (
    FULL_SCALE_INPUT,
    FULL_SCALE_MODEL,
    read_results,
)

__all__ = [
    "HEAD_TO_HEAD_COLUMNS",
    "saved_keep_ratios",
    "engineered_models_table",
    "METHODS",
    "CONTROLS",
    "against_controls",
    "head_to_head",
    "head_to_head_note",
    "plot_head_to_head",
]

#: The columns of ``head_to_head.csv``.
HEAD_TO_HEAD_COLUMNS = [
    "method",
    "setting",
    "params",
    "macs",
    "retained",
    "pckh",
    "finetune_epochs",
    "latency_ms",
    "latency_p10_ms",
    "latency_p90_ms",
    "speedup",
    "latency_pytorch_ms",
    "speedup_pytorch",
]
#: The full-scale model's width and deconvolution channels (the narrower ones scale both).
FULL_WIDTH, FULL_DECONV = 64, 256


def engineered_models_table(
    engineered: Mapping[str, Mapping[str, Any]], method: str
) -> pd.DataFrame:
    """The engineered models of a chapter with the keep-ratios they reached per unit (what
    is carried to full scale): ``label``, ``method``, ``lambda``, ``threshold``, ``params``,
    ``retained``, ``pckh`` (after fine-tuning), ``finetune_epochs``, one ``keep_<unit>``
    column per unit, and ``key`` (the engineering's own key, which names its record's result
    and its checkpoint: how another chapter finds the model)."""
    rows = []
    for label, record in engineered.items():
        rows.append(
            {
                "label": label,
                "method": method,
                "lambda": float(record["lam"]),
                "threshold": float(record["threshold"]),
                "params": int(record["params"]),
                "retained": float(record["retained"]),
                "pckh": float(record["pckh_after"]),
                "finetune_epochs": len(record.get("history", [])),
                **{f"keep_{unit}": float(r) for unit, r in sorted(record["keep_ratios"].items())},
                "key": str(record["key"]),
            }
        )
    return pd.DataFrame(rows)


#: The engineered-models table of each method, and the chapter that saves it.
ENGINEERED_FILES = {
    "group_lasso": ("engineered_group_lasso.csv", "compression_group_lasso"),
    "bayesian": ("engineered_bayesian.csv", "compression_bayesian_models"),
}


def saved_keep_ratios(
    method: str, results: str | Path | None = None, prefix: str = ""
) -> dict[str, dict[str, float]]:
    """The keep-ratios of a method's engineered models as its chapter saved them
    (:func:`engineered_models_table`), by label (``"<prefix>, <label>"`` with a prefix): the
    variants of ``full_scale_models``.

    Raises:
        FileNotFoundError: naming the chapter whose table is missing.
    """
    table = read_results({method: ENGINEERED_FILES[method]}, results)[method]
    units = [c for c in table.columns if c.startswith("keep_")]
    return {
        (f"{prefix}, {row['label']}" if prefix else row["label"]): {
            c[len("keep_") :]: float(row[c]) for c in units
        }
        for _, row in table.iterrows()
    }


def _best(cells: pd.DataFrame, baseline_pckh: float, max_drop: float) -> pd.Series | None:
    """The sparsest row within ``max_drop`` points of the baseline (None if no row is)."""
    ok = cells[cells["pckh"] >= baseline_pckh - max_drop]
    return None if ok.empty else ok.sort_values(["retained", "pckh"]).iloc[0]


def head_to_head(
    *,
    baseline_pckh: float,
    pruning: Sequence[Mapping[str, Any]],
    narrower: pd.DataFrame,
    max_pckh_drop: float = 2.0,
    results: str | Path | None = None,
    input_size: int = FULL_SCALE_INPUT,
    width: int = FULL_WIDTH,
    deconv_channels: int = FULL_DECONV,
    threads: int = 1,
    repeats: int = 10,
    rounds: int = 3,
    progress: bool = False,
) -> pd.DataFrame:
    """Each method's best model and the controls, costed at full scale (module docstring).

    Args:
        baseline_pckh: the baseline's mean PCKh (CPU scale), for "within ``max_pckh_drop``".
        pruning: :func:`controls.pruning_controls`'s records (one per keep ratio).
        narrower: :func:`baseline.redundancy_table` rows of the narrower networks
            (``width_factor`` < 1; the seed-0 row of each factor is used).
        max_pckh_drop: a method's best cell is its sparsest within this many points.
        results: the folder of the chapters' tables (default ``book/results/compression``;
            a relative one is taken from the repository's root).
        input_size, width, deconv_channels: the full-scale model (the thesis's: 256 px, 64,
            256); the narrower networks scale both channel counts by their factor.
        threads, repeats, rounds: the full-scale timing.
        progress: show the timing's progress bar.

    Returns:
        :data:`HEAD_TO_HEAD_COLUMNS`, one row per model (the dense baseline first).

    Raises:
        FileNotFoundError: naming the chapter whose table is missing, before any timing.
    """
    from pose_helpers.cost import bench, deploy
    from pose_helpers.models.registry import create_model
    from pose_helpers.studies.compression.full_scale import full_scale_models

    read = read_results(
        {"l1": ("sweep_l1.csv", "compression_sparsity"), **ENGINEERED_FILES}, results
    )
    l1 = read["l1"]
    l1 = l1[(l1["statistic"] == "weight") & (l1["lambda"] > 0)]
    specs: list[dict[str, Any]] = []  # one per row: its model label and its CPU-scale facts
    best = _best(l1, baseline_pckh, max_pckh_drop)
    if best is not None:
        specs.append(
            {
                "method": "l1",
                "setting": f"λ_thesis {best['lambda_thesis']:g}, threshold {best['threshold']:g} "
                f"(sparsest within {max_pckh_drop:g} points)",
                "model": "dense",
                "nonzero": float(best["retained"]),
                "pckh": float(best["pckh"]),
                "finetune_epochs": int(best["epochs"]),
            }
        )
    keep_ratios: dict[str, dict[str, float]] = {}
    for method in ENGINEERED_FILES:  # every engineered model: each method's trade-off
        engineered = read[method]
        units = [c for c in engineered.columns if c.startswith("keep_")]
        for _, row in engineered.iterrows():
            label = f"{method}: {row['label']}"
            keep_ratios[label] = {c[len("keep_") :]: float(row[c]) for c in units}
            specs.append(
                {
                    "method": method,
                    # The extension's labels already name their λ.
                    "setting": f"λ_thesis {row['lambda']:g}, threshold {row['threshold']:g}, "
                    + (
                        "engineered"
                        if str(row["label"]).startswith("λ_thesis")
                        else f"engineered ({row['label']})"
                    ),
                    "model": label,
                    "pckh": float(row["pckh"]),
                    "finetune_epochs": int(row["finetune_epochs"]),
                }
            )
    for record in pruning:
        label = f"keep {record['keep']:g}"
        keep_ratios[label] = dict(record["keep_ratios"])
        specs.append(
            {
                "method": "torch_pruning",
                "setting": f"{label} of every unit's channels",
                "model": label,
                "pckh": float(record["pckh_after"]),
                "finetune_epochs": len(record["history"]),
            }
        )
    dense_kwargs = {"width": width, "deconv_channels": deconv_channels}
    models = full_scale_models(keep_ratios, model_kwargs=dense_kwargs, input_size=input_size)
    rows = narrower[narrower["width_factor"] < 1].drop_duplicates("width_factor")
    for _, row in rows.iterrows():
        factor = float(row["width_factor"])
        label = f"width × {factor:g}"
        models[label] = create_model(
            FULL_SCALE_MODEL,
            width=max(1, round(width * factor)),
            deconv_channels=max(1, round(deconv_channels * factor)),
        ).eval()
        specs.append(
            {
                "method": "narrower",
                "setting": f"{label}, trained from scratch",
                "model": label,
                "pckh": float(row["pckh"]),
                "finetune_epochs": 0,
            }
        )
    timing = deploy.deployment_table(
        models,
        (3, input_size, input_size),
        threads=(threads,),
        repeats=repeats,
        rounds=rounds,
        formats=("fp32",),
        progress=progress,
    )
    ort = timing[timing["runtime"] == "onnxruntime"].set_index("model")
    torch_rows = timing[timing["runtime"] == "pytorch"].set_index("model")
    shape = (3, input_size, input_size)
    cost = {
        label: (bench.count_params(net), bench.macs(net, shape)) for label, net in models.items()
    }
    dense_params = cost["dense"][0]
    out = [
        {
            "method": "baseline",
            "setting": "dense",
            "model": "dense",
            "pckh": float(baseline_pckh),
            "finetune_epochs": 0,
        },
        *specs,
    ]
    table = []
    for spec in out:
        label = spec["model"]
        params, macs = cost[label]
        if "nonzero" in spec:  # random zeros: the dense shape, fewer stored weights
            params = round(spec["nonzero"] * params)
        table.append(
            {
                "method": spec["method"],
                "setting": spec["setting"],
                "params": int(params),
                "macs": int(macs),
                "retained": params / dense_params,
                "pckh": spec["pckh"],
                "finetune_epochs": spec["finetune_epochs"],
                "latency_ms": float(ort.loc[label, "latency_ms"]),
                "latency_p10_ms": float(ort.loc[label, "latency_p10_ms"]),
                "latency_p90_ms": float(ort.loc[label, "latency_p90_ms"]),
                "speedup": float(ort.loc[label, "speedup"]),
                "latency_pytorch_ms": float(torch_rows.loc[label, "latency_ms"]),
                "speedup_pytorch": float(torch_rows.loc[label, "speedup"]),
            }
        )
    return pd.DataFrame(table, columns=HEAD_TO_HEAD_COLUMNS)


#: The methods whose models :func:`against_controls` compares, and the controls.
METHODS, CONTROLS = ("l1", "group_lasso", "bayesian"), ("torch_pruning", "narrower")


def against_controls(table: pd.DataFrame) -> pd.DataFrame:
    """Each method's model beside the best control (highest PCKh) that costs no more
    multiply-accumulates; ``margin`` = its PCKh minus the control's (NaN, and no control,
    where no control is as cheap). ``cuts``: the model has fewer MACs than the dense one
    (L1's zeros never do).

    Returns:
        Columns ``method``, ``setting``, ``macs_share``, ``pckh``, ``cuts``, ``control``,
        ``control_macs_share``, ``control_pckh``, ``margin``; one row per method model.
    """
    dense_macs = float(table.iloc[0]["macs"])
    controls = table[table["method"].isin(CONTROLS)]
    rows = []
    for _, row in table[table["method"].isin(METHODS)].iterrows():
        cheaper = controls[controls["macs"] <= row["macs"]]
        best = None if cheaper.empty else cheaper.sort_values("pckh").iloc[-1]
        rows.append(
            {
                "method": row["method"],
                "setting": row["setting"],
                "macs_share": row["macs"] / dense_macs,
                "pckh": float(row["pckh"]),
                "cuts": bool(row["macs"] < dense_macs),
                "control": None if best is None else f"{best['method']} ({best['setting']})",
                "control_macs_share": math.nan if best is None else best["macs"] / dense_macs,
                "control_pckh": math.nan if best is None else float(best["pckh"]),
                "margin": math.nan if best is None else float(row["pckh"] - best["pckh"]),
            }
        )
    return pd.DataFrame(rows)


def head_to_head_note(
    table: pd.DataFrame, max_pckh_drop: float = 2.0, noise: float = math.nan
) -> str:
    """Which model is fastest within ``max_pckh_drop`` points of the baseline, and how each
    method's model compares with the best plain control of no more MACs
    (:func:`against_controls`; "within the noise" where the margin is within ``noise``), in
    words."""
    base = table.iloc[0]
    ok = table[table["pckh"] >= base["pckh"] - max_pckh_drop]
    fastest = ok.sort_values("latency_ms").iloc[0]
    lines = [
        f"* Within {max_pckh_drop:g} points of the baseline ({base['pckh']:.1f} %), the fastest "
        f"model at full scale is **{fastest['method']}** ({fastest['setting']}): "
        f"{fastest['speedup']:.2f}× in ONNX Runtime ({fastest['latency_ms']:.0f} ms against "
        f"{base['latency_ms']:.0f} ms; dense p10–p90 {base['latency_p10_ms']:.0f}–"
        f"{base['latency_p90_ms']:.0f} ms) and {fastest['speedup_pytorch']:.2f}× in PyTorch, "
        f"at {fastest['pckh']:.1f} % PCKh and {fastest['retained']:.2f} of the parameters."
    ]
    noise_text = "" if math.isnan(noise) else f" (seed noise ±{noise:.1f})"
    for _, row in against_controls(table).iterrows():
        head = (
            f"* **{row['method']}** ({row['setting']}) keeps {row['macs_share']:.2f} of the "
            f"dense MACs at {row['pckh']:.1f} %"
        )
        if row["control"] is None:
            lines.append(f"{head}; no control is as cheap.")
            continue
        margin = row["margin"]
        if not math.isnan(noise) and abs(margin) <= noise:
            word = "is within the noise of it"
        else:
            word = "beats it" if margin > 0 else "loses to it"
        lines.append(
            f"{head}; the best control of no more MACs, {row['control']}, scores "
            f"{row['control_pckh']:.1f} % with {row['control_macs_share']:.2f} of them: "
            f"{margin:+.1f} points{noise_text}, the method {word}."
        )
    missing = sorted(set(METHODS) - set(table["method"]))
    if missing:
        lines.append(f"* No model of {', '.join(missing)} in the table.")
    return "\n".join(lines)


def plot_head_to_head(table: pd.DataFrame):
    """PCKh against the parameters kept (left) and against the MACs (right), full scale,
    one marker per method; the baseline dotted."""
    import matplotlib.pyplot as plt

    base = table.iloc[0]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    markers = {
        "l1": "o",
        "group_lasso": "s",
        "bayesian": "P",
        "torch_pruning": "^",
        "narrower": "D",
    }
    for method, rows in table.iloc[1:].groupby("method", sort=False):
        for ax, column, scale in ((axes[0], "params", 1e6), (axes[1], "macs", 1e9)):
            ax.scatter(
                rows[column] / scale, rows["pckh"], marker=markers.get(method, "x"), label=method
            )
    for ax, column, scale, name in (
        (axes[0], "params", 1e6, "parameters at full scale (M; L1: non-zero)"),
        (axes[1], "macs", 1e9, "multiply-accumulates at full scale (G)"),
    ):
        ax.axhline(base["pckh"], linestyle=":", color="grey")
        ax.axvline(base[column] / scale, linestyle=":", color="grey")
        ax.set_xlabel(name)
    axes[0].set_ylabel("mean PCKh@0.5 (CPU scale, %)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig
