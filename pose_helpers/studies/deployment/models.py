"""The models this chapter deploys: the compression chapters' dense baseline and their best
engineered model, each as a trained CPU-scale network (for accuracy) and as the full-scale
network of the same shape (for cost).

The engineered model is read, not retrained: its row of ``engineered_group_lasso.csv`` (the
sparsest within the accuracy budget) names its keep-ratios and its engineering's ``key``,
and the run store's record of that key names its checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from pose_helpers.core.store import RunStore

__all__ = ["best_engineered", "deployed_models", "engineered_cpu_model", "validation_renders"]


def best_engineered(
    engineered: pd.DataFrame, baseline_pckh: float, max_drop: float = 2.0
) -> pd.Series | None:
    """The engineered model that keeps the fewest parameters within ``max_drop`` PCKh points
    of ``baseline_pckh`` and removed something (``retained < 1``), else ``None``."""
    cut = engineered[
        (engineered["retained"] < 1) & (engineered["pckh"] >= baseline_pckh - max_drop)
    ]
    if cut.empty:
        return None
    return cut.sort_values(["retained", "pckh"], ascending=[True, False]).iloc[0]


def engineered_cpu_model(
    row: Mapping[str, Any], baseline: Mapping[str, Any], threads: int | None = 1
) -> Any:
    """The trained CPU-scale network of an engineered row (its ``key`` column names the
    engineering), from its stored record and this machine's checkpoint, in eval mode.

    A fresh clone holds the record but not the weights: the engineering is then computed
    again with the record's settings (:func:`engineered_run`: the regularized run, and the
    baseline before it, trained first where missing) on ``threads`` threads.

    Raises:
        FileNotFoundError: when the run store has no record of that key (run the chapter
            that engineers it).
    """
    from pose_helpers.studies.compression.engineering import (
        ENGINEERED_STUDY,
        engineered_run,
        load_engineered_model,
    )

    store = RunStore(ENGINEERED_STUDY, version="any")  # records() reads every version
    found = [r for r in store.records() if r["result"].get("key") == row["key"]]
    if not found:
        raise FileNotFoundError(
            f"no stored engineering {row['key']} ({row['method']} at λ {row['lambda']:g}, "
            f"threshold {row['threshold']:g}) in {store.folder}: run the chapter "
            "compression_group_lasso first"
        )
    record = found[-1]
    try:
        return load_engineered_model(record["result"], baseline)
    except FileNotFoundError:
        engineered_run(**record["settings"], threads=threads or 1, progress=True)
        return load_engineered_model(record["result"], baseline)


def deployed_models(
    baseline: Mapping[str, Any],
    engineered: pd.DataFrame | None,
    *,
    baseline_pckh: float,
    max_drop: float,
    full_kwargs: Mapping[str, Any],
    full_size: int,
    threads: int | None = 1,
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The models to quantize, by name: ``(cpu_models, full_models, note)``.

    ``dense`` is the trained CPU-scale baseline and the full-scale network; the engineered
    model (:func:`best_engineered` of ``engineered``) joins it (its weights computed again
    where this machine lacks them), and ``note`` says which one it is, or why it is missing.
    """
    from pose_helpers.studies.compression.baseline import load_baseline
    from pose_helpers.studies.compression.full_scale import full_scale_models

    dense, _ = load_baseline(baseline, threads=threads)
    cpu = {"dense": dense.eval()}
    ratios: dict[str, dict[str, float]] = {}
    has = engineered is not None and len(engineered)
    row = best_engineered(engineered, baseline_pckh, max_drop) if has else None
    if row is None:
        note = f"No engineered model removed channels within {max_drop:g} points: only the dense model is deployed."
    else:
        name = f"{row['method'].replace('_', ' ')} λ_thesis {row['lambda']:g}"
        try:
            cpu[name] = engineered_cpu_model(row, baseline, threads=threads)
            ratios[name] = {
                c[len("keep_") :]: float(row[c]) for c in row.index if c.startswith("keep_")
            }
            note = (
                f"Deployed beside the dense model: **{name}** ({row['label']}), "
                f"{row['retained']:.3f} of the parameters at {row['pckh']:.1f} % after "
                f"{int(row['finetune_epochs'])} epochs of fine-tuning."
            )
        except FileNotFoundError as err:
            note = f"The engineered model is not on this machine ({err}): only the dense model is deployed."
    full = full_scale_models(ratios, model_kwargs=dict(full_kwargs), input_size=full_size)
    return cpu, full, note


def validation_renders(baseline: Mapping[str, Any]) -> Any:
    """The validation renders every CPU-scale model of the compression chapters is scored on."""
    from pose_helpers.studies.compression.common import baseline_arguments, baseline_datasets

    return baseline_datasets(baseline_arguments(baseline))[1]
