"""Distillation (seed 001's teacher-student training): a narrower Simple Baselines learns
from the trained baseline's heatmaps, against the same network trained plainly.

The student is the compression chapters' narrower network (:func:`narrower`: the width and
the deconvolution channels scaled), trained with the baseline's whole recipe (epochs,
optimizer, milestones, seed); the only difference from the plain run, which the baseline
chapter's redundancy check already stores, is the target: ``alpha × teacher + (1 − alpha) ×
ground truth`` (:class:`pose_helpers.train.distill.DistilledTargets`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pose_helpers.core.paths import cache_dir
from pose_helpers.core.store import jsonable
from pose_helpers.core.sweep import run_sweep
from pose_helpers.studies.compression.baseline import baseline_run, load_baseline, narrower
from pose_helpers.studies.compression.common import (
    baseline_arguments,
    baseline_datasets,
    baseline_key,
    train_config,
)
from pose_helpers.train import runs as experiments

#: Bump when the code changes what a stored run computes (it keys the run store).
STUDY_VERSION = 1

__all__ = [
    "DISTILL_STUDY",
    "distillation_note",
    "distillation_runs",
    "distillation_table",
    "distilled_run",
    "radar_distillation",
    "RADAR_DISTILL_STUDY",
]

#: The run store's study of the distilled students.
DISTILL_STUDY = "deployment_distillation"


def _check_alpha(alpha: Any) -> float:
    alpha = float(alpha)
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha={alpha!r}; expected the teacher's share in (0, 1]")
    return alpha


def distilled_run(
    width_factor: float,
    alpha: float,
    *,
    baseline: Mapping[str, Any],
    threads: int | None = 1,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """The baseline's recipe on the network :func:`narrower` by ``width_factor``, with the
    trained baseline as teacher: targets ``alpha × teacher + (1 − alpha) × ground truth``.

    Returns:
        A JSON-able dict: ``key``, ``params``, ``pckh``, ``table``, ``history``,
        ``train_seconds``, ``diverged``, ``checkpoint``.

    Raises:
        ValueError: at once, for ``alpha`` outside (0, 1], a bad factor or an unknown
            baseline setting.
    """
    from pose_helpers.core.repro import seed_everything, torch_threads
    from pose_helpers.cost import bench
    from pose_helpers.studies.compression.common import create_baseline_model
    from pose_helpers.train import loop as train
    from pose_helpers.train.distill import DistilledTargets, teacher_heatmaps

    alpha = _check_alpha(alpha)
    student = narrower(baseline, float(width_factor))
    settings = baseline_arguments(student)
    key = experiments.run_key(
        {
            "teacher": baseline_key(baseline),
            "student": baseline_key(student),
            "alpha": alpha,
        }
    )
    folder = cache_dir("deployment") if checkpoint_dir is None else checkpoint_dir
    checkpoint = os.path.join(folder, f"distilled-{key}.pt")
    teacher, _ = load_baseline(baseline, threads=threads, progress=progress)
    train_data, val_data = baseline_datasets(settings)
    with torch_threads(threads):
        taught = DistilledTargets(train_data, teacher_heatmaps(teacher, train_data), alpha=alpha)
    del teacher
    # As the plain run (synthpose_run): the initialization depends on the seed alone.
    seed_everything(settings["seed"], threads)
    net = create_baseline_model(settings)
    config = train_config(settings, settings["epochs"], settings["lr"], settings["seed"], threads)
    result = train.fit(net, taught, val_data, config, checkpoint=checkpoint, progress=progress)
    table = result.table or {}
    return jsonable(
        {
            "key": key,
            "params": bench.count_params(net),
            "pckh": float(table.get("Mean", math.nan)),
            "table": table,
            "history": result.history.to_dict("records"),
            "train_seconds": float(result.seconds),
            "diverged": bool(result.diverged),
            "checkpoint": os.path.basename(checkpoint),
        }
    )


def distillation_runs(
    width_factors: Sequence[float],
    alphas: Sequence[float],
    *,
    baseline: Mapping[str, Any],
    workers: int = 2,
) -> pd.DataFrame:
    """:func:`distilled_run` for every (factor, alpha), in ``workers`` processes, one stored
    record each of :data:`DISTILL_STUDY`; columns ``width_factor``, ``alpha``, ``params``,
    ``pckh``, ``epochs``, ``train_seconds``, ``diverged``."""
    points = [
        {"width_factor": float(f), "alpha": _check_alpha(a), "baseline": dict(baseline)}
        for f in width_factors
        for a in alphas
    ]
    for point in points:
        narrower(baseline, point["width_factor"])  # a bad factor fails before any training
    if not points:
        return pd.DataFrame(
            columns=["width_factor", "alpha", "params", "pckh", "epochs", "train_seconds"]
        )
    runs = run_sweep(
        distilled_run,
        points,
        name=DISTILL_STUDY,
        raise_errors=True,
        progress=False,
        # one process per run; a lone run takes every worker's thread
        execution={"threads": max(1, workers // len(points)), "progress": False},
        workers=min(workers, len(points)),
    )
    epochs = baseline_arguments(baseline)["epochs"]
    return runs[["width_factor", "alpha", "params", "pckh", "train_seconds", "diverged"]].assign(
        epochs=epochs
    )


def distillation_table(
    distilled: pd.DataFrame,
    *,
    baseline: Mapping[str, Any],
    radar: pd.DataFrame | None = None,
    threads: int | None = 1,
    progress: bool = False,
) -> pd.DataFrame:
    """``distillation.csv``'s Simple Baselines rows: each distilled student beside the
    same student trained plainly (the stored run of the baseline chapter's redundancy
    check, trained here where missing) and the teacher.

    Columns: ``study`` (``simple_baselines``), ``teacher``, ``student``, ``budget_epochs``,
    ``metric`` (``mean PCKh@0.5 (%)``), ``plain``, ``distilled``, ``gain``, ``teacher_score``,
    ``alpha``, ``width_factor``, ``student_params``; then the rows of ``radar``
    (:func:`radar_distillation`), whose ``gain`` is the error's fall.
    """
    teacher = baseline_run(**baseline, threads=threads, progress=progress)
    settings = baseline_arguments(baseline)["model_kwargs"]
    rows = []
    for _, row in distilled.iterrows():
        student = narrower(baseline, float(row["width_factor"]))
        plain = baseline_run(**student, threads=threads, progress=progress)
        kwargs = baseline_arguments(student)["model_kwargs"]
        rows.append(
            {
                "study": "simple_baselines",
                "teacher": f"ResNet-50 SB, width {settings['width']} "
                f"(deconv {settings['deconv_channels']})",
                "student": f"width × {row['width_factor']:g} (width {kwargs['width']}, "
                f"deconv {kwargs['deconv_channels']})",
                "budget_epochs": int(row["epochs"]),
                "metric": "mean PCKh@0.5 (%)",
                "plain": float(plain["table"]["Mean"]),
                "distilled": float(row["pckh"]),
                "gain": float(row["pckh"]) - float(plain["table"]["Mean"]),
                "teacher_score": float(teacher["table"]["Mean"]),
                "alpha": float(row["alpha"]),
                "width_factor": float(row["width_factor"]),
                "student_params": int(row["params"]),
            }
        )
    table = pd.DataFrame(rows)
    if radar is not None and len(radar):
        table = pd.concat([table, radar], ignore_index=True) if len(table) else radar.copy()
    return table


def distillation_note(table: pd.DataFrame, noise: float) -> str:
    """Each student's gain from its teacher against the noise (``noise``, the baseline's
    seed spread, for the PCKh rows; a row's own ``noise`` column where it has one), and how
    much of the gap to the teacher it closes."""
    if table.empty:
        return "No student was distilled."
    parts = []
    for _, r in table.iterrows():
        own = r.get("noise", math.nan)
        tol = float(own) if own is not None and math.isfinite(float(own)) else noise
        higher = not str(r["metric"]).startswith("test MAE")
        unit = "points" if higher else "cm"
        gap = (r["teacher_score"] - r["plain"]) * (1 if higher else -1)
        closed = f", {100 * r['gain'] / gap:.0f} % of the gap to the teacher" if gap > 0 else ""
        if math.isfinite(tol):
            word = (
                "a gain beyond"
                if r["gain"] > tol
                else "a loss beyond"
                if r["gain"] < -tol
                else "within"
            )
            judged = f" ({word} the seed noise of ±{tol:.2f} {unit})"
        else:
            judged = ""
        parts.append(
            f"**{r['study']}**: the {r['student']} student scores {r['plain']:.2f} "
            f"({r['metric']}) trained plainly and {r['distilled']:.2f} distilled (alpha "
            f"{r['alpha']:g}): a gain of {r['gain']:+.2f} {unit}{judged}{closed}; the "
            f"teacher ({r['teacher']}) scores {r['teacher_score']:.2f}."
        )
    return "\n\n".join(parts)


#: The run store's study of the distilled radar students.
RADAR_DISTILL_STUDY = "deployment_radar_distillation"


def _radar_result(**point: Any) -> dict[str, Any]:
    """A radar run's record without this machine's checkpoint path (a stored record)."""
    from pose_helpers.studies.mmwave.radar_runs import radar_run

    record = radar_run(**point)
    return {k: v for k, v in record.items() if k not in ("checkpoint", "history")}


def radar_distillation(
    teacher: str,
    student: str,
    *,
    run: Mapping[str, Any],
    seeds: Sequence[int],
    alpha: float = 0.5,
    data_root: Any = None,
) -> pd.DataFrame:
    """``distillation.csv``'s mmWave row: the ``student`` configuration trained on the
    labels and on ``alpha × teacher + (1 − alpha) × labels`` (the ``teacher``'s own run with
    the same settings), each with early stopping on validation and scored once on test;
    the mean test MAE over ``seeds``. Every run is a stored record of
    :data:`RADAR_DISTILL_STUDY` (the plain ones are the mmWave chapter's runs).

    Columns as :func:`distillation_table`'s, with ``metric`` ``test MAE (cm)``, ``gain``
    = plain − distilled (positive: the teacher helped), ``teacher_score`` and ``noise``
    (the plain student's standard deviation over the seeds).
    """
    from pose_helpers.core.sweep import cached_run

    alpha = _check_alpha(alpha)
    if not seeds:
        raise ValueError("seeds is empty; expected at least one")
    scores: dict[str, list[float]] = {"teacher": [], "plain": [], "distilled": []}
    for seed in seeds:
        common = {**dict(run), "seed": int(seed)}
        for role, point in (
            ("teacher", {"config": teacher, **common}),
            ("plain", {"config": student, **common}),
            ("distilled", {"config": student, **common, "teacher": teacher, "alpha": alpha}),
        ):
            record = cached_run(
                _radar_result,
                study=RADAR_DISTILL_STUDY,
                execution={"data_root": data_root},
                **point,
            )
            scores[role].append(float(record["mae_cm"]))
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    return pd.DataFrame(
        [
            {
                "study": "mmwave",
                "teacher": teacher,
                "student": student,
                "budget_epochs": int(run["epochs"]),
                "metric": "test MAE (cm)",
                "plain": mean["plain"],
                "distilled": mean["distilled"],
                "gain": mean["plain"] - mean["distilled"],
                "teacher_score": mean["teacher"],
                "alpha": alpha,
                "seeds": len(seeds),
                "noise": float(np.std(scores["plain"], ddof=1)) if len(seeds) > 1 else math.nan,
            }
        ]
    )
