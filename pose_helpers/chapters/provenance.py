"""The book's provenance page: how, when and with what each chapter was executed.

The chapter runner records, in each executed notebook's metadata (``pose_helpers``), the
profile and parameters, the fingerprint, when it ran, how long it took, how many runs it
read from the run store or computed (counted through the store's run log) and the library
versions. :func:`write_page` turns that into ``book/provenance.md`` (like QuantEcon's
execution-status page); ``python -m pose_helpers run --all`` refreshes it.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from pose_helpers.core.io import write_text

__all__ = ["LIBRARIES", "execution_record", "library_versions", "read_run_log", "write_page"]

#: The libraries whose versions shape the book's numbers.
LIBRARIES = (
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "torch-pruning",
    "onnxruntime",
    "papermill",
    "jupyter-book",
)


def library_versions() -> dict[str, str]:
    """Python's and :data:`LIBRARIES`' installed versions (``-`` where one is missing)."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    return versions


def read_run_log(path: Path) -> dict[str, Any]:
    """Count a chapter's runs from the store's log (:data:`pose_helpers.core.store.RUN_LOG_ENV`).

    Returns ``loaded`` and ``computed`` (distinct runs), ``studies``, ``record_seconds``
    (the training time the records hold, summed over distinct runs: worker-seconds) and
    ``computed_seconds`` (the part computed in this execution).
    """
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            key = (entry["study"], entry["key"])
            if entry["event"] == "computed" or key not in runs:
                runs[key] = entry
    computed = [e for e in runs.values() if e["event"] == "computed"]
    return {
        "loaded": len(runs) - len(computed),
        "computed": len(computed),
        "studies": sorted({study for study, _ in runs}),
        "record_seconds": round(sum(e["seconds"] for e in runs.values()), 1),
        "computed_seconds": round(sum(e["seconds"] for e in computed), 1),
    }


def execution_record(seconds: float, runs: Mapping[str, Any]) -> dict[str, Any]:
    """What the runner stores about one execution (notebook metadata ``execution``)."""
    return {
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": round(float(seconds), 1),
        "runs": dict(runs),
        "libraries": library_versions(),
    }


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f}"


def _row(name: str, meta: Mapping[str, Any], fresh: bool | None) -> dict[str, str]:
    execution = meta.get("execution") or {}
    runs = execution.get("runs") or {}
    seconds = execution.get("seconds")
    if runs and seconds is not None:
        # this execution, without what it trained, plus all the records' training time
        scratch = seconds - runs["computed_seconds"] + runs["record_seconds"]
        store = seconds - runs["computed_seconds"]
        if store < 0:  # runs trained side by side: their worker-seconds exceed the execution
            store = None
    else:
        scratch = store = None
    return {
        "chapter": f"[{name}]({name}.ipynb)",
        "status": {True: "fresh", False: "**stale**", None: "-"}[fresh],
        "profile": str(meta.get("profile", "-")),
        "executed": str(execution.get("finished", "before records")),
        "this execution (min)": _minutes(seconds),
        "runs (from store / computed)": f"{runs['loaded']} / {runs['computed']}" if runs else "-",
        "from store (min)": _minutes(store),
        "from scratch, serial (min)": _minutes(scratch),
        "fingerprint": f"`{meta.get('fingerprint', '-')}`",
    }


def _markdown(rows: Sequence[Mapping[str, str]]) -> str:
    if not rows:
        return "*(no executed chapters)*\n"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row[c] for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_page(
    book: Path, chapters: Sequence[str], fresh: Mapping[str, bool] | None = None
) -> Path:
    """Write ``<book>/provenance.md`` from the executed chapters' metadata; return its path.

    ``fresh`` (chapter -> whether its fingerprint still matches its inputs, from the
    runner) adds a status column: a stale chapter's page shows what an earlier version of
    its code or inputs computed.
    """
    rows, parameters, libraries = [], [], {}
    for name in chapters:
        path = book / f"{name}.ipynb"
        if not path.is_file():
            continue
        meta = json.loads(path.read_text()).get("metadata", {}).get("pose_helpers", {})
        rows.append(_row(name, meta, None if fresh is None else fresh.get(name)))
        values = ", ".join(f"`{k}={v!r}`" for k, v in (meta.get("parameters") or {}).items())
        parameters.append(f"- **{name}**: {values or '-'}")
        execution = meta.get("execution") or {}
        if execution.get("libraries"):
            libraries[name] = execution["libraries"]
    versions = sorted({json.dumps(v, sort_keys=True) for v in libraries.values()})
    text = [
        "# Provenance",
        "",
        "How each chapter of this book was executed, read from the metadata the chapter runner "
        "stores in every executed notebook. *From store* is the execution time without the "
        "runs it trained (what a fresh clone with the committed run records spends; - where "
        "runs trained side by side, so that their worker-seconds exceed the execution); *from "
        "scratch, serial* adds the training time every run's record holds (worker-seconds: "
        "a chapter that trains on 2 workers takes about half of it). A chapter is *stale* "
        "(and re-executed by `make book`) when its fingerprint changes: its notebook, the "
        "parameters it ran with, the `pose_helpers` modules it can execute (traced name by "
        "name: a chapter that calls `compression.baseline_run` depends on the baseline's "
        "module, not on the whole compression study), the pinned requirements, the data it "
        "reads or the other chapters' result tables it summarizes. `python -m pose_helpers "
        "status --modules` lists them.",
        "",
        _markdown(rows),
        "## Parameters",
        "",
        *parameters,
        "",
        "## Library versions",
        "",
    ]
    if not versions:
        text.append("*(recorded from the next execution on)*")
    for blob in versions:
        used = [name for name, v in libraries.items() if json.dumps(v, sort_keys=True) == blob]
        pairs = ", ".join(f"{k} {v}" for k, v in json.loads(blob).items())
        text.append(f"- {', '.join(used)}: {pairs}")
    return write_text(book / "provenance.md", "\n".join(text) + "\n")
