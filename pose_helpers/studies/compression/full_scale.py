"""The engineered networks' speed at the thesis's scale (section 5.4's claim, Table 5.9's setting).

The per-stage channel keep ratios an engineered CPU-scale network reached are carried to the
full ResNet-50 Simple Baselines at 256 x 256 (:func:`surgery.apply_keep_ratios`; the weights
kept are the dense model's own: this measures cost, not accuracy) and timed beside the dense
model and a dense model with a share of its weights zeroed at random (what L1 gives).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pandas as pd

from pose_helpers.studies.compression.common import FULL_SCALE_INPUT, FULL_SCALE_MODEL
from pose_helpers.studies.compression.engineering import example_input

__all__ = ["full_scale_latency", "full_scale_models"]


def _cost_row(variant: str, net: Any, shape: tuple[int, int, int], timing: Any) -> dict[str, Any]:
    from pose_helpers.cost import bench

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
    example = example_input(min(input_size, 64), batch=1)
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
    from pose_helpers.cost.bench import latency
    from pose_helpers.cost.rounds import check_rounds, interleaved_rounds

    rounds = check_rounds(rounds)
    shape = (3, input_size, input_size)
    nets = [
        ("dense", dense),
        *engineered,
        (f"random sparsity ({100 * random_sparsity:.0f} % of conv weights zero)", sparse),
    ]
    timings = interleaved_rounds(
        [
            lambda net=net: latency(net, shape, threads=threads, warmup=warmup, repeats=repeats)
            for _, net in nets
        ],
        rounds,
    )
    rows = [_cost_row(name, net, shape, t) for (name, net), t in zip(nets, timings, strict=True)]
    out = pd.DataFrame(rows)
    dense_row = out.iloc[0]
    out.insert(3, "retained", out["nonzero_params"] / dense_row["nonzero_params"])
    out.insert(5, "theoretical_mb", out["retained"] * dense_row["checkpoint_mb"])
    out["speedup"] = dense_row["latency_ms"] / out["latency_ms"]
    out["input_size"] = input_size
    return out
