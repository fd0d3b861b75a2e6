"""Structured Bayesian compression of the CPU-scale baseline (thesis section 5.5, Tables 5.7-5.8).

Algorithm 1 (the reweighted group lasso of :class:`algorithm1.ReweightedGroupLasso`) runs
as *outer* iterations on the trained baseline: each outer trains ``inner_epochs`` with the
reweighted penalty (step 1), estimates the diagonal of the Hessian of the heatmap loss on a
fixed set of training batches (step 2, :func:`algorithm1.ggn_diagonal`), updates ``gamma``
and ``omega`` (step 3) and prunes the groups whose ``gamma`` fell below the smallest
threshold (step 4, held at zero from then on). The thesis runs 20 outers of 100 epochs; the
chapter's ``book`` profile runs a few outers of one epoch.

**Thresholds.** The thesis masks groups with ``gamma`` below the threshold after every outer,
so each threshold would be its own training. Here the smallest threshold masks during
training, and the larger ones are applied to the final ``gamma``: a group below 0.0001 is
below 0.001 and 0.01 too, so the masks nest, and a table costs one training per lambda
instead of three.

**Stored runs and resuming.** A run's record is stored once, by the sweep
(:func:`bayesian_sweep`) or a stored step (:func:`engineer_cells`, :func:`groups_below`).
Every outer writes the network (:func:`train.fit`'s checkpoint) and Algorithm 1's state
(JSON) to the cache folder :func:`checkpoint_folder`; a call of :func:`bayesian_run` skips
the finished outers and resumes an interrupted one.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from pose_helpers.compress.regularizers import THESIS_LOSS_SCALE, THESIS_THRESHOLDS
from pose_helpers.core.io import load_checkpoint, need_checkpoint, read_json, save_torch, write_json
from pose_helpers.core.store import jsonable
from pose_helpers.studies.compression.baseline import load_baseline, sweep
from pose_helpers.studies.compression.common import (
    baseline_arguments,
    baseline_datasets,
    baseline_key,
    check_count,
    check_lr,
    check_positive_lam,
    check_threshold,
    check_thresholds,
    checkpoint_folder,
    create_baseline_model,
    stored_run,
    train_config,
)
from pose_helpers.studies.compression.engineering import choose_cell, engineer
from pose_helpers.studies.compression.engineering import (
    engineering_targets as regularized_targets,
)
from pose_helpers.studies.compression.figures import plot_outers
from pose_helpers.studies.compression.scoring import diverged_cells, score_cell, score_cells
from pose_helpers.studies.compression.sparsity import STEPS
from pose_helpers.studies.compression.tables import key_value
from pose_helpers.train import runs as experiments

#: Bump when the code changes what a stored run computes (it keys the run store).
STUDY_VERSION = 3

__all__ = [
    "BAYESIAN_STUDY",
    "DIAGNOSTIC_STUDY",
    "ENGINEERED_STUDY",
    "GROUPS_STUDY",
    "THESIS_BAYES_LAMBDAS",
    "bayesian_engineered_run",
    "bayesian_run",
    "bayesian_sweep",
    "cells_by_method",
    "engineer_cells",
    "engineering_targets",
    "groups_below",
    "groups_below_table",
    "load_bayesian_model",
    "magnitude_targets",
    "outer_table",
    "plot_outers",
    "sweep_points",
]

#: Table 5.7's lambdas (thesis units).
THESIS_BAYES_LAMBDAS = (5e-8, 1e-8, 1e-9)
#: The run store's studies of this module: the sweep of Table 5.7, the same sweep with layers
#: left out (the chapter's diagnostic), the engineered models and the groups below threshold.
BAYESIAN_STUDY = "compression_bayesian"
DIAGNOSTIC_STUDY = "compression_bayesian_diagnostic"
ENGINEERED_STUDY = "compression_bayesian_engineered"
GROUPS_STUDY = "compression_groups_below"


def _check_factor(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValueError(f"final_lr_factor={value!r}; expected a number in (0, 1]")
    return float(value)


def _key(lam: float, baseline: dict[str, Any], **settings: Any) -> str:
    return experiments.run_key(
        {
            "baseline": baseline_key(baseline),
            "method": "bayesian",
            "lam": lam,
            **settings,
        }
    )


def _change(rows: Sequence[Mapping[str, Any]], gamma: Any) -> float | None:
    """The relative change of the live groups' median ``gamma`` since the last outer (None
    for the first outer, or without a previous median)."""
    previous = rows[-1]["gamma_median"] if rows else None
    if not previous or previous != previous or not len(gamma):
        return None
    return abs(float(gamma.median()) - previous) / abs(previous)


def _settled(rows: Sequence[Mapping[str, Any]], tolerance: float | None) -> bool:
    """Whether the last outer moved the median ``gamma`` by less than ``tolerance``."""
    if tolerance is None or not rows:
        return False
    change = rows[-1].get("gamma_change")
    return change is not None and change < tolerance  # None (the first outer): no


def _hessian_batches(train_data: Any, batch_size: int, count: int, seed: int) -> list[dict]:
    """A fixed set of training batches for step 2 (the same for every outer)."""
    import torch

    loader = torch.utils.data.DataLoader(
        train_data,
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    batches = []
    for batch in loader:
        batches.append({k: v for k, v in batch.items() if k in ("image", "target_weight")})
        if len(batches) == count:
            break
    return batches


def _step_hooks(
    net: Any, state: Any, groups: Any, lam: float, lr: float, step: str, mask: Any
) -> dict[str, Any]:
    """``fit``'s hooks of one outer: the reweighted penalty in the loss, or its proximal
    step (the pruned groups weigh 0 and the mask holds them at zero)."""
    import torch

    from pose_helpers.compress import proximal

    if step == "penalty":
        return {"extra_loss": lambda m: state.penalty(m, lam), "after_step": mask}
    weights = torch.where(state.active, state.omega, torch.zeros_like(state.omega))
    weights = torch.nan_to_num(weights, posinf=0.0)  # an infinite omega marks a pruned group
    prox = proximal.ProximalStep(net, "group_lasso", lam, lr, groups, weights)

    def after_step(model: Any) -> None:
        prox(model)
        if mask is not None:
            mask(model)

    return {"extra_loss": prox.penalty, "after_step": after_step}


def bayesian_run(
    lam: float,
    *,
    baseline: dict[str, Any],
    outers: int,
    inner_epochs: int,
    lr: float = 1e-3,
    final_lr_factor: float = 0.1,
    thresholds: Sequence[float] = THESIS_THRESHOLDS,
    hessian_batches: int = 4,
    hessian_samples: int = 2,
    exclude: Sequence[str] = (),
    form: str = "derived",
    lambda_factor: float = THESIS_LOSS_SCALE,
    mask_threshold: float | None = None,
    gamma_tolerance: float | None = None,
    step: str = "penalty",
    seed: int = 0,
    data_root: str | os.PathLike | None = None,
    threads: int = 1,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Algorithm 1 on the trained CPU-scale baseline for one lambda; thresholded and scored.

    The unit of :func:`bayesian_sweep`, which stores its record. A call resumes after the
    last finished outer (no training when all are finished) and scores the cells again.

    Args:
        lam: lambda in the thesis's units (Table 5.7: 5e-8, 1e-8, 1e-9), > 0.
        baseline: ``synthpose_run`` settings on top of :data:`CPU_BASELINE`.
        outers: outer iterations of Algorithm 1 (the thesis: 20).
        inner_epochs: training epochs per outer (the thesis: 100).
        lr: Adam learning rate of the outers.
        final_lr_factor: the last outer trains at ``lr * final_lr_factor`` (as the other
            sweeps end at a lower rate).
        thresholds: the thresholds on ``gamma`` (the smallest also masks during training).
        hessian_batches: training batches of step 2's Hessian estimate.
        hessian_samples: Gauss-Newton samples per batch (:func:`algorithm1.ggn_diagonal`).
        exclude: convolutions whose groups Algorithm 1 leaves alone (``channel_groups``'s
            ``exclude``); default none, as in the thesis.
        form: step 3's ``C``: ``'printed'`` (the thesis's ``(Γ⁻¹ + diag H)⁻¹``) or
            ``'derived'`` (``(Γ⁻¹ + diag H / λ)⁻¹``), :data:`algorithm1.FORMS`.
        lambda_factor: our lambda per thesis lambda (the transport rule).
        mask_threshold: the threshold on ``gamma`` of step 4 after every outer (groups below
            it are zeroed and stay so while training goes on); default the smallest of
            ``thresholds``.
        gamma_tolerance: with it, ``outers`` is a cap and the run stops once the median
            ``gamma`` of the live groups changes by less than this fraction between outers
            (the last outer then keeps ``lr``: its position is not known in advance);
            without it, exactly ``outers`` outers.
        step: step 1's penalty ``lam sum_g omega_g ||W_g||``: ``'penalty'`` (added to the
            loss) or ``'proximal'`` (its prox in Adam's metric after every step, as the
            group-lasso chapter's runs: :mod:`pose_helpers.compress.proximal`).
        seed: seed of the batch order (outer ``t`` uses ``1000 * seed + t``) and the Hessian.
        data_root: data-root override for the renders.
        threads: torch threads (not part of the key).
        progress: show progress bars.
        checkpoint_dir: folder of the outers' files; default :func:`checkpoint_folder`.

    Returns:
        A JSON-able dict (no key named like an argument, so that :func:`sweep.run_sweep` can
        put it beside its grid): ``key``, ``baseline_key``, ``penalty_weight`` (lambda in our
        units), ``excluded_layers``, ``params``, ``history`` (per epoch, with its ``outer``),
        ``outer_log`` (per outer: live groups, pruned, median ``gamma`` and ``omega``, and
        the median's relative change), ``outers_run``, ``converged`` (the median ``gamma``
        settled within ``gamma_tolerance``; always true without one),
        ``pckh_unthresholded``, ``cells`` (per threshold: ``threshold``, ``sparsity`` (% zero),
        ``retained``, ``size_mb``, ``nonzero_weights``, ``pckh``, ``table``; NaN when the run
        diverged), ``train_seconds``, ``diverged``, ``checkpoint`` and ``state`` (the file
        names of the last outer in the checkpoint folder).

    Raises:
        ValueError: at once, for a lambda <= 0 or any other bad argument.
    """
    from pose_helpers.compress import algorithm1, regularizers
    from pose_helpers.train import loop as train

    lam = check_positive_lam(lam)
    outers = check_count("outers", outers)
    inner_epochs = check_count("inner_epochs", inner_epochs)
    lr = check_lr("lr", lr)
    final_lr_factor = _check_factor(final_lr_factor)
    thresholds = check_thresholds(thresholds)
    hessian_batches = check_count("hessian_batches", hessian_batches)
    hessian_samples = check_count("hessian_samples", hessian_samples)
    if form not in algorithm1.FORMS:
        raise ValueError(f"form={form!r}; expected one of {list(algorithm1.FORMS)}")
    lambda_factor = check_lr("lambda_factor", lambda_factor)
    if gamma_tolerance is not None:
        gamma_tolerance = check_lr("gamma_tolerance", gamma_tolerance)
    if step not in STEPS:
        raise ValueError(f"step={step!r}; expected one of {STEPS}")
    given = dict(baseline)
    if data_root is not None:
        given["data_root"] = str(data_root)
    settings = baseline_arguments(given)
    mask_threshold = min(thresholds) if mask_threshold is None else check_threshold(mask_threshold)
    exclude = sorted({str(name) for name in exclude})
    extra = {"exclude": exclude} if exclude else {}  # the keys of runs without it stay valid
    if gamma_tolerance is not None:
        extra["gamma_tolerance"] = gamma_tolerance
    if step != "penalty":
        extra["step"] = step
    key = _key(
        lam,
        given,
        outers=outers,
        inner_epochs=inner_epochs,
        lr=lr,
        final_lr_factor=final_lr_factor,
        mask_threshold=mask_threshold,
        hessian_batches=hessian_batches,
        hessian_samples=hessian_samples,
        form=form,
        lambda_factor=lambda_factor,
        seed=int(seed),
        **extra,
    )
    folder = checkpoint_folder(checkpoint_dir)

    net, _ = load_baseline(given, threads=threads, progress=progress)
    train_data, val_data = baseline_datasets(settings)
    ours = lambda_factor * lam
    groups = regularizers.channel_groups(net, exclude=exclude)
    state = algorithm1.ReweightedGroupLasso.start(net, groups)
    hessian_data = _hessian_batches(train_data, settings["batch_size"], hessian_batches, seed)
    history: list[dict[str, Any]] = []
    outer_rows: list[dict[str, Any]] = []
    seconds, diverged, converged = 0.0, False, gamma_tolerance is None
    checkpoint = folder / f"bayesian-{key}-outer{outers}.pt"
    state_path = folder / f"bayesian-{key}-outer{outers}.json"
    for t in range(1, outers + 1):
        checkpoint = folder / f"bayesian-{key}-outer{t}.pt"
        state_path = folder / f"bayesian-{key}-outer{t}.json"
        fit_checkpoint = folder / f"bayesian-{key}-outer{t}-fit.pt"
        done = read_json(state_path)
        # a finished outer whose weights do not load is moved aside and trained again
        saved = None if done is None else load_checkpoint(checkpoint, ("model",))
        if saved is not None:
            net.load_state_dict(saved["model"])
            state = algorithm1.ReweightedGroupLasso.from_json(net, done["state"], groups)
            history += done["history"]
            outer_rows.append(done["outer"])
            seconds += done["outer"]["train_seconds"]
            if _settled(outer_rows, gamma_tolerance):
                converged = True
                break
            continue
        mask = regularizers.ZeroMask.capture(net) if not bool(state.active.all()) else None
        last = t == outers and gamma_tolerance is None
        step_lr = lr * (final_lr_factor if last else 1.0)
        current = state  # the penalty reads this outer's omega
        hooks = _step_hooks(net, current, groups, ours, step_lr, step, mask)
        result = train.fit(
            net,
            train_data,
            val_data,
            train_config(settings, inner_epochs, step_lr, 1000 * int(seed) + t, threads),
            checkpoint=fit_checkpoint,
            progress=progress,
            **hooks,
        )
        epochs = [{**row, "outer": t} for row in result.history.to_dict("records")]
        seconds += result.seconds
        if result.diverged:
            history += epochs
            diverged = True
            break
        hessian = algorithm1.ggn_diagonal(
            net, hessian_data, samples=hessian_samples, seed=1000 * int(seed) + t
        )
        state.update(net, hessian, ours, form=form)
        pruned = state.prune(net, mask_threshold)
        live = state.active
        row = {
            "outer": t,
            "groups_live": int(live.sum()),
            "groups_pruned": int(pruned),
            "gamma_median": float(state.gamma[live].median()) if live.any() else math.nan,
            "omega_median": float(state.omega[live].median()) if live.any() else math.nan,
            "gamma_change": _change(outer_rows, state.gamma[live]),
            "val_pckh": float(result.table.get("Mean", math.nan)) if result.table else math.nan,
            "train_seconds": float(result.seconds),
        }
        save_torch({"model": net.state_dict()}, checkpoint)  # after step 4
        write_json(
            state_path, jsonable({"state": state.to_json(), "history": epochs, "outer": row})
        )
        fit_checkpoint.unlink(missing_ok=True)  # the outer is done: its resume point is not needed
        history += epochs
        outer_rows.append(row)
        if _settled(outer_rows, gamma_tolerance):
            converged = True
            break

    params = sum(p.numel() for p in net.parameters())
    net.eval()
    if diverged:
        cells = diverged_cells(thresholds)
        unthresholded = math.nan
    else:
        # each threshold prunes a copy of the state, so the masks of the cells stay apart
        prune = lambda model, t: copy.deepcopy(state).prune(model, t)  # noqa: E731
        cells = score_cells(net, prune, thresholds, val_data, params)
        unthresholded = score_cell(net, mask_threshold, val_data, params)["pckh"]
    return jsonable(
        {
            "key": key,
            "baseline_key": baseline_key(given),
            "penalty_weight": ours,
            "excluded_layers": exclude,
            "outers_run": len(outer_rows),
            "converged": bool(converged and not diverged),
            "lambda_ours": ours,
            "epochs": len(history),
            "params": params,
            "history": history,
            "outer_log": outer_rows,
            "pckh_unthresholded": unthresholded,
            "cells": cells,
            "train_seconds": seconds,
            "diverged": diverged,
            "checkpoint": checkpoint.name,
            "state": state_path.name,
        }
    )


def load_bayesian_model(
    record: Mapping[str, Any],
    baseline: Mapping[str, Any],
    checkpoint_dir: str | os.PathLike | None = None,
):
    """The trained network of a :func:`bayesian_run` record (eval mode) and its Algorithm 1
    state, from this machine's cache folder.

    Raises:
        ValueError: where the network or the state is missing (run :func:`bayesian_run`).
        FileNotFoundError: naming the checkpoint, where it does not load (it is then moved
            aside; :func:`bayesian_run` trains that outer again).
    """
    from pose_helpers.compress import algorithm1, regularizers

    folder = checkpoint_folder(checkpoint_dir)
    saved = read_json(folder / record["state"])
    if saved is None or not (folder / record["checkpoint"]).is_file():
        raise ValueError(
            f"the Algorithm 1 state {folder / record['state']} is missing: re-run bayesian_run"
        )
    net = create_baseline_model(baseline_arguments(baseline))
    state = need_checkpoint(
        folder / record["checkpoint"],
        f"call bayesian_run with the settings of run {record['key']} to train it again",
    )
    net.load_state_dict(state["model"])
    groups = regularizers.channel_groups(net, exclude=record.get("excluded_layers") or ())
    return net.eval(), algorithm1.ReweightedGroupLasso.from_json(net, saved["state"], groups)


def sweep_points(lambdas: Sequence[float], **settings: Any) -> list[dict[str, Any]]:
    """The points of :func:`bayesian_run` for :func:`bayesian_sweep`, one per lambda.

    Raises:
        ValueError: for a lambda that is not a finite number > 0.
    """
    return [{"lam": check_positive_lam(lam), **settings} for lam in lambdas]


def bayesian_sweep(
    points: Sequence[Mapping[str, Any]], *, workers: int = 2, study: str = BAYESIAN_STUDY
) -> pd.DataFrame:
    """:func:`bayesian_run` over ``points`` (:func:`sweep_points`) in ``workers`` processes,
    one stored record per point of ``study`` (:data:`BAYESIAN_STUDY`, or
    :data:`DIAGNOSTIC_STUDY` for the runs that leave layers out); see ``baseline.sweep``."""
    return sweep(bayesian_run, points, study=study, workers=workers)


def bayesian_engineered_run(
    lam: float,
    threshold: float,
    *,
    baseline: dict[str, Any],
    finetune_epochs: int,
    finetune_lr: float = 1e-4,
    seed: int = 0,
    threads: int = 1,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
    **run: Any,
) -> dict[str, Any]:
    """Engineer a Bayesian model (Table 5.8): prune the groups of ``gamma < threshold``, cut
    them out exactly and fine-tune (:func:`engineering.engineer`).

    ``run`` holds the other arguments of the :func:`bayesian_run` it starts from (``outers``,
    ``inner_epochs``, ``lr`` ...); that run is trained (or resumed) first where this machine
    lacks its checkpoints. The fine-tuning uses Adam at ``finetune_lr`` with the baseline's
    batch size and milestones. :func:`engineer_cells` stores the record.

    Returns:
        :func:`engineering.engineer`'s record with ``key``, ``bayesian_key``, ``method``
        (``'bayesian'``), ``lam``, ``threshold`` and ``groups_pruned``.

    Raises:
        ValueError: for bad arguments, or when the Bayesian run diverged.
    """
    threshold = check_threshold(threshold)
    finetune_epochs = check_count("finetune_epochs", finetune_epochs, minimum=0)
    finetune_lr = check_lr("finetune_lr", finetune_lr)
    trained = bayesian_run(
        lam,
        baseline=baseline,
        seed=seed,
        threads=threads,
        progress=progress,
        checkpoint_dir=checkpoint_dir,
        **run,
    )
    if trained["diverged"]:
        raise ValueError(f"the Bayesian run lam={lam:g} diverged; nothing to engineer")
    key = experiments.run_key(
        {
            "bayesian": trained["key"],
            "threshold": threshold,
            "finetune_epochs": finetune_epochs,
            "lr": finetune_lr,
            "seed": int(seed),
        }
    )
    settings = baseline_arguments(baseline)
    full, state = load_bayesian_model(trained, baseline, checkpoint_dir)
    sparse = copy.deepcopy(full).eval()
    pruned_groups = copy.deepcopy(state).prune(sparse, threshold)
    train_data, val_data = baseline_datasets(settings)
    record = engineer(
        full,
        sparse,
        train_data,
        val_data,
        train_config(settings, max(finetune_epochs, 1), finetune_lr, int(seed), threads),
        input_size=settings["input_size"],
        finetune_epochs=finetune_epochs,
        checkpoint=checkpoint_folder(checkpoint_dir) / f"engineered-bayesian-{key}.pt",
        progress=progress,
    )
    return jsonable(
        {
            "key": key,
            "bayesian_key": trained["key"],
            "method": "bayesian",
            "lam": float(lam),
            "threshold": threshold,
            "groups_pruned": int(pruned_groups),
            **record,
        }
    )


def engineering_targets(
    cells: pd.DataFrame,
    diagnostic: pd.DataFrame,
    thesis_cell: tuple[float, float],
    baseline_pckh: float,
    max_drop: float,
    exclude: Sequence[str] = (),
) -> dict[str, tuple[float, float, list[str]]]:
    """The Bayesian cells to engineer, by label: ``(lam, threshold, exclude)`` of the thesis's
    cell and of the sparsest cell within ``max_drop`` (``engineering.engineering_targets``
    on ``cells``), and of the sparsest cell of the ``diagnostic`` sweep (which left the
    layers ``exclude`` out) within the drop, if any."""
    targets = {
        label: (lam, threshold, [])
        for label, (lam, threshold) in regularized_targets(
            cells, "bayesian", thesis_cell, baseline_pckh, max_drop
        ).items()
    }
    chosen = choose_cell(diagnostic, "bayesian", baseline_pckh, max_drop)
    if chosen is not None:
        targets[f"diagnostic, sparsest within {max_drop:g} points"] = (
            float(chosen["lambda"]),
            float(chosen["threshold"]),
            list(exclude),
        )
    return targets


def engineer_cells(
    targets: Mapping[str, tuple[float, float, Sequence[str]]],
    *,
    threads: int | None = 1,
    progress: bool = False,
    **settings: Any,
) -> dict[str, dict[str, Any]]:
    """:func:`bayesian_engineered_run` of every target, by label, each a stored run of
    :data:`ENGINEERED_STUDY` (read back where committed; computed, with ``threads`` and
    ``progress``, and stored where not).

    Args:
        targets: ``{label: (lam, threshold, exclude)}`` (:func:`engineering_targets`).
        settings: the other arguments of :func:`bayesian_engineered_run` and of the
            :func:`bayesian_run` it starts from.
    """
    return {
        label: stored_run(
            bayesian_engineered_run,
            ENGINEERED_STUDY,
            threads=threads,
            progress=progress,
            echo=("lam", "threshold"),
            lam=float(lam),
            threshold=float(threshold),
            exclude=list(exclude),
            **settings,
        )
        for label, (lam, threshold, exclude) in targets.items()
    }


_GROUP_COLUMNS = ["threshold", "layer", "kind", "below", "groups", "values"]


def groups_below_table(state: Any, thresholds: Sequence[float]) -> pd.DataFrame:
    """Which groups a threshold on ``gamma`` prunes, layer by layer, in an Algorithm 1 state.

    Returns:
        One row per (threshold, layer, kind) with any live group below the threshold:
        ``threshold``, ``layer``, ``kind``, ``below`` (groups), ``groups`` (of the layer and
        kind), ``values`` (weights those groups hold); largest ``below`` first per threshold.
    """
    thresholds = check_thresholds(thresholds)
    rows = []
    start = 0
    for family in state.groups:
        stop = start + family.size
        gamma, live = state.gamma[start:stop], state.active[start:stop]
        for t in thresholds:
            below = int((live & (gamma < t)).sum())
            if below:
                rows.append(
                    {
                        "threshold": t,
                        "layer": family.layer,
                        "kind": family.kind,
                        "below": below,
                        "groups": family.size,
                        "values": below * family.numel,
                    }
                )
        start = stop
    out = pd.DataFrame(rows, columns=_GROUP_COLUMNS)
    return out.sort_values(["threshold", "below"], ascending=[False, False]).reset_index(drop=True)


def _groups_below_result(
    lam: float, *, baseline: dict[str, Any], thresholds: Sequence[float], **run: Any
) -> dict[str, Any]:
    record = bayesian_run(lam, baseline=baseline, thresholds=thresholds, **run)
    _, state = load_bayesian_model(record, baseline, run.get("checkpoint_dir"))
    return {"rows": groups_below_table(state, thresholds).to_dict("records")}


def groups_below(
    lam: float,
    *,
    baseline: dict[str, Any],
    thresholds: Sequence[float] = THESIS_THRESHOLDS,
    threads: int | None = 1,
    progress: bool = False,
    **run: Any,
) -> pd.DataFrame:
    """:func:`groups_below_table` of the final state of ``bayesian_run(lam, baseline=...,
    thresholds=..., **run)`` at ``thresholds``: a stored run of :data:`GROUPS_STUDY` (the
    Bayesian run is trained, or resumed, only where the record is missing).

    Raises:
        ValueError: for bad arguments.
    """
    thresholds = check_thresholds(thresholds)
    result = stored_run(
        _groups_below_result,
        GROUPS_STUDY,
        threads=threads,
        progress=progress,
        lam=check_positive_lam(lam),
        baseline=dict(baseline),
        thresholds=thresholds,
        **run,
    )
    return pd.DataFrame(result["rows"], columns=_GROUP_COLUMNS)


def outer_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (lambda, outer) of a sweep of :func:`bayesian_run`: live groups, pruned
    groups, median ``gamma`` and ``omega``, validation PCKh."""
    rows = []
    for _, run in runs.iterrows():
        for outer in run["outer_log"] if isinstance(run.get("outer_log"), list) else []:
            rows.append({"lambda": float(run["lam"]), **outer})
    return pd.DataFrame(rows)


def cells_by_method(
    others: pd.DataFrame,
    bayesian: pd.DataFrame,
    diagnostic: pd.DataFrame,
    statistic: str = "norm",
) -> dict[str, pd.DataFrame]:
    """Figure 5.1's cells by method: the L1 and group-lasso ``cells_table`` (``others``; the
    group-lasso cells of one reading, ``statistic``), the Bayesian cells and, if any, the
    diagnostic's (as the method ``'bayesian, diagnostic'``)."""
    others = others[(others["lambda"] > 0) & others["statistic"].isin(["weight", statistic])]
    cells = {m: part for m, part in others.groupby("method", sort=False)}
    cells["bayesian"] = bayesian
    if len(diagnostic):
        cells["bayesian, diagnostic"] = diagnostic.assign(method="bayesian, diagnostic")
    return cells


def magnitude_targets(
    engineered: Mapping[str, Mapping[str, Any]], runs: pd.DataFrame, finetune_epochs: int
) -> dict[str, tuple[float, int]]:
    """The group-magnitude control of each engineered Bayesian model: ``{label: (retained,
    epochs)}``, the model's retained fraction and as many epochs as it trained (its run's
    epochs, by ``lam``, plus the fine-tuning after the cut)."""
    epochs = {key_value(lam): int(e) for lam, e in runs[["lam", "epochs"]].itertuples(index=False)}
    return {
        label: (
            float(record["retained"]),
            epochs.get(key_value(record["lam"]), 0) + int(finetune_epochs),
        )
        for label, record in engineered.items()
    }
