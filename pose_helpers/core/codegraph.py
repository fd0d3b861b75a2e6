"""The package's import graph, read from source (nothing is imported).

One tracer serves two readers: the chapter runner (which modules a notebook can execute,
so that editing one study does not make every chapter stale) and the layout test (no
import cycles, no private names taken across modules).

A *unit* is a module's dotted name relative to the package: ``studies.compression``,
``metrics`` (``metrics/__init__.py``), ``__init__`` (the package itself).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Import",
    "closure",
    "find_cycle",
    "import_graph",
    "imports_of",
    "package_units",
    "strip_docstrings",
    "unit_tree",
]


@dataclass(frozen=True)
class Import:
    """One name a module takes from another unit of the package (``name`` None: the unit)."""

    source: str
    target: str
    name: str | None
    line: int


def package_units(package_dir: Path, exclude: Iterable[str] = ()) -> dict[str, Path]:
    """Every ``.py`` file of the package by unit name, in a stable order."""
    units: dict[str, Path] = {}
    skip = set(exclude)
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(package_dir)
        if "__pycache__" in rel.parts:
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        unit = ".".join(parts)
        if unit not in skip:
            units[unit] = path
    return units


def unit_tree(path: Path) -> ast.Module:
    """The syntax tree of a module, without docstrings."""
    return strip_docstrings(ast.parse(path.read_text()))


def strip_docstrings(tree: ast.AST) -> ast.AST:
    """Drop docstrings in place (they do not change what code computes); return the tree."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


def _own_package(unit: str, path: Path) -> list[str]:
    """The package a module's relative imports start from, as parts."""
    parts = [] if unit == "__init__" else unit.split(".")
    return parts if path.name == "__init__.py" else parts[:-1]


def _resolve(base: list[str], names: Iterable[str], units: Mapping[str, Path]) -> list[tuple]:
    """(target unit, imported name) pairs of ``from <base> import names``."""
    found = []
    module = ".".join(base) or "__init__"
    for name in names:
        sub = ".".join([*base, name])
        if sub in units:  # ``from pose_helpers.metrics import pose``: the module itself
            found.append((sub, None))
        elif module in units:
            found.append((module, name))
    return found


def imports_of(
    unit: str, tree: ast.AST, units: Mapping[str, Path], package: str, path: Path
) -> list[Import]:
    """What one module imports from the package: relative and absolute ``import`` and
    ``from`` statements at any depth (lazy imports in functions count), and strings that are
    a module's full name (``importlib.import_module("pose_helpers.models")``)."""
    found: list[Import] = []
    for node in ast.walk(tree):
        pairs: list[tuple] = []
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] != package:
                    continue
                base = parts[1:]
            else:
                own = _own_package(unit, path)
                if node.level - 1 > len(own):
                    continue
                base = own[: len(own) - (node.level - 1)] + (
                    node.module.split(".") if node.module else []
                )
            pairs = _resolve(base, [a.name for a in node.names], units)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == package and len(parts) > 1 and ".".join(parts[1:]) in units:
                    pairs.append((".".join(parts[1:]), None))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # a string that is a module's full name (``importlib``'s argument), not prose
            for dotted in re.findall(rf"^{package}((?:\.\w+)+)$", node.value.strip()):
                parts = dotted.strip(".").split(".")
                for end in range(len(parts), 0, -1):  # the longest prefix that is a unit
                    if ".".join(parts[:end]) in units:
                        pairs.append((".".join(parts[:end]), None))
                        break
        found.extend(
            Import(unit, target, name, getattr(node, "lineno", 0))
            for target, name in pairs
            if target != unit
        )
    return found


def import_graph(package_dir: Path, exclude: Iterable[str] = ()) -> dict[str, set[str]]:
    """unit -> the units it imports (a package's ``__init__`` counts for its modules too)."""
    units = package_units(package_dir, exclude)
    package = package_dir.name
    graph: dict[str, set[str]] = {}
    for unit, path in units.items():
        targets = {i.target for i in imports_of(unit, unit_tree(path), units, package, path)}
        graph[unit] = {t for t in targets if t in units}
    return graph


def closure(graph: Mapping[str, set[str]], roots: Iterable[str]) -> set[str]:
    """The roots and every unit they import, transitively, with the packages that hold them
    (importing ``studies.compression`` executes ``studies/__init__.py`` first)."""
    todo = [r for r in roots if r in graph]
    seen: set[str] = set()
    while todo:
        unit = todo.pop()
        if unit in seen:
            continue
        seen.add(unit)
        parts = unit.split(".")
        parents = [".".join(parts[:end]) for end in range(1, len(parts))]
        todo.extend(t for t in [*graph[unit], *parents] if t in graph and t not in seen)
    return seen


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of units (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(unit: str) -> list[str] | None:
        state[unit] = 1
        stack.append(unit)
        for target in sorted(graph.get(unit, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[unit] = 2
        return None

    for unit in sorted(graph):
        if unit not in state and (cycle := visit(unit)):
            return cycle
    return None
