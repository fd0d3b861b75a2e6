"""Tests of pose_helpers.core.sweep: grids, the on-disk cache, resuming, executors and errors."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pose_helpers.core.sweep import code_version, grid, point_key, run_sweep


def square(x: int, log: str) -> dict:
    """A sweep function for the tests: logs each call as a file, fails where told to."""
    Path(log, f"call-{x}-{uuid.uuid4().hex}").touch()
    if Path(log, f"fail-{x}").exists():
        raise ValueError(f"x={x} failed as told")
    return {"y": x * x, "pair": np.arange(2) * x, "half": np.float32(x / 2), "pid": os.getpid()}


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
            square, points, name="sq", executor="serial", cache_dir=tmp_path, raise_errors=True
        )
    assert _calls(log) == 3 and len(list((tmp_path / "sq").glob("*.json"))) == 2

    (log / "fail-2").unlink()
    df = run_sweep(square, points, name="sq", executor="serial", cache_dir=tmp_path, progress=False)
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
        square, points, name="sq", executor="serial", cache_dir=tmp_path, progress=False
    )
    assert _calls(log) == 6 and again["cached"].all()
    pd.testing.assert_frame_equal(again.drop(columns="cached"), df.drop(columns="cached"))


def test_failed_point_is_recorded_and_retried(tmp_path, log):
    points = grid(x=[0, 1, 2], log=str(log))
    (log / "fail-1").touch()
    df = run_sweep(
        square, points, name="err", executor="serial", cache_dir=tmp_path, progress=False
    )
    assert df["error"].fillna("").tolist() == ["", "ValueError: x=1 failed as told", ""]
    assert np.isnan(df["y"].iloc[1]) and df["y"].iloc[2] == 4
    run_sweep(square, points, name="err", executor="serial", cache_dir=tmp_path, progress=False)
    assert [_calls(log, x) for x in range(3)] == [1, 2, 1]  # failures are not cached


def test_bad_records_are_errors(tmp_path):
    df = run_sweep(
        not_a_dict, grid(x=[1]), name="bad", executor="serial", cache_dir=tmp_path, progress=False
    )
    assert df["error"].iloc[0] == f"TypeError: {__name__}.not_a_dict returned list; expected a dict"
    df = run_sweep(
        shadowing, grid(x=[1]), name="bad", executor="serial", cache_dir=tmp_path, progress=False
    )
    assert "shadow grid columns: ['x']" in df["error"].iloc[0]


def test_process_executor_gives_the_serial_records(tmp_path, log):
    points = grid(x=[3, 1, 2, 0], log=str(log))
    (log / "fail-2").touch()
    serial = run_sweep(
        square, points, name="s", executor="serial", cache_dir=tmp_path, progress=False
    )
    parallel = run_sweep(
        square, points, name="p", executor="process", workers=2, cache_dir=tmp_path, progress=False
    )
    pd.testing.assert_frame_equal(_records(parallel), _records(serial))
    assert not parallel["cached"].any() and os.getpid() not in parallel["pid"].tolist()
    again = run_sweep(
        square, points, name="p", executor="serial", cache_dir=tmp_path, progress=False
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
            cache_dir=tmp_path,
            raise_errors=True,
            progress=False,
        )
    saved = {p.stem for p in (tmp_path / "r").glob("*.json")}
    assert {
        point_key(square, points[i], code_version(square)) for i in (0, 1)
    } <= saved  # finished first
    assert point_key(square, points[2], code_version(square)) not in saved


def test_version_keys_the_cache(tmp_path, log):
    points = grid(x=[1, 2], log=str(log))
    for version, expected_calls in (("a", 2), ("b", 4), ("a", 4)):
        run_sweep(
            square,
            points,
            name="v",
            executor="serial",
            cache_dir=tmp_path,
            version=version,
            progress=False,
        )
        assert _calls(log) == expected_calls
    assert point_key(square, points[0], "a") != point_key(square, points[0], "b")
    assert point_key(square, points[0], "a") != point_key(square, points[1], "a")


def test_code_version_follows_the_module_source(tmp_path):
    source = tmp_path / "sweep_target.py"
    source.write_text("def f(x):\n    return {'y': x}\n")
    spec = importlib.util.spec_from_file_location("sweep_target", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    before = code_version(module.f)
    assert code_version(module.f) == before
    source.write_text("def f(x):\n    return {'y': 2 * x}\n")
    assert code_version(module.f) != before
    assert code_version(square) == code_version(not_a_dict)  # same module, same version


def test_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="'threads'"):
        run_sweep(square, [], name="x", executor="threads", cache_dir=tmp_path)
    with pytest.raises(ValueError, match=r"name='\.\./x'"):
        run_sweep(square, [], name="../x", cache_dir=tmp_path)
    with pytest.raises(TypeError, match="not JSON-able"):
        run_sweep(square, [{"x": object()}], name="x", cache_dir=tmp_path, version="1")
    with pytest.raises(TypeError, match="module level"):
        run_sweep(
            lambda x: {"y": x},
            grid(x=[1]),
            name="x",
            cache_dir=tmp_path,
            version="1",
            progress=False,
        )


def test_ray_missing_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'pose-helpers\[ray\]'"):
        run_sweep(
            square, grid(x=[1], log=str(tmp_path)), name="ray", executor="ray", cache_dir=tmp_path
        )


@pytest.mark.slow
def test_ray_executor_gives_the_serial_records(tmp_path, log):
    pytest.importorskip("ray", reason="Ray is optional: pip install 'pose-helpers[ray]'")
    points = grid(x=[0, 1, 2], log=str(log))
    (log / "fail-1").touch()
    serial = run_sweep(
        square, points, name="s", executor="serial", cache_dir=tmp_path, progress=False
    )
    ray_df = run_sweep(
        square, points, name="r", executor="ray", workers=2, cache_dir=tmp_path, progress=False
    )
    pd.testing.assert_frame_equal(_records(ray_df), _records(serial))
