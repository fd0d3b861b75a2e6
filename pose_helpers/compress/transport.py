"""Carrying the thesis's λ into this book's training: a computed rule, each reading stated.

An L1 penalty ``λ Σ|w|`` pulls every weight towards zero with a force λ; the data term
pushes back with its gradient ``∂E/∂w``. What a λ does therefore depends on the ratio
``λ / |∂E/∂w|``, and two trainings strike the same trade-off when that ratio is the same:

    λ_ours = λ_thesis × g_ours / g_thesis,

with ``g`` the median ``|∂E/∂w|`` over the convolution weights (:func:`gradient_scale`),
measured at the same point of training (the same initialization recipe, default heads, so
that gradients reach every layer) under each setting's data loss. The thesis's data term is
read two ways (:data:`READINGS`), from its Table 5.2 (``seed_table('thesis_table_5_2')``):

* ``printed``: eq. 5.1 as printed, the sum of squared errors over the heatmap's pixels and
  joints (Table 5.2: 256 x 256 x 16), per image. Its gradient is that of the per-pixel mean
  times the number of values summed, on the printed grid (a sum over a finer grid of the
  same smooth error field grows with the pixel count);
* ``simple_baselines``: Simple Baselines' ``JointsMSELoss``, 0.5 x the mean over pixels and
  joints (the thesis says its settings are Simple Baselines'; their heatmaps are a quarter
  of the input side).

``g_thesis`` is measured on the full-scale network at the thesis's input size with the
per-pixel mean (:func:`heatmap_loss`) and converted by each reading's factor; ``g_ours`` on
the book's CPU-scale baseline with its own loss. :func:`transport_table` prints every number
of the rule, :func:`to_ours` applies it.

The optimizer matters as well: under SGD (Table 5.2) a weight moves by ``lr (∂E/∂w + λ sign
w)`` per step, so λ alone can move it by at most ``lr λ steps`` over a training
(:func:`sgd_reach`); Adam (Simple Baselines', and ours) divides each step by a running RMS of
the gradient, so only the ratio above matters. The rule is exact for Adam's trade-off and a
first-order reading for SGD's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn

from pose_helpers.cost.bench import CONV_TYPES

__all__ = [
    "READINGS",
    "gradient_scale",
    "sgd_reach",
    "thesis_settings",
    "to_ours",
    "transport_table",
]

#: The two readings of the thesis's data term (module docstring).
READINGS = {
    "printed": "eq. 5.1 as printed: sum of squared errors over the printed heatmap's pixels and joints",
    "simple_baselines": "Simple Baselines' JointsMSELoss: 0.5 x the mean over pixels and joints",
}


def thesis_settings() -> dict[str, Any]:
    """Table 5.2 of the thesis as numbers: ``input_size``, ``heatmap_size``, ``joints``,
    ``epochs``, ``lr``, ``optimizer`` and ``batch_size`` (``seed_table('thesis_table_5_2')``)."""
    from pose_helpers.chapters.references import seed_table

    table = seed_table("thesis_table_5_2").set_index("hyperparameter")["value"]
    side, _, channels = (int(v) for v in table["Input image shape"].split("x"))
    h, w, joints = (int(v) for v in table["Output heatmap shape"].split("x"))
    if h != w or channels != 3:
        raise ValueError(f"unexpected Table 5.2 shapes: input {side}x{channels}, heatmap {h}x{w}")
    return {
        "input_size": side,
        "heatmap_size": h,
        "joints": joints,
        "epochs": int(table["Number of epochs"]),
        "lr": float(table["Learning rate"]),
        "optimizer": str(table["Optimiser"]).lower(),
        "batch_size": int(table["Batch size"]),
    }


def gradient_scale(
    model: nn.Module, batch: Mapping[str, torch.Tensor], loss_fn: Any = None
) -> dict[str, float]:
    """The data term's per-weight gradient over the convolution weights, on one batch.

    The model is in train mode (BatchNorm on batch statistics, as in training) and its
    weights are left unchanged; gradients are zeroed before and after.

    Args:
        model: the network.
        batch: ``image``, ``target`` (heatmaps) and optionally ``target_weight``.
        loss_fn: ``loss_fn(output, target, weight)``; default
            :func:`pose_helpers.train.loop.heatmap_loss` (the per-pixel mean).

    Returns:
        ``median`` and ``rms`` of ``|∂E/∂w|`` over every convolution weight, and ``loss``.

    Raises:
        ValueError: when no convolution weight receives a gradient.
    """
    if loss_fn is None:
        from pose_helpers.train.loop import heatmap_loss as loss_fn
    was_training = model.training
    model.train()
    model.zero_grad(set_to_none=True)
    try:
        loss = loss_fn(model(batch["image"]), batch["target"], batch.get("target_weight"))
        loss.backward()
        grads = [
            m.weight.grad.detach().abs().flatten()
            for m in model.modules()
            if isinstance(m, CONV_TYPES) and m.weight.grad is not None
        ]
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    if not grads:
        raise ValueError("no convolution weight received a gradient: nothing to measure")
    flat = torch.cat(grads).double()
    return {
        "median": float(flat.median()),
        "rms": float(flat.pow(2).mean().sqrt()),
        "loss": float(loss.detach()),
    }


def _reading_factor(reading: str, settings: Mapping[str, Any]) -> float:
    """``g_thesis / g_mean``: how each reading's gradient relates to the per-pixel mean's."""
    if reading == "simple_baselines":
        return 0.5
    if reading == "printed":
        return float(settings["heatmap_size"] ** 2 * settings["joints"])
    raise ValueError(f"reading={reading!r}; expected one of {list(READINGS)}")


def transport_table(
    ours: Mapping[str, float], full_scale: Mapping[str, float], settings: Mapping[str, Any]
) -> pd.DataFrame:
    """Every number of the rule, one row per reading of the thesis's loss.

    Args:
        ours: :func:`gradient_scale` of the book's baseline with its own loss.
        full_scale: :func:`gradient_scale` of the full-scale network at the thesis's input
            with the per-pixel mean loss.
        settings: :func:`thesis_settings`.

    Returns:
        Columns ``reading``, ``description``, ``g_mean_full`` (measured), ``reading_factor``
        (``g_thesis / g_mean_full``), ``g_thesis``, ``g_ours`` (measured) and ``factor``
        (``g_ours / g_thesis``: ``λ_ours = factor × λ_thesis``).

    Raises:
        ValueError: when a measured scale is not positive and finite (the rule would be
            undefined; the training must not start).
    """
    for name, scale in (("ours", ours["median"]), ("full_scale", full_scale["median"])):
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(
                f"gradient scale of {name} is {scale!r}; the λ transport needs a positive "
                "measured gradient (were the heads zero-initialized?)"
            )
    rows = []
    for reading, description in READINGS.items():
        factor = _reading_factor(reading, settings)
        g_thesis = full_scale["median"] * factor
        rows.append(
            {
                "reading": reading,
                "description": description,
                "g_mean_full": full_scale["median"],
                "reading_factor": factor,
                "g_thesis": g_thesis,
                "g_ours": ours["median"],
                "factor": ours["median"] / g_thesis,
            }
        )
    return pd.DataFrame(rows)


def to_ours(lambda_thesis: float, table: pd.DataFrame, reading: str = "simple_baselines") -> float:
    """``λ_ours = factor × λ_thesis`` under one reading of :func:`transport_table`.

    Raises:
        ValueError: for an unknown reading or a negative λ.
    """
    if not lambda_thesis >= 0:
        raise ValueError(f"lambda_thesis={lambda_thesis!r}; expected >= 0")
    row = table.loc[table["reading"] == reading]
    if row.empty:
        raise ValueError(f"reading={reading!r}; the table holds {list(table['reading'])}")
    return float(row["factor"].iloc[0]) * float(lambda_thesis)


def sgd_reach(lambdas: Sequence[float], settings: Mapping[str, Any], n_images: int) -> pd.DataFrame:
    """How far the penalty alone can move a weight under the thesis's SGD: ``lr λ steps``,
    with ``steps = epochs x ceil(n_images / batch_size)`` from Table 5.2.

    Raises:
        ValueError: for ``n_images < 1``.
    """
    if n_images < 1:
        raise ValueError(f"n_images={n_images!r}; expected >= 1")
    steps = settings["epochs"] * math.ceil(n_images / settings["batch_size"])
    return pd.DataFrame(
        {
            "lambda_thesis": list(lambdas),
            "steps": steps,
            "lr": settings["lr"],
            "max_shift": [settings["lr"] * lam * steps for lam in lambdas],
        }
    )
