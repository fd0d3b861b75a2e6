"""What the mmWave study chooses, and on which split: validation chooses, test reports.

Two choices are made, both on the **validation** split (MARS's own ``validate`` frames, or
the simulator's), never on test:

- the input window ``T`` (frames per input): the baseline configuration is trained once per
  candidate window on the chapter's main data set (real MARS where present) with
  ``score_test=False``, so the test split is never even loaded, and the window of the
  lowest best-epoch validation MAE is used for every configuration and data set
  (:func:`window_grid`, :func:`choose_window`);
- each run's epoch: :func:`radar_run` keeps the weights of its best validation epoch and
  stops after ``patience`` epochs without improvement (the cap is ``epochs``).

:func:`selection_table` writes both down (``book/results/mmwave/selection.csv``), one row
per choice, with the split and the metric that made it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from pose_helpers.studies.mmwave.radar_runs import model_name

__all__ = [
    "SELECTION_METRIC",
    "choose_window",
    "selection_table",
    "study_grid",
    "window_grid",
    "window_table",
]

#: The metric every choice minimises: the best epoch's validation MAE (cm).
SELECTION_METRIC = "best_val_mae_cm"


def _check_validation_metric(metric: str) -> None:
    # The one gate between a choice and the test split: only validation columns choose.
    if not metric.startswith(("val_", "best_val_")):
        raise ValueError(
            f"metric={metric!r} is not a validation metric; choices are made on the "
            "validation split only (columns starting with 'val_' or 'best_val_')"
        )


def window_grid(
    dataset: str,
    windows: Sequence[int],
    seed: int = 0,
    **settings: Any,
) -> list[dict[str, Any]]:
    """The window-selection runs: the baseline at each candidate window, never scored on test.

    ``settings`` are :func:`radar_run`'s other arguments (``epochs``, ``patience`` ...).

    Raises:
        ValueError: for no candidate or a window below 1.
    """
    if not windows or any(int(w) < 1 for w in windows):
        raise ValueError(f"windows={list(windows)!r}; expected one or more windows >= 1")
    return [
        {
            "config": "baseline",
            "dataset": dataset,
            "seed": int(seed),
            "window": int(w),
            **settings,
            "score_test": False,
        }
        for w in windows
    ]


def choose_window(window_runs: pd.DataFrame, metric: str = SELECTION_METRIC) -> int:
    """The candidate window with the lowest validation ``metric`` (the shortest on a tie).

    Raises:
        ValueError: for a metric that is not a validation metric, or no finished run.
    """
    _check_validation_metric(metric)
    ok = window_runs.dropna(subset=[metric]).sort_values([metric, "window"])
    if ok.empty:
        raise ValueError("no window-selection run finished; nothing to choose from")
    return int(ok["window"].iloc[0])


def window_table(window_runs: pd.DataFrame, metric: str = SELECTION_METRIC) -> pd.DataFrame:
    """One row per candidate window: its validation MAE, best epoch and epochs trained."""
    _check_validation_metric(metric)
    columns = ["dataset", "window", metric, "best_epoch", "epochs_trained", "converged"]
    return window_runs[columns].sort_values("window").reset_index(drop=True)


def study_grid(
    configs: Sequence[str],
    datasets: Sequence[str],
    seeds: Sequence[int],
    window: int,
    **settings: Any,
) -> list[dict[str, Any]]:
    """Every (config, dataset, seed) run of the study at the chosen ``window``.

    ``settings`` are :func:`radar_run`'s other arguments; pass ``data_root`` and ``threads``
    through ``run_sweep(execution=...)``, since they do not change what a run computes.
    """
    return [
        {
            "config": config,
            "dataset": dataset,
            "seed": int(seed),
            "window": int(window),
            **settings,
        }
        for config in configs
        for dataset in datasets
        for seed in seeds
    ]


def selection_table(
    window_runs: pd.DataFrame, runs: pd.DataFrame, metric: str = SELECTION_METRIC
) -> pd.DataFrame:
    """Every choice of the study, with the split and metric that made it.

    Columns: ``choice`` (``window`` or ``epochs``), ``config``, ``dataset``, ``seed``,
    ``value`` (the chosen window or epoch), ``split`` (always ``validation``), ``metric``,
    ``score`` (the metric at the choice), ``epochs_trained`` and ``converged``.

    Raises:
        ValueError: for a metric that is not a validation metric.
    """
    _check_validation_metric(metric)
    chosen = choose_window(window_runs, metric)
    row = window_runs.loc[window_runs["window"] == chosen].iloc[0]
    rows = [
        {
            "choice": "window",
            "config": "baseline",
            "dataset": row["dataset"],
            "seed": int(row["seed"]),
            "value": chosen,
            "split": "validation",
            "metric": metric,
            "score": float(row[metric]),
            "epochs_trained": int(row["epochs_trained"]),
            "converged": bool(row["converged"]),
        }
    ]
    for run in runs.itertuples(index=False):
        rows.append(
            {
                "choice": "epochs",
                "config": model_name(run.config).removeprefix("mmwave_"),
                "dataset": run.dataset,
                "seed": int(run.seed),
                "value": int(run.best_epoch),
                "split": "validation",
                "metric": metric,
                "score": float(getattr(run, metric)),
                "epochs_trained": int(run.epochs_trained),
                "converged": bool(run.converged),
            }
        )
    return pd.DataFrame(rows)
