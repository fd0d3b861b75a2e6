"""Interleaved timing rounds: several measurements timed in turn, round after round.

Speeds compare as ratios measured in one run, and even within one run a slow spell of the
machine (another process, a thermal step) would hit whichever model was being timed. Timing
every measurement once per round, the rounds going over all of them in turn, spreads such a
spell over every model alike; :func:`bench.over_rounds` then reports the median of the
rounds' medians with their spread. The deployment table, the full-scale latency of the
compression chapters, the radar costs and the deployment chapter's formats all time this way.

The turns here are whole measurements, each with its own warm-up (and, in ONNX Runtime, its
own session); :func:`bench.time_interleaved` takes turns call by call within one measurement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral

from pose_helpers.core.progress import progress_bar
from pose_helpers.cost.bench import Timing, over_rounds

__all__ = ["check_rounds", "interleaved_rounds"]


def check_rounds(rounds: int) -> int:
    """``rounds`` as an int, checked before any work starts.

    Raises:
        ValueError: for a value that is not an int >= 1 (a bool included).
    """
    if isinstance(rounds, bool) or not isinstance(rounds, Integral) or rounds < 1:
        raise ValueError(f"rounds={rounds!r}; expected an int >= 1")
    return int(rounds)


def interleaved_rounds(
    calls: Sequence[Callable[[], Timing | None]],
    rounds: int,
    *,
    progress: bool = False,
    desc: str = "timing",
) -> list[Timing | None]:
    """Call each of ``calls`` (one timed measurement each, e.g. :func:`bench.latency` or
    :func:`deploy.ort_latency` with its arguments bound) once per round, in order, for
    ``rounds`` rounds; return :func:`bench.over_rounds` of each call's rounds (``None``
    where a round returned ``None``: a runtime that cannot run it).

    Raises:
        ValueError: for ``rounds`` that is not an int >= 1 (before anything is timed).
    """
    rounds = check_rounds(rounds)
    measured: list[list[Timing | None]] = [[] for _ in calls]
    steps = [i for _ in range(rounds) for i in range(len(calls))]
    for i in progress_bar(enabled=progress, iterable=steps, desc=desc):
        measured[i].append(calls[i]())
    return [over_rounds(timings) for timings in measured]
