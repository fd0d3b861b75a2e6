"""Tests of pose_helpers.core.repro: seeds, threads and deterministic kernels."""

from __future__ import annotations

import subprocess
import sys


def test_seed_everything_fixes_threads_and_deterministic_kernels_without_the_compiler():
    code = (
        "import sys, torch\n"
        "from pose_helpers.core.repro import seed_everything\n"
        "seed_everything(0, threads=1)\n"
        "print(torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),\n"
        "      torch.is_deterministic_algorithms_warn_only_enabled(),\n"
        "      'torch._inductor.config' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # the compiler's configuration (2 s of imports) stays unloaded: nothing here compiles
    assert out.stdout.split() == ["1", "True", "True", "False"]
