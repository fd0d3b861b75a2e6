"""Each deployed CPU-scale model scored once, as a stored run: its heatmaps decoded by both
decoders (:mod:`.decoding`) and its ONNX files in every format scored on the same validation
renders (the accuracy columns of :mod:`.quantization`).

The records are committed under ``book/runs/deployment_scores/``, so the chapter
re-executes on a fresh clone without weights; computing one loads the model: the
baseline (trained first where this machine lacks it) or an engineering (computed again
from its record's settings where the weights are missing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pose_helpers.studies.deployment.formats import FORMATS

__all__ = ["SCORES_STUDY", "deployed_scores", "model_scores"]

STUDY_VERSION = 1
SCORES_STUDY = "deployment_scores"


def model_scores(
    *,
    baseline: Mapping[str, Any],
    engineered: Mapping[str, Any] | None,
    calibration_images: int,
    sigma: float,
    formats: Sequence[str] = FORMATS,
    threads: int | None = 1,
) -> dict[str, Any]:
    """One CPU-scale model scored on the baseline's validation renders.

    Args:
        baseline: the compression chapters' baseline settings.
        engineered: ``None`` for the dense baseline, else an engineering
            (:func:`.models.deployed_models`' ``key``, ``method``, ``lambda``, ``threshold``).
        calibration_images: training renders (own seed) calibrating static int8.
        sigma: DARK's kernel, the targets' standard deviation in heatmap pixels.
        formats: the ONNX formats scored.

    Returns:
        ``heatmap_size`` (``"w × h"``), ``pckh_quarter`` and ``pckh_dark`` (mean PCKh@0.5 of
        the PyTorch heatmaps under each decoder) and ``format_scores``: ``{format: {"pckh", "note"}}``
        (the ONNX file's mean PCKh@0.5, quarter-pixel decoding; NaN with the tools' message
        where the format could not be made or run).
    """
    from pose_helpers.cost import deploy
    from pose_helpers.studies.compression.baseline import load_baseline
    from pose_helpers.studies.deployment.decoding import heatmap_pckh, validation_heatmaps
    from pose_helpers.studies.deployment.formats import format_files, work_folder
    from pose_helpers.studies.deployment.models import engineered_cpu_model, validation_renders
    from pose_helpers.studies.deployment.quantization import calibration_batches

    if engineered is None:
        net, _ = load_baseline(baseline, threads=threads, progress=True)
    else:
        net = engineered_cpu_model(engineered, baseline, threads=threads)
    net.eval()
    val = validation_renders(baseline)
    out = validation_heatmaps(net, val)
    h, w = out["heatmaps"].shape[-2:]
    size = int(val[0]["image"].shape[-1])
    scored: dict[str, dict[str, Any]] = {}
    with work_folder() as work:
        files = format_files(
            net,
            work,
            (3, size, size),
            calibration_batches(baseline, calibration_images, size),
            formats=formats,
            atol=1e-5,  # trained heatmaps are small: the absolute term must not hide a bug
        )
        for fmt, (path, note) in files.items():
            pckh = float("nan")
            if path is not None:
                session = deploy.ort_session(path, threads=1)
                pckh = heatmap_pckh(validation_heatmaps(session, val), sigma=sigma)
            scored[fmt] = {"pckh": pckh, "note": note}
    return {
        "heatmap_size": f"{w} × {h}",
        "pckh_quarter": heatmap_pckh(out, "quarter", sigma),
        "pckh_dark": heatmap_pckh(out, "dark", sigma),
        "format_scores": scored,
    }


def deployed_scores(
    models: Mapping[str, Mapping[str, Any] | None],
    *,
    baseline: Mapping[str, Any],
    calibration_images: int,
    sigma: float,
    formats: Sequence[str] = FORMATS,
    threads: int | None = 1,
) -> dict[str, dict[str, Any]]:
    """:func:`model_scores` of each of :func:`.models.deployed_models`' ``models``, by name,
    each a stored run of :data:`SCORES_STUDY` (read back where committed; computed on
    ``threads`` threads and stored where not)."""
    from pose_helpers.core.sweep import cached_run

    return {
        name: cached_run(
            model_scores,
            study=SCORES_STUDY,
            execution={"threads": threads},
            baseline=dict(baseline),
            engineered=None if spec is None else dict(spec),
            calibration_images=int(calibration_images),
            sigma=float(sigma),
            formats=list(formats),
        )
        for name, spec in models.items()
    }
