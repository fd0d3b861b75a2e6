"""What a model costs: parameters, megabytes, multiply-accumulates, kernels and time.

Conventions, stated once:

- ``input_shape`` is the shape of **one sample** without the batch dimension, e.g.
  ``(3, 256, 256)``; ``batch_size`` (default 1) sets the batch.
- Sizes are in decimal megabytes (1 MB = 10**6 bytes). :func:`size_mb` counts the tensors
  (parameters and buffers, floating-point ones at ``dtype``); :func:`checkpoint_mb` is the
  size of the file ``torch.save(model.state_dict())`` writes. The thesis's 136.3 MB for the
  33.9 M-parameter Simple Baselines ResNet-50 (33,999,440 parameters with 16 joints) is the
  checkpoint file: 136.32 MB, against 136.22 MB for the tensors, 136.00 MB for the
  parameters alone and 129.70 MiB in binary units.
- MACs are multiply-accumulates = FLOPs / 2 as counted by
  :class:`torch.utils.flop_counter.FlopCounterMode`: convolutions (transposed ones too,
  ``Cin * Cout * k * k * H_in * W_in`` per sample), linear layers and matrix products;
  biases, normalisation, activations and additions are not counted.
- Timings fix the torch thread count (default 1) and restore it afterwards
  (:func:`pose_helpers.core.repro.torch_threads`), warm up, then report the median and the
  10th/90th percentiles of the repeated runs. One timing API serves the package:
  :func:`time_calls` (the loop), :func:`time_interleaved` (several operations in turns),
  :func:`summarize` (seconds to a :class:`Timing`) and :func:`over_rounds` (rounds of one
  measurement to one :class:`Timing`). Timings are properties of the machine they ran on;
  notebooks mark their cells ``nbval-ignore-output``.
"""

from __future__ import annotations

import copy
import io
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from pose_helpers.core.repro import torch_threads

__all__ = [
    "Timing",
    "checkpoint_mb",
    "conv_kernel_count",
    "count_params",
    "latency",
    "macs",
    "model_card",
    "op_counts",
    "over_rounds",
    "size_mb",
    "summarize",
    "time_calls",
    "time_interleaved",
    "train_step_time",
]

K = TypeVar("K")

#: Bytes per value of each storage type accepted by :func:`size_mb` and :func:`checkpoint_mb`.
DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}
_TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
#: Convolution layer types (the kernels counted, the weights regularized).
CONV_TYPES = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)


# --------------------------------------------------------------------------- size


def count_params(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (a parameter shared by two modules counts once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _bytes_per_value(dtype: str) -> int:
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"dtype={dtype!r}; expected one of {sorted(DTYPE_BYTES)}")
    return DTYPE_BYTES[dtype]


def size_mb(model: nn.Module, dtype: str = "fp32", *, buffers: bool = True) -> float:
    """Memory of the model's tensors in decimal MB, with floating-point values stored as ``dtype``.

    Args:
        model: the model.
        dtype: ``'fp32'``, ``'fp16'``, ``'bf16'`` or ``'int8'`` (4, 2, 2, 1 bytes per value).
        buffers: include buffers (BatchNorm running statistics at ``dtype``; integer
            buffers such as ``num_batches_tracked`` at their own size).

    Returns:
        Megabytes (10**6 bytes).

    Raises:
        ValueError: for an unknown dtype.
    """
    per_value = _bytes_per_value(dtype)
    total = count_params(model) * per_value
    if buffers:
        for b in model.buffers():
            total += b.numel() * (per_value if b.is_floating_point() else b.element_size())
    return total / 1e6


def checkpoint_mb(model: nn.Module, dtype: str = "fp32") -> float:
    """Size in decimal MB of ``torch.save(model.state_dict())`` with floating tensors as ``dtype``.

    Raises:
        ValueError: for a dtype other than ``'fp32'``, ``'fp16'`` or ``'bf16'``.
    """
    if dtype not in _TORCH_DTYPES:
        raise ValueError(f"dtype={dtype!r}; expected one of {sorted(_TORCH_DTYPES)}")
    state = {
        k: v.detach().to(_TORCH_DTYPES[dtype]) if v.is_floating_point() else v
        for k, v in model.state_dict().items()
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getbuffer().nbytes / 1e6


# --------------------------------------------------------------------------- operations


def _device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def _example(model: nn.Module, input_shape: Sequence[int], batch_size: int) -> torch.Tensor:
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}; expected >= 1")
    shape = tuple(int(s) for s in input_shape)
    if not shape or min(shape) < 1:
        raise ValueError(
            f"input_shape={tuple(input_shape)!r}; expected one sample's shape such as (3, 256, 256)"
        )
    return torch.randn(batch_size, *shape, device=_device(model))


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def macs(model: nn.Module, input_shape: Sequence[int], *, batch_size: int = 1) -> int:
    """Multiply-accumulates of one forward pass (eval mode), from ``FlopCounterMode`` FLOPs / 2.

    Args:
        model: the model.
        input_shape: one sample's shape, e.g. ``(3, 256, 256)``.
        batch_size: samples per forward pass (the count is for the whole batch).

    Returns:
        MACs of convolutions, transposed convolutions, linear layers and matrix products.
    """
    x = _example(model, input_shape, batch_size)
    with _eval_mode(model), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops()) // 2


class _OpCounter(TorchDispatchMode):
    """Counts the ATen operators a forward pass dispatches (those below autograd)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(
        self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def op_counts(
    model: nn.Module, input_shape: Sequence[int], *, batch_size: int = 1
) -> dict[str, int]:
    """How often each ATen operator runs in one forward pass (eval mode, no grad).

    Operators are the ones torch dispatches below autograd (``convolution``, ``addmm``,
    ``relu``, ``add`` ...), with functional calls counted too. Returns a dict sorted by count.
    """
    x = _example(model, input_shape, batch_size)
    counter = _OpCounter()
    with _eval_mode(model), torch.no_grad(), counter:
        model(x)
    return dict(counter.counts.most_common())


def conv_kernel_count(model: nn.Module, input_shape: Sequence[int], *, batch_size: int = 1) -> int:
    """Number of convolution layers (Conv1d/2d/3d and transposed) run in one forward pass.

    Forward hooks count calls, so a module used twice counts twice; ``F.conv2d`` called
    directly is not a module and is not counted (:func:`op_counts` sees it).
    """
    calls = [0]

    def hook(module: nn.Module, args: Any, output: Any) -> None:
        calls[0] += 1

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, CONV_TYPES)]
    x = _example(model, input_shape, batch_size)
    try:
        with _eval_mode(model), torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return calls[0]


# --------------------------------------------------------------------------- time


@dataclass(frozen=True)
class Timing:
    """Repeated timings of one operation, in milliseconds.

    Attributes:
        median_ms, p10_ms, p90_ms, mean_ms, std_ms: statistics over the ``n`` timed runs.
        n: timed runs (after the warm-up).
        threads: torch CPU threads during the runs.
        batch_size: samples per run.
        device: where it ran (``'cpu'``, ``'cuda:0'``).
    """

    median_ms: float
    p10_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float
    n: int
    threads: int
    batch_size: int
    device: str

    @property
    def median_s(self) -> float:
        """The median in seconds."""
        return self.median_ms / 1e3

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (a sweep record or a table row)."""
        return asdict(self)


def time_calls(
    fn: Callable[[], Any],
    *,
    warmup: int = 2,
    repeats: int = 10,
    min_time: float = 0.0,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Seconds of each timed call of ``fn``, after ``warmup`` untimed calls.

    The package's one timing loop (:func:`latency`, :func:`train_step_time`,
    :func:`time_interleaved`, ``deploy.ort_latency`` and ``sparsity.benchmark_sparsity`` run
    on it).

    Args:
        fn: the operation, called without arguments.
        warmup: untimed calls first.
        repeats: timed calls (at least).
        min_time: keep timing until this many seconds have passed (the result may then hold
            more than ``repeats`` values).
        device: where ``fn`` runs; on a CUDA device each call is synchronized before its
            clock stops (``None`` or a CPU device: no synchronization).

    Returns:
        A 1-D array of seconds, one per timed call.

    Raises:
        ValueError: for ``repeats < 1`` or ``warmup < 0``.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(
            f"repeats={repeats!r}, warmup={warmup!r}; expected repeats >= 1, warmup >= 0"
        )
    target = None if device is None else torch.device(device)

    def sync() -> None:
        if target is not None and target.type == "cuda":
            torch.cuda.synchronize(target)

    for _ in range(warmup):
        fn()
    sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return np.asarray(times)


def time_interleaved(
    fns: Mapping[K, Callable[[], Any]],
    *,
    warmup: int = 2,
    repeats: int = 10,
    device: torch.device | str | None = None,
) -> dict[K, np.ndarray]:
    """Time several operations in turns: each is warmed up, then every round calls each once.

    A slow spell of a shared machine then hits every operation alike instead of one of them.

    Args:
        fns: ``{key: operation}``, each called without arguments.
        warmup: untimed calls of each operation before the first round.
        repeats: rounds (timed calls of each operation).
        device: as in :func:`time_calls`.

    Returns:
        ``{key: seconds}``, one array of ``repeats`` values per operation, in ``fns``'s order.

    Raises:
        ValueError: for ``repeats < 1`` or ``warmup < 0``.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(
            f"repeats={repeats!r}, warmup={warmup!r}; expected repeats >= 1, warmup >= 0"
        )
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[K, list[float]] = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            times[key].append(float(time_calls(fn, warmup=0, repeats=1, device=device)[0]))
    return {key: np.asarray(values) for key, values in times.items()}


def _summary_ms(ms: np.ndarray, threads: int, batch_size: int, device: str, n: int) -> Timing:
    p10, median, p90 = np.percentile(ms, [10, 50, 90])
    return Timing(
        median_ms=float(median),
        p10_ms=float(p10),
        p90_ms=float(p90),
        mean_ms=float(ms.mean()),
        std_ms=float(ms.std()),
        n=n,
        threads=threads,
        batch_size=batch_size,
        device=device,
    )


def summarize(
    seconds: np.ndarray | Sequence[float],
    *,
    threads: int,
    batch_size: int = 1,
    device: torch.device | str = "cpu",
) -> Timing:
    """A :class:`Timing` of repeated runs: median, 10th/90th percentiles, mean and standard
    deviation in milliseconds.

    Args:
        seconds: the runs' times (:func:`time_calls`).
        threads: threads the runs used (recorded, not set).
        batch_size: samples per run.
        device: where they ran.

    Raises:
        ValueError: for no times.
    """
    values = np.asarray(seconds, dtype=float)
    if values.size == 0:
        raise ValueError("seconds is empty; expected at least one timed run")
    return _summary_ms(values * 1e3, threads, batch_size, str(device), len(values))


def over_rounds(timings: Sequence[Timing | None]) -> Timing | None:
    """One timing from several rounds of the same measurement: the median of the rounds'
    medians, and the 10th and 90th percentiles (mean, standard deviation) of those medians,
    as :func:`summarize` computes them; ``n`` counts the runs of all rounds.

    A round disturbed by another process then stands out in the spread instead of moving the
    result. Returns ``None`` if any round is ``None`` (a runtime that could not run it).

    Raises:
        ValueError: for no rounds.
    """
    if not timings:
        raise ValueError("timings is empty; expected one Timing per round")
    if any(t is None for t in timings):
        return None
    medians = np.array([t.median_ms for t in timings])
    first = timings[0]
    n = int(sum(t.n for t in timings))
    return _summary_ms(medians, first.threads, first.batch_size, first.device, n)


def latency(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    batch_size: int = 1,
    threads: int | None = 1,
    warmup: int = 5,
    repeats: int = 30,
    min_time: float = 0.0,
) -> Timing:
    """Inference time of one forward pass in eval mode under ``torch.inference_mode``.

    Args:
        model: the model (timed on its device; the train/eval mode is restored).
        input_shape: one sample's shape, e.g. ``(3, 256, 256)``.
        batch_size: samples per pass (1: the latency of one image).
        threads: torch CPU threads during the runs (``None``: the current setting).
        warmup: untimed passes first.
        repeats: timed passes (at least).
        min_time: keep timing until this many seconds have passed (``n`` may exceed ``repeats``).

    Returns:
        A :class:`Timing` in milliseconds.
    """
    x = _example(model, input_shape, batch_size)
    with torch_threads(threads) as used, _eval_mode(model), torch.inference_mode():
        seconds = time_calls(
            lambda: model(x), warmup=warmup, repeats=repeats, min_time=min_time, device=x.device
        )
    return summarize(seconds, threads=used, batch_size=batch_size, device=x.device)


def _outputs(y_hat: Any) -> list[torch.Tensor]:
    return list(y_hat) if isinstance(y_hat, list | tuple) else [y_hat]


def train_step_time(
    model: nn.Module,
    input_shape: Sequence[int],
    batch_size: int,
    *,
    threads: int | None = 1,
    optimizer: str = "adam",
    warmup: int = 2,
    repeats: int = 10,
    min_time: float = 0.0,
) -> Timing:
    """Time of one optimizer step: forward, MSE loss against zeros (summed over stacks),
    backward and step, on a copy of the model (the model itself is left unchanged).

    Args:
        model: the model, in train mode for the runs.
        input_shape: one sample's shape, e.g. ``(3, 256, 256)``.
        batch_size: samples per step.
        threads: torch CPU threads during the runs (``None``: the current setting).
        optimizer: ``'adam'``, ``'rmsprop'`` or ``'sgd'`` (their steps cost differently).
        warmup: untimed steps first.
        repeats: timed steps (at least).
        min_time: keep timing until this many seconds have passed.

    Returns:
        A :class:`Timing` in milliseconds per step (``.median_s`` in seconds).

    Raises:
        ValueError: for an unknown optimizer.
    """
    optimizers = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop, "sgd": torch.optim.SGD}
    if optimizer not in optimizers:
        raise ValueError(f"optimizer={optimizer!r}; expected one of {sorted(optimizers)}")
    trainee = copy.deepcopy(model).train()
    opt = optimizers[optimizer]([p for p in trainee.parameters() if p.requires_grad], lr=1e-6)
    x = _example(trainee, input_shape, batch_size)

    def step() -> None:
        loss = sum((out.float() ** 2).mean() for out in _outputs(trainee(x)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with torch_threads(threads) as used:
        seconds = time_calls(
            step, warmup=warmup, repeats=repeats, min_time=min_time, device=x.device
        )
    return summarize(seconds, threads=used, batch_size=batch_size, device=x.device)


# --------------------------------------------------------------------------- all together


def model_card(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    batch_size: int = 1,
    threads: int | None = 1,
    repeats: int = 30,
    warmup: int = 5,
) -> dict[str, Any]:
    """Parameters, sizes, MACs, convolution kernels and latency of a model, as a flat dict.

    Args:
        model: the model.
        input_shape: one sample's shape, e.g. ``(3, 256, 256)``.
        batch_size: samples per forward pass for MACs, kernels and latency.
        threads: torch CPU threads for the latency.
        repeats: timed passes of the latency; 0 skips timing (the latency keys are then NaN).
        warmup: untimed passes before timing.

    Returns:
        JSON-able dict: ``params``, ``params_m``, ``size_mb_fp32``, ``size_mb_fp16``,
        ``checkpoint_mb``, ``macs``, ``gmacs``, ``conv_kernels``, ``latency_ms``,
        ``latency_p10_ms``, ``latency_p90_ms``, ``threads``, ``batch_size``, ``input_shape``.
    """
    n_macs = macs(model, input_shape, batch_size=batch_size)
    card: dict[str, Any] = {
        "params": count_params(model),
        "params_m": count_params(model) / 1e6,
        "size_mb_fp32": size_mb(model, "fp32"),
        "size_mb_fp16": size_mb(model, "fp16"),
        "checkpoint_mb": checkpoint_mb(model),
        "macs": n_macs,
        "gmacs": n_macs / 1e9,
        "conv_kernels": conv_kernel_count(model, input_shape, batch_size=batch_size),
        "latency_ms": float("nan"),
        "latency_p10_ms": float("nan"),
        "latency_p90_ms": float("nan"),
        "threads": threads,
        "batch_size": batch_size,
        "input_shape": [int(s) for s in input_shape],
    }
    if repeats > 0:
        timing = latency(
            model,
            input_shape,
            batch_size=batch_size,
            threads=threads,
            warmup=warmup,
            repeats=repeats,
        )
        card.update(
            latency_ms=timing.median_ms,
            latency_p10_ms=timing.p10_ms,
            latency_p90_ms=timing.p90_ms,
            threads=timing.threads,
        )
    return card


def model_cards(
    names: Sequence[str],
    *,
    input_size: int = 256,
    repeats: int = 0,
    threads: int | None = 1,
    **model_kwargs: Any,
) -> pd.DataFrame:
    """:func:`model_card` of registered models by name, one row each (``model`` first).

    ``repeats=0`` skips timing: the structural columns alone are machine-independent.
    """
    from pose_helpers.models.registry import create_model

    rows = []
    for name in names:
        model = create_model(name, **model_kwargs).eval()
        card = model_card(model, (3, input_size, input_size), repeats=repeats, threads=threads)
        rows.append({"model": name, **{k: v for k, v in card.items() if k != "input_shape"}})
    columns = [
        "model",
        "params",
        "params_m",
        "size_mb_fp32",
        "checkpoint_mb",
        "gmacs",
        "conv_kernels",
    ]
    if repeats:
        columns += ["latency_ms", "latency_p10_ms", "latency_p90_ms", "threads"]
    return pd.DataFrame(rows)[columns]
