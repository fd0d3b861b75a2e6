"""Submodules as attributes, imported on first use: ``ph.studies.mmwave`` works without an
``import pose_helpers.studies.mmwave`` first, and the chapter runner's CLI imports nothing
heavy (torch) until a chapter asks for it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

__all__ = ["submodule_getattr"]


def submodule_getattr(package: str, path: Iterable[str]) -> Callable[[str], ModuleType]:
    """A module-level ``__getattr__`` for ``package`` that imports its submodules by name."""
    folders = [Path(p) for p in path]

    def __getattr__(name: str) -> ModuleType:
        for folder in folders:
            if (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file():
                return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
