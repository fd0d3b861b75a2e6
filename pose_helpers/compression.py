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
import functools
import inspect
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import experiments
from .experiments import plot_learning_curve  # noqa: F401 (re-exported for the chapters)
from .mpii import PCKH_COLUMNS
from .paths import cache_dir
from .regularizers import THESIS_LAMBDAS, THESIS_THRESHOLDS

__all__ = [
    "CPU_BASELINE",
    "FULL_SCALE_INPUT",
    "FULL_SCALE_MODEL",
    "METHODS",
    "THESIS_LAMBDAS",
    "THESIS_THRESHOLDS",
    "baseline_key",
    "baseline_run",
    "cells_table",
    "compare_cells",
    "engineered_run",
    "engineered_table",
    "full_scale_baseline_mb",
    "full_scale_card",
    "full_scale_latency",
    "load_engineered_model",
    "load_regularized_model",
    "plot_learning_curve",
    "plot_learning_curves",
    "plot_sparsity_vs_pckh",
    "regularized_run",
    "sweep_points",
    "thesis_table",
]

#: The regularizers of Tables 5.4 and 5.5.
METHODS = ("l1", "group_lasso")
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
}
_EVAL_BATCH = 64


# --------------------------------------------------------------------------- validation


def _check_method(method: Any) -> str:
    if method not in METHODS:
        raise ValueError(f"method={method!r}; expected one of {METHODS}")
    return method


def _check_lam(lam: Any) -> float:
    from .regularizers import from_thesis_lambda

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
    return experiments.run_key(experiments._settings(**keyed))


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

    from .bench import checkpoint_mb
    from .registry import create_model

    with torch.device("meta"):
        net = create_model(FULL_SCALE_MODEL)
    return checkpoint_mb(net.to_empty(device="cpu"))


def full_scale_card(threads: int = 1, repeats: int = 10) -> dict[str, Any]:
    """:func:`bench.model_card` of the full-scale baseline at 256 x 256 (``repeats=0``: no timing)."""
    from .bench import model_card
    from .registry import create_model

    net = create_model(FULL_SCALE_MODEL).eval()
    return model_card(
        net, (3, FULL_SCALE_INPUT, FULL_SCALE_INPUT), threads=threads, repeats=repeats
    )


def _datasets(settings: Mapping[str, Any]) -> tuple[Any, Any]:
    """The baseline's training and validation sets (rendered once, served from memory)."""
    from .synthpose import SynthPose

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
    from .registry import create_model

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
    from .regularizers import THESIS_LOSS_SCALE

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
    from . import regularizers

    if method == "l1":
        return lambda m: regularizers.l1_penalty(m, lam)
    groups = regularizers.channel_groups(model)  # traced once, not on every step
    return lambda m: regularizers.group_lasso_penalty(m, lam, groups)


def _config(settings: Mapping[str, Any], epochs: int, lr: float, seed: int, threads: int | None):
    from .train import TrainConfig

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
    from . import train
    from .regularizers import from_thesis_lambda

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


def _cells(
    model: Any, method: str, thresholds: Sequence[float], val_data: Any, baseline_params: int
) -> list[dict[str, Any]]:
    """Threshold a copy of ``model`` at each threshold: sparsity, size and PCKh."""
    from . import regularizers, train

    base_mb = full_scale_baseline_mb()
    cells = []
    for threshold in thresholds:
        sparse = copy.deepcopy(model).eval()
        regularizers.threshold_(sparse, threshold, THRESHOLD_MODES[method])
        _, table = train.evaluate(sparse, val_data, batch_size=_EVAL_BATCH)
        report = regularizers.sparsity_report(sparse, baseline_params, baseline_mb=base_mb)
        cells.append(
            {
                "threshold": float(threshold),
                "sparsity": float(report["sparsity"]),
                "retained": float(report["retained"]),
                "size_mb": float(report["size_mb"]),
                "nonzero_weights": int(report["nonzero_weights"]),
                "pckh": float(table["Mean"]),
                "table": table,
            }
        )
    return cells


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

    from .regularizers import from_thesis_lambda

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
        cells = _cells(net, plan.method, thresholds, trained["val_data"], params)
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
    from .notebook import seed_table

    if name not in _THESIS_TABLES:
        raise ValueError(f"name={name!r}; expected one of {tuple(_THESIS_TABLES)}")
    raw = seed_table(_THESIS_TABLES[name])
    if name in METHODS:
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
    from . import bench, regularizers, surgery, train

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
    pruned = surgery.prune_zero_channels(sparse, _example_input(plan.settings["input_size"]))
    val_data = trained["val_data"]
    _, table_sparse = train.evaluate(sparse, val_data, batch_size=_EVAL_BATCH)
    _, table_before = train.evaluate(pruned, val_data, batch_size=_EVAL_BATCH)
    summary, layers = _channel_summary(surgery.channel_report(full, pruned))
    ratios = surgery.keep_ratios(full, pruned)

    if finetune_epochs > 0:
        result = train.fit(
            pruned,
            trained["train_data"],
            val_data,
            _config(plan.settings, finetune_epochs, lr, plan.seed, plan.threads),
            checkpoint=checkpoint,
            progress=progress,
        )
        history = result.history.to_dict("records")
        table_after = result.table or _nan_table()
        diverged, seconds = result.diverged, result.seconds
    else:
        train.save_atomic({"model": pruned.state_dict()}, checkpoint)
        history, table_after, diverged, seconds = [], table_before, False, 0.0
    pruned.eval()
    params, params_full = bench.count_params(pruned), bench.count_params(full)
    record = _plain(
        {
            "key": key,
            "regularized_key": plan.key,
            "params": params,
            "params_full": params_full,
            "retained": params / params_full,
            "size_mb": bench.size_mb(pruned, "fp32"),
            "size_mb_full": bench.size_mb(full, "fp32"),
            "checkpoint_mb": bench.checkpoint_mb(pruned),
            "zeroed": int(zeroed),
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


# --------------------------------------------------------------------------- full scale


def _cost_row(
    variant: str, net: Any, shape: tuple[int, int, int], threads: int, repeats: int, warmup: int
) -> dict[str, Any]:
    from . import bench

    timing = bench.latency(net, shape, threads=threads, warmup=warmup, repeats=repeats)
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
    seed: int = 0,
) -> pd.DataFrame:
    """Dense, engineered and randomly sparse versions of one model: size, work and latency.

    * ``dense``: ``create_model(model, **model_kwargs)`` (default: the thesis's ResNet-50
      Simple Baselines at 256 x 256);
    * ``engineered``: :func:`surgery.apply_keep_ratios` with ``keep_ratios`` (an
      :func:`engineered_run`'s), i.e. the CPU-scale pruning carried to this model (the
      weights kept are the dense model's own: for timing, not accuracy);
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
    import torch
    from torch import nn

    from . import surgery
    from .registry import create_model
    from .sparsity_timing import random_sparse_

    if isinstance(random_sparsity, bool) or not 0.0 <= float(random_sparsity) < 1.0:
        raise ValueError(f"random_sparsity={random_sparsity!r}; expected a fraction in [0, 1)")
    torch.manual_seed(seed)
    dense = create_model(model, **dict(model_kwargs or {})).eval()
    example = _example_input(min(input_size, 64), batch=1)
    engineered = surgery.apply_keep_ratios(dense, dict(keep_ratios), example).eval()
    sparse = copy.deepcopy(dense)
    convs = [m for m in sparse.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    for i, conv in enumerate(convs):
        random_sparse_(conv, float(random_sparsity), seed=seed + i)
    shape = (3, input_size, input_size)
    rows = [
        _cost_row(name, net, shape, threads, repeats, warmup)
        for name, net in (
            ("dense", dense),
            ("engineered", engineered),
            (f"random sparsity ({100 * random_sparsity:.0f} % of conv weights zero)", sparse),
        )
    ]
    out = pd.DataFrame(rows)
    dense_row = out.iloc[0]
    out.insert(3, "retained", out["nonzero_params"] / dense_row["nonzero_params"])
    out.insert(5, "theoretical_mb", out["retained"] * dense_row["checkpoint_mb"])
    out["speedup"] = dense_row["latency_ms"] / out["latency_ms"]
    out["input_size"] = input_size
    return out


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
