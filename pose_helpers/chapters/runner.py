"""The chapter runner: execute a parameterized notebook with papermill, safely.

A chapter is ``notebooks/CHAPTER.ipynb``. Its ``parameters`` cell holds the ``book``
profile's values, its ``profiles`` cell the values that differ in the ``smoke`` and
``paper`` profiles and the datasets it reads (see CONTRIBUTING.md). The runner

* validates the chapter name, parameter names, value types and the chapter's declared
  constraints (``CHECKS``, :mod:`.checks`) before executing anything, and resolves a
  relative ``data_root`` against the caller's working directory;
* executes into a temporary file and writes the chapter's tables into a staging folder; only
  when the whole notebook succeeded do the notebook and the tables replace the book's copies,
  so a failing chapter leaves the book untouched and the failing cell is reported;
* tells the kernel its process id (``POSE_HELPERS_RUNNER_PID``), so that the kernel and its
  sweep workers stop when the runner dies (:mod:`pose_helpers.core.lifeline`);
* hides the injected-parameters cell in the rendered book and shows the parameters the
  chapter ran with in one visible line;
* stores a fingerprint of the notebook, its parameters, the ``pose_helpers`` source, the
  pinned requirements and the data it reads, so unchanged chapters are not re-executed.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
import tokenize
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pose_helpers.chapters import provenance
from pose_helpers.chapters.checks import check_values
from pose_helpers.core import codegraph, lifeline
from pose_helpers.core.io import write_json
from pose_helpers.core.paths import CACHE_ENV, REPO_ROOT, cache_dir, dataset_dir
from pose_helpers.core.store import RUN_LOG_ENV, RUNS_ENV

PROFILES = ("smoke", "book", "paper")
DEFAULT_PROFILE = "book"
FINGERPRINT_VERSION = 4
RESULTS_ENV = "POSE_HELPERS_RESULTS"
PACKAGE_DIR = Path(__file__).resolve().parents[1]


class ChapterError(ValueError):
    """A chapter, profile or parameter that does not exist or does not fit."""


class ChapterFailed(RuntimeError):
    """A chapter raised while executing; the previous output was left untouched."""


class ChapterInterrupted(RuntimeError):
    """A chapter run stopped by Ctrl-C; its finished runs are stored, the book untouched."""


@dataclass(frozen=True)
class Layout:
    """Where the runner reads and writes (a test points it at a temporary tree)."""

    root: Path = REPO_ROOT

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def book(self) -> Path:
        return self.root / "book"

    @property
    def baselines(self) -> Path:
        return self.root / "tests" / "notebooks"

    @property
    def toc(self) -> Path:
        return self.root / "_toc.yml"


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any
    help: str = ""

    @property
    def type_name(self) -> str:
        return "any" if self.default is None else type(self.default).__name__


@dataclass(frozen=True)
class Chapter:
    """A parsed chapter notebook: its parameters, profiles and data needs."""

    name: str
    path: Path
    parameters: dict[str, Parameter]
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    reads_data: tuple[str, ...] = ()
    reads_results: tuple[str, ...] = ()  # book/results/<study> folders of other chapters
    checks: dict[str, Any] = field(default_factory=dict)  # CHECKS: constraints (:mod:`.checks`)

    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.parameters.items()}


# --------------------------------------------------------------------------- discovery


def list_chapters(layout: Layout = Layout()) -> list[str]:
    """Chapter names: those in ``_toc.yml`` first, in book order, then any others."""
    names = sorted(p.stem for p in layout.notebooks.glob("*.ipynb"))
    ordered = [n for n in _toc_order(layout) if n in names]
    return ordered + [n for n in names if n not in ordered]


def _toc_order(layout: Layout) -> list[str]:
    if not layout.toc.is_file():
        return []
    import yaml

    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("file", "root") and isinstance(value, str):
                    found.append(Path(value).stem)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(layout.toc.read_text()))
    return found


def load_chapter(name: str, layout: Layout = Layout()) -> Chapter:
    """Parse ``notebooks/<name>.ipynb``; an unknown name raises with the valid choices."""
    path = layout.notebooks / f"{name}.ipynb"
    if not path.is_file():
        raise ChapterError(
            f"unknown chapter {name!r}; valid chapters: {', '.join(list_chapters(layout)) or '(none)'}"
        )
    import nbformat

    nb = nbformat.read(path, as_version=4)
    params_cell = _tagged_cell(nb, "parameters")
    if params_cell is None:
        raise ChapterError(f"chapter {name!r} has no cell tagged 'parameters' ({path})")
    parameters = _parse_parameters(params_cell.source, where=f"{name}: parameters cell")
    profiles: dict[str, dict[str, Any]] = {}
    reads: tuple[str, ...] = ()
    results: tuple[str, ...] = ()
    checks: dict[str, Any] = {}
    profiles_cell = _tagged_cell(nb, "profiles")
    if profiles_cell is not None:
        values = _literal_assignments(profiles_cell.source, where=f"{name}: profiles cell")
        profiles = values.get("PROFILES", {}) or {}
        reads = tuple(values.get("READS_DATA", ()) or ())
        results = tuple(values.get("READS_RESULTS", ()) or ())
        checks = dict(values.get("CHECKS", {}) or {})
        for profile, overrides in profiles.items():
            if profile not in PROFILES:
                raise ChapterError(
                    f"{name}: unknown profile {profile!r} in PROFILES; valid: {', '.join(PROFILES)}"
                )
            for key in overrides:
                if key not in parameters:
                    raise ChapterError(
                        f"{name}: profile {profile!r} sets unknown parameter {key!r}; "
                        f"valid: {', '.join(parameters)}"
                    )
    return Chapter(
        name=name,
        path=path,
        parameters=parameters,
        profiles=profiles,
        reads_data=reads,
        reads_results=results,
        checks=checks,
    )


def _tagged_index(chapter: Chapter, tag: str) -> int | None:
    import nbformat

    nb = nbformat.read(chapter.path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if tag in cell.get("metadata", {}).get("tags", []):
            return index
    return None


def _tagged_cell(nb: Any, tag: str) -> Any:
    for cell in nb.cells:
        if cell.cell_type == "code" and tag in cell.get("metadata", {}).get("tags", []):
            return cell
    return None


def _literal_assignments(source: str, *, where: str) -> dict[str, Any]:
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ChapterError(f"{where}: not valid Python ({err.msg}, line {err.lineno})") from None
    values: dict[str, Any] = {}
    for node in tree.body:
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            raise ChapterError(
                f"{where}: only 'name = literal' lines are allowed (line {node.lineno})"
            )
        try:
            values[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            raise ChapterError(
                f"{where}: {node.targets[0].id} must be a literal (line {node.lineno})"
            ) from None
    return values


def _parse_parameters(source: str, *, where: str) -> dict[str, Parameter]:
    values = _literal_assignments(source, where=where)
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    helps = {}
    for node in ast.parse(source).body:
        helps[node.targets[0].id] = comments.get(node.end_lineno, comments.get(node.lineno, ""))
    return {name: Parameter(name, value, helps.get(name, "")) for name, value in values.items()}


# --------------------------------------------------------------------------- parameters


def coerce(param: Parameter, value: Any) -> Any:
    """Convert a command-line string (or any value) to the type of the parameter's default."""
    default = param.default
    wrong = ChapterError(
        f"parameter {param.name!r} expects {param.type_name} (default {default!r}); got {value!r}"
    )
    if not isinstance(value, str):
        if (
            default is None
            or isinstance(value, type(default))
            or (
                isinstance(default, float)
                and isinstance(value, int)
                and not isinstance(value, bool)
            )
        ):
            return value
        raise wrong
    if isinstance(default, str):
        return value
    if isinstance(default, bool):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise wrong
    if isinstance(default, int):
        try:
            return int(value)
        except ValueError:
            raise wrong from None
    if isinstance(default, float):
        try:
            return float(value)
        except ValueError:
            raise wrong from None
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        if default is None:
            return value  # a free-form string where the default is None (e.g. a path)
        raise wrong from None
    if default is not None and not isinstance(parsed, type(default)):
        raise wrong
    return parsed


def resolve_parameters(
    chapter: Chapter, profile: str = DEFAULT_PROFILE, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Defaults, then the profile's values, then the caller's overrides, checked.

    A relative ``data_root`` is resolved here, once, against the caller's working directory
    (the kernel runs elsewhere). Every constraint the chapter declares (``CHECKS``) and the
    existence of a given ``data_root`` are checked; all broken ones are reported together.

    Raises:
        ChapterError: an unknown profile or parameter, a value of the wrong type, or broken
            constraints (one line each).
    """
    if profile not in PROFILES:
        raise ChapterError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    params = chapter.defaults()
    params.update(chapter.profiles.get(profile, {}))
    for name, value in (overrides or {}).items():
        if name not in chapter.parameters:
            raise ChapterError(
                f"unknown parameter {name!r} for chapter {chapter.name!r}; "
                f"valid parameters: {', '.join(chapter.parameters)}"
            )
        params[name] = coerce(chapter.parameters[name], value)
    if "profile" in chapter.parameters:
        params["profile"] = profile
    if isinstance(params.get("data_root"), str) and params["data_root"]:
        params["data_root"] = str(Path(params["data_root"]).expanduser().resolve())
    checks = {**chapter.checks}
    if "data_root" in params:
        checks["data_root"] = [*_rules(checks.get("data_root")), "path"]
    try:
        problems = check_values(params, checks, chapter=chapter.name)
    except ValueError as err:
        raise ChapterError(str(err)) from None
    if not problems:  # the data files only once the parameters are sane
        problems = _data_problems(chapter, params.get("data_root"))
    if problems:
        raise ChapterError("\n".join(f"{chapter.name}: {p}" for p in problems))
    return params


def _data_problems(chapter: Chapter, data_root: str | None) -> list[str]:
    """Cheap checks of the data files a chapter reads (``READS_DATA``), where present: the
    module ``pose_helpers.data.<name>`` knows its files (``check_files``)."""
    import importlib

    problems = []
    for name in chapter.reads_data:
        folder = dataset_dir(name, data_root)
        if folder is None:
            continue  # the chapter falls back to its synthetic data and says so
        module = importlib.import_module(f"pose_helpers.data.{name}")
        problems += getattr(module, "check_files", lambda _: [])(folder)
    return problems


def _rules(value: Any) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


# --------------------------------------------------------------------------- fingerprint


def fingerprint(chapter: Chapter, params: dict[str, Any], data_root: str | None = None) -> str:
    """Hash of everything a chapter's output depends on.

    The notebook's cells (source only; a ``profiles`` cell without its ``PROFILES``: the
    profile that runs counts through its parameters), its parameters, the source of the ``pose_helpers``
    modules it uses (:func:`chapter_modules`; syntax trees, so formatting and comments do
    not count), the pinned requirements, the content of the datasets it reads (or their
    absence), and that of the ``book/results`` folders of other chapters it summarizes
    (``READS_RESULTS``). Paths do not count, so the fingerprint is the same on every
    machine with the same inputs.
    """
    import nbformat

    h = hashlib.sha256(f"v{FINGERPRINT_VERSION}".encode())
    nb = nbformat.read(chapter.path, as_version=4)
    for cell in nb.cells:
        source = cell.source
        if "profiles" in cell.metadata.get("tags", []):
            # the profile that ran counts through ``params``; the others' values do not
            # (shrinking the smoke profile must not make the book's copy stale)
            source = _without_profiles(source)
        h.update(cell.cell_type.encode() + b"\0" + source.encode() + b"\0")
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    h.update(package_digest(modules=chapter_modules(nb)).encode())
    requirements = chapter.path.parent.parent / "requirements.txt"
    if requirements.is_file():
        h.update(requirements.read_bytes())
    override = params.get("data_root", data_root)
    for name in chapter.reads_data:
        h.update(f"data:{name}:{data_digest(dataset_dir(name, override))}".encode())
    for study in chapter.reads_results:
        folder = chapter.path.parent.parent / "book" / "results" / study
        h.update(f"results:{study}:{data_digest(folder if folder.is_dir() else None)}".encode())
    return h.hexdigest()[:16]


def _without_profiles(source: str) -> str:
    """A profiles cell without its ``PROFILES`` assignment (its other lines, such as
    ``READS_DATA``, still count)."""
    tree = ast.parse(source)
    tree.body = [
        node
        for node in tree.body
        if not (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "PROFILES" for t in node.targets)
        )
    ]
    return ast.dump(tree)


#: The runner itself does not shape a chapter's outputs; editing it must not make every
#: chapter stale (the book profile of some chapters takes tens of minutes).
RUNNER_UNITS = frozenset({"chapters.runner", "chapters.provenance", "__main__", "core.codegraph"})


def _public_names(package_dir: Path) -> dict[str, str]:
    """The package's ``PUBLIC_NAMES`` (``ph.create_model`` -> ``models.registry``), read
    from its ``__init__`` without importing it."""
    tree = ast.parse((package_dir / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "PUBLIC_NAMES" for t in targets):
                return ast.literal_eval(node.value)
    return {}


def chapter_modules(nb: Any, package_dir: Path = PACKAGE_DIR) -> list[str]:
    """The package's modules a notebook can execute.

    Its code cells read as one module by the package's tracer
    (:func:`pose_helpers.core.codegraph.reach`): what they import, name by name
    (``compression.baseline_run`` counts ``studies.compression.baseline``, not the rest of
    the compression study), ``ph.create_model`` through ``PUBLIC_NAMES``, the package's
    ``__init__``, and, transitively, what those use. Over-inclusion is harmless (a chapter
    goes stale a little more often); a cell that does not parse (a magic) makes the whole
    package count.
    """
    units = codegraph.package_units(package_dir, exclude=RUNNER_UNITS)
    public = _public_names(package_dir)
    body: list[ast.stmt] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            body += ast.parse(cell.source).body
        except SyntaxError:
            return sorted(units)
    tree = ast.Module(body=body, type_ignores=[])
    init = package_dir / "__init__.py"
    imports = codegraph.imports_of("", tree, units, package_dir.name, init)
    roots = {("__init__", None)}
    for use in codegraph.uses_of(imports, tree, units):
        roots.add((use.target, use.name))
        if use.target == "__init__" and use.name in public:  # ph.create_model
            roots.add((public[use.name], None))
    return sorted(codegraph.reach(package_dir, roots, exclude=RUNNER_UNITS))


def package_digest(package_dir: Path = PACKAGE_DIR, modules: Sequence[str] | None = None) -> str:
    """Digest of the package's code: syntax trees without docstrings, runner excluded.

    Formatting, comments and docstrings do not change what a chapter computes, so they do
    not make a chapter stale. ``modules`` (units of :func:`chapter_modules`) limits the
    digest to the code a chapter uses; ``None`` digests the whole package.
    """
    h = hashlib.sha256()
    for unit, path in codegraph.package_units(package_dir, exclude=RUNNER_UNITS).items():
        if modules is not None and unit not in modules:
            continue
        h.update(unit.encode() + b"\0" + ast.dump(codegraph.unit_tree(path)).encode())
    return h.hexdigest()


def data_digest(folder: Path | None) -> str:
    """Content digest of a data folder (``absent`` when missing), cached by size and mtime."""
    if folder is None:
        return "absent"
    memo_path = cache_dir() / "data_digests.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    h = hashlib.sha256()
    changed = False
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        key = f"{path}:{stat.st_size}:{stat.st_mtime_ns}"
        if key not in memo:
            memo[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            changed = True
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + memo[key].encode())
    if changed:
        write_json(memo_path, memo, indent=0)
    return h.hexdigest()


def stored_fingerprint(path: Path) -> str | None:
    """The fingerprint recorded in an executed notebook, if any."""
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text()).get("metadata", {})
    except ValueError:
        return None
    return meta.get("pose_helpers", {}).get("fingerprint")


def is_fresh(name: str, layout: Layout = Layout()) -> bool:
    """Whether the book's copy of a chapter matches its current inputs (its fingerprint,
    recomputed with the parameters it was executed with)."""
    path = layout.book / f"{name}.ipynb"
    if not path.is_file():
        return False
    meta = json.loads(path.read_text()).get("metadata", {}).get("pose_helpers", {})
    params = meta.get("parameters")
    if not isinstance(params, dict):
        return False
    return fingerprint(load_chapter(name, layout), params) == meta.get("fingerprint")


# --------------------------------------------------------------------------- running


@dataclass
class RunResult:
    chapter: str
    output: Path
    profile: str
    executed: bool
    seconds: float
    fingerprint: str


def run_chapter(
    name: str,
    *,
    profile: str = DEFAULT_PROFILE,
    overrides: dict[str, Any] | None = None,
    out: str | os.PathLike | None = None,
    force: bool = False,
    layout: Layout = Layout(),
    log=print,
) -> RunResult:
    """Execute one chapter; skip it when its output is already up to date.

    Args:
        name: chapter name (``notebooks/<name>.ipynb``).
        profile: ``smoke``, ``book`` (default) or ``paper``.
        overrides: parameter values (strings from the command line are converted to the
            type of the parameter's default).
        out: where to write the executed notebook; default ``book/<name>.ipynb``.
        force: execute even when the stored fingerprint matches.

    Raises:
        ChapterError: unknown chapter, profile or parameter, or a value of the wrong type
            (raised before anything executes).
        ChapterFailed: a cell raised; the previous output is untouched.
    """
    chapter = load_chapter(name, layout)
    params = resolve_parameters(chapter, profile, overrides)
    output = Path(out) if out is not None else layout.book / f"{name}.ipynb"
    digest = fingerprint(chapter, params)
    if not force and stored_fingerprint(output) == digest:
        log(f"{name}: up to date ({_display_path(output)}, profile {profile})")
        return RunResult(name, output, profile, False, 0.0, digest)

    log(f"{name}: executing with profile {profile!r} -> {_display_path(output)}")
    start = time.perf_counter()
    output.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(output.parent, name)
    # Temporary names carry this process's id, so a later run knows which ones were orphaned.
    stem = f".{name}.{os.getpid()}."
    fd, tmp_name = tempfile.mkstemp(prefix=stem, suffix=".ipynb", dir=output.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    staging = Path(tempfile.mkdtemp(prefix=stem, suffix=".staging", dir=output.parent)).resolve()
    # Absolute: the kernel runs in notebooks/, where a relative path would land elsewhere.
    results = (
        layout.book.resolve() / "results"
        if output.resolve() == (layout.book / f"{name}.ipynb").resolve()
        else output.parent.resolve() / "results"
    )
    try:
        with _run_environment(profile) as run_log:
            try:
                _execute(chapter, params, tmp, staging / "results")
            except KeyboardInterrupt:
                done = provenance.read_run_log(run_log)["computed"]
                raise ChapterInterrupted(
                    f"{name}: interrupted after {done} newly finished runs (stored: the same "
                    "command resumes); the book's notebook and tables were left untouched"
                ) from None
            runs = provenance.read_run_log(run_log)
        execution = provenance.execution_record(time.perf_counter() - start, runs)
        _finalize(tmp, chapter, params, profile, digest, execution)
        # All or nothing: the tables and the notebook replace the book's copies only now.
        _publish(staging / "results", results)
        tmp.chmod(0o644)  # mkstemp's 0600 would follow the notebook into the book
        os.replace(tmp, output)
    except BaseException as err:
        failed = _failure_message(err, chapter)
        if failed is not None:
            raise ChapterFailed(failed) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    seconds = time.perf_counter() - start
    log(f"{name}: done in {seconds:.1f} s")
    return RunResult(name, output, profile, True, seconds, digest)


def _publish(staged: Path, results: Path) -> None:
    """Move every staged table into ``results`` (same relative path), each atomically."""
    if not staged.is_dir():
        return
    for path in sorted(staged.rglob("*")):
        if path.is_file():
            target = results / path.relative_to(staged)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)


def _remove_orphans(folder: Path, name: str) -> None:
    """Remove the temporary notebooks and staging folders of earlier runs of ``name`` whose
    runner is gone (killed before it could clean up)."""
    for path in folder.glob(f".{name}.*"):
        parts = path.name.split(".")
        pid = parts[2] if len(parts) > 3 else ""
        if pid.isdigit() and lifeline.alive(int(pid)):
            continue  # a run in progress (another runner)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


@contextmanager
def _run_environment(profile: str) -> Iterator[Path]:
    """A run log for the store (counts the chapter's runs) and, for the smoke profile, a
    scratch run store and cache: smoke runs are always computed from scratch, so a change in
    training behaviour shows up as an nbval failure. The environment is restored after."""
    keys = (RUN_LOG_ENV, RUNS_ENV, CACHE_ENV, lifeline.RUNNER_PID_ENV)
    before = {k: os.environ.get(k) for k in keys}
    with tempfile.TemporaryDirectory(prefix="pose-helpers-run-") as folder:
        log = Path(folder) / "runs.jsonl"
        os.environ[RUN_LOG_ENV] = str(log)
        os.environ[lifeline.RUNNER_PID_ENV] = str(os.getpid())
        if profile == "smoke":
            os.environ[RUNS_ENV] = str(Path(folder) / "runs")
            os.environ[CACHE_ENV] = str(Path(folder) / "cache")
        try:
            yield log
        finally:
            for key, value in before.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _execute(chapter: Chapter, params: dict[str, Any], output: Path, results: Path) -> None:
    import papermill

    # Tables go to book/results/ only for the book's own copy; a reader's re-run with
    # --out writes them beside its notebook and leaves the book's tables alone.
    os.environ[RESULTS_ENV] = str(results)
    # The kernel must be this interpreter's: put its kernelspec first on the path.
    env_kernels = str(Path(sys.prefix) / "share" / "jupyter")
    paths = os.environ.get("JUPYTER_PATH", "")
    if env_kernels not in paths.split(os.pathsep):
        os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (env_kernels, paths) if p)
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    papermill.execute_notebook(
        str(chapter.path),
        str(output),
        parameters=params,
        kernel_name="python3",
        cwd=str(chapter.path.parent),
        progress_bar=False,
        report_mode=False,
        log_output=False,
    )


def _finalize(
    path: Path,
    chapter: Chapter,
    params: dict[str, Any],
    profile: str,
    digest: str,
    execution: dict[str, Any],
) -> None:
    """Hide runner cells, add the visible parameter line, record provenance."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        cell.metadata.pop("papermill", None)  # timings would make every run a diff
        cell.metadata.pop("execution", None)
        if "injected-parameters" in tags or "profiles" in tags:
            if "remove-cell" not in tags:
                tags.append("remove-cell")
        cells.append(cell)
        if "injected-parameters" in tags:
            cells.append(nbformat.v4.new_markdown_cell(_parameter_line(chapter, params, profile)))
    nb.cells = cells
    nb.metadata.pop("papermill", None)
    nb.metadata["pose_helpers"] = {
        "chapter": chapter.name,
        "profile": profile,
        "parameters": params,
        "reads_data": list(chapter.reads_data),
        "reads_results": list(chapter.reads_results),
        "fingerprint": digest,
        "execution": execution,
    }
    nbformat.write(nb, str(path))


def _parameter_line(chapter: Chapter, params: dict[str, Any], profile: str) -> str:
    """One short line: the profile, and the parameters that differ from the cell above."""
    changed = [
        f"`{k}={params[k]!r}`"
        for k, p in chapter.parameters.items()
        if k != "profile" and params.get(k) != p.default
    ]
    if not changed:
        return f"**Run:** profile `{profile}`, with the parameter values shown above."
    return f"**Run:** profile `{profile}`, with the values above except {', '.join(changed)}."


def _failure_message(err: BaseException, chapter: Chapter) -> str | None:
    try:
        from papermill.exceptions import PapermillExecutionError
    except ImportError:  # pragma: no cover
        return None
    if not isinstance(err, PapermillExecutionError):
        return None
    # papermill numbers cells of the executed notebook, one more (the injected
    # parameters) than the source notebook after the parameters cell.
    index = err.cell_index
    params_index = _tagged_index(chapter, "parameters")
    if params_index is not None and index > params_index:
        index -= 1
    indented = "\n".join("    " + line for line in (err.source or "").splitlines())
    return (
        f"chapter {chapter.name!r} failed in cell {index} (exec count {err.exec_count}): "
        f"{err.ename}: {err.evalue}\n{indented}\nthe book's notebook and tables were left "
        "untouched"
    )


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
