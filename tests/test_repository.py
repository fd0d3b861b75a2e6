"""Repository invariants: pinned dependencies, clean sources, book and baselines in step."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from pose_helpers.chapters import runner as chapters
from pose_helpers.core.paths import REPO_ROOT

CHAPTERS = chapters.list_chapters()


def test_requirements_are_pinned_exactly_and_read_by_environment_yml():
    lines = [
        line.split("#")[0].strip()
        for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert lines, "requirements.txt is empty"
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.+]+", line), f"not an exact pin: {line!r}"
    names = {line.split("==")[0].lower() for line in lines}
    design = {
        "jupyter-book",
        "jupyterlab",
        "torch",
        "torchvision",
        "papermill",
        "seaborn",
        "numpy",
        "pytest",
        "nbval",
    }
    assert design <= names, f"missing design packages: {design - names}"
    jb = next(line for line in lines if line.startswith("jupyter-book=="))
    assert jb.split("==")[1].startswith("1."), "Jupyter Book 2.x cannot build offline"
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-r requirements.txt" in pip_section


def test_mathjax_is_served_locally():
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    path = config["sphinx"]["config"]["mathjax_path"]
    assert not path.startswith(("http:", "https:", "//")), "MathJax must not come from a CDN"


@pytest.mark.parametrize("name", CHAPTERS)
def test_source_notebooks_have_no_outputs(name):
    nb = nbformat.read(str(REPO_ROOT / "notebooks" / f"{name}.ipynb"), as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"notebooks/{name}.ipynb cell {index} has outputs: run `make strip`"
            )


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_follows_the_conventions(name):
    chapter = chapters.load_chapter(name)
    assert "profile" in chapter.parameters and "seed" in chapter.parameters
    assert "smoke" in chapter.profiles, f"{name} has no smoke profile"
    for profile in chapters.PROFILES:
        chapters.resolve_parameters(chapter, profile)
    if chapter.reads_data:
        assert "data_root" in chapter.parameters


@pytest.mark.parametrize("name", CHAPTERS)
def test_book_copy_and_smoke_baseline_exist_for_each_chapter(name):
    chapter = chapters.load_chapter(name)
    for folder, profile in (
        (REPO_ROOT / "book", "book"),
        (REPO_ROOT / "tests" / "notebooks", "smoke"),
    ):
        path = folder / f"{name}.ipynb"
        assert path.is_file(), f"{path.relative_to(REPO_ROOT)} missing: run the chapter"
        meta = nbformat.read(str(path), as_version=4).metadata.get("pose_helpers", {})
        assert meta.get("profile") == profile
        expected = chapters.resolve_parameters(chapter, profile)
        recorded = {k: v for k, v in meta.get("parameters", {}).items() if k != "data_root"}
        expected.pop("data_root", None)
        assert recorded == expected, (
            f"{path.relative_to(REPO_ROOT)} ran with other parameters: regenerate it"
        )


def test_every_chapter_is_in_the_toc():
    toc = (REPO_ROOT / "_toc.yml").read_text()
    for name in CHAPTERS:
        assert f"book/{name}" in toc, f"{name} is not in _toc.yml"


def test_no_baseline_without_a_chapter():
    stray = {p.stem for p in (REPO_ROOT / "tests" / "notebooks").glob("*.ipynb")} - set(CHAPTERS)
    assert not stray, f"baselines without a chapter: {stray}"


def test_gitignore_keeps_caches_and_data_out():
    ignored = (REPO_ROOT / ".gitignore").read_text().split()
    for entry in (".venv/", "_build/", ".cache/", "*.pt"):
        assert entry in ignored
    assert not any(Path(REPO_ROOT / "book").rglob("*.npy")), "data files do not belong in book/"
