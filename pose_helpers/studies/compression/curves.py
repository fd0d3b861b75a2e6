"""The L1 and group-lasso sweeps as curves: spanned until they cost, the thesis's cells marked
on them by the transport rule, and the reading of the group threshold chosen by the thesis's
own retained range.

A sweep *spans* when some cell keeps at least :data:`SPAN_TOP` of the weights and some cell
keeps at most :data:`SPAN_BOTTOM` of them or scores :data:`COLLAPSE_POINTS` below the baseline
(:func:`span`); :func:`spanning_sweep` adds a decade of lambda at the end that falls short
until it does (or its extensions run out). λ is in the thesis's units everywhere here;
``lambda_factor`` (the measured transport rule) turns it into ours once, in the run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pose_helpers.studies.compression.common import check_count, read_results, stored_run
from pose_helpers.studies.compression.sparsity import sparsity_sweep, sweep_points
from pose_helpers.studies.compression.tables import cells_table, key_value, thesis_table

__all__ = [
    "COLLAPSE_POINTS",
    "SPAN_BOTTOM",
    "SPAN_TOP",
    "TRANSPORT_STUDY",
    "choose_reading",
    "chosen_statistic",
    "control_cells",
    "reading_cells",
    "sweep_cells",
    "extension",
    "plot_sweep",
    "proximal_check",
    "proximal_note",
    "reading_note",
    "saved_sweeps",
    "span",
    "spanning_sweep",
    "sweep_note",
    "sweep_table",
    "transport_factor",
]

#: Bump when the code changes what a stored run computes (it keys the run store).
STUDY_VERSION = 1

#: A sweep's top: some cell keeps at least this fraction of the weights.
SPAN_TOP = 0.95
#: A sweep's bottom: some cell keeps at most this fraction ...
SPAN_BOTTOM = 0.2
#: ... or scores this many PCKh points below the baseline (a collapse).
COLLAPSE_POINTS = 20.0
#: The run store's study of the measured transport factor.
TRANSPORT_STUDY = "compression_lambda_factor"
#: Significant digits the factor keeps (its seeds differ in the second: see the baseline
#: chapter), so that a run's key does not move with the last bits of a measurement.
FACTOR_DIGITS = 3


# --------------------------------------------------------------------------- the rule


def _factor_result(
    baseline: Mapping[str, Any], seeds: Sequence[int], reading: str, threads: Any, progress: bool
) -> dict[str, Any]:
    from pose_helpers.studies.compression.lambda_transport import measure_transport

    measured = measure_transport(baseline, seeds=seeds, data_root=baseline.get("data_root"))
    table = measured["table"].set_index("reading")
    row = table.loc[reading]
    return {
        "factor": float(f"{row['factor']:.{FACTOR_DIGITS}g}"),
        "factor_measured": float(row["factor"]),
        "factor_min": float(row["factor_min"]),
        "factor_max": float(row["factor_max"]),
    }


def transport_factor(
    baseline: Mapping[str, Any], seeds: Sequence[int] = (0, 1, 2), reading: str = "simple_baselines"
) -> dict[str, float]:
    """The transport rule's factor (our λ per thesis λ) for ``baseline``, measured by
    :func:`lambda_transport.measure_transport` under ``reading`` and kept to
    :data:`FACTOR_DIGITS` significant digits (a stored run of :data:`TRANSPORT_STUDY`: read
    back on every machine, so every run keyed by it is found again).

    Raises:
        ValueError: for no seed or when the gradient cannot be measured (before any training).
    """
    if not seeds:
        raise ValueError("seeds is empty; the transport needs at least one measurement")
    return stored_run(
        _factor_result,
        TRANSPORT_STUDY,
        baseline=dict(baseline),
        seeds=[int(s) for s in seeds],
        reading=reading,
    )


# --------------------------------------------------------------------------- spans


def span(cells: pd.DataFrame, baseline_pckh: float) -> dict[str, Any]:
    """Where a sweep's cells reach: ``top`` (most retained), ``bottom`` (least), ``worst``
    (lowest PCKh), and whether they reach the top, the bottom or a collapse."""
    ok = cells[~cells["diverged"].astype(bool)]
    top = float(ok["retained"].max()) if len(ok) else math.nan
    bottom = float(ok["retained"].min()) if len(ok) else math.nan
    worst = float(ok["pckh"].min()) if len(ok) else math.nan
    collapsed = bool(worst <= baseline_pckh - COLLAPSE_POINTS) or bool(cells["diverged"].any())
    return {
        "top": top,
        "bottom": bottom,
        "worst": worst,
        "reaches_top": bool(top >= SPAN_TOP),
        "reaches_bottom": bool(bottom <= SPAN_BOTTOM) or collapsed,
        "collapsed": collapsed,
    }


def extension(lambdas: Sequence[float], cells: pd.DataFrame, baseline_pckh: float) -> list[float]:
    """The lambdas (thesis units) that extend a sweep toward its span: a decade below the
    smallest when no cell keeps :data:`SPAN_TOP`, a decade above the largest when none
    reaches :data:`SPAN_BOTTOM` or a collapse; empty when it spans."""
    reach = span(cells, baseline_pckh)
    positive = sorted(lam for lam in lambdas if lam > 0)
    new = []
    if not reach["reaches_top"]:
        new.append(key_value(positive[0] / 10))
    if not reach["reaches_bottom"]:
        new.append(key_value(positive[-1] * 10))
    return new


def spanning_sweep(
    method: str,
    lambdas: Sequence[float],
    *,
    statistic: str,
    baseline_pckh: float,
    extensions: int = 2,
    workers: int = 2,
    **settings: Any,
) -> pd.DataFrame:
    """:func:`sparsity.sparsity_sweep` of ``method`` over ``lambdas``, then up to
    ``extensions`` rounds of :func:`extension` (each a decade at the end that falls short of
    the span, judged on the cells of ``statistic``).

    Returns:
        The sweep's frame over every lambda run (``sparsity_sweep``'s columns).
    """
    extensions = check_count("extensions", extensions, minimum=0)
    lams = [float(lam) for lam in lambdas]
    for round_ in range(extensions + 1):
        runs = sparsity_sweep(sweep_points({method: lams}, **settings), workers=workers)
        cells = cells_table(runs)
        new = extension(lams, cells[cells["statistic"] == statistic], baseline_pckh)
        if not new or round_ == extensions:
            return runs
        lams += new
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- readings


def choose_reading(cells: pd.DataFrame, method: str = "group_lasso") -> pd.DataFrame:
    """Which reading of the group threshold lands in the thesis's retained range at its
    own (λ, threshold) cells: per statistic, the share of those cells whose retained fraction
    lies within the range the thesis's table spans, and the median |log ratio| of ours to
    the thesis's; the reading with the larger share (then the smaller ratio) is ``chosen``.

    Returns:
        ``statistic``, ``cells``, ``in_range`` (share), ``median_log_ratio``,
        ``retained_min``, ``retained_max`` (ours), ``thesis_min``, ``thesis_max``, ``chosen``.
    """
    thesis = thesis_table(method)
    low, high = float(thesis["retained"].min()), float(thesis["retained"].max())
    keys = {
        (key_value(a), key_value(b)): r
        for a, b, r in thesis[["lambda", "threshold", "retained"]].itertuples(index=False)
    }
    rows = []
    for stat, part in cells[cells["method"] == method].groupby("statistic", sort=True):
        pairs = [
            (r, keys[(key_value(lam), key_value(t))])
            for lam, t, r in part[["lambda", "threshold", "retained"]].itertuples(index=False)
            if (key_value(lam), key_value(t)) in keys and not math.isnan(r)
        ]
        ours = np.array([p[0] for p in pairs])
        theirs = np.array([p[1] for p in pairs])
        rows.append(
            {
                "statistic": stat,
                "cells": len(pairs),
                "in_range": float(np.mean((ours >= low) & (ours <= high))) if pairs else math.nan,
                "median_log_ratio": float(
                    np.median(np.abs(np.log(np.maximum(ours, 1e-9) / theirs)))
                )
                if pairs
                else math.nan,
                "retained_min": float(ours.min()) if pairs else math.nan,
                "retained_max": float(ours.max()) if pairs else math.nan,
                "thesis_min": low,
                "thesis_max": high,
            }
        )
    table = pd.DataFrame(rows)
    best = table.sort_values(["in_range", "median_log_ratio"], ascending=[False, True]).index[0]
    table["chosen"] = table.index == best
    return table


def reading_note(table: pd.DataFrame) -> str:
    """The chapter's sentence on :func:`choose_reading` (Markdown, every number from it)."""
    chosen = table[table["chosen"]].iloc[0]
    parts = [
        f"by the group's **{r.statistic}**, {r.in_range:.0%} of the thesis's {r.cells} cells land "
        f"in its range ({r.retained_min:.3g} to {r.retained_max:.3g} retained; median factor "
        f"{math.exp(r.median_log_ratio):.2g} from the thesis's value)"
        for r in table.itertuples()
    ]
    return (
        f"The thesis's group-lasso cells keep {chosen.thesis_min:.3g} to {chosen.thesis_max:.3g} "
        f"of the weights. Thresholded {'; '.join(parts)}. The tables use the **{chosen.statistic}** "
        "reading; the other stands beside it in the sweep's CSV. BatchNorm's γ and β belong to "
        "their filter's group under both readings (they are zeroed with it)."
    )


# --------------------------------------------------------------------------- tables and notes


def sweep_table(cells: pd.DataFrame, method: str, thesis_lambdas: Sequence[float]) -> pd.DataFrame:
    """One method's sweep as saved (``sweep_<method>.csv``): ``lambda`` (ours, the penalty's
    weight), ``lambda_thesis``, ``statistic``, ``threshold``, ``retained``, ``pckh``,
    ``epochs``, ``converged``, ``sparsity``, ``size_mb``, ``diverged``, ``thesis_cell``
    (the thesis prints this λ: its cell marked on our curve by the rule) and, where it does,
    ``retained_thesis`` and ``pckh_thesis`` (reference)."""
    ours = cells[(cells["method"] == method) & (cells["lambda"] > 0)].copy()
    marked = {key_value(lam) for lam in thesis_lambdas}
    ours["thesis_cell"] = ours["lambda"].map(key_value).isin(marked)
    thesis = thesis_table(method)[["lambda", "threshold", "retained", "pckh"]].copy()
    for frame in (ours, thesis):
        frame["_l"], frame["_t"] = frame["lambda"].map(key_value), frame["threshold"].map(key_value)
    thesis = thesis.rename(columns={"retained": "retained_thesis", "pckh": "pckh_thesis"})
    out = ours.merge(thesis.drop(columns=["lambda", "threshold"]), on=["_l", "_t"], how="left")
    out = out.rename(columns={"lambda": "lambda_thesis", "lambda_ours": "lambda"})
    columns = [
        "lambda",
        "lambda_thesis",
        "statistic",
        "threshold",
        "retained",
        "pckh",
        "epochs",
        "converged",
        "sparsity",
        "size_mb",
        "diverged",
        "thesis_cell",
        "retained_thesis",
        "pckh_thesis",
    ]
    return (
        out[columns]
        .sort_values(
            ["statistic", "lambda", "threshold"], ascending=[True, True, False], kind="stable"
        )
        .reset_index(drop=True)
    )


def sweep_note(
    table: pd.DataFrame, statistic: str, control: pd.DataFrame, baseline_pckh: float
) -> str:
    """What one sweep shows (Markdown, every number from ``table`` and the control)."""
    part = table[table["statistic"] == statistic]
    reach = span(part.assign(diverged=part["diverged"].astype(bool)), baseline_pckh)
    steps = part.drop_duplicates("lambda")
    unconverged = steps[~steps["converged"].astype(bool)]
    ctrl = control[control["statistic"] == statistic]
    within = part[part["pckh"] >= baseline_pckh - 2]
    cheapest = within.sort_values("retained").iloc[0] if len(within) else None
    text = [
        f"{len(steps)} values of λ (ours {steps['lambda'].min():.2g} to {steps['lambda'].max():.2g}; "
        f"thesis units {steps['lambda_thesis'].min():.2g} to {steps['lambda_thesis'].max():.2g}) "
        f"took {int(steps['epochs'].min())} to {int(steps['epochs'].max())} epochs; "
        + (
            "every run converged."
            if unconverged.empty
            else f"{len(unconverged)} stopped at the cap before converging (λ_thesis "
            + ", ".join(f"{v:.2g}" for v in unconverged["lambda_thesis"])
            + "); their cells are marked in the CSV."
        ),
        f"The cells keep {reach['top']:.3g} down to {reach['bottom']:.3g} of the weights, the "
        f"worst scoring {reach['worst']:.1f} % against the baseline's {baseline_pckh:.1f} %: "
        + (
            "the sweep spans from ≥ 0.95 retained to ≤ 0.2 retained or a collapse."
            if reach["reaches_top"] and reach["reaches_bottom"]
            else "the sweep does **not** span the range (its extensions ran out); the chapter "
            "cannot say what lies beyond."
        ),
    ]
    if len(ctrl):
        text.append(
            f"The control (λ = 0, {int(ctrl['epochs'].max())} epochs) scores "
            f"{ctrl['pckh'].max():.1f} % and keeps {ctrl['retained'].min():.3g} to "
            f"{ctrl['retained'].max():.3g} under the same thresholds."
        )
    if cheapest is not None:
        text.append(
            f"The sparsest cell within 2 points of the baseline keeps **{cheapest['retained']:.3g}** "
            f"(λ_thesis {cheapest['lambda_thesis']:.2g}, threshold {cheapest['threshold']:g}, "
            f"{cheapest['pckh']:.1f} %)."
        )
    return " ".join(text)


def plot_sweep(table: pd.DataFrame, statistic: str, baseline_pckh: float, title: str):
    """Two panels of one sweep (cells of ``statistic``): retained fraction against our λ,
    one line per threshold (left), and PCKh against the retained fraction (right); the
    thesis's cells, placed by the rule, are ringed; the thesis's own values are crosses."""
    import matplotlib.pyplot as plt

    part = table[table["statistic"] == statistic]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for threshold, cells in part.groupby("threshold", sort=False):
        cells = cells.sort_values("lambda")
        (line,) = left.plot(
            cells["lambda"], cells["retained"], marker="o", label=f"threshold {threshold:g}"
        )
        right.plot(
            cells["retained"],
            cells["pckh"],
            marker="o",
            color=line.get_color(),
            label=f"threshold {threshold:g}",
        )
        marked = cells[cells["thesis_cell"]]
        left.scatter(
            marked["lambda"], marked["retained_thesis"], marker="x", color=line.get_color()
        )
        right.scatter(
            marked["retained"],
            marked["pckh"],
            s=120,
            facecolors="none",
            edgecolors=line.get_color(),
        )
    left.set(
        xscale="log",
        xlabel="λ (ours; the thesis's × the rule's factor)",
        ylabel="retained fraction",
        ylim=(0, 1.05),
    )
    left.axhline(SPAN_TOP, ls=":", c="grey")
    left.axhline(SPAN_BOTTOM, ls=":", c="grey")
    right.axhline(baseline_pckh, ls=":", c="grey", label="baseline")
    right.axhline(baseline_pckh - COLLAPSE_POINTS, ls="--", c="grey", label="collapse")
    right.set(xlabel="retained fraction", ylabel="mean PCKh@0.5 (%)", xlim=(0, 1.05))
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- cells


def sweep_cells(*runs: pd.DataFrame) -> pd.DataFrame:
    """:func:`tables.cells_table` of several sweeps' frames together, each (method, lambda)
    once (the spanning sweeps read back the first sweep's records)."""
    frames = [r for r in runs if len(r)]
    both = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    both = both.assign(_lam=both["lam"].map(key_value))
    both = both.drop_duplicates(["method", "_lam"]).drop(columns="_lam")
    return cells_table(both)


def control_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The control's cells (λ = 0: one network, scored under every reading)."""
    return cells[cells["lambda"] == 0].reset_index(drop=True)


def reading_cells(cells: pd.DataFrame, method: str, statistic: str) -> pd.DataFrame:
    """The regularized cells (λ > 0) of ``method`` thresholded on ``statistic``."""
    keep = (cells["method"] == method) & (cells["statistic"] == statistic) & (cells["lambda"] > 0)
    return cells[keep].reset_index(drop=True)


def chosen_statistic(table: pd.DataFrame) -> str:
    """The reading :func:`choose_reading` chose."""
    return str(table.loc[table["chosen"], "statistic"].iloc[0])


# --------------------------------------------------------------------------- proximal step


def proximal_check(lam: float, *, workers: int = 2, **settings: Any) -> pd.DataFrame:
    """L1 at one ``lam`` (thesis units) trained both ways, the plain penalty and the
    proximal step (:mod:`pose_helpers.compress.proximal`), with the same ``settings``
    (:func:`sparsity.regularized_run`'s, without ``step``): does the faster step land where
    the penalty does?

    Returns:
        One row per (step, threshold): ``step``, ``lambda``, ``threshold``, ``retained``,
        ``pckh``, ``epochs``, ``converged``.
    """
    rows = []
    for step in ("penalty", "proximal"):
        # the penalty is the default: named, it would key a new run beside the L1 chapter's
        named = {} if step == "penalty" else {"step": step}
        runs = sparsity_sweep(sweep_points({"l1": [lam]}, **named, **settings), workers=workers)
        cells = cells_table(runs)
        rows.append(cells.assign(step=step))
    both = pd.concat(rows, ignore_index=True)
    return both[["step", "lambda", "threshold", "retained", "pckh", "epochs", "converged"]]


def proximal_note(table: pd.DataFrame) -> str:
    """Where the proximal step lands against the plain penalty (:func:`proximal_check`), per
    threshold, in words."""
    plain = table[table["step"] == "penalty"].set_index("threshold")
    prox = table[table["step"] == "proximal"].set_index("threshold")
    lam = float(table["lambda"].iloc[0])
    parts = [
        f"at threshold {t:g} the proximal step keeps {prox.loc[t, 'retained']:.3f} "
        f"({prox.loc[t, 'pckh']:.1f} %) against the penalty's {plain.loc[t, 'retained']:.3f} "
        f"({plain.loc[t, 'pckh']:.1f} %)"
        for t in sorted(plain.index, reverse=True)
        if t in prox.index
    ]
    gap = max(abs(prox.loc[t, "retained"] - plain.loc[t, "retained"]) for t in plain.index)
    converged = {
        step: f"{int(rows['epochs'].iloc[0])} epochs"
        + ("" if bool(rows["converged"].iloc[0]) else ", not converged")
        for step, rows in table.groupby("step")
    }
    return (
        f"**The proximal step, checked on L1 at λ_thesis = {lam:g}:** "
        + "; ".join(parts)
        + f". The largest gap in the retained fraction is {gap:.3f} (penalty: "
        f"{converged['penalty']}; proximal: {converged['proximal']}). Both minimize the same "
        "objective; the proximal step leaves exact zeros, so its small thresholds read "
        "settled values where the penalty's read Adam's jitter around zero."
    )


# --------------------------------------------------------------------------- saved sweeps


def saved_sweeps(results: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """The L1 and group-lasso cells their chapters saved (``sweep_l1.csv``, thresholded per
    weight; ``sweep_group_lasso.csv`` at Table 5.5's reading), by method, for Fig. 5.1:
    ``lambda`` (the thesis's units), ``threshold``, ``retained``, ``pckh`` and the rest of
    :func:`sweep_table`'s columns.

    Args:
        results: the folder of the tables (default ``book/results/compression``; a relative
            one is taken from the repository's root).

    Raises:
        FileNotFoundError: naming the chapter whose table is missing.
    """
    read = read_results(
        {
            "l1": ("sweep_l1.csv", "compression_sparsity"),
            "group_lasso": ("sweep_group_lasso.csv", "compression_group_lasso"),
            "reading": ("table_5_5_group_lasso.csv", "compression_group_lasso"),
        },
        results,
    )
    reading = str(read["reading"]["statistic"].iloc[0])
    out = {}
    for method, statistic in (("l1", "weight"), ("group_lasso", reading)):
        sweep = read[method]
        sweep = sweep[sweep["statistic"] == statistic]
        out[method] = sweep.rename(columns={"lambda": "lambda_ours", "lambda_thesis": "lambda"})
    return out
