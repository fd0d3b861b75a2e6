"""The mmWave component-size study: training runs, cost cards, tables, figures and findings.

One import gives the chapter every name (``from pose_helpers.studies import mmwave``); the
code lives in six modules, named apart from every other module of the package (the chapter
runner matches a notebook's names to module names when it decides what is stale):

- :mod:`.radar_runs`: :func:`radar_run` (one configuration, data set and seed; a module-level
  function of plain arguments, so ``sweep.run_sweep(radar_run, sweep.grid(...))`` runs it in
  worker processes; its module declares ``STUDY_VERSION``), :func:`study_configs`,
  :func:`available_datasets`, :func:`load_dataset` and :func:`mean_pose_floor` (the error of
  always predicting the mean pose);
- :mod:`.radar_selection`: the choices made on the validation split (:func:`window_grid`,
  :func:`choose_window`, :func:`study_grid`, :func:`selection_table`);
- :mod:`.radar_costs`: :func:`cost_card`, :func:`cost_cards` (parameters, memory and batch-1 CPU
  latency of each configuration), :func:`compare_cells`, and :func:`runtime_latency` /
  :func:`latency_savings` (PyTorch and ONNX Runtime, batch 1 and streaming, above the
  per-call floor);
- :mod:`.radar_tables`: :func:`study_table` (runs averaged over seeds, joined with the cost cards),
  :func:`error_table`, :func:`findings` (the poster's two headline comparisons, measured),
  :func:`component_effects` and :func:`discussion`;
- :mod:`.radar_findings`: :func:`findings_table` (each of the poster's findings with a verdict
  from a stated rule and measured noise);
- :mod:`.radar_figures`: :func:`plot_latency_vs_mae`, :func:`plot_component_sweep`,
  :func:`plot_learning_curves` and :func:`plot_frames`.

The default cell (GRU) is a measured choice (:mod:`pose_helpers.models.mmwave`;
:func:`compare_cells` repeats the latency part); the window and each run's epoch are chosen
on the validation split by the chapter itself (:mod:`.radar_selection`).
"""

from __future__ import annotations

from pose_helpers.studies.mmwave.radar_costs import (
    FLOOR,
    RUNTIMES,
    compare_cells,
    cost_card,
    cost_cards,
    latency_floor,
    latency_savings,
    runtime_latency,
)
from pose_helpers.studies.mmwave.radar_figures import (
    BONES,
    plot_component_sweep,
    plot_frames,
    plot_latency_vs_mae,
    plot_learning_curves,
    points_per_frame,
)
from pose_helpers.studies.mmwave.radar_findings import (
    FINDING_COLUMNS,
    findings_table,
    latency_noise_ms,
)
from pose_helpers.studies.mmwave.radar_runs import (
    CONFIG_NAMES,
    DATASETS,
    REFERENCE,
    STUDY_VERSION,
    TEST_METRICS,
    available_datasets,
    load_dataset,
    mean_pose_floor,
    mean_pose_floors,
    model_name,
    radar_run,
    run_key,
    study_configs,
)
from pose_helpers.studies.mmwave.radar_selection import (
    SELECTION_METRIC,
    choose_window,
    selection_table,
    study_grid,
    window_grid,
    window_table,
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
    printed_config_note,
    results_table,
    study_table,
)

__all__ = [
    "BONES",
    "COMPONENTS",
    "CONFIG_NAMES",
    "DATASETS",
    "ERROR_COLUMNS",
    "FINDING_COLUMNS",
    "FLOOR",
    "REFERENCE",
    "RUNTIMES",
    "SELECTION_METRIC",
    "STUDY_VERSION",
    "TEST_METRICS",
    "available_datasets",
    "choose_window",
    "compare_cells",
    "component_effects",
    "component_scale",
    "cost_card",
    "cost_cards",
    "datasets_note",
    "discussion",
    "error_table",
    "findings",
    "findings_table",
    "latency_floor",
    "latency_noise_ms",
    "latency_savings",
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
    "printed_config_note",
    "radar_run",
    "results_table",
    "run_key",
    "runtime_latency",
    "selection_table",
    "study_configs",
    "study_grid",
    "study_table",
    "window_grid",
    "window_table",
]
