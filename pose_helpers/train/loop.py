"""One readable training loop for heatmap regression, with checkpoints and PCKh evaluation.

``fit(model, train_data, val_data, config)`` trains with a visibility-weighted MSE on the
heatmaps (summed over the stacks of a multi-output model: intermediate supervision),
evaluates PCKh after every epoch, and writes a checkpoint after every epoch. Re-running
the same call resumes from the checkpoint; a finished run returns at once. A NaN or
infinite loss stops the run and marks it ``diverged`` (no exception), so a sweep goes on.

Batches are what a pose dataset yields (``pose_helpers.data.synthpose``): either a dict with
the keys ``image``, ``target``, ``joints``, ``head_size``, ``visible`` and
``target_weight``, or a tuple in that order. Training needs only the image, the target
heatmaps and (optionally) a weight per joint; evaluation also needs the joints (input
pixels), the head sizes and the visibility.

The learning rate is a pure function of the epoch (:func:`lr_at`), so the checkpoint needs
no scheduler state and a resumed run follows the same schedule.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from pose_helpers.core.io import load_checkpoint, save_torch
from pose_helpers.core.progress import progress_bar
from pose_helpers.core.repro import seed_everything

__all__ = [
    "PRESETS",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "fit",
    "heatmap_loss",
    "lr_at",
    "make_optimizer",
    "predict",
    "resolve_milestones",
]

OPTIMIZERS = ("adam", "rmsprop", "sgd")

#: The seeds' optimisation settings (``TrainConfig.preset(name, **overrides)``).
PRESETS: dict[str, dict[str, Any]] = {
    # Newell et al., stacked hourglass: RMSprop, lr 2.5e-4.
    "hourglass": {"optimizer": "rmsprop", "lr": 2.5e-4},
    # The hourglass course report (seed 004, section 3.3): 20 epochs, batch 24, lr 1e-3
    # divided by 10 at epochs 15 and 17 (75 % and 85 %). The report does not name the
    # optimizer; RMSprop is our choice, as in the hourglass code it started from.
    "course_report": {
        "optimizer": "rmsprop",
        "lr": 1e-3,
        "epochs": 20,
        "batch_size": 24,
        "milestones": (0.75, 0.85),
    },
    # Xiao et al., Simple Baselines (MPII): Adam 1e-3, divided by 10 at epochs 90 and 120 of 140.
    "simple_baselines": {
        "optimizer": "adam",
        "lr": 1e-3,
        "epochs": 140,
        "batch_size": 32,
        "milestones": (90, 120),
    },
}

# Config fields that may change between a run and its resumption.
_RESUMABLE_CHANGES = ("epochs", "time_budget_s", "num_workers", "threads")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one training run.

    Attributes:
        epochs: number of epochs.
        batch_size: training (and evaluation) batch size.
        lr: initial learning rate.
        optimizer: ``'adam'``, ``'rmsprop'`` or ``'sgd'``.
        momentum: momentum of RMSprop and SGD (Adam ignores it).
        milestones: epochs at which the learning rate is multiplied by ``gamma``; a float
            in (0, 1) is a fraction of ``epochs`` (0.75 of 20 = epoch 15), an int an epoch.
        gamma: learning-rate factor at each milestone.
        weight_decay: L2 weight decay of the optimizer.
        seed: seed of Python, NumPy, torch and the shuffling.
        threads: torch CPU threads (``None`` leaves the setting alone).
        num_workers: DataLoader worker processes.
        max_steps_per_epoch: stop each epoch after this many optimizer steps (smoke runs).
        time_budget_s: start no new epoch after this many seconds of this call (each call
            trains at least one epoch); a re-run resumes from the checkpoint.
    """

    epochs: int = 1
    batch_size: int = 16
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.0
    milestones: tuple[float | int, ...] = ()
    gamma: float = 0.1
    weight_decay: float = 0.0
    seed: int = 0
    threads: int | None = 1
    num_workers: int = 0
    max_steps_per_epoch: int | None = None
    time_budget_s: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(self.milestones))
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r}; expected one of {OPTIMIZERS}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}; expected a positive int")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr!r}; expected a positive float")
        if self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 1:
            raise ValueError(
                f"max_steps_per_epoch={self.max_steps_per_epoch!r}; expected >= 1 or None"
            )
        resolve_milestones(self.milestones, self.epochs)  # validates

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> TrainConfig:
        """Return the settings of a seed (a key of :data:`PRESETS`) with ``overrides`` applied.

        Raises:
            KeyError: for an unknown preset name.
        """
        if name not in PRESETS:
            raise KeyError(f"unknown preset {name!r}; known: {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a plain dict (stored in checkpoints and sweep records)."""
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    """What :func:`fit` returns.

    Attributes:
        history: one row per finished epoch: ``epoch`` (1-based), ``train_loss`` (mean
            heatmap loss), ``extra_loss`` (mean extra term, 0 without one),
            ``val_pckh_mean`` (NaN without validation data), ``seconds``, ``lr``.
        pckh: per-joint PCKh (%) after the last epoch, or ``None`` without validation data.
        table: ``metrics.pckh_table(pckh)`` (``Head`` ... ``Mean``), or ``{}``.
        diverged: the loss or the weights became NaN or infinite; training stopped there.
        seconds: training time summed over all epochs (including resumed ones).
        epochs_run: epochs trained by this call (0 when the checkpoint was already finished).
        finished: all ``config.epochs`` epochs are done (false after a divergence or when
            the time budget ran out; a re-run with the checkpoint then goes on).
    """

    history: pd.DataFrame
    pckh: np.ndarray | None
    table: dict[str, float]
    diverged: bool
    seconds: float
    epochs_run: int = 0
    finished: bool = False


# --------------------------------------------------------------------------- schedule


def resolve_milestones(milestones: Sequence[float | int], epochs: int) -> tuple[int, ...]:
    """Turn milestones given as fractions of ``epochs`` or as epochs into sorted epochs.

    Args:
        milestones: floats in (0, 1) (fractions, rounded half up to the nearest epoch) or
            ints >= 1.
        epochs: the run's number of epochs.

    Returns:
        The milestone epochs, sorted (an epoch past ``epochs`` is kept and never reached).

    Raises:
        ValueError: for a float outside (0, 1), an int below 1, or another type.
    """
    out = []
    for m in milestones:
        if isinstance(m, bool) or not isinstance(m, int | float):
            raise ValueError(f"milestone {m!r}: expected a fraction in (0, 1) or an int epoch")
        if isinstance(m, float):
            if not 0 < m < 1:
                raise ValueError(
                    f"milestone {m!r}: a float must be a fraction in (0, 1); give epochs as ints"
                )
            # Half up, not Python's half-to-even: 0.75 and 0.85 of 10 epochs must stay apart.
            out.append(max(1, math.floor(m * epochs + 0.5)))
        elif m < 1:
            raise ValueError(f"milestone {m!r}: an epoch milestone must be >= 1")
        else:
            out.append(m)
    return tuple(sorted(out))


def lr_at(config: TrainConfig, epoch: int) -> float:
    """Learning rate of the 0-based ``epoch``: ``lr * gamma**(milestones <= epoch)``."""
    drops = sum(m <= epoch for m in resolve_milestones(config.milestones, config.epochs))
    return config.lr * config.gamma**drops


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Build the optimizer named in ``config`` over the model's trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


# --------------------------------------------------------------------------- loss and batches


def heatmap_loss(
    y_hat: torch.Tensor | Sequence[torch.Tensor],
    y: torch.Tensor,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Visibility-weighted mean squared error of heatmaps, summed over stacks.

    Args:
        y_hat: predicted heatmaps ``(N, J, h, w)``, or a list of them (one per stack).
        y: target heatmaps ``(N, J, h, w)``.
        weight: per-joint weights ``(N, J)`` (or ``(N, J, 1)``); 0 removes a joint
            (invisible or unlabelled). ``None`` weighs every joint 1.

    Returns:
        A scalar: for each stack the mean over N, J, h, w of ``weight * (y_hat - y)**2``,
        summed over the stacks.

    Raises:
        ValueError: when a stack's shape differs from the target's.
    """
    stacks = list(y_hat) if isinstance(y_hat, list | tuple) else [y_hat]
    w = None if weight is None else weight.reshape(*weight.shape[:2], 1, 1).to(y.dtype)
    total = y.new_zeros(())
    for out in stacks:
        if out.shape != y.shape:
            raise ValueError(
                f"heatmaps of shape {tuple(out.shape)} but targets of shape {tuple(y.shape)}"
            )
        sq = (out - y) ** 2
        total = total + (sq if w is None else sq * w).mean()
    return total


_KEYS = {
    "image": ("image",),
    "target": ("target", "heatmaps"),
    "joints": ("joints",),
    "head_size": ("head_size",),
    "visible": ("visible", "visibility"),
    "target_weight": ("target_weight", "weight"),
}


def _fields(batch: Any) -> dict[str, Any]:
    """Name the parts of a batch (a dict, or a tuple in the order of ``_KEYS``)."""
    if isinstance(batch, Mapping):
        out = {}
        for name, aliases in _KEYS.items():
            for key in aliases:
                if key in batch:
                    out[name] = batch[key]
                    break
        return out
    if isinstance(batch, list | tuple):
        return dict(zip(_KEYS, batch, strict=False))
    raise TypeError(f"a batch must be a dict or a tuple, got {type(batch).__name__}")


def _last(y_hat: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """The last stack's heatmaps of a single- or multi-output model."""
    return y_hat[-1] if isinstance(y_hat, list | tuple) else y_hat


def _seed_worker(worker_id: int) -> None:
    """Seed NumPy and ``random`` in a DataLoader worker from its torch seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)  # noqa: NPY002 (the global state that datasets use)
    random.seed(seed)


def _loader(
    data: Dataset | DataLoader, config: TrainConfig, *, shuffle: bool, epoch: int = 0
) -> DataLoader:
    """Wrap a dataset in a DataLoader; shuffling is seeded by (seed, epoch), so a resumed
    run sees the same order as an uninterrupted one. A given DataLoader is used as is."""
    if isinstance(data, DataLoader):
        return data
    generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    return DataLoader(
        data,
        batch_size=config.batch_size,
        shuffle=shuffle,
        num_workers=config.num_workers,
        generator=generator,
        worker_init_fn=_seed_worker if config.num_workers else None,
    )


def _device(device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --------------------------------------------------------------------------- evaluation


@torch.inference_mode()
def predict(
    model: nn.Module,
    data: Dataset | DataLoader,
    *,
    batch_size: int = 32,
    num_workers: int = 0,
    device: str | torch.device | None = None,
) -> dict[str, np.ndarray]:
    """Predicted joints of a model on a dataset, in input pixels, beside the ground truth.

    Runs the model in eval mode, decodes the last stack's heatmaps with
    ``metrics.heatmaps_to_coords`` and maps them to input pixels with
    ``metrics.heatmap_to_image_coords``. The model's train/eval mode is restored.

    Returns:
        ``pred`` and ``gt`` (N, J, 2), ``head_size`` (N,), ``visible`` (N, J) bool: the
        arguments of ``metrics.pckh`` (and of ``metrics.left_right_swaps``).

    Raises:
        KeyError: when the batches lack joints, head sizes or visibility.
    """
    from pose_helpers import metrics

    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    config = TrainConfig(batch_size=batch_size, num_workers=num_workers)
    was_training = model.training
    model.eval()
    preds, joints, head_sizes, visible = [], [], [], []
    try:
        with torch.inference_mode():
            for batch in _loader(data, config, shuffle=False):
                f = _fields(batch)
                missing = [k for k in ("image", "joints", "head_size", "visible") if k not in f]
                if missing:
                    raise KeyError(f"evaluation batches need {missing}; got the fields {sorted(f)}")
                X = f["image"].to(device)
                heatmaps = _last(model(X)).float().cpu()
                coords, _ = metrics.heatmaps_to_coords(heatmaps.numpy())
                input_size = (X.shape[-1], X.shape[-2])
                heatmap_size = (heatmaps.shape[-1], heatmaps.shape[-2])
                preds.append(
                    np.asarray(
                        metrics.heatmap_to_image_coords(coords, input_size, heatmap_size),
                        np.float64,
                    )
                )
                joints.append(np.asarray(f["joints"], dtype=np.float64))
                head_sizes.append(np.asarray(f["head_size"], dtype=np.float64).reshape(-1))
                visible.append(np.asarray(f["visible"]).astype(bool))
    finally:
        model.train(was_training)
    return {
        "pred": np.concatenate(preds),
        "gt": np.concatenate(joints),
        "head_size": np.concatenate(head_sizes),
        "visible": np.concatenate(visible),
    }


def evaluate(
    model: nn.Module,
    data: Dataset | DataLoader,
    *,
    batch_size: int = 32,
    num_workers: int = 0,
    threshold: float = 0.5,
    device: str | torch.device | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """PCKh of a model on a dataset: :func:`predict`, then ``metrics.pckh``.

    Args:
        model: maps images ``(N, 3, H, W)`` to heatmaps ``(N, J, h, w)`` or a list of them.
        data: a dataset (or DataLoader) yielding image, target, joints, head_size, visible.
        batch_size: evaluation batch size (ignored for a DataLoader).
        num_workers: DataLoader workers (ignored for a DataLoader).
        threshold: PCKh threshold as a fraction of the head size.
        device: where to run; default: the model's device.

    Returns:
        ``(per_joint, table)``: per-joint PCKh in % and ``metrics.pckh_table(per_joint)``.

    Raises:
        KeyError: when the batches lack joints, head sizes or visibility.
    """
    from pose_helpers import metrics

    p = predict(model, data, batch_size=batch_size, num_workers=num_workers, device=device)
    per_joint = np.asarray(
        metrics.pckh(p["pred"], p["gt"], p["head_size"], p["visible"], threshold=threshold),
        dtype=np.float64,
    )
    table = {str(k): float(v) for k, v in metrics.pckh_table(per_joint).items()}
    return per_joint, table


# --------------------------------------------------------------------------- checkpoints


def _rng_state() -> dict[str, Any]:
    """RNG states as tensors and plain Python values (loadable with ``weights_only=True``)."""
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()  # noqa: NPY002
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [
            np_name,
            torch.from_numpy(np_keys.astype(np.int64)),
            np_pos,
            np_has_gauss,
            np_gauss,
        ],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))  # noqa: NPY002
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if (
        "cuda" in state
        and torch.cuda.is_available()
        and len(state["cuda"]) == torch.cuda.device_count()
    ):
        torch.cuda.set_rng_state_all(state["cuda"])


def _check_resumable(saved: Mapping[str, Any], done: int, config: TrainConfig, path: Path) -> None:
    """Raise unless a checkpoint with settings ``saved`` and ``done`` epochs fits ``config``."""
    current = config.to_dict()
    differ = [
        f"{k}={saved.get(k)!r} (now {current[k]!r})"
        for k in current
        if k not in _RESUMABLE_CHANGES and _plain(saved.get(k)) != _plain(current[k])
    ]
    if differ:
        raise ValueError(
            f"checkpoint {str(path)!r} was written with other settings: {', '.join(differ)}; "
            "delete it or use another checkpoint path"
        )
    if done > config.epochs:
        raise ValueError(f"checkpoint {str(path)!r} holds {done} epochs but epochs={config.epochs}")


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple | list) else value


def _result(
    history: list[dict], pckh: Any, table: dict, diverged: bool, epochs: int, run: int
) -> TrainResult:
    per_joint = None if pckh is None else np.asarray(pckh, dtype=np.float64)
    return TrainResult(
        history=pd.DataFrame(history, columns=_COLUMNS),
        pckh=per_joint,
        table=dict(table),
        diverged=bool(diverged),
        seconds=float(sum(row["seconds"] for row in history)),
        epochs_run=run,
        finished=not diverged and len(history) >= epochs,
    )


_COLUMNS = ["epoch", "train_loss", "extra_loss", "val_pckh_mean", "seconds", "lr"]
#: What :func:`fit` saves in a checkpoint (one lacking any is treated as damaged).
_CHECKPOINT_KEYS = ("model", "optimizer", "history", "pckh", "table", "diverged", "config", "rng")


# --------------------------------------------------------------------------- the loop


def fit(
    model: nn.Module,
    train_data: Dataset | DataLoader,
    val_data: Dataset | DataLoader | None = None,
    config: TrainConfig | None = None,
    *,
    checkpoint: str | os.PathLike | None = None,
    extra_loss: Callable[[nn.Module], torch.Tensor] | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
    after_epoch: Callable[[nn.Module, dict[str, float]], None] | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train a heatmap model, evaluating PCKh and checkpointing after every epoch.

    Each epoch: set the learning rate (:func:`lr_at`); for each batch, loss =
    :func:`heatmap_loss` + ``extra_loss(model)``, backward, step, ``after_step(model)``;
    then evaluate PCKh on ``val_data``, append a history row, call
    ``after_epoch(model, row)`` and save the checkpoint (so changes the hook makes to the
    model are saved too).

    With ``checkpoint``, a run resumes after the last finished epoch of an earlier run with
    the same settings (``epochs`` may grow; model, optimizer, history and RNG states are
    restored), and a finished or diverged run returns at once without training. A
    checkpoint that does not load is moved aside with a warning and the run starts over
    (:func:`pose_helpers.core.io.load_checkpoint`).

    Args:
        model: maps images to heatmaps (a tensor or a list of per-stack tensors).
        train_data: training dataset (shuffled per epoch with a seeded generator) or DataLoader.
        val_data: validation dataset or DataLoader; ``None`` skips evaluation.
        config: optimisation settings; default ``TrainConfig()``.
        checkpoint: file written atomically after every epoch and resumed from.
        extra_loss: ``extra_loss(model) -> scalar tensor`` added to the loss (regularizers).
        after_step: called after every optimizer step (e.g. to re-apply pruning masks).
        after_epoch: called with the model and the epoch's history row.
        device: where to train; default CUDA when available, else CPU.
        progress: show a tqdm bar on stderr.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: when the checkpoint was written with other settings or more epochs.
    """
    config = config or TrainConfig()
    seed_everything(config.seed, config.threads)
    device = _device(device)
    model.to(device)
    optimizer = make_optimizer(model, config)
    path = None if checkpoint is None else Path(checkpoint)

    history: list[dict[str, float]] = []
    pckh: Any = None
    table: dict[str, float] = {}
    # a checkpoint that does not load is moved aside (with a warning) and the run restarts
    state = None if path is None else load_checkpoint(path, _CHECKPOINT_KEYS)
    if state is not None:
        _check_resumable(state["config"], len(state["history"]), config, path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history, pckh, table = list(state["history"]), state["pckh"], dict(state["table"])
        _set_rng_state(state["rng"])
        if state["diverged"] or len(history) >= config.epochs:
            return _result(history, pckh, table, state["diverged"], config.epochs, run=0)

    def save(diverged: bool) -> None:
        if path is not None:
            save_torch(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "epoch": len(history),
                    "history": history,
                    "pckh": None if pckh is None else torch.as_tensor(pckh, dtype=torch.float64),
                    "table": table,
                    "diverged": diverged,
                    "config": config.to_dict(),
                    "rng": _rng_state(),
                },
                path,
            )

    start, started = len(history), time.perf_counter()
    steps = _num_steps(train_data, config)
    bar = progress_bar(
        enabled=progress,
        total=None if steps is None else steps * (config.epochs - start),
        desc="train",
    )
    diverged = False
    try:
        for epoch in range(start, config.epochs):
            budget = config.time_budget_s
            if epoch > start and budget is not None and time.perf_counter() - started > budget:
                break  # out of time; a re-run resumes from the checkpoint
            t0, lr = time.perf_counter(), lr_at(config, epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            model.train()
            losses, extras = [], []
            for step, batch in enumerate(_loader(train_data, config, shuffle=True, epoch=epoch)):
                if config.max_steps_per_epoch is not None and step >= config.max_steps_per_epoch:
                    break
                f = _fields(batch)
                X, y = f["image"].to(device), f["target"].to(device)
                weight = f.get("target_weight", f.get("visible"))
                weight = None if weight is None else weight.to(device)
                loss = heatmap_loss(model(X), y, weight)
                extra = extra_loss(model) if extra_loss is not None else loss.new_zeros(())
                objective = loss + extra
                if not torch.isfinite(objective):
                    diverged = True
                    break
                optimizer.zero_grad(set_to_none=True)
                objective.backward()
                optimizer.step()
                if after_step is not None:
                    after_step(model)
                losses.append(loss.item())
                extras.append(float(extra.item()))
                bar.update()
                bar.set_postfix(epoch=epoch + 1, loss=f"{losses[-1]:.3g}")
            diverged = diverged or not all(torch.isfinite(p).all() for p in model.parameters())
            if diverged:
                save(diverged=True)
                break
            if val_data is not None:
                pckh, table = evaluate(
                    model,
                    val_data,
                    batch_size=config.batch_size,
                    num_workers=config.num_workers,
                    device=device,
                )
            row = {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(losses)) if losses else math.nan,
                "extra_loss": float(np.mean(extras)) if extras else math.nan,
                "val_pckh_mean": float(table.get("Mean", math.nan))
                if val_data is not None
                else math.nan,
                "seconds": time.perf_counter() - t0,
                "lr": lr,
            }
            history.append(row)
            if after_epoch is not None:
                after_epoch(model, row)
            save(diverged=False)
            bar.set_postfix(
                epoch=epoch + 1, loss=f"{row['train_loss']:.3g}", pckh=f"{row['val_pckh_mean']:.1f}"
            )
    finally:
        bar.close()
    return _result(history, pckh, table, diverged, config.epochs, run=len(history) - start)


def _num_steps(data: Iterable, config: TrainConfig) -> int | None:
    """Optimizer steps per epoch, or ``None`` when the data has no length."""
    try:
        n = len(data) if isinstance(data, DataLoader) else math.ceil(len(data) / config.batch_size)
    except TypeError:
        return None
    return n if config.max_steps_per_epoch is None else min(n, config.max_steps_per_epoch)
