"""Scoring heatmaps however they were computed: a PyTorch model or an ONNX Runtime session,
decoded by the quarter-pixel shift (the reference code's) or by DARK (seed 002), on the
validation renders of the compression chapters' baseline.

The two steps are apart on purpose: :func:`validation_heatmaps` runs a model once, and
:func:`heatmap_pckh` decodes and scores the same heatmaps as often as needed, so a decoder
is compared with no retraining and no second forward pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DECODERS",
    "decoding_note",
    "decoding_table",
    "heatmap_pckh",
    "validation_heatmaps",
]

#: The decoders: the argmax moved a quarter pixel toward the higher neighbour (Simple
#: Baselines' and the hourglass's reference code) and DARK's Taylor step.
DECODERS = ("quarter", "dark")


def validation_heatmaps(
    model: Any, data: Any, *, batch_size: int = 64, threads: int | None = 1
) -> dict[str, np.ndarray]:
    """The model's heatmaps of every item of ``data`` (the last stack's), beside what PCKh
    needs: ``heatmaps`` (N, J, h, w), ``gt`` (N, J, 2) in input pixels, ``head_size``,
    ``visible`` and ``input_size`` (w, h).

    ``model``: a PyTorch module (run in eval mode, its mode restored) or an ONNX Runtime
    session (:func:`pose_helpers.cost.deploy.ort_session`; run on float32 images).
    """
    import torch
    from torch.utils.data import DataLoader

    from pose_helpers.core.repro import torch_threads
    from pose_helpers.studies.deployment.formats import ort_outputs

    is_torch = isinstance(model, torch.nn.Module)
    was_training = model.training if is_torch else False
    heatmaps, joints, heads, visible = [], [], [], []
    size = None
    try:
        if is_torch:
            model.eval()
        with torch_threads(threads), torch.inference_mode():
            for batch in DataLoader(data, batch_size=batch_size, shuffle=False):
                images = batch["image"]
                size = (images.shape[-1], images.shape[-2])
                if is_torch:
                    out = model(images)
                    out = out[-1] if isinstance(out, list | tuple) else out
                    heatmaps.append(out.float().numpy())
                else:
                    heatmaps.append(ort_outputs(model, images.numpy()).astype(np.float32))
                joints.append(np.asarray(batch["joints"], dtype=np.float64))
                heads.append(np.asarray(batch["head_size"], dtype=np.float64).reshape(-1))
                visible.append(np.asarray(batch["visible"]).astype(bool))
    finally:
        if is_torch:
            model.train(was_training)
    return {
        "heatmaps": np.concatenate(heatmaps),
        "gt": np.concatenate(joints),
        "head_size": np.concatenate(heads),
        "visible": np.concatenate(visible),
        "input_size": np.asarray(size),
    }


def heatmap_pckh(
    outputs: Mapping[str, np.ndarray], decoder: str = "quarter", sigma: float = 1.0
) -> float:
    """Mean PCKh@0.5 (%) of :func:`validation_heatmaps`' heatmaps decoded by ``decoder``
    (``sigma``: DARK's modulation kernel, the targets' standard deviation in heatmap pixels).

    Raises:
        ValueError: for an unknown decoder.
    """
    from pose_helpers import metrics
    from pose_helpers.decode.dark import dark_coords

    if decoder not in DECODERS:
        raise ValueError(f"decoder={decoder!r}; expected one of {DECODERS}")
    hm = outputs["heatmaps"]
    if decoder == "quarter":
        coords, _ = metrics.heatmaps_to_coords(hm)
    else:
        coords, _ = dark_coords(hm, sigma=sigma)
    size = tuple(int(v) for v in outputs["input_size"])
    pred = metrics.heatmap_to_image_coords(coords, size, (hm.shape[-1], hm.shape[-2]))
    per_joint = metrics.pckh(pred, outputs["gt"], outputs["head_size"], outputs["visible"])
    return float(metrics.pckh_table(per_joint)["Mean"])


def decoding_table(
    scores: Mapping[str, Mapping[str, Any]], heads: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Each model's PCKh under every decoder: ``model``, ``heatmap_size``, ``pckh_quarter``,
    ``pckh_dark`` and ``dark_change`` (points). ``scores``: :func:`.scores.deployed_scores`
    (``heatmap_size``, ``pckh_quarter``, ``pckh_dark`` by model); ``heads``: the head table,
    whose runs scored their heatmaps both ways already (one row per design)."""
    rows = [
        {
            "model": name,
            "heatmap_size": score["heatmap_size"],
            "pckh_quarter": float(score["pckh_quarter"]),
            "pckh_dark": float(score["pckh_dark"]),
        }
        for name, score in scores.items()
    ]
    for _, row in (heads if heads is not None else pd.DataFrame()).iterrows():
        size = rows[0]["heatmap_size"] if rows else ""
        rows.append(
            {
                "model": f"head {row['design']} (re-headed)",
                "heatmap_size": size,
                "pckh_quarter": float(row["pckh"]),
                "pckh_dark": float(row["pckh_dark"]),
            }
        )
    table = pd.DataFrame(rows, columns=["model", "heatmap_size", "pckh_quarter", "pckh_dark"])
    table["dark_change"] = table["pckh_dark"] - table["pckh_quarter"]
    return table


def decoding_note(table: pd.DataFrame, noise: float) -> str:
    """What DARK changed, against ``noise`` (the baseline's seed spread in PCKh points)."""
    if table.empty:
        return "No model was decoded."
    lo, hi = table["dark_change"].min(), table["dark_change"].max()
    within = bool(np.isfinite(noise)) and max(abs(lo), abs(hi)) <= noise
    parts = [
        f"DARK changes mean PCKh@0.5 by {lo:+.2f} to {hi:+.2f} points across "
        f"{len(table)} model(s), with no retraining",
    ]
    if np.isfinite(noise):
        parts.append(
            f"{'within' if within else 'beyond'} the seed noise of ±{noise:.2f} points"
            + (
                ""
                if within
                else f" ({'a gain' if lo > 0 else 'a loss' if hi < 0 else 'mixed signs'})"
            )
        )
    return "; ".join(parts) + "."
