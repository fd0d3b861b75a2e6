"""Beyond the papers: deployment (the chapter ``deployment``).

What seeds 001 (MoVNect) and 002 (Rethinking the deconvolution head) point to, measured on
the book's own models:

* :mod:`.heads`: the deconvolution head's cost at full scale and cheaper heads' accuracy;
* :mod:`.decoding`: scoring heatmaps from PyTorch or ONNX Runtime, quarter-pixel against DARK;
* :mod:`.formats`: one model as fp32, fp16, dynamic and static int8 ONNX files, timed;
* :mod:`.quantization`: every format's latency at full scale and PCKh at CPU scale;
* :mod:`.distillation`: a narrower student taught by the baseline, against plain training;
* :mod:`.smoothing`: the 1-euro filter on radar sequences, chosen on validation;
* :mod:`.models`: the dense and engineered models the chapter deploys;
* :mod:`.scores`: each deployed model scored at CPU scale (decoders, formats), a stored run;
* :mod:`.frontier`: every model's latency against accuracy, the Pareto fronts, what to ship.
"""

from pose_helpers.studies.deployment.decoding import (
    DECODERS,
    decoding_note,
    decoding_table,
    heatmap_pckh,
    validation_heatmaps,
)
from pose_helpers.studies.deployment.distillation import (
    DISTILL_STUDY,
    distillation_note,
    distillation_runs,
    distillation_table,
    distilled_run,
    radar_distillation,
)
from pose_helpers.studies.deployment.formats import (
    FORMATS,
    format_files,
    interleaved_ort,
    ort_outputs,
    work_folder,
)
from pose_helpers.studies.deployment.frontier import (
    FRONTIER_COLUMNS,
    family_references,
    frontier_points,
    other_results,
    pareto,
    plot_frontier,
    shipping_note,
)
from pose_helpers.studies.deployment.heads import (
    FULL_HEAD_CHANNELS,
    HEAD_STUDY,
    check_designs,
    cpu_channels,
    design_label,
    head_costs,
    head_table,
    heads_note,
    reheaded_run,
    reheaded_runs,
)
from pose_helpers.studies.deployment.models import (
    best_engineered,
    deployed_models,
    engineered_cpu_model,
    engineered_record,
    validation_renders,
)
from pose_helpers.studies.deployment.quantization import (
    CALIBRATION_SEED,
    calibration_batches,
    dense_latency,
    quantization_note,
    quantization_table,
    timing_spread,
)
from pose_helpers.studies.deployment.scores import SCORES_STUDY, deployed_scores, model_scores
from pose_helpers.studies.deployment.smoothing import (
    SELECTION_SPLIT,
    choose_filter,
    chosen_window,
    filter_grid,
    radar_sequences,
    smoothing_note,
    smoothing_table,
)

__all__ = [
    "CALIBRATION_SEED",
    "DECODERS",
    "DISTILL_STUDY",
    "FORMATS",
    "FRONTIER_COLUMNS",
    "FULL_HEAD_CHANNELS",
    "HEAD_STUDY",
    "SCORES_STUDY",
    "SELECTION_SPLIT",
    "best_engineered",
    "calibration_batches",
    "check_designs",
    "choose_filter",
    "chosen_window",
    "cpu_channels",
    "decoding_note",
    "decoding_table",
    "dense_latency",
    "deployed_models",
    "deployed_scores",
    "design_label",
    "distillation_note",
    "distillation_runs",
    "distillation_table",
    "distilled_run",
    "engineered_cpu_model",
    "engineered_record",
    "family_references",
    "filter_grid",
    "format_files",
    "frontier_points",
    "head_costs",
    "head_table",
    "heads_note",
    "heatmap_pckh",
    "interleaved_ort",
    "model_scores",
    "ort_outputs",
    "other_results",
    "pareto",
    "plot_frontier",
    "quantization_note",
    "quantization_table",
    "radar_distillation",
    "radar_sequences",
    "reheaded_run",
    "reheaded_runs",
    "shipping_note",
    "smoothing_note",
    "smoothing_table",
    "timing_spread",
    "validation_heatmaps",
    "validation_renders",
    "work_folder",
]
