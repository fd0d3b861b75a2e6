"""The hourglass rows' cost at the paper's scale and the report's claim: does training time
follow the layers or the parameters?

:func:`cost_table` measures every row (:mod:`pose_helpers.cost.bench`), on the CPU or, with
:func:`gpu_cost_table`, on a GPU; :func:`structure_table` and :func:`report_times` put the
counts beside Table 1's; :func:`claim_correlations`, :func:`claim_note` and
:func:`plot_claim` test the claim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from pose_helpers.studies.hourglass.block_runs import Row, paper_table

__all__ = [
    "GPU_LATENCY_REPEATS",
    "GPU_STEP_BATCH",
    "GPU_STEP_REPEATS",
    "REPORT_TIME_COLUMNS",
    "TIME_READINGS",
    "claim_correlations",
    "claim_note",
    "claim_verdicts",
    "cost_table",
    "gpu_cost_table",
    "plot_claim",
    "reading_note",
    "report_times",
    "step_note",
    "structure_table",
    "time_readings",
]

#: GPU timing of :func:`gpu_cost_table`: the report's batch of 24 images per training step,
#: and the repeats (a GPU step takes milliseconds, so more of them fit the budget).
GPU_STEP_BATCH = 24
GPU_STEP_REPEATS = 10
GPU_LATENCY_REPEATS = 30
#: Columns :func:`report_times` adds to the chapter's table, in its order.
REPORT_TIME_COLUMNS = (
    "variant",
    "params_m",
    "gmacs",
    "conv_kernels",
    "train_min",
    "epochs",
    "min_per_epoch",
)


def cost_table(
    rows: Sequence[Row],
    *,
    input_size: int = 256,
    width: int = 256,
    step_batch: int = 24,
    step_repeats: int = 3,
    latency_repeats: int = 10,
    threads: int = 1,
    device: str = "cpu",
    progress: bool = True,
) -> pd.DataFrame:
    """Structure and measured cost of every row at the given scale (default: the paper's).

    Columns: ``variant``, ``model``, ``params``, ``gmacs``, ``conv_kernels`` (convolutions
    a forward pass launches), ``latency_ms`` (batch 1, median), ``step_ms`` (one Adam step
    on ``step_batch`` images, median of ``step_repeats``), ``step_batch``, ``device``.
    ``latency_repeats=0`` or ``step_repeats=0`` skips that timing (NaN).
    """
    import torch

    from pose_helpers.core.progress import progress_bar
    from pose_helpers.cost import bench
    from pose_helpers.models.registry import create_model

    shape = (3, input_size, input_size)
    records = []
    for row in progress_bar(iterable=rows, enabled=progress, desc="cost"):
        torch.manual_seed(0)
        net = create_model(row.model, **row.model_kwargs(width=width)).to(device)
        record = {
            "variant": row.variant,
            "model": row.model,
            "params": bench.count_params(net),
            "gmacs": bench.macs(net, shape) / 1e9 if device == "cpu" else math.nan,
            "conv_kernels": bench.conv_kernel_count(net, shape),
            "latency_ms": math.nan,
            "step_ms": math.nan,
            "step_batch": step_batch,
            "threads": threads,
            "device": device,
        }
        if latency_repeats > 0:
            timing = bench.latency(net, shape, threads=threads, warmup=2, repeats=latency_repeats)
            record["latency_ms"] = timing.median_ms
        if step_repeats > 0:
            timing = bench.train_step_time(
                net, shape, step_batch, threads=threads, warmup=1, repeats=step_repeats
            )
            record["step_ms"] = timing.median_ms
        records.append(record)
        del net
    return pd.DataFrame(records)


def claim_correlations(
    table: pd.DataFrame,
    time: str = "step_ms",
    by: Sequence[str] = ("params", "gmacs", "conv_kernels"),
) -> pd.DataFrame:
    """Pearson and Spearman correlation of a time column with each of ``by``.

    Rows that repeat an architecture (same ``params`` and ``conv_kernels``, e.g. the merge
    rows) are counted once, and rows without a time are dropped.
    """
    from scipy import stats

    data = table.dropna(subset=[time, *by]).drop_duplicates(subset=list(by))
    out = []
    for column in by:
        pearson = stats.pearsonr(data[column], data[time])
        spearman = stats.spearmanr(data[column], data[time])
        out.append(
            {
                "against": column,
                "n": len(data),
                "pearson_r": float(pearson.statistic),
                "pearson_p": float(pearson.pvalue),
                "spearman_rho": float(spearman.statistic),
                "spearman_p": float(spearman.pvalue),
            }
        )
    return pd.DataFrame(out)


def plot_claim(table: pd.DataFrame, time: str = "step_ms", *, title: str = ""):
    """Seaborn scatter plots of ``time`` against parameters, GMACs and kernel count."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = table.drop_duplicates(subset=["params", "gmacs", "conv_kernels"]).copy()
    data["params (M)"] = data["params"] / 1e6
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    for ax, column in zip(axes, ("params (M)", "gmacs", "conv_kernels"), strict=True):
        sns.regplot(data=data, x=column, y=time, ax=ax, ci=None, scatter_kws={"s": 40})
        for _, r in data.iterrows():
            ax.annotate(
                r["model"].removeprefix("hourglass_"),
                (r[column], r[time]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
        ax.set(
            xlabel="convolution kernels per forward pass" if column == "conv_kernels" else column
        )
    axes[0].set(ylabel=time.replace("_", " "))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def gpu_cost_table(
    rows: Sequence[Row], *, input_size: int = 256, width: int = 256
) -> pd.DataFrame | None:
    """:func:`cost_table` on this machine's GPU at the report's batch (:data:`GPU_STEP_BATCH`),
    or ``None`` when no CUDA device is reachable."""
    import torch

    if not torch.cuda.is_available():
        return None
    return cost_table(
        rows,
        input_size=input_size,
        width=width,
        step_batch=GPU_STEP_BATCH,
        step_repeats=GPU_STEP_REPEATS,
        latency_repeats=GPU_LATENCY_REPEATS,
        device="cuda",
    )


def structure_table(cost: pd.DataFrame) -> pd.DataFrame:
    """Each row's structure (ours: millions of parameters, GMACs, convolution kernels) beside
    Table 1's parameters, training minutes and epochs (the report's; NaN where it prints
    none), with the chapter's column names."""
    paper = paper_table()
    structure = cost[["variant", "model", "params", "gmacs", "conv_kernels"]].merge(
        paper[["variant", "params_m", "train_min", "epochs"]], on="variant", how="left"
    )
    structure["params"] = structure["params"] / 1e6
    return structure.rename(
        columns={
            "params": "params (M, ours)",
            "gmacs": "GMACs (ours)",
            "conv_kernels": "conv kernels (ours)",
            "params_m": "params (M, paper)",
            "train_min": "training min (paper)",
            "epochs": "epochs (paper)",
        }
    )


def report_times(cost: pd.DataFrame) -> pd.DataFrame:
    """The report's training times per epoch beside our MACs and kernel counts.

    The rows of Table 1 that print a training time, joined with ``cost``'s ``gmacs`` and
    ``conv_kernels`` (the architecture fixes them, so ours are the report's), with
    ``min_per_epoch`` and ``params`` (the printed millions as a count) added: ready for
    ``claim_correlations(report_times(cost), "min_per_epoch")``.
    """
    report = paper_table().merge(cost[["variant", "model", "gmacs", "conv_kernels"]], on="variant")
    return report.dropna(subset=["train_min"]).assign(
        min_per_epoch=lambda t: t["train_min"] / t["epochs"], params=lambda t: t["params_m"] * 1e6
    )


#: The two readings of the report's "average training time" (its footnote: "20 epochs or
#: minimum epochs to reach baseline mean score"): per epoch, or the whole run.
TIME_READINGS = {"min_per_epoch": "per epoch", "train_min": "whole run"}


def time_readings(report: pd.DataFrame) -> pd.DataFrame:
    """:func:`claim_correlations` of the report's times under both readings
    (:data:`TIME_READINGS`), one block of rows per reading (column ``reading``)."""
    return pd.concat(
        [
            claim_correlations(report, column).assign(reading=label)
            for column, label in TIME_READINGS.items()
        ],
        ignore_index=True,
    )[["reading", "against", "n", "pearson_r", "pearson_p", "spearman_rho", "spearman_p"]]


def claim_verdicts(readings: pd.DataFrame) -> dict[str, dict[str, float | str]]:
    """The verdict on "training time follows the layers, not the parameters" per reading of
    the report's times: the margin is Spearman's ρ with the kernel count minus ρ with the
    parameters, the noise Fisher's standard error ``1 / sqrt(n - 3)`` of a correlation over
    ``n`` rows (:func:`verdicts.margin_verdict`)."""
    from pose_helpers.chapters import verdicts

    by = readings.set_index(["reading", "against"])
    out = {}
    for label in dict.fromkeys(readings["reading"]):
        kernels = float(by.loc[(label, "conv_kernels"), "spearman_rho"])
        params = float(by.loc[(label, "params"), "spearman_rho"])
        n = int(by.loc[(label, "params"), "n"])
        noise = 1 / math.sqrt(n - 3) if n > 3 else math.nan
        out[label] = {
            "kernels_rho": kernels,
            "params_rho": params,
            "n": n,
            "margin": kernels - params,
            "noise": noise,
            "verdict": verdicts.margin_verdict(kernels - params, noise),
        }
    return out


def reading_note(report: pd.DataFrame, readings: pd.DataFrame) -> str:
    """The claim's verdict under each reading of the report's times, and the report's
    headline example under each (Markdown), from :func:`report_times` and
    :func:`time_readings`."""
    parts = [
        f"{label}: ρ = {v['kernels_rho']:.2f} with the kernel count and {v['params_rho']:.2f} "
        f"with the parameters, so the claim is **{v['verdict']}** (margin {v['margin']:+.2f} "
        f"against a noise of {v['noise']:.2f}, Fisher's standard error over n = {v['n']})"
        for label, v in claim_verdicts(readings).items()
    ]
    rows = report.set_index("model")
    example = ""
    if {"hourglass_baseline", "hourglass_no_bottleneck"} <= set(rows.index):
        base, free = rows.loc["hourglass_baseline"], rows.loc["hourglass_no_bottleneck"]
        example = (
            f" Under the per-epoch reading the report's bottleneck-free design, its example of "
            f"more parameters training faster, takes {free['min_per_epoch']:.2f} min per epoch "
            f"against the baseline's {base['min_per_epoch']:.2f}; as whole runs, "
            f"{free['train_min']:.0f} against {base['train_min']:.0f} min (in "
            f"{int(free['epochs'])} and {int(base['epochs'])} epochs)."
        )
    return "The report's times, read two ways: " + "; ".join(parts) + "." + example


def step_note(cost: pd.DataFrame) -> str:
    """The chapter's sentence on the baseline's training step time at the paper's scale
    (Markdown); empty when the cost table has no baseline."""
    base = cost.loc[cost["model"] == "hourglass_baseline"]
    if base.empty:
        return ""
    row = base.iloc[0]
    return (
        f"One training step of the baseline on {row['step_batch']} images takes "
        f"{row['step_ms'] / 1e3:.2f} s here. "
        "The report's batch is 24; a step is timed on fewer images so that the eleven rows fit "
        "the chapter's budget. At this size a CPU step is compute-bound, so its time grows about "
        "linearly with the batch (the `paper` profile times batch 24)."
    )


def claim_note(correlations: pd.DataFrame) -> str:
    """Which of kernel count and parameters a time follows more closely, in one sentence
    (Markdown), from :func:`claim_correlations` of the CPU step time."""
    by = correlations.set_index("against")
    kernels, params = by.loc["conv_kernels", "spearman_rho"], by.loc["params", "spearman_rho"]
    stronger = "kernel count" if kernels > params else "parameters"
    return (
        f"On this CPU the step time ranks with the kernel count at ρ = {kernels:.2f} and with "
        f"the parameters at ρ = {params:.2f}: it follows the **{stronger}** more closely."
    )
