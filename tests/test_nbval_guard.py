"""The regression net itself: a changed printed number must fail nbval, sanitizers or not."""

from __future__ import annotations

import subprocess
import sys

import nbformat

from pose_helpers.core.paths import REPO_ROOT

RECORDED = "mean PCKh 86.76 at /work/shared/data/mpii\n"


def notebook(path, printed: str) -> str:
    """A one-cell notebook whose recorded output is ``RECORDED`` and whose cell prints
    ``printed``; returns its file name."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(f"print({printed!r}, end='')")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=RECORDED)]
    cell.execution_count = 1
    nb.cells = [cell]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))
    return path.name


def test_changed_number_fails_and_restored_passes(tmp_path):
    # one nbval session over three notebooks (a kernel each): faster than three sessions
    same = notebook(tmp_path / "same.ipynb", RECORDED)
    changed = notebook(tmp_path / "changed.ipynb", RECORDED.replace("86.76", "86.77"))
    moved = notebook(tmp_path / "moved.ipynb", RECORDED.replace("/work/", "/elsewhere/"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-rA",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "--nbval",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            str(REPO_ROOT / "tests" / "nbval_sanitize.cfg"),
            same,
            changed,
            moved,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    outcome = {}  # "same.ipynb::Cell 0" -> "PASSED"
    for line in result.stdout.splitlines():
        if line.startswith(("PASSED ", "FAILED ")):
            state, node = line.split(" - ")[0].split(" ", 1)
            outcome[node] = state
    assert outcome.get(f"{same}::Cell 0") == "PASSED", result.stdout[-2000:]
    assert outcome.get(f"{changed}::Cell 0") == "FAILED", result.stdout[-2000:]
    assert "Cell outputs differ" in result.stdout  # failed on its output, not on running
    assert outcome.get(f"{moved}::Cell 0") == "PASSED", "paths should be sanitized"
