"""The compression chapters' tables: our cells, the thesis's (reference only), side by side.

The thesis's numbers are read from ``../shared/seeds/tables`` (:func:`thesis_table`,
:func:`thesis_phone`); none is typed here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from pose_helpers.studies.compression.common import TABLE_METHODS, full_scale_baseline_mb

__all__ = [
    "TABLE_COLUMNS",
    "cells_table",
    "compare_cells",
    "fewest_within",
    "key_value",
    "rank_correlation",
    "reproduction_caption",
    "reproduction_table",
    "reproduction_view",
    "table_with_thesis",
    "thesis_phone",
    "thesis_table",
]

_CELL_COLUMNS = ["lambda", "threshold", "sparsity", "retained", "pckh", "size_mb"]
_THESIS_TABLES = {
    "baseline": "thesis_table_5_3",
    "l1": "thesis_table_5_4",
    "group_lasso": "thesis_table_5_5",
    "engineered": "thesis_table_5_6",
    "bayesian": "thesis_table_5_7",
    "bayesian_engineered": "thesis_table_5_8",
}
#: Display names of :func:`table_with_thesis`'s columns (ours and the thesis's).
TABLE_COLUMNS = {
    "lambda": "λ",
    "threshold": "threshold",
    "sparsity": "sparsity (% zero, ours)",
    "retained": "retained (ours)",
    "retained_thesis": "retained (thesis)",
    "pckh": "PCKh (ours)",
    "pckh_thesis": "PCKh (thesis)",
    "size_mb": "size MB (ours)",
    "size_mb_thesis": "size MB (thesis)",
}


def key_value(value: float) -> float:
    """Lambdas and thresholds that print alike match (6 significant digits)."""
    return float(f"{float(value):.6g}")


#: The statistic a method's threshold is on, where a record does not name it.
STATISTICS = {"l1": "weight", "group_lasso": "norm", "bayesian": "gamma"}


def cells_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, lambda, threshold) of a sweep of ``regularized_run`` (or
    ``bayesian_run`` with a ``method`` column).

    Args:
        runs: :func:`sweep.run_sweep`'s frame, one row per (``method``, ``lam``) with the
            record's ``cells`` (and ``diverged``). Points that failed (no ``cells``, see the
            sweep's ``error`` column) are left out.

    Returns:
        Columns ``method``, ``statistic`` (what the threshold is on: ``weight``, a group's
        ``norm`` or ``rms``, Algorithm 1's ``gamma``), ``lambda`` (the thesis's units),
        ``lambda_ours`` (the penalty's weight, where the record names it), ``threshold``,
        ``sparsity`` (% zero), ``retained``, ``pckh``, ``size_mb``, ``epochs`` and
        ``converged`` (NaN where the record does not say), ``diverged``; in the thesis's
        order: methods as they first appear, lambda descending, thresholds descending.

    Raises:
        ValueError: when ``method``, ``lam`` or ``cells`` is missing.
    """
    missing = sorted({"method", "lam", "cells"} - set(runs.columns))
    if missing:
        raise ValueError(
            f"runs lacks the columns {missing}: pass run_sweep's frame of regularized_run "
            f"(grid columns 'method' and 'lam')"
        )
    rows = []
    for _, run in runs.iterrows():
        cells = run["cells"]
        if not isinstance(cells, list):
            continue
        diverged = run.get("diverged", False)
        for cell in cells:
            rows.append(
                {
                    "method": run["method"],
                    "statistic": cell.get("statistic", STATISTICS.get(run["method"], "")),
                    "lambda": float(run["lam"]),
                    "lambda_ours": _number(run.get("lambda_ours")),
                    **{c: float(cell[c]) for c in _CELL_COLUMNS if c != "lambda"},
                    "epochs": _number(run.get("epochs")),
                    "converged": run.get("converged", math.nan),
                    "diverged": bool(diverged) if not pd.isna(diverged) else False,
                }
            )
    columns = ["method", "statistic", "lambda", "lambda_ours", *_CELL_COLUMNS[1:]]
    out = pd.DataFrame(rows, columns=[*columns, "epochs", "converged", "diverged"])
    order = {m: i for i, m in enumerate(dict.fromkeys(out["method"]))}
    out["_order"] = out["method"].map(order)
    out = out.sort_values(
        ["_order", "statistic", "lambda", "threshold"],
        ascending=[True, True, False, False],
        kind="stable",
    )
    return out.drop(columns="_order").reset_index(drop=True)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def thesis_table(name: str) -> pd.DataFrame:
    """A thesis table (``../shared/seeds/tables``) with our column names (reference only).

    Args:
        name: ``'l1'`` (Table 5.4), ``'group_lasso'`` (5.5), ``'bayesian'`` (5.7),
            ``'baseline'`` (5.3), ``'engineered'`` (5.6) or ``'bayesian_engineered'`` (5.8).

    Returns:
        For the sweeps: ``method``, ``lambda``, ``threshold``, ``retained`` (the thesis's
        "Sparsity": the retained fraction of the weights), ``pckh`` and ``size_mb``
        (theoretical: retained x the baseline's size). For the models: ``model``,
        ``params_m``, ``size_mb`` and ``pckh``.

    Raises:
        ValueError: for another name.
    """
    from pose_helpers.chapters.references import seed_table

    if name not in _THESIS_TABLES:
        raise ValueError(f"name={name!r}; expected one of {tuple(_THESIS_TABLES)}")
    raw = seed_table(_THESIS_TABLES[name])
    if name in TABLE_METHODS:
        return pd.DataFrame(
            {
                "method": name,
                "lambda": raw["lambda"].astype(float),
                "threshold": raw["threshold"].astype(float),
                "retained": raw["sparsity_retained_fraction"].astype(float),
                "pckh": raw["pckh_mean"].astype(float),
                "size_mb": raw["size_mb_theoretical"].astype(float),
            }
        )
    return pd.DataFrame(
        {
            "model": raw["model"],
            "params_m": raw["params_m"].astype(float),
            "size_mb": raw["size_mb"].astype(float),
            "pckh": raw["pckh_mean"].astype(float),
        }
    )


def thesis_phone() -> dict[str, float]:
    """The thesis's phone (Table 5.9): ``dense_s`` and ``compressed_s`` (inference seconds
    per image), ``speedup`` (their ratio), ``dense_app_mb`` and ``compressed_app_mb``.

    Raises:
        ValueError: when the seed table lacks its time or app-size column.
    """
    from pose_helpers.chapters.references import seed_table

    raw = seed_table("thesis_table_5_9")
    times = [c for c in raw.columns if "time" in c.lower()]
    apps = [c for c in raw.columns if "app" in c.lower()]
    if not times or not apps:
        raise ValueError(f"thesis_table_5_9 lacks a time or app-size column: {list(raw.columns)}")
    # the dense model is the slower one
    ordered = raw.astype({times[0]: float, apps[0]: float}).sort_values(times[0], ascending=False)
    dense, compressed = ordered.iloc[0], ordered.iloc[-1]
    return {
        "dense_s": float(dense[times[0]]),
        "compressed_s": float(compressed[times[0]]),
        "speedup": float(dense[times[0]] / compressed[times[0]]),
        "dense_app_mb": float(dense[apps[0]]),
        "compressed_app_mb": float(compressed[apps[0]]),
    }


def compare_cells(ours: pd.DataFrame, thesis: pd.DataFrame) -> pd.DataFrame:
    """Our cells and the thesis's side by side on (lambda, threshold) (and method if both have it).

    Args:
        ours: :func:`cells_table`'s frame.
        thesis: :func:`thesis_table`'s frame for ``'l1'`` or ``'group_lasso'``.

    Returns:
        An outer join (a cell only one side has gets NaN on the other): the keys, then
        ``retained``, ``pckh`` and ``size_mb`` with the suffixes ``_ours`` and ``_thesis``;
        lambda descending, thresholds descending.
    """
    on = ["lambda", "threshold"]
    if "method" in ours.columns and "method" in thesis.columns:
        on = ["method", *on]
    values = ["retained", "pckh", "size_mb"]
    frames = []
    for frame in (ours, thesis):
        missing = sorted(set(on + values) - set(frame.columns))
        if missing:
            raise ValueError(f"a frame lacks the columns {missing}")
        part = frame[on + values].copy()
        part["lambda"] = part["lambda"].map(key_value)
        part["threshold"] = part["threshold"].map(key_value)
        frames.append(part)
    both = frames[0].merge(frames[1], on=on, how="outer", suffixes=("_ours", "_thesis"))
    columns = on + [f"{v}_{side}" for v in values for side in ("ours", "thesis")]
    both = both.sort_values(
        on, ascending=[True] * (len(on) - 2) + [False, False], kind="stable"
    ).reset_index(drop=True)
    return both[columns]


def table_with_thesis(cells: pd.DataFrame, method: str) -> pd.DataFrame:
    """One method's cells (the CSV of Table 5.4, 5.5 or 5.7) with the thesis's values beside them.

    Args:
        cells: :func:`cells_table`'s frame.
        method: ``'l1'``, ``'group_lasso'`` or ``'bayesian'``.

    Returns:
        Ours: ``lambda``, ``threshold``, ``sparsity`` (% zero), ``retained``, ``pckh``,
        ``size_mb``, ``diverged``; the thesis's (reference): ``retained_thesis`` (its
        "Sparsity"), ``pckh_thesis``, ``size_mb_thesis``. A (lambda, threshold) the thesis
        does not have gets NaN there.
    """
    if method not in TABLE_METHODS:
        raise ValueError(f"method={method!r}; expected one of {TABLE_METHODS}")
    ours = cells[cells["method"] == method].drop(columns="method")
    ours = ours.reset_index(drop=True)
    thesis = thesis_table(method).drop(columns="method")
    for frame in (ours, thesis):
        for key in ("lambda", "threshold"):
            frame[key] = frame[key].map(key_value)
    thesis = thesis.rename(columns={c: f"{c}_thesis" for c in ("retained", "pckh", "size_mb")})
    return ours.merge(thesis, on=["lambda", "threshold"], how="left")


def reproduction_table(cells: pd.DataFrame, method: str, lambdas: Sequence[float]) -> pd.DataFrame:
    """:func:`table_with_thesis` for the cells of ``lambdas`` only (a chapter's Table 5.4
    or 5.5: the thesis's lambdas, without those beyond its range)."""
    table = table_with_thesis(cells, method)
    return table[table["lambda"].isin([key_value(lam) for lam in lambdas])]


def reproduction_view(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`table_with_thesis` frame as shown: our columns beside the thesis's, with
    their display names (:data:`TABLE_COLUMNS`)."""
    return table[list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS)


def reproduction_caption(number: str, max_epochs: int) -> str:
    """The caption of a chapter's Table 5.4 or 5.5 (``number``)."""
    return (
        f"Table {number}: ours (CPU scale, SynthPose, fine-tuned until converged, at most "
        f"{max_epochs} epochs) beside the thesis's (full scale, MPII); sizes are theoretical "
        f"(retained × {full_scale_baseline_mb():.2f} MB)"
    )


def rank_correlation(x: pd.Series, y: pd.Series) -> float:
    """Spearman's rank correlation of the pairs where both are known
    (:func:`scipy.stats.spearmanr`); NaN for fewer than 3 pairs or a constant side."""
    from scipy.stats import spearmanr

    ok = x.notna() & y.notna()
    if ok.sum() < 3 or x[ok].nunique() < 2 or y[ok].nunique() < 2:
        return math.nan
    return float(spearmanr(x[ok], y[ok]).statistic)


def fewest_within(cells: pd.DataFrame, baseline_pckh: float, drop: float) -> float:
    """The smallest retained fraction of the cells whose PCKh is at most ``drop`` points
    below ``baseline_pckh``; NaN when none is."""
    ok = cells[cells["pckh"] >= baseline_pckh - drop]
    return float(ok["retained"].min()) if len(ok) else math.nan
