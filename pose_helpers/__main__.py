"""Command line: ``python -m pose_helpers list | status | run CHAPTER [...] | run --all | cache-info``.

Examples::

    python -m pose_helpers list
    python -m pose_helpers run regularization_theory                 # book profile -> book/
    python -m pose_helpers run regularization_theory --profile smoke --out /tmp/t.ipynb
    python -m pose_helpers run regularization_theory -p seed 3 -p noise 0.5 --out mine.ipynb
    python -m pose_helpers status --modules                           # stale chapters, and why
    python -m pose_helpers run --all                                  # every stale chapter
    python -m pose_helpers cache-info                                 # what the cache holds
"""

from __future__ import annotations

import argparse
import os
import sys

from pose_helpers.chapters import provenance
from pose_helpers.chapters import runner as chapters


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pose_helpers", description="Run the book's parameterized chapters."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="list chapters with their parameters and defaults")

    status = sub.add_parser("status", help="which chapters are stale (make book re-executes them)")
    status.add_argument(
        "--modules", action="store_true", help="also the package modules each chapter depends on"
    )

    run = sub.add_parser("run", help="execute a chapter with papermill")
    run.add_argument("chapter", nargs="?", help="chapter name (see `list`)")
    run.add_argument("--all", action="store_true", help="every chapter, in book order")
    run.add_argument("--profile", default=chapters.DEFAULT_PROFILE, help="smoke | book | paper")
    run.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override a parameter (repeatable)",
    )
    run.add_argument("--out", help="write the executed notebook here instead of book/CHAPTER.ipynb")
    run.add_argument("--force", action="store_true", help="execute even if up to date")

    info = sub.add_parser(
        "cache-info", help="what the cache holds: files, checkpoints, hours of training"
    )
    info.add_argument("--cache", help="the cache folder (default: $POSE_HELPERS_CACHE or .cache)")
    return parser


def _cache_info(args: argparse.Namespace) -> int:
    from pose_helpers.core.store import cache_summary, describe_cache

    print(describe_cache(cache_summary(args.cache)))
    return 0


def _list() -> int:
    for name in chapters.list_chapters():
        chapter = chapters.load_chapter(name)
        reads = ", ".join(chapter.reads_data) or "no data files"
        print(f"{name}  (reads: {reads}; profiles: {', '.join(chapters.PROFILES)})")
        for param in chapter.parameters.values():
            differs = {p: o[param.name] for p, o in chapter.profiles.items() if param.name in o}
            extra = "".join(f"  [{p}: {v!r}]" for p, v in differs.items())
            note = f"  # {param.help}" if param.help else ""
            print(f"    {param.name} = {param.default!r}{extra}{note}")
    return 0


def _status(args: argparse.Namespace) -> int:
    import nbformat

    for name in chapters.list_chapters():
        chapter = chapters.load_chapter(name)
        print(f"{'fresh' if chapters.is_fresh(name) else 'stale'}  {name}")
        if args.modules:
            modules = chapters.chapter_modules(nbformat.read(chapter.path, as_version=4))
            print(f"       {len(modules)} modules: {', '.join(modules)}")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.all == bool(args.chapter):
        print("error: give a chapter name or --all (not both)", file=sys.stderr)
        return 2
    if args.all and args.out:
        print("error: --out needs a single chapter", file=sys.stderr)
        return 2
    names = chapters.list_chapters() if args.all else [args.chapter]
    overrides = dict(args.param)
    # Validate every chapter and parameter before executing anything.
    for name in names:
        chapters.resolve_parameters(chapters.load_chapter(name), args.profile, overrides)
    for name in names:
        chapters.run_chapter(
            name, profile=args.profile, overrides=overrides, out=args.out, force=args.force
        )
    if args.out is None and args.profile == chapters.DEFAULT_PROFILE:
        names = chapters.list_chapters()
        fresh = {name: chapters.is_fresh(name) for name in names}
        page = provenance.write_page(chapters.Layout().book, names, fresh)
        print(f"provenance: {page.relative_to(chapters.REPO_ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "list":
            return _list()
        if args.command == "cache-info":
            return _cache_info(args)
        if args.command == "status":
            return _status(args)
        return _run(args)
    except chapters.ChapterError as err:
        for line in str(err).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    except chapters.ChapterFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (chapters.ChapterInterrupted, KeyboardInterrupt) as err:
        print(f"interrupted: {err or 'before any chapter started'}", file=sys.stderr)
        sys.stderr.flush()
        # Leave now: papermill's abandoned asyncio tasks would print pages of traceback at
        # interpreter exit. The runner has removed its temporary files; the kernel and the
        # sweep workers stop by themselves when this process is gone (core.lifeline).
        os._exit(130)


if __name__ == "__main__":
    sys.exit(main())
