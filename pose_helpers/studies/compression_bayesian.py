"""Structured Bayesian compression of the CPU-scale baseline (thesis section 5.5, Tables 5.7-5.8).

Algorithm 1 (the reweighted group lasso of :class:`algorithm1.ReweightedGroupLasso`) runs
as *outer* iterations on the cached baseline of :mod:`pose_helpers.studies.compression`: each outer
trains ``inner_epochs`` with the reweighted penalty (step 1), estimates the diagonal of the
Hessian of the heatmap loss on a fixed set of training batches (step 2,
:func:`algorithm1.ggn_diagonal`), updates ``gamma`` and ``omega`` (step 3) and prunes the
groups whose ``gamma`` fell below the smallest threshold (step 4, held at zero from then on).
The thesis runs 20 outers of 100 epochs; the chapter's ``book`` profile runs a few outers of
one epoch.

**Thresholds.** The thesis masks groups with ``gamma`` below the threshold after every outer,
so each threshold would be its own training. Here the smallest threshold masks during
training, and the larger ones are applied to the final ``gamma``: a group below 0.0001 is
below 0.001 and 0.01 too, so the masks nest, and a table costs one training per lambda
instead of three.

**Caching and resuming.** Every outer writes the network (:func:`train.fit`'s checkpoint) and
Algorithm 1's state (JSON) under ``paths.cache_dir('compression')``; a re-run skips finished
outers and resumes an interrupted one, and a finished run returns its record at once.

Defined for the chapter ``notebooks/compression_bayesian.ipynb``.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pose_helpers.compress.regularizers import THESIS_LOSS_SCALE, THESIS_THRESHOLDS
from pose_helpers.core.io import save_torch
from pose_helpers.studies import compression
from pose_helpers.studies.compression import (
    _baseline_settings,
    _cell,
    _cells,
    _check_epochs,
    _check_lam,
    _check_lr,
    _check_thresholds,
    _config,
    _datasets,
    _folder,
    _plain,
    _read_json,
    _write_json,
)
from pose_helpers.train import runs as experiments

#: Bump when the code changes what a stored run computes (it keys the run store).
STUDY_VERSION = 1


__all__ = [
    "THESIS_BAYES_LAMBDAS",
    "bayesian_engineered_run",
    "bayesian_run",
    "groups_below",
    "load_bayesian_model",
    "outer_table",
    "plot_outers",
    "sweep_points",
]

#: Table 5.7's lambdas (thesis units).
THESIS_BAYES_LAMBDAS = (5e-8, 1e-8, 1e-9)


def _check_positive_lam(lam: Any) -> float:
    if _check_lam(lam) == 0:
        raise ValueError("lam=0; Algorithm 1 needs a positive lambda")
    return float(lam)


def _check_count(name: str, value: Any) -> int:
    return _check_epochs(name, value, minimum=1)


def _check_factor(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ValueError(f"final_lr_factor={value!r}; expected a number in (0, 1]")
    return float(value)


def _key(lam: float, baseline: dict[str, Any], **settings: Any) -> str:
    return experiments.run_key(
        {
            "baseline": compression.baseline_key(baseline),
            "method": "bayesian",
            "lam": lam,
            "loss_scale": THESIS_LOSS_SCALE,
            **settings,
        }
    )


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


def _load_weights(net: Any, path: Path) -> None:
    import torch

    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["model"])


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
    seed: int = 0,
    data_root: str | os.PathLike | None = None,
    threads: int = 1,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Algorithm 1 on the cached CPU-scale baseline for one lambda; thresholded and scored.

    Args:
        lam: lambda in the thesis's units (Table 5.7: 5e-8, 1e-8, 1e-9), > 0.
        baseline: ``synthpose_run`` settings on top of :data:`compression.CPU_BASELINE`.
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
        seed: seed of the batch order (outer ``t`` uses ``1000 * seed + t``) and the Hessian.
        data_root: data-root override for the renders.
        threads: torch threads (not part of the key).
        progress: show progress bars.
        checkpoint_dir: folder of the caches; default ``paths.cache_dir('compression')``.

    Returns:
        A JSON-able dict (no key named like an argument, so that :func:`sweep.run_sweep` can
        put it beside its grid): ``key``, ``baseline_key``, ``penalty_weight`` (lambda in our
        units), ``params``, ``history`` (per epoch, with its ``outer``), ``outer_log`` (per outer: live
        groups, pruned, median ``gamma`` and ``omega``), ``pckh_unthresholded``, ``cells`` (per
        threshold: ``threshold``, ``sparsity`` (% zero), ``retained``, ``size_mb``,
        ``nonzero_weights``, ``pckh``, ``table``), ``train_seconds``, ``diverged``,
        ``checkpoint`` and ``state`` (the files of the last outer).

    Raises:
        ValueError: at once, for a lambda <= 0 or any other bad argument.
    """
    from pose_helpers.compress import algorithm1, regularizers
    from pose_helpers.train import loop as train

    lam = _check_positive_lam(lam)
    outers = _check_count("outers", outers)
    inner_epochs = _check_count("inner_epochs", inner_epochs)
    lr = _check_lr("lr", lr)
    final_lr_factor = _check_factor(final_lr_factor)
    thresholds = _check_thresholds(thresholds)
    hessian_batches = _check_count("hessian_batches", hessian_batches)
    hessian_samples = _check_count("hessian_samples", hessian_samples)
    given = dict(baseline)
    if data_root is not None:
        given["data_root"] = str(data_root)
    settings = _baseline_settings(given)
    mask_threshold = min(thresholds)
    exclude = sorted({str(name) for name in exclude})
    extra = {"exclude": exclude} if exclude else {}  # the keys of runs without it stay valid
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
        seed=int(seed),
        **extra,
    )
    folder = _folder(checkpoint_dir)
    record_path = folder / f"bayesian-{key}.json"
    cached = _read_json(record_path)
    if cached is not None and cached.get("thresholds") == thresholds:
        return cached["record"]

    base = compression.baseline_run(**{**given, "threads": threads, "progress": progress})
    net = experiments.load_run_model(base, settings["model"], settings["model_kwargs"])
    train_data, val_data = _datasets(settings)
    ours = regularizers.from_thesis_lambda(lam)
    groups = regularizers.channel_groups(net, exclude=exclude)
    state = algorithm1.ReweightedGroupLasso.start(net, groups)
    hessian_data = _hessian_batches(train_data, settings["batch_size"], hessian_batches, seed)
    history: list[dict[str, Any]] = []
    outer_rows: list[dict[str, Any]] = []
    seconds, diverged = 0.0, False
    checkpoint = folder / f"bayesian-{key}-outer{outers}.pt"
    state_path = folder / f"bayesian-{key}-outer{outers}.json"
    for t in range(1, outers + 1):
        checkpoint = folder / f"bayesian-{key}-outer{t}.pt"
        state_path = folder / f"bayesian-{key}-outer{t}.json"
        fit_checkpoint = folder / f"bayesian-{key}-outer{t}-fit.pt"
        done = _read_json(state_path)
        if done is not None and checkpoint.is_file():
            _load_weights(net, checkpoint)
            state = algorithm1.ReweightedGroupLasso.from_json(net, done["state"], groups)
            history += done["history"]
            outer_rows.append(done["outer"])
            seconds += done["outer"]["train_seconds"]
            continue
        mask = regularizers.ZeroMask.capture(net) if not bool(state.active.all()) else None
        step_lr = lr * (final_lr_factor if t == outers else 1.0)
        current = state  # the penalty reads this outer's omega

        result = train.fit(
            net,
            train_data,
            val_data,
            _config(settings, inner_epochs, step_lr, 1000 * int(seed) + t, threads),
            checkpoint=fit_checkpoint,
            extra_loss=lambda m, s=current: s.penalty(m, ours),
            after_step=mask,
            progress=progress,
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
        state.update(net, hessian, ours)
        pruned = state.prune(net, mask_threshold)
        live = state.active
        row = {
            "outer": t,
            "groups_live": int(live.sum()),
            "groups_pruned": int(pruned),
            "gamma_median": float(state.gamma[live].median()) if live.any() else math.nan,
            "omega_median": float(state.omega[live].median()) if live.any() else math.nan,
            "val_pckh": float(result.table.get("Mean", math.nan)) if result.table else math.nan,
            "train_seconds": float(result.seconds),
        }
        save_torch({"model": net.state_dict()}, checkpoint)  # after step 4
        _write_json(state_path, {"state": state.to_json(), "history": epochs, "outer": row})
        fit_checkpoint.unlink(missing_ok=True)  # the outer is done: its resume point is not needed
        history += epochs
        outer_rows.append(row)

    params = sum(p.numel() for p in net.parameters())
    net.eval()
    if diverged:
        cells = [
            {
                "threshold": t,
                "sparsity": math.nan,
                "retained": math.nan,
                "size_mb": math.nan,
                "nonzero_weights": -1,
                "pckh": math.nan,
                "table": compression._nan_table(),
            }
            for t in thresholds
        ]
        unthresholded = math.nan
    else:
        # each threshold prunes a copy of the state, so the masks of the cells stay apart
        prune = lambda model, t: copy.deepcopy(state).prune(model, t)  # noqa: E731
        cells = _cells(net, prune, thresholds, val_data, params)
        unthresholded = _cell(net, mask_threshold, val_data, params)["pckh"]
    record = _plain(
        {
            "key": key,
            "baseline_key": compression.baseline_key(given),
            "penalty_weight": ours,
            "excluded_layers": exclude,
            "params": params,
            "history": history,
            "outer_log": outer_rows,
            "pckh_unthresholded": unthresholded,
            "cells": cells,
            "train_seconds": seconds,
            "diverged": diverged,
            "checkpoint": str(checkpoint),
            "state": str(state_path),
        }
    )
    _write_json(record_path, {"thresholds": thresholds, "record": record})
    return record


def load_bayesian_model(record: dict[str, Any], baseline: dict[str, Any]):
    """The trained network of a :func:`bayesian_run` record (eval mode) and its Algorithm 1
    state."""
    from pose_helpers.compress import algorithm1, regularizers

    net = compression._create(_baseline_settings(baseline))
    _load_weights(net, Path(record["checkpoint"]))
    saved = _read_json(Path(record["state"]))
    if saved is None:
        raise ValueError(f"the Algorithm 1 state {record['state']} is missing: re-run bayesian_run")
    groups = regularizers.channel_groups(net, exclude=record.get("excluded_layers") or ())
    return net.eval(), algorithm1.ReweightedGroupLasso.from_json(net, saved["state"], groups)


def sweep_points(lambdas: Sequence[float], **settings: Any) -> list[dict[str, Any]]:
    """The points of :func:`bayesian_run` for :func:`sweep.run_sweep`, one per lambda.

    Raises:
        ValueError: for a lambda that is not a finite number > 0.
    """
    return [{"lam": _check_positive_lam(lam), **settings} for lam in lambdas]


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
    them out exactly and fine-tune (:func:`compression.engineer`).

    ``run`` holds the other arguments of the :func:`bayesian_run` it starts from (``outers``,
    ``inner_epochs``, ``lr`` ...); that run is trained first if it is not cached. The
    fine-tuning uses Adam at ``finetune_lr`` with the baseline's batch size and milestones.

    Returns:
        :func:`compression.engineer`'s record with ``key``, ``bayesian_key``, ``method``
        (``'bayesian'``), ``lam``, ``threshold`` and ``groups_pruned``.

    Raises:
        ValueError: for bad arguments, or when the Bayesian run diverged.
    """
    from pose_helpers.studies.compression import _check_threshold

    threshold = _check_threshold(threshold)
    finetune_epochs = _check_epochs("finetune_epochs", finetune_epochs, minimum=0)
    finetune_lr = _check_lr("finetune_lr", finetune_lr)
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
    folder = _folder(checkpoint_dir)
    checkpoint = folder / f"engineered-bayesian-{key}.pt"
    record_path = folder / f"engineered-bayesian-{key}.json"
    cached = _read_json(record_path)
    if cached is not None and checkpoint.is_file():
        return cached["record"]

    settings = _baseline_settings(baseline)
    full, state = load_bayesian_model(trained, baseline)
    sparse = copy.deepcopy(full).eval()
    pruned_groups = copy.deepcopy(state).prune(sparse, threshold)
    train_data, val_data = _datasets(settings)
    record = compression.engineer(
        full,
        sparse,
        train_data,
        val_data,
        _config(settings, max(finetune_epochs, 1), finetune_lr, int(seed), threads),
        input_size=settings["input_size"],
        finetune_epochs=finetune_epochs,
        checkpoint=checkpoint,
        progress=progress,
    )
    record = _plain(
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
    _write_json(record_path, {"record": record})
    return record


def groups_below(
    record: dict[str, Any], baseline: dict[str, Any], thresholds: Sequence[float]
) -> pd.DataFrame:
    """Which groups a threshold on ``gamma`` prunes, layer by layer.

    Returns:
        One row per (threshold, layer, kind) with any live group below the threshold:
        ``threshold``, ``layer``, ``kind``, ``below`` (groups), ``groups`` (of the layer and
        kind), ``values`` (weights those groups hold); largest ``below`` first per threshold.
    """
    thresholds = _check_thresholds(thresholds)
    _, state = load_bayesian_model(record, baseline)
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
    out = pd.DataFrame(rows, columns=["threshold", "layer", "kind", "below", "groups", "values"])
    return out.sort_values(["threshold", "below"], ascending=[False, False]).reset_index(drop=True)


def outer_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (lambda, outer) of a sweep of :func:`bayesian_run`: live groups, pruned
    groups, median ``gamma`` and ``omega``, validation PCKh."""
    rows = []
    for _, run in runs.iterrows():
        for outer in run["outer_log"] if isinstance(run.get("outer_log"), list) else []:
            rows.append({"lambda": float(run["lam"]), **outer})
    return pd.DataFrame(rows)


def plot_outers(outers: pd.DataFrame):
    """Per outer iteration and lambda: live groups, median gamma, validation PCKh."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for lam, part in outers.groupby("lambda", sort=False):
        label = f"λ = {lam:.0e}"
        axes[0].plot(part["outer"], part["groups_live"], marker="o", label=label)
        axes[1].plot(part["outer"], part["gamma_median"], marker="o", label=label)
        axes[2].plot(part["outer"], part["val_pckh"], marker="o", label=label)
    axes[0].set(title="live groups", xlabel="outer iteration")
    axes[1].set(title="median γ of the live groups", xlabel="outer iteration", yscale="log")
    axes[2].set(title="validation PCKh@0.5 (%)", xlabel="outer iteration")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig
