"""How a cache prune looks: rich tables for people, a stable JSON document for programs."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ..cache_plan import IN_USE, KEEP, REMOVE, TARBALL, CachePlan, Decision
from ..removal import PruneResult
from .layout import Column, print_line, print_records, print_text
from .words import human_bytes


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


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _entries(n: int) -> str:
    return _plural(n, "entry", "entries")


def tarball_only(d: Decision) -> bool:
    """A removal that takes only tarballs: the entry's extracted folder (if any) stays."""
    return d.code == TARBALL


def cache_counts(decisions: list[Decision]) -> str:
    """What happens to one cache's entries, folders and tarballs told apart."""
    whole = [d for d in decisions if d.action == REMOVE and d.paths and not tarball_only(d)]
    in_use = [d for d in decisions if d.code == IN_USE or (tarball_only(d) and d.users)]
    kept = [d for d in decisions if (d.action == KEEP and d.code != IN_USE) or (tarball_only(d) and not d.users)]

    def tarballs_of(group: list[Decision]) -> str:
        n = sum(1 for d in group if tarball_only(d) and d.paths)
        if not n:
            return ""
        return " (only their tarballs go)" if n == len(group) else f" (the tarballs of {n} go, their folders stay)"

    return (
        f"{_entries(len(decisions))}: {len(whole)} to remove, {len(in_use)} in use{tarballs_of(in_use)}, "
        f"{len(kept)} kept for another reason{tarballs_of(kept)}"
    )


#: the columns of the table of removals; "why" moves under its entry when the line is too narrow
REMOVAL_COLUMNS = (
    Column("entry"), Column("version / build"), Column("removes"), Column("frees", justify="right"),
    Column("why", prose=True),
)
KEPT_COLUMNS = (Column("entry"), Column("why", prose=True), Column("evidence", prose=True))


def render_plan(plan: CachePlan, console: Console, *, verbose: int = 0, dry_run: bool = True) -> None:
    envs = plan.discovery.environments
    existing = [c for c in plan.caches if c.exists]
    print_text(
        console,
        f"Scanned [bold]{len(envs)}[/bold] environment{'s' if len(envs) != 1 else ''} and "
        f"[bold]{sum(len(c.entries) for c in plan.caches)}[/bold] cache entries in "
        f"{len(existing)} package cache(s).",
    )
    if verbose:
        for env in envs:
            print_line(console, Text.assemble(("  environment ", "dim"), str(env.prefix), (f" ({env.how})", "dim")))
    for m in plan.discovery.missing:
        if not m.unreachable and verbose:
            print_line(console, Text(f"  {m.advice}", style="dim"))
    if not existing:
        looked = ", ".join(str(c.path) for c in plan.caches) or "none configured"
        print_text(console, Text(f"No package cache exists on disk; looked at: {looked}. Nothing to remove."))
        return

    for cache in plan.caches:
        if not cache.exists:
            if verbose:
                console.print()
                print_line(console, Text(f"{cache.path}: does not exist", style="dim"))
            continue
        mine = [d for d in plan.decisions if d.entry.cache == cache.path]
        removals = [d for d in mine if d.action == REMOVE and d.paths]
        in_use = [d for d in mine if d.code == IN_USE]
        kept = [d for d in mine if d.action == KEEP and d.code != IN_USE]
        title = Text(str(cache.path), style="bold")
        if cache.real != cache.path:
            title.append(f" (-> {cache.real})", style="bold")
        console.print()
        print_text(console, Text.assemble(title, f": {cache_counts(mine)}"))
        if cache.read_only:
            print_text(console, Text(f"  left alone: the cache {cache.read_only}", style="yellow"), indent=2)
        if removals:
            print_records(
                console, REMOVAL_COLUMNS,
                ([d.entry.name, _version_build(d), _what(d), human_bytes(d.freed_bytes), d.reason] for d in removals),
            )
        if kept:
            console.print("  [bold]Kept although no environment needs them[/bold]")
            print_records(console, KEPT_COLUMNS, ([d.entry.dist, d.reason, d.evidence] for d in kept), indent=2)
        if verbose and in_use:
            console.print("  [bold]In use[/bold]")
            for d in in_use:
                print_line(console, Text(f"    {d.entry.dist}: {d.reason}"))

    if plan.leftovers:
        console.print()
        print_text(
            console,
            f"An interrupted prune left {len(plan.leftovers)} item(s) in the trash "
            f"({human_bytes(plan.leftover_bytes)}); a real run finishes them.",
        )
    if plan.leftovers_kept:
        console.print()
        print_text(
            console,
            f"An interrupted prune left {len(plan.leftovers_kept)} item(s) in the trash that are wanted "
            "again; a real run puts them back into the cache, whole:",
        )
        for _, item, d in plan.leftovers_kept:
            print_text(console, Text(f"{d.entry.dist}: {d.reason}"), indent=2)
    removals = plan.removals
    console.print()
    if not removals and not plan.leftovers and not plan.leftovers_kept:
        print_text(console, "Nothing to remove: every cache entry is in use or kept for the reason shown.")
        return
    whole = [d for d in removals if not tarball_only(d)]
    tarballs = [d for d in removals if tarball_only(d)]
    what = []
    if whole:
        what.append(f"removing {_plural(len(whole), 'cache entry', 'cache entries')}")
    if tarballs:
        n = sum(1 for d in tarballs for p in d.paths if p in d.entry.tarballs)
        what.append(
            f"{'removing ' if not whole else ''}{_plural(n, 'tarball')} of "
            f"{_plural(len(tarballs), 'entry', 'entries')} that stay extracted"
        )
    if plan.leftovers and not what:
        what.append("finishing what the interrupted prune left")
    if not what:  # only leftovers to put back: nothing is freed
        return
    verb = "Could free" if plan.blockers else "Would free" if dry_run else "Will free"
    print_text(
        console,
        f"{verb} [bold]{human_bytes(plan.freed_bytes)}[/bold] on disk by {' and '.join(what)} "
        f"[dim]({human_bytes(plan.apparent_bytes)} apparent size; a hardlinked file counts only when its last link goes)[/dim]",
    )


def render_result(result: PruneResult, console: Console) -> None:
    for d, why in result.restored:
        print_text(console, Text.assemble(("kept", "yellow"), f" {d.entry.dist}: {why}"), indent=2)
    for d, why in result.failed:
        print_text(console, Text.assemble(("could not remove", "red"), f" {d.entry.dist}: {why}"), indent=2)
    whole = [d for d in result.removed if not tarball_only(d)]
    tarballs = [d for d in result.removed if tarball_only(d)]
    what = _plural(len(whole), "cache entry", "cache entries")
    if tarballs:
        n = sum(1 for d in tarballs for p in d.paths if p in d.entry.tarballs)
        what += f" and {_plural(n, 'tarball')} of {_plural(len(tarballs), 'entry', 'entries')} that stay extracted"
    if result.finished_leftovers:
        what += f" and finished {len(result.finished_leftovers)} left by an interrupted run"
    if result.restored_leftovers:
        what += f"; put back {len(result.restored_leftovers)} left by an interrupted run (wanted again)"
    print_text(console, Text(f"Removed {what}, freeing {human_bytes(result.freed_bytes)}."))




