"""One frontier: every model the book trains, latency at full scale against accuracy at
CPU scale, with the Pareto front marked, and which model to ship under a latency budget.

Accuracy protocols differ between families (the compression baseline's SynthPose task, the
hourglass chapter's, MARS radar error), so each family is its own panel and its own front;
a model is never compared across protocols. Within the Simple Baselines family, latencies
measured in other chapters' runs are carried as ratios to the dense model of the same run
and anchored on this chapter's dense measurement (speeds compare as ratios measured in one
run).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "FRONTIER_COLUMNS",
    "family_references",
    "frontier_points",
    "other_results",
    "pareto",
    "plot_frontier",
    "shipping_note",
]

#: Columns of ``frontier.csv``.
FRONTIER_COLUMNS = (
    "family",
    "model",
    "source",
    "runtime",
    "latency_ms",
    "score",
    "metric",
    "higher_is_better",
    "pareto",
)


#: The families (one panel and one front each) and their metrics.
SB_FAMILY = "Simple Baselines (compression task, SynthPose 64 px)"
HOURGLASS_FAMILY = "stacked hourglass (its chapter's task)"
RADAR_FAMILY = "mmWave radar (MARS)"
PCKH_METRIC = "mean PCKh@0.5 (%)"
RADAR_METRIC = "MAE (cm)"


def _point(
    family: str,
    model: str,
    source: str,
    runtime: str,
    latency_ms: float,
    score: float,
    metric: str = PCKH_METRIC,
) -> dict:
    """One row of ``frontier.csv`` (a lower score is better only for the radar error)."""
    return {
        "family": family,
        "model": model,
        "source": source,
        "runtime": runtime,
        "latency_ms": float(latency_ms),
        "score": float(score),
        "metric": metric,
        "higher_is_better": metric != RADAR_METRIC,
    }


def pareto(
    latency: Sequence[float], score: Sequence[float], higher_is_better: bool = True
) -> np.ndarray:
    """Which points no other point beats: as fast or faster **and** as good or better, one
    of them strictly. NaN points are never on the front."""
    lat = np.asarray(latency, dtype=float)
    val = np.asarray(score, dtype=float) * (1 if higher_is_better else -1)
    ok = np.isfinite(lat) & np.isfinite(val)
    front = np.zeros(len(lat), dtype=bool)
    for i in np.flatnonzero(ok):
        others = ok.copy()
        others[i] = False
        beaten = (
            (lat[others] <= lat[i])
            & (val[others] >= val[i])
            & ((lat[others] < lat[i]) | (val[others] > val[i]))
        )
        front[i] = not beaten.any()
    return front


def frontier_points(
    *,
    dense_ms: float,
    head_to_head: pd.DataFrame | None = None,
    heads: pd.DataFrame | None = None,
    quantization: pd.DataFrame | None = None,
    distillation: pd.DataFrame | None = None,
    hourglass: pd.DataFrame | None = None,
    mmwave: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The points of every family (``frontier.csv``), each table optional.

    Args:
        dense_ms: this chapter's ONNX Runtime fp32 1-thread latency of the dense full-scale
            Simple Baselines: the anchor of the family's ratios.
        head_to_head: ``head_to_head.csv`` (``speedup``: ONNX Runtime fp32, 1 thread).
        heads, quantization: this chapter's tables (1 thread rows).
        distillation: the distilled students (``width_factor``, ``alpha``, ``distilled``);
            each runs as fast as the narrower network of its width in ``head_to_head``.
        hourglass: the hourglass ``table1.csv`` (PyTorch, its chapter's run).
        mmwave: the mmWave ``components.csv`` (MARS rows, ONNX Runtime at batch 1).
    """
    sb, onnx = SB_FAMILY, "onnxruntime fp32"
    rows: list[dict] = []
    if head_to_head is not None:
        rows += [
            _point(
                sb,
                f"{r.method}: {r.setting}",
                "compression_head_to_head",
                onnx,
                dense_ms / float(r.speedup),
                r.pckh,
            )
            for r in head_to_head.itertuples()
        ]
    if heads is not None:
        rows += [
            _point(
                sb,
                f"head {r.design} (re-headed, {int(r.epochs)} epochs)",
                "deployment",
                onnx,
                dense_ms / float(r.speedup),
                r.pckh,
            )
            for r in heads.itertuples()
        ]
    if quantization is not None and len(quantization):
        # The fp32 files are the head-to-head's models: only the other formats are new points.
        one = quantization[
            (quantization["threads"] == 1)
            & quantization["supported"]
            & (quantization["format"] != "fp32")
        ]
        rows += [
            _point(
                sb,
                f"{r.model}, {r.format}",
                "deployment",
                f"onnxruntime {r.format}",
                dense_ms / float(r.speedup),
                r.pckh,
            )
            for r in one.itertuples()
        ]
    if distillation is not None and head_to_head is not None:
        # A distilled student runs as fast as the narrower network of its width.
        narrow = head_to_head[head_to_head["method"] == "narrower"].set_index("setting")
        for r in distillation.itertuples():
            setting = f"width × {float(r.width_factor):g}, trained from scratch"
            if setting in narrow.index:
                rows.append(
                    _point(
                        sb,
                        f"narrower {setting.split(',')[0]}, distilled (alpha {r.alpha:g})",
                        "deployment",
                        onnx,
                        dense_ms / float(narrow.loc[setting, "speedup"]),
                        r.distilled,
                    )
                )
    if hourglass is not None:
        rows += [
            _point(
                HOURGLASS_FAMILY,
                str(r.variant),
                "hourglass_blocks",
                "pytorch fp32",
                r.latency_ms,
                r.mean,
            )
            for r in hourglass.itertuples()
        ]
    if mmwave is not None and len(mmwave):
        mars = mmwave[
            (mmwave["dataset"] == "mars")
            & (mmwave["runtime"] == "onnxruntime")
            & (mmwave["batch"] == 1)
        ].drop_duplicates("config")
        rows += [
            _point(
                RADAR_FAMILY,
                str(r.config),
                "mmwave_components",
                onnx,
                r.latency_ms,
                r.mae_cm,
                metric=RADAR_METRIC,
            )
            for r in mars.itertuples()
        ]
    table = pd.DataFrame(rows, columns=[c for c in FRONTIER_COLUMNS if c != "pareto"])
    table["pareto"] = False
    for _, part in table.groupby("family", sort=False):
        front = pareto(part["latency_ms"], part["score"], bool(part["higher_is_better"].iloc[0]))
        table.loc[part.index, "pareto"] = front
    return table[list(FRONTIER_COLUMNS)]


def _describe(row: pd.Series, ref: float) -> str:
    against = (
        f", {row['score'] - ref:+.1f} points against the dense model" if math.isfinite(ref) else ""
    )
    return (
        f"**{row['model']}** ({row['runtime']}, {row['latency_ms']:.1f} ms, {row['score']:.1f} "
        f"{row['metric'].split(' (')[0]}{against})"
    )


def shipping_note(
    table: pd.DataFrame,
    budgets_ms: Sequence[float],
    *,
    reference: Mapping[str, float],
    spread: float = 0.0,
) -> str:
    """For each latency budget and family: the best model within it (the most accurate point
    no slower than the budget), against the family's dense reference (``{family: score}``).

    ``spread`` is the relative timing noise (:func:`quantization.timing_spread`): a model
    within it of the budget, on either side, could fall on the other side in another run.
    Where counting such models as fitting (or not) changes the choice, the note names the
    alternative and says that the advice at this budget is within timing noise.
    """
    lines = []
    for family, part in table.groupby("family", sort=False):
        if part["metric"].iloc[0] == RADAR_METRIC:
            continue  # radar latencies are below a millisecond: no budget of this size binds
        higher = bool(part["higher_is_better"].iloc[0])
        ref = reference.get(family, math.nan)
        for budget in budgets_ms:
            chosen = _best_within(part, budget, higher)
            head = f"* **{family}, {budget:g} ms**: "
            if chosen is None:
                fastest = part.sort_values("latency_ms").iloc[0]
                line = (
                    f"{head}nothing fits; the fastest model ({fastest['model']}) needs "
                    f"{fastest['latency_ms']:.1f} ms."
                )
            else:
                line = f"{head}ship {_describe(chosen, ref)}."
            # the choice were the budget a spread looser or stricter, by model (in order)
            others = {
                alt["model"]: alt
                for alt in (
                    _best_within(part, budget * (1 + spread), higher),
                    _best_within(part, budget * (1 - spread), higher),
                )
                if alt is not None and (chosen is None or alt["model"] != chosen["model"])
            }
            if others and spread > 0:
                alts = " or ".join(_describe(alt, ref) for alt in others.values())
                line += (
                    f" Within the timing spread (±{100 * spread:.1f} %) of the budget the "
                    f"choice could as well be {alts}: at this budget the advice is within "
                    "timing noise."
                )
            lines.append(line)
    return "\n".join(lines)


def _best_within(part: pd.DataFrame, limit: float, higher: bool) -> pd.Series | None:
    """The most accurate model of ``part`` no slower than ``limit`` ms, if any."""
    fits = part[part["latency_ms"] <= limit]
    return None if fits.empty else fits.sort_values("score", ascending=not higher).iloc[0]


def plot_frontier(table: pd.DataFrame):
    """One panel per family: latency (log) against the score, the front joined."""
    import matplotlib.pyplot as plt

    families = list(dict.fromkeys(table["family"]))
    fig, axes = plt.subplots(1, max(1, len(families)), figsize=(5.2 * max(1, len(families)), 4.2))
    axes = np.atleast_1d(axes)
    for ax, family in zip(axes, families, strict=False):
        part = table[table["family"] == family]
        for runtime, group in part.groupby("runtime"):
            ax.scatter(group["latency_ms"], group["score"], label=runtime, alpha=0.75)
        front = part[part["pareto"]].sort_values("latency_ms")
        ax.plot(front["latency_ms"], front["score"], color="k", lw=1, label="Pareto front")
        ax.set_xscale("log")
        ax.set_xlabel("latency at full scale, batch 1, 1 thread (ms)")
        ax.set_ylabel(part["metric"].iloc[0])
        ax.set_title(family, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def other_results(
    compression_results: str | None = None,
    hourglass_results: str | None = None,
    mmwave_results: str | None = None,
) -> dict[str, pd.DataFrame | None]:
    """The other chapters' tables the deployment chapter reads, each ``None`` where that
    chapter has not saved it: ``head_to_head``, ``engineered`` (group lasso's engineered
    models), ``hourglass`` (Table 1), ``mmwave`` (``components.csv``) and ``selection``
    (the mmWave choices). Folders default to ``book/results/<study>``; relative ones are
    taken from the repository's root."""
    from pathlib import Path

    from pose_helpers.studies.compression.common import read_results

    def folder(given: str | None, study: str) -> Path:
        return Path(given) if given is not None else Path("book", "results", study)

    tables = {}
    for study, given, files in (
        (
            "compression",
            compression_results,
            {
                "head_to_head": ("head_to_head.csv", "compression_head_to_head"),
                "engineered": ("engineered_group_lasso.csv", "compression_group_lasso"),
            },
        ),
        ("hourglass", hourglass_results, {"hourglass": ("table1.csv", "hourglass_blocks")}),
        (
            "mmwave",
            mmwave_results,
            {
                "mmwave": ("components.csv", "mmwave_components"),
                "selection": ("selection.csv", "mmwave_components"),
            },
        ),
    ):
        tables.update(read_results(files, folder(given, study), optional=list(files)))
    return tables


def family_references(table: pd.DataFrame) -> dict[str, float]:
    """Each family's dense reference score: Simple Baselines' dense model, the hourglass
    baseline design, the radar baseline configuration (where present)."""
    refs = {}
    for family, part in table.groupby("family", sort=False):
        hit = part[
            part["model"].str.startswith("baseline: dense")
            | part["model"].isin(["Baseline", "baseline"])
        ]
        if len(hit):
            refs[family] = float(hit["score"].iloc[0])
    return refs
