"""`make publish` pushes _build/html to a gh-pages branch (tested against a local bare repository)."""

from __future__ import annotations

import shutil
import subprocess

from pose_helpers.core.paths import REPO_ROOT


def git(*args, cwd):
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def test_make_publish_pushes_the_html_to_gh_pages(tmp_path):
    remote = tmp_path / "remote.git"
    git("init", "-q", "--bare", str(remote), cwd=tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    for name in ("Makefile", "requirements.txt", "pyproject.toml"):
        shutil.copy(REPO_ROOT / name, work / name)
    (work / ".venv").symlink_to(REPO_ROOT / ".venv")  # the installed environment, not a new one
    (work / "_build" / "html").mkdir(parents=True)
    (work / "_build" / "html" / "index.html").write_text("<h1>book</h1>\n")
    git("init", "-q", "-b", "main", cwd=work)
    git(
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "init",
        cwd=work,
    )

    result = subprocess.run(
        ["make", "-o", ".venv/.installed", "publish", f"REMOTE={remote}"],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    files = git("ls-tree", "-r", "--name-only", "gh-pages", cwd=remote).split()
    assert "index.html" in files and ".nojekyll" in files
    assert git("show", "gh-pages:index.html", cwd=remote) == "<h1>book</h1>\n"
