"""L1 and group-lasso fine-tuning of the baseline (thesis sections 5.3-5.4, Tables 5.4-5.5).

:func:`regularized_run` is the unit of the sweep (:func:`sparsity_sweep`, the run store's
study :data:`SPARSITY_STUDY`): it fine-tunes the baseline with ``lambda_factor x lam x
penalty`` added to the heatmap loss (``lam`` in the thesis's units; ``lambda_factor`` the
measured transport rule, the one place a thesis lambda becomes ours), with the baseline's
optimizer, batch size and training images at a constant learning rate, epoch by epoch until
the retained fraction of every cell changes by less than a tolerance over an epoch (a cap
stated; a run at the cap is marked not converged). Then every cell (reading x threshold) is
scored on the validation set and measured with :func:`regularizers.sparsity_report`. The
theoretical size is ``retained x 136.32 MB``, the checkpoint of the *full-scale* baseline
(:func:`full_scale_baseline_mb`), as in the thesis.

Its checkpoint stays in the cache (``checkpoint_folder()/<method>-<key>.pt``, the key
hashing the baseline's key, the method, ``lam``, the factor, the cap, thresholds,
tolerance, learning rate and seed): a re-run resumes, and a finished run does not train. Its
record is stored once, by the sweep.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pose_helpers.compress.regularizers import THESIS_LOSS_SCALE, THESIS_THRESHOLDS
from pose_helpers.core.io import need_checkpoint
from pose_helpers.studies.compression.baseline import load_baseline, sweep
from pose_helpers.studies.compression.common import (
    METHODS,
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
from pose_helpers.studies.compression.scoring import diverged_cells, score_cell
from pose_helpers.train import runs as experiments

#: Bump when the code changes what a stored run computes (it keys the run store). The
#: penalty's share of the convergence rule (added after version 2's runs were stored) can
#: only lengthen a run, and every stored L1 run had reached its cap: they stand as stored.
STUDY_VERSION = 2

__all__ = [
    "CELL_READINGS",
    "SPARSITY_STUDY",
    "STEPS",
    "TOLERANCE",
    "cell_specs",
    "largest_change",
    "penalty_change",
    "retained_fractions",
    "thresholded_copy",
    "score_readings",
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


#: How a method's network is thresholded, per cell: (mode of ``regularizers.threshold_``,
#: statistic). Group lasso is scored under both readings of the thesis's group threshold:
#: the group's L2 norm, and the RMS of its weights (the norm over sqrt(numel)).
CELL_READINGS = {
    "l1": (("weight", "weight"),),
    "group_lasso": (("group", "norm"), ("group", "rms")),
}
#: How the penalty is applied: added to the loss (Adam follows its subgradient), or by its
#: proximal operator after every optimizer step (:mod:`pose_helpers.compress.proximal`).
STEPS = ("penalty", "proximal")
#: Default convergence tolerance: the largest change of any cell's retained fraction over
#: one epoch (1 percentage point) below which a run has converged.
TOLERANCE = 0.01


@dataclass(frozen=True)
class RegularizedPlan:
    """One regularized run, validated: its settings, key and checkpoint."""

    method: str
    lam: float  # the thesis's units
    lambda_factor: float  # the transport rule: our lambda = lambda_factor x lam
    penalty_weight: float  # lam in ours, the penalty's factor
    baseline: dict[str, Any]  # as given (for the baseline's training)
    settings: dict[str, Any]  # every synthpose_run argument of the baseline
    baseline_key: str
    max_epochs: int
    thresholds: tuple[float, ...]
    tolerance: float
    lr: float
    step: str  # 'penalty' (in the loss) or 'proximal' (its prox after every step)
    seed: int
    threads: int | None
    key: str
    checkpoint: Path


def plan_regularized(
    method: Any,
    lam: Any,
    baseline: Mapping[str, Any],
    max_epochs: Any,
    lr: Any,
    seed: int = 0,
    data_root: str | os.PathLike | None = None,
    threads: int | None = 1,
    checkpoint_dir: str | os.PathLike | None = None,
    *,
    lambda_factor: Any = THESIS_LOSS_SCALE,
    thresholds: Sequence[float] = THESIS_THRESHOLDS,
    tolerance: Any = TOLERANCE,
    step: str = "penalty",
) -> RegularizedPlan:
    """Validate a regularized run's arguments and name its key and checkpoint.

    Raises:
        ValueError: for an unknown method, a negative ``lam``, a non-positive cap, learning
            rate, factor or tolerance, bad thresholds, an unknown step, or an unknown
            baseline setting.
    """
    method = check_method(method)
    if step not in STEPS:
        raise ValueError(f"step={step!r}; expected one of {STEPS}")
    lam = check_lam(lam)
    max_epochs = check_count("max_epochs", max_epochs)
    lr = check_lr("lr", lr)
    lambda_factor = check_lr("lambda_factor", lambda_factor)
    tolerance = check_lr("tolerance", tolerance)
    thresholds = tuple(check_thresholds(thresholds))
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
            "lambda_factor": lambda_factor,
            "max_epochs": max_epochs,
            "thresholds": list(thresholds),
            "tolerance": tolerance,
            "lr": lr,
            "seed": int(seed),
            # the plain penalty keeps the keys its runs were stored under
            **({} if step == "penalty" else {"step": step}),
        }
    )
    return RegularizedPlan(
        method=method,
        lam=lam,
        lambda_factor=lambda_factor,
        penalty_weight=lambda_factor * lam,
        baseline=given,
        settings=settings,
        baseline_key=base_key,
        max_epochs=max_epochs,
        thresholds=thresholds,
        tolerance=tolerance,
        lr=lr,
        step=step,
        seed=int(seed),
        threads=None if threads is None else int(threads),
        key=key,
        checkpoint=checkpoint_folder(checkpoint_dir) / f"{method}-{key}.pt",
    )


def _hooks(model: Any, plan: RegularizedPlan, groups: Sequence[Any] | None) -> dict[str, Any]:
    """``fit``'s hooks for the plan's penalty: ``extra_loss`` (``lam`` ours times the
    method's penalty) or, for the proximal step, a logged constant and the prox after every
    step (:class:`proximal.ProximalStep`)."""
    from pose_helpers.compress import proximal, regularizers

    lam = plan.penalty_weight
    if plan.step == "proximal":
        prox = proximal.ProximalStep(model, plan.method, lam, plan.lr, groups)
        return {"extra_loss": prox.penalty, "after_step": prox}
    if plan.method == "l1":
        return {"extra_loss": lambda m: regularizers.l1_penalty(m, lam)}
    return {"extra_loss": lambda m: regularizers.group_lasso_penalty(m, lam, groups)}


def _penalty_of(method: str, groups: Sequence[Any] | None):
    """``R(model)`` of the method (``lam`` = 1) as a float; ``groups``: the model's channel
    groups (group lasso)."""
    import torch

    from pose_helpers.compress import regularizers

    if method == "l1":
        return lambda m: float(regularizers.l1_penalty(m, 1.0).detach())

    @torch.no_grad()
    def measure(m: Any) -> float:
        return float(regularizers.group_lasso_penalty(m, 1.0, groups))

    return measure


def cell_specs(method: str, thresholds: Sequence[float]) -> list[tuple[str, str, float]]:
    """The cells of a method's run: ``(mode, statistic, threshold)`` per reading and
    threshold (:data:`CELL_READINGS`)."""
    return [(mode, stat, float(t)) for mode, stat in CELL_READINGS[method] for t in thresholds]


def _label(statistic: str, threshold: float) -> str:
    return f"{statistic}@{threshold:g}"


def thresholded_copy(
    model: Any, spec: tuple[str, str, float], groups: Sequence[Any] | None = None
) -> Any:
    """A copy of ``model`` (eval mode) thresholded under one cell's ``(mode, statistic,
    threshold)`` (:func:`cell_specs`): single weights, or whole groups (``groups``, traced
    from the model where not given) by their norm or RMS."""
    from pose_helpers.compress import regularizers

    mode, statistic, threshold = spec
    sparse = copy.deepcopy(model).eval()
    if mode == "weight":
        regularizers.threshold_(sparse, threshold, mode)
    else:
        regularizers.threshold_(sparse, threshold, mode, groups=groups, statistic=statistic)
    return sparse


def _groups_for(model: Any, methods: Sequence[str]) -> list[Any] | None:
    """The model's channel groups where a method thresholds groups (traced once)."""
    from pose_helpers.compress import regularizers

    return regularizers.channel_groups(model) if "group_lasso" in methods else None


def retained_fractions(
    model: Any, method: str, thresholds: Sequence[float], groups: Sequence[Any] | None = None
) -> dict[str, float]:
    """The retained fraction of ``model`` under every cell of ``method``
    (:func:`thresholded_copy`, :func:`regularizers.sparsity_report`), by
    ``statistic@threshold``; ``groups``: the model's channel groups, traced once by the
    caller (else here)."""
    from pose_helpers.compress import regularizers

    groups = _groups_for(model, [method]) if groups is None else groups
    return {
        _label(spec[1], spec[2]): float(
            regularizers.sparsity_report(thresholded_copy(model, spec, groups))["retained"]
        )
        for spec in cell_specs(method, thresholds)
    }


def largest_change(rows: Sequence[Mapping[str, Any]], reference: Mapping[str, float]) -> float:
    """The largest change of any cell's retained fraction over the last epoch of ``rows``
    (history rows with ``retained``; the first epoch is compared with ``reference``, the
    network it started from). NaN without rows."""
    if not rows:
        return math.nan
    before = rows[-2]["retained"] if len(rows) > 1 else reference
    after = rows[-1]["retained"]
    return max(abs(after[k] - before[k]) for k in after)


def penalty_change(rows: Sequence[Mapping[str, Any]], reference: float) -> float:
    """The relative change of the penalty ``R`` (``lam`` aside) over the last epoch of
    ``rows`` (history rows with ``penalty``, measured at the epoch's end; the first epoch
    is compared with ``reference``, the starting network's). NaN without rows, or for rows
    stored before the penalty was measured."""
    if not rows or "penalty" not in rows[-1]:
        return math.nan
    before = rows[-2].get("penalty", math.nan) if len(rows) > 1 else reference
    return abs(rows[-1]["penalty"] - before) / max(abs(before), 1e-30)


def train_regularized(plan: RegularizedPlan, progress: bool = False) -> dict[str, Any]:
    """Train (or resume, or load) the regularized model of ``plan`` until it converges; the
    baseline is trained first where this machine has none.

    Epoch by epoch, at the learning rate ``plan.lr`` throughout (no schedule: the length is
    not known in advance), until no cell's retained fraction changes by ``plan.tolerance``
    or more over an epoch (:func:`largest_change`) *and* the penalty ``R`` itself changes by
    less than ``plan.tolerance`` of its value (:func:`penalty_change`: without it a run in
    which nothing has crossed a threshold yet would count as converged while its groups
    are still shrinking), or ``plan.max_epochs``. A run with
    ``lam = 0`` (the control) always trains ``max_epochs``: it is as long as the longest
    cell. Each epoch's retained fractions are kept in the checkpoint's history.

    Returns:
        ``model`` (eval mode), ``result`` (:func:`train.fit`'s), ``rows`` (every epoch's
        history row with its ``retained``), ``reference`` (the baseline's retained
        fractions), ``converged``, ``baseline`` (the baseline's training record),
        ``train_data`` and ``val_data``.

    Raises:
        ValueError: when the baseline diverged.
    """
    from pose_helpers.core.io import load_checkpoint
    from pose_helpers.train import loop as train

    net, base = load_baseline(plan.baseline, threads=plan.threads, progress=progress)
    if base["diverged"]:
        raise ValueError(
            f"the baseline {plan.baseline_key} diverged; there is nothing to regularize"
        )
    settings = plan.settings
    train_data, val_data = baseline_datasets(settings)
    groups = _groups_for(net, [plan.method])  # traced once for the whole run
    reference = retained_fractions(net, plan.method, plan.thresholds, groups)
    hooks = _hooks(net, plan, groups)
    measure_penalty = _penalty_of(plan.method, groups)
    start_penalty = measure_penalty(net)
    saved = load_checkpoint(plan.checkpoint, ("history",))  # read once: the hook adds the rest
    rows = list(saved["history"]) if saved else []

    def measure(model: Any, row: dict[str, Any]) -> None:  # saved with the epoch's row
        row["retained"] = retained_fractions(model, plan.method, plan.thresholds, groups)
        row["penalty"] = measure_penalty(model)
        rows.append(row)

    epochs = max(1, len(rows))
    while True:
        config = dataclasses.replace(
            train_config(settings, epochs, plan.lr, plan.seed, plan.threads), milestones=()
        )
        result = train.fit(
            net,
            train_data,
            val_data,
            config,
            checkpoint=plan.checkpoint,
            after_epoch=measure,
            progress=progress,
            **hooks,
        )
        converged = (
            plan.lam > 0
            and largest_change(rows, reference) < plan.tolerance
            and not penalty_change(rows, start_penalty) >= plan.tolerance  # NaN: old rows
        )
        if result.diverged or converged or epochs >= plan.max_epochs:
            break
        epochs += 1
    return {
        "model": net.eval(),
        "result": result,
        "rows": rows,
        "reference": reference,
        "start_penalty": start_penalty,
        "converged": bool(converged or (plan.lam == 0 and not result.diverged)),
        "baseline": base,
        "train_data": train_data,
        "val_data": val_data,
    }


def score_readings(
    model: Any, methods: Sequence[str], thresholds: Sequence[float], val_data: Any, params: int
) -> list[dict[str, Any]]:
    """:func:`scoring.score_cell` of every cell of ``methods`` (:func:`cell_specs`), each
    with its ``statistic``."""
    groups = _groups_for(model, methods)
    return [
        {
            **score_cell(thresholded_copy(model, spec, groups), spec[2], val_data, params),
            "statistic": spec[1],
        }
        for method in methods
        for spec in cell_specs(method, thresholds)
    ]


def regularized_run(
    method: str,
    lam: float,
    *,
    baseline: dict[str, Any],
    max_epochs: int,
    lr: float = 1e-4,
    lambda_factor: float = THESIS_LOSS_SCALE,
    thresholds: Sequence[float] = THESIS_THRESHOLDS,
    tolerance: float = TOLERANCE,
    step: str = "penalty",
    seed: int = 0,
    data_root: str | os.PathLike | None = None,
    threads: int = 1,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Fine-tune the baseline with an L1 or group-lasso penalty until its sparsity converges;
    threshold and score it.

    Training: ``heatmap_loss + lambda_factor * lam * penalty`` (``lam`` in the thesis's
    units; ``lambda_factor`` the transport rule, :mod:`pose_helpers.compress.transport`, as
    measured by the baseline chapter; ``l1_penalty`` over every convolution weight, or
    ``group_lasso_penalty`` over ``channel_groups``: filter groups with their BatchNorm, and
    channel groups), from the baseline's weights, on its training images, with its
    optimizer and batch size at the constant learning rate ``lr``; ``seed`` orders the
    batches. The run stops when its retained fractions have converged
    (:func:`train_regularized`) or at ``max_epochs``. Then every cell is scored
    (:func:`score_readings`): single weights for ``l1``; whole groups for ``group_lasso``,
    by their L2 norm and by their RMS.

    The unit of :func:`sparsity_sweep`, which stores its record; a call resumes or loads
    the checkpoint (no training when it is finished) and scores the cells again.

    Args:
        method: ``'l1'`` (Table 5.4) or ``'group_lasso'`` (Table 5.5).
        lam: the penalty's weight in the thesis's units (``THESIS_LAMBDAS[method]``).
        baseline: ``synthpose_run`` settings on top of :data:`CPU_BASELINE` (as for
            :func:`baseline_run`); the baseline is trained first if this machine has none.
        max_epochs: the most fine-tuning epochs (a control with ``lam = 0`` trains them all).
        lr: the fine-tuning's constant learning rate.
        lambda_factor: our lambda per thesis lambda (the measured transport factor).
        thresholds: the thresholds of the cells (Tables 5.4/5.5: 0.01, 0.001, 0.0001).
        tolerance: convergence: the largest change of a retained fraction over an epoch.
        step: ``'penalty'`` (added to the loss) or ``'proximal'`` (the data loss only, and
            the penalty's prox in Adam's metric after every step: the same objective, exact
            zeros; :mod:`pose_helpers.compress.proximal`).
        seed: seed of the fine-tuning (batch order).
        data_root: data-root override for the renders (else the baseline's).
        threads: torch threads (not part of the key).
        progress: show progress bars.
        checkpoint_dir: folder of the checkpoint; default :func:`checkpoint_folder`.

    Returns:
        A JSON-able dict: ``key``, ``baseline_key``, ``lambda_ours`` (the penalty's
        weight), ``params``, ``history`` (per epoch; ``extra_loss`` is the penalty,
        ``retained`` each cell's retained fraction), ``epochs``, ``converged``,
        ``last_change`` (of the retained fractions over the last epoch),
        ``penalty_change`` (relative, of ``R`` over the last epoch),
        ``pckh_unthresholded`` (mean PCKh before any threshold), ``cells`` (one per reading
        and threshold, of both methods for the control ``lam = 0``: ``statistic``,
        ``threshold``, ``sparsity`` (% zero), ``retained``
        (the thesis's "Sparsity"), ``size_mb`` (``retained x 136.32``), ``nonzero_weights``,
        ``pckh`` (mean) and ``table`` (Head ... Mean)), ``train_seconds``, ``diverged``
        and ``checkpoint`` (its file name in the checkpoint folder). A diverged run (NaN
        loss) is recorded with NaN cells (:func:`scoring.diverged_cells`), not raised.

    Raises:
        ValueError: at once, for an unknown method, a negative ``lam``, a threshold <= 0,
            a non-positive cap, learning rate, factor or tolerance, or an unknown baseline
            setting.
    """
    from pose_helpers.core.store import jsonable

    plan = plan_regularized(
        method,
        lam,
        baseline,
        max_epochs,
        lr,
        seed,
        data_root,
        threads,
        checkpoint_dir,
        lambda_factor=lambda_factor,
        thresholds=thresholds,
        tolerance=tolerance,
        step=step,
    )
    trained = train_regularized(plan, progress)
    result, net = trained["result"], trained["model"]
    params = trained["baseline"]["params"]
    # the control (lam = 0) is one network for both methods: it is scored under every reading
    methods = METHODS if plan.lam == 0 else (plan.method,)
    if result.diverged:
        cells = [
            {**cell, "statistic": stat}
            for method in methods
            for _, stat in CELL_READINGS[method]
            for cell in diverged_cells(plan.thresholds)
        ]
    else:
        cells = score_readings(net, methods, plan.thresholds, trained["val_data"], params)
    rows = trained["rows"]
    return jsonable(
        {
            "key": plan.key,
            "baseline_key": plan.baseline_key,
            "lambda_ours": plan.penalty_weight,
            "params": int(params),
            "history": rows,
            "epochs": len(rows),
            "converged": trained["converged"],
            "last_change": largest_change(rows, trained["reference"]),
            "penalty_change": penalty_change(rows, trained["start_penalty"]),
            "pckh_unthresholded": float(result.table.get("Mean", math.nan)),
            "cells": cells,
            "train_seconds": float(sum(row["seconds"] for row in rows)),
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
