"""Reproducibility: one call fixes the seeds and the torch thread count; one context
manager sets the thread count for a block and restores it."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

DEFAULT_THREADS = 1


def seed_everything(seed: int = 0, threads: int | None = DEFAULT_THREADS) -> np.random.Generator:
    """Seed Python, NumPy and torch, fix torch's thread count, and return a NumPy generator.

    One thread by default: results then do not depend on how many cores the
    machine has, and two single-thread workers beat one two-thread process here.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - legacy global RNG, used by some libraries
    try:
        import torch
    except ImportError:  # theory-only use without torch
        pass
    else:
        torch.manual_seed(seed)
        if threads is not None:
            torch.set_num_threads(threads)
        if "torch._inductor.config" in sys.modules:
            torch.use_deterministic_algorithms(True, warn_only=True)
        else:
            # The public call imports torch.compile's configuration (about 2 s per process) to
            # set a flag only compiled code reads; nothing here compiles, so set the kernels'
            # flag alone (what the public call does besides).
            torch._C._set_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    return np.random.default_rng(seed)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Run with ``threads`` torch threads (``None``: as is), restoring the setting afterwards.

    Raises:
        ValueError: for a thread count below 1.
    """
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        if int(threads) < 1:
            raise ValueError(f"threads={threads!r}; expected >= 1 or None")
        torch.set_num_threads(int(threads))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
