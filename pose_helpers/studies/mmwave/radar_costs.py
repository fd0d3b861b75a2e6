"""What each mmWave configuration costs: parameters, memory, MACs and batch-1 CPU latency.

:func:`cost_card` measures one configuration, :func:`cost_cards` all of them, and
:func:`compare_cells` the GRU against an LSTM (the measurement behind
``models.mmwave.DEFAULT_CELL``). Latencies come from :func:`pose_helpers.cost.bench.latency`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from pose_helpers.models.mmwave import DEFAULT_WINDOW, FRAME_SHAPE
from pose_helpers.studies.mmwave.radar_runs import CONFIG_NAMES, REFERENCE, model_name

__all__ = ["compare_cells", "cost_card", "cost_cards"]


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
