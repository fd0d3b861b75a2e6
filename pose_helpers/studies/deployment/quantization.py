"""Quantization with accuracy: each model in fp32, fp16, dynamic int8 and static int8 in
ONNX Runtime, its latency at full scale and its PCKh at CPU scale.

Two copies of every model go through the same formats: the **full-scale** network (the
thesis's ResNet-50 Simple Baselines at 256 px, with the model's keep-ratios where it is
engineered; weights are irrelevant to time) is timed at batch 1 on 1 and 2 threads in
interleaved rounds; the **CPU-scale** trained network is scored on the validation renders
(mean PCKh@0.5; a stored run per model, :mod:`.scores`). Static int8 is calibrated on SynthPose *training* renders of a seed of its
own, at each copy's input size, never on the images that score it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pose_helpers.studies.deployment.formats import (
    FORMATS,
    format_files,
    interleaved_ort,
    work_folder,
)

__all__ = [
    "CALIBRATION_SEED",
    "dense_latency",
    "calibration_batches",
    "quantization_note",
    "quantization_table",
    "timing_spread",
]

#: Seed of the calibration renders: neither the training set's (the baseline's seed) nor
#: the validation set's images.
CALIBRATION_SEED = 12345


def calibration_batches(
    baseline: Mapping[str, Any], n: int, input_size: int, batch_size: int = 1
) -> list[np.ndarray]:
    """``n`` SynthPose training renders at ``input_size`` (the baseline's difficulty and
    data, seed :data:`CALIBRATION_SEED`) as float32 batches of ``batch_size`` images.

    Raises:
        ValueError: for ``n < 1``.
    """
    from pose_helpers.data.synthpose import SynthPose

    if n < 1:
        raise ValueError(f"n={n!r}; expected at least one calibration image")
    data = SynthPose(
        "train",
        n=int(n),
        input_size=int(input_size),
        sigma=baseline["sigma"],
        seed=CALIBRATION_SEED,
        difficulty=baseline["difficulty"],
        data_root=baseline.get("data_root"),
    )
    images = np.stack([np.asarray(data[i]["image"], dtype=np.float32) for i in range(len(data))])
    return [images[i : i + batch_size] for i in range(0, len(images), batch_size)]


def quantization_table(
    full_models: Mapping[str, Any],
    scores: Mapping[str, Mapping[str, Any]],
    *,
    full_calibration: Sequence[np.ndarray],
    full_size: int = 256,
    threads: Sequence[int] = (1, 2),
    repeats: int = 10,
    rounds: int = 3,
    formats: Sequence[str] = FORMATS,
    folder: str | Path | None = None,
) -> pd.DataFrame:
    """``quantization.csv``: one row per (model, format, threads).

    Args:
        full_models: ``{name: full-scale model}`` (the first is the dense reference).
        scores: :func:`.scores.deployed_scores` of the same names: the CPU-scale file's
            PCKh and note in each format.
        full_calibration: static int8's calibration batches at full scale.
        threads: ONNX Runtime intra-op threads of the timing.

    Returns:
        Columns ``model``, ``format``, ``runtime`` (``onnxruntime``), ``threads``,
        ``latency_ms``, ``latency_p10_ms``, ``latency_p90_ms``, ``speedup`` (the first
        model's fp32 latency at the same thread count over this row's), ``size_mb`` (the
        full-scale file), ``pckh`` (CPU scale, the same format), ``pckh_change`` (against
        the same model in fp32), ``supported`` and ``note`` (the runtime's message).

    Raises:
        ValueError: when the two dicts name different models or ``scores`` lacks a format,
            or an fp32 export differs from PyTorch beyond the export check's tolerance
            (before any timing).
    """
    if list(full_models) != list(scores):
        raise ValueError(f"full_models {list(full_models)} and scores {list(scores)} differ")
    missing = {n: [f for f in formats if f not in s["format_scores"]] for n, s in scores.items()}
    if any(missing.values()):
        raise ValueError(f"scores lack formats: {missing}")
    shape = (3, int(full_size), int(full_size))
    rows: list[dict[str, Any]] = []
    with work_folder(folder) as work:
        full_files = {
            name: format_files(model, work / f"{i}-full", shape, full_calibration, formats=formats)
            for i, (name, model) in enumerate(full_models.items())
        }
        runnable = {
            (name, fmt): path
            for name, files in full_files.items()
            for fmt, (path, _) in files.items()
            if path is not None
        }
        timings = {
            t: interleaved_ort(
                {f"{n}|{f}": p for (n, f), p in runnable.items()},
                shape,
                threads=t,
                repeats=repeats,
                rounds=rounds,
            )
            for t in threads
        }
        for name, files in full_files.items():
            for fmt, (path, note) in files.items():
                cpu = scores[name]["format_scores"][fmt]
                cpu_note = cpu["note"]
                for t in threads:
                    timing = timings[t].get(f"{name}|{fmt}") if path is not None else None
                    ok = timing is not None and not cpu_note
                    rows.append(
                        {
                            "model": name,
                            "format": fmt,
                            "runtime": "onnxruntime",
                            "threads": int(t),
                            "latency_ms": timing.median_ms if timing else np.nan,
                            "latency_p10_ms": timing.p10_ms if timing else np.nan,
                            "latency_p90_ms": timing.p90_ms if timing else np.nan,
                            "size_mb": path.stat().st_size / 1e6 if path is not None else np.nan,
                            "pckh": float(cpu["pckh"]) if cpu["pckh"] is not None else np.nan,
                            "supported": bool(ok),
                            "note": note
                            or cpu_note
                            or ("" if timing else "the runtime has no kernels for this file"),
                        }
                    )
    table = pd.DataFrame(rows)
    first = next(iter(full_models))
    ref = table[(table["model"] == first) & (table["format"] == "fp32")].set_index("threads")
    table["speedup"] = table["threads"].map(ref["latency_ms"]) / table["latency_ms"]
    fp32 = table[table["format"] == "fp32"].drop_duplicates("model").set_index("model")["pckh"]
    table["pckh_change"] = table["pckh"] - table["model"].map(fp32)
    return table[
        [
            "model",
            "format",
            "runtime",
            "threads",
            "latency_ms",
            "latency_p10_ms",
            "latency_p90_ms",
            "speedup",
            "size_mb",
            "pckh",
            "pckh_change",
            "supported",
            "note",
        ]
    ]


def quantization_note(table: pd.DataFrame, noise: float, max_drop: float = 2.0) -> str:
    """The fastest format within ``max_drop`` PCKh points of the dense fp32 model, per
    thread count, and what int8 costs in accuracy against ``noise`` (seed spread)."""
    if table.empty:
        return "No model was quantized."
    first = table["model"].iloc[0]
    dense = table[(table["model"] == first) & (table["format"] == "fp32")]["pckh"].iloc[0]
    parts = []
    for t, part in table[table["supported"]].groupby("threads"):
        ok = part[part["pckh"] >= dense - max_drop].sort_values("latency_ms")
        if ok.empty:
            continue
        best = ok.iloc[0]
        parts.append(
            f"On {t} thread(s) the fastest file within {max_drop:g} points of the dense fp32 "
            f"model is **{best['model']}, {best['format']}**: {best['latency_ms']:.1f} ms, "
            f"{best['speedup']:.2f}× the dense fp32 file, at {best['pckh']:.1f} % "
            f"({best['pckh'] - dense:+.1f} points)."
        )
    int8 = table[(table["format"].str.startswith("int8")) & table["supported"]]
    for (model, fmt), row in (
        int8.drop_duplicates(["model", "format"]).set_index(["model", "format"]).iterrows()
    ):
        change = row["pckh_change"]
        if np.isfinite(change) and np.isfinite(noise):
            size = "within" if abs(change) <= noise else "beyond"
            parts.append(
                f"{model}, {fmt.replace('_', ' ')}: {change:+.2f} points against its fp32 "
                f"file, {size} the seed noise (±{noise:.2f})."
            )
    missing = table[~table["supported"]].drop_duplicates(["model", "format"])
    for _, row in missing.iterrows():
        parts.append(f"{row['model']}, {row['format']}: not run ({row['note']}).")
    return " ".join(parts)


def _dense_row(table: pd.DataFrame, threads: int) -> pd.Series:
    """The first (dense) model's fp32 row at ``threads`` threads, with a finite latency."""
    first = table["model"].iloc[0] if len(table) else None
    rows = table[
        (table["model"] == first) & (table["format"] == "fp32") & (table["threads"] == threads)
    ]
    if rows.empty or not np.isfinite(rows["latency_ms"].iloc[0]):
        raise ValueError(f"no dense fp32 latency at {threads} thread(s) in the table")
    return rows.iloc[0]


def dense_latency(table: pd.DataFrame, threads: int = 1) -> float:
    """The first (dense) model's fp32 latency at ``threads`` threads: the anchor of the
    frontier's ratios.

    Raises:
        ValueError: where the table has no such row.
    """
    return float(_dense_row(table, threads)["latency_ms"])


def timing_spread(table: pd.DataFrame, threads: int = 1) -> float:
    """The relative timing noise of this chapter's rounds: the dense fp32 file's larger
    distance from its median to its 10th or 90th percentile over the rounds, over the
    median (``0.046``: ±4.6 %). The frontier's latencies are ratios anchored on that file.

    Raises:
        ValueError: where the table has no such row.
    """
    row = _dense_row(table, threads)
    median = float(row["latency_ms"])
    return max(row["latency_p90_ms"] - median, median - row["latency_p10_ms"]) / median
