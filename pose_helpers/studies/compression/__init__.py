"""The compression chapters' studies (thesis sections 5.2-5.5): baseline, L1, group lasso,
surgery, Bayesian compression, and the summary's claims.

Thesis ``../shared/seeds/003_d70e0f0fcd80c931.txt``: a Simple Baselines ResNet-50 (Table 5.3)
is trained with an L1 (Table 5.4) or a group-lasso (Table 5.5) penalty for six lambdas,
thresholded at 0.01, 0.001 and 0.0001, and the best group lasso model is engineered (its zero
channels removed) and retrained (Table 5.6); Algorithm 1 (Tables 5.7-5.8) and the phone
(Table 5.9) follow. Here, at CPU scale, on SynthPose, one module per concern:

* :mod:`.common`: constants, argument checks, the baseline's settings (:func:`baseline_settings`
  builds a chapter's), data, model, the checkpoint folder and :func:`stored_run`;
* :mod:`.baseline`: the trained CPU-scale baseline (:func:`baseline_run`), its cost, the
  thresholded control (:func:`baseline_cells`) and :func:`weight_magnitudes`;
* :mod:`.scoring`: thresholded copies scored (one NaN convention for a diverged run);
* :mod:`.sparsity`: :func:`regularized_run` and its sweep (:func:`sparsity_sweep`);
* :mod:`.engineering`: surgery and fine-tuning (:func:`engineered_run`, :func:`engineer_cells`);
* :mod:`.full_scale`: the engineered networks' speed at full scale;
* :mod:`.tables`, :mod:`.findings`, :mod:`.figures`: tables beside the thesis's, text, figures;
* :mod:`.bayesian`: Algorithm 1 (Tables 5.7-5.8); :mod:`.claims`: the summary's verdicts;
* :mod:`.controls`: a one-shot structured magnitude pruner with a sweep cell's fine-tuning;
* :mod:`.head_to_head`: each method's best model beside the controls, costed at full scale;
* :mod:`.curves`: the sweeps as curves (spanned, the thesis's cells marked by the rule,
  the group threshold's reading chosen);
* :mod:`.lambda_transport`: what the thesis's λ means here, measured
  (:func:`measure_transport`; the rule is :mod:`pose_helpers.compress.transport`).

**Stored runs.** Every step that needs trained weights to compute a JSON-able result is one
record of the run store (:mod:`pose_helpers.core.store`), committed under
``book/runs/<study>/``: a chapter whose records are committed re-executes on a fresh clone
without training. Checkpoints stay in the cache (:func:`checkpoint_folder`); a step that
needs weights (a fine-tune's starting point) calls a training function, which resumes from
its checkpoint or retrains it. Each module with a run function declares ``STUDY_VERSION``
(bump it when the code changes what a run computes).

Chapters do ``from pose_helpers.studies import compression`` and call ``compression.X``; the
names of the modules above are re-exported here (``compression.bayesian`` and
``compression.claims`` are modules of their own).
"""

from __future__ import annotations

from pose_helpers.studies.compression import bayesian, claims, controls, curves, lambda_transport
from pose_helpers.studies.compression.baseline import (
    BASELINE_STUDY,
    CONTROL_STUDY,
    MAGNITUDES_STUDY,
    baseline_cells,
    baseline_run,
    baseline_table,
    ceiling_note,
    cpu_scale_card,
    full_scale_card,
    heatmap_ceiling,
    load_baseline,
    narrower,
    redundancy_note,
    redundancy_table,
    sweep,
    train_baseline,
    weight_magnitudes,
)
from pose_helpers.studies.compression.common import (
    CPU_BASELINE,
    FULL_SCALE_INPUT,
    FULL_SCALE_MODEL,
    METHODS,
    TABLE_METHODS,
    THESIS_ENGINEERED_CELLS,
    THESIS_LAMBDAS,
    THESIS_THRESHOLDS,
    baseline_arguments,
    baseline_key,
    baseline_settings,
    checkpoint_folder,
    create_baseline_model,
    full_scale_baseline_mb,
    stored_run,
)
from pose_helpers.studies.compression.controls import (
    group_magnitude_controls,
    group_magnitude_run,
    magnitude_comparison,
    magnitude_note,
    magnitude_pruned_run,
    pruning_controls,
)
from pose_helpers.studies.compression.curves import (
    choose_reading,
    chosen_statistic,
    control_cells,
    plot_sweep,
    proximal_check,
    proximal_note,
    reading_cells,
    reading_note,
    saved_sweeps,
    spanning_sweep,
    sweep_cells,
    sweep_note,
    sweep_table,
    transport_factor,
)
from pose_helpers.studies.compression.engineering import (
    ENGINEERED_STUDY,
    choose_cell,
    engineer,
    engineer_cells,
    engineered_run,
    engineered_summary,
    engineered_table,
    engineering_targets,
    keep_ratios,
    load_engineered_model,
)
from pose_helpers.studies.compression.figures import (
    magnitudes_of,
    plot_kept_channels,
    plot_learning_curves,
    plot_outers,
    plot_sparsity_vs_pckh,
    plot_weight_magnitudes,
)
from pose_helpers.studies.compression.findings import (
    REQUIRED_PCKH,
    baseline_cost_note,
    baseline_verdict,
    control_note,
    deployment_findings,
    engineering_notes,
    method_comparison,
    speed_findings,
    sweep_findings,
    targets_note,
    thesis_phone_note,
)
from pose_helpers.studies.compression.full_scale import full_scale_latency, full_scale_models
from pose_helpers.studies.compression.head_to_head import (
    HEAD_TO_HEAD_COLUMNS,
    against_controls,
    engineered_models_table,
    head_to_head,
    head_to_head_note,
    plot_head_to_head,
    saved_keep_ratios,
)
from pose_helpers.studies.compression.lambda_transport import (
    FULL_SCALE_SIGMA,
    measure_transport,
    transport_note,
)
from pose_helpers.studies.compression.sparsity import (
    SPARSITY_STUDY,
    load_regularized_model,
    regularized_run,
    sparsity_sweep,
    sweep_points,
)
from pose_helpers.studies.compression.tables import (
    TABLE_COLUMNS,
    cells_table,
    compare_cells,
    rank_correlation,
    reproduction_caption,
    reproduction_table,
    reproduction_view,
    table_with_thesis,
    thesis_phone,
    thesis_table,
)
from pose_helpers.train.runs import plot_learning_curve  # noqa: F401 (for the chapters)

__all__ = [
    "saved_keep_ratios",
    "group_magnitude_controls",
    "magnitude_comparison",
    "magnitude_note",
    "saved_sweeps",
    "HEAD_TO_HEAD_COLUMNS",
    "against_controls",
    "engineered_models_table",
    "head_to_head",
    "head_to_head_note",
    "plot_head_to_head",
    "group_magnitude_run",
    "controls",
    "magnitude_pruned_run",
    "pruning_controls",
    "choose_reading",
    "chosen_statistic",
    "control_cells",
    "curves",
    "plot_sweep",
    "proximal_check",
    "proximal_note",
    "reading_cells",
    "reading_note",
    "spanning_sweep",
    "sweep_cells",
    "sweep_note",
    "sweep_table",
    "transport_factor",
    "BASELINE_STUDY",
    "CONTROL_STUDY",
    "CPU_BASELINE",
    "FULL_SCALE_SIGMA",
    "ENGINEERED_STUDY",
    "FULL_SCALE_INPUT",
    "FULL_SCALE_MODEL",
    "MAGNITUDES_STUDY",
    "METHODS",
    "REQUIRED_PCKH",
    "SPARSITY_STUDY",
    "TABLE_COLUMNS",
    "TABLE_METHODS",
    "THESIS_ENGINEERED_CELLS",
    "THESIS_LAMBDAS",
    "THESIS_THRESHOLDS",
    "baseline_arguments",
    "baseline_cells",
    "baseline_cost_note",
    "baseline_key",
    "baseline_run",
    "baseline_settings",
    "baseline_table",
    "baseline_verdict",
    "bayesian",
    "cells_table",
    "ceiling_note",
    "checkpoint_folder",
    "choose_cell",
    "claims",
    "compare_cells",
    "control_note",
    "cpu_scale_card",
    "create_baseline_model",
    "deployment_findings",
    "engineer",
    "engineer_cells",
    "engineered_run",
    "engineered_summary",
    "engineered_table",
    "engineering_notes",
    "engineering_targets",
    "full_scale_baseline_mb",
    "full_scale_card",
    "full_scale_latency",
    "full_scale_models",
    "keep_ratios",
    "redundancy_table",
    "redundancy_note",
    "narrower",
    "heatmap_ceiling",
    "lambda_transport",
    "load_baseline",
    "measure_transport",
    "load_engineered_model",
    "load_regularized_model",
    "magnitudes_of",
    "method_comparison",
    "plot_kept_channels",
    "plot_learning_curve",
    "plot_learning_curves",
    "plot_outers",
    "plot_sparsity_vs_pckh",
    "plot_weight_magnitudes",
    "rank_correlation",
    "regularized_run",
    "reproduction_caption",
    "reproduction_table",
    "reproduction_view",
    "sparsity_sweep",
    "speed_findings",
    "stored_run",
    "sweep",
    "sweep_findings",
    "sweep_points",
    "table_with_thesis",
    "targets_note",
    "thesis_phone",
    "thesis_phone_note",
    "thesis_table",
    "train_baseline",
    "transport_note",
    "weight_magnitudes",
]
