"""The book's five verdicts, and the two rules that give them from a measurement and its noise.

Every claim a chapter checks gets one of :data:`VERDICTS`:

* **holds**: ours agrees with the paper within the tolerance;
* **holds in direction only**: the effect is there, beyond noise, but its size differs from
  the paper's beyond the tolerance;
* **does not hold**: the effect is absent or reversed, beyond noise;
* **not tested**: the protocol could not have shown "holds" (the caller says why and what
  would test it);
* **inconclusive**: the measurement lies within noise of the rule's boundary.

Tolerances are never set by hand: ``noise`` comes from a measurement's own spread (seeds'
standard deviations, timing rounds) and ``precision`` from the paper's printed digits
(:func:`printed_precision`). :func:`difference_noise` is the standard error of a difference
of two means over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = [
    "VERDICTS",
    "combine",
    "difference_noise",
    "effect_verdict",
    "margin_verdict",
    "printed_precision",
    "table_precision",
]

VERDICTS = ("holds", "holds in direction only", "does not hold", "not tested", "inconclusive")


def margin_verdict(margin: float, noise: float) -> str:
    """The verdict of a yes/no claim from its margin: how far the measurement lies on the
    claim's side of the rule's boundary (positive: the claim's side).

    ``holds`` beyond ``noise`` on the claim's side, ``does not hold`` beyond it on the other,
    ``inconclusive`` within it; ``not tested`` for a NaN margin or noise.

    Raises:
        ValueError: for negative noise.
    """
    if noise < 0:
        raise ValueError(f"noise={noise!r}; expected >= 0")
    if math.isnan(margin) or math.isnan(noise):
        return "not tested"
    if margin > noise:
        return "holds"
    if margin < -noise:
        return "does not hold"
    return "inconclusive"


def effect_verdict(ours: float, paper: float, noise: float, precision: float = 0.0) -> str:
    """The verdict of a claimed signed effect (a change against a reference) of size ``paper``.

    ``holds`` where ``|ours - paper| <= noise + precision``; else ``holds in direction only``
    where ours has the paper's sign beyond ``noise``, ``does not hold`` where it has the
    other sign beyond ``noise``, and ``inconclusive`` where ours is within ``noise`` of zero
    (the rule's boundary between the two). ``not tested`` for NaN inputs.

    Raises:
        ValueError: for negative noise or precision.
    """
    if noise < 0 or precision < 0:
        raise ValueError(f"noise={noise!r}, precision={precision!r}; expected >= 0")
    if any(math.isnan(v) for v in (ours, paper, noise, precision)):
        return "not tested"
    if abs(ours - paper) <= noise + precision:
        return "holds"
    if abs(ours) <= noise:
        return "inconclusive"
    return "holds in direction only" if (ours > 0) == (paper > 0) else "does not hold"


def combine(verdicts: Iterable[str]) -> str:
    """One verdict for a claim made of parts that must all hold: the weakest part's.

    Order, weakest first: not tested, does not hold, inconclusive, holds in direction only,
    holds.

    Raises:
        ValueError: for an unknown verdict or none.
    """
    order = ("not tested", "does not hold", "inconclusive", "holds in direction only", "holds")
    parts = list(verdicts)
    unknown = [v for v in parts if v not in order]
    if not parts or unknown:
        raise ValueError(f"verdicts={parts!r}; expected one or more of {VERDICTS}")
    return min(parts, key=order.index)


def difference_noise(sd_a: float, n_a: int, sd_b: float, n_b: int) -> float:
    """Standard error of the difference of two means: ``sqrt(sd_a² / n_a + sd_b² / n_b)``.

    Raises:
        ValueError: for fewer than two seeds on a side (no standard deviation).
    """
    if n_a < 2 or n_b < 2:
        raise ValueError(f"n_a={n_a!r}, n_b={n_b!r}; a seed noise needs >= 2 seeds per side")
    return math.sqrt(sd_a**2 / n_a + sd_b**2 / n_b)


def printed_precision(printed: str) -> float:
    """Half a unit of the last printed digit: ``'85,9%'`` -> 0.05, ``'136.3'`` -> 0.05, ``'4'``
    -> 0.5. A decimal comma counts as a point.

    Raises:
        ValueError: for text without a number.
    """
    text = printed.strip().rstrip("%").replace(",", ".").strip()
    try:
        float(text)
    except ValueError as error:
        raise ValueError(
            f"printed={printed!r}; expected a printed number such as '85,9%'"
        ) from error
    decimals = len(text.split(".", 1)[1]) if "." in text else 0
    return 0.5 * 10.0**-decimals


def table_precision(name: str, column: str) -> float:
    """Half a unit of the finest digit printed in a column of a seed table
    (``seed_table(name, printed=True)``): the paper's own precision for that column.

    Raises:
        ValueError: for a column with no printed number.
    """
    from pose_helpers.chapters.references import seed_table

    values = [v for v in seed_table(name, printed=True)[column] if v.strip()]
    if not values:
        raise ValueError(f"column {column!r} of seed table {name!r} prints no number")
    return min(printed_precision(v) for v in values)
