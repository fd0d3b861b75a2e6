"""Where things live: the repository, the real data, and the on-disk caches.

The real data sits beside the project (``../shared/data``) and is never copied
into the repository. ``POSE_HELPERS_DATA`` (or a notebook's ``data_root``
parameter) points elsewhere; where no data root exists, chapters fall back to
the built-in synthetic data and say so.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_ENV = "POSE_HELPERS_DATA"
CACHE_ENV = "POSE_HELPERS_CACHE"


def data_root(override: str | os.PathLike | None = None) -> Path | None:
    """Return the real-data root, or ``None`` when there is none.

    Order: ``override`` (a notebook parameter), then ``$POSE_HELPERS_DATA``,
    then ``../shared/data`` beside the repository. An explicit override or
    environment variable that names a missing folder is an error, since the
    user asked for that data; only the default location may be absent.
    """
    explicit = override if override not in (None, "") else os.environ.get(DATA_ENV) or None
    if explicit is not None:
        path = Path(explicit).expanduser().resolve()
        if not path.is_dir():
            raise FileNotFoundError(
                f"data root {str(path)!r} (from {'the data_root parameter' if override else '$' + DATA_ENV})"
                " does not exist; unset it to use the default ../shared/data or the synthetic data"
            )
        return path
    default = (REPO_ROOT.parent / "shared" / "data").resolve()
    return default if default.is_dir() else None


def dataset_dir(name: str, override: str | os.PathLike | None = None) -> Path | None:
    """Return ``<data root>/<name>`` (e.g. ``"mpii"``, ``"mars"``) or ``None`` if absent."""
    root = data_root(override)
    if root is None:
        return None
    path = root / name
    return path if path.is_dir() else None


def cache_root() -> Path:
    """The cache's folder, ``$POSE_HELPERS_CACHE`` or ``<repo>/.cache`` (not created)."""
    return Path(os.environ.get(CACHE_ENV) or REPO_ROOT / ".cache")


def cache_dir(*parts: str) -> Path:
    """Return (and create) a cache folder: ``$POSE_HELPERS_CACHE`` or ``<repo>/.cache``.

    Caches hold sweep records, checkpoints and rendered data; they are never committed.
    """
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
