"""The package's import graph, read from source (nothing is imported).

One tracer serves two readers: the chapter runner (which modules a notebook can execute,
so that editing one study does not make every chapter stale) and the layout test (no
import cycles, no private names taken across modules).

A name taken from a *façade* (a package ``__init__`` that only re-exports, such as
``studies.compression``) reaches the module that defines it, not the façade's other
modules (:func:`reach`): ``compression.baseline_run`` in a chapter makes that chapter
depend on ``studies.compression.baseline``, not on the Bayesian study beside it. Importing
a façade still runs all its modules, so a module whose import changes shared state (a
registering decorator, a call at module level: :func:`has_import_effects`) counts wherever
its package is imported.

A *unit* is a module's dotted name relative to the package: ``studies.compression``,
``metrics`` (``metrics/__init__.py``), ``__init__`` (the package itself).
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Import",
    "closure",
    "facade_exports",
    "find_cycle",
    "has_import_effects",
    "import_graph",
    "imports_of",
    "package_units",
    "reach",
    "uses_of",
    "strip_docstrings",
    "unit_tree",
]


@dataclass(frozen=True)
class Import:
    """One name a module takes from another unit of the package (``name`` None: the unit;
    ``""``: nothing taken, the unit only runs), and the name it is bound to, if any."""

    source: str
    target: str
    name: str | None
    line: int
    bound: str | None = None


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
    """The syntax tree of a module, without docstrings (parsed once per content of the file:
    a caller must not change it)."""
    return _parsed(path.read_text())


@functools.lru_cache(maxsize=1024)
def _parsed(source: str) -> ast.Module:
    return strip_docstrings(ast.parse(source))


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


def _resolve(base: list[str], aliases: Iterable[ast.alias], units: Mapping[str, Path]) -> list:
    """(target unit, imported name, bound name) of ``from <base> import aliases``."""
    found = []
    module = ".".join(base) or "__init__"
    for alias in aliases:
        sub = ".".join([*base, alias.name])
        if sub in units:  # ``from pose_helpers.metrics import pose``: the module itself
            found.append((sub, None, alias.asname or alias.name))
        elif module in units:
            found.append((module, alias.name, alias.asname or alias.name))
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
            pairs = _resolve(base, node.names, units)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                target = ".".join(parts[1:]) or "__init__"
                if parts[0] == package and target in units:
                    # ``import pose_helpers.x as y`` binds y to the unit; without ``as``,
                    # the name bound is the package's own
                    pairs.append((target, None, alias.asname or (None if parts[1:] else package)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # a string that is a module's full name (``importlib``'s argument), not prose
            for dotted in re.findall(rf"^{package}((?:\.\w+)+)$", node.value.strip()):
                parts = dotted.strip(".").split(".")
                for end in range(len(parts), 0, -1):  # the longest prefix that is a unit
                    if ".".join(parts[:end]) in units:
                        pairs.append((".".join(parts[:end]), None, None))
                        break
        found.extend(
            Import(unit, target, name, getattr(node, "lineno", 0), bound)
            for target, name, bound in pairs
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


def facade_exports(path: Path, imports: Iterable[Import]) -> dict[str, tuple] | None:
    """A façade's exported names -> ``(unit, name)`` they come from (``name`` None: a module);
    None if ``path`` is not a façade: a package ``__init__`` whose body only imports
    (no ``*``) and sets ``__all__``."""
    if path.name != "__init__.py":
        return None
    for node in unit_tree(path).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            if any(alias.name == "*" for alias in node.names):
                return None
        elif not (
            isinstance(node, ast.Pass)  # a stripped docstring
            or isinstance(node, ast.Assign)
            and all(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        ):
            return None
    return {i.bound: (i.target, i.name) for i in imports if i.bound}


def has_import_effects(tree: ast.Module, imports: Iterable[Import]) -> bool:
    """Whether importing a module changes state outside it: a call at module level, or a
    top-level definition decorated by a name taken from the package (``@register_model``)."""
    from_package = {i.bound for i in imports if i.bound}
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for decorator in node.decorator_list:
                base = decorator.func if isinstance(decorator, ast.Call) else decorator
                while isinstance(base, ast.Attribute):
                    base = base.value
                if isinstance(base, ast.Name) and base.id in from_package:
                    return True
    return False


def uses_of(imports: Iterable[Import], tree: ast.AST, units: Mapping[str, Path]) -> list[Import]:
    """What code takes from the package, name by name: an imported module used only as
    ``module.attribute`` becomes the names it is used for (``compression.baseline_run`` ->
    ``(studies.compression, "baseline_run")``; ``ph.train.runs.run_table`` ->
    ``(train.runs, "run_table")``); the import itself stays, as ``""`` (the module runs,
    nothing is taken whole). A module used bare (passed, returned) stays whole."""
    imports = list(imports)
    modules = {i.bound: i for i in imports if i.name is None and i.bound}
    chains: dict[str, list[tuple[list[str], int]]] = {bound: [] for bound in modules}
    based: set[int] = set()  # ids of names that are the base of an attribute chain
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in based:
            continue
        chain: list[str] = []
        base: ast.AST = node
        while isinstance(base, ast.Attribute):
            based.add(id(base))
            chain.insert(0, base.attr)
            base = base.value
        if isinstance(base, ast.Name) and base.id in modules:
            based.add(id(base))
            chains[base.id].append((chain, node.lineno))
    bare = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id in modules and id(node) not in based
    }
    found: list[Import] = []
    for i in imports:
        if i.bound not in modules or i.bound in bare:
            found.append(i)
            continue
        found.append(Import(i.source, i.target, "", i.line, i.bound))
        start = [] if i.target == "__init__" else i.target.split(".")
        for chain, line in chains[i.bound]:
            parts = [*start, *chain]
            for end in range(len(parts), -1, -1):  # the longest prefix that is a unit
                unit = ".".join(parts[:end]) or "__init__"
                if unit in units:
                    name = parts[end] if end < len(parts) else None
                    found.append(Import(i.source, unit, name, line))
                    break
    return found


def reach(package_dir: Path, roots: Iterable[tuple], exclude: Iterable[str] = ()) -> set[str]:
    """The units that running ``roots`` can execute, name by name.

    ``roots`` are ``(unit, name)`` pairs as in :class:`Import` (``name`` None: the whole
    unit; ``""``: the unit runs, nothing is taken). A unit reached whole brings what it uses
    (:func:`uses_of`) and its packages' ``__init__``; a name of a façade brings the façade
    and the unit the name comes from; a façade that only runs brings itself and its
    modules with import-time effects (:func:`has_import_effects`). Anything else (a name
    a façade does not export, a package that is not a façade) counts whole.
    """
    units = package_units(package_dir, exclude)
    versions = tuple((unit, path.read_bytes()) for unit, path in units.items())
    uses, exports, effects = _package_index(str(package_dir), tuple(sorted(exclude)), versions)
    todo = [tuple(root) for root in roots]
    seen: set[str] = set()
    done: set[tuple] = set()
    while todo:
        unit, name = todo.pop()
        if unit not in units:
            continue
        facade = exports[unit]
        if facade is None or (name and name not in facade):
            name = None  # not a façade, or a name it does not re-export: the whole unit
        if (unit, name) in done:
            continue
        done.add((unit, name))
        seen.add(unit)
        parts = [] if unit == "__init__" else unit.split(".")
        todo.extend((".".join(parts[:end]) or "__init__", "") for end in range(len(parts)))
        if name is None:
            todo.extend((u.target, u.name) for u in uses[unit])
        elif name == "":
            todo.extend((u.target, None) for u in uses[unit] if effects[u.target])
        else:
            todo.append(facade[name])
    return seen


@functools.lru_cache(maxsize=8)
def _package_index(package_dir: str, exclude: tuple, versions: tuple) -> tuple[dict, dict, dict]:
    """:func:`reach`'s view of every unit (its uses, façade exports and import effects), once
    per content of the package's files (``versions``: each unit's source)."""
    units = package_units(Path(package_dir), exclude)
    package = Path(package_dir).name
    uses: dict[str, list[Import]] = {}
    exports: dict[str, dict[str, tuple] | None] = {}
    effects: dict[str, bool] = {}
    for unit, path in units.items():
        tree = unit_tree(path)
        imports = imports_of(unit, tree, units, package, path)
        uses[unit] = [u for u in uses_of(imports, tree, units) if u.target in units]
        exports[unit] = facade_exports(path, imports)
        effects[unit] = has_import_effects(tree, imports)
    return uses, exports, effects


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
