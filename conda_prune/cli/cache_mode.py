"""``conda prune`` without ``--app``: the package-cache prune."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..exceptions import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_REFUSED,
    RefusedForSafety,
    UsageError,
)
from ..locations import Locations
from .options import RunOptions
from .output import Output


def search_paths_of(args: argparse.Namespace) -> list[Path]:
    """The folders named by ``--search-path``, checked."""
    search_paths = []
    for raw in getattr(args, "search_path", None) or ():
        path = Path(raw).expanduser()
        if not path.is_dir():
            raise UsageError(f"--search-path {raw}: no such folder; give a folder that holds environments")
        search_paths.append(path.resolve())
    return search_paths


def execute_cache_prune(args: argparse.Namespace, options: RunOptions, output: Output, locations: Locations) -> int:
    from ..cache_plan import plan_cache_prune
    from ..removal import execute_plan, tidy_trash
    from ..render.cache_json import plan_json
    from ..summaries import default_path as default_summaries_path

    for flag in ("keep", "export", "with_cache"):
        if getattr(args, flag, None):
            raise UsageError(f"--{flag.replace('_', '-')} only applies with --app (pruning an environment)")
    if isinstance(getattr(args, "name", None), str) or isinstance(getattr(args, "prefix", None), str):
        raise UsageError(
            "-n/-p choose an environment to prune with --app PATH; the cache prune always considers every environment"
        )
    if args.keep_latest < 0:
        raise UsageError("--keep-latest takes a number of builds, 0 or more")
    search_paths = search_paths_of(args)

    with output.progress("scanning") as bar:
        plan = plan_cache_prune(
            locations,
            search_paths,
            keep_latest=args.keep_latest,
            tarballs=args.tarballs,
            ignore_unreachable=args.ignore_unreachable,
            include_local=getattr(args, "include_local", False),
            summaries_path=default_summaries_path(),
            progress=bar.update,
        )

    for problem in plan.problems:
        output.warn(str(problem))
    for blocker in plan.blockers:
        output.warn(blocker)

    work = bool(plan.removals or plan.leftovers or plan.leftovers_kept)
    refusal = None
    if plan.blockers and work:  # a real run refuses; a dry run says so, and exits the same way
        refusal = (
            "nothing was deleted: " + plan.blockers[0]
            + ("" if len(plan.blockers) == 1 else f" (and {len(plan.blockers) - 1} more doubt(s) above)")
        )
    if not work and not options.dry_run:
        tidy_trash(plan)  # an empty trash folder a killed run left: ours, nothing in it
    if options.json and (options.dry_run or not work):
        doc = plan_json(plan, dry_run=options.dry_run, verbose=options.verbosity)
        if refusal:
            doc["success"] = False
            doc["refused"] = refusal
        output.emit_json(doc)
        if refusal:
            output.warn(refusal)
        return EXIT_REFUSED if refusal else EXIT_OK
    if not options.json:
        from ..render.cache_report import render_plan

        render_plan(plan, output.out, verbose=options.verbosity, dry_run=options.dry_run)
    if not work:
        return EXIT_OK
    if refusal:
        raise RefusedForSafety(refusal)
    if options.dry_run:
        return EXIT_OK
    if not output.confirm("Proceed"):
        output.info("Nothing was deleted.")
        return EXIT_NOT_FOUND if not options.json else EXIT_OK

    with output.progress("removing") as bar:
        result = execute_plan(plan, locations, search_paths, bar.update)
    if options.json:
        output.emit_json(plan_json(plan, dry_run=False, result=result, verbose=options.verbosity))
    else:
        from ..render.cache_report import render_result

        render_result(result, output.out)
    return EXIT_PARTIAL if result.failed else EXIT_OK
