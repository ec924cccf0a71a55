"""How a cache prune looks: rich tables for people, a stable JSON document for programs."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..cache_prune import CachePlan, Decision, PruneResult
from ..cli.output import human_bytes


def _version_build(d: Decision) -> str:
    return f"{d.entry.version} / {d.entry.build}" if d.entry.version else ""


def _what(d: Decision) -> str:
    kinds = []
    if d.entry.folder is not None and d.entry.folder in d.paths:
        kinds.append("folder")
    n = sum(1 for p in d.paths if p in d.entry.tarballs)
    if n:
        kinds.append("tarball" if n == 1 else f"{n} tarballs")
    return " + ".join(kinds)


def render_plan(plan: CachePlan, console: Console, *, verbose: int = 0, dry_run: bool = True) -> None:
    envs = plan.discovery.environments
    console.print(
        f"Scanned [bold]{len(envs)}[/bold] environment{'s' if len(envs) != 1 else ''} and "
        f"[bold]{sum(len(c.entries) for c in plan.caches)}[/bold] cache entries in "
        f"{sum(1 for c in plan.caches if c.exists)} package cache(s)."
    )
    if verbose:
        for env in envs:
            console.print(f"  [dim]environment[/dim] {env.prefix} [dim]({env.how})[/dim]")
    for m in plan.discovery.missing:
        if not m.unreachable and verbose:
            console.print(f"  [dim]{m.advice}[/dim]")

    for cache in plan.caches:
        if not cache.exists:
            if verbose:
                console.print(f"\n[dim]{cache.path}: does not exist[/dim]")
            continue
        mine = [d for d in plan.decisions if d.entry.cache == cache.path]
        removals = [d for d in mine if d.action == "remove" and d.paths]
        in_use = [d for d in mine if d.code == "in-use"]
        kept = [d for d in mine if d.action == "keep" and d.code != "in-use"]
        title = f"{cache.path}"
        if cache.real != cache.path:
            title += f" (-> {cache.real})"
        console.print(
            f"\n[bold]{title}[/bold]: {len(mine)} entries, {len(in_use)} in use, "
            f"{len(removals)} to remove, {len(kept)} kept for another reason"
        )
        if cache.read_only:
            console.print(f"  [yellow]left alone: the cache {cache.read_only}[/yellow]")
        if removals:
            table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
            table.add_column("entry")
            table.add_column("version / build")
            table.add_column("removes")
            table.add_column("frees", justify="right")
            table.add_column("why")
            for d in removals:
                table.add_row(d.entry.name, _version_build(d), _what(d), human_bytes(d.freed_bytes), d.reason)
            console.print(table)
        if kept:
            console.print("  [bold]Kept although no environment needs them[/bold]")
            table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
            table.add_column("entry")
            table.add_column("why")
            table.add_column("evidence", overflow="fold")
            for d in kept:
                table.add_row(d.entry.dist, d.reason, Text(d.evidence))
            console.print(table)
        if verbose and in_use:
            console.print("  [bold]In use[/bold]")
            for d in in_use:
                console.print(f"    {d.entry.dist}: {d.reason}")

    if plan.leftovers:
        console.print(
            f"\nAn interrupted prune left {len(plan.leftovers)} item(s) in the trash "
            f"({human_bytes(plan.leftover_bytes)}); a real run finishes them."
        )
    removals = plan.removals
    console.print()
    if not removals and not plan.leftovers:
        console.print("Nothing to remove: every cache entry is in use or kept for the reason shown.")
        return
    verb = "Would free" if dry_run else "Will free"
    console.print(
        f"{verb} [bold]{human_bytes(plan.freed_bytes)}[/bold] on disk by removing {len(removals)} "
        f"cache entr{'y' if len(removals) == 1 else 'ies'} "
        f"[dim]({human_bytes(plan.apparent_bytes)} apparent size; a hardlinked file counts only when its last link goes)[/dim]"
    )


def render_result(result: PruneResult, console: Console) -> None:
    for d, why in result.restored:
        console.print(f"[yellow]kept[/yellow] {d.entry.dist}: {why}")
    for d, why in result.failed:
        console.print(f"[red]could not remove[/red] {d.entry.dist}: {why}")
    console.print(
        f"Removed {len(result.removed)} cache entr{'y' if len(result.removed) == 1 else 'ies'}"
        + (f" and finished {len(result.finished_leftovers)} left by an interrupted run" if result.finished_leftovers else "")
        + f", freeing {human_bytes(result.freed_bytes)}."
    )


def _decision_json(d: Decision) -> dict[str, Any]:
    return {
        "cache": str(d.entry.cache),
        "entry": d.entry.dist,
        "name": d.entry.name,
        "version": d.entry.version,
        "build": d.entry.build,
        "action": d.action,
        "reason_code": d.code,
        "reason": d.reason,
        "evidence": d.evidence,
        "paths": sorted(str(p) for p in d.paths),
        "bytes": d.freed_bytes,
        "apparent_bytes": d.apparent_bytes,
        "used_by": sorted({str(u.prefix) for u in d.users}),
    }


def plan_json(plan: CachePlan, *, dry_run: bool, result: PruneResult | None = None, verbose: int = 0) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "dry_run": dry_run,
        "success": result is None or not result.failed,
        "reclaimable_bytes": plan.freed_bytes,
        "apparent_bytes": plan.apparent_bytes,
        "remove": [_decision_json(d) for d in plan.removals],
        "kept": [_decision_json(d) for d in plan.kept_unreferenced()],
        "in_use_count": len(plan.in_use()),
        "caches": [
            {
                "path": str(c.path),
                "real_path": str(c.real),
                "exists": c.exists,
                "read_only": c.read_only,
                "entries": len(c.entries),
            }
            for c in plan.caches
        ],
        "environments": [{"prefix": str(e.prefix), "found": e.how} for e in plan.discovery.environments],
        "missing_environments": [
            {"prefix": str(m.prefix), "registry": str(m.registry), "unreachable": m.unreachable}
            for m in plan.discovery.missing
        ],
        "interrupted_leftovers": [str(item) for _, item, _ in plan.leftovers],
        "problems": [{"path": str(p.path), "message": p.message} for p in plan.problems],
        "blocked_by": plan.blockers,
    }
    if verbose:
        doc["in_use"] = [_decision_json(d) for d in plan.in_use()]
    if result is not None:
        doc["removed"] = sorted(d.entry.dist for d in result.removed)
        doc["restored"] = [{"entry": d.entry.dist, "reason": why} for d, why in result.restored]
        doc["failed"] = [{"entry": d.entry.dist, "reason": why} for d, why in result.failed]
        doc["freed_bytes"] = result.freed_bytes
    return doc
