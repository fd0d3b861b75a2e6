"""The models this chapter deploys: the compression chapters' dense baseline and their best
engineered model, each as a trained CPU-scale network (for accuracy) and as the full-scale
network of the same shape (for cost).

The engineered model is read, not retrained: its row of ``engineered_group_lasso.csv`` (the
sparsest within the accuracy budget) names its keep-ratios, and the run store's record of
that engineering names its checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from pose_helpers.core.store import RunStore, jsonable

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


def engineered_cpu_model(row: Mapping[str, Any], baseline: Mapping[str, Any]) -> Any:
    """The trained CPU-scale network of an engineered row (``method``, ``lambda``,
    ``threshold``, ``pckh``), from its stored engineering record and this machine's
    checkpoint, in eval mode.

    Raises:
        FileNotFoundError: when the run store has no such record, or its checkpoint is
            missing (run the chapter that engineers it).
    """
    from pose_helpers.studies.compression.engineering import (
        ENGINEERED_STUDY,
        load_engineered_model,
    )

    wanted = json.dumps(jsonable(dict(baseline)), sort_keys=True)
    store = RunStore(ENGINEERED_STUDY, version="any")  # records() reads every version
    matches = []
    for record in store.records():
        s = record.get("settings", {})
        if (
            s.get("method") == row["method"]
            and abs(float(s.get("lam", -1)) - float(row["lambda"]))
            <= 1e-12 * max(1.0, float(row["lambda"]))
            and float(s.get("threshold", -1)) == float(row["threshold"])
            and json.dumps(jsonable(s.get("baseline")), sort_keys=True) == wanted
            and abs(float(record["result"].get("pckh_after", -1)) - float(row["pckh"])) < 1e-3
        ):
            matches.append(record)
    if not matches:
        raise FileNotFoundError(
            f"no stored engineering of {row['method']} at λ {row['lambda']:g}, threshold "
            f"{row['threshold']:g} scoring {row['pckh']:.3f} in {store.folder}: "
            "run the chapter compression_group_lasso first"
        )
    return load_engineered_model(matches[-1]["result"], baseline)


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
    model (:func:`best_engineered` of ``engineered``) joins where this machine holds its
    checkpoint, and ``note`` says which one it is, or why it is missing.
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
            cpu[name] = engineered_cpu_model(row, baseline)
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
