"""Shared fixtures: real data where present, a one-line skip where not."""

from __future__ import annotations

import atexit
import shutil
from pathlib import Path

import pytest
import torch

from pose_helpers.core.paths import dataset_dir
from pose_helpers.core.store import use_scratch_store

# Unit tests and the nbval baselines never read or write the book's run store or the cache:
# every run is computed from scratch in a scratch folder, so a change of training behaviour
# made without bumping a study's STUDY_VERSION shows up as an nbval failure.
_SCRATCH = use_scratch_store("pose-helpers-tests-")
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)

# `make test` runs two pytest workers on two cores: one torch thread each avoids
# oversubscription (two threads per worker made model tests about 5x slower here).
torch.set_num_threads(1)


def _real_dataset(name: str) -> Path:
    path = dataset_dir(name)
    if path is None:
        pytest.skip(f"no {name}/ folder under the data root ($POSE_HELPERS_DATA or ../shared/data)")
    return path


@pytest.fixture(scope="session")
def mpii_root() -> Path:
    """The real MPII annotation folder (skips the test where it is absent)."""
    return _real_dataset("mpii")


@pytest.fixture(scope="session")
def mars_root() -> Path:
    """The real MARS radar feature folder (skips the test where it is absent)."""
    return _real_dataset("mars")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip nbval baselines that read real data where it is absent (never compare synthetic),
    and put the baselines first, the longest (as recorded) first.

    `make test` runs unit tests and baselines in one session on two workers, a file at a
    time (``--dist loadfile --no-loadscope-reorder``): longest first leaves the unit tests'
    many short files to fill the gaps, so neither worker waits alone at the end.
    """
    import json

    reads: dict[Path, list[str]] = {}
    seconds: dict[Path, float] = {}
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix != ".ipynb":
            continue
        if path not in reads:
            meta = json.loads(path.read_text()).get("metadata", {}).get("pose_helpers", {})
            reads[path] = [name for name in meta.get("reads_data", []) if dataset_dir(name) is None]
            seconds[path] = float(meta.get("execution", {}).get("seconds", 0.0))
        if reads[path]:
            missing = ", ".join(reads[path])
            item.add_marker(
                pytest.mark.skip(reason=f"baseline recorded with real data ({missing}) absent here")
            )
    # a stable sort: the cells of a notebook and the tests of a file keep their order
    items.sort(key=lambda item: -seconds.get(Path(str(item.fspath)), -1.0))
