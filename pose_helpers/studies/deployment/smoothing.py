"""The 1-euro filter on radar pose sequences (seed 001): jitter against error.

A trained radar model of the mmWave chapter (its stored run, the chapter's settings)
predicts every frame of the validation and test splits in order; each recording (subject,
movement: frames in increasing order) is filtered on its own, every joint coordinate a
signal. The filter's two parameters are chosen on the **validation** recordings (lowest MAE
over a grid; ties to the smoother setting), and the test recordings are filtered once with
that choice. Jitter is the mean magnitude of the joints' frame-to-frame acceleration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "SELECTION_SPLIT",
    "choose_filter",
    "chosen_window",
    "filter_grid",
    "radar_sequences",
    "smoothing_note",
    "smoothing_table",
]

#: The split the filter's parameters are chosen on (never the test split).
SELECTION_SPLIT = "validate"


def radar_sequences(
    config: str,
    split: str,
    *,
    run: Mapping[str, Any],
    data_root: Any = None,
    threads: int | None = 1,
) -> dict[str, Any]:
    """Predictions of the trained radar model ``config`` (the stored run of the mmWave
    chapter with the settings ``run``: ``dataset``, ``seed``, ``window``, ``epochs``,
    ``patience``, ...; trained here where this machine lacks it) for every frame of
    ``split``, in the split's order.

    Returns:
        ``pred`` and ``labels`` ``(N, 19, 3)`` in centimetres, and ``starts``: the row
        where each recording begins (``len(starts)`` recordings; the last ends at ``N``).

    Raises:
        ValueError: for an unknown split or configuration.
        FileNotFoundError: without the data set.
    """
    import torch

    from pose_helpers.core.io import load_checkpoint
    from pose_helpers.core.repro import torch_threads
    from pose_helpers.data.mars import check_split, window_indices
    from pose_helpers.metrics.radar import to_joints
    from pose_helpers.models.registry import create_model
    from pose_helpers.studies.mmwave.radar_runs import load_dataset, model_name, radar_run

    check_split(split)
    settings = dict(run)
    record = radar_run(config, score_test=False, data_root=data_root, threads=threads, **settings)
    saved = load_checkpoint(record["checkpoint"], ("best",))
    if saved is None:
        raise FileNotFoundError(f"the radar run's checkpoint {record['checkpoint']} is missing")
    net = create_model(model_name(config))
    net.load_state_dict(saved["best"]["model"])
    net.eval()
    features, labels, index = load_dataset(settings.get("dataset", "mars"), split, data_root)
    rows = torch.as_tensor(window_indices(index, settings["window"]))
    x = torch.tensor(np.asarray(features, dtype=np.float32))
    out = []
    with torch_threads(threads), torch.inference_mode():
        for start in range(0, len(rows), 512):
            out.append(net(x[rows[start : start + 512]]).numpy())
    # A recording starts where subject or movement changes or the frame number does not
    # increase (as ``window_indices`` splits them).
    first = np.ones(len(index), dtype=bool)
    values = index.to_numpy()
    first[1:] = (
        (values[1:, 0] != values[:-1, 0])
        | (values[1:, 1] != values[:-1, 1])
        | (values[1:, 2] <= values[:-1, 2])
    )
    starts = np.flatnonzero(first)
    return {
        "pred": to_joints(np.concatenate(out).astype(np.float64)) * 100.0,
        "labels": to_joints(np.asarray(labels, dtype=np.float64)) * 100.0,
        "starts": starts,
    }


def _recordings(sequences: Mapping[str, Any]) -> list[slice]:
    starts = list(sequences["starts"]) + [len(sequences["pred"])]
    return [slice(a, b) for a, b in zip(starts[:-1], starts[1:], strict=True) if b > a]


def _scores(sequences: Mapping[str, Any], filtered: np.ndarray) -> tuple[float, float]:
    """(MAE in cm over joints and axes, mean jitter over recordings in cm per frame²)."""
    mae = float(np.abs(filtered - sequences["labels"]).mean())
    from pose_helpers.decode.one_euro import jitter

    jit = [jitter(filtered[s]) for s in _recordings(sequences)]
    jit = [j for j in jit if math.isfinite(j)]
    return mae, float(np.mean(jit)) if jit else math.nan


def _filtered(sequences: Mapping[str, Any], fps: float, min_cutoff: float, beta: float):
    from pose_helpers.decode.one_euro import one_euro

    out = np.empty_like(sequences["pred"])
    for s in _recordings(sequences):
        out[s] = one_euro(sequences["pred"][s], fps, min_cutoff, beta)
    return out


def filter_grid(
    sequences: Mapping[str, Any],
    min_cutoffs: Sequence[float],
    betas: Sequence[float],
    *,
    fps: float,
    split: str,
) -> pd.DataFrame:
    """MAE and jitter of every (min_cutoff, beta) on ``sequences``, and of the raw
    predictions (``min_cutoff`` and ``beta`` NaN): columns ``min_cutoff``, ``beta``,
    ``split``, ``mae_cm``, ``jitter``."""
    rows = []
    mae, jit = _scores(sequences, sequences["pred"])
    rows.append(
        {"min_cutoff": math.nan, "beta": math.nan, "split": split, "mae_cm": mae, "jitter": jit}
    )
    for c in min_cutoffs:
        for b in betas:
            mae, jit = _scores(sequences, _filtered(sequences, fps, float(c), float(b)))
            rows.append(
                {
                    "min_cutoff": float(c),
                    "beta": float(b),
                    "split": split,
                    "mae_cm": mae,
                    "jitter": jit,
                }
            )
    return pd.DataFrame(rows)


def choose_filter(grid: pd.DataFrame) -> tuple[float, float]:
    """The (min_cutoff, beta) of lowest MAE on the validation split (ties: lower jitter).

    Raises:
        ValueError: for a grid of another split (the choice is never made on test).
    """
    if set(grid["split"]) != {SELECTION_SPLIT}:
        raise ValueError(
            f"the filter is chosen on the {SELECTION_SPLIT!r} split only; got {sorted(set(grid['split']))}"
        )
    candidates = grid.dropna(subset=["min_cutoff"]).sort_values(["mae_cm", "jitter"])
    if candidates.empty:
        raise ValueError("the grid holds no filter setting")
    best = candidates.iloc[0]
    return float(best["min_cutoff"]), float(best["beta"])


def smoothing_table(
    validation: pd.DataFrame,
    test_sequences: Mapping[str, Any],
    choice: tuple[float, float],
    *,
    fps: float,
) -> pd.DataFrame:
    """``one_euro.csv``: the validation grid, then the test split raw and filtered once with
    ``choice`` (columns ``min_cutoff``, ``beta``, ``split``, ``mae_cm``, ``jitter``,
    ``chosen``)."""
    raw = _scores(test_sequences, test_sequences["pred"])
    done = _scores(test_sequences, _filtered(test_sequences, fps, *choice))
    test = pd.DataFrame(
        [
            {
                "min_cutoff": math.nan,
                "beta": math.nan,
                "split": "test",
                "mae_cm": raw[0],
                "jitter": raw[1],
            },
            {
                "min_cutoff": choice[0],
                "beta": choice[1],
                "split": "test",
                "mae_cm": done[0],
                "jitter": done[1],
            },
        ]
    )
    table = pd.concat([validation, test], ignore_index=True)
    table["chosen"] = (table["min_cutoff"] == choice[0]) & (table["beta"] == choice[1])
    return table


def smoothing_note(table: pd.DataFrame) -> str:
    """The test split's change in MAE and jitter under the chosen filter."""
    test = table[table["split"] == "test"]
    raw = test[test["min_cutoff"].isna()].iloc[0]
    done = test[test["chosen"]].iloc[0]
    return (
        f"Chosen on the validation recordings: min_cutoff {done['min_cutoff']:g} Hz, beta "
        f"{done['beta']:g}. On the test recordings the filter moves the MAE from "
        f"{raw['mae_cm']:.2f} to {done['mae_cm']:.2f} cm ({done['mae_cm'] - raw['mae_cm']:+.2f}) "
        f"and the jitter from {raw['jitter']:.2f} to {done['jitter']:.2f} cm per frame² "
        f"({100 * (done['jitter'] / raw['jitter'] - 1):+.0f} %)."
    )


def chosen_window(selection: pd.DataFrame, dataset: str) -> int:
    """The input window the mmWave chapter chose on validation for ``dataset`` (its
    ``selection.csv``), so the model filtered here is the chapter's own run.

    Raises:
        ValueError: where the table has no validation choice of a window for ``dataset``.
    """
    rows = selection[
        (selection["choice"] == "window")
        & (selection["dataset"] == dataset)
        & (selection["split"] == "validation")
    ]
    if rows.empty:
        raise ValueError(f"selection.csv holds no validation choice of the window for {dataset!r}")
    return int(rows["value"].iloc[0])
