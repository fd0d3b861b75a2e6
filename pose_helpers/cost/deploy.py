"""Deployment cost: ONNX export, fp16 and int8 conversion, and CPU latency beside PyTorch.

Defined for the compression chapters (thesis section 5.6, Table 5.9): the thesis ran its dense
and compressed Simple Baselines models in a PyTorch Mobile app and compared app size and time
per image on a 2016 phone. Here the same comparison runs on this CPU:

* :func:`export_onnx` writes a model to ONNX (batch 1) and checks ONNX Runtime's output
  against PyTorch's; :func:`convert_fp16` and :func:`quantize_int8` derive half-precision
  and dynamically quantized int8 files from it.
* :func:`ort_latency` times an ONNX file in ONNX Runtime with :mod:`.bench`'s timing API
  (:func:`bench.time_calls` and :func:`bench.summarize`: warm-up, then median and 10th/90th
  percentiles of the repeats, a fixed thread count); it returns ``None`` where the runtime
  has no kernels for the file's types.
* :func:`deployment_table` puts PyTorch and ONNX Runtime, sizes and speedups of several
  models side by side; :func:`plot_deployment` draws it.

Sizes are decimal MB (10**6 bytes): the PyTorch rows count the saved ``state_dict``
(:func:`bench.checkpoint_mb`), the ONNX rows the file. Timings belong to the machine they ran
on. ONNX Runtime's CPU provider may run an fp16 file by casting it back to fp32 at load time,
so its fp16 rows can show a smaller file without a faster run.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import torch
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidGraph
from onnxruntime.capi.onnxruntime_pybind11_state import NotImplemented as OrtNotImplemented
from torch import nn

from pose_helpers.cost.bench import (
    Timing,
    checkpoint_mb,
    latency,
    summarize,
    time_calls,
)
from pose_helpers.cost.rounds import check_rounds, interleaved_rounds

__all__ = [
    "FORMATS",
    "UNSUPPORTED",
    "convert_fp16",
    "deployment_table",
    "export_onnx",
    "ort_latency",
    "ort_session",
    "plot_deployment",
    "quantize_int8",
]

#: Storage formats of the ONNX files :func:`deployment_table` compares.
FORMATS = ("fp32", "fp16", "int8")
#: The note of a row the runtime cannot run.
UNSUPPORTED = "not supported by this runtime"
#: Seed of the input on which ONNX Runtime's output is checked against PyTorch's.
CHECK_SEED = 0

# What ONNX Runtime raises when it has no kernel for a node's types (NotImplemented) or when
# its type checks reject the graph (InvalidGraph). Other failures (Fail: a kernel that failed
# while running, InvalidArgument, NoSuchFile) are bugs or wrong paths, and propagate.
_RUNTIME_LACKS_KERNELS = (OrtNotImplemented, InvalidGraph)
# numpy dtypes of the ONNX Runtime input types our files can have.
_ORT_INPUT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
}


# --------------------------------------------------------------------------- helpers


def _shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in input_shape)
    if not shape or min(shape) < 1:
        raise ValueError(
            f"input_shape={tuple(input_shape)!r}; expected one sample's shape such as (3, 256, 256)"
        )
    return shape


def _check_input(input_shape: Sequence[int], batch_size: int = 1) -> torch.Tensor:
    """The fixed input on which ONNX files are compared with PyTorch."""
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}; expected >= 1")
    generator = torch.Generator().manual_seed(CHECK_SEED)
    return torch.randn((batch_size, *_shape(input_shape)), generator=generator)


def _eval_copy(model: nn.Module) -> nn.Module:
    """An eval-mode copy on the CPU: the caller's model keeps its mode and device."""
    return copy.deepcopy(model).cpu().eval()


def _torch_outputs(twin: nn.Module, x: torch.Tensor) -> list[np.ndarray]:
    """PyTorch's outputs of an eval-mode CPU model (one tensor or a tuple/list) as arrays."""
    with torch.inference_mode():
        y = twin(x)
    outputs = list(y) if isinstance(y, list | tuple) else [y]
    return [out.float().numpy() for out in outputs]


def ort_session(path: str | Path, threads: int | None = None) -> ort.InferenceSession:
    """An ONNX Runtime CPU session of ``path`` running nodes one after another on ``threads``
    intra-op threads (``None``: the runtime's default), as :func:`ort_latency` times it."""
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Errors only: ONNX Runtime's warnings about graph rewrites would fill an executed notebook.
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _feed(session: ort.InferenceSession, x: np.ndarray) -> dict[str, np.ndarray]:
    (first,) = session.get_inputs()
    return {first.name: x.astype(_ORT_INPUT_DTYPES.get(first.type, np.float32))}


def _run_onnx(path: str | Path, x: np.ndarray) -> list[np.ndarray]:
    """ONNX Runtime's outputs of the file at ``path`` for input ``x``, as float32 arrays."""
    session = ort_session(path)
    return [np.asarray(out, dtype=np.float32) for out in session.run(None, _feed(session, x))]


def _max_abs_diff(expected: list[np.ndarray], actual: list[np.ndarray]) -> float:
    """Largest absolute difference over all outputs.

    Raises:
        ValueError: if the number of outputs or their shapes differ.
    """
    want, got = [a.shape for a in expected], [a.shape for a in actual]
    if want != got:
        raise ValueError(f"ONNX output shapes {got} differ from PyTorch's {want}")
    return max(
        (float(np.max(np.abs(e - a), initial=0.0)) for e, a in zip(expected, actual, strict=True)),
        default=0.0,
    )


@contextmanager
def _atomic_path(dst: str | Path) -> Iterator[Path]:
    """A temporary path beside ``dst``, moved onto ``dst`` if the block succeeds, else removed.

    Readers of ``dst`` never see a half-written file, and a failed export leaves nothing.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name rather than mkstemp's file, which would leave the result readable by its
    # owner alone.
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


class _DropMessage(logging.Filter):
    def __init__(self, start: str) -> None:
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.start)


@contextmanager
def _without_root_log(start: str) -> Iterator[None]:
    """Drop root-logger records beginning with ``start`` (quantize_dynamic's advice to pre-process,
    logged once per call) for the duration of the block."""
    drop = _DropMessage(start)
    root = logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


# --------------------------------------------------------------------------- files


def export_onnx(
    model: nn.Module,
    path: str | Path,
    input_shape: Sequence[int],
    *,
    batch_size: int = 1,
    opset: int | None = None,
    atol: float = 1e-4,
    rtol: float = 1e-3,
) -> Path:
    """Export an eval-mode copy of ``model`` to ONNX for a fixed batch, checked against PyTorch.

    The file holds the weights (no external data file) and takes a batch of
    ``batch_size`` (default one), ``(batch_size, *input_shape)``. It is written atomically and kept only if ONNX Runtime's outputs
    on a fixed random input match PyTorch's within ``atol + rtol * |PyTorch output|``.
    The absolute term dominates for small outputs: an untrained network's heatmaps (~1e-5)
    pass any check at ``atol=1e-4``, so pass a smaller ``atol`` there.

    Args:
        model: the model; its train/eval mode and device are left as they are.
        path: the ``.onnx`` file to write (its folder is created).
        input_shape: one sample's shape, e.g. ``(3, 256, 256)``.
        batch_size: samples per call the file takes.
        opset: ONNX opset version (``None``: the exporter's default).
        atol: absolute tolerance of the output check.
        rtol: relative tolerance of the output check.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: for a bad ``input_shape`` or negative tolerances, or if ONNX Runtime's
            output differs from PyTorch's beyond the tolerance (no file is then left behind).
    """
    if atol < 0 or rtol < 0:
        raise ValueError(f"atol={atol!r}, rtol={rtol!r}; expected >= 0")
    x = _check_input(input_shape, batch_size)
    twin = _eval_copy(model)
    expected = _torch_outputs(twin, x)
    with _atomic_path(path) as tmp:
        _export(twin, x, tmp, DEFAULT_OPSET if opset is None else opset)
        actual = _run_onnx(tmp, x.numpy())
        diff = _max_abs_diff(expected, actual)
        close = all(
            np.allclose(a, e, atol=atol, rtol=rtol) for e, a in zip(expected, actual, strict=True)
        )
        if not close:
            raise ValueError(
                f"ONNX Runtime's output differs from PyTorch's: max |diff| = {diff:.3g}, "
                f"tolerance atol={atol:g} + rtol={rtol:g} * |PyTorch output|"
            )
    return Path(path)


#: The opset of every exported file (the torch.export-based exporter's default in torch 2.14).
DEFAULT_OPSET = 20


def _export(model: nn.Module, x: torch.Tensor, path: Path, opset: int) -> None:
    """Write ``model`` traced on ``x`` to ``path``: the TorchScript exporter, then onnxscript's
    optimizer (constant folding, batch norms folded into the convolutions before them).

    The result has the graph of the torch.export-based exporter with ``optimize=True`` (the
    same operators, node for node, for Simple Baselines ResNet-50) at a tenth of the time:
    0.7 s against 8 s for a width-8 model, 3.5 s against 10.8 s at full scale (measured on
    this CPU). The TorchScript exporter is deprecated but present in the pinned torch; the
    output check of :func:`export_onnx` guards what it writes.
    """
    import warnings

    import onnxscript.optimizer
    from onnxscript import ir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice
        torch.onnx.export(
            model, (x,), str(path), dynamo=False, opset_version=opset, input_names=["image"]
        )
    graph = ir.load(str(path))
    onnxscript.optimizer.optimize(graph)
    ir.save(graph, str(path))


def convert_fp16(src: str | Path, dst: str | Path) -> Path:
    """Write ``src`` with fp16 weights and computations to ``dst`` (atomically).

    Uses ONNX Runtime's ``convert_float_to_float16`` with ``keep_io_types=True``: the file
    still takes and returns float32, so it drops into the same pipeline.

    Returns:
        ``dst`` as a :class:`~pathlib.Path`.
    """
    from onnxruntime.transformers.float16 import convert_float_to_float16

    half = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    with _atomic_path(dst) as tmp:
        onnx.save(half, str(tmp))
    return Path(dst)


def quantize_int8(src: str | Path, dst: str | Path) -> Path:
    """Write ``src`` with int8 weights (dynamic quantization) to ``dst`` (atomically).

    ONNX Runtime's ``quantize_dynamic`` stores Conv (and MatMul/Gemm) weights as signed int8
    with one scale per tensor and quantizes activations to uint8 at run time
    (``DynamicQuantizeLinear`` then ``ConvInteger``: the u8s8 kernels of the CPU provider).
    Layers it does not quantize, such as ``ConvTranspose``, stay fp32.

    Returns:
        ``dst`` as a :class:`~pathlib.Path`.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _atomic_path(dst) as tmp, _without_root_log("Please consider to run pre-processing"):
        quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8)
    return Path(dst)


_CONVERTERS: dict[str, Callable[[Path, Path], Path]] = {
    "fp16": convert_fp16,
    "int8": quantize_int8,
}


# --------------------------------------------------------------------------- time


def ort_latency(
    path: str | Path,
    input_shape: Sequence[int],
    *,
    batch_size: int = 1,
    threads: int = 1,
    warmup: int = 3,
    repeats: int = 10,
    min_time: float = 0.0,
) -> Timing | None:
    """Inference time of one call in ONNX Runtime's CPU provider, as :func:`bench.latency`.

    The session runs nodes sequentially (``inter_op_num_threads=1``) on ``threads`` intra-op
    threads; the timing loop and statistics are :mod:`.bench`'s.

    Args:
        path: an ONNX file taking a batch of ``batch_size``.
        input_shape: one sample's shape, e.g. ``(3, 256, 256)``.
        batch_size: samples per call (the file's batch).
        threads: intra-op threads of the session.
        warmup: untimed runs first.
        repeats: timed runs (at least).
        min_time: keep timing until this many seconds have passed.

    Returns:
        A :class:`bench.Timing` in milliseconds, or ``None`` if ONNX Runtime has no kernels
        for the file's operators and types.

    Raises:
        ValueError: for ``threads < 1``, ``repeats < 1``, ``warmup < 0`` or a bad input shape.
    """
    if threads < 1:
        raise ValueError(f"threads={threads!r}; expected >= 1")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}; expected >= 1")
    x = np.random.default_rng(CHECK_SEED).standard_normal((batch_size, *_shape(input_shape)))
    try:
        session = ort_session(path, threads)
    except _RUNTIME_LACKS_KERNELS:
        return None
    feed = _feed(session, x)
    seconds = time_calls(
        lambda: session.run(None, feed), warmup=warmup, repeats=repeats, min_time=min_time
    )
    return summarize(seconds, threads=threads, batch_size=batch_size, device="cpu")


# --------------------------------------------------------------------------- the table


def _validate(
    models: Mapping[str, nn.Module],
    input_shape: Sequence[int],
    threads: Sequence[int],
    repeats: int,
    warmup: int,
    formats: Sequence[str],
) -> None:
    if not models:
        raise ValueError("models is empty; expected {name: model}, the dense reference first")
    _shape(input_shape)
    if not threads or any(int(t) < 1 for t in threads):
        raise ValueError(f"threads={tuple(threads)!r}; expected thread counts >= 1")
    if repeats < 1 or warmup < 0:
        raise ValueError(
            f"repeats={repeats!r}, warmup={warmup!r}; expected repeats >= 1, warmup >= 0"
        )
    unknown = [f for f in formats if f not in FORMATS]
    if not formats or unknown:
        raise ValueError(f"formats={tuple(formats)!r}; expected some of {FORMATS}")


def _row(
    model: str,
    runtime: str,
    fmt: str,
    threads: int,
    timing: Timing | None,
    size: float,
    diff: float,
    rel_diff: float,
) -> dict[str, Any]:
    nan = math.nan
    return {
        "model": model,
        "runtime": runtime,
        "format": fmt,
        "threads": threads,
        "latency_ms": timing.median_ms if timing else nan,
        "latency_p10_ms": timing.p10_ms if timing else nan,
        "latency_p90_ms": timing.p90_ms if timing else nan,
        "size_mb": size,
        "supported": timing is not None,
        "max_abs_diff": diff,
        "max_rel_diff": rel_diff,
        "note": "" if timing else UNSUPPORTED,
    }


def _file_stem(index: int, name: str) -> str:
    # The index keeps names that differ only in punctuation apart.
    return f"{index}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', name).strip('_') or 'model'}"


@contextmanager
def _workdir(folder: str | Path | None) -> Iterator[Path]:
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        yield Path(folder)
        return
    with tempfile.TemporaryDirectory(prefix="deploy_") as tmp:
        yield Path(tmp)


def _onnx_files(
    model: nn.Module, stem: Path, input_shape: tuple[int, ...], formats: Sequence[str]
) -> list[tuple[str, Path, float, float]]:
    """Export ``model`` and derive each format: ``(format, path, max_abs_diff, max_rel_diff)``."""
    fp32 = export_onnx(model, stem.with_name(f"{stem.name}_fp32.onnx"), input_shape)
    x = _check_input(input_shape)
    expected = _torch_outputs(_eval_copy(model), x)
    # An untrained network's heatmaps are ~1e-5: its absolute errors mean little alone.
    scale = max(float(np.abs(out).max(initial=0.0)) for out in expected)
    files = []
    for fmt in formats:
        path = fp32
        if fmt != "fp32":
            path = _CONVERTERS[fmt](fp32, stem.with_name(f"{stem.name}_{fmt}.onnx"))
        try:
            diff = _max_abs_diff(expected, _run_onnx(path, x.numpy()))
        except _RUNTIME_LACKS_KERNELS:
            diff = math.nan
        files.append((fmt, path, diff, diff / scale if scale > 0 else math.nan))
    return files


def deployment_table(
    models: Mapping[str, nn.Module],
    input_shape: Sequence[int],
    *,
    threads: int | Sequence[int] = (1, 2),
    repeats: int = 10,
    warmup: int = 3,
    rounds: int = 1,
    folder: str | Path | None = None,
    formats: Sequence[str] = FORMATS,
    progress: bool = False,
) -> pd.DataFrame:
    """Latency and size of each model in PyTorch and in ONNX Runtime (thesis Table 5.9).

    First every model is exported (:func:`export_onnx`, checked against PyTorch) and
    converted to each format, with its file size and its largest deviation from PyTorch's
    output on the check input. Then every measurement (model x runtime x format x thread
    count: :func:`bench.latency` for PyTorch fp32, :func:`ort_latency` for ONNX Runtime) is
    timed once per round, the rounds going over all measurements in turn: slow drifts and
    bursts of other work on the machine then hit every model alike instead of one of them.

    Args:
        models: ``{name: model}``; the first is the reference (the dense model) of ``speedup``.
        input_shape: one sample's shape, e.g. ``(3, 256, 256)``; batch 1 throughout.
        threads: thread counts (torch threads; ONNX Runtime intra-op threads).
        repeats: timed runs per measurement and round.
        warmup: untimed runs before each measurement.
        rounds: passes over all measurements; the reported latency is the median of the
            rounds' medians (:func:`bench.over_rounds`).
        folder: where the ONNX files are written and kept (``None``: a temporary folder,
            removed afterwards).
        formats: ONNX storage formats among ``'fp32'``, ``'fp16'`` and ``'int8'``.
        progress: show a progress bar over the rounds' measurements.

    Returns:
        One row per (model, runtime, format, threads): ``model``, ``runtime`` (``'pytorch'``
        or ``'onnxruntime'``), ``format``, ``threads``, ``latency_ms`` (median),
        ``latency_p10_ms``, ``latency_p90_ms``, ``speedup`` (the reference's latency in the
        same runtime, format and thread count over this row's), ``size_mb``, ``max_abs_diff``
        (against the model's PyTorch output on the check input; 0 for PyTorch itself),
        ``max_rel_diff`` (the same over the largest absolute PyTorch output), ``supported`` and
        ``note`` (:data:`UNSUPPORTED` where ONNX Runtime cannot run the file: its latencies
        and speedup are NaN).

    Raises:
        ValueError: for no models, a thread count < 1, ``repeats < 1``, ``warmup < 0``,
            ``rounds < 1``, an unknown format or a bad input shape (before anything runs), or a
            failed export check.
    """
    counts = (int(threads),) if isinstance(threads, int | np.integer) else tuple(threads)
    _validate(models, input_shape, counts, repeats, warmup, formats)
    rounds = check_rounds(rounds)
    shape = _shape(input_shape)
    with _workdir(folder) as work:
        # (row fields, a function that times it once)
        plan: list[tuple[tuple, Callable[[], Timing | None]]] = []
        for index, (name, model) in enumerate(models.items()):
            size = checkpoint_mb(model)
            for t in counts:
                plan.append(
                    (
                        (name, "pytorch", "fp32", t, size, 0.0, 0.0),
                        lambda m=model, t=t: latency(
                            m, shape, threads=t, warmup=warmup, repeats=repeats
                        ),
                    )
                )
            for fmt, path, diff, rel in _onnx_files(
                model, work / _file_stem(index, name), shape, formats
            ):
                for t in counts:
                    plan.append(
                        (
                            (name, "onnxruntime", fmt, t, path.stat().st_size / 1e6, diff, rel),
                            lambda p=path, t=t: ort_latency(
                                p, shape, threads=t, warmup=warmup, repeats=repeats
                            ),
                        )
                    )
        timings = interleaved_rounds(
            [call for _, call in plan], rounds, progress=progress, desc="deploy"
        )
    rows = []
    for (fields, _), timing in zip(plan, timings, strict=True):
        name, runtime, fmt, t, size, diff, rel = fields
        rows.append(_row(name, runtime, fmt, t, timing, size, diff, rel))
    table = pd.DataFrame(rows)
    return _with_speedup(table, reference=next(iter(models)))


def _with_speedup(table: pd.DataFrame, reference: str) -> pd.DataFrame:
    keys = ["runtime", "format", "threads"]
    base = table.loc[table["model"] == reference, [*keys, "latency_ms"]]
    merged = table.merge(base.rename(columns={"latency_ms": "_ref"}), on=keys, how="left")
    table = table.assign(speedup=(merged["_ref"] / merged["latency_ms"]).to_numpy())
    first = ["model", "runtime", "format", "threads", "latency_ms", "latency_p10_ms"]
    rest = ["latency_p90_ms", "speedup", "size_mb", "max_abs_diff", "max_rel_diff"]
    return table[[*first, *rest, "supported", "note"]]


# --------------------------------------------------------------------------- figure


def plot_deployment(table: pd.DataFrame):
    """Median latency of each model, one bar per runtime and format, one panel per thread count.

    Unsupported rows have no bar. Returns the matplotlib figure (not shown).

    Args:
        table: a :func:`deployment_table`.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = table.assign(runtime_format=table["runtime"] + " " + table["format"])
    counts = sorted(data["threads"].unique())
    order = list(dict.fromkeys(data["model"]))
    hue_order = list(dict.fromkeys(data["runtime_format"]))
    fig, axes = plt.subplots(
        1, len(counts), figsize=(1.5 + 4.5 * len(counts), 4), sharey=True, squeeze=False
    )
    for ax, count in zip(axes[0], counts, strict=True):
        sns.barplot(
            data=data[data["threads"] == count],
            x="model",
            y="latency_ms",
            hue="runtime_format",
            order=order,
            hue_order=hue_order,
            errorbar=None,
            ax=ax,
        )
        ax.set(title=f"{count} thread{'s' if count > 1 else ''}", xlabel="", ylabel="latency (ms)")
        ax.tick_params(axis="x", labelrotation=15)
        if ax is not axes[0][-1] and ax.get_legend() is not None:
            ax.get_legend().remove()
    axes[0][-1].legend(title="runtime, format", fontsize="small")
    fig.tight_layout()
    return fig
