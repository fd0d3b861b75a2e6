"""The run store: one small, committed record per finished run, keyed by what it computes.

A run's key is a hash of its study's name, the version the study declares
(``STUDY_VERSION``, bumped when the study's code changes what a run computes) and the run's
settings: never a module path or a file name, so moving code orphans nothing. Each finished
run writes ``book/runs/<study>/<key>.json`` (settings, result, seconds, environment), which
is committed; checkpoints stay in the uncommitted cache (``.cache/checkpoints/<study>/``).
A chapter whose records exist re-executes on a fresh clone without training.

A record that does not parse, or whose study, version or settings disagree with its key,
is reported by name (a :class:`StoreWarning`), moved aside (``<key>.json.corrupt``, kept
for inspection) and recomputed, never used.

The ``smoke`` profile never uses the store: :func:`use_scratch_store` points the store and
the cache at a new temporary folder, so ``make test`` computes every smoke run from
scratch and a change in training behaviour shows up in the nbval baselines.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pose_helpers.core.io import move_aside, read_json, write_json
from pose_helpers.core.paths import CACHE_ENV, REPO_ROOT, cache_dir, cache_root

__all__ = [
    "RUNS_ENV",
    "RUN_LOG_ENV",
    "RunStore",
    "StoreWarning",
    "cache_summary",
    "describe_cache",
    "environment",
    "jsonable",
    "run_key",
    "runs_root",
    "use_scratch_store",
]

RUNS_ENV = "POSE_HELPERS_RUNS"
#: When set, every record read or written is logged there (one JSON line each): the chapter
#: runner counts a chapter's runs and their training time for the provenance page.
RUN_LOG_ENV = "POSE_HELPERS_RUN_LOG"
RECORD_FORMAT = 1


class StoreWarning(UserWarning):
    """A stored record was not used (it did not parse or did not match its key); it was
    moved aside and its run is recomputed."""


def runs_root() -> Path:
    """Where records live: ``$POSE_HELPERS_RUNS``, else ``<repo>/book/runs``."""
    return Path(os.environ.get(RUNS_ENV) or REPO_ROOT / "book" / "runs")


def use_scratch_store(prefix: str = "pose-helpers-smoke-") -> Path:
    """Point the run store and the cache of this process (and of the worker processes it
    starts) at a new, empty temporary folder; return it. Used by the smoke profile."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ[RUNS_ENV] = str(folder / "runs")
    os.environ[CACHE_ENV] = str(folder / "cache")
    return folder


def jsonable(value: Any) -> Any:
    """NumPy, torch, tuple and path values as plain JSON types (lists, floats, ints, str)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray | np.generic):
        return jsonable(value.tolist())
    if type(value).__module__ == "torch" and hasattr(value, "tolist"):  # a tensor
        return jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def run_key(study: str, version: int | str, settings: Mapping[str, Any]) -> str:
    """The key of a run: a hash of the study, its declared version and the settings."""
    text = json.dumps(
        {"study": study, "version": str(version), "settings": jsonable(settings)},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def environment() -> dict[str, Any]:
    """Where a run was computed: Python, library versions, machine, torch threads."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "system": platform.system(),
        "cpus": os.cpu_count(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
        env["cuda"] = bool(torch.cuda.is_available())
    return env


@dataclass(frozen=True)
class RunStore:
    """The records of one study's runs (``root``: default :func:`runs_root`)."""

    study: str
    version: int | str
    root: Path | None = None

    def __post_init__(self) -> None:
        if not self.study or self.study != Path(self.study).name or self.study.startswith("."):
            raise ValueError(f"study={self.study!r}; expected a plain folder name")

    @property
    def folder(self) -> Path:
        return Path(self.root or runs_root()) / self.study

    def key(self, settings: Mapping[str, Any]) -> str:
        """The run's key (:func:`run_key`)."""
        return run_key(self.study, self.version, settings)

    def path(self, settings: Mapping[str, Any]) -> Path:
        """The run's record file."""
        return self.folder / f"{self.key(settings)}.json"

    def checkpoint(self, settings: Mapping[str, Any], suffix: str = ".pt") -> Path:
        """Where the run keeps its weights (uncommitted cache, one file per key)."""
        return cache_dir("checkpoints", self.study) / f"{self.key(settings)}{suffix}"

    def load(self, settings: Mapping[str, Any]) -> dict[str, Any] | None:
        """The stored record of a run, or None (missing, or reported, moved aside and
        ignored: the caller recomputes it)."""
        path = self.path(settings)
        if not path.is_file():
            return None
        record = read_json(path)
        problem = self._problem(record, settings)
        if problem is not None:
            # moved, not left: the warning is not repeated on every read, the file is kept
            aside = move_aside(path)
            warnings.warn(
                f"run store: {path} {problem}; moved aside to {aside.name}, recomputing it",
                StoreWarning,
                stacklevel=2,
            )
            return None
        _log_use("loaded", record)
        return record

    def _problem(self, record: Any, settings: Mapping[str, Any]) -> str | None:
        if not isinstance(record, dict) or not isinstance(record.get("result"), dict):
            return "does not parse as a run record"
        for field, expected in (
            ("study", self.study),
            ("version", str(self.version)),
            ("key", self.key(settings)),
        ):
            if str(record.get(field)) != expected:
                return f"has {field} {record.get(field)!r}, expected {expected!r}"
        if jsonable(record.get("settings")) != jsonable(settings):
            return "holds other settings than its key says"
        return None

    def save(
        self,
        settings: Mapping[str, Any],
        result: Mapping[str, Any],
        seconds: float,
        env: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write a finished run's record atomically; return it. ``env`` is where the run was
        computed (default :func:`environment` here; a worker process reports its own)."""
        record = {
            "format": RECORD_FORMAT,
            "study": self.study,
            "version": str(self.version),
            "key": self.key(settings),
            "settings": jsonable(settings),
            "result": jsonable(result),
            "seconds": float(seconds),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "environment": dict(env) if env is not None else environment(),
        }
        write_json(self.path(settings), record)
        _log_use("computed", record)
        return record

    def records(self) -> list[dict[str, Any]]:
        """Every record of the study that parses (any version), oldest first."""
        found = [read_json(p) for p in sorted(self.folder.glob("*.json"))]
        found = [r for r in found if isinstance(r, dict) and isinstance(r.get("result"), dict)]
        return sorted(found, key=lambda r: str(r.get("finished", "")))


def _log_use(event: str, record: Mapping[str, Any]) -> None:
    log = os.environ.get(RUN_LOG_ENV)
    if log:
        line = {"event": event, "study": record["study"], "key": record["key"]}
        line["seconds"] = record["seconds"]
        with open(log, "a") as fh:  # one short line per write: appends do not interleave
            fh.write(json.dumps(line) + "\n")


#: A run's key as it appears in a checkpoint's file name (``run_key``: 16 hex digits).
_KEY_IN_NAME = re.compile(r"[0-9a-f]{16}")


def cache_summary(
    cache: str | os.PathLike | None = None, runs: str | os.PathLike | None = None
) -> dict[str, Any]:
    """What deleting the cache would lose: its files and the training its checkpoints hold.

    A checkpoint is a ``*.pt`` file; its training time comes from the run records under
    ``runs`` (default :func:`runs_root`) whose result's ``key`` appears in its name, each
    counted once: the larger of the record's ``seconds`` and its result's ``train_seconds``
    (a run resumed from its checkpoint took less wall time than the training it holds).

    Returns:
        ``cache`` (the folder), ``files`` and ``bytes`` (everything in it), ``checkpoints``,
        ``moved_aside`` (damaged files kept as ``*.corrupt``), ``runs`` (records naming a
        checkpoint here), ``hours`` (their training), ``unrecorded`` (checkpoints no
        record names: their time is not counted).
    """
    folder = Path(cache) if cache is not None else cache_root()
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    checkpoints = [p for p in files if p.suffix == ".pt"]
    keys_here = {p: set(_KEY_IN_NAME.findall(p.name)) for p in checkpoints}
    seconds: dict[str, float] = {}
    for path in sorted(Path(runs or runs_root()).glob("*/*.json")):
        record = read_json(path)
        result = record.get("result") if isinstance(record, dict) else None
        key = result.get("key") if isinstance(result, dict) else None
        if not isinstance(key, str) or not any(key in k for k in keys_here.values()):
            continue
        spent = [record.get("seconds"), result.get("train_seconds")]
        spent = [float(v) for v in spent if isinstance(v, int | float)]
        seconds[key] = max([seconds.get(key, 0.0), *spent])
    return {
        "cache": str(folder),
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "checkpoints": len(checkpoints),
        "moved_aside": sum(1 for p in files if re.search(r"\.corrupt(-\d+)?$", p.name)),
        "runs": len(seconds),
        "hours": sum(seconds.values()) / 3600,
        "unrecorded": sum(1 for k in keys_here.values() if not k & set(seconds)),
    }


def describe_cache(summary: Mapping[str, Any]) -> str:
    """:func:`cache_summary` in a few lines for a person deciding whether to delete it."""
    if not summary["files"]:
        return f"{summary['cache']} is empty or absent: nothing to delete"
    size = summary["bytes"]
    size_text = f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB"
    checkpoints = f"  {_count(summary['checkpoints'], 'checkpoint file')} (*.pt)"
    if summary["runs"]:
        checkpoints += (
            f": about {summary['hours']:.1f} h of training, by the records of the "
            f"{_count(summary['runs'], 'run')} that made them"
        )
    lines = [f"{summary['cache']}: {_count(summary['files'], 'file')}, {size_text}", checkpoints]
    if summary["unrecorded"] and summary["runs"]:
        lines.append(
            f"  {_count(summary['unrecorded'], 'checkpoint file')} of no run record "
            "(training time not counted)"
        )
    elif summary["unrecorded"]:
        lines.append("  no run record names them: their training time is unknown")
    if summary["moved_aside"]:
        lines.append(f"  {_count(summary['moved_aside'], 'damaged file')} moved aside (*.corrupt)")
    lines.append("Deleting it loses those weights: a chapter that needs them trains them again.")
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
