"""The package's house rules, checked on its source (see CONTRIBUTING.md):

* no import cycles between modules (lazy imports inside functions count);
* no private name (``_x``) taken from another module, by import or by attribute;
* no module over 800 lines;
* no paper number typed in code: the seeds' result numbers are read from
  ``../shared/seeds/tables`` at run time, never written as literals.
"""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from pose_helpers.chapters.references import SEEDS_DIR
from pose_helpers.core import codegraph
from pose_helpers.core.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "pose_helpers"
MAX_LINES = 800

#: Columns of the seed tables that hold a paper's *results* (settings such as lambdas,
#: thresholds, epochs or layer sizes may be typed: they are the experiment's inputs).
RESULT_COLUMNS = (
    "pckh",
    "size_mb",
    "params_m",
    "sparsity_retained_fraction",
    "inference_time",
    "app_size",
    "value_pct",
)


def _units() -> dict[str, Path]:
    return codegraph.package_units(PACKAGE)


def test_no_import_cycles():
    cycle = codegraph.find_cycle(codegraph.import_graph(PACKAGE))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_private_names_across_modules():
    units = _units()
    found = []
    for unit, path in units.items():
        tree = codegraph.unit_tree(path)
        imports = codegraph.imports_of(unit, tree, units, PACKAGE.name, path)
        found += [
            f"{unit}:{i.line} takes {i.target}.{i.name}"
            for i in imports
            if i.name and i.name.startswith("_") and not i.name.startswith("__")
        ]
        # ``from pose_helpers.cost import bench`` then ``bench._repeat``
        modules = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
            if any(i.target.endswith(alias.name) and i.name is None for i in imports)
        }
        found += [
            f"{unit}:{node.lineno} uses {node.value.id}.{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ]
    assert not found, "private names used across modules:\n" + "\n".join(found)


def test_modules_are_short():
    long = {
        unit: n
        for unit, path in _units().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def _paper_numbers() -> set[float]:
    numbers: set[float] = set()
    for path in sorted((SEEDS_DIR / "tables").glob("*.csv")):
        table = pd.read_csv(path)
        for column in table.columns:
            wanted = any(column.startswith(c) for c in RESULT_COLUMNS) or (
                path.stem == "external_references" and column == "value"
            )
            if wanted:
                values = pd.to_numeric(table[column], errors="coerce").dropna()
                numbers |= {float(v) for v in values if _headline(float(v))}
    return numbers


def _headline(value: float) -> bool:
    """A number specific enough to be recognised as the paper's: three significant digits
    (33.9, 5.87, 0.243), or a fraction above 2 (4.8). Short numbers such as 0.45 or 1.9 are
    also everyday constants (a figure's height, a drawing's proportion)."""
    digits = len(f"{value:g}".replace("-", "").replace(".", "").lstrip("0"))
    return digits >= 3 or (value > 2 and not value.is_integer())


def _literals(tree: ast.AST):
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)
        ):
            yield node.lineno, float(node.value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):  # prose and captions
            for number in _prose_numbers(node.value):
                yield node.lineno, number


def _prose_numbers(text: str) -> list[float]:
    """The decimal numbers of a text, leaving out references (eq. 5.1, Table 5.4, §4.3)."""
    text = re.sub(r"(?:eqs?\.|Eqs?\.|Tables?|Fig\.|Figure|§)\s*[\d.,–-]+", "", text)
    return [float(n) for n in re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", text)]


@pytest.mark.skipif(not (SEEDS_DIR / "tables").is_dir(), reason="needs ../shared/seeds")
def test_no_paper_numbers_typed_in_code():
    papers = _paper_numbers()
    assert {5.87, 33.9, 136.3, 2.37, 1.23, 87.8, 85.9, 4.8, 86.42, 84.22} <= papers

    def hits(where: str, tree: ast.AST) -> list[str]:
        return [
            f"{where}:{line} types {value:g}"
            for line, value in _literals(tree)
            if any(math.isclose(value, p, rel_tol=1e-9) for p in papers)
        ]

    found = []
    for path in _units().values():
        found += hits(f"pose_helpers/{path.relative_to(PACKAGE)}", codegraph.unit_tree(path))
    for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                tree = ast.parse("".join(cell["source"]))
                found += hits(f"notebooks/{path.name} cell {index}", tree)
            elif cell["cell_type"] == "markdown":  # prose computes its numbers in a cell too
                found += [
                    f"notebooks/{path.name} cell {index} (markdown) types {value:g}"
                    for value in _prose_numbers("".join(cell["source"]))
                    if any(math.isclose(value, p, rel_tol=1e-9) for p in papers)
                ]
    assert not found, "paper numbers typed in code (read them with ph.seed_table):\n" + "\n".join(
        found
    )
