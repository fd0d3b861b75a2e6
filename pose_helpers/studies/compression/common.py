"""What the compression studies share: the thesis's constants, argument checks, the CPU-scale
baseline's settings, data and model, the cache folder of checkpoints, and stored runs.

A *stored run* (:func:`stored_run`) is one record of the run store
(:mod:`pose_helpers.core.store`): computed once, committed under ``book/runs/<study>/``, and
read back by every later call, on any machine, without training. Checkpoints (weights) stay
in the uncommitted cache folder :func:`checkpoint_folder`; a step that needs weights calls a
training function, which resumes from its checkpoint or retrains it.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pose_helpers.compress.regularizers import THESIS_LAMBDAS, THESIS_THRESHOLDS
from pose_helpers.core.paths import REPO_ROOT, cache_dir
from pose_helpers.core.sweep import cached_run
from pose_helpers.train import runs as experiments

__all__ = [
    "read_results",
    "CPU_BASELINE",
    "EVAL_BATCH",
    "FULL_SCALE_INPUT",
    "FULL_SCALE_MODEL",
    "METHODS",
    "TABLE_METHODS",
    "THESIS_ENGINEERED_CELLS",
    "THESIS_LAMBDAS",
    "THESIS_THRESHOLDS",
    "THRESHOLD_MODES",
    "baseline_arguments",
    "baseline_datasets",
    "baseline_key",
    "baseline_settings",
    "check_count",
    "check_lam",
    "check_lr",
    "check_method",
    "check_positive_lam",
    "check_threshold",
    "check_thresholds",
    "checkpoint_folder",
    "create_baseline_model",
    "full_scale_baseline_mb",
    "stored_run",
    "train_config",
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
#: Batch size of every validation pass.
EVAL_BATCH = 64

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


# --------------------------------------------------------------------------- validation


def check_method(method: Any) -> str:
    """``method`` if it is one of :data:`METHODS`, else ``ValueError``."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}; expected one of {METHODS}")
    return method


def check_lam(lam: Any) -> float:
    """``lam`` (the thesis's units) as a float, or ``ValueError`` unless finite and >= 0."""
    from pose_helpers.compress.regularizers import from_thesis_lambda

    try:
        from_thesis_lambda(lam)
    except ValueError as err:
        raise ValueError(
            f"lam={lam!r}; expected a finite number >= 0 in the thesis's units "
            f"(Tables 5.4/5.5: {THESIS_LAMBDAS['l1'][0]:.0e} ... {THESIS_LAMBDAS['group_lasso'][-1]:.0e})"
        ) from err
    return float(lam)


def check_positive_lam(lam: Any) -> float:
    """``lam`` as a float, or ``ValueError`` unless finite and > 0 (Algorithm 1's lambda)."""
    if check_lam(lam) == 0:
        raise ValueError("lam=0; Algorithm 1 needs a positive lambda")
    return float(lam)


def check_threshold(threshold: Any) -> float:
    """``threshold`` as a float, or ``ValueError`` unless a finite number > 0."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.number):
        raise ValueError(f"threshold={threshold!r}; expected a finite number > 0")
    value = float(threshold)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"threshold={threshold!r}; expected a finite number > 0")
    return value


def check_thresholds(thresholds: Any) -> list[float]:
    """``thresholds`` as a list of floats, or ``ValueError`` unless a non-empty list of > 0."""
    if isinstance(thresholds, str) or not isinstance(thresholds, Sequence) or not thresholds:
        raise ValueError(
            f"thresholds={thresholds!r}; expected a non-empty list of numbers > 0, "
            f"e.g. {list(THESIS_THRESHOLDS)}"
        )
    return [check_threshold(t) for t in thresholds]


def check_count(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` (epochs, outers, batches ...) as an int, or ``ValueError`` below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}={value!r}; expected an int >= {minimum}")
    return int(value)


def check_lr(name: str, value: Any) -> float:
    """A learning rate as a float, or ``ValueError`` unless a number > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name}={value!r}; expected a number > 0")
    return float(value)


# --------------------------------------------------------------------------- the baseline


def baseline_settings(
    *,
    width: int,
    deconv_channels: int,
    input_size: int,
    sigma: float,
    difficulty: str,
    n_train: int,
    n_valid: int,
    epochs: int,
    batch_size: int,
    lr: float,
    milestones: Sequence[float],
    seed: int = 0,
    data_root: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """The CPU-scale baseline of the compression chapters from their parameters: the
    ``synthpose_run`` settings put on top of :data:`CPU_BASELINE` (the same dict in every
    chapter, so that they share the baseline's record and checkpoint)."""
    return {
        "model_kwargs": {
            "width": width,
            "deconv_channels": deconv_channels,
            "zero_init_head": True,
        },
        "input_size": input_size,
        "sigma": sigma,
        "difficulty": difficulty,
        "n_train": n_train,
        "n_valid": n_valid,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "milestones": list(milestones),
        "seed": seed,
        "data_root": None if data_root is None else str(data_root),
    }


def baseline_arguments(baseline: Mapping[str, Any]) -> dict[str, Any]:
    """Every ``synthpose_run`` argument of the baseline: :data:`CPU_BASELINE`, then
    ``baseline`` on top (one level: a ``model_kwargs`` given replaces the default's), then
    ``synthpose_run``'s defaults. ``cache_renders`` is always on and is not a setting.

    Raises:
        ValueError: for a setting ``synthpose_run`` does not have (the valid ones are named).
    """
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
    """The key ``synthpose_run`` gives the baseline ``baseline`` (its checkpoint's name),
    without training or loading anything."""
    settings = baseline_arguments(baseline)
    keyed = {k: v for k, v in settings.items() if k not in _EXECUTION}
    keyed["model_kwargs"] = dict(keyed["model_kwargs"] or {})
    keyed["milestones"] = list(keyed["milestones"])
    return experiments.run_key(experiments.run_settings(**keyed))


def create_baseline_model(settings: Mapping[str, Any]):
    """An untrained network of the baseline's architecture (``settings``:
    :func:`baseline_arguments`)."""
    from pose_helpers.models.registry import create_model

    return create_model(settings["model"], **(settings["model_kwargs"] or {}))


def baseline_datasets(settings: Mapping[str, Any]) -> tuple[Any, Any]:
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


def train_config(
    settings: Mapping[str, Any], epochs: int, lr: float, seed: int, threads: int | None
):
    """A :class:`train.TrainConfig` with the baseline's optimizer, batch size and milestones
    (fractions of ``epochs``)."""
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


# --------------------------------------------------------------------------- caches and store


def checkpoint_folder(checkpoint_dir: str | os.PathLike | None = None) -> Path:
    """The folder of the compression runs' checkpoints (weights, Algorithm 1's states):
    ``checkpoint_dir``, default ``paths.cache_dir('compression')`` (never committed).
    Records name their files relative to it."""
    folder = Path(checkpoint_dir) if checkpoint_dir else cache_dir("compression")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def stored_run(
    fn: Callable[..., Mapping[str, Any]],
    study: str,
    *,
    threads: int | None = 1,
    progress: bool = False,
    echo: Sequence[str] = (),
    **settings: Any,
) -> dict[str, Any]:
    """``fn(**settings, threads=threads, progress=progress)`` as one run of ``study`` in the
    run store (:func:`pose_helpers.core.sweep.cached_run`): the stored result when there is
    one, else computed here and stored. ``threads`` and ``progress`` change how the run is
    computed, not what: they are not part of its key. The version is fn's module's
    ``STUDY_VERSION``.

    ``echo`` names settings that fn's result repeats (an engineered record names its
    ``lam`` and ``threshold``): the record keeps them once, in its settings, and the result
    returned holds them again.
    """

    @functools.wraps(fn)  # keeps fn's module: its STUDY_VERSION keys the run
    def call(**point: Any) -> Mapping[str, Any]:
        return {k: v for k, v in fn(**point).items() if k not in echo}

    execution = {"threads": threads, "progress": progress}
    result = cached_run(call, study=study, execution=execution, **settings)
    return {**{k: settings[k] for k in echo}, **result}


def read_results(
    files: Mapping[str, tuple[str, str]],
    results: str | os.PathLike | None = None,
    optional: Sequence[str] = (),
) -> dict[str, Any]:
    """The compression chapters' saved tables, by key.

    Args:
        files: ``{key: (file name, chapter that writes it)}``.
        results: the folder (default ``book/results/compression``; a relative one is taken
            from the repository's root).
        optional: keys whose absent table reads as ``None`` instead of an error.

    Raises:
        FileNotFoundError: naming every missing table and the chapter that writes it.
    """
    import pandas as pd

    folder = REPO_ROOT / (
        results if results is not None else Path("book", "results", "compression")
    )
    missing = [
        f"{name} (run the chapter {chapter})"
        for key, (name, chapter) in files.items()
        if key not in optional and not (folder / name).is_file()
    ]
    if missing:
        raise FileNotFoundError(f"missing in {folder}: {', '.join(missing)}")
    return {
        key: pd.read_csv(folder / name) if (folder / name).is_file() else None
        for key, (name, _) in files.items()
    }
