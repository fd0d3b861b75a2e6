"""Small helpers that keep chapter notebooks short and their outputs stable."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from pose_helpers.core.io import write_text
from pose_helpers.core.lifeline import RUNNER_PID_ENV, watch_runner
from pose_helpers.core.paths import cache_dir
from pose_helpers.core.repro import seed_everything
from pose_helpers.core.store import use_scratch_store


def setup_notebook(
    seed: int = 0, threads: int = 1, precision: int = 3, profile: str = "book"
) -> np.random.Generator:
    """Fix seeds and threads, print precision, and the plotting theme; return a NumPy generator.

    With ``profile="smoke"`` the run store and the cache point at a new scratch folder
    (:func:`pose_helpers.core.store.use_scratch_store`): smoke runs are always computed from
    scratch, never read from or written to the book's store. Under the chapter runner the
    kernel stops when the runner dies (:func:`pose_helpers.core.lifeline.watch_runner`).
    """
    if os.environ.get(RUNNER_PID_ENV):
        watch_runner()
    if profile == "smoke":
        use_scratch_store()
    import matplotlib
    import seaborn as sns

    pd.set_option("display.precision", precision)
    pd.set_option("display.max_columns", 30)
    pd.set_option("display.width", 120)
    np.set_printoptions(precision=precision, suppress=True)
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    matplotlib.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "figure.figsize": (7, 4)})
    return seed_everything(seed, threads=threads)


def show_markdown(text: str) -> None:
    """Display Markdown (prose whose numbers were computed in the cell)."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def show_figure(fig, caption: str) -> None:
    """Display a matplotlib figure followed by its caption, then close it."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(fig)
    plt.close(fig)
    show_markdown(f"*{caption}*")


def show_table(df: pd.DataFrame, caption: str | None = None, floatfmt: str = "{:.2f}") -> None:
    """Display a DataFrame with fixed float formatting (stable under nbval)."""
    from IPython.display import display

    formatted = df.copy()
    for col in formatted.columns:
        if pd.api.types.is_float_dtype(formatted[col]):
            formatted[col] = formatted[col].map(lambda v: "" if pd.isna(v) else floatfmt.format(v))
    if caption:
        show_markdown(f"**{caption}**")
    display(formatted)


def results_path(study: str, filename: str) -> Path:
    """Where a chapter writes a result table: ``<results>/<study>/<filename>``.

    The chapter runner points ``$POSE_HELPERS_RESULTS`` at ``book/results`` for the
    book's copy and beside the notebook for ``--out`` runs; interactive runs write to
    the cache, so nothing but the runner touches the book's tables.
    """
    base = Path(os.environ.get("POSE_HELPERS_RESULTS") or cache_dir("results"))
    folder = base / study
    folder.mkdir(parents=True, exist_ok=True)
    return folder / filename


def save_table(df: pd.DataFrame, study: str, filename: str, float_format: str = "%.6g") -> Path:
    """Write a result table as CSV atomically (temporary file, then rename); return its path."""
    path = results_path(study, filename)
    return write_text(path, df.to_csv(index=False, float_format=float_format))


def describe_data(name: str, data_root: str | os.PathLike | None = None) -> str:
    """One line saying whether a chapter runs on real data or on the built-in synthetic data."""
    from pose_helpers.core.paths import dataset_dir

    folder = dataset_dir(name, data_root)
    if folder is None:
        return (
            f"**Data:** no `{name}/` folder under the data root, so this chapter runs on the "
            "built-in synthetic data (set `POSE_HELPERS_DATA` or the `data_root` parameter)."
        )
    return f"**Data:** real `{name}` files from the data root (`{folder.parent.name}/{name}`)."
