"""The mmWave component-size study: training runs, cost cards, tables, figures and findings.

One import gives the chapter every name (``from pose_helpers.studies import mmwave``); the
code lives in four modules, named apart from every other module of the package (the chapter
runner matches a notebook's names to module names when it decides what is stale):

- :mod:`.radar_runs`: :func:`radar_run` (one configuration, data set and seed; a module-level
  function of plain arguments, so ``sweep.run_sweep(radar_run, sweep.grid(...))`` runs it in
  worker processes; its module declares ``STUDY_VERSION``), :func:`study_configs`,
  :func:`available_datasets`, :func:`load_dataset` and :func:`mean_pose_floor` (the error of
  always predicting the mean pose);
- :mod:`.radar_costs`: :func:`cost_card`, :func:`cost_cards` (parameters, memory and batch-1 CPU
  latency of each configuration) and :func:`compare_cells`;
- :mod:`.radar_tables`: :func:`study_table` (runs averaged over seeds, joined with the cost cards),
  :func:`error_table`, :func:`findings` (the poster's two headline comparisons, measured),
  :func:`component_effects` and :func:`discussion`;
- :mod:`.radar_figures`: :func:`plot_latency_vs_mae`, :func:`plot_component_sweep`,
  :func:`plot_learning_curves` and :func:`plot_frames`.

The default cell (GRU) and window (4 frames) are measured choices; the numbers are in
:mod:`pose_helpers.models.mmwave` and :func:`compare_cells` repeats the latency part.
"""

from __future__ import annotations

from pose_helpers.studies.mmwave.radar_costs import compare_cells, cost_card, cost_cards
from pose_helpers.studies.mmwave.radar_figures import (
    BONES,
    plot_component_sweep,
    plot_frames,
    plot_latency_vs_mae,
    plot_learning_curves,
    points_per_frame,
)
from pose_helpers.studies.mmwave.radar_runs import (
    CONFIG_NAMES,
    DATASETS,
    REFERENCE,
    STUDY_VERSION,
    available_datasets,
    load_dataset,
    mean_pose_floor,
    mean_pose_floors,
    model_name,
    radar_run,
    run_key,
    study_configs,
)
from pose_helpers.studies.mmwave.radar_tables import (
    COMPONENTS,
    ERROR_COLUMNS,
    component_effects,
    component_scale,
    datasets_note,
    discussion,
    error_table,
    findings,
    mars_paper_mae_cm,
    results_table,
    study_table,
)

__all__ = [
    "BONES",
    "COMPONENTS",
    "CONFIG_NAMES",
    "DATASETS",
    "ERROR_COLUMNS",
    "REFERENCE",
    "STUDY_VERSION",
    "available_datasets",
    "compare_cells",
    "component_effects",
    "component_scale",
    "cost_card",
    "cost_cards",
    "datasets_note",
    "discussion",
    "error_table",
    "findings",
    "load_dataset",
    "mars_paper_mae_cm",
    "mean_pose_floor",
    "mean_pose_floors",
    "model_name",
    "plot_component_sweep",
    "plot_frames",
    "plot_latency_vs_mae",
    "plot_learning_curves",
    "points_per_frame",
    "radar_run",
    "results_table",
    "run_key",
    "study_configs",
    "study_table",
]
