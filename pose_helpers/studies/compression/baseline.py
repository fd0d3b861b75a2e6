"""The CPU-scale baseline every compression run starts from (thesis Table 5.3), and its cost.

:func:`train_baseline` trains (or resumes, or finds finished) the baseline's checkpoint;
:func:`baseline_run` is its stored record (the chapters' call: no training where the record
is committed). :func:`baseline_cells` (the baseline thresholded, the control of Tables 5.4
and 5.5) and :func:`weight_magnitudes` (the data of the weight-magnitude figure) are stored
runs too. :func:`sweep` runs a study's sweep after training the baselines its missing points
start from.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from pose_helpers.compress.regularizers import THESIS_THRESHOLDS
from pose_helpers.core.store import RunStore
from pose_helpers.core.sweep import run_sweep, study_version
from pose_helpers.studies.compression.common import (
    FULL_SCALE_INPUT,
    FULL_SCALE_MODEL,
    METHODS,
    baseline_arguments,
    baseline_datasets,
    baseline_key,
    check_thresholds,
    create_baseline_model,
    stored_run,
)
from pose_helpers.studies.compression.figures import magnitudes_of
from pose_helpers.studies.compression.scoring import score_cells, thresholding
from pose_helpers.studies.compression.tables import cells_table, thesis_table
from pose_helpers.train import runs as experiments

#: Bump when the code changes what a stored run computes (it keys the run store).
STUDY_VERSION = 1

__all__ = [
    "BASELINE_STUDY",
    "CONTROL_STUDY",
    "MAGNITUDES_STUDY",
    "baseline_cells",
    "baseline_run",
    "baseline_table",
    "cpu_scale_card",
    "ceiling_note",
    "heatmap_ceiling",
    "narrower",
    "redundancy_note",
    "redundancy_table",
    "full_scale_card",
    "load_baseline",
    "sweep",
    "train_baseline",
    "weight_magnitudes",
]

#: The run store's studies of this module.
BASELINE_STUDY = "compression_baseline"
CONTROL_STUDY = "compression_baseline_cells"
MAGNITUDES_STUDY = "compression_weight_magnitudes"

# execution details: not part of a stored baseline's key
_NOT_KEYED = ("threads", "progress", "num_workers")


def train_baseline(
    *, threads: int | None = 1, progress: bool = False, **baseline: Any
) -> dict[str, Any]:
    """Train (or resume, or find finished) the CPU-scale baseline's checkpoint:
    ``synthpose_run(**{**CPU_BASELINE, **baseline}, cache_renders=True)``.

    Returns:
        ``synthpose_run``'s record (its ``checkpoint`` is this machine's file) with
        ``seconds`` renamed ``train_seconds`` (a sweep overwrites ``seconds`` with the
        call's wall time).

    Raises:
        ValueError: for a setting ``synthpose_run`` does not have.
    """
    settings = baseline_arguments({**baseline, "threads": threads, "progress": progress})
    record = experiments.synthpose_run(**settings, cache_renders=True)
    record["train_seconds"] = record.pop("seconds")
    return record


def load_baseline(
    baseline: Mapping[str, Any], *, threads: int | None = 1, progress: bool = False
) -> tuple[Any, dict[str, Any]]:
    """The trained baseline (eval mode) and :func:`train_baseline`'s record; the baseline is
    trained first where this machine has no finished checkpoint."""
    settings = baseline_arguments(baseline)
    record = train_baseline(**{**baseline, "threads": threads, "progress": progress})
    net = experiments.load_run_model(record, settings["model"], settings["model_kwargs"])
    return net, record


def _baseline_result(**settings: Any) -> dict[str, Any]:
    """:func:`train_baseline`'s record without this machine's checkpoint path."""
    record = train_baseline(**settings)
    return {k: v for k, v in record.items() if k != "checkpoint"}


def baseline_run(*, threads: int | None = 1, progress: bool = False, **baseline: Any) -> dict:
    """The CPU-scale baseline's record (stored run of :data:`BASELINE_STUDY`): read from the
    run store, else trained (:func:`train_baseline`, with ``threads`` and ``progress``) and
    stored. The key holds every ``synthpose_run`` setting (:func:`baseline_arguments`).

    Returns:
        ``synthpose_run``'s record (``key``, ``source``, ``params``, ``history``, ``pckh``,
        ``table``, ``swaps``, ``diverged``, ``train_seconds``) without the checkpoint path.

    Raises:
        ValueError: for a setting ``synthpose_run`` does not have.
    """
    settings = baseline_arguments(baseline)
    point = {k: v for k, v in settings.items() if k not in _NOT_KEYED}
    return stored_run(_baseline_result, BASELINE_STUDY, threads=threads, progress=progress, **point)


def sweep(
    fn: Callable[..., Mapping[str, Any]],
    points: Sequence[Mapping[str, Any]],
    *,
    study: str,
    workers: int = 2,
) -> pd.DataFrame:
    """:func:`run_sweep` of ``fn`` over ``points`` as the study ``study``, after training
    here, with ``workers`` threads, the baseline of every point not stored yet (two workers
    that found no baseline checkpoint would each train it). Each point names its
    ``baseline``."""
    store = RunStore(study, study_version(fn))
    todo = [p for p in points if not store.path(p).is_file()]
    for baseline in {baseline_key(p["baseline"]): p["baseline"] for p in todo}.values():
        train_baseline(**{**baseline, "threads": workers, "progress": True})
    return run_sweep(fn, points, name=study, workers=workers)


# --------------------------------------------------------------------------- cost


def full_scale_card(
    threads: int = 1, repeats: int = 10, input_size: int = FULL_SCALE_INPUT
) -> dict[str, Any]:
    """:func:`bench.model_card` of the full-scale baseline (default 256 x 256; ``repeats=0``:
    no timing). Parameters and sizes do not depend on ``input_size``; MACs and latency do."""
    from pose_helpers.cost.bench import model_card
    from pose_helpers.models.registry import create_model

    net = create_model(FULL_SCALE_MODEL).eval()
    return model_card(net, (3, input_size, input_size), threads=threads, repeats=repeats)


def cpu_scale_card(
    baseline: Mapping[str, Any], threads: int = 1, repeats: int = 10
) -> dict[str, Any]:
    """:func:`bench.model_card` of the CPU-scale baseline (:data:`CPU_BASELINE` + ``baseline``)
    at its own input size (an untrained copy: cost does not depend on the weights)."""
    from pose_helpers.cost.bench import model_card

    settings = baseline_arguments(baseline)
    size = settings["input_size"]
    net = create_baseline_model(settings).eval()
    return model_card(net, (3, size, size), threads=threads, repeats=repeats)


def baseline_table(
    full: Mapping[str, Any], cpu: Mapping[str, Any], record: Mapping[str, Any]
) -> pd.DataFrame:
    """Table 5.3 three ways: the thesis's row, our full-scale model, our trained CPU model.

    Args:
        full: :func:`full_scale_card`.
        cpu: :func:`cpu_scale_card`.
        record: :func:`baseline_run`'s record (its PCKh).

    Returns:
        Columns ``model``, ``source``, ``input``, ``params_m``, ``size_mb`` (checkpoint),
        ``gmacs``, ``latency_ms`` (batch 1, this CPU) and ``pckh`` (NaN where not measured).
    """
    thesis = thesis_table("baseline").iloc[0]

    def side(card: Mapping[str, Any]) -> int:
        return int(card["input_shape"][-1])

    rows = [
        {
            "model": "Simple Baselines ResNet-50",
            "source": "thesis (Table 5.3, MPII)",
            "input": FULL_SCALE_INPUT,
            "params_m": float(thesis["params_m"]),
            "size_mb": float(thesis["size_mb"]),
            "gmacs": math.nan,
            "latency_ms": math.nan,
            "pckh": float(thesis["pckh"]),
        },
        {
            "model": "Simple Baselines ResNet-50",
            "source": "ours, full scale (counted, timed on this CPU)",
            "input": side(full),
            "params_m": full["params"] / 1e6,
            "size_mb": full["checkpoint_mb"],
            "gmacs": full["gmacs"],
            "latency_ms": full["latency_ms"],
            "pckh": math.nan,
        },
        {
            "model": "Simple Baselines ResNet-50, CPU scale",
            "source": f"ours, trained on SynthPose ({record.get('source', '?')} poses)",
            "input": side(cpu),
            "params_m": cpu["params"] / 1e6,
            "size_mb": cpu["checkpoint_mb"],
            "gmacs": cpu["gmacs"],
            "latency_ms": cpu["latency_ms"],
            "pckh": float(record["table"]["Mean"]),
        },
    ]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- what weights give


def _baseline_cells_result(
    baseline: Mapping[str, Any], thresholds: Sequence[float], threads: int | None, progress: bool
) -> dict[str, Any]:
    net, _ = load_baseline(baseline, threads=threads, progress=progress)
    _, val_data = baseline_datasets(baseline_arguments(baseline))
    params = sum(p.numel() for p in net.parameters())
    runs = [
        {
            "method": m,
            "lam": 0.0,
            "cells": score_cells(net, thresholding(m), thresholds, val_data, params),
        }
        for m in METHODS
    ]
    return {"runs": runs}


def baseline_cells(
    baseline: Mapping[str, Any],
    thresholds: Sequence[float] = THESIS_THRESHOLDS,
    *,
    threads: int | None = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """The control of Tables 5.4/5.5: the *unregularized* baseline, thresholded (stored run of
    :data:`CONTROL_STUDY`).

    How much of the sparsity a threshold finds without any penalty: each method's
    thresholding (single weights, or whole groups) applied to the trained baseline.

    Returns:
        :func:`cells_table`'s columns, ``lambda`` = 0.

    Raises:
        ValueError: for bad thresholds or baseline settings.
    """
    thresholds = check_thresholds(thresholds)
    baseline_arguments(baseline)  # validated before any work
    result = stored_run(
        _baseline_cells_result,
        CONTROL_STUDY,
        threads=threads,
        progress=progress,
        baseline=dict(baseline),
        thresholds=thresholds,
    )
    return cells_table(pd.DataFrame(result["runs"]))


def _magnitudes_result(
    baseline: Mapping[str, Any], thresholds: Sequence[float], threads: int | None, progress: bool
) -> dict[str, Any]:
    net, _ = load_baseline(baseline, threads=threads, progress=progress)
    return magnitudes_of(net, thresholds)


def weight_magnitudes(
    baseline: Mapping[str, Any],
    thresholds: Sequence[float] = THESIS_THRESHOLDS,
    *,
    threads: int | None = 1,
    progress: bool = False,
) -> dict[str, Any]:
    """Where the thresholds fall in the trained baseline (stored run of
    :data:`MAGNITUDES_STUDY`): :func:`figures.magnitudes_of` its weights, the data of
    :func:`figures.plot_weight_magnitudes`.

    Raises:
        ValueError: for bad thresholds or baseline settings.
    """
    thresholds = check_thresholds(thresholds)
    baseline_arguments(baseline)
    return stored_run(
        _magnitudes_result,
        MAGNITUDES_STUDY,
        threads=threads,
        progress=progress,
        baseline=dict(baseline),
        thresholds=thresholds,
    )


# --------------------------------------------------------------------------- is it over-provisioned?


def narrower(baseline: Mapping[str, Any], factor: float) -> dict[str, Any]:
    """The baseline's settings with ResNet-50's width and the deconvolution channels scaled
    by ``factor`` (0.5: half the width), everything else (the recipe) unchanged.

    Raises:
        ValueError: unless ``0 < factor``, or when a scaled width falls below one channel.
    """
    if not factor > 0:
        raise ValueError(f"factor={factor!r}; expected a number > 0")
    kwargs = dict(baseline_arguments(baseline)["model_kwargs"] or {})
    scaled = {k: round(kwargs[k] * factor) for k in ("width", "deconv_channels")}
    if min(scaled.values()) < 1:
        raise ValueError(f"factor={factor!r} leaves {scaled}; each needs at least one channel")
    return {**baseline, "model_kwargs": {**kwargs, **scaled}}


def redundancy_table(
    baseline: Mapping[str, Any],
    width_factors: Sequence[float] = (1.0, 0.5),
    seeds: Sequence[int] = (0, 1),
    *,
    threads: int | None = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """Is the baseline over-provisioned? The same recipe (:func:`narrower`) at each width
    factor, trained plainly (stored runs of :data:`BASELINE_STUDY`, the baseline's own
    record at factor 1), with its parameters and MACs at the baseline's input size. The full
    width trains at every seed (the spread every later rule uses as its noise); a narrower
    width at the first seed only (its loss is judged against that noise).

    Returns:
        One row per (width factor, seed) trained: ``width_factor``, ``width``, ``deconv_channels``,
        ``seed``, ``params``, ``macs``, ``pckh`` (mean PCKh@0.5 on the validation renders)
        and ``train_seconds``.

    Raises:
        ValueError: for no width factor or no seed, or a bad factor.
    """
    from pose_helpers.cost.bench import macs

    if not width_factors or not seeds:
        raise ValueError("width_factors and seeds need at least one value each")
    variants = [
        (f, int(s), narrower({**baseline, "seed": int(s)}, f))
        for f in width_factors
        for s in (seeds if f == 1 else seeds[:1])
    ]
    rows = []
    for factor, seed, variant in variants:
        record = baseline_run(**variant, threads=threads, progress=progress)
        settings = baseline_arguments(variant)
        size = settings["input_size"]
        rows.append(
            {
                "width_factor": float(factor),
                "width": settings["model_kwargs"]["width"],
                "deconv_channels": settings["model_kwargs"]["deconv_channels"],
                "seed": seed,
                "params": int(record["params"]),
                "macs": int(macs(create_baseline_model(settings).eval(), (3, size, size))),
                "pckh": float(record["table"]["Mean"]),
                "train_seconds": float(record.get("train_seconds", math.nan)),
            }
        )
    return pd.DataFrame(rows)


def redundancy_note(table: pd.DataFrame, required_loss: float = 3.0) -> str:
    """Whether the narrowest network of :func:`redundancy_table` loses ``required_loss``
    points against the full width, beyond the seeds' spread (Markdown, every number computed).
    """
    by = table.groupby("width_factor")["pckh"]
    mean, low, high = by.mean(), by.min(), by.max()
    full, narrow = mean.index.max(), mean.index.min()
    loss = mean[full] - mean[narrow]
    spread = max((high - low).max(), 0.0)
    seeds = table.groupby("width_factor")["seed"].nunique()
    if loss >= required_loss + spread:
        verdict = "is not over-provisioned: the sweeps can show a cost"
    elif loss <= required_loss - spread:
        verdict = "has capacity to spare: a compression method can look free here without being so"
    else:
        verdict = "is at the edge: the loss lies within the seeds' spread of the requirement"
    return (
        f"At {narrow:g} × the width ({int(table.loc[table.width_factor == narrow, 'params'].iloc[0]):,} "
        f"parameters) the recipe scores {mean[narrow]:.1f} % mean PCKh@0.5 against "
        f"{mean[full]:.1f} % at full width (means over {seeds[narrow]} and {seeds[full]} seeds): "
        f"a loss of **{loss:.1f} points**, where the check asks for at least {required_loss:g}. "
        f"The seeds of one width differ by up to {spread:.1f} points (the noise every later "
        f"rule uses), so the baseline {verdict}."
    )


def heatmap_ceiling(baseline: Mapping[str, Any]) -> dict[str, float]:
    """The PCKh@0.5 ceiling of the heatmap resolution: the validation renders' own target
    heatmaps decoded the chapters' way (arg-max with the quarter-pixel shift, mapped to
    input pixels), as if a network predicted them exactly.

    Returns:
        ``metrics.pckh_table`` of the decoded targets (Head ... Mean), with ``heatmap_size``.
    """
    import numpy as np

    from pose_helpers import metrics

    settings = baseline_arguments(baseline)
    _, val_data = baseline_datasets(settings)
    items = [val_data[i] for i in range(len(val_data))]
    heatmaps = np.stack([np.asarray(item["heatmaps"]) for item in items])
    coords, _ = metrics.heatmaps_to_coords(heatmaps)
    size = settings["input_size"]
    side = heatmaps.shape[-1]
    pred = metrics.heatmap_to_image_coords(coords, (size, size), (side, heatmaps.shape[-2]))
    per_joint = metrics.pckh(
        np.asarray(pred, dtype=np.float64),
        np.stack([np.asarray(item["joints"], dtype=np.float64) for item in items]),
        np.asarray([float(item["head_size"]) for item in items]),
        np.stack([np.asarray(item["visible"]).astype(bool) for item in items]),
    )
    table = {str(k): float(v) for k, v in metrics.pckh_table(per_joint).items()}
    return {**table, "heatmap_size": int(side)}


def ceiling_note(ceiling: Mapping[str, float]) -> str:
    """What :func:`heatmap_ceiling` says about the heatmap resolution (Markdown)."""
    side = ceiling["heatmap_size"]
    if ceiling["Mean"] >= 99.95:
        return (
            f"The ceiling of {side} × {side} heatmaps: their exact targets, decoded, score "
            f"**{ceiling['Mean']:.1f} %** mean PCKh@0.5 on the same validation persons; the "
            "resolution is not what holds the baseline back."
        )
    return (
        f"The ceiling of {side} × {side} heatmaps: their exact targets, decoded, score "
        f"**{ceiling['Mean']:.1f} %** mean PCKh@0.5 on the same validation persons; no network "
        "passes it at this resolution."
    )
