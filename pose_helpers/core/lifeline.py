"""Processes that stop when the process that started them dies.

The chapter runner starts a kernel, and the kernel starts sweep workers. Killed by a signal
that cannot be caught (SIGKILL, or SIGHUP of a closed terminal), the runner takes nothing
with it: the kernel lives on in its own session and a worker goes on training, then hangs on
a pipe. :func:`watch` gives such a process a daemon thread that polls the processes it
depends on and ends this one (``os._exit``) as soon as any of them is gone, or as soon as
the process has been re-parented (its parent died). Polling costs nothing measurable at one
check per second.

The runner exports its process id as :data:`RUNNER_PID_ENV`; :func:`watch_runner` (called by
``setup_notebook`` in the kernel and by every sweep worker) watches it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable

__all__ = ["RUNNER_PID_ENV", "alive", "watch", "watch_runner"]

#: The environment variable holding the chapter runner's process id.
RUNNER_PID_ENV = "POSE_HELPERS_RUNNER_PID"
#: Exit status of a process ended because what it depended on died (128 + SIGHUP).
ORPHAN_EXIT = 129

_watched: set[int] = set()
_lock = threading.Lock()


def alive(pid: int) -> bool:
    """Whether a process with this id exists (and is not a zombie of ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # a dead child of ours stays a zombie until reaped: read its state on Linux
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def watch(pids: Iterable[int] = (), *, parent: bool = True, interval: float = 1.0) -> None:
    """End this process when any of ``pids`` dies or (with ``parent``) when it is re-parented.

    Idempotent per pid: calling it again for a watched pid starts no second thread.
    """
    targets = {int(p) for p in pids if int(p) > 0 and int(p) != os.getpid()}
    with _lock:
        new = targets - _watched
        first_parent = parent and 0 not in _watched
        if not new and not first_parent:
            return
        _watched.update(new)
        if first_parent:
            _watched.add(0)
    original_parent = os.getppid() if first_parent else None

    def loop() -> None:
        while True:
            time.sleep(interval)
            if original_parent is not None and os.getppid() != original_parent:
                os._exit(ORPHAN_EXIT)
            if any(not alive(pid) for pid in new):
                os._exit(ORPHAN_EXIT)

    threading.Thread(target=loop, name="pose-helpers-lifeline", daemon=True).start()


def watch_runner(*extra: int, parent: bool = True) -> None:
    """:func:`watch` the chapter runner (``$POSE_HELPERS_RUNNER_PID``, when set) and ``extra``."""
    runner = os.environ.get(RUNNER_PID_ENV, "")
    pids = [int(runner)] if runner.isdigit() else []
    watch([*pids, *extra], parent=parent)
