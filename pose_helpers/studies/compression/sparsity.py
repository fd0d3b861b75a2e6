"""L1 and group-lasso fine-tuning of the baseline (thesis sections 5.3-5.4, Tables 5.4-5.5).

:func:`regularized_run` is the unit of the sweep (:func:`sparsity_sweep`, the run store's
study :data:`SPARSITY_STUDY`): it fine-tunes the baseline with ``lam * penalty`` added to the
heatmap loss (``lam`` in the thesis's units, converted once by
:func:`regularizers.from_thesis_lambda`), with the baseline's optimizer, batch size,
learning-rate schedule (fractions of the epochs) and training images; then, per threshold, a
thresholded copy is scored on the validation set and measured with
:func:`regularizers.sparsity_report`. The theoretical size is ``retained x 136.32 MB``, the
checkpoint of the *full-scale* baseline (:func:`full_scale_baseline_mb`), as in the thesis.

Its checkpoint stays in the cache (``checkpoint_folder()/<method>-<key>.pt``, the key
hashing the baseline's key, the method, ``lam``, the epochs, learning rate and seed): a
re-run resumes, and a finished run does not train. Its record is stored once, by the sweep.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pose_helpers.compress.regularizers import THESIS_THRESHOLDS
from pose_helpers.core.io import need_checkpoint
from pose_helpers.studies.compression.baseline import load_baseline, sweep
from pose_helpers.studies.compression.common import (
    baseline_arguments,
    baseline_datasets,
    baseline_key,
    check_count,
    check_lam,
    check_lr,
    check_method,
    check_thresholds,
    checkpoint_folder,
    create_baseline_model,
    train_config,
)
from pose_helpers.studies.compression.scoring import diverged_cells, score_cells, thresholding
from pose_helpers.train import runs as experiments

#: Bump when the code changes what a stored run computes (it keys the run store).
STUDY_VERSION = 1

__all__ = [
    "SPARSITY_STUDY",
    "RegularizedPlan",
    "load_regularized_model",
    "plan_regularized",
    "regularized_run",
    "sparsity_sweep",
    "sweep_points",
    "train_regularized",
]

#: The run store's study of the L1 and group-lasso sweeps.
SPARSITY_STUDY = "compression_sparsity"


@dataclass(frozen=True)
class RegularizedPlan:
    """One regularized run, validated: its settings, key and checkpoint."""

    method: str
    lam: float  # the thesis's units
    penalty_weight: float  # lam in ours (from_thesis_lambda), the penalty's factor
    baseline: dict[str, Any]  # as given (for the baseline's training)
    settings: dict[str, Any]  # every synthpose_run argument of the baseline
    baseline_key: str
    epochs: int
    lr: float
    seed: int
    threads: int | None
    key: str
    checkpoint: Path


def plan_regularized(
    method: Any,
    lam: Any,
    baseline: Mapping[str, Any],
    epochs: Any,
    lr: Any,
    seed: int = 0,
    data_root: str | os.PathLike | None = None,
    threads: int | None = 1,
    checkpoint_dir: str | os.PathLike | None = None,
) -> RegularizedPlan:
    """Validate a regularized run's arguments and name its key and checkpoint.

    Raises:
        ValueError: for an unknown method, a negative ``lam``, non-positive epochs or
            learning rate, or an unknown baseline setting.
    """
    from pose_helpers.compress.regularizers import THESIS_LOSS_SCALE, from_thesis_lambda

    method = check_method(method)
    lam = check_lam(lam)
    epochs = check_count("epochs", epochs)
    lr = check_lr("lr", lr)
    given = dict(baseline) if isinstance(baseline, Mapping) else baseline
    if data_root is not None and isinstance(given, dict):
        given["data_root"] = str(data_root)
    settings = baseline_arguments(given)
    base_key = baseline_key(given)
    key = experiments.run_key(
        {
            "baseline": base_key,
            "method": method,
            "lam": lam,
            "loss_scale": THESIS_LOSS_SCALE,
            "epochs": epochs,
            "lr": lr,
            "seed": int(seed),
        }
    )
    return RegularizedPlan(
        method=method,
        lam=lam,
        penalty_weight=from_thesis_lambda(lam),
        baseline=given,
        settings=settings,
        baseline_key=base_key,
        epochs=epochs,
        lr=lr,
        seed=int(seed),
        threads=None if threads is None else int(threads),
        key=key,
        checkpoint=checkpoint_folder(checkpoint_dir) / f"{method}-{key}.pt",
    )


def _penalty(model: Any, method: str, lam: float):
    """``extra_loss`` of :func:`train.fit`: ``lam`` (ours) times the method's penalty."""
    from pose_helpers.compress import regularizers

    if method == "l1":
        return lambda m: regularizers.l1_penalty(m, lam)
    groups = regularizers.channel_groups(model)  # traced once, not on every step
    return lambda m: regularizers.group_lasso_penalty(m, lam, groups)


def train_regularized(plan: RegularizedPlan, progress: bool = False) -> dict[str, Any]:
    """Train (or resume, or load) the regularized model of ``plan``; the baseline is trained
    first where this machine has none.

    Returns:
        ``model`` (eval mode), ``result`` (:func:`train.fit`'s), ``baseline`` (the
        baseline's training record), ``train_data`` and ``val_data``.

    Raises:
        ValueError: when the baseline diverged.
    """
    from pose_helpers.train import loop as train

    net, base = load_baseline(plan.baseline, threads=plan.threads, progress=progress)
    if base["diverged"]:
        raise ValueError(
            f"the baseline {plan.baseline_key} diverged; there is nothing to regularize"
        )
    settings = plan.settings
    train_data, val_data = baseline_datasets(settings)
    result = train.fit(
        net,
        train_data,
        val_data,
        train_config(settings, plan.epochs, plan.lr, plan.seed, plan.threads),
        checkpoint=plan.checkpoint,
        extra_loss=_penalty(net, plan.method, plan.penalty_weight),
        progress=progress,
    )
    return {
        "model": net.eval(),
        "result": result,
        "baseline": base,
        "train_data": train_data,
        "val_data": val_data,
    }


def regularized_run(
    method: str,
    lam: float,
    *,
    baseline: dict[str, Any],
    epochs: int,
    lr: float = 1e-3,
    thresholds: Sequence[float] = THESIS_THRESHOLDS,
    seed: int = 0,
    data_root: str | os.PathLike | None = None,
    threads: int = 1,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Fine-tune the baseline with an L1 or group-lasso penalty; threshold and score it.

    Training: ``heatmap_loss + from_thesis_lambda(lam) * penalty`` (``l1_penalty`` over every
    convolution weight, or ``group_lasso_penalty`` over ``channel_groups``: filter groups with
    their BatchNorm, and channel groups), starting from the baseline's weights, on its
    training images, with its optimizer, batch size and milestones (fractions of ``epochs``)
    and learning rate ``lr``; ``seed`` orders the batches. Then, for each threshold, a copy is
    thresholded (single weights for ``l1``, whole groups by their L2 norm for
    ``group_lasso``: ``regularizers.threshold_``) and scored on the validation set.

    The unit of :func:`sparsity_sweep`, which stores its record; a call resumes or loads
    the checkpoint (no training when it is finished) and scores the cells again.

    Args:
        method: ``'l1'`` (Table 5.4) or ``'group_lasso'`` (Table 5.5).
        lam: the penalty's weight in the thesis's units (``THESIS_LAMBDAS[method]``).
        baseline: ``synthpose_run`` settings on top of :data:`CPU_BASELINE` (as for
            :func:`baseline_run`); the baseline is trained first if this machine has none.
        epochs: fine-tuning epochs.
        lr: initial learning rate of the fine-tuning.
        thresholds: the thresholds of the cells (Tables 5.4/5.5: 0.01, 0.001, 0.0001).
        seed: seed of the fine-tuning (batch order).
        data_root: data-root override for the renders (else the baseline's).
        threads: torch threads (not part of the key).
        progress: show progress bars.
        checkpoint_dir: folder of the checkpoint; default :func:`checkpoint_folder`.

    Returns:
        A JSON-able dict: ``key``, ``baseline_key``, ``penalty_weight`` (``lam`` in our
        units), ``params``, ``history`` (per epoch; ``extra_loss`` is the penalty),
        ``pckh_unthresholded`` (mean PCKh before any threshold), ``cells`` (one per
        threshold: ``threshold``, ``sparsity`` (% zero), ``retained`` (the thesis's
        "Sparsity"), ``size_mb`` (``retained x 136.32``), ``nonzero_weights``, ``pckh``
        (mean) and ``table`` (Head ... Mean)), ``train_seconds``, ``diverged`` and
        ``checkpoint`` (its file name in the checkpoint folder). A diverged run (NaN loss) is
        recorded with NaN cells (:func:`scoring.diverged_cells`), not raised.

    Raises:
        ValueError: at once, for an unknown method, a negative ``lam``, a threshold <= 0,
            non-positive epochs or learning rate, or an unknown baseline setting.
    """
    from pose_helpers.core.store import jsonable

    thresholds = check_thresholds(thresholds)
    plan = plan_regularized(
        method, lam, baseline, epochs, lr, seed, data_root, threads, checkpoint_dir
    )
    trained = train_regularized(plan, progress)
    result, net = trained["result"], trained["model"]
    params = trained["baseline"]["params"]
    if result.diverged:
        cells = diverged_cells(thresholds)
    else:
        cells = score_cells(net, thresholding(plan.method), thresholds, trained["val_data"], params)
    return jsonable(
        {
            "key": plan.key,
            "baseline_key": plan.baseline_key,
            "penalty_weight": plan.penalty_weight,
            "params": int(params),
            "history": result.history.to_dict("records"),
            "pckh_unthresholded": float(result.table.get("Mean", math.nan)),
            "cells": cells,
            "train_seconds": float(result.seconds),
            "diverged": bool(result.diverged),
            "checkpoint": plan.checkpoint.name,
        }
    )


def load_regularized_model(
    record: Mapping[str, Any],
    baseline: Mapping[str, Any],
    checkpoint_dir: str | os.PathLike | None = None,
):
    """The fine-tuned (unthresholded) model of a :func:`regularized_run` record, in eval mode,
    from this machine's checkpoint.

    Raises:
        FileNotFoundError: naming the checkpoint, where it is missing or does not load (it
            is then moved aside): :func:`regularized_run` trains it again.
    """
    state = need_checkpoint(
        checkpoint_folder(checkpoint_dir) / record["checkpoint"],
        f"call regularized_run with the settings of run {record['key']} to train it again",
    )
    net = create_baseline_model(baseline_arguments(baseline))
    net.load_state_dict(state["model"])
    return net.eval()


def sweep_points(lambdas: Mapping[str, Sequence[float]], **settings: Any) -> list[dict[str, Any]]:
    """The points of :func:`regularized_run` for :func:`sparsity_sweep`: one per (method, lam).

    Args:
        lambdas: ``{method: [lam, ...]}``, e.g. ``THESIS_LAMBDAS``.
        settings: the other arguments (``baseline``, ``epochs``, ``thresholds`` ...), the
            same for every point.

    Raises:
        ValueError: for an unknown method or a bad lambda.
    """
    return [
        {"method": check_method(method), "lam": check_lam(lam), **settings}
        for method, lams in lambdas.items()
        for lam in lams
    ]


def sparsity_sweep(points: Sequence[Mapping[str, Any]], *, workers: int = 2) -> pd.DataFrame:
    """The L1 and group-lasso sweep: :func:`regularized_run` over ``points``
    (:func:`sweep_points`) in ``workers`` processes, one stored record per point
    (:data:`SPARSITY_STUDY`); see :func:`baseline.sweep`."""
    return sweep(regularized_run, points, study=SPARSITY_STUDY, workers=workers)
