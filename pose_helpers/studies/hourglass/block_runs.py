"""The rows of the hourglass report's Table 1 and their training runs.

A *row* is a registered hourglass design, optionally with ``merge_weights`` (the report's
"Weights [0.3, 0.7]" rows). The study's own data is the architectural description of each
row (:data:`TABLE_1_DESIGNS`: which design, which flags); the report's numbers (PCKh,
parameters, training times) are read from ``seed_table("hourglass_table_1")``
(:func:`paper_table`). :func:`table1_rows` validates a chapter's choice at once;
:func:`train_row` is the unit :func:`pose_helpers.core.sweep.run_sweep` runs in worker
processes, over the points of :func:`sweep_points`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pose_helpers.data.mpii import PCKH_COLUMNS

__all__ = [
    "BASELINE",
    "GROUPS",
    "MILESTONES",
    "STUDY_VERSION",
    "TABLE_1_DESIGNS",
    "Row",
    "paper_table",
    "prerender",
    "rows_note",
    "sweep_points",
    "table1_rows",
    "train_row",
]

#: Bump when the code changes what a stored run computes (it keys the run store).
STUDY_VERSION = 1

#: Columns of Table 1 (lower case, as in ``book/results/hourglass/table1.csv``).
GROUPS = [c.lower() for c in PCKH_COLUMNS]

#: The report's learning-rate schedule: divided by 10 at these fractions of the epochs.
MILESTONES = (0.75, 0.85)

#: Table 1 of the hourglass report, row by row (its ``variant`` labels, in its order): the
#: registered design and the keyword arguments that build the row. The report's numbers for
#: each row are in ``seed_table("hourglass_table_1")`` (:func:`paper_table`).
TABLE_1_DESIGNS: dict[str, tuple[str, dict[str, Any]]] = {
    "Baseline": ("hourglass_baseline", {}),
    "Weights [0.3, 0.7] applied to HG2 outputs": (
        "hourglass_baseline",
        {"merge_weights": (0.3, 0.7)},
    ),
    "Weights [0.7, 0.3] applied to HG2 outputs": (
        "hourglass_baseline",
        {"merge_weights": (0.7, 0.3)},
    ),
    "Dilated Convolution": ("hourglass_dilated", {}),
    "Patchify technique from ConvNext": ("hourglass_patchify", {}),
    "Residual block without Skip connection in Bottleneck": ("hourglass_no_skip", {}),
    "3x3 Depthwise Separable Convolutions": ("hourglass_dw_separable_all", {}),
    "Depthwise Separable Convolutions in only 3x3 layer": ("hourglass_dw_separable_3x3", {}),
    "Two 3x3 Depthwise Separable Convolutions": ("hourglass_two_dw_separable", {}),
    "Two 3x3 Dilated Depthwise Separable Convolutions": (
        "hourglass_two_dilated_dw_separable",
        {},
    ),
    "Convolution Layers without Bottleneck": ("hourglass_no_bottleneck", {}),
}
#: Table 1's label of the plain baseline (the reference of every difference).
BASELINE = "Baseline"


@dataclass(frozen=True)
class Row:
    """One row of Table 1: the report's label, the registered design and its merge weights."""

    variant: str
    model: str
    merge_weights: tuple[float, ...] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict, compare=False)

    def model_kwargs(self, **extra: Any) -> dict[str, Any]:
        """Keyword arguments of ``create_model(self.model, ...)``, with ``extra`` on top."""
        out = dict(self.kwargs)
        if self.merge_weights is not None:
            out["merge_weights"] = list(self.merge_weights)
        return {**out, **extra}


def _designs() -> list[str]:
    from pose_helpers.models.registry import list_models

    return list_models("hourglass_*")


def _label(model: str, merge_weights: tuple[float, ...] | None) -> str:
    for label, (name, kwargs) in TABLE_1_DESIGNS.items():
        weights = kwargs.get("merge_weights")
        if name == model and (None if weights is None else tuple(weights)) == merge_weights:
            return label
    if merge_weights is not None:
        return f"Weights {list(merge_weights)} applied to HG outputs ({model})"
    return model


def table1_rows(
    designs: Sequence[str], merge_weights: Sequence[Sequence[float]] = (), *, num_stacks: int = 2
) -> list[Row]:
    """The rows a chapter studies: each design, then the baseline with each ``merge_weights``.

    Rows are labelled with Table 1's ``variant`` text where the report has the row.

    Raises:
        ValueError: for an unknown design (the message lists the valid ones), a repeated
            design, or merge weights without exactly one weight per stack.
    """
    known = _designs()
    unknown = [d for d in designs if d not in known]
    if unknown:
        raise ValueError(f"unknown hourglass design(s) {unknown}; valid: {known}")
    if len(set(designs)) != len(designs):
        raise ValueError(f"designs are repeated: {list(designs)}")
    rows = [Row(_label(d, None), d) for d in designs]
    for weights in merge_weights:
        weights = tuple(float(w) for w in weights)
        if len(weights) != num_stacks:
            raise ValueError(
                f"merge_weights {list(weights)} needs one weight per stack ({num_stacks})"
            )
        rows.append(Row(_label("hourglass_baseline", weights), "hourglass_baseline", weights))
    return sorted(rows, key=_table_position)


def _table_position(row: Row) -> int:
    labels = list(TABLE_1_DESIGNS)
    return labels.index(row.variant) if row.variant in labels else len(labels)


def prerender(
    seeds: Sequence[int],
    *,
    n_train: int,
    n_valid: int,
    input_size: int,
    sigma: float,
    difficulty: str,
    data_root: str | None = None,
) -> None:
    """Render (or find cached) the training set of every seed and the validation set once,
    before worker processes start, so they do not render the same set side by side."""
    from pose_helpers.data.synthpose import SynthPose

    rendering = dict(input_size=input_size, sigma=sigma, difficulty=difficulty, data_root=data_root)
    SynthPose("valid", n=n_valid, seed=0, cache=True, **rendering)
    for seed in seeds:
        SynthPose("train", n=n_train, seed=seed, cache=True, **rendering)


def rows_note(rows: Sequence[Row]) -> str:
    """The chapter's sentence listing the rows of this run (Markdown)."""
    return (
        f"This run studies {len(rows)} rows of Table 1: "
        + "; ".join(f"*{row.variant}* (`{row.model}`)" for row in rows)
        + "."
    )


def paper_table() -> pd.DataFrame:
    """Table 1 of the hourglass report (the seed's CSV) with our column names (reference)."""
    from pose_helpers.chapters.references import seed_table

    table = seed_table("hourglass_table_1")
    out = pd.DataFrame({"variant": table["variant"]})
    for g in GROUPS:
        out[g] = table[f"pckh_{g}"]
    out["params_m"] = table["params_m"]
    out["train_min"] = table["avg_training_time_min_derived"]
    out["epochs"] = table["epochs"]
    return out


def train_row(
    model: str,
    merge_weights: list[float] | None = None,
    *,
    seed: int = 0,
    width: int = 32,
    **settings: Any,
) -> dict[str, Any]:
    """Train one row at CPU scale: :func:`train.runs.synthpose_run` with a zero-initialized head.

    A module-level function of plain arguments, so sweep worker processes can run it.
    ``settings`` go to ``synthpose_run`` (input size, sigma, epochs, ...).
    """
    from pose_helpers.train.runs import synthpose_run

    kwargs: dict[str, Any] = {"width": width, "zero_init_head": True}
    if merge_weights is not None:
        kwargs["merge_weights"] = list(merge_weights)
    record = synthpose_run(model, model_kwargs=kwargs, seed=seed, cache_renders=True, **settings)
    # The sweep adds its own ``seconds`` (wall time of the call): keep training time apart.
    record["train_seconds"] = record.pop("seconds")
    return {k: v for k, v in record.items() if k != "checkpoint"}


def sweep_points(rows: Sequence[Row], seeds: Sequence[int], **settings: Any) -> list[dict]:
    """The (row, seed) points of :func:`train_row` for :func:`sweep.run_sweep`, seed-major.

    Seed-major order lets two workers start on different rows of the same rendered set.
    ``settings`` go to every point; ``milestones`` defaults to the report's recipe,
    :data:`MILESTONES`.
    """
    settings.setdefault("milestones", list(MILESTONES))
    return [
        {
            "model": row.model,
            "merge_weights": None if row.merge_weights is None else list(row.merge_weights),
            "seed": int(seed),
            **settings,
        }
        for seed in seeds
        for row in rows
    ]
