"""Parameter constraints a chapter declares next to its parameters, checked before it runs.

A chapter's ``profiles`` cell may hold ``CHECKS = {name: rule or [rules]}``; the runner checks
every rule against the resolved parameters (defaults, profile, the caller's overrides)
before a kernel starts, and reports every broken rule at once, one line each. Rules:

* ``"non-empty"``: a list (or string) with at least one element;
* ``"> 0"``, ``">= 1"``, ``"< 1"``, ``"<= 100"``: a number compared with a literal;
* ``"each > 0"`` (and the other comparisons): every element of a list;
* ``"in ['a', 'b']"`` and ``"each in [...]"``: membership in a literal list;
* ``"path"``: an existing file or folder (relative paths are resolved by the runner first).

A parameter whose value is ``None`` passes every rule (``None`` means "the default" in the
book's parameter cells). A rule the runner cannot parse is the chapter's bug, reported as
such.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["RULE_HELP", "check_values", "parse_rule"]

RULE_HELP = "'non-empty', '> 0', '>= 1', 'each > 0', \"in ['a', 'b']\", 'each in [...]' or 'path'"

_COMPARISONS = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


def parse_rule(rule: str) -> tuple[bool, str, Any]:
    """A rule as ``(each, kind, operand)``; ``kind`` is a comparison, ``'in'``,
    ``'non-empty'`` or ``'path'``.

    Raises:
        ValueError: for a rule outside :data:`RULE_HELP`.
    """
    text = rule.strip()
    if text in ("non-empty", "path"):
        return False, text, None
    each = text.startswith("each ")
    body = text.removeprefix("each ").strip()
    try:
        if body.startswith("in "):
            values = ast.literal_eval(body[3:].strip())
            if not isinstance(values, list | tuple | set):
                raise ValueError
            return each, "in", list(values)
        for symbol in _COMPARISONS:  # two-character symbols first
            if body.startswith(symbol):
                value = ast.literal_eval(body[len(symbol) :].strip())
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError
                return each, symbol, value
    except (ValueError, SyntaxError):
        pass
    raise ValueError(f"rule {rule!r} is not one of {RULE_HELP}")


def _problem(name: str, value: Any, rule: str) -> str | None:
    """Why ``value`` breaks ``rule`` (one line), or ``None``."""
    each, kind, operand = parse_rule(rule)
    if value is None:
        return None
    if kind == "non-empty":
        if isinstance(value, str | list | tuple | dict) and len(value) > 0:
            return None
        return f"parameter {name!r} must be non-empty; got {value!r}"
    if kind == "path":
        if Path(value).exists():
            return None
        return f"parameter {name!r}: no such file or folder {str(value)!r}"
    items = value if each else [value]
    if each and not isinstance(value, list | tuple):
        return f"parameter {name!r} must be a list (rule {rule!r}); got {value!r}"
    for item in items:
        if kind == "in":
            ok = item in operand
            expected = f"one of {operand!r}"
        else:
            ok = (
                isinstance(item, int | float)
                and not isinstance(item, bool)
                and _COMPARISONS[kind](item, operand)
            )
            expected = f"{kind} {operand!r}"
        if not ok:
            where = f"every element of {name!r}" if each else f"parameter {name!r}"
            return f"{where} must be {expected}; got {item!r}"
    return None


def check_values(
    values: Mapping[str, Any], checks: Mapping[str, str | Sequence[str]], *, chapter: str
) -> list[str]:
    """Every broken rule of ``checks`` for ``values``, one line each (empty: all hold).

    Raises:
        ValueError: when ``checks`` names a parameter the chapter does not have or holds a
            rule outside :data:`RULE_HELP` (the chapter's bug).
    """
    problems = []
    for name, rules in checks.items():
        if name not in values:
            raise ValueError(f"{chapter}: CHECKS names unknown parameter {name!r}")
        for rule in [rules] if isinstance(rules, str) else list(rules):
            try:
                problem = _problem(name, values[name], rule)
            except ValueError as err:
                raise ValueError(f"{chapter}: CHECKS[{name!r}]: {err}") from None
            if problem is not None:
                problems.append(problem)
    return problems
