"""Tests of pose_helpers.core.sweep: grids, the on-disk cache, resuming, executors and errors."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pose_helpers.core.store import RunStore
from pose_helpers.core.sweep import cached_run, grid, run_sweep, study_version

#: The version of the test sweeps' keys (what a study module declares).
STUDY_VERSION = 1


def square(x: int, log: str) -> dict:
    """A sweep function for the tests: logs each call as a file, fails where told to."""
    Path(log, f"call-{x}-{uuid.uuid4().hex}").touch()
    if Path(log, f"fail-{x}").exists():
        raise ValueError(f"x={x} failed as told")
    return {"y": x * x, "pair": np.arange(2) * x, "half": np.float32(x / 2), "pid": os.getpid()}


def draw(x: int) -> dict:
    """A sweep function that reports its torch threads and draws from the global generators."""
    import torch

    return {
        "threads": torch.get_num_threads(),
        "draw": float(torch.rand(1)),
        "np": np.random.rand(),  # noqa: NPY002 - the global generator on purpose
    }


def not_a_dict(x: int) -> list:
    return [x]


def shadowing(x: int) -> dict:
    return {"x": x + 1}


def _calls(log: Path, x: int | None = None) -> int:
    return len(list(log.glob("call-*" if x is None else f"call-{x}-*")))


def _records(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["seconds", "cached", "pid"]).reset_index(drop=True)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    folder = tmp_path / "log"
    folder.mkdir()
    return folder


def test_grid_product_and_fixed_values():
    points = grid(lr=[1e-3, 1e-2], seed=range(2), milestones=(90, 120), name="sb")
    assert len(points) == 4
    assert points[1] == {"lr": 1e-3, "seed": 1, "milestones": (90, 120), "name": "sb"}
    assert [p["lr"] for p in grid(lr=np.array([0.1, 0.2]))] == [0.1, 0.2]
    assert grid() == [{}]


def test_interrupted_sweep_resumes_and_finished_one_is_cached(tmp_path, log):
    points = grid(x=range(5), log=str(log))
    (log / "fail-2").touch()
    with pytest.raises(ValueError, match="x=2 failed"):
        run_sweep(
            square,
            points,
            name="sq",
            executor="serial",
            runs_dir=tmp_path,
            raise_errors=True,
            version=1,
        )
    assert _calls(log) == 3 and len(list((tmp_path / "sq").glob("*.json"))) == 2

    (log / "fail-2").unlink()
    df = run_sweep(square, points, name="sq", executor="serial", runs_dir=tmp_path, progress=False)
    assert [_calls(log, x) for x in range(5)] == [1, 1, 2, 1, 1]  # only the missing points ran
    assert df["cached"].tolist() == [True, True, False, False, False]
    assert list(df.columns) == [
        "x",
        "log",
        "y",
        "pair",
        "half",
        "pid",
        "seconds",
        "cached",
        "error",
    ]
    assert df["y"].tolist() == [0, 1, 4, 9, 16] and df["pair"].iloc[3] == [0, 3]
    assert df["error"].isna().all() and (df["seconds"] >= 0).all()

    again = run_sweep(
        square, points, name="sq", executor="serial", runs_dir=tmp_path, progress=False
    )
    assert _calls(log) == 6 and again["cached"].all()
    pd.testing.assert_frame_equal(again.drop(columns="cached"), df.drop(columns="cached"))


def test_failed_point_is_recorded_and_retried(tmp_path, log):
    points = grid(x=[0, 1, 2], log=str(log))
    (log / "fail-1").touch()
    df = run_sweep(square, points, name="err", executor="serial", runs_dir=tmp_path, progress=False)
    assert df["error"].fillna("").tolist() == ["", "ValueError: x=1 failed as told", ""]
    assert np.isnan(df["y"].iloc[1]) and df["y"].iloc[2] == 4
    run_sweep(square, points, name="err", executor="serial", runs_dir=tmp_path, progress=False)
    assert [_calls(log, x) for x in range(3)] == [1, 2, 1]  # failures are not cached


def test_bad_records_are_errors(tmp_path):
    df = run_sweep(
        not_a_dict, grid(x=[1]), name="bad", executor="serial", runs_dir=tmp_path, progress=False
    )
    assert df["error"].iloc[0] == f"TypeError: {__name__}.not_a_dict returned list; expected a dict"
    df = run_sweep(
        shadowing, grid(x=[1]), name="bad", executor="serial", runs_dir=tmp_path, progress=False
    )
    assert "shadow grid columns: ['x']" in df["error"].iloc[0]


def test_process_executor_gives_the_serial_records(tmp_path, log):
    points = grid(x=[3, 1, 2, 0], log=str(log))
    (log / "fail-2").touch()
    serial = run_sweep(
        square, points, name="s", executor="serial", runs_dir=tmp_path, progress=False
    )
    parallel = run_sweep(
        square, points, name="p", executor="process", workers=2, runs_dir=tmp_path, progress=False
    )
    pd.testing.assert_frame_equal(_records(parallel), _records(serial))
    assert not parallel["cached"].any() and os.getpid() not in parallel["pid"].tolist()
    # each record says where it was computed: a worker's one thread, not this process's
    records = RunStore("p", study_version(square), tmp_path).records()
    assert {r["environment"]["torch_threads"] for r in records} == {1}
    again = run_sweep(
        square, points, name="p", executor="serial", runs_dir=tmp_path, progress=False
    )
    pd.testing.assert_frame_equal(_records(again), _records(serial))
    assert again["cached"].tolist() == [True, True, False, True]
    assert _calls(log) == 9  # 4 serial, 4 in workers, then only the failed point again

    with pytest.raises(RuntimeError, match=r"(?s)x=2 failed as told.*worker traceback"):
        run_sweep(
            square,
            points,
            name="r",
            workers=1,
            runs_dir=tmp_path,
            raise_errors=True,
            progress=False,
        )
    saved = {p.stem for p in (tmp_path / "r").glob("*.json")}
    store = RunStore("r", study_version(square), tmp_path)
    assert {store.key(points[i]) for i in (0, 1)} <= saved  # finished first
    assert store.key(points[2]) not in saved


def test_one_worker_runs_here_as_a_worker_would(tmp_path, log):
    import torch

    points = grid(x=[3, 1], log=str(log))
    here = run_sweep(square, points, name="h", workers=1, runs_dir=tmp_path, progress=False)
    serial = run_sweep(
        square, points, name="s", executor="serial", runs_dir=tmp_path, progress=False
    )
    pd.testing.assert_frame_equal(_records(here), _records(serial))
    assert here["pid"].tolist() == [os.getpid()] * 2  # no process started

    torch.set_num_threads(2)
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002
    expected = (float(torch.rand(1)), np.random.rand())  # noqa: NPY002
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002
    runs = run_sweep(draw, grid(x=[0]), name="d", workers=1, runs_dir=tmp_path, progress=False)
    assert runs["threads"].tolist() == [1]  # a worker's one thread
    assert torch.get_num_threads() == 2  # ... and this process's threads back
    assert (float(torch.rand(1)), np.random.rand()) == expected  # noqa: NPY002 - state untouched
    with pytest.raises(TypeError, match="cannot be sent to worker processes"):
        run_sweep(lambda x: {}, grid(x=[0]), name="l", workers=1, runs_dir=tmp_path)


def test_version_keys_the_cache(tmp_path, log):
    points = grid(x=[1, 2], log=str(log))
    for version, expected_calls in (("a", 2), ("b", 4), ("a", 4)):
        run_sweep(
            square,
            points,
            name="v",
            executor="serial",
            runs_dir=tmp_path,
            version=version,
            progress=False,
        )
        assert _calls(log) == expected_calls
    assert RunStore("v", "a").key(points[0]) != RunStore("v", "b").key(points[0])
    assert RunStore("v", "a").key(points[0]) != RunStore("v", "a").key(points[1])


def test_the_key_is_the_study_version_and_settings_not_the_code_path(tmp_path, log):
    source = tmp_path / "sweep_target.py"
    source.write_text("STUDY_VERSION = 3\n\n\ndef f(x):\n    return {'y': x}\n")
    spec = importlib.util.spec_from_file_location("sweep_target", source)
    module = importlib.util.module_from_spec(spec)
    sys.modules["sweep_target"] = module
    spec.loader.exec_module(module)
    assert study_version(module.f) == "3"
    # a function moved to another module with the same study and version finds its runs
    first = run_sweep(
        square,
        grid(x=[1], log=str(log)),
        name="m",
        version=3,
        runs_dir=tmp_path,
        executor="serial",
        progress=False,
    )
    assert not first["cached"].any()
    assert RunStore("m", 3, tmp_path).load({"x": 1, "log": str(log)})["result"]["y"] == 1
    with pytest.raises(ValueError, match="STUDY_VERSION"):
        study_version(json.dumps)


def test_cached_run_computes_once_and_reads_the_record_after(tmp_path, log):
    first = cached_run(square, study="c", version=1, runs_dir=tmp_path, x=3, log=str(log))
    again = cached_run(square, study="c", version=1, runs_dir=tmp_path, x=3, log=str(log))
    assert first == again and first["y"] == 9 and _calls(log) == 1
    record = RunStore("c", 1, tmp_path).load({"x": 3, "log": str(log)})
    assert set(record) >= {"settings", "result", "seconds", "environment", "finished", "key"}


def test_a_record_that_does_not_parse_or_disagrees_is_reported_and_recomputed(tmp_path, log):
    from pose_helpers.core.store import StoreWarning

    point = {"x": 2, "log": str(log)}
    store = RunStore("bad", 1, tmp_path)
    cached_run(square, study="bad", version=1, runs_dir=tmp_path, **point)
    store.path(point).write_text("{not json")
    with pytest.warns(StoreWarning, match=r"bad/\w+\.json does not parse"):
        cached_run(square, study="bad", version=1, runs_dir=tmp_path, **point)
    record = store.load(point)
    record["settings"]["x"] = 5  # a record edited by hand: its settings disagree with its key
    store.path(point).write_text(json.dumps(record))
    with pytest.warns(StoreWarning, match="other settings than its key"):
        assert cached_run(square, study="bad", version=1, runs_dir=tmp_path, **point)["y"] == 4
    assert _calls(log) == 3


def test_a_bad_record_is_moved_aside_kept_and_reported_once(tmp_path, log):
    import warnings

    from pose_helpers.core.store import StoreWarning

    point = {"x": 3, "log": str(log)}
    store = RunStore("bad", 1, tmp_path)
    path = store.path(point)
    cached_run(square, study="bad", version=1, runs_dir=tmp_path, **point)
    good = path.read_text()
    path.write_text(good[: len(good) // 2])  # a record cut short
    with pytest.warns(StoreWarning, match=rf"{path.name} does not parse.*{path.name}\.corrupt,"):
        assert store.load(point) is None
    assert path.with_name(f"{path.name}.corrupt").read_text() == good[: len(good) // 2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # moved aside: the next read is a plain miss
        assert store.load(point) is None
        assert cached_run(square, study="bad", version=1, runs_dir=tmp_path, **point)["y"] == 9
    assert _calls(log) == 2 and store.load(point)["result"]["y"] == 9  # recomputed and stored
    path.write_text("[]")  # a second bad copy does not overwrite the first one kept
    with pytest.warns(StoreWarning, match=r"\.corrupt-1,"):
        assert store.load(point) is None
    assert path.with_name(f"{path.name}.corrupt-1").read_text() == "[]"
    assert len(store.records()) == 0  # what was moved aside is no record


def test_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="'threads'"):
        run_sweep(square, [], name="x", executor="threads", runs_dir=tmp_path)
    with pytest.raises(ValueError, match=r"name='\.\./x'"):
        run_sweep(square, [], name="../x", runs_dir=tmp_path)
    with pytest.raises(TypeError, match="not JSON-able"):
        run_sweep(square, [{"x": object()}], name="x", runs_dir=tmp_path, version="1")
    with pytest.raises(TypeError, match="module level"):
        run_sweep(
            lambda x: {"y": x},
            grid(x=[1]),
            name="x",
            runs_dir=tmp_path,
            version="1",
            progress=False,
        )


def test_ray_missing_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'pose-helpers\[ray\]'"):
        run_sweep(
            square, grid(x=[1], log=str(tmp_path)), name="ray", executor="ray", runs_dir=tmp_path
        )


@pytest.mark.slow
def test_ray_executor_gives_the_serial_records(tmp_path, log):
    # Ray is a test dependency (requirements.txt): this runs in `make test`, never skipped.
    points = grid(x=[0, 1, 2], log=str(log))
    (log / "fail-1").touch()
    serial = run_sweep(
        square, points, name="s", executor="serial", runs_dir=tmp_path, progress=False
    )
    ray_df = run_sweep(
        square, points, name="r", executor="ray", workers=2, runs_dir=tmp_path, progress=False
    )
    pd.testing.assert_frame_equal(_records(ray_df), _records(serial))


def test_execution_arguments_reach_fn_but_not_the_key(tmp_path, log):
    seen = cached_run(
        square, study="e", version=1, runs_dir=tmp_path, execution={"log": str(log)}, x=4
    )
    assert seen["y"] == 16 and RunStore("e", 1, tmp_path).load({"x": 4}) is not None
    frame = run_sweep(
        square,
        grid(x=[4, 5]),
        name="e",
        version=1,
        runs_dir=tmp_path,
        executor="serial",
        execution={"log": str(log)},
        progress=False,
    )
    assert frame["cached"].tolist() == [True, False] and "log" not in frame
