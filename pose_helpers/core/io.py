"""Atomic files: every write goes to a temporary file beside its target, then is renamed
over it, so a reader (or an interrupted run) never sees half a file.

A cached file can still be damaged (a full disk, a copy cut short, an edit by hand):
:func:`load_checkpoint` reads a checkpoint that may be corrupt, and a file that does not
load is moved aside (:func:`move_aside`, kept for inspection) so that its run is recomputed
once, with one warning, instead of failing every time."""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

__all__ = [
    "CorruptFileWarning",
    "load_checkpoint",
    "move_aside",
    "need_checkpoint",
    "read_json",
    "save_torch",
    "write_atomic",
    "write_json",
    "write_text",
]


class CorruptFileWarning(UserWarning):
    """A cached checkpoint did not load: it was moved aside and its run is recomputed."""


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(fh)`` on a temporary binary file beside ``path``, then rename it over
    ``path`` (creating the folder); on any error the temporary file is removed and ``path``
    is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would make tables and records private
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically."""
    return write_atomic(path, lambda fh: fh.write(text.encode()))


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 1) -> Path:
    """Write ``obj`` as JSON atomically (keys in the order given, newline at the end)."""
    return write_text(path, json.dumps(obj, indent=indent) + "\n")


def read_json(path: str | os.PathLike) -> Any | None:
    """The JSON in ``path``, or None when the file is missing or does not parse."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def save_torch(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` atomically (checkpoints: a killed run leaves the previous epoch's)."""
    import torch

    return write_atomic(path, lambda fh: torch.save(obj, fh))


def move_aside(path: str | os.PathLike) -> Path:
    """Rename ``path`` to ``<name>.corrupt`` beside it (``<name>.corrupt-<n>`` when that is
    taken) and return the new path: a damaged file is kept for inspection, not deleted, and
    no longer read."""
    path = Path(path)
    n = 0
    while True:
        target = path.with_name(f"{path.name}.corrupt" + (f"-{n}" if n else ""))
        if not target.exists():
            break
        n += 1
    try:
        os.replace(path, target)
    except FileNotFoundError:
        pass  # another process (a sweep worker) moved it first
    return target


def _first_line(err: BaseException) -> str:
    # torch's messages run to several sentences of advice; the first says what failed
    text = str(err).strip().splitlines()[0].split(". ")[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text[:120]}" if text else type(err).__name__


def load_checkpoint(path: str | os.PathLike, keys: Iterable[str] = ()) -> dict[str, Any] | None:
    """The checkpoint in ``path`` (``torch.load``, tensors only, on the CPU), or None when
    there is none.

    A file that does not load, or is not a dict holding every one of ``keys``, is reported
    by name (one :class:`CorruptFileWarning`), moved aside (:func:`move_aside`) and None is
    returned: the caller recomputes its run as if the file had never been written.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError:
        raise  # not damage: the user must fix the permissions, not lose the file
    except Exception as err:  # torch raises RuntimeError, OSError, EOFError, pickle errors
        problem = f"does not load ({_first_line(err)})"
    else:
        if not isinstance(state, dict):
            problem = f"holds a {type(state).__name__}, not a checkpoint dict"
        else:
            missing = [k for k in keys if k not in state]
            if not missing:
                return state
            problem = f"lacks {', '.join(map(repr, missing))}"
    aside = move_aside(path)
    warnings.warn(
        f"checkpoint {path} {problem}; moved aside to {aside.name}, recomputing its run",
        CorruptFileWarning,
        stacklevel=2,
    )
    return None


def need_checkpoint(
    path: str | os.PathLike, remedy: str, keys: Iterable[str] = ("model",)
) -> dict[str, Any]:
    """:func:`load_checkpoint` for a finished run's weights that the caller cannot recompute
    itself: the checkpoint, or FileNotFoundError naming the file and ``remedy`` (what to
    call to compute it again) when it is missing or did not load (then moved aside)."""
    path = Path(path)
    existed = path.is_file()
    state = load_checkpoint(path, keys)
    if state is None:
        what = "did not load and was moved aside" if existed else "is missing"
        raise FileNotFoundError(f"checkpoint {path} {what}: {remedy}")
    return state
