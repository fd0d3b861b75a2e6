"""pose_helpers: the tested helper package behind the efficient-pose-estimation book.

Notebooks do ``import pose_helpers as ph``; the small notebook helpers are re-exported
here, and every submodule is reachable as an attribute (``ph.metrics.pckh``), imported on
first use so that the chapter runner's CLI starts without importing torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from .notebook import (
    describe_data,
    results_path,
    save_table,
    seed_table,
    setup_notebook,
    show_figure,
    show_markdown,
    show_table,
)
from .paths import cache_dir, data_root, dataset_dir
from .repro import seed_everything

__all__ = [
    "cache_dir",
    "data_root",
    "describe_data",
    "dataset_dir",
    "results_path",
    "save_table",
    "seed_everything",
    "seed_table",
    "setup_notebook",
    "show_figure",
    "show_markdown",
    "show_table",
]

_PACKAGE_DIR = Path(__file__).resolve().parent


def __getattr__(name: str) -> ModuleType:
    if (_PACKAGE_DIR / f"{name}.py").is_file() or (_PACKAGE_DIR / name / "__init__.py").is_file():
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
