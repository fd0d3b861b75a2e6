"""The regression net itself: a changed printed number must fail nbval, sanitizers or not."""

from __future__ import annotations

import subprocess
import sys

import nbformat

from pose_helpers.core.paths import REPO_ROOT


def run_nbval(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            str(REPO_ROOT / "tests" / "nbval_sanitize.cfg"),
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=path.parent,
    )


def test_changed_number_fails_and_restored_passes(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(f'mean PCKh {86.76:.2f} at /work/shared/data/mpii')")
    cell.outputs = [
        nbformat.v4.new_output(
            "stream", name="stdout", text="mean PCKh 86.76 at /work/shared/data/mpii\n"
        )
    ]
    cell.execution_count = 1
    nb.cells = [cell]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "guard.ipynb"
    nbformat.write(nb, str(path))
    assert run_nbval(path).returncode == 0

    cell.outputs[0]["text"] = "mean PCKh 86.77 at /work/shared/data/mpii\n"
    nbformat.write(nb, str(path))
    changed = run_nbval(path)
    assert changed.returncode == 1, changed.stdout[-2000:]

    cell.outputs[0]["text"] = "mean PCKh 86.76 at /elsewhere/shared/data/mpii\n"
    nbformat.write(nb, str(path))
    assert run_nbval(path).returncode == 0, "paths should be sanitized"
