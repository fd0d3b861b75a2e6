"""The chapter runner: validation before execution, atomic output, staleness."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from pose_helpers.chapters import runner as chapters
from pose_helpers.chapters.runner import ChapterError, ChapterFailed, Layout


def make_chapter(root: Path, name: str = "toy", body: str = "print(f'{scale * 2:.2f}')") -> Layout:
    """Write a tiny chapter notebook following CONTRIBUTING.md into a fake repository."""
    layout = Layout(root)
    layout.notebooks.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        'profile = "book"  # which profile\nseed = 0  # random seed\nscale = 1.5  # a float\n'
        'label = "x"  # a string\nsizes = [1, 2]  # a list\nfast = False  # a flag\ndata_root = None  # data'
    )
    params.metadata["tags"] = ["parameters"]
    profiles = nbformat.v4.new_code_cell(
        'PROFILES = {"smoke": {"scale": 0.5}, "paper": {"sizes": [1, 2, 3]}}\nREADS_DATA = []'
    )
    profiles.metadata["tags"] = ["profiles"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Toy"),
        params,
        profiles,
        nbformat.v4.new_code_cell(body),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(layout.notebooks / f"{name}.ipynb"))
    return layout


def outputs_text(path: Path) -> str:
    nb = nbformat.read(str(path), as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_parse_parameters_profiles_and_help(tmp_path):
    chapter = chapters.load_chapter("toy", make_chapter(tmp_path))
    assert chapter.defaults()["scale"] == 1.5
    assert chapter.parameters["scale"].help == "a float"
    assert chapter.profiles["smoke"] == {"scale": 0.5}
    params = chapters.resolve_parameters(chapter, "smoke", {"sizes": "[4, 5]"})
    assert params == {
        "profile": "smoke",
        "seed": 0,
        "scale": 0.5,
        "label": "x",
        "sizes": [4, 5],
        "fast": False,
        "data_root": None,
    }


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("seed", "3", 3),
        ("scale", "2", 2.0),
        ("fast", "true", True),
        ("label", "12", "12"),
        ("data_root", "/some/where", "/some/where"),
        ("sizes", "[3]", [3]),
    ],
)
def test_coerce_accepts_matching_types(tmp_path, name, value, expected):
    chapter = chapters.load_chapter("toy", make_chapter(tmp_path))
    assert chapters.coerce(chapter.parameters[name], value) == expected


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"seeds": "1"},
            "unknown parameter 'seeds' for chapter 'toy'; valid parameters: profile, seed",
        ),
        ({"seed": "abc"}, "parameter 'seed' expects int (default 0); got 'abc'"),
        ({"fast": "maybe"}, "parameter 'fast' expects bool"),
        ({"sizes": "3"}, "parameter 'sizes' expects list"),
    ],
)
def test_bad_parameters_fail_with_the_valid_choices(tmp_path, overrides, message):
    chapter = chapters.load_chapter("toy", make_chapter(tmp_path))
    with pytest.raises(ChapterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        chapters.resolve_parameters(chapter, "book", overrides)


def test_unknown_chapter_and_profile(tmp_path):
    layout = make_chapter(tmp_path)
    with pytest.raises(ChapterError, match="unknown chapter 'nope'; valid chapters: toy"):
        chapters.load_chapter("nope", layout)
    with pytest.raises(
        ChapterError, match="unknown profile 'fast'; valid profiles: smoke, book, paper"
    ):
        chapters.resolve_parameters(chapters.load_chapter("toy", layout), "fast")


def test_profile_with_unknown_parameter_is_rejected(tmp_path):
    layout = make_chapter(tmp_path)
    path = layout.notebooks / "toy.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[2].source = 'PROFILES = {"smoke": {"epochs": 1}}\nREADS_DATA = []'
    nbformat.write(nb, str(path))
    with pytest.raises(ChapterError, match="profile 'smoke' sets unknown parameter 'epochs'"):
        chapters.load_chapter("toy", layout)


def test_run_writes_book_copy_hides_injected_cell_and_skips_when_fresh(tmp_path):
    layout = make_chapter(tmp_path)
    first = chapters.run_chapter("toy", layout=layout, log=lambda *_: None)
    assert first.executed and first.output == layout.book / "toy.ipynb"
    assert "3.00" in outputs_text(first.output)
    nb = nbformat.read(str(first.output), as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "remove-cell" in injected[0].metadata["tags"]
    line = nb.cells[nb.cells.index(injected[0]) + 1]
    assert (
        line.cell_type == "markdown"
        and "profile `book`" in line.source
        and "values shown above" in line.source
    )
    assert nb.metadata["pose_helpers"]["fingerprint"] == first.fingerprint

    again = chapters.run_chapter("toy", layout=layout, log=lambda *_: None)
    assert not again.executed

    smoke = chapters.run_chapter(
        "toy", profile="smoke", out=tmp_path / "out" / "s.ipynb", layout=layout, log=lambda *_: None
    )
    assert smoke.executed and "1.00" in outputs_text(smoke.output)
    smoke_nb = nbformat.read(str(smoke.output), as_version=4)
    assert any(
        "except `scale=0.5`" in c.source for c in smoke_nb.cells if c.cell_type == "markdown"
    )
    assert smoke.fingerprint != first.fingerprint


def test_fingerprint_follows_notebook_and_parameters(tmp_path):
    layout = make_chapter(tmp_path)
    chapter = chapters.load_chapter("toy", layout)
    base = chapters.fingerprint(chapter, chapters.resolve_parameters(chapter))
    assert (
        chapters.fingerprint(chapter, chapters.resolve_parameters(chapter, "book", {"seed": 1}))
        != base
    )
    make_chapter(tmp_path, body="print('changed')")
    assert (
        chapters.fingerprint(
            chapters.load_chapter("toy", layout), chapters.resolve_parameters(chapter)
        )
        != base
    )


def test_another_profiles_values_leave_the_fingerprint_alone(tmp_path):
    layout = make_chapter(tmp_path)
    path = layout.notebooks / "toy.ipynb"

    def book_fingerprint():
        chapter = chapters.load_chapter("toy", layout)
        return chapters.fingerprint(chapter, chapters.resolve_parameters(chapter))

    base = book_fingerprint()
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[2].source = nb.cells[2].source.replace('"scale": 0.5', '"scale": 0.25')
    nbformat.write(nb, str(path))
    assert book_fingerprint() == base  # the smoke profile changed, the book's did not
    nb.cells[2].source = 'PROFILES = {"book": {"scale": 3.0}}\nREADS_DATA = []'
    nbformat.write(nb, str(path))
    assert book_fingerprint() != base  # the book profile's own values count
    nb.cells[2].source = 'PROFILES = {"smoke": {"scale": 0.5}}\nREADS_DATA = ["mpii"]'
    nbformat.write(nb, str(path))
    assert book_fingerprint() != base  # the cell's other lines count


def test_failing_chapter_leaves_previous_copy_and_names_the_cell(tmp_path):
    layout = make_chapter(tmp_path)
    good = chapters.run_chapter("toy", layout=layout, log=lambda *_: None).output
    before = good.read_bytes()
    make_chapter(tmp_path, body="x = 1\nraise RuntimeError('boom')")
    with pytest.raises(ChapterFailed, match=r"failed in cell 3 .*RuntimeError: boom") as info:
        chapters.run_chapter("toy", layout=layout, log=lambda *_: None)
    assert "raise RuntimeError('boom')" in str(info.value)
    assert good.read_bytes() == before
    assert not list(good.parent.glob(".toy.*"))  # no temporary file left behind


def test_cli_rejects_bad_input_before_running(tmp_path):
    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "pose_helpers", *args], capture_output=True, text=True
        )

    bad_chapter = cli("run", "no_such_chapter")
    assert bad_chapter.returncode == 2
    assert "unknown chapter 'no_such_chapter'; valid chapters:" in bad_chapter.stderr
    assert len(bad_chapter.stderr.strip().splitlines()) == 1
    listing = cli("list")
    assert listing.returncode == 0 and "regularization_theory" in listing.stdout
    status = cli("status", "--modules")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert any(re.fullmatch(r"(fresh|stale)  regularization_theory", line) for line in lines)
    assert any("modules: __init__, " in line and "theory." in line for line in lines)


def test_data_digest_tracks_content(tmp_path):
    folder = tmp_path / "mpii"
    folder.mkdir()
    (folder / "a.csv").write_text("1,2\n")
    first = chapters.data_digest(folder)
    (folder / "a.csv").write_text("1,3\n")
    assert chapters.data_digest(folder) != first
    assert chapters.data_digest(None) == "absent"
    json.loads((chapters.cache_dir() / "data_digests.json").read_text())


def test_package_digest_ignores_docstrings_comments_and_the_runner(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "mod.py").write_text(
        '"""Doc."""\n\ndef f(x):\n    """Doc."""\n    return x + 1  # note\n'
    )
    (pkg / "chapters").mkdir()
    (pkg / "chapters" / "runner.py").write_text("RUNNER = 1\n")
    base = chapters.package_digest(pkg)
    (pkg / "mod.py").write_text('"""Other doc."""\n\n\ndef f(x):\n    return x + 1\n')
    (pkg / "chapters" / "runner.py").write_text("RUNNER = 2\n")
    assert chapters.package_digest(pkg) == base
    (pkg / "mod.py").write_text("def f(x):\n    return x + 2\n")
    assert chapters.package_digest(pkg) != base


def test_relative_out_path_puts_results_beside_the_notebook(tmp_path, monkeypatch):
    body = "import pandas as pd\nimport pose_helpers as ph\nph.save_table(pd.DataFrame({'a': [1]}), 'toy', 't.csv')"
    layout = make_chapter(tmp_path, body=body)
    monkeypatch.chdir(tmp_path)
    chapters.run_chapter(
        "toy", profile="smoke", out=Path("rel") / "s.ipynb", layout=layout, log=lambda *_: None
    )
    # The kernel runs in the notebooks folder: the tables must still land beside the output.
    assert (tmp_path / "rel" / "results" / "toy" / "t.csv").read_text() == "a\n1\n"
    assert not list((tmp_path / "rel").glob(".toy.*"))  # staging removed


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_late_failure_leaves_the_book_byte_identical(tmp_path):
    table = "import pandas as pd\nimport pose_helpers as ph\nph.save_table(pd.DataFrame({'a': [V]}), 'toy', 't.csv')"
    layout = make_chapter(tmp_path, body=table.replace("V", "1"))
    chapters.run_chapter("toy", layout=layout, log=lambda *_: None)
    before = _tree(layout.book)
    assert (layout.book / "results" / "toy" / "t.csv").read_text() == "a\n1\n"
    make_chapter(tmp_path, body=table.replace("V", "2") + "\nraise RuntimeError('late')")
    with pytest.raises(ChapterFailed, match="left untouched"):
        chapters.run_chapter("toy", layout=layout, log=lambda *_: None)
    assert _tree(layout.book) == before
    assert not [p for p in layout.book.iterdir() if p.name.startswith(".")]


def test_orphaned_temporaries_of_a_killed_run_are_removed(tmp_path):
    layout = make_chapter(tmp_path)
    layout.book.mkdir(parents=True)
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    orphan = layout.book / f".toy.{dead}.abc.ipynb"
    orphan.write_text("{}")
    (layout.book / f".toy.{dead}.def.staging" / "results").mkdir(parents=True)
    mine = layout.book / f".toy.{os.getpid()}.keep.ipynb"  # a live runner's: kept
    mine.write_text("{}")
    chapters.run_chapter("toy", layout=layout, log=lambda *_: None)
    left = sorted(p.name for p in layout.book.iterdir() if p.name.startswith("."))
    assert left == [mine.name]


def test_broken_constraints_are_reported_together_before_running(tmp_path):
    layout = make_chapter(tmp_path)
    path = layout.notebooks / "toy.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[2].source += "\nCHECKS = {'scale': '> 0', 'sizes': ['non-empty', 'each >= 1']}"
    nbformat.write(nb, str(path))
    chapter = chapters.load_chapter("toy", layout)
    with pytest.raises(ChapterError) as info:
        chapters.resolve_parameters(chapter, overrides={"scale": "-1", "sizes": "[0, 2]"})
    lines = str(info.value).splitlines()
    assert lines == [
        "toy: parameter 'scale' must be > 0; got -1.0",
        "toy: every element of 'sizes' must be >= 1; got 0",
    ]
    nb.cells[2].source += "\nCHECKS = {'scale': 'positive'}"
    nbformat.write(nb, str(path))
    with pytest.raises(ChapterError, match="CHECKS.*'scale'.*not one of"):
        chapters.resolve_parameters(chapters.load_chapter("toy", layout))


def test_a_relative_data_root_is_resolved_against_the_callers_directory(tmp_path, monkeypatch):
    layout = make_chapter(tmp_path)
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    chapter = chapters.load_chapter("toy", layout)
    params = chapters.resolve_parameters(chapter, overrides={"data_root": "data"})
    assert params["data_root"] == str((tmp_path / "data").resolve())
    with pytest.raises(ChapterError, match="no such file or folder"):
        chapters.resolve_parameters(chapter, overrides={"data_root": "missing"})


def _package(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .base import f\n")
    (pkg / "base.py").write_text("def f():\n    return 1\n")
    (pkg / "study.py").write_text("from . import helper\n")
    (pkg / "helper.py").write_text(
        "import importlib\n\n\ndef load():\n    return importlib.import_module('pkg.sub')\n"
    )
    (pkg / "sub" / "__init__.py").write_text("from . import inner\nfrom ..leaf import g\n")
    (pkg / "sub" / "inner.py").write_text("X = 1\n")
    (pkg / "leaf.py").write_text('"""Not pkg.unrelated (a docstring is no import)."""\ng = 2\n')
    (pkg / "unrelated.py").write_text("Y = 1\n")
    return pkg


def test_chapter_modules_follow_imports_transitively(tmp_path):
    import nbformat

    pkg = _package(tmp_path)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("ph.unrelated is only prose here"),
        nbformat.v4.new_code_cell("import pkg as ph\nph.study.helper.load()"),
    ]
    used = chapters.chapter_modules(nb, pkg)
    assert used == ["__init__", "base", "helper", "leaf", "study", "sub", "sub.inner"]
    base = chapters.package_digest(pkg, used)
    (pkg / "unrelated.py").write_text("Y = 2\n")
    assert chapters.package_digest(pkg, used) == base
    (pkg / "sub" / "inner.py").write_text("X = 2\n")  # imported by sub/__init__.py
    assert chapters.package_digest(pkg, used) != base
    nb.cells.append(nbformat.v4.new_code_cell("%time 1"))  # unparsable: everything counts
    assert "unrelated" in chapters.chapter_modules(nb, pkg)


def test_a_name_from_a_facade_reaches_only_the_module_that_defines_it(tmp_path):
    import nbformat

    pkg = tmp_path / "pkg"
    (pkg / "studies").mkdir(parents=True)
    (pkg / "models").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "studies" / "__init__.py").write_text(
        "from pkg.studies import other\nfrom pkg.studies.one import run\n"
        "from pkg.studies.two import walk\n__all__ = ['other', 'run', 'walk']\n"
    )
    (pkg / "studies" / "one.py").write_text(
        "from pkg.models.registry import create\n\n\ndef run():\n    return create('m')\n"
    )
    (pkg / "studies" / "two.py").write_text("def walk():\n    return 2\n")
    (pkg / "studies" / "other.py").write_text("X = 3\n")
    # the registry's models register themselves on import: they count with the registry
    (pkg / "models" / "__init__.py").write_text(
        "from pkg.models import family, plain\nfrom pkg.models.registry import create\n"
    )
    (pkg / "models" / "registry.py").write_text(
        "MODELS = {}\n\n\ndef register(f):\n    MODELS[f.__name__] = f\n    return f\n\n\n"
        "def create(name):\n    return MODELS[name]()\n"
    )
    (pkg / "models" / "family.py").write_text(
        "from pkg.models.registry import register\n\n\n@register\ndef m():\n    return 1\n"
    )
    (pkg / "models" / "plain.py").write_text("Y = 1\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from pkg import studies\nstudies.run()")]
    used = chapters.chapter_modules(nb, pkg)
    assert used == [
        "__init__",
        "models",
        "models.family",
        "models.registry",
        "studies",
        "studies.one",
    ]
    nb.cells.append(nbformat.v4.new_code_cell("studies.other.X"))  # a module of the façade
    assert "studies.other" in chapters.chapter_modules(nb, pkg)
    nb.cells.append(nbformat.v4.new_code_cell("print(studies)"))  # used whole: all of it
    assert {"studies.two", "studies.other"} <= set(chapters.chapter_modules(nb, pkg))


def test_a_summary_chapter_goes_stale_when_the_results_it_reads_change(tmp_path):
    layout = make_chapter(tmp_path)
    path = layout.notebooks / "toy.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[2].source += '\nREADS_RESULTS = ["study"]'
    nbformat.write(nb, str(path))
    chapter = chapters.load_chapter("toy", layout)
    assert chapter.reads_results == ("study",)
    params = chapter.defaults()
    absent = chapters.fingerprint(chapter, params)
    results = tmp_path / "book" / "results" / "study"
    results.mkdir(parents=True)
    (results / "table.csv").write_text("a\n1\n")
    first = chapters.fingerprint(chapter, params)
    assert first != absent
    (results / "table.csv").write_text("a\n2\n")
    assert chapters.fingerprint(chapter, params) != first


def test_smoke_runs_use_a_scratch_store_and_runs_are_counted(tmp_path, monkeypatch):
    monkeypatch.setenv("POSE_HELPERS_RUNS", str(tmp_path / "book_runs"))
    body = (
        "import os\n"
        "from pose_helpers.core.store import RunStore\n"
        "RunStore('toy', 1).save({'x': profile}, {'y': 1}, 12.0)\n"
        "RunStore('toy', 1).load({'x': profile})\n"
        "print(os.environ['POSE_HELPERS_RUNS'])"
    )
    layout = make_chapter(tmp_path, body=body)
    quiet = {"layout": layout, "log": lambda *_: None}
    smoke = chapters.run_chapter("toy", profile="smoke", out=tmp_path / "s.ipynb", **quiet)
    assert str(tmp_path / "book_runs") not in outputs_text(smoke.output)
    assert not (tmp_path / "book_runs").exists()  # the smoke record went to the scratch store
    assert os.environ["POSE_HELPERS_RUNS"] == str(tmp_path / "book_runs")  # restored
    book = chapters.run_chapter("toy", out=tmp_path / "b.ipynb", **quiet)
    assert (tmp_path / "book_runs" / "toy").is_dir()
    meta = nbformat.read(str(book.output), as_version=4).metadata["pose_helpers"]
    runs = meta["execution"]["runs"]
    assert (runs["computed"], runs["loaded"], runs["record_seconds"]) == (1, 0, 12.0)
    assert meta["execution"]["seconds"] > 0 and "torch" in meta["execution"]["libraries"]


def test_broken_data_files_are_reported_before_running(tmp_path):
    layout = make_chapter(tmp_path)
    path = layout.notebooks / "toy.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[2].source = nb.cells[2].source.replace("READS_DATA = []", 'READS_DATA = ["mars"]')
    nbformat.write(nb, str(path))
    (tmp_path / "data" / "mars" / "feature").mkdir(parents=True)
    chapter = chapters.load_chapter("toy", layout)
    with pytest.raises(ChapterError, match="missing MARS file .*featuremap_train.npy"):
        chapters.resolve_parameters(chapter, overrides={"data_root": str(tmp_path / "data")})
    # no mars/ folder at all: the chapter falls back to its synthetic data
    (tmp_path / "empty").mkdir()
    chapters.resolve_parameters(chapter, overrides={"data_root": str(tmp_path / "empty")})
