"""The mmWave study's training runs: configurations, data sets, :func:`radar_run` and the
mean-pose floor.

Training (:func:`radar_run`): Adam (lr 1e-3, PyTorch's default betas for every model),
MSE on the 57 coordinates after **normalising the labels**: minus the training split's
mean pose (per coordinate), divided by one common scale (the standard deviation of all
centred coordinates), so the loss weighs x, y and z errors alike in metres. The model
holds the mean and scale as buffers and outputs metres (``models.mmwave``). Every frame
of the training split (or a fixed random subset of ``n_train`` frames, the same for every
seed and configuration) is a target, its window padded at the sequence start
(``mars.window_indices``). After each epoch the validation MAE (a fixed subset of
``n_valid`` frames) is recorded and a checkpoint is written atomically under
``paths.cache_dir('mmwave')``, named by a hash of the settings: an interrupted run
resumes, a finished run returns its record at once, and a checkpoint that does not load is
moved aside (``<name>.corrupt``, with a warning) and the run trained again. A NaN or infinite loss stops the run
and marks it ``diverged`` (no exception, so a sweep goes on). Validation chooses the epoch:
the weights of the best validation epoch are kept, and with ``patience`` the run stops once
that many epochs in a row did not improve on it (early stopping; ``epochs`` is the cap). The
test split is scored once, at the end, with those weights, and not at all with
``score_test=False`` (the selection runs of :mod:`.radar_selection`). The simulated data set (:mod:`radarsim`) always uses data seed 0, so
seeds differ only in initialisation and batch order.

The run store (:mod:`pose_helpers.core.store`, through ``run_sweep``) holds the one record
of each run; the checkpoint in the cache holds the weights, the optimizer and the history
(and, once finished, the record it returned, so that a direct call returns at once).

Measured on the project's 2-core CPU with one thread (while another job ran): the
baseline's training epoch over the full MARS training split (14,365 windows of 4 frames,
batch 64, with the 1,000-frame validation) took 10-16 s; one epoch of all 13
configurations takes about 9.5 baseline epochs (``2000_feat`` 2.3, ``impr_small`` 0.2).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pose_helpers.core.paths import cache_dir, dataset_dir
from pose_helpers.core.repro import torch_threads
from pose_helpers.models.mmwave import CONFIGS, DEFAULT_CELL, DEFAULT_WINDOW

__all__ = [
    "CONFIG_NAMES",
    "DATASETS",
    "REFERENCE",
    "STUDY_VERSION",
    "TEST_METRICS",
    "available_datasets",
    "load_dataset",
    "mean_pose_floor",
    "mean_pose_floors",
    "model_name",
    "radar_run",
    "run_key",
    "study_configs",
]

#: The poster's 13 configurations, in the poster's order.
CONFIG_NAMES = tuple(CONFIGS)
#: The MARS paper's single-frame CNN, a reference row.
REFERENCE = "mars_cnn"
DATASETS = ("mars", "sim")
#: Bump when the data, the model code or the loop change what a cached run would contain.
STUDY_VERSION = 2
SIM_DATA_SEED = 0


# --------------------------------------------------------------------------- names and data


def model_name(config: str) -> str:
    """Registry name of a configuration: ``'baseline'`` -> ``'mmwave_baseline'``.

    Raises:
        ValueError: for a name that is neither a configuration nor ``'mars_cnn'``.
    """
    short = config.removeprefix("mmwave_")
    if short not in CONFIGS and short != REFERENCE:
        raise ValueError(f"config={config!r}; expected one of {list(CONFIG_NAMES) + [REFERENCE]}")
    return f"mmwave_{short}"


def study_configs(configs: Sequence[str], reference: bool = True) -> list[str]:
    """The configurations a chapter runs: ``configs`` as given, then the MARS CNN if ``reference``.

    Every name is checked at once (:func:`model_name`), so a typo fails before anything runs.

    Raises:
        ValueError: for a name that is neither a configuration nor ``'mars_cnn'``.
    """
    chosen = [*configs, *([REFERENCE] if reference else [])]
    for config in chosen:
        model_name(config)
    return chosen


def available_datasets(data_root: str | os.PathLike | None = None) -> list[str]:
    """``['mars', 'sim']`` where the real MARS data is present, else ``['sim']``."""
    folder = dataset_dir("mars", data_root)
    return ["mars", "sim"] if folder is not None and (folder / "feature").is_dir() else ["sim"]


@functools.lru_cache(maxsize=8)
def _cached_split(dataset: str, split: str, root: str | None) -> tuple[np.ndarray, ...]:
    # A sweep worker runs many points: load (or simulate) each split once per process.
    if dataset == "mars":
        from pose_helpers.data.mars import load_split

        features, labels, index = load_split(split, root)
    else:
        from pose_helpers.data.radarsim import simulate

        features, labels, index = simulate(split, seed=SIM_DATA_SEED)
    arrays = (features, labels, index[["subject", "movement", "frame"]].to_numpy())
    for array in arrays:
        array.setflags(write=False)  # shared by every caller of the cache
    return arrays


def load_dataset(
    dataset: str, split: str, data_root: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """One split of ``'mars'`` (real data) or ``'sim'`` (:func:`radarsim.simulate`, seed 0).

    Returns read-only ``features``, ``labels`` and a fresh ``index`` DataFrame.

    Raises:
        ValueError: for an unknown data set or split.
        FileNotFoundError: for ``'mars'`` without the real data.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset={dataset!r}; expected one of {DATASETS}")
    root = None if data_root in (None, "") else str(data_root)
    features, labels, index = _cached_split(dataset, split, root)
    return features, labels, pd.DataFrame(index, columns=["subject", "movement", "frame"])


def _subset(n: int, k: int | None, *, spread: bool = False) -> np.ndarray:
    """``k`` of ``n`` row numbers, the same for every run: random (seed 0) or evenly spread."""
    if k is None or k >= n:
        return np.arange(n)
    if k < 1:
        raise ValueError(f"subset size {k!r}; expected >= 1 or None")
    if spread:
        return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))
    return np.sort(np.random.default_rng(0).choice(n, size=k, replace=False))


# --------------------------------------------------------------------------- training


def run_key(settings: dict[str, Any]) -> str:
    """A short hash of a run's settings (the checkpoint's name)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _predict(net: Any, features: Any, rows: Any, batch_size: int = 512) -> np.ndarray:
    """Predictions (metres) for the windows ``rows`` (row numbers into ``features``)."""
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            out.append(net(features[rows[start : start + batch_size]]))
    return torch.cat(out).numpy().astype(np.float64)


def _train_epoch(
    net: Any,
    optimizer: Any,
    features: Any,
    rows: Any,
    targets: Any,
    batch_size: int,
    generator: Any,
) -> float:
    """One pass over the training windows in a seeded order; the mean normalised MSE.

    Returns NaN as soon as a batch's loss is not finite (the caller marks divergence).
    """
    import torch

    net.train()
    order = torch.randperm(len(rows), generator=generator)
    scale = net.output_scale.label_scale
    total, count = 0.0, 0
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        if len(batch) < 2:  # BatchNorm needs two samples
            continue
        pred = net(features[rows[batch]])
        loss = torch.nn.functional.mse_loss(pred / scale, targets[batch] / scale)
        if not torch.isfinite(loss):
            return math.nan
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
        count += len(batch)
    return total / max(count, 1)


def radar_run(
    config: str,
    dataset: str = "sim",
    seed: int = 0,
    window: int = DEFAULT_WINDOW,
    epochs: int = 4,
    patience: int | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    n_train: int | None = None,
    n_valid: int | None = 1000,
    n_test: int | None = None,
    score_test: bool = True,
    data_root: str | os.PathLike | None = None,
    threads: int | None = 1,
    progress: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
    teacher: str | None = None,
    alpha: float = 0.5,
) -> dict[str, Any]:
    """Train one configuration on one data set, stop on the validation split, score on test.

    Validation chooses, test reports: after each epoch the validation MAE is recorded; the
    weights of the best validation epoch are kept, and training stops once ``patience``
    epochs in a row did not improve on it (or at ``epochs``, the cap). The test split is
    read once, at the end, with the best validation epoch's weights, and only if
    ``score_test`` (a selection run passes ``False`` and never reads it).

    Args:
        config: a configuration (``'baseline'``, ``'0125_feat'`` ... or ``'mars_cnn'``;
            the ``mmwave_`` prefix is optional).
        dataset: ``'mars'`` (real data; :func:`available_datasets`) or ``'sim'``.
        seed: initialisation and batch order.
        window: frames per input window ``T`` (the MARS CNN uses the last one only).
        epochs: the most passes over the training windows (the cap).
        patience: stop after this many epochs without a better validation MAE; ``None``:
            train all ``epochs``.
        batch_size: windows per optimizer step.
        lr: Adam's learning rate.
        n_train: training frames (a fixed random subset); ``None``: all.
        n_valid: validation frames scored after each epoch (evenly spread); ``None``: all.
        n_test: test frames scored at the end (evenly spread); ``None``: all (the book's
            setting; a subset only to make smoke runs fast).
        score_test: score the test split at the end; ``False`` leaves the test metrics NaN
            and never loads the test split. Not part of the checkpoint's key.
        data_root: where the real data is (``None``: ``$POSE_HELPERS_DATA``, else
            ``../shared/data``); not part of the cache key.
        threads: torch CPU threads (restored afterwards); not part of the key.
        progress: a progress bar over the epochs.
        checkpoint_dir: default ``paths.cache_dir('mmwave')``.
        teacher: a configuration trained with the same settings (its own run, trained first
            where missing) whose predictions teach this one: each training target becomes
            ``alpha × teacher + (1 − alpha) × label`` (distillation; ``None``: the labels).
        alpha: the teacher's share of the target, in (0, 1].

    Returns:
        A JSON-able dict whose keys never repeat an argument's name (``run_sweep`` adds
        the grid's columns itself and refuses records that shadow them): ``key``,
        ``model``, ``params``, ``n_train_frames``, ``n_test_frames``, ``history`` (per
        epoch: ``epoch``, ``train_loss`` (normalised MSE), ``val_mae_cm``, ``seconds``),
        ``best_epoch`` and ``best_val_mae_cm`` (the validation choice), ``epochs_trained``,
        ``converged`` (the last ``patience`` epochs, or the last one without patience, did
        not improve on the best), the test metrics of :func:`radar_metrics.summary`
        (``mae_cm``, ``mae_x`` ... ``per_joint_cm``; NaN when diverged or not scored),
        ``train_seconds``, ``epochs_run`` (this call), ``diverged`` and ``checkpoint``.

    Raises:
        ValueError: for unknown names or non-positive sizes.
        FileNotFoundError: for ``dataset='mars'`` without the real data.
    """
    import torch

    from pose_helpers.core.io import load_checkpoint, save_torch
    from pose_helpers.core.progress import progress_bar
    from pose_helpers.data.mars import window_indices
    from pose_helpers.metrics import radar as radar_metrics
    from pose_helpers.models.registry import create_model

    name = model_name(config)
    if dataset not in DATASETS:
        raise ValueError(f"dataset={dataset!r}; expected one of {DATASETS}")
    if epochs < 1 or batch_size < 2 or window < 1 or not lr > 0:
        raise ValueError(
            f"epochs={epochs}, batch_size={batch_size}, window={window}, lr={lr}; "
            "expected epochs >= 1, batch_size >= 2, window >= 1, lr > 0"
        )
    if patience is not None and patience < 1:
        raise ValueError(f"patience={patience!r}; expected >= 1 or None")
    if teacher is not None and not 0 < float(alpha) <= 1:
        raise ValueError(f"alpha={alpha!r}; expected the teacher's share in (0, 1]")
    settings = {
        "model": name,
        "dataset": dataset,
        "seed": int(seed),
        "window": int(window),
        "epochs": int(epochs),
        "patience": None if patience is None else int(patience),
        "batch_size": int(batch_size),
        "lr": float(lr),
        "n_train": None if n_train is None else int(n_train),
        "n_valid": None if n_valid is None else int(n_valid),
        "n_test": None if n_test is None else int(n_test),
        "cell": DEFAULT_CELL,
        "version": STUDY_VERSION,
        # Only a distilled run names its teacher: the keys of the plain runs stay.
        **({"teacher": model_name(teacher), "alpha": float(alpha)} if teacher else {}),
    }
    key = run_key(settings)
    folder = Path(checkpoint_dir) if checkpoint_dir else cache_dir("mmwave")
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = folder / f"{name}-{dataset}-{key}.pt"
    # a checkpoint that does not load is moved aside (with a warning) and the run retrained
    saved = load_checkpoint(
        checkpoint, ("model", "optimizer", "history", "diverged", "best", "finished")
    )

    def split(name_: str, k: int | None, spread: bool) -> tuple[Any, Any, Any]:
        features, labels, index = load_dataset(dataset, name_, data_root)
        rows = window_indices(index, window)[_subset(len(labels), k, spread=spread)]
        x = torch.tensor(np.asarray(features, dtype=np.float32))
        return x, torch.as_tensor(rows), labels[rows[:, -1]]

    with torch_threads(threads):
        x_train, rows_train, y_train = split("train", n_train, spread=False)
        torch.manual_seed(int(seed))
        net = create_model(name)
        centred = y_train - y_train.mean(axis=0)
        net.set_label_stats(y_train.mean(axis=0), float(centred.std()))
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        history: list[dict[str, Any]] = []
        diverged, finished = False, False
        best: dict[str, Any] = {"epoch": 0, "val_mae_cm": math.inf, "model": net.state_dict()}
        if saved is not None:
            net.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            history, diverged = list(saved["history"]), bool(saved["diverged"])
            best, finished = dict(saved["best"]), bool(saved["finished"])
        start = len(history)
        if not finished:
            x_val, rows_val, y_val = split("validate", n_valid, spread=True)
            targets = torch.as_tensor(y_train, dtype=torch.float32)
            if teacher is not None:
                targets = (
                    alpha
                    * _teacher_predictions(
                        teacher, settings, x_train, rows_train, data_root, checkpoint_dir
                    )
                    + (1 - alpha) * targets
                )
            bar = progress_bar(
                enabled=progress,
                total=epochs,
                initial=start,
                desc=f"{name} {dataset}",
                unit="epoch",
            )
            try:
                for epoch in range(start, epochs):
                    if diverged or _stalled(history, best["epoch"], patience):
                        break
                    t0 = time.perf_counter()
                    # The order of epoch e depends only on (seed, e): a resumed run repeats it.
                    generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch)
                    loss = _train_epoch(
                        net, optimizer, x_train, rows_train, targets, batch_size, generator
                    )
                    diverged = not math.isfinite(loss)
                    val_mae = (
                        math.nan
                        if diverged
                        else radar_metrics.mae_cm(_predict(net, x_val, rows_val), y_val)["mean"]
                    )
                    history.append(
                        {
                            "epoch": epoch + 1,
                            "train_loss": loss,
                            "val_mae_cm": val_mae,
                            "seconds": time.perf_counter() - t0,
                        }
                    )
                    if val_mae < best["val_mae_cm"]:
                        best = {
                            "epoch": epoch + 1,
                            "val_mae_cm": val_mae,
                            "model": {k: v.clone() for k, v in net.state_dict().items()},
                        }
                    save_torch(
                        _state(settings, net, optimizer, history, diverged, best), checkpoint
                    )
                    bar.update()
            finally:
                bar.close()
            save_torch(
                _state(settings, net, optimizer, history, diverged, best, finished=True),
                checkpoint,
            )

        nan = float("nan")
        metrics: dict[str, Any] = dict.fromkeys(TEST_METRICS, nan)
        metrics["per_joint_cm"] = [nan] * 19
        n_test_frames = 0
        if score_test and not diverged and best["epoch"] > 0:
            net.load_state_dict(best["model"])
            x_test, rows_test, y_test = split("test", n_test, spread=True)
            metrics = radar_metrics.summary(_predict(net, x_test, rows_test), y_test)
            n_test_frames = len(rows_test)
    record = {
        "key": key,
        "model": name,
        "params": int(sum(p.numel() for p in net.parameters())),
        "n_train_frames": len(rows_train),
        "n_test_frames": n_test_frames,
        "history": history,
        "best_epoch": int(best["epoch"]),
        "best_val_mae_cm": float(best["val_mae_cm"]) if best["epoch"] else nan,
        "epochs_trained": len(history),
        "converged": bool(not diverged and _stalled(history, best["epoch"], patience or 1)),
        **metrics,
        "train_seconds": float(sum(row["seconds"] for row in history)),
        "diverged": diverged,
    }
    return {**record, "epochs_run": len(history) - start, "checkpoint": str(checkpoint)}


def _teacher_predictions(
    teacher: str,
    settings: dict[str, Any],
    features: Any,
    rows: Any,
    data_root: Any,
    checkpoint_dir: Any,
) -> Any:
    """The trained ``teacher``'s predictions (metres, float32 tensor) for the training
    windows ``rows``: its run with the student's data settings, trained first where missing."""
    import torch

    from pose_helpers.core.io import load_checkpoint
    from pose_helpers.models.registry import create_model

    keys = ("dataset", "seed", "window", "epochs", "patience", "batch_size", "lr")
    own = {k: settings[k] for k in keys}
    record = radar_run(
        teacher,
        **own,
        n_train=settings["n_train"],
        n_valid=settings["n_valid"],
        n_test=settings["n_test"],
        score_test=False,
        data_root=data_root,
        checkpoint_dir=checkpoint_dir,
    )
    saved = load_checkpoint(record["checkpoint"], ("best",))
    if saved is None:
        raise FileNotFoundError(f"the teacher's checkpoint {record['checkpoint']} did not load")
    net = create_model(model_name(teacher))
    net.load_state_dict(saved["best"]["model"])
    return torch.as_tensor(_predict(net, features, rows), dtype=torch.float32)


#: The test metrics of :func:`radar_metrics.summary` besides ``per_joint_cm`` (NaN when
#: a run diverged or was not scored on test).
TEST_METRICS = tuple("mae_cm mae_x mae_y mae_z rmse_cm rmse_x rmse_y rmse_z mpjpe_cm".split())


def _stalled(history: list[dict[str, Any]], best_epoch: int, patience: int | None) -> bool:
    """Whether the last ``patience`` epochs did not improve on the best validation epoch."""
    return patience is not None and len(history) - best_epoch >= patience


def _state(
    settings: dict[str, Any],
    net: Any,
    optimizer: Any,
    history: list[dict[str, Any]],
    diverged: bool,
    best: dict[str, Any],
    finished: bool = False,
) -> dict[str, Any]:
    """What a checkpoint holds: enough to resume the run, or to score its best epoch."""
    return {
        "settings": settings,
        "model": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": history,
        "diverged": diverged,
        "best": best,
        "finished": finished,
    }


def mean_pose_floor(
    dataset: str = "sim",
    n_train: int | None = None,
    data_root: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Test metrics of predicting the training split's mean pose for every frame.

    The error a model must beat to have learnt anything from the radar; same keys as
    :func:`radar_metrics.summary`.
    """
    from pose_helpers.metrics import radar as radar_metrics

    _, labels, _ = load_dataset(dataset, "train", data_root)
    mean = labels[_subset(len(labels), n_train)].mean(axis=0)
    _, test_labels, _ = load_dataset(dataset, "test", data_root)
    return radar_metrics.summary(np.broadcast_to(mean, test_labels.shape), test_labels)


def mean_pose_floors(
    datasets: Sequence[str],
    n_train: int | None = None,
    data_root: str | os.PathLike | None = None,
) -> dict[str, dict[str, Any]]:
    """:func:`mean_pose_floor` of each data set: ``{dataset: metrics}``."""
    return {name: mean_pose_floor(name, n_train=n_train, data_root=data_root) for name in datasets}
