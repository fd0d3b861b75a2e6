"""The mmWave study's tables and findings: runs averaged over seeds beside the cost cards,
the poster's two headline comparisons measured, each component's effect, and the
chapter's discussion.

The poster's numbers are read from ``seed_table('mmwave_findings')`` and the MARS paper's
from ``external_reference('mars_cnn_mae')`` (:mod:`pose_helpers.chapters.references`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import pandas as pd

from pose_helpers.studies.mmwave.radar_runs import CONFIG_NAMES, REFERENCE, model_name

__all__ = [
    "COMPONENTS",
    "ERROR_COLUMNS",
    "component_effects",
    "component_scale",
    "datasets_note",
    "discussion",
    "error_table",
    "findings",
    "mars_paper_mae_cm",
    "printed_config_note",
    "results_table",
    "study_table",
]

#: The three components a configuration scales: short name -> what the chapter calls it.
COMPONENTS = {"feat": "feature extractor", "rec": "recurrent layer", "head": "regression head"}
#: Columns of the per-data-set error table (:func:`error_table`).
ERROR_COLUMNS = (
    "config",
    "component",
    "scale",
    "params",
    "mae_cm",
    "mae_sd_cm",
    "rmse_cm",
    "mpjpe_cm",
    "seeds",
    "epochs",
    "converged",
    "diverged",
)


def component_scale(config: str) -> tuple[str, float]:
    """Which component a configuration scales, and by what: ``'0250_rec'`` -> ``('rec', 0.25)``.

    The baseline is ``('baseline', 1.0)``; ``impr_*`` are ``('improved', nan)`` and the
    MARS CNN ``('reference', nan)``. ``0250_feat`` counts as x0.25 by its name although
    its printed third layer (64) is unscaled.
    """
    short = model_name(config).removeprefix("mmwave_")
    if short == "baseline":
        return "baseline", 1.0
    if short == REFERENCE:
        return "reference", math.nan
    if short.startswith("impr_"):
        return "improved", math.nan
    factor, component = short.split("_")
    return component, int(factor) / 1000


def study_table(runs: pd.DataFrame, cards: pd.DataFrame) -> pd.DataFrame:
    """Runs averaged over seeds per (config, dataset), joined with the cost cards.

    Args:
        runs: :func:`sweep.run_sweep` of :func:`radar_run` (columns ``config``, ``dataset``,
            ``seed``, the metrics, ``diverged``, ``error``).
        cards: :func:`cost_cards`.

    Returns:
        One row per (config, dataset) in the poster's order: ``component``, ``scale``,
        ``mae_cm`` (mean over seeds), ``mae_sd_cm`` (between seeds), ``rmse_cm``,
        ``mpjpe_cm``, ``seeds`` (finished, not diverged), ``epochs`` (trained, mean over
        seeds; early stopping on validation), ``converged`` (seeds whose validation MAE had
        stopped improving), ``diverged`` (count), then the
        cost columns (``params``, ``weights_mb``, ``activation_mb``, ``latency_ms`` ...).
    """
    data = runs.copy()
    data["config"] = [model_name(c).removeprefix("mmwave_") for c in data["config"]]
    failed = data["error"].notna() if "error" in data else pd.Series(False, index=data.index)
    diverged = (
        data["diverged"].fillna(False).astype(bool)
        if "diverged" in data
        else pd.Series(False, index=data.index)
    )
    ok = data[~failed & ~diverged]
    grouped = ok.groupby(["config", "dataset"], sort=False)
    table = grouped.agg(
        mae_cm=("mae_cm", "mean"),
        mae_sd_cm=("mae_cm", "std"),
        rmse_cm=("rmse_cm", "mean"),
        mpjpe_cm=("mpjpe_cm", "mean"),
        seeds=("mae_cm", "size"),
        epochs=("epochs_trained", "mean"),
        converged=("converged", "sum"),
    ).reset_index()
    counts = data[diverged].groupby(["config", "dataset"]).size().rename("diverged")
    # outer: a configuration whose every seed diverged keeps its row (with seeds = 0)
    table = table.merge(counts.reset_index(), on=["config", "dataset"], how="outer")
    table["seeds"] = table["seeds"].fillna(0).astype(int)
    table["diverged"] = table["diverged"].fillna(0).astype(int)
    table["converged"] = table["converged"].fillna(0).astype(int)
    cost = cards.drop(columns=[c for c in ("window", "threads") if c in cards])
    table = table.merge(cost, on="config", how="left")
    scales = [component_scale(c) for c in table["config"]]
    table.insert(2, "component", [s[0] for s in scales])
    table.insert(3, "scale", [s[1] for s in scales])
    order = {c: i for i, c in enumerate((*CONFIG_NAMES, REFERENCE))}
    table["_order"] = table["config"].map(order)
    return table.sort_values(["dataset", "_order"]).drop(columns="_order").reset_index(drop=True)


def findings(table: pd.DataFrame, seeds_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The poster's conclusions as measured numbers: impr_small and 0250_rec vs the baseline.

    Per data set: latency saving % = ``100 * (1 - latency / latency_baseline)``; accuracy
    cost % = ``100 * (mae / mae_baseline - 1)`` (relative MAE increase) and in cm. The
    poster's values (``seed_table('mmwave_findings')``: impr_small saves 85.9 % latency at
    4.8 % accuracy cost) sit beside them as ``paper_*`` columns (NaN where none is printed).
    """
    from pose_helpers.chapters.references import seed_table

    paper = seed_table("mmwave_findings", seeds_dir)
    printed = {
        (row.model, row.metric): float(row.value_pct) for row in paper.itertuples(index=False)
    }
    rows = []
    for dataset, part in table.groupby("dataset", sort=False):
        by_config = part.set_index("config")
        if "baseline" not in by_config.index:
            continue
        base = by_config.loc["baseline"]
        for config in ("impr_small", "0250_rec"):
            if config not in by_config.index:
                continue
            row = by_config.loc[config]
            rows.append(
                {
                    "dataset": dataset,
                    "config": config,
                    "latency_ms": row["latency_ms"],
                    "baseline_latency_ms": base["latency_ms"],
                    "latency_saving_pct": 100 * (1 - row["latency_ms"] / base["latency_ms"]),
                    "paper_latency_saving_pct": printed.get((config, "latency"), math.nan),
                    "mae_cm": row["mae_cm"],
                    "baseline_mae_cm": base["mae_cm"],
                    "accuracy_cost_pct": 100 * (row["mae_cm"] / base["mae_cm"] - 1),
                    "accuracy_cost_cm": row["mae_cm"] - base["mae_cm"],
                    "paper_accuracy_cost_pct": printed.get((config, "accuracy"), math.nan),
                }
            )
    return pd.DataFrame(rows)


def component_effects(table: pd.DataFrame) -> pd.DataFrame:
    """Per data set and component: the range of latency and MAE over its scales (x0.125-x2).

    Each component's configurations are taken together with the baseline (its x1 point).
    ``mae_range_cm`` beside ``seed_sd_cm`` (the mean between-seed standard deviation of
    those configurations) tells a real effect from noise.
    """
    rows = []
    for dataset, part in table.groupby("dataset", sort=False):
        base = part[part["component"] == "baseline"]
        for component, label in COMPONENTS.items():
            group = pd.concat([base, part[part["component"] == component]])
            if len(group) < 2:
                continue
            rows.append(
                {
                    "dataset": dataset,
                    "component": label,
                    "latency_min_ms": group["latency_ms"].min(),
                    "latency_max_ms": group["latency_ms"].max(),
                    "latency_range_ms": group["latency_ms"].max() - group["latency_ms"].min(),
                    "mae_min_cm": group["mae_cm"].min(),
                    "mae_max_cm": group["mae_cm"].max(),
                    "mae_range_cm": group["mae_cm"].max() - group["mae_cm"].min(),
                    "seed_sd_cm": group["mae_sd_cm"].mean(),
                }
            )
    return pd.DataFrame(rows)


def discussion(
    table: pd.DataFrame, floors: dict[str, dict[str, float]], found: pd.DataFrame | None = None
) -> str:
    """The chapter's discussion (Markdown), computed from the study table and, where given,
    the findings table (:func:`findings_table`): which findings hold and which do not,
    each component's measured ranges, the floor and the MARS reference."""
    lines = []
    if found is not None:
        for verdict in ("does not hold", "holds in direction only", "inconclusive", "holds"):
            part = found[found["verdict"] == verdict]
            if len(part):
                names = "; ".join(
                    f"*{row.finding}* (ours: {row.ours_mars if row.ours_mars != 'not run' else row.ours_sim})"
                    for row in part.itertuples(index=False)
                )
                lines.append(
                    f"- **{verdict.capitalize()}** ({len(part)} of {len(found)}): {names}."
                )
        untested = found[found["verdict"] == "not tested"]
        if len(untested):
            lines.append(
                f"- **Not tested** ({len(untested)}): "
                + "; ".join(f"*{f}*" for f in untested["finding"])
                + " (the configurations they need did not run in this profile)."
            )
    effects = component_effects(table)
    for dataset, part in effects.groupby("dataset", sort=False):
        by = part.set_index("component")
        slowest = by["latency_range_ms"].idxmax()
        widest = by["mae_range_cm"].idxmax()
        detail = "; ".join(
            f"{c}: latency {r.latency_min_ms:.3f}-{r.latency_max_ms:.3f} ms, "
            f"MAE {r.mae_min_cm:.2f}-{r.mae_max_cm:.2f} cm (seeds' sd {r.seed_sd_cm:.2f} cm)"
            for c, r in by.iterrows()
        )
        lines.append(
            f"- **`{dataset}`**: scaling the {slowest} moves latency the most and scaling the "
            f"{widest} moves the error the most ({detail}); the mean-pose floor is "
            f"{floors[dataset]['mae_cm']:.2f} cm."
        )
    reference = table[table["config"] == REFERENCE]
    if len(reference):
        lines.append(
            "- **The MARS paper's CNN** (single frames, no recurrence) reaches "
            + " and ".join(
                f"{row.mae_cm:.2f} cm MAE on `{row.dataset}`"
                for row in reference.itertuples(index=False)
            )
            + f"; the MARS paper reports {mars_paper_mae_cm():.2f} cm on its official features, "
            "which were not available here (our rebuilt MARS features are harder, see the "
            "data README)."
        )
    return "\n".join(lines)


def printed_config_note(config: str = "0250_feat") -> str:
    """The chapter's note on a configuration whose printed sizes break the poster's pattern
    (Markdown), read from ``seed_table('mmwave_configs')``: ``0250_feat``'s third layer is
    printed at the baseline's size, where x0.25 would be a quarter of it."""
    from pose_helpers.chapters.references import seed_table

    printed = seed_table("mmwave_configs").set_index("model_name")
    layers = [c for c in printed.columns if c.startswith("feat_extr_layer")]
    own, base = printed.loc[config, layers], printed.loc["baseline", layers]
    ratios = ", ".join(f"{int(o)}/{int(b)}" for o, b in zip(own, base, strict=True))
    unscaled = [i + 1 for i, (o, b) in enumerate(zip(own, base, strict=True)) if o == b]
    return (
        f"`{config}` is printed with feature-extractor layers {'/'.join(str(int(o)) for o in own)} "
        f"(against the baseline's: {ratios}); layer {', '.join(map(str, unscaled))} is not "
        "scaled, so this row is not the x0.25 its name says. It is trained as printed; read its "
        "row as a partial shrink of the feature extractor."
    )


def mars_paper_mae_cm() -> float:
    """MAE (cm) the MARS paper (An & Ogras 2021) reports for its CNN on the official features.

    A labelled reference read from ``external_reference('mars_cnn_mae')``, not a result of ours.
    """
    from pose_helpers.chapters.references import external_reference

    return float(external_reference("mars_cnn_mae")["value"])


def error_table(table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The test errors of one data set's rows of a :func:`study_table` (:data:`ERROR_COLUMNS`).

    Raises:
        ValueError: for a data set the table does not hold.
    """
    if dataset not in set(table["dataset"]):
        raise ValueError(f"dataset={dataset!r}; the table holds {sorted(set(table['dataset']))}")
    return table.loc[table["dataset"] == dataset, list(ERROR_COLUMNS)]


def results_table(table: pd.DataFrame, latencies: pd.DataFrame | None = None) -> pd.DataFrame:
    """The study table as saved (``book/results/mmwave/components.csv``).

    With ``latencies`` (:func:`runtime_latency`), one row per (config, dataset, runtime,
    batch): the study table's accuracy and structure columns beside each runtime's latency,
    the floor and the latency above it (the batch-1 PyTorch timing of the cost cards is then
    dropped, the same measurement being in the ``pytorch``/1 rows). Without, one row per
    (config, dataset), without the latency percentiles, which belong to the machine more
    than the median does.
    """
    spread = [c for c in ("latency_p10_ms", "latency_p90_ms") if c in table]
    if latencies is None:
        return table.drop(columns=spread)
    timed = latencies.drop(columns=["latency_p10_ms", "latency_p90_ms"])
    merged = table.drop(columns=[*spread, "latency_ms"]).merge(timed, on="config", how="left")
    return merged.reset_index(drop=True)


def datasets_note(datasets: Sequence[str]) -> str:
    """The chapter's sentence naming the data sets of this run (Markdown)."""
    return (
        f"Data sets in this run: {', '.join(f'`{d}`' for d in datasets)}"
        + ("" if "mars" in datasets else " (no real radar data here: the simulated radar only)")
        + "."
    )
