"""How ``conda prune -n ENV --app PATH`` looks: tables for people, a stable JSON document for
programs, both built from the same :class:`~conda_prune.env_prune.EnvPruneReport`."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from ..env_prune import KEPT, NEEDED, UNUSED, UNUSED_REASON, USED, EnvPruneReport, Verdict
from ..trace import shown
from .layout import Column, print_records, print_text
from .words import command_name, human_bytes

_STATUS_STYLE = {USED: "green", NEEDED: "cyan", KEPT: "blue", UNUSED: "yellow"}
#: evidence sites shown per package (all of them with -vv)
SHOWN_EVIDENCE = 3


def _counts(report: EnvPruneReport) -> str:
    plan = report.plan
    n = {s: len(plan.with_status(s)) for s in (USED, NEEDED, KEPT, UNUSED)}
    total = len(plan.verdicts)
    return (
        f"{total} package{'s' if total != 1 else ''}: {n[USED]} used by the application, "
        f"{n[NEEDED]} needed by those, {n[KEPT]} kept by rule, {n[UNUSED]} unused"
    )


def _why(v: Verdict, verbose: int, *, unused_table: bool = False) -> Text:
    text = Text("" if unused_table and v.reason == UNUSED_REASON else v.reason)
    if v.status == USED and len(v.evidence) > 1:
        limit = len(v.evidence) if verbose > 1 else SHOWN_EVIDENCE
        for e in v.evidence[1:limit]:
            text.append(f"\n{e}", style="dim")
        if len(v.evidence) > limit:
            text.append(f"\n... and {len(v.evidence) - limit} more (-vv shows all)", style="dim")
    if v.optional_only:
        text.append("\nonly optional imports (guarded by except ImportError)", style="dim")
    if v.status in (NEEDED, KEPT) and len(v.needed_by) > 2:
        text.append("\n" + " -> ".join(v.needed_by), style="dim")
    if v.asked_for and verbose:
        text.append(f"\nasked for ({v.asked_for})", style="dim")
    if v.on_demand and (unused_table or v.status == KEPT):
        limit = len(v.on_demand) if verbose > 1 else SHOWN_EVIDENCE
        for how in v.on_demand[:limit]:
            text.append(f"\n{how}")
        if len(v.on_demand) > limit:
            text.append(f"\n... and {len(v.on_demand) - limit} more (-vv shows all)", style="dim")
    for caution in v.cautions:
        if caution not in v.on_demand:
            text.append(f"\ncaution: {caution}", style="yellow")
    if text.plain.startswith("\n"):
        text = text[1:]
    return text


def _t(*parts: str | tuple[str, str]) -> Text:
    """A line of plain text pieces (optionally styled): names and paths print as they are."""
    return Text.assemble(*parts)


VERBOSE_COLUMNS = (Column("package"), Column("version"), Column("status"), Column("why", prose=True))
UNUSED_COLUMNS = (
    Column("package"), Column("version"), Column("build"), Column("frees now", justify="right"),
    Column("notes", prose=True),
)


def render_plan(report: EnvPruneReport, console: Console, *, verbose: int = 0) -> None:
    plan = report.plan
    apps = ", ".join(plan.apps)
    cached = f", {plan.files_cached} unchanged since the last scan" if plan.files_cached else ""
    files = f"{plan.files_scanned} file{'s' if plan.files_scanned != 1 else ''}"
    unparsed = list(plan.unparsed)
    not_parsed = f", {len(unparsed)} could not be parsed" if unparsed else ""
    print_text(console, _t("Application: ", (apps, "bold"), f" ({files} read{cached}{not_parsed})"), indent=2)
    print_text(console, _t("Environment: ", (str(plan.prefix), "bold"), f": {_counts(report)}"), indent=2)
    _render_traces(report, console)
    if plan.roots is not None and plan.roots.note:
        asked = len({r.key for r in plan.roots.roots if r.asked})
        print_text(console, _t(("note: ", "yellow"), f"{plan.roots.note} ({asked} asked for)."), indent=2)
    if unparsed:
        print_text(console, "Could not be parsed (their imports were read line by line):")
        for problem in unparsed:
            print_text(console, _t("  ", problem.where, ": ", (problem.parser_message, "dim")), indent=4)
    if plan.skipped_environments and verbose:
        for folder in plan.skipped_environments:
            print_text(console, Text(f"  not read: {folder} is an environment, not application code", style="dim"),
                       indent=4)

    if verbose:
        console.print()
        print_records(
            console, VERBOSE_COLUMNS,
            ([v.name + (" (pypi)" if v.kind == "pypi" else ""), v.version,
              Text(v.status, style=_STATUS_STYLE[v.status]), _why(v, verbose)] for v in plan.verdicts),
        )

    unused = plan.unused
    console.print()
    if not unused:
        print_text(console, "[green]Nothing unused:[/green] the application needs every package of this environment.")
    else:
        removable = [v for v in unused if v.removable]
        plain = [v for v in unused if not v.on_demand]
        loadable = [v for v in unused if v.on_demand]
        print_text(
            console,
            _t(("Unused", "bold"), f" ({len(unused)} package{'s' if len(unused) != 1 else ''}"
               + (f", {human_bytes(report.freed.freed)} leave the environment now" if removable else "")
               + f"): {UNUSED_REASON}"),
        )
        if plain:
            _print_unused(console, [_unused_row(v, report, verbose) for v in plain])
        if loadable:
            if plain:
                console.print()
            print_text(console, _t(("Unused, but a used package can load it on demand", "bold"),
                                   f" ({len(loadable)} package{'s' if len(loadable) != 1 else ''}, "
                                   "each with what loads it):"))
            _print_unused(console, [_unused_row(v, report, verbose) for v in loadable])
        _render_bytes(report, console)
        taken = [v for v in loadable if v.removable]
        if taken:
            print_text(console, Text(
                f"A removal takes {len(taken)} package{'s' if len(taken) != 1 else ''} that a used package can "
                "load on demand (the application changes only where it calls into that path); "
                f"--keep-optional keeps {'it' if len(taken) == 1 else 'them'}."))
    kept_optional = [v for v in plan.with_status(KEPT) if v.on_demand]
    if kept_optional:
        console.print()
        print_text(console, Text(f"Kept by --keep-optional ({len(kept_optional)}): "
                                 + ", ".join(v.name for v in kept_optional) + "."))

    if plan.doubts and any(v.removable for v in plan.verdicts):
        console.print()
        print_text(console, "[red]Nothing will be removed[/red] while this is in doubt:")
        for doubt in plan.doubts:
            print_text(console, Text(f"  {doubt}"), indent=4)
    if plan.frozen and any(v.removable for v in plan.verdicts):
        console.print()
        print_text(console, _t(("Nothing will be removed:", "red"), f" {plan.prefix} is frozen (conda-meta/frozen)."))
    if plan.missing:
        console.print()
        print_text(console, "[bold]Imported but not installed[/bold] (the application will fail where it imports them):")
        for m in plan.missing:
            where = ", ".join(m.sites[:3]) + (f" and {len(m.sites) - 3} more" if len(m.sites) > 3 else "")
            note = ("  (optional: guarded by except ImportError)", "dim") if m.optional else ""
            print_text(console, _t(f"  {m.module}", note, f": {where}"), indent=4)
    if plan.dynamic:
        console.print()
        print_text(
            console,
            f"[yellow]{len(plan.dynamic)} import(s) by computed name[/yellow]: what they load cannot be known; "
            "--keep the packages they need",
        )
        for use in plan.dynamic[: (None if verbose else 5)]:
            print_text(console, Text(f"  {use.how}({use.name}) at {use.location}"), indent=4)
        if not verbose and len(plan.dynamic) > 5:
            print_text(console, f"  [dim]... and {len(plan.dynamic) - 5} more (-v shows all)[/dim]")
    if verbose and plan.typing_only:
        console.print()
        print_text(console, "[dim]Imports only under TYPE_CHECKING (not uses at run time):[/dim]")
        for use in plan.typing_only:
            print_text(console, Text(f"  {use.name} at {use.location}", style="dim"), indent=4)


def _render_traces(report: EnvPruneReport, console: Console) -> None:
    """One line per --trace command: how it ended and what it loaded."""
    for run in report.traces:
        ended = "could not be started" if run.exit_code is None else f"exit {run.exit_code}"
        processes = len(run.records)
        print_text(console, _t("Traced: ", (f"`{shown(run.command)}`", "bold"),
                               f" ({ended}, {processes} Python process{'es' if processes != 1 else ''}, "
                               f"{run.files_mapped} files of {len(run.packages)} packages loaded)"), indent=2)


def _print_unused(console: Console, rows: list[list]) -> None:
    """The unused table; without a notes column when no package has a note."""
    columns = UNUSED_COLUMNS if any(row[-1].plain for row in rows) else UNUSED_COLUMNS[:-1]
    print_records(console, columns, [row if columns is UNUSED_COLUMNS else row[:-1] for row in rows])


def _unused_row(v: Verdict, report: EnvPruneReport, verbose: int) -> list:
    frees = human_bytes(report.package_bytes.get(v.key, 0)) if v.removable else "-"
    return [v.name + (" (pypi)" if v.kind == "pypi" else ""), v.version, v.build, frees,
            _why(v, verbose, unused_table=True)]


def _render_bytes(report: EnvPruneReport, console: Console) -> None:
    freed = report.freed
    if not any(v.removable for v in report.plan.unused):
        return
    line = f"{human_bytes(freed.freed)} leave the environment now"
    if freed.shared:
        line += (
            f"; {human_bytes(freed.shared)} of their files are also linked from the package cache or another "
            "environment and stay on disk until those go"
        )
    console.print()
    print_text(console, Text(f"{line}."))
    if report.cache_after is not None:
        print_text(
            console,
            Text(f"After the removal, the cache prune would free {human_bytes(report.cache_after)} "
                 f"({command_name('prune')}, or --with-cache to do both in one run)."),
        )
    elif report.cache_note:
        print_text(console, Text(report.cache_note))


def render_export(report: EnvPruneReport, console: Console) -> None:
    if report.export_text is None:
        return
    console.print()
    if report.export_written:
        print_text(console, _t("Wrote ", (str(report.export_path), "bold"),
                               ": a lean environment.yml of what the application uses."))
    else:
        print_text(console, _t("Would write ", (str(report.export_path), "bold"), " (dry run):"))
        console.print(report.export_text, markup=False, highlight=False, end="", soft_wrap=True)


def render_removal(report: EnvPruneReport, console: Console) -> None:
    console.print()
    n = len(report.removed)
    print_text(console, Text(f"Removed {n} package{'s' if n != 1 else ''} from {report.plan.prefix}."))
    broken = report.unsatisfied_after or []
    remaining = len(report.plan.verdicts) - n
    if not broken:
        print_text(console, _t(("Dependency check:", "green"),
                               f" each of the {remaining} remaining packages has what it requires."))
    else:
        new = [u for u in broken if not u.before]
        style = "red" if new else "yellow"
        print_text(console, Text(f"Dependency check: {len(broken)} requirement(s) not satisfied", style=style))
        for u in broken:
            print_text(console, Text(f"  {u}"), indent=4)
    if report.cache_after is not None:
        print_text(
            console,
            Text(f"The cache prune would now free {human_bytes(report.cache_after)}: run {command_name('prune')} "
                 "(or pass --with-cache next time)."),
        )
    elif report.cache_note:
        print_text(console, Text(report.cache_note))


def _verdict_json(v: Verdict, report: EnvPruneReport) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": v.name,
        "version": v.version,
        "build": v.build,
        "kind": v.kind,
        "status": v.status,
        "reason": v.reason,
        "evidence": [{"kind": e.kind, "detail": e.detail, "location": e.location} for e in v.evidence],
        "needed_by": list(v.needed_by),
        "cautions": list(v.cautions),
        "on_demand": list(v.on_demand),
        "removable": v.removable,
        "optional_only": v.optional_only,
        "asked_for": v.asked_for or None,
    }
    if v.removable:
        data["bytes_freed_now"] = report.package_bytes.get(v.key, 0)
    return data


def report_json(report: EnvPruneReport) -> dict[str, Any]:
    """The JSON document: every list sorted, the same keys whatever happened."""
    plan = report.plan
    return {
        "prefix": str(plan.prefix),
        "apps": list(plan.apps),
        "dry_run": report.dry_run,
        "files_scanned": plan.files_scanned,
        "files_cached": plan.files_cached,
        "roots_from": plan.roots.roots_from if plan.roots is not None else None,
        "roots_note": plan.roots.note if plan.roots is not None else "",
        "asked_for": sorted({r.name for r in plan.roots.roots if r.asked}) if plan.roots is not None else [],
        "packages": [_verdict_json(v, report) for v in sorted(plan.verdicts, key=lambda v: (v.name, v.kind))],
        "unused": sorted(v.name for v in plan.unused),
        "removable": sorted(v.name for v in plan.removable),
        "removable_on_demand": sorted(v.name for v in plan.removable if v.on_demand),
        "missing_modules": [
            {"module": m.module, "sites": list(m.sites), "optional": m.optional} for m in plan.missing
        ],
        "dynamic_imports": [{"expression": u.name, "call": u.how, "location": u.location} for u in plan.dynamic],
        "type_checking_only": sorted({u.name for u in plan.typing_only}),
        "skipped_environments": sorted(plan.skipped_environments),
        "problems": sorted(plan.problems),
        "not_parsed": [
            {"path": p.path, "line": p.line, "message": p.parser_message} for p in plan.unparsed
        ],
        "doubts": sorted(plan.doubts),
        "frozen": plan.frozen,
        "bytes": {
            "leave_environment_now": report.freed.freed,
            "shared_with_cache_or_other_environments": report.freed.shared,
            "cache_prune_after": report.cache_after,
            "cache_prune_note": report.cache_note,
        },
        "export": None if report.export_text is None else {
            "path": report.export_path, "written": report.export_written, "content": report.export_text,
        },
        "removed": sorted(report.removed),
        "dependency_check": {
            "checked": report.unsatisfied_after is not None,
            "unsatisfied": [
                {"package": u.package, "requirement": u.requirement, "already_before": u.before}
                for u in report.unsatisfied_after or []
            ],
        },
        "cache_prune": report.cache_prune,
        "traces": [run.as_json() for run in report.traces],
        "refused": None,
    }
