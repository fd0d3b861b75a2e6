"""What each mmWave configuration costs: parameters, memory, MACs and CPU latency.

:func:`cost_card` measures one configuration, :func:`cost_cards` all of them, and
:func:`compare_cells` the GRU against an LSTM (the measurement behind
``models.mmwave.DEFAULT_CELL``). Latencies come from :func:`pose_helpers.cost.bench.latency`.

:func:`runtime_latency` times every configuration as it would be deployed: in PyTorch eager
and in ONNX Runtime (fp32, one thread), at batch 1 (one window as it arrives) and at a
streaming batch, with :class:`LatencyFloor` (the cheapest model with the same input and
output) through the same path, so that a reader sees what each model costs above the
per-call floor of its runtime. The calls are timed in rounds, every model once per round, so
a slow spell of the machine hits all of them alike.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pose_helpers.models.mmwave import DEFAULT_WINDOW, FRAME_SHAPE
from pose_helpers.studies.mmwave.radar_runs import CONFIG_NAMES, REFERENCE, model_name

__all__ = [
    "FLOOR",
    "RUNTIMES",
    "compare_cells",
    "cost_card",
    "cost_cards",
    "latency_floor",
    "latency_savings",
    "runtime_latency",
]

#: The runtimes :func:`runtime_latency` times.
RUNTIMES = ("pytorch", "onnxruntime")
#: The name of the latency-floor row (:func:`latency_floor`).
FLOOR = "floor"


def _activation_bytes(model: Any, x: Any) -> tuple[int, int]:
    """(distinct tensors a forward creates, largest input + output of one layer), in bytes.

    Forward hooks on the leaf modules see each layer's inputs and outputs; a tensor is
    counted once however many layers see it (an in-place ReLU returns its input).
    """
    import torch

    seen: dict[int, int] = {x.data_ptr(): x.numel() * x.element_size()}
    # Hold every tensor until the end: a freed tensor's memory (and data_ptr) is reused by
    # the next one, which would merge distinct tensors and make the sum vary run to run.
    alive: list[torch.Tensor] = [x]
    peak = [0]

    def tensors(value: Any) -> list[torch.Tensor]:
        if isinstance(value, torch.Tensor):
            return [value]
        if isinstance(value, list | tuple):
            return [t for v in value for t in tensors(v)]
        return []

    def hook(module: Any, args: Any, output: Any) -> None:
        outs = tensors(output)
        alive.extend(outs)
        for t in outs:
            seen.setdefault(t.data_ptr(), t.numel() * t.element_size())
        layer = {t.data_ptr(): t.numel() * t.element_size() for t in tensors(args) + outs}
        peak[0] = max(peak[0], sum(layer.values()))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return sum(seen.values()), peak[0]


def cost_card(
    config: str,
    window: int = DEFAULT_WINDOW,
    repeats: int = 100,
    warmup: int = 10,
    threads: int | None = 1,
) -> dict[str, Any]:
    """Size, memory, MACs and batch-1 CPU latency of one configuration (eval mode).

    Returns:
        ``config``, ``params``, ``weights_mb`` (parameters at fp32, decimal MB),
        ``activation_mb`` (all distinct tensors a batch-1 forward creates, input included,
        fp32, from forward hooks on the leaf modules: the memory if nothing is freed),
        ``peak_layer_mb`` (the largest input + output of a single layer: what a
        layer-by-layer runtime holds at least), ``macs`` (``bench.macs``; it counts the
        GRU's matrix products, but not an LSTM's fused kernel), ``latency_ms`` (median),
        ``latency_p10_ms``, ``latency_p90_ms``, ``threads`` and ``window``.
    """
    import torch

    from pose_helpers.cost import bench
    from pose_helpers.models.registry import create_model

    name = model_name(config)
    torch.manual_seed(0)
    model = create_model(name).eval()
    shape = (window, *FRAME_SHAPE)
    params = bench.count_params(model)
    activation, peak = _activation_bytes(model, torch.randn(1, *shape).abs())
    timing = bench.latency(model, shape, threads=threads, warmup=warmup, repeats=repeats)
    return {
        "config": name.removeprefix("mmwave_"),
        "params": params,
        "weights_mb": params * 4 / 1e6,
        "activation_mb": activation / 1e6,
        "peak_layer_mb": peak / 1e6,
        "macs": bench.macs(model, shape),
        "latency_ms": timing.median_ms,
        "latency_p10_ms": timing.p10_ms,
        "latency_p90_ms": timing.p90_ms,
        "threads": timing.threads,
        "window": int(window),
    }


def cost_cards(
    configs: Sequence[str] = (*CONFIG_NAMES, REFERENCE),
    window: int = DEFAULT_WINDOW,
    repeats: int = 100,
    threads: int | None = 1,
) -> pd.DataFrame:
    """:func:`cost_card` of each configuration, one row each."""
    return pd.DataFrame(
        [cost_card(c, window=window, repeats=repeats, threads=threads) for c in configs]
    )


def compare_cells(
    windows: Sequence[int] = (1, 2, 4, 8),
    config: str = "baseline",
    repeats: int = 100,
    threads: int | None = 1,
) -> pd.DataFrame:
    """Parameters and batch-1 latency of a configuration with a GRU and with an LSTM.

    The measurement behind the default cell (``models.mmwave.DEFAULT_CELL``).
    """
    import torch

    from pose_helpers.cost import bench
    from pose_helpers.models.registry import create_model

    rows = []
    for cell in ("gru", "lstm"):
        torch.manual_seed(0)
        model = create_model(model_name(config), cell=cell).eval()
        for window in windows:
            timing = bench.latency(model, (window, *FRAME_SHAPE), threads=threads, repeats=repeats)
            rows.append(
                {
                    "cell": cell,
                    "window": int(window),
                    "params": bench.count_params(model),
                    "latency_ms": timing.median_ms,
                    "latency_p10_ms": timing.p10_ms,
                    "latency_p90_ms": timing.p90_ms,
                }
            )
    return pd.DataFrame(rows)


def latency_floor() -> Any:
    """The cheapest model with a radar model's input and output shapes: the first 57 input
    values as the "joints". What a runtime charges per call before any model runs."""
    from torch import nn

    class LatencyFloor(nn.Module):
        def forward(self, x: Any) -> Any:
            return x.flatten(1)[:, :57] * 1.0

    return LatencyFloor().eval()


def _runtime_models(configs: Sequence[str]) -> dict[str, Any]:
    import torch

    from pose_helpers.models.registry import create_model

    models = {}
    for config in configs:
        torch.manual_seed(0)
        models[model_name(config).removeprefix("mmwave_")] = create_model(model_name(config)).eval()
    models[FLOOR] = latency_floor()
    return models


def _export_all(
    models: dict[str, Any], shape: tuple[int, ...], batches: Sequence[int], folder: Path
) -> tuple[dict[tuple[str, int], Path], dict[tuple[str, int], str]]:
    """ONNX files per (config, batch), and why an export failed where one did."""
    from pose_helpers.cost.deploy import export_onnx

    files, notes = {}, {}
    for name, model in models.items():
        for batch in batches:
            try:
                with warnings.catch_warnings():
                    # GRU weights are plain attributes, not buffers: harmless for export.
                    warnings.filterwarnings("ignore", message=".*were assigned during export.*")
                    files[name, batch] = export_onnx(
                        model, folder / f"{name}-b{batch}.onnx", shape, batch_size=batch, atol=1e-3
                    )
            except Exception as error:  # noqa: BLE001 - the row says why and keeps PyTorch's
                notes[name, batch] = f"export failed: {type(error).__name__}: {str(error)[:120]}"
    return files, notes


def runtime_latency(
    configs: Sequence[str] = (*CONFIG_NAMES, REFERENCE),
    window: int = DEFAULT_WINDOW,
    batches: Sequence[int] = (1, 32),
    repeats: int = 60,
    rounds: int = 3,
    threads: int = 1,
) -> pd.DataFrame:
    """Latency of each configuration and of the floor in PyTorch eager and ONNX Runtime (fp32).

    Every (model, runtime, batch) is timed ``repeats // rounds`` times per round, the models
    in turns; a row reports the median over rounds of the rounds' medians
    (:func:`bench.over_rounds`) with the 10th/90th percentiles of those medians.

    Returns:
        One row per (config, runtime, batch): ``config`` (the configurations, then
        :data:`FLOOR`), ``runtime``, ``batch``, ``latency_ms`` (per call),
        ``latency_p10_ms``, ``latency_p90_ms``, ``per_window_ms`` (per call / batch),
        ``floor_ms`` (the floor's per-call latency in that runtime and batch),
        ``above_floor_ms`` and ``note`` (why a row is NaN: ONNX Runtime not installed, or
        an export that failed).

    Raises:
        ValueError: for no batch, a batch below 1, ``rounds < 1`` or ``repeats < rounds``.
    """
    from pose_helpers.cost import bench
    from pose_helpers.cost.rounds import interleaved_rounds

    if not batches or min(int(b) for b in batches) < 1 or rounds < 1 or repeats < rounds:
        raise ValueError(
            f"batches={list(batches)!r}, rounds={rounds!r}, repeats={repeats!r}; expected "
            "batches >= 1 and repeats >= rounds >= 1"
        )
    shape = (int(window), *FRAME_SHAPE)
    models = _runtime_models(configs)
    per_round = repeats // rounds
    try:
        from pose_helpers.cost.deploy import ort_latency
    except ImportError as error:  # the runtime is optional for this table
        ort_latency, missing = None, f"not measured: {error}"
    notes: dict[tuple[str, str, int], str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        files, failed = (
            ({}, {}) if ort_latency is None else _export_all(models, shape, batches, Path(tmp))
        )
        # (name, runtime, batch) -> one timed measurement, in the order of the rounds' turns
        calls: dict[tuple[str, str, int], Any] = {}
        for name, model in models.items():
            for batch in batches:
                calls[name, "pytorch", batch] = lambda m=model, b=batch: bench.latency(
                    m, shape, batch_size=b, threads=threads, repeats=per_round
                )
                if (name, batch) in files:
                    calls[name, "onnxruntime", batch] = lambda f=files[name, batch], b=batch: (
                        ort_latency(f, shape, batch_size=b, threads=threads, repeats=per_round)
                    )
                else:
                    why = missing if ort_latency is None else failed[name, batch]
                    notes[name, "onnxruntime", batch] = why
        timings = dict(zip(calls, interleaved_rounds(list(calls.values()), rounds), strict=True))
    rows = []
    for name in models:
        for runtime in RUNTIMES:
            for batch in batches:
                timing = timings.get((name, runtime, batch))
                note = notes.get((name, runtime, batch), "")
                if timing is None and not note:
                    note = "not supported by this runtime"
                rows.append(
                    {
                        "config": name,
                        "runtime": runtime,
                        "batch": int(batch),
                        "latency_ms": math.nan if timing is None else timing.median_ms,
                        "latency_p10_ms": math.nan if timing is None else timing.p10_ms,
                        "latency_p90_ms": math.nan if timing is None else timing.p90_ms,
                        "note": note,
                    }
                )
    table = pd.DataFrame(rows)
    table["per_window_ms"] = table["latency_ms"] / table["batch"]
    floor = table[table["config"] == FLOOR].set_index(["runtime", "batch"])["latency_ms"]
    table["floor_ms"] = [
        floor.get((r, b), math.nan) for r, b in zip(table["runtime"], table["batch"], strict=True)
    ]
    table["above_floor_ms"] = table["latency_ms"] - table["floor_ms"]
    columns = ["config", "runtime", "batch", "latency_ms", "latency_p10_ms", "latency_p90_ms"]
    return table[[*columns, "per_window_ms", "floor_ms", "above_floor_ms", "note"]]


def latency_savings(
    latencies: pd.DataFrame, config: str = "impr_small", reference: str = "baseline"
) -> pd.DataFrame:
    """``config``'s latency saving over ``reference`` per runtime and batch, as measured and
    above the floor, beside the poster's printed saving (``seed_table('mmwave_findings')``).

    Columns: ``runtime``, ``batch``, ``latency_ms``, ``reference_ms``, ``floor_ms``,
    ``saving_pct`` (``100 (1 - latency / reference)``), ``saving_above_floor_pct`` (the same
    with the floor subtracted from both) and ``paper_saving_pct``.
    """
    from pose_helpers.chapters.references import seed_table

    paper = seed_table("mmwave_findings")
    printed = paper[(paper["model"] == config) & (paper["metric"] == "latency")]["value_pct"]
    by = latencies.set_index(["config", "runtime", "batch"])
    rows = []
    for (runtime, batch), _ in latencies.groupby(["runtime", "batch"], sort=False):
        own, ref = by.loc[(config, runtime, batch)], by.loc[(reference, runtime, batch)]
        rows.append(
            {
                "runtime": runtime,
                "batch": int(batch),
                "latency_ms": own["latency_ms"],
                "reference_ms": ref["latency_ms"],
                "floor_ms": own["floor_ms"],
                "saving_pct": 100 * (1 - own["latency_ms"] / ref["latency_ms"]),
                "saving_above_floor_pct": 100 * (1 - own["above_floor_ms"] / ref["above_floor_ms"]),
                "paper_saving_pct": float(printed.iloc[0]) if len(printed) else math.nan,
            }
        )
    return pd.DataFrame(rows)
