"""Slow learner or lost capacity? Table 1's designs trained for a longer budget.

At CPU scale the design without the bottleneck's skip connection ends Table 1's 8 epochs
far below the baseline, where the report's is within a point of it. A short budget cannot
tell the two readings apart: a network that *cannot* fit (a capacity loss) and one that
fits *slowly* (without the identity path every block must learn to pass its input on). The
chapter ``hourglass_budget`` trains the designs for ``long_epochs`` (same recipe, the
learning-rate drops at the same fractions) beside the Table 1 runs, and reads the gap to
the baseline at both budgets:

* **closes**: at the long budget the gap is within noise of zero (slow optimization);
* **shrinks**: it moves toward zero beyond noise but stays beyond it (partly slow
  optimization; what remains may be capacity or a longer optimization still);
* **stays**: it moves by no more than noise (capacity, or an obstacle more epochs do not
  remove);
* **widens**: it grows beyond noise.

Noise is the seed spread: each design's standard deviation over the seeds of the budget
that has at least two (the short one in the book profile), combined as the standard error
of each compared difference. The chapter imports this module directly
(``from pose_helpers.studies.hourglass import budget_runs``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pose_helpers.chapters import verdicts
from pose_helpers.studies.hourglass.block_runs import (
    BASELINE,
    paper_table,
    sweep_points,
    table1_rows,
)

__all__ = [
    "BUDGET_RULE",
    "READINGS",
    "READINGS_AHEAD",
    "budget_points",
    "budget_table",
    "gap_readings",
    "budget_note",
    "plot_budget_curves",
]

#: What each reading of the gap says about a design behind the baseline (module docstring).
READINGS = {
    "closes": "slow optimization: given the epochs, the design reaches the baseline",
    "shrinks": "partly slow optimization: the gap narrows with epochs but remains",
    "stays": "a capacity loss (or an obstacle that more epochs do not remove)",
    "widens": "the design falls further behind with epochs",
}
#: ... and about a design ahead of it at the short budget (no loss to explain).
READINGS_AHEAD = {
    "closes": "the baseline catches up given the epochs: the design's lead was speed",
    "shrinks": "the baseline narrows the design's lead with epochs",
    "stays": "the design keeps its lead",
    "widens": "the design pulls further ahead with epochs",
}
#: The rule of :func:`gap_readings`, for the chapter's caption.
BUDGET_RULE = (
    "gap = a design's mean PCKh minus the baseline's at the same budget; noise = standard "
    "error of that difference from the seeds' standard deviations; closes: |long gap| <= its "
    "noise; otherwise shrinks / widens: the gap moves toward / away from zero by more than "
    "the noise of the change; stays: it moves by no more than that"
)


def budget_points(
    designs: Sequence[str],
    *,
    short_epochs: int,
    long_epochs: int,
    short_seeds: Sequence[int],
    long_seeds: Sequence[int],
    **settings: Any,
) -> list[dict[str, Any]]:
    """The (design, seed, budget) points of :func:`block_runs.train_row`: Table 1's runs at
    ``short_epochs`` (the same keys, so a stored Table 1 run is read back) and the long
    runs at ``long_epochs``, long runs last.

    Raises:
        ValueError: for an unknown or repeated design, no baseline among them, or a long
            budget not longer than the short one.
    """
    rows = table1_rows(designs)  # validates the designs
    if "hourglass_baseline" not in designs:
        raise ValueError(f"designs={list(designs)!r}; the gap needs 'hourglass_baseline'")
    if long_epochs <= short_epochs:
        raise ValueError(
            f"long_epochs={long_epochs!r} <= short_epochs={short_epochs!r}; the long budget "
            "must be longer"
        )
    return [
        *sweep_points(rows, short_seeds, epochs=int(short_epochs), **settings),
        *sweep_points(rows, long_seeds, epochs=int(long_epochs), **settings),
    ]


def budget_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean PCKh over seeds of each (design, epochs), from :func:`sweep.run_sweep`'s frame
    over :func:`budget_points`: ``model``, ``epochs``, ``mean``, ``sd`` (NaN for one seed),
    ``seeds``, ``diverged`` (count; a diverged run counts as NaN), ``train_min`` (mean)."""
    out = []
    for (model, epochs), mine in runs.groupby(["model", "epochs"], sort=False):
        ok = mine[~mine["diverged"].astype(bool) & mine["error"].isna()]
        means = ok["table"].apply(lambda t: t["Mean"]).astype(float)
        out.append(
            {
                "model": model,
                "epochs": int(epochs),
                "mean": float(means.mean()) if len(means) else math.nan,
                "sd": float(means.std(ddof=1)) if len(means) > 1 else math.nan,
                "seeds": len(mine),
                "diverged": int(mine["diverged"].astype(bool).sum()),
                "train_min": float(ok["train_seconds"].mean() / 60) if len(ok) else math.nan,
            }
        )
    return pd.DataFrame(out).sort_values(["model", "epochs"], kind="stable", ignore_index=True)


def _sd(table: pd.DataFrame, model: str) -> float:
    """A design's seed standard deviation: from its budget with the most seeds."""
    mine = table[(table["model"] == model) & table["sd"].notna()]
    return math.nan if mine.empty else float(mine.sort_values("seeds")["sd"].iloc[-1])


def gap_readings(table: pd.DataFrame, reference: str = "hourglass_baseline") -> pd.DataFrame:
    """Each design's gap to ``reference`` at the shortest and the longest budget, the noise
    of each, the reading (:data:`READINGS`) and the Table 1 verdict at each budget against
    the report's gap (:func:`verdicts.effect_verdict` with the report's printed precision).

    Returns:
        Columns ``model``, ``variant``, ``short_epochs``, ``long_epochs``, ``gap_short``,
        ``gap_long``, ``noise_short``, ``noise_long``, ``change``, ``noise_change``,
        ``reading``, ``meaning``, ``gap_paper``, ``verdict_short``, ``verdict_long``.
    """
    paper = paper_table().set_index("variant")["mean"]
    # As Table 1's verdicts: an effect is a difference of two printed values.
    precision = 2 * verdicts.table_precision("hourglass_table_1", "pckh_mean")
    short, long = int(table["epochs"].min()), int(table["epochs"].max())
    at = table.set_index(["model", "epochs"])
    sd_ref = _sd(table, reference)
    out = []
    for model in [m for m in table["model"].unique() if m != reference]:
        sd = _sd(table, model)
        gaps, noises = {}, {}
        for epochs in (short, long):
            mine, ref = at.loc[(model, epochs)], at.loc[(reference, epochs)]
            gaps[epochs] = float(mine["mean"] - ref["mean"])
            noises[epochs] = math.sqrt(sd**2 / mine["seeds"] + sd_ref**2 / ref["seeds"])
        change = gaps[long] - gaps[short]
        noise_change = math.hypot(noises[short], noises[long])
        if any(math.isnan(v) for v in (*gaps.values(), *noises.values())):
            reading = "not tested"
        elif abs(gaps[long]) <= noises[long]:
            reading = "closes"
        elif abs(change) <= noise_change:
            reading = "stays"
        else:
            reading = "shrinks" if abs(gaps[long]) < abs(gaps[short]) else "widens"
        variant = table1_rows([model])[0].variant
        gap_paper = float(paper[variant] - paper[BASELINE])
        out.append(
            {
                "model": model,
                "variant": variant,
                "short_epochs": short,
                "long_epochs": long,
                "gap_short": gaps[short],
                "gap_long": gaps[long],
                "noise_short": noises[short],
                "noise_long": noises[long],
                "change": change,
                "noise_change": noise_change,
                "reading": reading,
                "meaning": (READINGS_AHEAD if gaps[short] > 0 else READINGS).get(
                    reading, "the seed noise is not measured"
                ),
                "gap_paper": gap_paper,
                "verdict_short": verdicts.effect_verdict(
                    gaps[short], gap_paper, noises[short], precision
                ),
                "verdict_long": verdicts.effect_verdict(
                    gaps[long], gap_paper, noises[long], precision
                ),
            }
        )
    return pd.DataFrame(out)


def budget_note(readings: pd.DataFrame) -> str:
    """The chapter's conclusion, one sentence per design, from :func:`gap_readings`."""
    lines = []
    for _, r in readings.iterrows():
        verdict = (
            f"is *{r['verdict_short']}* at both budgets"
            if r["verdict_short"] == r["verdict_long"]
            else f"goes from *{r['verdict_short']}* to *{r['verdict_long']}*"
        )
        lines.append(
            f"* **{r['model'].removeprefix('hourglass_')}**: {r['gap_short']:+.1f} points "
            f"(± {r['noise_short']:.1f}) after {r['short_epochs']} epochs, "
            f"{r['gap_long']:+.1f} (± {r['noise_long']:.1f}) after {r['long_epochs']}; the gap "
            f"**{r['reading']}** ({r['change']:+.1f} points, noise ± {r['noise_change']:.1f}): "
            f"{r['meaning']}. Against the report's {r['gap_paper']:+.1f}, Table 1's verdict "
            f"{verdict}."
        )
    return "\n".join(lines)


def plot_budget_curves(runs: pd.DataFrame):
    """Validation mean PCKh per epoch, one panel per budget, one colour per design (seeds
    as lines of the same colour)."""
    import matplotlib.pyplot as plt

    budgets = sorted(runs["epochs"].unique())
    fig, axes = plt.subplots(
        1, len(budgets), figsize=(5 * len(budgets), 3.6), sharey=True, squeeze=False
    )
    colours = {m: f"C{i}" for i, m in enumerate(runs["model"].unique())}
    for ax, epochs in zip(axes[0], budgets, strict=True):
        for _, run in runs[runs["epochs"] == epochs].iterrows():
            history = pd.DataFrame(run["history"])
            if history.empty:
                continue
            ax.plot(
                history["epoch"],
                history["val_pckh_mean"],
                color=colours[run["model"]],
                marker=".",
                alpha=0.6 + 0.4 * (run["seed"] == 0),
                label=f"{run['model'].removeprefix('hourglass_')}, seed {run['seed']}",
            )
        for fraction in (0.75, 0.85):  # the learning-rate drops
            ax.axvline(fraction * epochs, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{epochs} epochs", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 100)
        ax.set_xticks(np.arange(0, epochs + 1, max(1, epochs // 8)))
    axes[0][0].set_ylabel("validation mean PCKh@0.5 (%)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
