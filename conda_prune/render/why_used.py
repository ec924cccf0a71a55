"""How ``conda why-used`` looks: a summary per package, a rich tree, Graphviz, and JSON.

Every view is built from the same :class:`~conda_prune.why.WhyUsedReport`.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.segment import Segment, Segments
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..cli.output import human_bytes
from ..graph import CONSTRAINS, DependencyGraph
from ..why import (
    PIP_REQUESTED,
    PINNED,
    REQUESTED,
    DependencyPath,
    DiskUsage,
    EnvironmentUse,
    Explanation,
    ImportSite,
    Link,
    NotFound,
    Package,
    Root,
    WhyUsedReport,
)

#: Packages listed per node of the tree (and per line of the summary) unless --all-paths.
FAN = 8

# -- small pieces ---------------------------------------------------------------------------------


def channel_name(channel: str) -> str:
    """``https://conda.anaconda.org/conda-forge/linux-64`` -> ``conda-forge``, as conda shows it."""
    text = channel.rstrip("/")
    for prefix in ("https://conda.anaconda.org/", "http://conda.anaconda.org/", "https://repo.anaconda.com/"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    parts = text.split("/")
    if len(parts) > 1 and (parts[-1] == "noarch" or "-" in parts[-1] and parts[-1].split("-")[0] in ("linux", "osx", "win", "emscripten", "wasi", "zos")):
        parts = parts[:-1]
    return "/".join(parts)


def package_label(package: Package) -> str:
    source = "pypi" if package.kind == "pypi" else channel_name(package.channel)
    build = f"  {package.build}" if package.kind == "conda" and package.build else ""
    return f"{package.name} {package.version}{build}  ({source})" if source else f"{package.name} {package.version}{build}"


def _node(name: str, version: str, kind: str) -> str:
    return f"{name} {version}" + (" (pypi)" if kind == "pypi" else "")


def spec_text(spec: str) -> str:
    """A spec without its environment marker (the marker held, or the edge would not exist)."""
    return spec.split(";", 1)[0].strip()


def chain_text(path: DependencyPath, package: Package) -> Text:
    """``scikit-learn 1.4.0 → scipy >=1.6 → numpy >=1.23.5``: each arrow names the spec."""
    if not path.links:
        return Text(f"{_node(package.name, package.version, package.kind)} itself")
    first = path.links[0]
    text = Text(_node(first.parent, first.parent_version, first.parent_kind))
    for link in path.links:
        text.append(" → ", style="dim")
        text.append(spec_text(link.spec))
    return text


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _listing(names: tuple[str, ...] | list[str], everything: bool) -> str:
    shown = list(names) if everything else list(names[:FAN])
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f" and {rest} more" if rest else "")


def disk_text(disk: DiskUsage) -> str:
    text = f"{human_bytes(disk.alone_bytes)} alone, {human_bytes(disk.shared_bytes)} shared through hardlinks"
    extra = [_plural(disk.files, "file")]
    if disk.symlinks:
        extra.append(f"{disk.symlinks} symlinked into a package cache")
    if disk.missing:
        extra.append(f"{disk.missing} missing")
    return f"{text} ({', '.join(extra)})"


def requested_text(e: Explanation, report: WhyUsedReport) -> str:
    if e.requested:
        return "yes (" + "; ".join(r.description for r in e.requested_as if r.asked) + ")"
    if e.requested_as:  # a stand-in root without history
        why = "a lockfile install" if report.roots.lockfile else "no history"
        return f"{why}; {e.requested_as[0].description}"
    if not e.roots_reaching:
        what = "packages you asked for" if report.roots.asked else "top-level packages"
        return f"no, and none of the {what} needs it: nothing keeps it here"
    total = len(report.roots.keys)
    noun = "packages you asked for" if report.roots.asked else "top-level packages"
    return f"no: needed by {len(e.roots_reaching)} of the {total} {noun} ({_listing(e.roots_reaching, False)})"


def _link_text(link: Link) -> str:
    return f"{_node(link.parent, link.parent_version, link.parent_kind)} ({spec_text(link.spec)})"


def _links_table(links: tuple[Link, ...], everything: bool) -> Any:
    table = Table.grid(padding=(0, 2))
    table.add_column()
    table.add_column(style="dim")
    shown = links if everything else links[:FAN]
    for link in shown:
        table.add_row(Text(_node(link.parent, link.parent_version, link.parent_kind)), Text(spec_text(link.spec)))
    if len(links) > len(shown):
        return Group(table, Text(f"… and {len(links) - len(shown)} more; --all-paths lists them", style="dim"))
    return table


def print_trimmed(console: Console, renderable: Any) -> None:
    """Print without the padding rich leaves at the end of table lines."""
    for line in console.render_lines(renderable, console.options, pad=False):
        while line and not line[-1].text.strip() and not line[-1].control:
            line.pop()
        if line:
            last = line[-1]
            line[-1] = Segment(last.text.rstrip(), last.style, last.control)
        console.print(Segments([*line, Segment.line()]), end="")


def roots_line(report: WhyUsedReport) -> str:
    roots = report.roots
    if roots.file:
        return f"[yellow]note:[/yellow] {escape(roots.note)} ({_plural(len(roots.keys), 'package')} asked for)."
    if not roots.from_history:
        return f"[yellow]note:[/yellow] {escape(roots.note)} ({_plural(len(roots.keys), 'package')})."
    counts = [
        _plural(sum(1 for r in roots.roots if r.reason == REQUESTED), "requested spec"),
    ]
    pinned = sum(1 for r in roots.roots if r.reason == PINNED)
    if pinned:
        counts.append(_plural(pinned, "pinned spec"))
    pip = sum(1 for r in roots.roots if r.reason == PIP_REQUESTED)
    if pip:
        counts.append(_plural(pip, "requested pip distribution"))
    return f"What was asked for in {escape(str(report.prefix))}: {', '.join(counts)}."


# -- the summary view -----------------------------------------------------------------------------


def _paths_table(e: Explanation) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim", justify="right")
    table.add_column()
    for number, path in enumerate(e.paths, start=1):
        text = chain_text(path, e.package)
        text.append(f"  ({path.root.description})", style="dim")
        table.add_row(Text(f"{number}."), text)
    return table


def _paths_summary(e: Explanation, all_paths: bool) -> str | None:
    shown = len(e.paths)
    if e.paths_complete:
        return None
    if all_paths:
        total = f" of {e.path_count}" if e.path_count is not None else ""
        return f"… stopped after {shown}{total} paths"
    if e.path_count is not None:
        more = e.path_count - shown
        return f"… {_plural(more, 'more path')} ({e.path_count} in all); --all-paths lists every one"
    return "… more paths through a dependency cycle; --all-paths lists them"


def _explanation(e: Explanation, report: WhyUsedReport) -> Group:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("asked for", Text(requested_text(e, report)))
    grid.add_row("on disk", Text(disk_text(e.disk)))
    if e.paths:
        title = "every path" if report.all_paths else "why it is here"
        summary = _paths_summary(e, report.all_paths)
        body: Any = _paths_table(e)
        if summary:
            body = Group(body, Text(summary, style="dim"))
        grid.add_row(title, body)
    elif not e.requested_as:
        grid.add_row("why it is here", Text("no path from anything that was asked for (an orphan)"))
    if e.required_by:
        grid.add_row("needed directly by", _links_table(e.required_by, report.all_paths))
    if e.would_break:
        grid.add_row(
            "would break without it",
            Text(f"{_plural(len(e.would_break), 'package')}: {_listing(e.would_break, report.all_paths)}"),
        )
    else:
        grid.add_row("would break without it", Text("nothing in this environment"))
    if e.constrained_by:
        grid.add_row("constrained by", Text(", ".join(_link_text(link) for link in e.constrained_by)))
    if e.import_sites is not None:
        grid.add_row("imported at", _sites(e.import_sites, report))
    if e.environments is not None:
        grid.add_row("environments", _environments(e.environments, e.shared_cache_entries()))
    header = Text(package_label(e.package), style="bold cyan")
    return Group(header, grid)


def _sites(sites: tuple[ImportSite, ...], report: WhyUsedReport) -> Any:
    if not sites:
        return Text(f"no import in {', '.join(report.apps)}")
    table = Table.grid(padding=(0, 2))
    table.add_column(overflow="fold")
    table.add_column(style="dim")
    for site in sites:
        table.add_row(Text(site.location), Text(site.statement))
    return table


def _environments(uses: tuple[EnvironmentUse, ...], shared: dict[str, tuple[str, ...]]) -> Any:
    lines: list[Text] = []
    for use in uses:
        if use.kind == "pypi":
            where = "installed by pip"
        elif use.cache_entry is None:
            where = "cache entry unknown"
        elif use.cache_entry in shared:
            where = f"from {use.cache_entry} (shared by {len(shared[use.cache_entry])} environments)"
        else:
            where = f"from {use.cache_entry} (this environment only)"
        lines.append(Text(f"{use.prefix}  {use.version} {use.build}", overflow="fold"))
        lines.append(Text(f"  {where}", style="dim", overflow="fold"))
    conda = [u for u in uses if u.kind == "conda" and u.cache_entry]
    entries = {u.cache_entry for u in conda}
    if len(conda) > 1:
        verdict = "all share one cache entry" if len(entries) == 1 else _plural(len(entries), "cache entry", "cache entries")
        lines.append(Text(f"{_plural(len(uses), 'environment')}; {verdict}"))
    return Group(*lines)


def not_found_line(item: NotFound, report: WhyUsedReport) -> str:
    """One line: what is missing, near names, and where else it is installed."""
    line = f"{item.pattern} is not installed in {report.prefix}"
    if item.suggestions:
        line += f"; did you mean {', '.join(item.suggestions)}?"
    if item.elsewhere:
        places = sorted({u.prefix for u in item.elsewhere})
        line += f" (installed in {', '.join(places)})"
    return line


def render_text(report: WhyUsedReport, console: Console) -> None:
    console.print(roots_line(report), soft_wrap=True)
    for e in report.explanations:
        console.print()
        print_trimmed(console, _explanation(e, report))


def _graph(report: WhyUsedReport) -> DependencyGraph:
    if report.graph is None:
        raise ValueError("the tree and graph views need the report's dependency graph")
    return report.graph


# -- the tree view --------------------------------------------------------------------------------


def render_tree(report: WhyUsedReport, console: Console) -> None:
    """Each package at the top, what needs it below, and so on up to what was asked for.

    The tree is built in the order it is printed, and a package is expanded where it first
    appears; later mentions say "see above", so cycles end and the tree stays the size of the
    graph."""
    graph = _graph(report)
    console.print(roots_line(report), soft_wrap=True)
    roots_by_key: dict[str, list[Root]] = {}
    for root in report.roots.roots:
        roots_by_key.setdefault(root.key, []).append(root)

    def needed_by(key: str) -> list:
        edges = sorted(graph.parents.get(key, ()), key=lambda edge: (edge.parent, edge.spec))
        return edges if report.all_paths else edges[:FAN]

    for e in report.explanations:
        key = e.package.key
        label = Text(package_label(e.package), style="bold cyan")
        if key in roots_by_key:
            label.append(f"  [{roots_by_key[key][0].description}]", style="green")
        tree = Tree(label)
        expanded = {key}
        stack = [(tree, key, iter(needed_by(key)))]
        while stack:
            branch, child, edges = stack[-1]
            edge = next(edges, None)
            if edge is None:
                stack.pop()
                hidden = len(graph.parents.get(child, ())) - len(needed_by(child))
                if hidden > 0:
                    branch.add(Text(f"… and {hidden} more; --all-paths shows them", style="dim"))
                continue
            parent = graph.nodes[edge.parent]
            text = Text(_node(parent.name, parent.version, parent.kind))
            text.append(f" needs {edge.spec}", style="dim")
            if edge.parent in roots_by_key:
                text.append(f"  [{roots_by_key[edge.parent][0].description}]", style="green")
            if edge.parent in expanded:
                text.append("  (see above)", style="dim italic")
                branch.add(text)
                continue
            expanded.add(edge.parent)
            stack.append((branch.add(text), edge.parent, iter(needed_by(edge.parent))))
        console.print()
        print_trimmed(console, tree)


# -- Graphviz -------------------------------------------------------------------------------------


def _dot_id(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_label(*lines: str) -> str:
    escaped = (line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)
    return '"' + "\\n".join(escaped) + '"'


def render_dot(report: WhyUsedReport) -> str:
    """The packages and everything that needs them, as a Graphviz digraph (edges point from a
    package to what it needs, labelled with the spec; ``constrains`` dashed)."""
    graph = _graph(report)
    targets = [e.package.key for e in report.explanations]
    keep: set[str] = set(targets)
    for key in targets:
        keep |= graph.dependents(key)
    roots = report.roots.keys
    lines = [
        "digraph why_used {",
        "  rankdir=TB;",
        '  node [shape=box, style=rounded, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for key in sorted(keep):
        node = graph.nodes[key]
        attrs = [f"label={_dot_label(node.name, node.version)}"]
        if node.kind == "pypi":
            attrs.append('shape=ellipse')
        if key in targets:
            attrs.append('style="rounded,filled"')
            attrs.append('fillcolor="#ffd479"')
        if key in roots:
            attrs.append("peripheries=2")
        lines.append(f"  {_dot_id(key)} [{', '.join(attrs)}];")
    for key in sorted(keep):
        for edge in sorted(graph.children.get(key, ()), key=lambda e: (e.child, e.spec)):
            if edge.child in keep:
                lines.append(f"  {_dot_id(edge.parent)} -> {_dot_id(edge.child)} [label={_dot_label(edge.spec)}];")
    for edge in sorted(graph.constrains, key=lambda e: (e.parent, e.child, e.spec)):
        if edge.kind == CONSTRAINS and edge.child in targets and edge.parent in graph.nodes:
            if edge.parent not in keep:
                node = graph.nodes[edge.parent]
                lines.append(f"  {_dot_id(edge.parent)} [label={_dot_label(node.name, node.version)}, color=gray];")
                keep.add(edge.parent)
            lines.append(
                f"  {_dot_id(edge.parent)} -> {_dot_id(edge.child)} [label={_dot_label(edge.spec)}, style=dashed, color=gray];"
            )
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- JSON -----------------------------------------------------------------------------------------


def _root_json(root: Root) -> dict[str, Any]:
    return {
        "name": root.name, "key": root.key, "reason": root.reason, "spec": root.spec, "origin": root.origin,
        "description": root.description,
    }


def _link_json(link: Link) -> dict[str, Any]:
    return {
        "parent": link.parent,
        "parent_version": link.parent_version,
        "parent_kind": link.parent_kind,
        "child": link.child,
        "child_version": link.child_version,
        "spec": link.spec,
        "kind": link.kind,
    }


def _use_json(use: EnvironmentUse) -> dict[str, Any]:
    return {"prefix": use.prefix, "version": use.version, "build": use.build, "kind": use.kind, "cache_entry": use.cache_entry}


def explanation_json(e: Explanation) -> dict[str, Any]:
    p = e.package
    data: dict[str, Any] = {
        "key": p.key,
        "name": p.name,
        "version": p.version,
        "build": p.build,
        "channel": p.channel,
        "kind": p.kind,
        "requested": e.requested,
        "requested_as": [_root_json(r) for r in e.requested_as],
        "disk": {
            "alone_bytes": e.disk.alone_bytes,
            "shared_bytes": e.disk.shared_bytes,
            "files": e.disk.files,
            "symlinks": e.disk.symlinks,
            "missing": e.disk.missing,
        },
        "paths": [{"root": _root_json(path.root), "links": [_link_json(x) for x in path.links]} for path in e.paths],
        "paths_shown": len(e.paths),
        "paths_total": e.path_count,
        "paths_complete": e.paths_complete,
        "roots_reaching": list(e.roots_reaching),
        "required_by": [_link_json(x) for x in e.required_by],
        "would_break": list(e.would_break),
        "constrained_by": [_link_json(x) for x in e.constrained_by],
    }
    if e.import_sites is not None:
        data["import_sites"] = [
            {"path": s.path, "line": s.line, "cell": s.cell, "statement": s.statement, "location": s.location}
            for s in e.import_sites
        ]
    if e.environments is not None:
        data["environments"] = [_use_json(u) for u in e.environments]
        data["shared_cache_entries"] = {k: list(v) for k, v in e.shared_cache_entries().items()}
    return data


def report_json(report: WhyUsedReport) -> dict[str, Any]:
    roots = report.roots
    return {
        "prefix": str(report.prefix),
        "roots": {
            "source": roots.source,
            "file": roots.file or None,
            "found_beside": roots.found_beside or None,
            "lockfile": roots.lockfile,
            "note": roots.note,
            "count": len(roots.keys),
            "names": sorted({r.name for r in roots.roots}),
        },
        "roots_from": roots.roots_from,
        "packages": [explanation_json(e) for e in report.explanations],
        "not_found": [
            {"pattern": n.pattern, "did_you_mean": list(n.suggestions), "installed_in": [_use_json(u) for u in n.elsewhere]}
            for n in report.not_found
        ],
        "problems": [{"path": str(p.path), "message": p.message} for p in report.problems],
        "apps": list(report.apps),
        "all_paths": report.all_paths,
    }
