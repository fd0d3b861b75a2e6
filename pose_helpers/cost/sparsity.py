"""Random versus structured sparsity: what each saves in time and memory on this CPU.

Two consecutive 3x3 convolutions (``C -> C -> C``, batch 1) stand in for a ResNet stage.
Three ways to make the first layer's output channels sparse at a fraction ``s``:

* **random**: a fraction ``s`` of the weights of both layers are zero, the tensors keep
  their dense shapes and run through the same dense kernel;
* **random, CSR**: the same zeros, stored in compressed sparse rows and multiplied with an
  im2col'ed input (what a sparse library can do with random zeros);
* **structured**: a fraction ``s`` of the first layer's output channels were removed, so the
  first conv is ``C -> (1-s)C`` and the second ``(1-s)C -> C`` (channel surgery).

Only the last one changes the shapes, so only it shrinks the work of a dense kernel.
Defined for the chapter ``notebooks/regularization_theory.ipynb`` (thesis section 4.2).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from pose_helpers.core.repro import torch_threads
from pose_helpers.cost.bench import time_interleaved

__all__ = [
    "ConvPair",
    "benchmark_sparsity",
    "csr_nbytes",
    "make_conv_pair",
    "memory_table",
    "plot_timing",
    "prune_conv_in_channels",
    "prune_conv_out_channels",
    "random_sparse_",
    "structured_pair",
    "verdict",
    "verdict_markdown",
]

FLOAT_BYTES = 4


# --------------------------------------------------------------------------- building blocks
@dataclass
class ConvPair:
    """Two consecutive convolutions ``conv2(relu(conv1(x)))``."""

    conv1: nn.Conv2d
    conv2: nn.Conv2d

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(torch.relu(self.conv1(x)))

    def num_weights(self) -> int:
        return self.conv1.weight.numel() + self.conv2.weight.numel()


def make_conv_pair(channels: int, kernel_size: int = 3, *, seed: int = 0) -> ConvPair:
    """Return two ``channels -> channels`` convolutions with 'same' padding (no bias)."""
    if channels < 1 or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(
            f"need channels >= 1 and an odd kernel_size, got {channels=} {kernel_size=}"
        )
    gen = torch.Generator().manual_seed(seed)
    convs = []
    for _ in range(2):
        conv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, bias=False)
        with torch.no_grad():
            fan_in = channels * kernel_size**2
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) / fan_in**0.5)
        conv.requires_grad_(False)
        convs.append(conv)
    return ConvPair(*convs)


def random_sparse_(conv: nn.Conv2d, sparsity: float, *, seed: int = 0) -> nn.Conv2d:
    """Zero exactly ``round(sparsity * numel)`` randomly chosen weights of ``conv`` in place."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must lie in [0, 1), got {sparsity}")
    weight = conv.weight
    n_zero = int(round(sparsity * weight.numel()))
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(weight.numel(), generator=gen)[:n_zero]
    with torch.no_grad():
        weight.view(-1)[idx] = 0.0
    return conv


def _check_keep(keep: Sequence[int] | torch.Tensor, n: int, what: str) -> torch.Tensor:
    keep = torch.as_tensor(keep, dtype=torch.long).sort().values
    if keep.numel() == 0:
        raise ValueError(f"cannot keep zero {what} channels")
    if keep.unique().numel() != keep.numel():
        raise ValueError(f"duplicate {what} channel indices: {keep.tolist()}")
    if keep[0] < 0 or keep[-1] >= n:
        raise ValueError(f"{what} channel indices must lie in [0, {n}), got {keep.tolist()}")
    return keep


def prune_conv_out_channels(conv: nn.Conv2d, keep: Sequence[int] | torch.Tensor) -> nn.Conv2d:
    """Return a new, smaller conv with only the output channels ``keep`` (weights copied)."""
    if conv.groups != 1:
        raise NotImplementedError("grouped convolutions are not supported")
    keep = _check_keep(keep, conv.out_channels, "output")
    new = nn.Conv2d(
        conv.in_channels,
        keep.numel(),
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        bias=conv.bias is not None,
    )
    with torch.no_grad():
        new.weight.copy_(conv.weight[keep])
        if conv.bias is not None:
            new.bias.copy_(conv.bias[keep])
    return new.requires_grad_(False)


def prune_conv_in_channels(conv: nn.Conv2d, keep: Sequence[int] | torch.Tensor) -> nn.Conv2d:
    """Return a new, smaller conv that reads only the input channels ``keep``."""
    if conv.groups != 1:
        raise NotImplementedError("grouped convolutions are not supported")
    keep = _check_keep(keep, conv.in_channels, "input")
    new = nn.Conv2d(
        keep.numel(),
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        bias=conv.bias is not None,
    )
    with torch.no_grad():
        new.weight.copy_(conv.weight[:, keep])
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new.requires_grad_(False)


def structured_pair(
    pair: ConvPair, sparsity: float, *, seed: int = 0
) -> tuple[ConvPair, torch.Tensor]:
    """Remove a random fraction ``sparsity`` of ``pair.conv1``'s output channels.

    The second conv loses the matching input channels (Torch-Pruning's inter-layer rule).
    Returns the smaller pair and the sorted indices of the channels kept.
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must lie in [0, 1), got {sparsity}")
    channels = pair.conv1.out_channels
    n_keep = max(1, int(round((1.0 - sparsity) * channels)))
    gen = torch.Generator().manual_seed(seed)
    keep = torch.randperm(channels, generator=gen)[:n_keep].sort().values
    small = ConvPair(
        prune_conv_out_channels(pair.conv1, keep), prune_conv_in_channels(pair.conv2, keep)
    )
    return small, keep


# --------------------------------------------------------------------------- CSR
def csr_nbytes(
    n_rows: int, n_cols: int, nnz: int, *, value_bytes: int = 4, index_bytes: int = 4
) -> int:
    """Bytes of a CSR matrix: ``nnz`` values and column indices plus ``n_rows + 1`` row pointers."""
    if n_rows < 0 or n_cols < 0 or not 0 <= nnz <= n_rows * n_cols:
        raise ValueError(f"invalid CSR shape/nnz: {n_rows=} {n_cols=} {nnz=}")
    return nnz * (value_bytes + index_bytes) + (n_rows + 1) * index_bytes


class _CSRConv:
    """A conv as ``CSR(weight) @ im2col(x)``: what a sparse kernel does with random zeros."""

    def __init__(self, conv: nn.Conv2d):
        self.conv = conv
        with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
            warnings.simplefilter("ignore", UserWarning)
            self.weight = conv.weight.reshape(conv.out_channels, -1).to_sparse_csr()
        self.nnz = int(self.weight.values().numel())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        n, _, h, w = x.shape
        cols = F.unfold(x, c.kernel_size, dilation=c.dilation, padding=c.padding, stride=c.stride)
        out = torch.stack([self.weight @ cols[i] for i in range(n)])
        return out.reshape(n, c.out_channels, h, w)


# --------------------------------------------------------------------------- timing
def _summary(times: np.ndarray) -> dict[str, float]:
    """The table's statistics of one variant's seconds: median, interquartile range, minimum."""
    ms = 1e3 * times
    q25, q75 = np.percentile(ms, [25, 75])
    return {
        "median_ms": float(np.median(ms)),
        "iqr_ms": float(q75 - q25),
        "min_ms": float(ms.min()),
    }


def benchmark_sparsity(
    *,
    channels: int = 256,
    size: int = 56,
    sparsity_levels: Sequence[float] = (0.5, 0.75, 0.9),
    repeats: int = 10,
    warmup: int = 2,
    threads: int = 1,
    include_csr: bool = True,
    seed: int = 0,
) -> pd.DataFrame:
    """Time the conv pair dense, randomly sparse and structurally sparse at each level.

    Runs under ``torch.inference_mode`` with ``threads`` torch threads (restored afterwards,
    :func:`pose_helpers.core.repro.torch_threads`); the variants are timed in turns
    (:func:`bench.time_interleaved`) so that a slow spell of a shared machine hits all of
    them alike.

    Returns:
        One row per (method, sparsity): ``method`` (``dense``, ``random``, ``random (CSR)``,
        ``structured``), ``sparsity``, ``median_ms``, ``iqr_ms``, ``min_ms``, ``speedup``
        (dense median / this median) and ``flops_fraction`` (dense-kernel work relative to
        dense: 1 for random, ``(1-s)`` for structured, ``1-s`` multiply-adds for CSR).
    """
    pair = make_conv_pair(channels, seed=seed)
    x = torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(seed + 1))
    variants: dict[tuple[str, float], tuple[Callable[[], object], float]] = {
        ("dense", 0.0): (lambda: pair(x), 1.0)
    }
    for k, s in enumerate(sparsity_levels):
        rand = make_conv_pair(channels, seed=seed)
        random_sparse_(rand.conv1, s, seed=seed + 10 + k)
        random_sparse_(rand.conv2, s, seed=seed + 20 + k)
        variants[("random", s)] = ((lambda p=rand: p(x)), 1.0)
        if include_csr:
            c1, c2 = _CSRConv(rand.conv1), _CSRConv(rand.conv2)
            variants[("random (CSR)", s)] = ((lambda a=c1, b=c2: b(torch.relu(a(x)))), 1.0 - s)
        small, keep = structured_pair(pair, s, seed=seed + 30 + k)
        frac = keep.numel() / channels
        variants[("structured", s)] = ((lambda p=small: p(x)), frac)

    with torch_threads(threads), torch.inference_mode():
        times = time_interleaved(
            {key: fn for key, (fn, _) in variants.items()}, warmup=warmup, repeats=repeats
        )

    rows = []
    for (method, s), (_, frac) in variants.items():
        rows.append(
            {
                "method": method,
                "sparsity": s,
                **_summary(times[(method, s)]),
                "flops_fraction": frac,
            }
        )
    df = pd.DataFrame(rows)
    dense_ms = df.loc[df["method"] == "dense", "median_ms"].iloc[0]
    df["speedup"] = dense_ms / df["median_ms"]
    return df[["method", "sparsity", "median_ms", "iqr_ms", "min_ms", "speedup", "flops_fraction"]]


def verdict(df: pd.DataFrame, *, margin: float = 1.3) -> dict[str, object]:
    """Summarize a :func:`benchmark_sparsity` table in a few robust numbers.

    Compares, at the highest sparsity, the structured speedup with the random (dense
    kernel) speedup. ``structured_wins`` is true when structured is at least ``margin``
    times faster than random at that level, and ``random_saves_nothing`` when the random
    dense-kernel speedup stays below ``margin`` at every level.
    """
    top = float(df["sparsity"].max())
    at = df[df["sparsity"] == top].set_index("method")["speedup"]
    rand = df[df["method"] == "random"]["speedup"]
    return {
        "sparsity": top,
        "structured_speedup": float(at["structured"]),
        "random_speedup": float(at["random"]),
        "csr_speedup": float(at["random (CSR)"]) if "random (CSR)" in at else float("nan"),
        "structured_over_random": float(at["structured"] / at["random"]),
        "structured_wins": bool(at["structured"] >= margin * at["random"]),
        "random_saves_nothing": bool((rand < margin).all()),
    }


def verdict_markdown(df: pd.DataFrame, *, margin: float = 1.3) -> str:
    """The chapter's sentence on a :func:`benchmark_sparsity` table (Markdown), from
    :func:`verdict`.

    When structured sparsity wins and random sparsity saves nothing, it states both speed-ups
    and the range of the random ones; otherwise it calls the run inconclusive. The CSR
    kernel's speed-up is added when the table has CSR rows.
    """
    v = verdict(df, margin=margin)
    if v["structured_wins"] and v["random_saves_nothing"]:
        rand = df.loc[df["method"] == "random", "speedup"]
        text = (
            f"At {v['sparsity']:.0%} sparsity the structured pair runs "
            f"{v['structured_speedup']:.1f}× faster than dense, "
            f"{v['structured_over_random']:.1f}× faster than the randomly sparse pair, whose "
            f"speed-up stays between {rand.min():.2f}× and {rand.max():.2f}× at every level: "
            "dense speed, up to timing noise"
        )
    else:
        text = (
            f"On this run the measurement is inconclusive: at {v['sparsity']:.0%} sparsity "
            f"structured {v['structured_speedup']:.2f}×, random {v['random_speedup']:.2f}× "
            "(the machine may be busy)"
        )
    if "random (CSR)" in set(df["method"]):
        text += f", and the CSR kernel on the random zeros reaches {v['csr_speedup']:.2f}×"
    return text + ". Only structured sparsity turns zeros into time saved."


# --------------------------------------------------------------------------- memory
def memory_table(
    *,
    channels: int = 256,
    size: int = 56,
    sparsity_levels: Sequence[float] = (0.5, 0.75, 0.9),
    kernel_size: int = 3,
) -> pd.DataFrame:
    """Bytes (float32, 4-byte indices) of the conv pair's weights and intermediate activation.

    ``dense``: both weights and the ``C x size x size`` activation between the convs.
    ``random``: dense storage (same tensors) and CSR storage of the weights (each conv as a
    ``C x C*k*k`` matrix with ``(1-s)`` of the entries non-zero); activation unchanged.
    ``structured``: the smaller tensors, activation ``(1-s)C x size x size``.
    """
    k2 = kernel_size**2
    dense_w = 2 * channels * channels * k2 * FLOAT_BYTES
    dense_a = channels * size * size * FLOAT_BYTES
    rows = [
        {
            "storage": "dense",
            "sparsity": 0.0,
            "weights_kib": dense_w / 1024,
            "activation_kib": dense_a / 1024,
        }
    ]
    for s in sparsity_levels:
        nnz = int(round((1.0 - s) * channels * channels * k2))
        csr = 2 * csr_nbytes(channels, channels * k2, nnz)
        kept = max(1, int(round((1.0 - s) * channels)))
        rows += [
            {
                "storage": "random, dense tensor",
                "sparsity": s,
                "weights_kib": dense_w / 1024,
                "activation_kib": dense_a / 1024,
            },
            {
                "storage": "random, CSR",
                "sparsity": s,
                "weights_kib": csr / 1024,
                "activation_kib": dense_a / 1024,
            },
            {
                "storage": "structured",
                "sparsity": s,
                "weights_kib": 2 * kept * channels * k2 * FLOAT_BYTES / 1024,
                "activation_kib": kept * size * size * FLOAT_BYTES / 1024,
            },
        ]
    df = pd.DataFrame(rows)
    df["weights_fraction"] = df["weights_kib"] / (dense_w / 1024)
    return df


# --------------------------------------------------------------------------- figure
def plot_timing(df: pd.DataFrame):
    """Bars of the speed-up over dense per sparsity level and method (log scale).

    Black ticks mark the ideal speed-up of the structured pair, ``1 / flops_fraction``.
    """
    import matplotlib.pyplot as plt

    methods = [m for m in ("random", "random (CSR)", "structured") if m in set(df["method"])]
    levels = sorted(df.loc[df["method"] != "dense", "sparsity"].unique())
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(8, 4), constrained_layout=True)
    x = np.arange(len(levels))
    for k, method in enumerate(methods):
        sub = df[df["method"] == method].set_index("sparsity").loc[levels]
        pos = x - 0.4 + width * (k + 0.5)
        ax.bar(pos, sub["speedup"], width=width * 0.95, color=f"C{k}", label=method)
        for p_, s_ in zip(pos, sub["speedup"], strict=True):
            ax.annotate(
                f"{s_:.2f}×",
                (p_, s_),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                fontsize=7,
            )
        if method == "structured":
            ax.plot(
                pos,
                1.0 / sub["flops_fraction"],
                "_",
                color="black",
                ms=18,
                mew=2,
                label="ideal 1/(1-s)",
            )
    ax.axhline(1.0, color="black", lw=1, ls="--")
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(x, [f"{s:.0%}" for s in levels])
    ax.set_xlabel("sparsity s (weights for random, channels for structured)")
    ax.set_ylabel("speed-up over dense (log)")
    ax.set_title("conv pair forward time: dense time / variant time")
    ax.legend(fontsize=8, loc="upper left")
    return fig
