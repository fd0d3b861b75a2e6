"""The compression chapters' findings as Markdown: every number computed, the thesis's read
from its tables (:mod:`tables`), none typed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from pose_helpers.studies.compression.common import TABLE_METHODS
from pose_helpers.studies.compression.tables import (
    fewest_within,
    key_value,
    rank_correlation,
    thesis_phone,
    thesis_table,
)

__all__ = [
    "REQUIRED_PCKH",
    "baseline_cost_note",
    "baseline_verdict",
    "control_note",
    "deployment_findings",
    "engineering_notes",
    "method_comparison",
    "speed_findings",
    "sweep_findings",
    "targets_note",
    "thesis_phone_note",
]

#: The mean PCKh@0.5 the CPU-scale baseline must reach for an accuracy cost to be measurable.
REQUIRED_PCKH = 50.0


def baseline_cost_note(full: Mapping[str, Any], cpu: Mapping[str, Any]) -> str:
    """The full-scale and the CPU-scale baselines' cost (``bench.model_card``s) beside the
    thesis's Table 5.3."""
    thesis = thesis_table("baseline").iloc[0]
    side, cpu_side = full["input_shape"][-1], cpu["input_shape"][-1]
    return (
        f"The full-scale network has **{full['params']:,} parameters** ({full['params_m']:.2f} M; "
        f"the thesis: {thesis['params_m']:g} M) and a **{full['checkpoint_mb']:.2f} MB** "
        f"checkpoint (the thesis: {thesis['size_mb']:g} MB), {full['gmacs']:.2f} GMACs at "
        f"{side} × {side}. The CPU-scale model has {cpu['params']:,} parameters "
        f"({100 * cpu['params'] / full['params']:.1f} % of them) and {cpu['gmacs']:.3f} GMACs "
        f"at {cpu_side} × {cpu_side}."
    )


def baseline_verdict(record: Mapping[str, Any], required: float = REQUIRED_PCKH) -> str:
    """Whether the trained baseline (``baseline_run``'s record) reaches ``required`` % mean
    PCKh, as a sentence."""
    mean = record["table"]["Mean"]
    verdict = "clears" if mean >= required else "**misses**"
    return (
        f"The baseline reaches **{mean:.1f} % mean PCKh@0.5**; it {verdict} the {required:g} % "
        "the compression chapters need to measure an accuracy cost"
        + ("." if mean >= required else " (raise `epochs`, `width` or `input_size`).")
    )


def control_note(control: pd.DataFrame) -> str:
    """What the largest threshold leaves of the unregularized baseline (``baseline_cells``)."""
    first = control[control["threshold"] == control["threshold"].max()]
    leaves = " and ".join(
        f"{row.retained:.3f} of the weights at {row.pckh:.1f} % PCKh "
        f"({row.method.replace('_', ' ')} thresholding)"
        for row in first.itertuples()
    )
    return (
        f"Without any penalty, the largest threshold ({first['threshold'].iloc[0]:g}) leaves "
        f"{leaves}. What the regularizers of the next chapter add must be read against this "
        "control."
    )


def targets_note(targets: Mapping[str, Sequence[Any]]) -> str:
    """The cells chosen for engineering (``{label: (lam, threshold, ...)}``), as a sentence."""
    cells = "; ".join(
        f"*{label}*: λ = {cell[0]:g}, threshold {cell[1]:g}" for label, cell in targets.items()
    )
    return f"Engineered cells: {cells}."


def thesis_phone_note() -> str:
    """The thesis's phone (Table 5.9) in a sentence."""
    phone = thesis_phone()
    return (
        f"The thesis's phone: {phone['dense_s']:g} s dense, {phone['compressed_s']:g} s "
        f"compressed ({phone['speedup']:.2f}×), apps of {phone['dense_app_mb']:g} and "
        f"{phone['compressed_app_mb']:g} MB."
    )


def sweep_findings(cells: pd.DataFrame, control: pd.DataFrame) -> str:
    """The sweeps' conclusions as Markdown, every number computed, beside the thesis's tables.

    Per method, over the cells of the thesis's lambdas: how the retained fraction and the PCKh
    move with lambda (Spearman rank correlation, ours and the thesis's), their ranges, and
    what the strongest penalty removes and costs against ``control`` at the largest threshold
    (``cells_table`` rows of the same fine-tuning with lambda = 0, or ``baseline_cells``).
    """
    lines = []
    for method in dict.fromkeys(cells["method"]):
        thesis = thesis_table(method)
        lams = set(thesis["lambda"].map(key_value))
        ours = cells[(cells["method"] == method) & cells["lambda"].map(key_value).isin(lams)]
        ref = control[control["method"] == method].set_index("threshold")
        if ours.empty:
            continue
        rho_kept = rank_correlation(ours["lambda"], ours["retained"])
        rho_pckh = rank_correlation(ours["lambda"], ours["pckh"])
        t_max = ours["threshold"].max()
        strongest = ours[(ours["lambda"] == ours["lambda"].max()) & (ours["threshold"] == t_max)]
        kept, pckh = float(strongest["retained"].iloc[0]), float(strongest["pckh"].iloc[0])
        line = (
            f"* **{method.replace('_', ' ')}**: a larger λ keeps "
            + ("fewer" if rho_kept < 0 else "no fewer")
            + f" weights (Spearman ρ(λ, retained) = {rho_kept:.2f}; the thesis's "
            f"{rank_correlation(thesis['lambda'], thesis['retained']):.2f}) and ρ(λ, PCKh) = "
            f"{rho_pckh:.2f} (the thesis's "
            f"{rank_correlation(thesis['lambda'], thesis['pckh']):.2f}). "
            f"Our retained fraction spans {ours['retained'].min():.3f}–"
            f"{ours['retained'].max():.3f} (the thesis's {thesis['retained'].min():.3f}–"
            f"{thesis['retained'].max():.3f}), our PCKh {ours['pckh'].min():.1f}–"
            f"{ours['pckh'].max():.1f} %."
        )
        if t_max in ref.index:
            line += (
                f" At λ = {ours['lambda'].max():g} and threshold {t_max:g}, {kept:.3f} of the "
                f"weights remain at {pckh:.1f} % PCKh; the control keeps "
                f"{ref.loc[t_max, 'retained']:.3f} at {ref.loc[t_max, 'pckh']:.1f} %."
            )
        lines.append(line)
    return "\n".join(lines)


def engineering_notes(engineered: Mapping[str, Mapping[str, Any]]) -> str:
    """One Markdown line per engineered model: what surgery removed and what it scored."""
    lines = []
    for label, record in engineered.items():
        ch = record["channels"]
        lines.append(
            f"* *{label}* (λ = {record['lam']:g}, threshold {record['threshold']:g}): surgery "
            f"removed {ch['channels_before'] - ch['channels_after']:,} of "
            f"{ch['channels_before']:,} output channels in {ch['layers_pruned']} of "
            f"{ch['layers']} layers ({100 * (1 - record['retained']):.1f} % of the parameters). "
            f"The thresholded network scored {record['pckh_thresholded']:.2f} % and the cut one "
            f"{record['pckh_before']:.2f} % (the cut is exact); {record['pckh_after']:.2f} % "
            "after fine-tuning."
        )
    return "\n".join(lines)


def speed_findings(speed: pd.DataFrame) -> str:
    """What ``full_scale_latency`` shows, as Markdown beside the thesis's phone (Table 5.9)."""
    dense, random = speed.iloc[0], speed.iloc[-1]
    thesis = thesis_phone()["speedup"]
    lines = [
        f"* **{row['variant']}** keeps {row['retained']:.3f} of the weights and "
        f"{row['gmacs'] / dense['gmacs']:.3f} of the multiply-accumulates, and runs "
        f"**{row['speedup']:.2f}× faster** than the dense network on this CPU "
        f"({row['latency_ms']:.0f} ms against {dense['latency_ms']:.0f} ms)."
        for _, row in speed.iloc[1:-1].iterrows()
    ]
    lines.append(
        f"* The thesis's engineered model ran {thesis:.2f}× faster than its baseline on a phone "
        "(Table 5.9)."
    )
    lines.append(
        f"* The **randomly sparse** network has {random['retained']:.3f} of its weights non-zero, "
        f"yet runs at {random['speedup']:.2f}× the dense speed: zeros in dense tensors are "
        "multiplied like any other number, so L1's random sparsity saves space only once stored "
        "in a sparse format, and no time."
    )
    return "\n".join(lines)


def method_comparison(
    cells: Mapping[str, pd.DataFrame], baseline_pckh: float, drops: Sequence[float] = (1.0, 3.0)
) -> str:
    """Which method keeps the fewest weights at a given accuracy cost, ours and the thesis's.

    For each PCKh drop (points below each side's own baseline), the smallest retained fraction
    any cell of each method reaches within it, as Markdown.
    """
    thesis_base = float(thesis_table("baseline")["pckh"].iloc[0])

    def fraction(value: float) -> str:
        return "none" if math.isnan(value) else f"{value:.3f}"

    lines = []
    for drop in drops:
        parts = []
        for method, ours in cells.items():
            text = (
                f"{method.replace('_', ' ')} {fraction(fewest_within(ours, baseline_pckh, drop))}"
            )
            if method in TABLE_METHODS:
                theirs = fewest_within(thesis_table(method), thesis_base, drop)
                text += f" (thesis {fraction(theirs)})"
            parts.append(text)
        lines.append(
            f"* Within {drop:g} PCKh point(s) of the baseline, the fewest weights retained "
            "(none: no cell within the drop): " + "; ".join(parts) + "."
        )
    return "\n".join(lines)


def deployment_findings(table: pd.DataFrame) -> str:
    """The deployment table's speedups (fp32, per runtime and threads) beside the thesis's."""
    thesis = thesis_phone()["speedup"]
    fp32 = table[(table["format"] == "fp32") & (table["model"] != table["model"].iloc[0])]
    lines = []
    for model, part in fp32.groupby("model", sort=False):
        speeds = ", ".join(
            f"{row.runtime} {row.threads} thread(s) {row.speedup:.2f}×"
            for row in part.itertuples()
            if not pd.isna(row.speedup)
        )
        lines.append(f"* **{model}**: {speeds}.")
    lines.append(f"* The thesis's compressed model on its phone: {thesis:.2f}×.")
    return "\n".join(lines)
