"""The papers' numbers, read from their tables in ``../shared/seeds/tables`` (reference only).

Chapters show these beside what they compute; nothing here is typed in from a paper.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pose_helpers.core.paths import REPO_ROOT

SEEDS_DIR = REPO_ROOT.parent / "shared" / "seeds"


def seed_table(
    name: str, seeds_dir: str | Path | None = None, *, printed: bool = False
) -> pd.DataFrame:
    """Load a paper's table copied in ``../shared/seeds/tables/<name>.csv`` (reference only).

    ``printed=True`` keeps every cell as the text it was copied as (``'79.10'``, not 79.1),
    so that a rule can read the paper's printed precision.
    """
    path = Path(seeds_dir or SEEDS_DIR) / "tables" / f"{name}.csv"
    if not path.is_file():
        available = (
            sorted(p.stem for p in path.parent.glob("*.csv")) if path.parent.is_dir() else []
        )
        raise FileNotFoundError(f"no seed table {name!r} at {path}; available: {available}")
    return pd.read_csv(path, dtype=str, keep_default_na=False) if printed else pd.read_csv(path)


#: Which row of which seed table describes a registered model at the seeds' scale.
MODEL_ROWS: dict[str, tuple[str, str, str]] = {
    # model name: (seed table, column holding the row label, row label)
    "hourglass_baseline": ("hourglass_table_1", "variant", "Baseline"),
    "simple_baselines_resnet50": ("thesis_table_5_3", "model", "baseline"),
}


def model_reference(name: str) -> dict[str, float | str]:
    """Parameters (millions) and size (MB) a seed reports for a registered model.

    Returns a dict with ``paper_params_m``, ``paper_size_mb`` (NaN where not reported) and
    ``paper_source``; empty values where no seed describes the model.
    """
    if name not in MODEL_ROWS:
        return {"paper_params_m": float("nan"), "paper_size_mb": float("nan"), "paper_source": ""}
    table_name, column, label = MODEL_ROWS[name]
    table = seed_table(table_name)
    row = table.loc[table[column] == label]
    if row.empty:
        raise ValueError(f"seed table {table_name!r} has no row {column} == {label!r}")
    row = row.iloc[0]
    return {
        "paper_params_m": float(row.get("params_m", float("nan"))),
        "paper_size_mb": float(row.get("size_mb", float("nan"))),
        "paper_source": table_name,
    }


def with_model_references(cards: pd.DataFrame) -> pd.DataFrame:
    """Add the seeds' parameter counts and sizes beside a table with a ``model`` column."""
    refs = pd.DataFrame([{"model": m, **model_reference(m)} for m in cards["model"]])
    return cards.merge(refs, on="model", how="left")


def external_reference(quantity: str) -> dict[str, str | float]:
    """A number from a published paper outside the seeds (``external_references.csv``):
    ``value``, ``unit``, ``source``, ``where`` and ``note`` of the row for ``quantity``.

    Raises:
        ValueError: for a quantity the table does not hold (the valid ones are named).
    """
    table = seed_table("external_references")
    row = table.loc[table["quantity"] == quantity]
    if row.empty:
        raise ValueError(
            f"no external reference {quantity!r}; available: {sorted(table['quantity'])}"
        )
    found = row.iloc[0].to_dict()
    found["value"] = float(found["value"])
    return found
