"""``conda prune -n ENV --app PATH``: remove the packages an application never uses.

A short pipeline: check the arguments, scan the application, read the environment, plan, show;
then export, or ask and remove through conda's own transaction, check what remains, and
optionally prune the package caches. The decisions are all in :mod:`conda_prune.env_prune`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..exceptions import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    EnvironmentNotFound,
    RefusedForSafety,
    UsageError,
)
from ..locations import Locations
from .cache_mode import search_paths_of
from .options import RunOptions, target_prefix
from .output import Output

if TYPE_CHECKING:
    from ..env_prune import EnvPruneReport
    from ..records import EnvironmentData
    from ..removal import PruneResult
    from ..trace import TraceEvidence, TraceRun

#: problems listed one per line before the rest are summed up (all of them with -v)
SHOWN_PROBLEMS = 10


def _check_arguments(args: argparse.Namespace) -> list[Path]:
    for flag, default in (("search_path", []), ("keep_latest", 0), ("tarballs", False), ("ignore_unreachable", False)):
        if flag == "search_path" and getattr(args, "with_cache", False):
            continue  # the cache prune after the removal must see the same environments
        if getattr(args, flag, default) not in (default, None):
            raise UsageError(f"--{flag.replace('_', '-')} only applies to the cache prune (without --app)")
    if not isinstance(getattr(args, "name", None), str) and not isinstance(getattr(args, "prefix", None), str):
        raise UsageError("with --app, name the environment to prune: -n NAME or -p PATH")
    apps = []
    for raw in args.app:
        path = Path(raw).expanduser()
        if not os.path.lexists(path):
            raise UsageError(f"--app {raw}: no such file or folder; nothing was removed")
        apps.append(path)
    return apps


def _self_hosting(prefix: Path, locations: Locations, standalone: bool) -> bool:
    """Is this the base environment, or the one running conda (and this command)?"""
    homes = {sys.prefix}
    if locations.root_prefix is not None:
        homes.add(str(locations.root_prefix))
    if not standalone:
        from conda.base.context import context

        homes |= {context.root_prefix, context.conda_prefix}
    real = os.path.realpath(prefix)
    return any(os.path.realpath(h) == real for h in homes if h)


def _write_atomically(path: Path, text: str) -> None:
    from ..safeio import write_text_atomically

    target = path.expanduser()
    try:
        write_text_atomically(target, text, f".{target.name}.")
    except OSError as exc:
        raise UsageError(f"--export {path}: cannot write it ({exc.strerror or exc}); nothing was removed") from None


def _cache_prune_after(locations: Locations, prefix: Path, dists: list[str], search_paths: list[Path]) -> int:
    """What the cache prune would free once ``dists`` are gone from ``prefix``."""
    from ..cache_plan import plan_cache_prune

    return plan_cache_prune(locations, search_paths,
                            extra_removed_prefix_records={prefix: frozenset(dists)}).freed_bytes


def _refusal(plan, prefix: Path) -> str | None:
    """Why a real run would remove nothing (a doubt, a frozen environment), or None."""
    if plan.doubts:
        more = "" if len(plan.doubts) == 1 else f" (and {len(plan.doubts) - 1} more)"
        return f"nothing was removed: {plan.doubts[0]}{more}"
    if plan.frozen:
        return f"nothing was removed: {prefix} is frozen (conda-meta/frozen marks it as not to be changed)"
    return None


def _warn_problems(output: Output, problems: list[str], verbose: int) -> None:
    shown = problems if verbose else problems[:SHOWN_PROBLEMS]
    for problem in shown:
        output.warn(problem)
    if len(problems) > len(shown):
        output.warn(f"... and {len(problems) - len(shown)} more problem(s) (-v lists them all)")


def execute_env_prune(args: argparse.Namespace, options: RunOptions, output: Output, locations: Locations) -> int:
    from ..appscan import scan_app
    from ..env_prune import (
        EnvPruneReport,
        keep_patterns_unmatched,
        lean_environment,
        plan_env_prune,
        unsatisfied,
    )
    from ..environment import bytes_leaving, bytes_per_package
    from ..graph import DependencyGraph
    from ..locations import conda_importable
    from ..records import is_environment, read_environment
    from ..render.env_prune import render_export, render_plan, render_removal, report_json
    from ..roots import find_roots
    from .options import requested_file

    apps = _check_arguments(args)
    named = requested_file(args)
    prefix = Path(target_prefix(args, locations) or "")
    if not is_environment(prefix):
        raise EnvironmentNotFound.at(prefix)
    export = getattr(args, "export", None)
    removing = not options.dry_run and not export
    if removing and options.standalone and not conda_importable():
        raise UsageError(
            "removing packages needs conda (its transaction records the removal in the history), and conda "
            "is not importable here; use --dry-run to see what is unused, or --export FILE for a lean environment.yml"
        )

    runs = _trace(args, options, output, prefix)
    with output.progress("reading the application") as bar:
        scan = scan_app(apps, progress=lambda done, total: bar.update("reading the application", done, total),
                        check_syntax="later")
    env = read_environment(prefix)
    graph = DependencyGraph.build(env)
    roots = find_roots(prefix, env, graph, requested_file=named, apps=apps)
    from ..appscan.cache import default_cache_dir
    from ..env_prune.closure import closure_expander
    from ..env_prune.native import NativeLibraries

    native = NativeLibraries(env, graph, cache_dir=default_cache_dir())  # what needed ELF files load
    expand, _ = closure_expander(env, scan, graph)  # what the app's imports load through installed code
    traced = _trace_evidence(env, runs)
    with output.progress("following imports through the environment"):
        plan = plan_env_prune(
            env, scan, keep=list(args.keep or ()), keep_list=list(locations.keep),
            self_hosting=_self_hosting(prefix, locations, options.standalone), graph=graph, roots=roots,
            evidence_from=traced.evidence if traced is not None else None,
            expanders=[expand, native], keep_optional=bool(getattr(args, "keep_optional", False)),
        )
    plan.problems += [str(p) for p in roots.problems] + native.problems
    plan.doubts += [  # the standalone script's reading of the configuration: its keep-list is unknown
        f"{what} (see above): the keep-list it may set is unknown. Fix it" for what in locations.unread_config
    ]
    plan.doubts += [str(p) for p in roots.doubts]
    if traced is not None:
        plan.problems += traced.warnings
        plan.doubts += traced.doubts
    for pattern in keep_patterns_unmatched(plan.graph, args.keep or ()):  # type: ignore[arg-type]
        output.warn(f"--keep {pattern!r} matches no package of {prefix}")
    _warn_problems(output, plan.problems, options.verbosity)
    for doubt in plan.doubts:
        output.warn(doubt)
    if plan.dynamic and options.json:
        output.warn(f"{len(plan.dynamic)} import(s) by computed name: what they load cannot be known (see dynamic_imports)")

    removable = plan.removable
    report = EnvPruneReport(
        plan=plan,
        freed=bytes_leaving(env, [v.key for v in removable]),
        package_bytes=bytes_per_package(env, [v.key for v in removable]),
        dry_run=options.dry_run,
        traces=runs,
    )
    if removable and not export:
        dists = [r.dist for r in env.records if f"conda:{r.name}" in {v.key for v in removable}]
        report.cache_after = _cache_prune_after(locations, prefix, dists, search_paths_of(args))

    if export:
        report.export_path = str(export)
        report.export_text = lean_environment(plan, env, "base" if prefix == locations.root_prefix else None)
        if not options.dry_run:
            _write_atomically(Path(export), report.export_text)
            report.export_written = True
        if options.json:
            output.emit_json(report_json(report))
        else:
            render_plan(report, output.out, verbose=options.verbosity)
            render_export(report, output.out)
        return EXIT_OK

    refusal = _refusal(plan, prefix) if removable else None
    if options.dry_run or not removable:
        if options.json:
            doc = report_json(report)
            doc["refused"] = refusal
            output.emit_json(doc)
            if refusal:  # the real run would refuse: so does the dry run, with the same words
                output.warn(refusal)
                return EXIT_REFUSED
        else:
            render_plan(report, output.out, verbose=options.verbosity)
            if removable:
                output.out.print("\nDry run: nothing was removed.")
            if refusal:
                raise RefusedForSafety(refusal)
        return EXIT_OK

    if not options.json:
        render_plan(report, output.out, verbose=options.verbosity)
    if refusal:
        raise RefusedForSafety(refusal)
    names = [v.name for v in removable]
    if not output.confirm(f"Remove {len(names)} package{'s' if len(names) != 1 else ''} from {prefix}"):
        output.info("Nothing was removed.")
        return EXIT_NOT_FOUND

    from ..removal import remove_from_environment

    remove_from_environment(prefix, names, reset_conda_context=options.standalone)
    report.removed = names
    after = read_environment(prefix)
    report.unsatisfied_after = unsatisfied(after, env)
    report.cache_after, report.cache_note = None, ""
    cache_result = _cache_prune_now(args, output, locations, report)

    if options.json:
        output.emit_json(report_json(report))
    else:
        render_removal(report, output.out)
        if cache_result is not None:
            from ..render.cache_report import render_result

            output.out.print()
            render_result(cache_result, output.out)
    for u in report.unsatisfied_after:
        if not u.before:
            output.warn(str(u))
    return EXIT_OK


def _trace(args: argparse.Namespace, options: RunOptions, output: Output, prefix: Path) -> list[TraceRun]:
    """Run every ``--trace`` command before anything is planned (Ctrl-C there stops the run)."""
    commands = list(getattr(args, "trace_commands", None) or ())
    if not commands:
        return []
    from ..trace import run_traces, shown

    def progress(command: str) -> None:
        if not options.quiet:
            sys.stderr.write(f"tracing: {shown(command)}\n")
            sys.stderr.flush()

    return run_traces(prefix, commands, to_stderr=options.json, progress=progress)


def _trace_evidence(env: EnvironmentData, runs: list[TraceRun]) -> TraceEvidence | None:
    if not runs:
        return None
    from ..trace import trace_evidence

    return trace_evidence(env, runs)


def _cache_prune_now(
    args: argparse.Namespace, output: Output, locations: Locations, report: EnvPruneReport
) -> PruneResult | None:
    """After the removal: what the cache prune would now free, or (``--with-cache``) do it and
    return its result."""
    from ..cache_plan import plan_cache_prune
    from ..removal import execute_plan
    from ..render.cache_json import plan_json

    with output.progress("reading the package caches") as bar:
        plan = plan_cache_prune(locations, search_paths_of(args), progress=bar.update)
    if not getattr(args, "with_cache", False):
        report.cache_after = plan.freed_bytes
        return None
    if plan.blockers:
        report.cache_note = f"The package caches were left alone: {plan.blockers[0]}"
        report.cache_prune = plan_json(plan, dry_run=True)
        return None
    with output.progress("removing unused cache entries") as bar:
        result = execute_plan(plan, locations, search_paths_of(args), bar.update)
    report.cache_prune = plan_json(plan, dry_run=False, result=result)
    return result
