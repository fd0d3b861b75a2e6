"""Processes die with their runner (pose_helpers.core.lifeline) and chapter constraints
(pose_helpers.chapters.checks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from test_chapters import make_chapter

from pose_helpers.chapters import checks
from pose_helpers.core import lifeline


def test_alive_tells_a_live_process_from_a_dead_one():
    assert lifeline.alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not lifeline.alive(child.pid)


def test_a_watched_process_exits_when_what_it_watches_dies(tmp_path):
    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    code = f"from pose_helpers.core import lifeline; import time; lifeline.watch([{target.pid}], interval=0.1); time.sleep(60)"
    watcher = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(1.5)
    assert watcher.poll() is None
    target.kill()
    target.wait()
    assert watcher.wait(timeout=10) == lifeline.ORPHAN_EXIT


def _wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_killing_the_runner_mid_sweep_leaves_no_worker(tmp_path):
    """SIGKILL of the runner: the kernel and the sweep workers stop within seconds."""
    pids = tmp_path / "pids"
    pids.mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "slowmod.py").write_text(
        textwrap.dedent(
            f"""
            import os, time

            STUDY_VERSION = 1

            def slow(i):
                open(os.path.join({str(pids)!r}, f"worker-{{os.getpid()}}"), "w").close()
                time.sleep(120)
                return {{"i2": i}}
            """
        )
    )
    body = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, os.getcwd())
        open(os.path.join({str(pids)!r}, f"kernel-{{os.getpid()}}"), "w").close()
        import pose_helpers as ph
        from pose_helpers.core import sweep
        import slowmod
        ph.setup_notebook(seed=0)
        sweep.run_sweep(slowmod.slow, sweep.grid(i=[0, 1, 2, 3]), name="slow", workers=2,
                        runs_dir={str(tmp_path / "runs")!r}, progress=False)
        """
    )
    make_chapter(tmp_path, body=body)
    script = (
        "from pathlib import Path; from pose_helpers.chapters import runner; "
        f"runner.run_chapter('toy', layout=runner.Layout(Path({str(tmp_path)!r})))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = _wait_for(lambda: len(list(pids.glob("worker-*"))) >= 2, timeout=120)
        assert started, "the sweep's workers never started"
        children = [int(p.name.split("-")[1]) for p in pids.iterdir()]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        gone = _wait_for(lambda: not any(lifeline.alive(pid) for pid in children), timeout=15)
        survivors = [pid for pid in children if lifeline.alive(pid)]
        assert gone, f"processes outlived their runner: {survivors}"
    finally:
        for p in pids.iterdir():
            try:
                os.kill(int(p.name.split("-")[1]), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass


@pytest.mark.parametrize(
    ("rule", "value", "problem"),
    [
        (">= 1", 0, "must be >= 1; got 0"),
        (">= 1", 1, None),
        ("> 0", 0.5, None),
        ("non-empty", [], "must be non-empty"),
        ("non-empty", [1], None),
        ("each >= 0", [1, -2], "every element of 'x' must be >= 0; got -2"),
        ("in ['a', 'b']", "c", "must be one of ['a', 'b']; got 'c'"),
        ("each in [1, 2]", [1, 3], "got 3"),
        ("path", "/no/such/path", "no such file or folder"),
        (">= 1", None, None),
        (">= 1", "1", "must be >= 1; got '1'"),
    ],
)
def test_each_rule_by_hand(rule, value, problem):
    found = checks.check_values({"x": value}, {"x": rule}, chapter="c")
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0]


def test_a_bad_rule_or_name_is_the_chapters_bug():
    with pytest.raises(ValueError, match="not one of"):
        checks.check_values({"x": 1}, {"x": "positive"}, chapter="c")
    with pytest.raises(ValueError, match="unknown parameter 'y'"):
        checks.check_values({"x": 1}, {"y": "> 0"}, chapter="c")


def test_every_chapter_of_the_book_passes_its_own_checks_in_every_profile():
    from pose_helpers.chapters import runner

    for name in runner.list_chapters():
        chapter = runner.load_chapter(name)
        assert chapter.checks, f"{name} declares no CHECKS"
        for profile in runner.PROFILES:
            runner.resolve_parameters(chapter, profile)
