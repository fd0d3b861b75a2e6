"""Shared fixtures: real data where present, a one-line skip where not."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pose_helpers.paths import dataset_dir

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
