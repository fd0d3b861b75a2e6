"""pose_helpers: the tested helper package behind the efficient-pose-estimation book.

Notebooks do ``import pose_helpers as ph``. The package is laid out by role:

=============  ===============================================================
``core``       paths, atomic files, seeds and threads, run store, sweeps
``chapters``   the chapter runner, display helpers, the papers' numbers
``data``       MPII, SynthPose, MARS radar, simulated radar
``models``     the model registry and the model families
``metrics``    PCKh and heatmap decoding, radar joint errors
``train``      the training loop and one cached training run
``compress``   regularizers, Algorithm 1, channel surgery
``cost``       parameters, MACs, latency; ONNX Runtime deployment
``theory``     the thesis's regularization theory
``studies``    one module per study: what a chapter computes
=============  ===============================================================

The names readers use most are here at the top (``ph.create_model``, ``ph.pckh``, ...);
they and every subpackage (``ph.studies.compression``) are imported on first use, so the
chapter runner's CLI starts without importing torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from .chapters.display import (
    describe_data,
    results_path,
    save_table,
    setup_notebook,
    show_figure,
    show_markdown,
    show_table,
)
from .chapters.references import seed_table
from .core.paths import cache_dir, data_root, dataset_dir
from .core.repro import seed_everything

#: Public names imported on first use: name -> module that defines it.
PUBLIC_NAMES = {
    "create_model": "models.registry",
    "list_models": "models.registry",
    "pckh": "metrics.pose",
    "pckh_table": "metrics.pose",
    "prune_zero_channels": "compress.surgery",
    "run_sweep": "core.sweep",
    "grid": "core.sweep",
}

__all__ = [
    "cache_dir",
    "create_model",
    "data_root",
    "dataset_dir",
    "describe_data",
    "grid",
    "list_models",
    "pckh",
    "pckh_table",
    "prune_zero_channels",
    "results_path",
    "run_sweep",
    "save_table",
    "seed_everything",
    "seed_table",
    "setup_notebook",
    "show_figure",
    "show_markdown",
    "show_table",
]

_PACKAGE_DIR = Path(__file__).resolve().parent


def __getattr__(name: str) -> Any:
    if name in PUBLIC_NAMES:
        return getattr(importlib.import_module(f"{__name__}.{PUBLIC_NAMES[name]}"), name)
    if (_PACKAGE_DIR / name / "__init__.py").is_file():
        module: ModuleType = importlib.import_module(f"{__name__}.{name}")
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
