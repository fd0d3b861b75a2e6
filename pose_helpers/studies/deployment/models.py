"""The models this chapter deploys: the compression chapters' dense baseline and their best
engineered model, each as a trained CPU-scale network (for accuracy) and as the full-scale
network of the same shape (for cost).

The engineered model is read, not chosen again: its row of ``engineered_group_lasso.csv``
(the sparsest within the accuracy budget) names its keep-ratios and its engineering's
``key``, and the run store's record of that key names its checkpoint and the settings that
compute it again where this machine lacks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from pose_helpers.core.store import RunStore

__all__ = [
    "best_engineered",
    "deployed_models",
    "engineered_cpu_model",
    "engineered_record",
    "validation_renders",
]


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


def engineered_record(engineered: Mapping[str, Any]) -> dict[str, Any]:
    """The run store's record of an engineering (``key``, with ``method``, ``lambda`` and
    ``threshold`` for the message).

    Raises:
        FileNotFoundError: when the store has no record of that key (run the chapter that
            engineers it).
    """
    from pose_helpers.studies.compression.engineering import ENGINEERED_STUDY

    store = RunStore(ENGINEERED_STUDY, version="any")  # records() reads every version
    found = [r for r in store.records() if r["result"].get("key") == engineered["key"]]
    if not found:
        raise FileNotFoundError(
            f"no stored engineering {engineered['key']} ({engineered['method']} at λ "
            f"{engineered['lambda']:g}, threshold {engineered['threshold']:g}) in "
            f"{store.folder}: run the chapter compression_group_lasso first"
        )
    return found[-1]


def engineered_cpu_model(
    engineered: Mapping[str, Any], baseline: Mapping[str, Any], threads: int | None = 1
) -> Any:
    """The trained CPU-scale network of an engineering (its ``key`` names it: a row of the
    engineered table), from this machine's checkpoint, in eval mode.

    A fresh clone holds the record but not the weights: the engineering is then computed
    again with the record's settings as its chapter computed it (:func:`engineered_run`):
    the baseline first where missing and the fine-tuning on ``threads`` threads (the
    chapters pass their ``workers``), the regularized run on one (a sweep's worker).

    Raises:
        FileNotFoundError: when the run store has no record of that key.
    """
    from pose_helpers.studies.compression import engineering
    from pose_helpers.studies.compression.baseline import load_baseline

    record = engineered_record(engineered)
    try:
        return engineering.load_engineered_model(record["result"], baseline)
    except FileNotFoundError:
        load_baseline(baseline, threads=threads, progress=True)
        engineering.engineered_run(
            **record["settings"], threads=threads or 1, regularized_threads=1, progress=True
        )
        return engineering.load_engineered_model(record["result"], baseline)


def deployed_models(
    baseline: Mapping[str, Any],
    engineered: pd.DataFrame | None,
    *,
    baseline_pckh: float,
    max_drop: float,
    full_kwargs: Mapping[str, Any],
    full_size: int,
) -> tuple[dict[str, dict[str, Any] | None], dict[str, Any], str]:
    """The models to deploy, by name: ``(models, full_models, note)``.

    ``models`` names what :func:`.scores.deployed_scores` scores at CPU scale: ``dense``
    (``None``: the baseline) and the engineered model (:func:`best_engineered` of
    ``engineered``: its ``key``, ``method``, ``lambda`` and ``threshold``) where the run
    store holds its engineering; ``full_models`` are the full-scale networks of the same
    shapes (untrained: their cost); ``note`` says which engineered model it is, or why
    there is none. No weights are loaded here.
    """
    from pose_helpers.studies.compression.full_scale import full_scale_models

    models: dict[str, dict[str, Any] | None] = {"dense": None}
    ratios: dict[str, dict[str, float]] = {}
    has = engineered is not None and len(engineered)
    row = best_engineered(engineered, baseline_pckh, max_drop) if has else None
    if row is None:
        note = f"No engineered model removed channels within {max_drop:g} points: only the dense model is deployed."
    else:
        name = f"{row['method'].replace('_', ' ')} λ_thesis {row['lambda']:g}"
        spec = {
            "key": str(row["key"]),
            "method": str(row["method"]),
            "lambda": float(row["lambda"]),
            "threshold": float(row["threshold"]),
        }
        try:
            engineered_record(spec)
            models[name] = spec
            ratios[name] = {
                c[len("keep_") :]: float(row[c]) for c in row.index if c.startswith("keep_")
            }
            note = (
                f"Deployed beside the dense model: **{name}** ({row['label']}), "
                f"{row['retained']:.3f} of the parameters at {row['pckh']:.1f} % after "
                f"{int(row['finetune_epochs'])} epochs of fine-tuning."
            )
        except FileNotFoundError as err:
            note = f"The engineered model is not in the run store ({err}): only the dense model is deployed."
    full = full_scale_models(ratios, model_kwargs=dict(full_kwargs), input_size=full_size)
    return models, full, note


def validation_renders(baseline: Mapping[str, Any]) -> Any:
    """The validation renders every CPU-scale model of the compression chapters is scored on."""
    from pose_helpers.studies.compression.common import baseline_arguments, baseline_datasets

    return baseline_datasets(baseline_arguments(baseline))[1]
