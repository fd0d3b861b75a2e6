"""The compression chapters' studies (thesis sections 5.2-5.4): baseline, L1, group lasso, surgery.

Thesis ``../shared/seeds/003_d70e0f0fcd80c931.txt``: a Simple Baselines ResNet-50 (Table 5.3:
136.3 MB, 33.9 M parameters, PCKh 87.8) is trained with an L1 (Table 5.4) or a group-lasso
(Table 5.5) penalty for six lambdas, thresholded at 0.01, 0.001 and 0.0001, and the best group
lasso model is engineered (its zero channels removed) and retrained (Table 5.6).

Here, at CPU scale, on SynthPose:

* :func:`baseline_run` trains :data:`CPU_BASELINE` (ResNet-50's block structure at a quarter
  of its width, 64 px inputs) through :func:`experiments.synthpose_run` (cached, resumable).
* :func:`regularized_run` fine-tunes the cached baseline with ``lam * penalty`` added to the
  heatmap loss (``lam`` in the thesis's units, converted by
  :func:`regularizers.from_thesis_lambda`), with the baseline's optimizer, batch size,
  learning-rate schedule (fractions of the epochs) and training images; then, per threshold,
  a thresholded copy is scored on the validation set and measured with
  :func:`regularizers.sparsity_report`. The theoretical size is ``retained x 136.32 MB``, the
  checkpoint of the *full-scale* baseline (:func:`full_scale_baseline_mb`), as in the thesis.
* :func:`engineered_run` group-thresholds a finished regularized run, removes its dead
  channels exactly (:func:`surgery.prune_zero_channels`) and fine-tunes the smaller network
  without a penalty.
* :func:`full_scale_latency` carries the engineered network's per-stage keep ratios to the
  full ResNet-50 at 256 x 256 and times it beside the dense model and a dense model with 70 %
  of its weights zeroed at random (what L1 gives: no faster).

**Caching.** Every run function is a module-level function of JSON-able arguments (so
:func:`sweep.run_sweep` can run it in worker processes) and caches twice under
``paths.cache_dir('compression')`` (or ``checkpoint_dir``): the training checkpoint of
:func:`train.fit` (a re-run resumes; a finished run does not train) and the finished record as
JSON beside it (a re-run returns it at once, without loading data or models). Keys hash
everything that changes the result: the baseline's own key (:func:`baseline_key`, equal to
``synthpose_run``'s), the method, ``lam``, the epochs, learning rate and seed (and, for the
engineered run, the threshold and the fine-tuning settings). Train the baseline first
(:func:`baseline_run` in the notebook): two sweep workers that find no baseline would each
train it.

**The pruned architecture.** The engineered network has other layer widths than the
registry's, so its checkpoint cannot be loaded into ``create_model(...)`` as is.
:func:`load_engineered_model` rebuilds it from the checkpoint alone: it creates the registry
model, replaces every Conv/ConvTranspose/BatchNorm layer whose shape differs from the saved
tensors by one of the saved shape (surgery keeps module names and types), then loads the
state. No pickled module (fragile across code versions) is stored; inside
:func:`engineered_run` the pruned network is re-derived by surgery, which is deterministic.

Defined for the compression chapters (thesis sections 5.2-5.4).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pose_helpers.compress.regularizers import THESIS_LAMBDAS, THESIS_THRESHOLDS
from pose_helpers.core.io import save_torch
from pose_helpers.core.paths import cache_dir
from pose_helpers.data.mpii import PCKH_COLUMNS
from pose_helpers.train import runs as experiments
from pose_helpers.train.runs import plot_learning_curve  # noqa: F401 (re-exported for the chapters)

#: Bump when the code changes what a stored run computes (it keys the run store).
STUDY_VERSION = 1


__all__ = [
    "CPU_BASELINE",
    "FULL_SCALE_INPUT",
    "FULL_SCALE_MODEL",
    "METHODS",
    "TABLE_METHODS",
    "THESIS_ENGINEERED_CELLS",
    "THESIS_LAMBDAS",
    "THESIS_THRESHOLDS",
    "baseline_cells",
    "baseline_key",
    "baseline_run",
    "baseline_table",
    "cells_table",
    "choose_cell",
    "compare_cells",
    "cpu_scale_card",
    "deployment_findings",
    "engineer",
    "engineered_run",
    "engineered_summary",
    "engineered_table",
    "engineering_notes",
    "engineering_targets",
    "full_scale_baseline_mb",
    "full_scale_card",
    "full_scale_latency",
    "full_scale_models",
    "load_engineered_model",
    "load_regularized_model",
    "method_comparison",
    "plot_kept_channels",
    "plot_learning_curve",
    "plot_learning_curves",
    "plot_sparsity_vs_pckh",
    "plot_weight_magnitudes",
    "regularized_run",
    "speed_findings",
    "sweep_findings",
    "sweep_points",
    "table_with_thesis",
    "thesis_table",
]

#: The regularizers of Tables 5.4 and 5.5.
METHODS = ("l1", "group_lasso")
#: Every method of the thesis's sweep tables (Tables 5.4, 5.5 and 5.7).
TABLE_METHODS = (*METHODS, "bayesian")
#: The (lambda, threshold) of the models the thesis engineers (sections 5.4 and 5.5).
THESIS_ENGINEERED_CELLS = {"group_lasso": (3e-9, 0.01), "bayesian": (1e-8, 0.01)}
#: How each method's model is thresholded: single weights (L1) or whole groups (group lasso).
THRESHOLD_MODES = {"l1": "weight", "group_lasso": "group"}
#: The thesis's baseline (Table 5.3) and its input size.
FULL_SCALE_MODEL = "simple_baselines_resnet50"
FULL_SCALE_INPUT = 256

#: Default CPU-scale baseline: ``synthpose_run`` settings (a chapter passes its own on top).
#: ResNet-50's blocks at width 16 (a quarter of the channels), 64-channel deconvolutions,
#: 64 px inputs; Adam 1e-3 divided by 10 at 75 % and 85 % of the epochs (Simple Baselines'
#: optimizer; the thesis prints SGD, see ``seeds/tables/README.md``).
CPU_BASELINE: dict[str, Any] = {
    "model": "simple_baselines_resnet50",
    "model_kwargs": {"width": 16, "deconv_channels": 64, "zero_init_head": True},
    "input_size": 64,
    "sigma": 1.0,
    "difficulty": "easy",
    "n_train": 20000,
    "n_valid": 1000,
    "epochs": 16,
    "batch_size": 32,
    "lr": 1e-3,
    "optimizer": "adam",
    "milestones": [0.75, 0.85],
}

# synthpose_run arguments that do not change the result (not part of its key).
_EXECUTION = ("data_root", "threads", "num_workers", "progress", "checkpoint_dir", "cache_renders")
_CELL_COLUMNS = ["lambda", "threshold", "sparsity", "retained", "pckh", "size_mb"]
_THESIS_TABLES = {
    "baseline": "thesis_table_5_3",
    "l1": "thesis_table_5_4",
    "group_lasso": "thesis_table_5_5",
    "engineered": "thesis_table_5_6",
    "bayesian": "thesis_table_5_7",
    "bayesian_engineered": "thesis_table_5_8",
}
_ENGINEERED_TABLES = {"group_lasso": "engineered", "bayesian": "bayesian_engineered"}
_EVAL_BATCH = 64


# --------------------------------------------------------------------------- validation


def _check_method(method: Any) -> str:
    if method not in METHODS:
        raise ValueError(f"method={method!r}; expected one of {METHODS}")
    return method


def _check_lam(lam: Any) -> float:
    from pose_helpers.compress.regularizers import from_thesis_lambda

    try:
        from_thesis_lambda(lam)
    except ValueError as err:
        raise ValueError(
            f"lam={lam!r}; expected a finite number >= 0 in the thesis's units "
            f"(Tables 5.4/5.5: {THESIS_LAMBDAS['l1'][0]:.0e} ... {THESIS_LAMBDAS['group_lasso'][-1]:.0e})"
        ) from err
    return float(lam)


def _check_threshold(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.number):
        raise ValueError(f"threshold={threshold!r}; expected a finite number > 0")
    value = float(threshold)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"threshold={threshold!r}; expected a finite number > 0")
    return value


def _check_thresholds(thresholds: Any) -> list[float]:
    if isinstance(thresholds, str) or not isinstance(thresholds, Sequence) or not thresholds:
        raise ValueError(
            f"thresholds={thresholds!r}; expected a non-empty list of numbers > 0, "
            f"e.g. {list(THESIS_THRESHOLDS)}"
        )
    return [_check_threshold(t) for t in thresholds]


def _check_epochs(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}={value!r}; expected an int >= {minimum}")
    return int(value)


def _check_lr(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name}={value!r}; expected a number > 0")
    return float(value)


# --------------------------------------------------------------------------- the baseline


def _baseline_settings(baseline: Mapping[str, Any]) -> dict[str, Any]:
    """Every ``synthpose_run`` argument of the baseline: :data:`CPU_BASELINE`, then
    ``baseline`` on top (one level: a ``model_kwargs`` given replaces the default's), then
    ``synthpose_run``'s defaults. ``cache_renders`` is always on and is not a setting."""
    if not isinstance(baseline, Mapping):
        raise ValueError(
            f"baseline must be a dict of synthpose_run settings, got {type(baseline).__name__}"
        )
    signature = inspect.signature(experiments.synthpose_run)
    valid = [p for p in signature.parameters if p != "cache_renders"]
    unknown = sorted(set(baseline) - set(valid))
    if unknown:
        raise ValueError(f"baseline has unknown settings {unknown}; valid: {valid}")
    bound = signature.bind(**{**copy.deepcopy(CPU_BASELINE), **baseline})
    bound.apply_defaults()
    settings = dict(bound.arguments)
    settings.pop("cache_renders")
    return settings


def baseline_key(baseline: Mapping[str, Any]) -> str:
    """The key :func:`baseline_run` gives the baseline ``baseline`` (``synthpose_run``'s), without
    training or loading anything."""
    settings = _baseline_settings(baseline)
    keyed = {k: v for k, v in settings.items() if k not in _EXECUTION}
    keyed["model_kwargs"] = dict(keyed["model_kwargs"] or {})
    keyed["milestones"] = list(keyed["milestones"])
    return experiments.run_key(experiments.run_settings(**keyed))


def baseline_run(**settings: Any) -> dict[str, Any]:
    """Train (or find cached) the CPU-scale baseline: ``synthpose_run(**{**CPU_BASELINE,
    **settings}, cache_renders=True)``.

    Returns:
        ``synthpose_run``'s record with ``seconds`` renamed ``train_seconds`` (a sweep
        overwrites ``seconds`` with the call's wall time).

    Raises:
        ValueError: for a setting ``synthpose_run`` does not have.
    """
    record = experiments.synthpose_run(**_baseline_settings(settings), cache_renders=True)
    record["train_seconds"] = record.pop("seconds")
    return record


@functools.lru_cache(maxsize=1)
def full_scale_baseline_mb() -> float:
    """Checkpoint MB of the thesis's baseline, the full Simple Baselines ResNet-50 (136.32).

    The file size depends on the tensors' shapes alone, so the model is built on the meta
    device and given uninitialized storage: no initialization, a fraction of a second.
    """
    import torch

    from pose_helpers.cost.bench import checkpoint_mb
    from pose_helpers.models.registry import create_model

    with torch.device("meta"):
        net = create_model(FULL_SCALE_MODEL)
    return checkpoint_mb(net.to_empty(device="cpu"))


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

    settings = _baseline_settings(baseline)
    size = settings["input_size"]
    return model_card(_create(settings).eval(), (3, size, size), threads=threads, repeats=repeats)


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
            "input": 256,
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


def baseline_cells(
    baseline: Mapping[str, Any], thresholds: Sequence[float] = THESIS_THRESHOLDS
) -> pd.DataFrame:
    """The control of Tables 5.4/5.5: the *unregularized* baseline, thresholded.

    How much of the sparsity a threshold finds without any penalty: each method's
    thresholding (single weights, or whole groups) applied to the cached baseline.

    Returns:
        :func:`cells_table`'s columns, ``lambda`` = 0.

    Raises:
        ValueError: for bad thresholds or baseline settings.
    """
    thresholds = _check_thresholds(thresholds)
    settings = _baseline_settings(baseline)
    record = baseline_run(**baseline)  # cached: loaded, not trained
    model = experiments.load_run_model(record, settings["model"], settings["model_kwargs"])
    _, val_data = _datasets(settings)
    params = sum(p.numel() for p in model.parameters())
    runs = pd.DataFrame(
        [
            {
                "method": m,
                "lam": 0.0,
                "cells": _cells(model, _thresholding(m), thresholds, val_data, params),
            }
            for m in METHODS
        ]
    )
    return cells_table(runs)


def _datasets(settings: Mapping[str, Any]) -> tuple[Any, Any]:
    """The baseline's training and validation sets (rendered once, served from memory)."""
    from pose_helpers.data.synthpose import SynthPose

    rendering = dict(
        input_size=settings["input_size"],
        sigma=settings["sigma"],
        difficulty=settings["difficulty"],
        data_root=settings["data_root"],
        cache=True,
    )
    train_data = SynthPose("train", n=settings["n_train"], seed=settings["seed"], **rendering)
    val_data = SynthPose("valid", n=settings["n_valid"], seed=0, **rendering)
    return train_data, val_data


def _create(settings: Mapping[str, Any]):
    from pose_helpers.models.registry import create_model

    return create_model(settings["model"], **(settings["model_kwargs"] or {}))


# --------------------------------------------------------------------------- caches


def _folder(checkpoint_dir: str | os.PathLike | None) -> Path:
    folder = Path(checkpoint_dir) if checkpoint_dir else cache_dir("compression")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def _write_json(path: Path, entry: Mapping[str, Any]) -> None:
    """Write JSON to a temporary file beside ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            json.dump(entry, f, indent=1)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _plain(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record as JSON gives it back (tuples become lists): first and cached calls agree."""
    return json.loads(json.dumps(record))


# --------------------------------------------------------------------------- regularized runs


@dataclass(frozen=True)
class _Plan:
    """One regularized run, validated: its settings, key and files."""

    method: str
    lam: float
    baseline: dict[str, Any]  # as given (for baseline_run)
    settings: dict[str, Any]  # every synthpose_run argument of the baseline
    baseline_key: str
    epochs: int
    lr: float
    seed: int
    threads: int | None
    key: str
    checkpoint: Path
    record: Path


def _plan(
    method: Any,
    lam: Any,
    baseline: Mapping[str, Any],
    epochs: Any,
    lr: Any,
    seed: int,
    data_root: str | os.PathLike | None,
    threads: int | None,
    checkpoint_dir: str | os.PathLike | None,
) -> _Plan:
    from pose_helpers.compress.regularizers import THESIS_LOSS_SCALE

    method = _check_method(method)
    lam = _check_lam(lam)
    epochs = _check_epochs("epochs", epochs)
    lr = _check_lr("lr", lr)
    given = dict(baseline) if isinstance(baseline, Mapping) else baseline
    if data_root is not None and isinstance(given, dict):
        given["data_root"] = str(data_root)
    settings = _baseline_settings(given)
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
    folder = _folder(checkpoint_dir)
    return _Plan(
        method=method,
        lam=lam,
        baseline=given,
        settings=settings,
        baseline_key=base_key,
        epochs=epochs,
        lr=lr,
        seed=int(seed),
        threads=None if threads is None else int(threads),
        key=key,
        checkpoint=folder / f"{method}-{key}.pt",
        record=folder / f"{method}-{key}.json",
    )


def _penalty(model: Any, method: str, lam: float):
    """``extra_loss`` of :func:`train.fit`: ``lam`` (ours) times the method's penalty."""
    from pose_helpers.compress import regularizers

    if method == "l1":
        return lambda m: regularizers.l1_penalty(m, lam)
    groups = regularizers.channel_groups(model)  # traced once, not on every step
    return lambda m: regularizers.group_lasso_penalty(m, lam, groups)


def _config(settings: Mapping[str, Any], epochs: int, lr: float, seed: int, threads: int | None):
    from pose_helpers.train.loop import TrainConfig

    return TrainConfig(
        epochs=epochs,
        batch_size=settings["batch_size"],
        lr=lr,
        optimizer=settings["optimizer"],
        milestones=tuple(settings["milestones"]),
        seed=seed,
        threads=threads,
    )


def _train_regularized(plan: _Plan, progress: bool) -> dict[str, Any]:
    """Train (or load) the regularized model of ``plan``; returns the model, fit's result,
    the baseline's record and the data sets."""
    from pose_helpers.compress.regularizers import from_thesis_lambda
    from pose_helpers.train import loop as train

    base = baseline_run(**{**plan.baseline, "threads": plan.threads, "progress": progress})
    if base["diverged"]:
        raise ValueError(
            f"the baseline {plan.baseline_key} diverged; there is nothing to regularize"
        )
    settings = plan.settings
    net = experiments.load_run_model(base, settings["model"], settings["model_kwargs"])
    train_data, val_data = _datasets(settings)
    result = train.fit(
        net,
        train_data,
        val_data,
        _config(settings, plan.epochs, plan.lr, plan.seed, plan.threads),
        checkpoint=plan.checkpoint,
        extra_loss=_penalty(net, plan.method, from_thesis_lambda(plan.lam)),
        progress=progress,
    )
    return {
        "model": net.eval(),
        "result": result,
        "baseline": base,
        "train_data": train_data,
        "val_data": val_data,
    }


def _nan_table() -> dict[str, float]:
    return {c: math.nan for c in PCKH_COLUMNS}


def _cell(sparse: Any, threshold: float, val_data: Any, baseline_params: int) -> dict[str, Any]:
    """One table cell: a thresholded network's sparsity, theoretical size and PCKh."""
    from pose_helpers.compress import regularizers
    from pose_helpers.train import loop as train

    _, table = train.evaluate(sparse, val_data, batch_size=_EVAL_BATCH)
    report = regularizers.sparsity_report(
        sparse, baseline_params, baseline_mb=full_scale_baseline_mb()
    )
    return {
        "threshold": float(threshold),
        "sparsity": float(report["sparsity"]),
        "retained": float(report["retained"]),
        "size_mb": float(report["size_mb"]),
        "nonzero_weights": int(report["nonzero_weights"]),
        "pckh": float(table["Mean"]),
        "table": table,
    }


def _cells(
    model: Any,
    zero: Callable[[Any, float], Any],
    thresholds: Sequence[float],
    val_data: Any,
    baseline_params: int,
) -> list[dict[str, Any]]:
    """Per threshold: a copy of ``model`` with ``zero(copy, threshold)`` applied, scored
    (sparsity, size and PCKh)."""
    cells = []
    for threshold in thresholds:
        sparse = copy.deepcopy(model).eval()
        zero(sparse, threshold)
        cells.append(_cell(sparse, threshold, val_data, baseline_params))
    return cells


def _thresholding(method: str) -> Callable[[Any, float], Any]:
    """How a method's model is zeroed at a threshold: single weights (L1), whole groups."""
    from pose_helpers.compress import regularizers

    return lambda model, threshold: regularizers.threshold_(
        model, threshold, THRESHOLD_MODES[method]
    )


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
    """Fine-tune the cached baseline with an L1 or group-lasso penalty; threshold and score it.

    Training: ``heatmap_loss + from_thesis_lambda(lam) * penalty`` (``l1_penalty`` over every
    convolution weight, or ``group_lasso_penalty`` over ``channel_groups``: filter groups with
    their BatchNorm, and channel groups), starting from the baseline's weights, on its
    training images, with its optimizer, batch size and milestones (fractions of ``epochs``)
    and learning rate ``lr``; ``seed`` orders the batches. Then, for each threshold, a copy is
    thresholded (single weights for ``l1``, whole groups by their L2 norm for
    ``group_lasso``: ``regularizers.threshold_``) and scored on the validation set.

    Args:
        method: ``'l1'`` (Table 5.4) or ``'group_lasso'`` (Table 5.5).
        lam: the penalty's weight in the thesis's units (``THESIS_LAMBDAS[method]``).
        baseline: ``synthpose_run`` settings on top of :data:`CPU_BASELINE` (as for
            :func:`baseline_run`); the baseline is trained first if it is not cached.
        epochs: fine-tuning epochs.
        lr: initial learning rate of the fine-tuning.
        thresholds: the thresholds of the cells (Tables 5.4/5.5: 0.01, 0.001, 0.0001).
        seed: seed of the fine-tuning (batch order).
        data_root: data-root override for the renders (else the baseline's).
        threads: torch threads (not part of the key).
        progress: show progress bars.
        checkpoint_dir: folder of the checkpoint and record; default
            ``paths.cache_dir('compression')``.

    Returns:
        A JSON-able dict: ``key``, ``baseline_key``, ``penalty_weight`` (``lam`` in our
        units), ``params``, ``history`` (per epoch; ``extra_loss`` is the penalty),
        ``pckh_unthresholded`` (mean PCKh before any threshold), ``cells`` (one per
        threshold: ``threshold``, ``sparsity`` (% zero), ``retained`` (the thesis's
        "Sparsity"), ``size_mb`` (``retained x 136.32``), ``nonzero_weights``, ``pckh``
        (mean) and ``table`` (Head ... Mean)), ``train_seconds``, ``diverged`` and
        ``checkpoint``. A diverged run (NaN loss) is recorded with NaN cells, not raised.

    Raises:
        ValueError: at once, for an unknown method, a negative ``lam``, a threshold <= 0,
            non-positive epochs or learning rate, or an unknown baseline setting.
    """
    thresholds = _check_thresholds(thresholds)
    plan = _plan(method, lam, baseline, epochs, lr, seed, data_root, threads, checkpoint_dir)
    cached = _read_json(plan.record)
    if cached is not None and cached.get("thresholds") == thresholds and plan.checkpoint.is_file():
        return cached["record"]

    from pose_helpers.compress.regularizers import from_thesis_lambda

    trained = _train_regularized(plan, progress)
    result, net = trained["result"], trained["model"]
    if result.diverged:
        cells = [
            {
                "threshold": t,
                "sparsity": math.nan,
                "retained": math.nan,
                "size_mb": math.nan,
                "nonzero_weights": math.nan,
                "pckh": math.nan,
                "table": _nan_table(),
            }
            for t in thresholds
        ]
    else:
        params = trained["baseline"]["params"]
        cells = _cells(net, _thresholding(plan.method), thresholds, trained["val_data"], params)
    record = _plain(
        {
            "key": plan.key,
            "baseline_key": plan.baseline_key,
            "penalty_weight": from_thesis_lambda(plan.lam),
            "params": int(trained["baseline"]["params"]),
            "history": result.history.to_dict("records"),
            "pckh_unthresholded": float(result.table.get("Mean", math.nan)),
            "cells": cells,
            "train_seconds": float(result.seconds),
            "diverged": bool(result.diverged),
            "checkpoint": str(plan.checkpoint),
        }
    )
    _write_json(plan.record, {"thresholds": thresholds, "record": record})
    return record


def load_regularized_model(record: Mapping[str, Any], baseline: Mapping[str, Any]):
    """The fine-tuned (unthresholded) model of a :func:`regularized_run` record, in eval mode."""
    import torch

    net = _create(_baseline_settings(baseline))
    state = torch.load(record["checkpoint"], map_location="cpu", weights_only=True)
    net.load_state_dict(state["model"])
    return net.eval()


def sweep_points(lambdas: Mapping[str, Sequence[float]], **settings: Any) -> list[dict[str, Any]]:
    """The points of :func:`regularized_run` for :func:`sweep.run_sweep`: one per (method, lam).

    Args:
        lambdas: ``{method: [lam, ...]}``, e.g. ``THESIS_LAMBDAS``.
        settings: the other arguments (``baseline``, ``epochs``, ``thresholds`` ...), the
            same for every point.

    Raises:
        ValueError: for an unknown method or a bad lambda.
    """
    return [
        {"method": _check_method(method), "lam": _check_lam(lam), **settings}
        for method, lams in lambdas.items()
        for lam in lams
    ]


# --------------------------------------------------------------------------- tables


def cells_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, lambda, threshold) of a sweep of :func:`regularized_run`.

    Args:
        runs: :func:`sweep.run_sweep`'s frame, one row per (``method``, ``lam``) with the
            record's ``cells`` (and ``diverged``). Points that failed (no ``cells``, see the
            sweep's ``error`` column) are left out.

    Returns:
        Columns ``method``, ``lambda``, ``threshold``, ``sparsity`` (% zero), ``retained``,
        ``pckh``, ``size_mb``, ``diverged``; in the thesis's order: methods as they first
        appear, lambda descending, thresholds descending (0.01, 0.001, 0.0001).

    Raises:
        ValueError: when ``method``, ``lam`` or ``cells`` is missing.
    """
    missing = sorted({"method", "lam", "cells"} - set(runs.columns))
    if missing:
        raise ValueError(
            f"runs lacks the columns {missing}: pass run_sweep's frame of regularized_run "
            f"(grid columns 'method' and 'lam')"
        )
    rows = []
    for _, run in runs.iterrows():
        cells = run["cells"]
        if not isinstance(cells, list):
            continue
        diverged = run.get("diverged", False)
        for cell in cells:
            rows.append(
                {
                    "method": run["method"],
                    "lambda": float(run["lam"]),
                    **{c: float(cell[c]) for c in _CELL_COLUMNS if c != "lambda"},
                    "diverged": bool(diverged) if not pd.isna(diverged) else False,
                }
            )
    out = pd.DataFrame(rows, columns=["method", *_CELL_COLUMNS, "diverged"])
    order = {m: i for i, m in enumerate(dict.fromkeys(out["method"]))}
    out["_order"] = out["method"].map(order)
    out = out.sort_values(
        ["_order", "lambda", "threshold"], ascending=[True, False, False], kind="stable"
    )
    return out.drop(columns="_order").reset_index(drop=True)


def thesis_table(name: str) -> pd.DataFrame:
    """A thesis table (``../shared/seeds/tables``) with our column names (reference only).

    Args:
        name: ``'l1'`` (Table 5.4), ``'group_lasso'`` (5.5), ``'baseline'`` (5.3) or
            ``'engineered'`` (5.6).

    Returns:
        For ``'l1'``/``'group_lasso'``: ``method``, ``lambda``, ``threshold``, ``retained``
        (the thesis's "Sparsity": the retained fraction, 0.287 x 136.3 MB = 39.1 MB),
        ``pckh`` and ``size_mb`` (theoretical). For ``'baseline'``/``'engineered'``:
        ``model``, ``params_m``, ``size_mb`` and ``pckh``.

    Raises:
        ValueError: for another name.
    """
    from pose_helpers.chapters.references import seed_table

    if name not in _THESIS_TABLES:
        raise ValueError(f"name={name!r}; expected one of {tuple(_THESIS_TABLES)}")
    raw = seed_table(_THESIS_TABLES[name])
    if name in TABLE_METHODS:
        return pd.DataFrame(
            {
                "method": name,
                "lambda": raw["lambda"].astype(float),
                "threshold": raw["threshold"].astype(float),
                "retained": raw["sparsity_retained_fraction"].astype(float),
                "pckh": raw["pckh_mean"].astype(float),
                "size_mb": raw["size_mb_theoretical"].astype(float),
            }
        )
    return pd.DataFrame(
        {
            "model": raw["model"],
            "params_m": raw["params_m"].astype(float),
            "size_mb": raw["size_mb"].astype(float),
            "pckh": raw["pckh_mean"].astype(float),
        }
    )


def _key_value(value: float) -> float:
    """Lambdas and thresholds that print alike match (6 significant digits)."""
    return float(f"{float(value):.6g}")


def compare_cells(ours: pd.DataFrame, thesis: pd.DataFrame) -> pd.DataFrame:
    """Our cells and the thesis's side by side on (lambda, threshold) (and method if both have it).

    Args:
        ours: :func:`cells_table`'s frame.
        thesis: :func:`thesis_table`'s frame for ``'l1'`` or ``'group_lasso'``.

    Returns:
        An outer join (a cell only one side has gets NaN on the other): the keys, then
        ``retained``, ``pckh`` and ``size_mb`` with the suffixes ``_ours`` and ``_thesis``;
        lambda descending, thresholds descending.
    """
    on = ["lambda", "threshold"]
    if "method" in ours.columns and "method" in thesis.columns:
        on = ["method", *on]
    values = ["retained", "pckh", "size_mb"]
    frames = []
    for frame in (ours, thesis):
        missing = sorted(set(on + values) - set(frame.columns))
        if missing:
            raise ValueError(f"a frame lacks the columns {missing}")
        part = frame[on + values].copy()
        part["lambda"] = part["lambda"].map(_key_value)
        part["threshold"] = part["threshold"].map(_key_value)
        frames.append(part)
    both = frames[0].merge(frames[1], on=on, how="outer", suffixes=("_ours", "_thesis"))
    columns = on + [f"{v}_{side}" for v in values for side in ("ours", "thesis")]
    both = both.sort_values(
        on, ascending=[True] * (len(on) - 2) + [False, False], kind="stable"
    ).reset_index(drop=True)
    return both[columns]


def table_with_thesis(cells: pd.DataFrame, method: str) -> pd.DataFrame:
    """One method's cells (the CSV of Table 5.4 or 5.5) with the thesis's values beside them.

    Args:
        cells: :func:`cells_table`'s frame.
        method: ``'l1'`` or ``'group_lasso'``.

    Returns:
        Ours: ``lambda``, ``threshold``, ``sparsity`` (% zero), ``retained``, ``pckh``,
        ``size_mb``, ``diverged``; the thesis's (reference): ``retained_thesis`` (its
        "Sparsity"), ``pckh_thesis``, ``size_mb_thesis``. A (lambda, threshold) the thesis
        does not have gets NaN there.
    """
    if method not in TABLE_METHODS:
        raise ValueError(f"method={method!r}; expected one of {TABLE_METHODS}")
    ours = cells[cells["method"] == method].drop(columns="method")
    ours = ours.reset_index(drop=True)
    thesis = thesis_table(method).drop(columns="method")
    for frame in (ours, thesis):
        for key in ("lambda", "threshold"):
            frame[key] = frame[key].map(_key_value)
    thesis = thesis.rename(columns={c: f"{c}_thesis" for c in ("retained", "pckh", "size_mb")})
    return ours.merge(thesis, on=["lambda", "threshold"], how="left")


def _spearman(x: pd.Series, y: pd.Series) -> float:
    ok = x.notna() & y.notna()
    if ok.sum() < 3 or x[ok].nunique() < 2 or y[ok].nunique() < 2:
        return math.nan
    return float(x[ok].rank().corr(y[ok].rank()))


def sweep_findings(cells: pd.DataFrame, control: pd.DataFrame) -> str:
    """The sweeps' conclusions as Markdown, every number computed, beside the thesis's tables.

    Per method, over the cells of the thesis's lambdas: how the retained fraction and the PCKh
    move with lambda (Spearman rank correlation, ours and the thesis's), their ranges, and
    what the strongest penalty removes and costs against ``control`` at the largest threshold
    (:func:`cells_table` rows of the same fine-tuning with lambda = 0, or
    :func:`baseline_cells`).
    """
    lines = []
    for method in dict.fromkeys(cells["method"]):
        thesis = thesis_table(method)
        lams = set(thesis["lambda"].map(_key_value))
        ours = cells[(cells["method"] == method) & cells["lambda"].map(_key_value).isin(lams)]
        ref = control[control["method"] == method].set_index("threshold")
        if ours.empty:
            continue
        rho_kept = _spearman(ours["lambda"], ours["retained"])
        rho_pckh = _spearman(ours["lambda"], ours["pckh"])
        t_max = ours["threshold"].max()
        strongest = ours[(ours["lambda"] == ours["lambda"].max()) & (ours["threshold"] == t_max)]
        kept, pckh = float(strongest["retained"].iloc[0]), float(strongest["pckh"].iloc[0])
        line = (
            f"* **{method.replace('_', ' ')}**: a larger λ keeps "
            + ("fewer" if rho_kept < 0 else "no fewer")
            + f" weights (Spearman ρ(λ, retained) = {rho_kept:.2f}; the thesis's "
            f"{_spearman(thesis['lambda'], thesis['retained']):.2f}) and ρ(λ, PCKh) = "
            f"{rho_pckh:.2f} (the thesis's {_spearman(thesis['lambda'], thesis['pckh']):.2f}). "
            f"Our retained fraction spans {ours['retained'].min():.3f}–"
            f"{ours['retained'].max():.3f} (the thesis's {thesis['retained'].min():.3f}–"
            f"{thesis['retained'].max():.3f}), our PCKh {ours['pckh'].min():.1f}–"
            f"{ours['pckh'].max():.1f} %."
        )
        if t_max in ref.index:
            line += (
                f" At λ = {ours['lambda'].max():g} and threshold {t_max:g}, {kept:.3f} of the "
                f"weights remain at {pckh:.1f} % PCKh; the control keeps "
                f"{ref.loc[t_max, 'retained']:.3f} at {ref.loc[t_max, 'pckh']:.1f} %."
            )
        lines.append(line)
    return "\n".join(lines)


# --------------------------------------------------------------------------- engineering


def _example_input(input_size: int, batch: int = 2):
    import torch

    return torch.randn(batch, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))


def _resize_to(model: Any, state: Mapping[str, Any]) -> Any:
    """Replace each Conv/ConvTranspose/BatchNorm layer of ``model`` whose shape differs from
    ``state``'s tensors by a layer of the saved shape, then load ``state`` (strict)."""
    from torch import nn

    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d)
    for name, module in list(model.named_modules()):
        weight = state.get(f"{name}.weight")
        if isinstance(module, convs) and weight is not None:
            if tuple(weight.shape) == tuple(module.weight.shape):
                continue
            groups = module.groups
            if module.transposed:
                cin, cout = weight.shape[0], weight.shape[1] * groups
            else:
                cout, cin = weight.shape[0], weight.shape[1] * groups
            kwargs = dict(
                kernel_size=module.kernel_size,
                stride=module.stride,
                padding=module.padding,
                dilation=module.dilation,
                groups=groups,
                bias=module.bias is not None,
                padding_mode=module.padding_mode,
            )
            if module.transposed:
                kwargs["output_padding"] = module.output_padding
            model.set_submodule(name, type(module)(cin, cout, **kwargs))
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            ref = state.get(f"{name}.running_mean", weight)
            if ref is not None and ref.shape[0] != module.num_features:
                model.set_submodule(
                    name,
                    type(module)(
                        ref.shape[0],
                        eps=module.eps,
                        momentum=module.momentum,
                        affine=module.affine,
                        track_running_stats=module.track_running_stats,
                    ),
                )
    model.load_state_dict(state)
    return model


def load_engineered_model(record: Mapping[str, Any], baseline: Mapping[str, Any]):
    """The engineered (pruned, fine-tuned) model of an :func:`engineered_run` record, in eval
    mode, rebuilt from its checkpoint alone (see the module docstring)."""
    import torch

    net = _create(_baseline_settings(baseline))
    state = torch.load(record["checkpoint"], map_location="cpu", weights_only=True)
    return _resize_to(net, state["model"]).eval()


def _channel_summary(report: pd.DataFrame) -> tuple[dict[str, int], list[dict[str, Any]]]:
    convs = report[report["type"].isin(["Conv2d", "ConvTranspose2d"])]
    summary = {
        "layers": len(convs),
        "layers_pruned": int((convs["out_after"] < convs["out_before"]).sum()),
        "channels_before": int(convs["out_before"].sum()),
        "channels_after": int(convs["out_after"].sum()),
        "params_removed": int(report["params_removed"].sum()),
    }
    layers = [
        {k: (v if isinstance(v, str) else int(v)) for k, v in row.items()}
        for row in convs[
            ["layer", "type", "in_before", "in_after", "out_before", "out_after"]
        ].to_dict("records")
    ]
    return summary, layers


def engineer(
    full: Any,
    sparse: Any,
    train_data: Any,
    val_data: Any,
    config: Any,
    *,
    input_size: int,
    finetune_epochs: int,
    checkpoint: Path,
    progress: bool = False,
) -> dict[str, Any]:
    """Cut the dead channels out of ``sparse`` and fine-tune the smaller network.

    The shared second half of :func:`engineered_run` and the Bayesian chapter's engineering:
    ``sparse`` is ``full`` with whole channel groups zeroed (by a threshold on group norms or
    on Algorithm 1's ``gamma``); :func:`surgery.prune_zero_channels` removes them exactly
    (checked on an ``input_size`` example input), then ``finetune_epochs`` epochs of :func:`train.fit` with
    ``config`` (its ``epochs`` replaced) and the plain heatmap loss; ``0`` only cuts.

    Returns:
        The JSON-able part of the record that does not depend on how ``sparse`` was made:
        ``params``, ``params_full``, ``retained``, ``size_mb``, ``size_mb_full``,
        ``checkpoint_mb``, ``pckh_thresholded``, ``pckh_before``, ``pckh_after``,
        ``table_before``, ``table_after``, ``history``, ``channels``, ``layers``,
        ``keep_ratios``, ``train_seconds``, ``diverged`` and ``checkpoint``.
    """
    from pose_helpers.compress import surgery
    from pose_helpers.cost import bench
    from pose_helpers.train import loop as train

    pruned = surgery.prune_zero_channels(sparse, _example_input(input_size))
    _, table_sparse = train.evaluate(sparse, val_data, batch_size=_EVAL_BATCH)
    _, table_before = train.evaluate(pruned, val_data, batch_size=_EVAL_BATCH)
    summary, layers = _channel_summary(surgery.channel_report(full, pruned))
    ratios = surgery.keep_ratios(full, pruned)
    if finetune_epochs > 0:
        result = train.fit(
            pruned,
            train_data,
            val_data,
            dataclasses.replace(config, epochs=finetune_epochs),
            checkpoint=checkpoint,
            progress=progress,
        )
        history = result.history.to_dict("records")
        table_after = result.table or _nan_table()
        diverged, seconds = result.diverged, result.seconds
    else:
        save_torch({"model": pruned.state_dict()}, checkpoint)
        history, table_after, diverged, seconds = [], table_before, False, 0.0
    pruned.eval()
    params, params_full = bench.count_params(pruned), bench.count_params(full)
    return _plain(
        {
            "params": params,
            "params_full": params_full,
            "retained": params / params_full,
            "size_mb": bench.size_mb(pruned, "fp32"),
            "size_mb_full": bench.size_mb(full, "fp32"),
            "checkpoint_mb": bench.checkpoint_mb(pruned),
            "pckh_thresholded": float(table_sparse["Mean"]),
            "pckh_before": float(table_before["Mean"]),
            "pckh_after": float(table_after.get("Mean", math.nan)),
            "table_before": table_before,
            "table_after": table_after,
            "history": history,
            "channels": summary,
            "layers": layers,
            "keep_ratios": {k: float(v) for k, v in ratios.items()},
            "train_seconds": float(seconds),
            "diverged": bool(diverged),
            "checkpoint": str(checkpoint),
        }
    )


def engineered_run(
    method: str,
    lam: float,
    threshold: float,
    *,
    baseline: dict[str, Any],
    epochs: int,
    finetune_epochs: int,
    lr: float = 1e-4,
    regularized_lr: float = 1e-3,
    seed: int = 0,
    data_root: str | os.PathLike | None = None,
    threads: int = 1,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Engineer a regularized model (thesis section 5.4, Table 5.6): threshold, cut, fine-tune.

    The finished (or, if missing, newly trained) :func:`regularized_run` ``(method, lam,
    epochs, regularized_lr, seed)`` is group-thresholded at ``threshold`` (whole filter and
    channel groups by their L2 norm, also for ``'l1'``: random zeros cannot be removed), its
    dead channels are removed exactly (:func:`surgery.prune_zero_channels`, checked on an
    example input), and the smaller network is fine-tuned for ``finetune_epochs`` with the
    plain heatmap loss (no penalty, no mask), the baseline's optimizer, batch size and
    milestones, and learning rate ``lr``. ``finetune_epochs=0`` only cuts.

    Returns:
        A JSON-able dict: ``key``, ``regularized_key``, ``params`` and ``params_full`` (the
        engineered and the uncut CPU model), ``retained`` (their ratio), ``size_mb`` and
        ``size_mb_full`` (fp32 tensors, :func:`bench.size_mb`), ``checkpoint_mb``,
        ``zeroed`` (values the threshold zeroed), ``pckh_thresholded`` (the thresholded,
        uncut model), ``pckh_before`` (the cut model: equal, the cut is exact),
        ``pckh_after`` (fine-tuned), ``table_before``/``table_after`` (Head ... Mean),
        ``history`` (fine-tuning), ``channels`` (summary of :func:`surgery.channel_report`),
        ``layers`` (channels per convolution), ``keep_ratios`` (:func:`surgery.keep_ratios`,
        for :func:`full_scale_latency`), ``train_seconds``, ``diverged`` and ``checkpoint``
        (the engineered state, for :func:`load_engineered_model`).

    Raises:
        ValueError: at once for bad arguments (as :func:`regularized_run`, and a threshold
            <= 0 or negative ``finetune_epochs``); when the regularized run diverged.
    """
    from pose_helpers.compress import regularizers

    threshold = _check_threshold(threshold)
    finetune_epochs = _check_epochs("finetune_epochs", finetune_epochs, minimum=0)
    lr = _check_lr("lr", lr)
    plan = _plan(
        method, lam, baseline, epochs, regularized_lr, seed, data_root, threads, checkpoint_dir
    )
    key = experiments.run_key(
        {
            "regularized": plan.key,
            "threshold": threshold,
            "finetune_epochs": finetune_epochs,
            "lr": lr,
            "seed": plan.seed,
        }
    )
    folder = plan.checkpoint.parent
    checkpoint = folder / f"engineered-{plan.method}-{key}.pt"
    record_path = folder / f"engineered-{plan.method}-{key}.json"
    cached = _read_json(record_path)
    if cached is not None and checkpoint.is_file():
        return cached["record"]

    trained = _train_regularized(plan, progress)
    if trained["result"].diverged:
        raise ValueError(
            f"the regularized run {plan.method} lam={plan.lam:g} diverged; nothing to engineer"
        )
    full = trained["model"]
    sparse = copy.deepcopy(full).eval()
    zeroed = regularizers.threshold_(sparse, threshold, "group")
    record = engineer(
        full,
        sparse,
        trained["train_data"],
        trained["val_data"],
        _config(plan.settings, max(finetune_epochs, 1), lr, plan.seed, plan.threads),
        input_size=plan.settings["input_size"],
        finetune_epochs=finetune_epochs,
        checkpoint=checkpoint,
        progress=progress,
    )
    record = _plain(
        {
            "key": key,
            "regularized_key": plan.key,
            "method": plan.method,
            "lam": plan.lam,
            "threshold": threshold,
            "zeroed": int(zeroed),
            **record,
        }
    )
    _write_json(record_path, {"record": record})
    return record


def engineered_table(engineered: Mapping[str, Any], baseline: Mapping[str, Any]) -> pd.DataFrame:
    """The CPU-scale counterpart of Tables 5.3 and 5.6: the baseline, the cut model before
    and after fine-tuning (``params_m``, ``size_mb`` (fp32 tensors), ``retained``, ``pckh``).

    Args:
        engineered: an :func:`engineered_run` record.
        baseline: the :func:`baseline_run` record it started from.
    """
    full = (engineered["params_full"] / 1e6, engineered["size_mb_full"], 1.0)
    small = (engineered["params"] / 1e6, engineered["size_mb"], engineered["retained"])
    rows = [
        ("baseline", *full, baseline["table"]["Mean"]),
        ("engineered, before fine-tuning", *small, engineered["pckh_before"]),
        ("engineered and fine-tuned", *small, engineered["pckh_after"]),
    ]
    return pd.DataFrame(rows, columns=["model", "params_m", "size_mb", "retained", "pckh"])


def engineered_summary(
    engineered: Sequence[Mapping[str, Any]],
    baseline: Mapping[str, Any],
    thesis: str = "group_lasso",
) -> pd.DataFrame:
    """Table 5.6 (``thesis='group_lasso'``) or 5.8 (``'bayesian'``) beside Table 5.3, ours and
    the thesis's: one row per model.

    Args:
        engineered: :func:`engineered_run` (or ``bayesian_engineered_run``) records; each
            names its lambda and threshold.
        baseline: the :func:`baseline_run` record they started from.
        thesis: whose engineered model the thesis rows show.

    Returns:
        Columns ``source`` (``ours (CPU scale)`` or ``thesis``), ``model``, ``lambda``,
        ``threshold``, ``params_m``, ``retained`` (parameters kept), ``theoretical_mb``
        (``retained`` x the full-scale 136.32 MB: the size at the thesis's scale) and ``pckh``.
        Our engineered models get two rows, before and after fine-tuning.
    """
    if thesis not in _ENGINEERED_TABLES:
        raise ValueError(f"thesis={thesis!r}; expected one of {tuple(_ENGINEERED_TABLES)}")
    full_mb = full_scale_baseline_mb()
    rows = []
    for record in engineered:
        base = (record["params_full"] / 1e6, 1.0, full_mb, baseline["table"]["Mean"])
        if not rows:
            rows.append(("ours (CPU scale)", "baseline", math.nan, math.nan, *base))
        cell = (record["lam"], record["threshold"], record["params"] / 1e6, record["retained"])
        size = record["retained"] * full_mb
        rows.append(("ours (CPU scale)", "engineered", *cell, size, record["pckh_before"]))
        rows.append(
            ("ours (CPU scale)", "engineered, fine-tuned", *cell, size, record["pckh_after"])
        )
    base = thesis_table("baseline").iloc[0]
    eng = thesis_table(_ENGINEERED_TABLES[thesis]).iloc[0]
    lam, threshold = THESIS_ENGINEERED_CELLS[thesis]
    rows.append(
        (
            "thesis",
            "baseline",
            math.nan,
            math.nan,
            base["params_m"],
            1.0,
            base["size_mb"],
            base["pckh"],
        )
    )
    rows.append(
        (
            "thesis",
            "engineered, fine-tuned",
            lam,
            threshold,
            eng["params_m"],
            eng["params_m"] / base["params_m"],
            eng["size_mb"],
            eng["pckh"],
        )
    )
    columns = [
        "source",
        "model",
        "lambda",
        "threshold",
        "params_m",
        "retained",
        "theoretical_mb",
        "pckh",
    ]
    return pd.DataFrame(rows, columns=columns)


def engineering_targets(
    cells: pd.DataFrame,
    method: str,
    thesis_cell: tuple[float, float],
    baseline_pckh: float,
    max_drop: float,
) -> dict[str, tuple[float, float]]:
    """The cells to engineer, by label: the thesis's cell and the one :func:`choose_cell`
    picks (one entry when they coincide)."""
    thesis_cell = (float(thesis_cell[0]), float(thesis_cell[1]))
    chosen = choose_cell(cells, method, baseline_pckh, max_drop)
    if chosen is None:
        return {"thesis's cell": thesis_cell}
    ours = (float(chosen["lambda"]), float(chosen["threshold"]))
    if (_key_value(ours[0]), _key_value(ours[1])) == tuple(map(_key_value, thesis_cell)):
        return {"thesis's cell, also the sparsest within the drop": thesis_cell}
    return {"thesis's cell": thesis_cell, f"sparsest within {max_drop:g} points": ours}


def engineering_notes(engineered: Mapping[str, Mapping[str, Any]]) -> str:
    """One Markdown line per engineered model: what surgery removed and what it scored."""
    lines = []
    for label, record in engineered.items():
        ch = record["channels"]
        lines.append(
            f"* *{label}* (λ = {record['lam']:g}, threshold {record['threshold']:g}): surgery "
            f"removed {ch['channels_before'] - ch['channels_after']:,} of "
            f"{ch['channels_before']:,} output channels in {ch['layers_pruned']} of "
            f"{ch['layers']} layers ({100 * (1 - record['retained']):.1f} % of the parameters). "
            f"The thresholded network scored {record['pckh_thresholded']:.2f} % and the cut one "
            f"{record['pckh_before']:.2f} % (the cut is exact); {record['pckh_after']:.2f} % "
            "after fine-tuning."
        )
    return "\n".join(lines)


def choose_cell(
    cells: pd.DataFrame, method: str, baseline_pckh: float, max_drop: float
) -> pd.Series | None:
    """The cell with the fewest retained weights whose PCKh is at most ``max_drop`` points
    below the baseline's (the thesis picks "a trade-off between size and PCKh"; this is a
    stated rule for it). ``None`` when no cell qualifies."""
    if isinstance(max_drop, bool) or not isinstance(max_drop, int | float) or max_drop < 0:
        raise ValueError(f"max_drop={max_drop!r}; expected a number of PCKh points >= 0")
    if method not in TABLE_METHODS:
        raise ValueError(f"method={method!r}; expected one of {TABLE_METHODS}")
    ok = cells[
        (cells["method"] == method)
        & (cells["pckh"] >= baseline_pckh - max_drop)
        & ~cells["diverged"].astype(bool)
    ]
    if ok.empty:
        return None
    return ok.sort_values(["retained", "pckh"], ascending=[True, False], kind="stable").iloc[0]


# --------------------------------------------------------------------------- full scale


def _cost_row(
    variant: str, net: Any, shape: tuple[int, int, int], timings: Sequence[Any]
) -> dict[str, Any]:
    from pose_helpers.cost import bench
    from pose_helpers.cost.bench import over_rounds

    timing = over_rounds(list(timings))
    return {
        "variant": variant,
        "params": bench.count_params(net),
        "nonzero_params": int(sum(int((p != 0).sum()) for p in net.parameters())),
        "checkpoint_mb": bench.checkpoint_mb(net),
        "gmacs": bench.macs(net, shape) / 1e9,
        "latency_ms": timing.median_ms,
        "latency_p10_ms": timing.p10_ms,
        "latency_p90_ms": timing.p90_ms,
        "threads": timing.threads,
    }


def full_scale_models(
    keep_ratios: Mapping[str, Mapping[str, float]],
    *,
    model: str = FULL_SCALE_MODEL,
    model_kwargs: Mapping[str, Any] | None = None,
    input_size: int = FULL_SCALE_INPUT,
    seed: int = 0,
) -> dict[str, Any]:
    """The dense full-scale model and, per label, the same model cut to ``keep_ratios``
    (:func:`surgery.apply_keep_ratios`; the weights kept are the dense model's, for cost,
    not accuracy), all in eval mode: ``{"dense": ..., label: ...}``.

    Raises:
        ValueError: for a bad keep ratio or unit, or a label ``"dense"``.
    """
    import torch

    from pose_helpers.compress import surgery
    from pose_helpers.models.registry import create_model

    if "dense" in keep_ratios:
        raise ValueError("'dense' names the uncut model; give the engineered ones other labels")
    torch.manual_seed(seed)
    dense = create_model(model, **dict(model_kwargs or {})).eval()
    example = _example_input(min(input_size, 64), batch=1)
    out = {"dense": dense}
    for label, ratios in keep_ratios.items():
        out[label] = surgery.apply_keep_ratios(dense, dict(ratios), example).eval()
    return out


def full_scale_latency(
    keep_ratios: Mapping[str, float],
    threads: int = 1,
    repeats: int = 10,
    *,
    model: str = FULL_SCALE_MODEL,
    model_kwargs: Mapping[str, Any] | None = None,
    input_size: int = FULL_SCALE_INPUT,
    random_sparsity: float = 0.7,
    warmup: int = 3,
    rounds: int = 3,
    seed: int = 0,
) -> pd.DataFrame:
    """Dense, engineered and randomly sparse versions of one model: size, work and latency.

    Latencies are timed in ``rounds`` passes over all variants in turn, and each is the median
    of its rounds' medians (``deploy.over_rounds``): a slow spell of the machine then hits
    every variant alike instead of one of them.

    * ``dense``: ``create_model(model, **model_kwargs)`` (default: the thesis's ResNet-50
      Simple Baselines at 256 x 256);
    * ``engineered``: :func:`surgery.apply_keep_ratios` with ``keep_ratios`` (an
      :func:`engineered_run`'s), i.e. the CPU-scale pruning carried to this model (the
      weights kept are the dense model's own: for timing, not accuracy); several engineered
      variants are timed when ``keep_ratios`` maps labels to ratios (rows
      ``engineered (label)``);
    * ``random sparsity``: the dense model with ``random_sparsity`` of every convolution's
      weights set to zero at random (what L1 thresholding gives): the same shapes, so the same
      dense kernels and the same time.

    Returns:
        One row per variant: ``variant``, ``params``, ``nonzero_params``, ``retained``
        (nonzero parameters / the dense model's nonzero parameters: a freshly initialized
        model's BatchNorm biases are zero), ``checkpoint_mb``, ``theoretical_mb``
        (``retained`` x the dense checkpoint, the thesis's "theoretical size"), ``gmacs``,
        ``latency_ms`` (median, batch 1), ``latency_p10_ms``, ``latency_p90_ms``,
        ``speedup`` (dense latency / latency), ``threads``, ``input_size``.

    Raises:
        ValueError: for a bad keep ratio or unit (see :func:`surgery.apply_keep_ratios`) or a
            ``random_sparsity`` outside [0, 1).
    """
    from torch import nn

    from pose_helpers.cost.sparsity import random_sparse_

    if isinstance(random_sparsity, bool) or not 0.0 <= float(random_sparsity) < 1.0:
        raise ValueError(f"random_sparsity={random_sparsity!r}; expected a fraction in [0, 1)")
    if keep_ratios and all(isinstance(v, Mapping) for v in keep_ratios.values()):
        variants = {f"engineered ({label})": dict(r) for label, r in keep_ratios.items()}
    else:
        variants = {"engineered": dict(keep_ratios)}
    models = full_scale_models(
        variants, model=model, model_kwargs=model_kwargs, input_size=input_size, seed=seed
    )
    dense = models.pop("dense")
    engineered = list(models.items())
    sparse = copy.deepcopy(dense)
    convs = [m for m in sparse.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    for i, conv in enumerate(convs):
        random_sparse_(conv, float(random_sparsity), seed=seed + i)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds={rounds!r}; expected an int >= 1")
    from pose_helpers.cost.bench import latency

    shape = (3, input_size, input_size)
    nets = [
        ("dense", dense),
        *engineered,
        (f"random sparsity ({100 * random_sparsity:.0f} % of conv weights zero)", sparse),
    ]
    timings: list[list[Any]] = [[] for _ in nets]
    for _ in range(rounds):
        for i, (_, net) in enumerate(nets):
            timings[i].append(latency(net, shape, threads=threads, warmup=warmup, repeats=repeats))
    rows = [_cost_row(name, net, shape, t) for (name, net), t in zip(nets, timings, strict=True)]
    out = pd.DataFrame(rows)
    dense_row = out.iloc[0]
    out.insert(3, "retained", out["nonzero_params"] / dense_row["nonzero_params"])
    out.insert(5, "theoretical_mb", out["retained"] * dense_row["checkpoint_mb"])
    out["speedup"] = dense_row["latency_ms"] / out["latency_ms"]
    out["input_size"] = input_size
    return out


def speed_findings(speed: pd.DataFrame) -> str:
    """What :func:`full_scale_latency` shows, as Markdown beside the thesis's phone (Table 5.9)."""
    dense, random = speed.iloc[0], speed.iloc[-1]
    thesis = _thesis_phone_speedup()
    lines = [
        f"* **{row['variant']}** keeps {row['retained']:.3f} of the weights and "
        f"{row['gmacs'] / dense['gmacs']:.3f} of the multiply-accumulates, and runs "
        f"**{row['speedup']:.2f}× faster** than the dense network on this CPU "
        f"({row['latency_ms']:.0f} ms against {dense['latency_ms']:.0f} ms)."
        for _, row in speed.iloc[1:-1].iterrows()
    ]
    lines.append(
        f"* The thesis's engineered model ran {thesis:.2f}× faster than its baseline on a phone "
        "(Table 5.9)."
    )
    lines.append(
        f"* The **randomly sparse** network has {random['retained']:.3f} of its weights non-zero, "
        f"yet runs at {random['speedup']:.2f}× the dense speed: zeros in dense tensors are "
        "multiplied like any other number, so L1's random sparsity saves space only once stored "
        "in a sparse format, and no time."
    )
    return "\n".join(lines)


def _fewest_within(cells: pd.DataFrame, baseline_pckh: float, drop: float) -> float:
    ok = cells[cells["pckh"] >= baseline_pckh - drop]
    return float(ok["retained"].min()) if len(ok) else math.nan


def method_comparison(
    cells: Mapping[str, pd.DataFrame], baseline_pckh: float, drops: Sequence[float] = (1.0, 3.0)
) -> str:
    """Which method keeps the fewest weights at a given accuracy cost, ours and the thesis's.

    For each PCKh drop (points below each side's own baseline), the smallest retained fraction
    any cell of each method reaches within it, as Markdown.
    """
    thesis_base = float(thesis_table("baseline")["pckh"].iloc[0])
    lines = []
    for drop in drops:
        parts = []
        for method, ours in cells.items():
            mine = _fewest_within(ours, baseline_pckh, drop)
            theirs = (
                _fewest_within(thesis_table(method), thesis_base, drop)
                if method in TABLE_METHODS
                else math.nan
            )
            parts.append(
                f"{method.replace('_', ' ')} {mine:.3f} (thesis {theirs:.3f})"
                if not math.isnan(theirs)
                else f"{method.replace('_', ' ')} {mine:.3f}"
            )
        lines.append(
            f"* Within {drop:g} PCKh point(s) of the baseline, the fewest weights retained: "
            + "; ".join(parts)
            + " (nan: no cell within the drop)."
        )
    return "\n".join(lines)


def deployment_findings(table: pd.DataFrame) -> str:
    """The deployment table's speedups (fp32, per runtime and threads) beside the thesis's."""
    thesis = _thesis_phone_speedup()
    fp32 = table[(table["format"] == "fp32") & (table["model"] != table["model"].iloc[0])]
    lines = []
    for model, part in fp32.groupby("model", sort=False):
        speeds = ", ".join(
            f"{row.runtime} {row.threads} thread(s) {row.speedup:.2f}×"
            for row in part.itertuples()
            if not pd.isna(row.speedup)
        )
        lines.append(f"* **{model}**: {speeds}.")
    lines.append(f"* The thesis's compressed model on its phone: {thesis:.2f}×.")
    return "\n".join(lines)


def _thesis_phone_speedup() -> float:
    """Dense / compressed inference time on the thesis's phone (Table 5.9)."""
    from pose_helpers.chapters.references import seed_table

    raw = seed_table("thesis_table_5_9")
    times = [c for c in raw.columns if "time" in c.lower()]
    if not times:
        raise ValueError(f"thesis_table_5_9 has no time column: {list(raw.columns)}")
    values = raw[times[0]].astype(float)
    return float(values.max() / values.min())


# --------------------------------------------------------------------------- figures


def plot_sparsity_vs_pckh(
    tables: Mapping[str, pd.DataFrame],
    thesis: Mapping[str, pd.DataFrame] | None = None,
    *,
    baseline_pckh: float | None = None,
):
    """Mean PCKh against the retained fraction of the weights: ours beside the thesis's.

    Two panels with a shared x axis (ours on SynthPose at CPU scale; the thesis's on MPII at
    full scale: the PCKh levels differ, the shapes compare), one colour per method, the
    baseline's PCKh as a dotted line (ours from ``baseline_pckh``, the thesis's Table 5.3).

    Args:
        tables: ``{method: cells_table(...)}`` (or one frame with a ``method`` column per key).
        thesis: ``{method: thesis_table(method)}``; ``None`` draws ours alone.
        baseline_pckh: our baseline's mean PCKh.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    def stack(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        parts = [f.assign(method=m) for m, f in frames.items() if len(f)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    panels = [("ours (SynthPose, CPU scale)", stack(tables), baseline_pckh)]
    if thesis:
        base = float(thesis_table("baseline")["pckh"].iloc[0])
        panels.append(("thesis (MPII, full scale)", stack(thesis), base))
    methods = list(dict.fromkeys([*tables, *(thesis or {})]))
    palette = dict(zip(methods, sns.color_palette(n_colors=len(methods)), strict=True))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, (title, data, base) in zip(axes, panels, strict=True):
        if len(data):
            data = data.dropna(subset=["retained", "pckh"])
            sns.scatterplot(
                data=data, x="retained", y="pckh", hue="method", palette=palette, s=45, ax=ax
            )
        if base is not None and not math.isnan(base):
            ax.axhline(base, color="grey", linestyle=":", label="baseline")
        ax.set(
            title=title,
            xlabel="retained fraction of the baseline's weights",
            ylabel="mean PCKh@0.5 (%)",
        )
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_learning_curves(runs: pd.DataFrame):
    """Per method (rows): heatmap loss, penalty and validation PCKh per fine-tuning epoch,
    one line per lambda, from :func:`regularized_run`'s sweep frame."""
    import matplotlib.pyplot as plt

    ok = runs[runs["history"].apply(lambda h: isinstance(h, list) and len(h) > 0)]
    methods = list(dict.fromkeys(ok["method"]))
    fig, axes = plt.subplots(
        max(1, len(methods)), 3, figsize=(12, 3.2 * max(1, len(methods))), squeeze=False
    )
    for row, method in zip(axes, methods, strict=False):
        for _, run in ok[ok["method"] == method].sort_values("lam", ascending=False).iterrows():
            history = pd.DataFrame(run["history"])
            label = f"λ = {run['lam']:.0e}"
            row[0].plot(history["epoch"], history["train_loss"], marker=".", label=label)
            row[1].plot(history["epoch"], history["extra_loss"], marker=".", label=label)
            row[2].plot(history["epoch"], history["val_pckh_mean"], marker=".", label=label)
        row[0].set(title=f"{method}: heatmap loss", xlabel="epoch")
        row[1].set(title=f"{method}: penalty (λ x R)", xlabel="epoch")
        for ax in row[:2]:
            if all(v > 0 for line in ax.get_lines() for v in line.get_ydata()):
                ax.set_yscale("log")
        row[2].set(title=f"{method}: validation", xlabel="epoch", ylabel="mean PCKh@0.5 (%)")
        row[2].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def plot_weight_magnitudes(model: Any, thresholds: Sequence[float] = THESIS_THRESHOLDS):
    """Where the thresholds fall: histograms of the single convolution weights' magnitudes
    (what L1 thresholding compares) and of the channel groups' L2 norms (what group
    thresholding compares), on log axes, with one line per threshold and the share below it."""
    import matplotlib.pyplot as plt
    import torch

    from pose_helpers.compress import regularizers

    thresholds = _check_thresholds(thresholds)
    with torch.no_grad():
        weights = torch.cat(
            [w.detach().abs().flatten() for w in regularizers.conv_weights(model).values()]
        )
        norms = regularizers.group_norms(model).detach()
    panels = [
        ("single weights |w| (L1 thresholding)", weights.numpy()),
        ("group L2 norms (group-lasso thresholding)", norms.numpy()),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, (title, values) in zip(axes, panels, strict=True):
        positive = values[values > 0]
        low = min(min(thresholds) / 10, positive.min()) if positive.size else min(thresholds) / 10
        high = max(positive.max(), max(thresholds) * 10) if positive.size else 1.0
        bins = np.logspace(np.log10(low), np.log10(high), 60)
        ax.hist(positive, bins=bins, color="C0", alpha=0.8)
        for i, t in enumerate(sorted(thresholds, reverse=True)):
            share = 100 * float((values < t).mean())
            ax.axvline(t, color=f"C{i + 1}", linestyle="--", label=f"{t:g}: {share:.1f} % below")
        ax.set(xscale="log", title=title, xlabel="magnitude", ylabel="count")
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_kept_channels(engineered: Mapping[str, Any]):
    """Output channels of every convolution before and after surgery, in network order
    (an :func:`engineered_run` record's ``layers``)."""
    import matplotlib.pyplot as plt

    layers = pd.DataFrame(engineered["layers"])
    x = np.arange(len(layers))
    fig, ax = plt.subplots(figsize=(11, 3.4))
    ax.bar(x, layers["out_before"], color="lightgrey", label="before")
    ax.bar(x, layers["out_after"], color="C0", label="after surgery")
    stages = layers["layer"].str.extract(r"^(?:backbone\.)?(\w+?)\.")[0].fillna(layers["layer"])
    starts = [i for i in range(len(stages)) if i == 0 or stages.iloc[i] != stages.iloc[i - 1]]
    ax.set_xticks(starts, [stages.iloc[i] for i in starts], rotation=45, ha="right", fontsize=8)
    ax.set(ylabel="output channels", yscale="log", xlim=(-1, len(layers)))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
