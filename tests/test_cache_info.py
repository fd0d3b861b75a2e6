"""What the cache holds (`python -m pose_helpers cache-info`), and `make clean-cache`, which
says so and asks before deleting hours of training."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from pose_helpers.__main__ import main
from pose_helpers.core.io import write_json
from pose_helpers.core.paths import REPO_ROOT
from pose_helpers.core.store import cache_summary, describe_cache

KEY, OTHER = "0123456789abcdef", "fedcba9876543210"


@pytest.fixture
def cache(tmp_path):
    """A cache with two checkpoints (one with a run record, 1.5 h of training; one without),
    a render, and a damaged file moved aside; the run records beside it."""
    folder = tmp_path / "cache"
    (folder / "checkpoints" / "synthpose").mkdir(parents=True)
    (folder / "checkpoints" / "synthpose" / f"{KEY}.pt").write_bytes(b"x" * 1000)
    (folder / "mmwave").mkdir()
    (folder / "mmwave" / f"mmwave_baseline-sim-{OTHER}.pt").write_bytes(b"x" * 10)
    (folder / "mmwave" / f"mmwave_baseline-sim-{OTHER}.pt.corrupt").write_bytes(b"x")
    (folder / "synthpose").mkdir()
    (folder / "synthpose" / "train.npz").write_bytes(b"x" * 100)
    runs = tmp_path / "runs"
    # resumed: 600 s of wall time, but the checkpoint holds 5400 s of training
    result = {"key": KEY, "train_seconds": 5400.0}
    write_json(runs / "a" / "1.json", {"seconds": 600.0, "result": result})
    write_json(runs / "b" / "2.json", {"seconds": 60.0, "result": {"key": KEY}})  # counted once
    write_json(runs / "b" / "3.json", {"seconds": 9e9, "result": {"key": "aaaaaaaaaaaaaaaa"}})
    write_json(runs / "b" / "4.json", {"seconds": 9e9, "result": {"rows": []}})  # no checkpoint
    (runs / "b" / "5.json").write_text("{cut short")
    return folder, runs


def test_cache_summary_counts_checkpoints_and_their_hours(cache):
    folder, runs = cache
    summary = cache_summary(folder, runs)
    assert summary["files"] == 4 and summary["bytes"] == 1111
    assert summary["checkpoints"] == 2 and summary["moved_aside"] == 1
    assert summary["runs"] == 1 and summary["hours"] == pytest.approx(1.5)
    assert summary["unrecorded"] == 1
    text = describe_cache(summary)
    assert "2 checkpoint files (*.pt): about 1.5 h of training" in text
    assert "1 checkpoint file of no run record" in text and "1 damaged file" in text
    assert ": 4 files, 0.0 MB" in text
    unknown = describe_cache(cache_summary(folder, runs / "none"))
    assert "2 checkpoint files (*.pt)\n" in unknown and "training time is unknown" in unknown
    empty = cache_summary(folder / "none", runs)
    assert empty["files"] == 0 and "nothing to delete" in describe_cache(empty)


def test_cache_info_command(cache, monkeypatch, capsys):
    folder, runs = cache
    monkeypatch.setenv("POSE_HELPERS_RUNS", str(runs))
    assert main(["cache-info", "--cache", str(folder)]) == 0
    assert "about 1.5 h of training" in capsys.readouterr().out
    monkeypatch.setenv("POSE_HELPERS_CACHE", str(folder))  # the default: the configured cache
    assert main(["cache-info"]) == 0
    assert str(folder) in capsys.readouterr().out


def _make(work, *args, answer=None):
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=work,
        input=answer,
        stdin=None if answer is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "POSE_HELPERS_RUNS": str(work.parent / "runs"),
        },
    )


@pytest.fixture
def work(tmp_path, cache):
    """A copy of the Makefile beside a `.cache` (and the records in `../runs`); the tests pass
    `PY=` this Python, so no .venv is built."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(REPO_ROOT / "Makefile", work / "Makefile")
    shutil.copytree(cache[0], work / ".cache")
    return work


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_clean_cache_says_what_it_holds_and_asks(work):
    py = f"PY={sys.executable}"
    kept = _make(work, "clean-cache", py, answer="n\n")
    assert kept.returncode == 0, kept.stderr
    assert "2 checkpoint files (*.pt): about 1.5 h of training" in kept.stdout
    assert "kept .cache" in kept.stdout and (work / ".cache").is_dir()
    silent = _make(work, "clean-cache", py)  # no answer (a script): nothing is deleted
    assert "kept .cache" in silent.stdout and (work / ".cache").is_dir()
    deleted = _make(work, "clean-cache", py, answer="yes\n")
    assert deleted.returncode == 0 and not (work / ".cache").exists()
    shutil.copytree(work.parent / "cache", work / ".cache")
    forced = _make(work, "clean-cache", py, "FORCE=1")
    assert forced.returncode == 0 and not (work / ".cache").exists()
    assert "no .cache" in _make(work, "clean-cache", py).stdout
    shutil.copytree(work.parent / "cache", work / ".cache")
    bare = _make(work, "clean-cache", answer="n\n")  # no .venv here: the size alone
    assert "no .venv to count" in bare.stdout and (work / ".cache").is_dir()


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_help_and_lab(work):
    text = _make(work, "help").stdout
    for needed in (
        "python -m pose_helpers list",
        "python -m pose_helpers run CHAPTER [--profile smoke|book|paper] [-p NAME VALUE]",
        "POSE_HELPERS_DATA",
        "POSE_HELPERS_CACHE",
        "POSE_HELPERS_RUNS",
        "HOURS of training",
        "paper",
    ):
        assert needed in text
    lab = _make(work, "-n", "-o", ".venv/.installed", "lab").stdout
    assert ("--allow-root" in lab) == (os.getuid() == 0)
