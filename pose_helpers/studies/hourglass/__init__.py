"""The hourglass report's Table 1: its rows, their cost at full scale, their accuracy at CPU scale.

One import gives the chapter every name (``from pose_helpers.studies import hourglass``);
the code lives in three modules, named apart from every other module of the package (the
chapter runner matches a notebook's names to module names when it decides what is stale):

- :mod:`.block_runs`: the rows (:data:`TABLE_1_DESIGNS`, :class:`Row`, :func:`table1_rows`), the
  report's numbers (:func:`paper_table`, read from the seed table) and the training runs
  (:func:`train_row`, :func:`sweep_points`, :func:`prerender`; the module declares
  ``STUDY_VERSION``);
- :mod:`.block_costs`: :func:`cost_table` at the paper's scale (:func:`gpu_cost_table` on a GPU),
  :func:`structure_table`, :func:`report_times` and the claim (:func:`claim_correlations`,
  :func:`claim_note`, :func:`plot_claim`);
- :mod:`.block_accuracy`: :func:`accuracy_table`, :func:`compare_with_paper`,
  :func:`rank_agreement`, :func:`results_table`, the figures and :func:`discussion`.
"""

from __future__ import annotations

from pose_helpers.studies.hourglass.block_accuracy import (
    VERDICT_RULE,
    accuracy_table,
    baseline_note,
    compare_with_paper,
    discussion,
    mismatch_note,
    per_joint_table,
    plot_comparison,
    plot_learning_curves,
    rank_agreement,
    results_table,
)
from pose_helpers.studies.hourglass.block_costs import (
    GPU_LATENCY_REPEATS,
    GPU_STEP_BATCH,
    GPU_STEP_REPEATS,
    REPORT_TIME_COLUMNS,
    TIME_READINGS,
    claim_correlations,
    claim_note,
    claim_verdicts,
    cost_table,
    gpu_cost_table,
    plot_claim,
    reading_note,
    report_times,
    step_note,
    structure_table,
    time_readings,
)
from pose_helpers.studies.hourglass.block_runs import (
    BASELINE,
    GROUPS,
    MILESTONES,
    STUDY_VERSION,
    TABLE_1_DESIGNS,
    Row,
    paper_table,
    prerender,
    rows_note,
    sweep_points,
    table1_rows,
    train_row,
)

__all__ = [
    "BASELINE",
    "GPU_LATENCY_REPEATS",
    "GPU_STEP_BATCH",
    "GPU_STEP_REPEATS",
    "GROUPS",
    "MILESTONES",
    "REPORT_TIME_COLUMNS",
    "STUDY_VERSION",
    "TABLE_1_DESIGNS",
    "TIME_READINGS",
    "VERDICT_RULE",
    "Row",
    "accuracy_table",
    "baseline_note",
    "claim_correlations",
    "claim_note",
    "claim_verdicts",
    "compare_with_paper",
    "cost_table",
    "discussion",
    "gpu_cost_table",
    "mismatch_note",
    "paper_table",
    "per_joint_table",
    "plot_claim",
    "plot_comparison",
    "plot_learning_curves",
    "prerender",
    "rank_agreement",
    "reading_note",
    "report_times",
    "results_table",
    "rows_note",
    "step_note",
    "structure_table",
    "sweep_points",
    "table1_rows",
    "time_readings",
    "train_row",
]
