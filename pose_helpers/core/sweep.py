"""Run a function over a parameter grid, one stored record per point.

``run_sweep(fn, grid(lr=[1e-3, 1e-2], seed=[0, 1]), name="lr")`` calls ``fn(**point)`` for
every point and returns a DataFrame: the grid columns, the record's columns, ``seconds``
(the time the point took when it was computed), ``cached`` (read from the run store by this
call) and ``error`` (missing, or ``"Type: message"`` for a point that raised).

Each point is one run of the study ``name`` in the run store (:mod:`pose_helpers.core.store`):
its key is a hash of the study, the point and the study's version, which defaults to the
``STUDY_VERSION`` that fn's module declares. Records are committed under
``book/runs/<name>/`` as points finish, so an interrupted sweep resumes where it stopped, a
finished one re-renders at once, and a fresh clone re-renders without training. Failed
points are not stored: a re-run tries them again. :func:`cached_run` is the one-point form.

Executors: ``'process'`` (worker processes started with ``spawn``, one torch thread each;
fn must be importable, i.e. defined at module level in a ``.py`` file; with ``workers=1``
the points run in this process as a worker would run them, one torch thread and this
process's random state left as it was, since a started worker costs seconds of imports),
``'serial'`` (in this process, for debugging) and ``'ray'`` (Ray tasks on a local instance
or the cluster at ``address``; Ray is optional: ``pip install 'pose-helpers[ray]'``).
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing
import os
import pickle
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pose_helpers.core import lifeline
from pose_helpers.core.progress import progress_bar
from pose_helpers.core.repro import torch_threads
from pose_helpers.core.store import RunStore, environment, jsonable

__all__ = ["cached_run", "grid", "run_sweep", "study_version"]

EXECUTORS = ("process", "serial", "ray")
RAY_HINT = "pip install 'pose-helpers[ray]'"


def grid(**axes: Any) -> list[dict[str, Any]]:
    """All combinations of the axes, the last axis varying fastest.

    A list, range or 1-D NumPy array is an axis; any other value (a number, a string, a
    tuple such as ``milestones=(90, 120)``) is fixed for every point.

    Example: ``grid(lr=[1e-3, 1e-2], seed=[0, 1], epochs=2)`` gives 4 points.

    Returns:
        A list of dicts (the points).
    """
    names = list(axes)
    values = [_axis(v) for v in axes.values()]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def _axis(value: Any) -> list[Any]:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | range):
        return list(value)
    return [value]


def _qualname(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def study_version(fn: Callable) -> str:
    """The ``STUDY_VERSION`` declared by fn's module (the version of its runs' keys).

    Raises:
        ValueError: when the module declares none (pass ``version=...`` then).
    """
    module = sys.modules.get(fn.__module__)
    version = getattr(module, "STUDY_VERSION", None)
    if version is None:
        raise ValueError(
            f"{_qualname(fn)}: its module declares no STUDY_VERSION; declare one (bump it when "
            "the code changes what a run computes) or pass version=..."
        )
    return str(version)


# --------------------------------------------------------------------------- workers


def _init_worker(starter: int = 0, *, parent: bool = True) -> None:
    """Worker processes use one torch thread (two 1-thread workers beat one 2-thread one),
    and stop when the process that started the sweep (``starter``), their parent or the
    chapter runner dies (:mod:`pose_helpers.core.lifeline`)."""
    lifeline.watch_runner(starter, parent=parent)
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work already ran
        pass


@contextmanager
def _as_one_worker() -> Iterator[None]:
    """Run here what one worker process would run: one torch thread, and the random state of
    this process (Python, NumPy, torch) restored afterwards, as a worker leaves it untouched."""
    import torch

    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    try:
        with torch_threads(1), torch.random.fork_rng(devices=[]):
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002


def _call(fn: Callable[..., Mapping[str, Any]], point: Mapping[str, Any]) -> dict[str, Any]:
    """``fn(**point)``, checked to be a dict of JSON-able values that shadow no grid column."""
    record = fn(**point)
    if not isinstance(record, Mapping):
        raise TypeError(f"{_qualname(fn)} returned {type(record).__name__}; expected a dict")
    record = jsonable(record)
    shadowed = sorted(set(record) & set(point))
    if shadowed:
        raise ValueError(f"{_qualname(fn)} returned keys that shadow grid columns: {shadowed}")
    json.dumps(record)  # raises TypeError for values JSON cannot hold
    return record


def _run_point(fn: Callable, point: Mapping[str, Any], *, catch: bool = True) -> dict[str, Any]:
    """Run one point; return its record and seconds, or (with ``catch``) its error."""
    t0 = time.perf_counter()
    try:
        record = _call(fn, point)
    except Exception as err:
        if not catch:
            raise
        return {
            "record": None,
            "seconds": time.perf_counter() - t0,
            "error": f"{type(err).__name__}: {err}",
            "traceback": traceback.format_exc(),
        }
    # the environment is the computing process's (a worker's one thread, not the parent's)
    return {
        "record": record,
        "seconds": time.perf_counter() - t0,
        "error": None,
        "environment": environment(),
    }


def _run_point_in_ray(fn: Callable, point: Mapping[str, Any], driver: int = 0) -> dict[str, Any]:
    # A Ray worker's parent is Ray's raylet, not the driver: watch the driver itself.
    _init_worker(driver, parent=False)
    return _run_point(fn, point)


# --------------------------------------------------------------------------- cache


# --------------------------------------------------------------------------- the sweep


def run_sweep(
    fn: Callable[..., Mapping[str, Any]],
    grid: Iterable[Mapping[str, Any]],
    *,
    name: str,
    executor: str = "process",
    workers: int = 2,
    runs_dir: str | os.PathLike | None = None,
    version: str | int | None = None,
    raise_errors: bool = False,
    address: str | None = None,
    progress: bool = True,
    execution: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Run ``fn(**point)`` for every point of ``grid``, caching one record per point.

    Args:
        fn: returns a dict of JSON-able results (NumPy and torch scalars/arrays are converted).
            For ``'process'`` and ``'ray'`` it must be importable (module level in a file).
        grid: the points, dicts of JSON-able parameters (see :func:`grid`).
        name: the study the runs belong to: records live in ``<runs_dir>/<name>/``.
        executor: ``'process'``, ``'serial'`` or ``'ray'``.
        workers: parallel worker processes (``'process'``; 1: this process, one torch thread)
            or CPUs of a local Ray instance.
        runs_dir: the run store's root; default :func:`pose_helpers.core.store.runs_root`
            (``book/runs``).
        version: the study's version in the key; default :func:`study_version` of fn.
        raise_errors: raise the first failing point's error instead of recording it in the
            ``error`` column; finished points are saved, and the process executor lets
            running points finish (and saves them) but starts no new one.
        address: Ray cluster address for ``ray.init(address=...)``; default a local instance.
        progress: show a tqdm bar over the points on stderr.
        execution: arguments passed to every call of fn that do not change its result
            (threads, data-loader workers, progress bars): not part of the key.

    Returns:
        One row per point in grid order: the grid columns, the record columns, ``seconds``,
        ``cached`` and ``error``.

    Raises:
        ValueError: for an unknown executor, a bad name or worker count.
        TypeError: when a point is not JSON-able, or fn cannot be sent to worker processes.
        ImportError: for ``executor='ray'`` without Ray installed.
        RuntimeError: with ``raise_errors``, when a point failed in a worker (the message
            holds the worker's traceback); the serial executor re-raises the error itself.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor={executor!r}; expected one of {EXECUTORS}")
    if not name or name != Path(name).name or name.startswith("."):
        raise ValueError(f"name={name!r}; expected a plain folder name")
    if workers < 1:
        raise ValueError(f"workers={workers!r}; expected >= 1")
    points = [dict(p) for p in grid]
    for point in points:
        try:
            json.dumps(jsonable(point))
        except TypeError as err:
            raise TypeError(f"grid point {point!r} is not JSON-able: {err}") from err
    store = RunStore(name, study_version(fn) if version is None else str(version), runs_dir)
    keys = [store.key(p) for p in points]
    entries: dict[str, dict[str, Any]] = {}  # key -> {'record', 'seconds', 'error', 'cached'}
    for key, point in dict(zip(keys, points, strict=True)).items():
        saved = store.load(point)
        if saved is not None:
            entries[key] = {
                "record": saved["result"],
                "seconds": saved["seconds"],
                "error": None,
                "cached": True,
            }
    todo = {key: point for key, point in zip(keys, points, strict=True) if key not in entries}

    bar = progress_bar(
        enabled=progress,
        total=len(set(keys)),
        initial=len(entries),
        desc=name,
        unit="point",
    )

    def finish(key: str, outcome: dict[str, Any]) -> None:
        entries[key] = {**outcome, "cached": False}
        if outcome["error"] is None:
            store.save(todo[key], outcome["record"], outcome["seconds"], outcome["environment"])
        bar.update()
        if outcome["error"] is not None and raise_errors and executor != "serial":
            raise RuntimeError(
                f"sweep {name!r}: point {todo[key]!r} failed: {outcome['error']}\n"
                f"worker traceback:\n{outcome.get('traceback', '')}"
            )

    calls = {key: {**point, **(execution or {})} for key, point in todo.items()}
    try:
        if not todo:
            pass
        elif executor == "serial":
            for key, call in calls.items():  # with raise_errors the error itself surfaces
                finish(key, _run_point(fn, call, catch=not raise_errors))
        elif executor == "process" and workers == 1:
            _check_sendable(fn)  # as with more workers: the same fn works at any count
            with _as_one_worker():
                for key, call in calls.items():
                    finish(key, _run_point(fn, call))
        elif executor == "process":
            _check_sendable(fn)
            _run_processes(fn, calls, workers, finish)
        else:
            _run_ray(fn, calls, workers, address, finish)
    except KeyboardInterrupt:
        done = sum(1 for key in set(keys) if key in entries)
        raise KeyboardInterrupt(
            f"sweep {name!r} interrupted after {done} of {len(set(keys))} runs; the finished "
            "ones are stored and the same command resumes"
        ) from None
    finally:
        bar.close()
    return _frame(points, keys, entries)


def cached_run(
    fn: Callable[..., Mapping[str, Any]],
    *,
    study: str,
    version: str | int | None = None,
    runs_dir: str | os.PathLike | None = None,
    execution: Mapping[str, Any] | None = None,
    **point: Any,
) -> dict[str, Any]:
    """``fn(**point, **execution)`` as one run of ``study`` in the run store: the stored
    record's result when there is one, else computed here (this process) and stored. The
    key holds ``point``; ``execution`` (threads, progress bars) does not change the result.

    Raises:
        whatever fn raises (nothing is stored then).
    """
    store = RunStore(study, study_version(fn) if version is None else str(version), runs_dir)
    saved = store.load(point)
    if saved is not None:
        return saved["result"]
    outcome = _run_point(fn, {**point, **(execution or {})}, catch=False)
    store.save(point, outcome["record"], outcome["seconds"], outcome["environment"])
    return outcome["record"]


def _check_sendable(fn: Callable) -> None:
    try:
        pickle.dumps(fn)
    except (pickle.PicklingError, AttributeError, TypeError) as err:
        raise TypeError(
            f"{_qualname(fn)} cannot be sent to worker processes ({err}); define it at module level "
            "in a .py file, or use executor='serial'"
        ) from err


def _run_processes(
    fn: Callable,
    todo: Mapping[str, Mapping[str, Any]],
    workers: int,
    finish: Callable[[str, dict], None],
) -> None:
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(todo)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(os.getpid(),),
    )
    failure: RuntimeError | None = None
    try:
        pending = {pool.submit(_run_point, fn, point): key for key, point in todo.items()}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                key = pending.pop(future)
                if future.cancelled():
                    continue
                outcome = future.result()  # raises BrokenProcessPool if a worker died
                try:
                    finish(key, outcome)
                except RuntimeError as err:  # raise_errors: start no new point, keep running ones
                    failure = failure or err
                    for other in pending:
                        other.cancel()
    except BaseException:  # e.g. KeyboardInterrupt: stop the workers now
        for process in list((pool._processes or {}).values()):  # no public API for this
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if failure is not None:
        raise failure


def _run_ray(
    fn: Callable,
    todo: Mapping[str, Mapping[str, Any]],
    workers: int,
    address: str | None,
    finish: Callable[[str, dict], None],
) -> None:
    try:
        import ray
    except ImportError as err:
        raise ImportError(f"executor='ray' needs Ray, an optional dependency: {RAY_HINT}") from err
    started = not ray.is_initialized()
    if started and address is not None:
        ray.init(address=address)
    elif started:
        # A local instance: its workers inherit the environment, so they get this process's
        # import path (a runtime_env would start a second set of workers, seconds slower).
        before = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        try:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        finally:
            if before is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = before
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(_run_point_in_ray)
        pending = {remote.remote(fn, point, os.getpid()): key for key, point in todo.items()}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                finish(pending.pop(ref), ray.get(ref))
    finally:
        if started:
            ray.shutdown()


def _frame(
    points: Sequence[dict], keys: Sequence[str], entries: Mapping[str, dict]
) -> pd.DataFrame:
    """One row per point: grid columns, record columns, seconds, cached, error."""
    rows, result_columns = [], {}
    for point, key in zip(points, keys, strict=True):
        entry = entries.get(
            key, {"record": None, "seconds": math.nan, "error": "not run", "cached": False}
        )
        record = entry["record"] or {}
        result_columns.update(dict.fromkeys(record))
        rows.append(
            {
                **point,
                **record,
                "seconds": entry["seconds"],
                "cached": entry["cached"],
                "error": entry["error"],
            }
        )
    grid_columns = list(dict.fromkeys(k for p in points for k in p))
    columns = (
        grid_columns
        + [c for c in result_columns if c not in grid_columns]
        + ["seconds", "cached", "error"]
    )
    return pd.DataFrame(rows, columns=columns)
