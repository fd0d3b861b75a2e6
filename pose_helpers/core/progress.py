"""One progress-bar factory for long runs (training epochs, sweep points)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def progress_bar(*, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr.

    Outside a terminal (a notebook executed by the chapter runner, CI) the bar redraws at
    most every 5 s, so an executed notebook does not fill with thousands of bar lines.
    """
    interactive = sys.stderr.isatty()
    kwargs.setdefault("mininterval", 0.1 if interactive else 5.0)
    return tqdm(file=sys.stderr, disable=not enabled, dynamic_ncols=True, **kwargs)
