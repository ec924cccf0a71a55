"""How ``conda why-used`` looks: a summary per package, a rich tree, Graphviz, and JSON.

Every view is built from the same :class:`~conda_prune.why.WhyUsedReport`.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from ..environment import DiskUsage
from ..graph import CONSTRAINS, DependencyGraph
from ..roots import PINNED, PIP_REQUESTED, REQUESTED, Root
from ..why import (
    DependencyPath,
    EnvironmentUse,
    Explanation,
    ImportSite,
    Link,
    NotFound,
    Package,
    WhyUsedReport,
)
from .layout import print_line, print_text, print_trimmed, visible, wrap_units, wrap_words
from .words import human_bytes

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


#: width of the labels of the summary; below MIN_BESIDE columns for the text, labels go above it
LABEL = 22
MIN_BESIDE = 36


def _chain_units(path: DependencyPath, package: Package) -> list[Text]:
    """A dependency path in units that are never split: the first package, then each "→ spec"."""
    if not path.links:
        return [Text(f"{_node(package.name, package.version, package.kind)} itself")]
    first = path.links[0]
    units = [Text(_node(first.parent, first.parent_version, first.parent_kind))]
    for link in path.links:
        units.append(Text.assemble(("→ ", "dim"), spec_text(link.spec)))
    units[-1].append(f"  ({path.root.description})", style="dim")
    return units


def _link_lines(links: tuple[Link, ...], everything: bool, width: int) -> list[Text]:
    shown = links if everything else links[:FAN]
    lines: list[Text] = []
    for link in shown:
        units = [Text(_node(link.parent, link.parent_version, link.parent_kind)), Text(spec_text(link.spec), style="dim")]
        lines += wrap_units(units, width, sep="  ", indent=2)
    if len(links) > len(shown):
        lines += wrap_words(Text(f"… and {len(links) - len(shown)} more; --all-paths lists them", style="dim"), width)
    return lines


def _site_lines(sites: tuple[ImportSite, ...], report: WhyUsedReport, width: int) -> list[Text]:
    if not sites:
        return wrap_words(Text(f"no import in {', '.join(report.apps)}"), width)
    column = max(len(s.location) for s in sites)
    lines: list[Text] = []
    for site in sites:
        if column + 2 + len(site.statement) <= width:
            lines.append(Text.assemble(site.location.ljust(column), "  ", (site.statement, "dim")))
        else:
            lines += wrap_units([Text(site.location), Text(site.statement, style="dim")], width, sep="  ", indent=2)
    return lines


def _environment_lines(uses: tuple[EnvironmentUse, ...], shared: dict[str, tuple[str, ...]], width: int) -> list[Text]:
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
        lines += wrap_units([Text(use.prefix), Text(f"{use.version} {use.build}".strip())], width, sep="  ")
        lines += [Text.assemble("  ", line) for line in wrap_words(Text(where, style="dim"), width - 2)]
    conda = [u for u in uses if u.kind == "conda" and u.cache_entry]
    entries = {u.cache_entry for u in conda}
    if len(conda) > 1:
        verdict = "all share one cache entry" if len(entries) == 1 else _plural(len(entries), "cache entry", "cache entries")
        lines += wrap_words(Text(f"{_plural(len(uses), 'environment')}; {verdict}"), width)
    return lines


def _explanation_rows(e: Explanation, report: WhyUsedReport, width: int) -> list[tuple[str, list[Text]]]:
    """The summary of one package: (label, its lines at ``width``) in order."""
    rows: list[tuple[str, list[Text]]] = [
        ("asked for", wrap_words(Text(requested_text(e, report)), width)),
        ("on disk", wrap_words(Text(disk_text(e.disk)), width)),
    ]
    if e.paths:
        lines: list[Text] = []
        digits = len(str(len(e.paths)))
        for number, path in enumerate(e.paths, start=1):
            mark = f"{number}.".rjust(digits + 1) + " "
            body = wrap_units(_chain_units(path, e.package), width - len(mark), indent=0)
            lines.append(Text.assemble((mark, "dim"), body[0]))
            lines += [Text.assemble(" " * len(mark), line) for line in body[1:]]
        summary = _paths_summary(e, report.all_paths)
        if summary:
            lines += wrap_words(Text(summary, style="dim"), width)
        rows.append(("every path" if report.all_paths else "why it is here", lines))
    elif not e.requested_as:
        rows.append(("why it is here", wrap_words(Text("no path from anything that was asked for (an orphan)"), width)))
    if e.required_by:
        rows.append(("needed directly by", _link_lines(e.required_by, report.all_paths, width)))
    if e.would_break:
        text = f"{_plural(len(e.would_break), 'package')}: {_listing(e.would_break, report.all_paths)}"
    else:
        text = "nothing in this environment"
    rows.append(("would break without it", wrap_words(Text(text), width)))
    if e.constrained_by:
        units = [Text(_link_text(link) + ("," if n < len(e.constrained_by) - 1 else ""))
                 for n, link in enumerate(e.constrained_by)]
        rows.append(("constrained by", wrap_units(units, width)))
    if e.import_sites is not None:
        rows.append(("imported at", _site_lines(e.import_sites, report, width)))
    if e.loaded_by:
        rows.append(("loaded at import time", [line for how in e.loaded_by for line in wrap_words(Text(how), width)]))
    if e.on_demand and not e.loaded_by:  # loaded on import anyway: how else it can be loaded adds nothing
        rows.append(("loaded on demand",
                     [line for how in e.on_demand for line in wrap_words(Text(how), width)]))
    if e.environments is not None:
        rows.append(("environments", _environment_lines(e.environments, e.shared_cache_entries(), width)))
    return rows


def print_explanation(e: Explanation, report: WhyUsedReport, console: Console) -> None:
    """The package, then one labelled row per fact; the labels go above their text when the
    console is too narrow to have them beside it."""
    p = e.package
    source = "pypi" if p.kind == "pypi" else channel_name(p.channel)
    units = [Text(f"{p.name} {p.version}", style="bold cyan")]
    if p.kind == "conda" and p.build:
        units.append(Text(p.build, style="bold cyan"))
    if source:
        units.append(Text(f"({source})", style="bold cyan"))
    for line in wrap_units(units, console.width, sep="  ", indent=2):
        print_line(console, line)
    width = console.width - LABEL - 2
    above = _explanation_rows(e, report, console.width - 2)
    rows = _explanation_rows(e, report, width) if width >= MIN_BESIDE else above
    for (label, lines), (_, lines_above) in zip(rows, above):
        # a value too long for the room beside the label (a long path) goes under the label
        beside = width >= MIN_BESIDE and all(line.cell_len <= width for line in lines)
        if not beside:
            lines = lines_above
        if beside:
            for n, line in enumerate(lines):
                print_line(console, Text.assemble((label.ljust(LABEL) if n == 0 else " " * LABEL, "bold"), "  ", line))
        else:
            print_line(console, Text(label, style="bold"))
            for line in lines:
                print_line(console, Text.assemble("  ", line))


def not_found_line(item: NotFound, report: WhyUsedReport) -> str:
    """One line: what is missing, near names, and where else it is installed. Every name and
    path in it is shown with its control characters escaped (see :func:`.layout.visible`): an
    environment folder named with a terminal escape never reaches the terminal raw."""
    line = f"{visible(item.pattern)} is not installed in {visible(str(report.prefix))}"
    if item.suggestions:
        line += f"; did you mean {', '.join(visible(s) for s in item.suggestions)}?"
    if item.elsewhere:
        places = sorted({u.prefix for u in item.elsewhere})
        line += f" (installed in {', '.join(visible(p) for p in places)})"
    return line


def render_elsewhere(items: list[NotFound], report: WhyUsedReport, console: Console) -> None:
    """Packages the default environment lacks, and the environments that have them."""
    for n, item in enumerate(items):
        if n or report.explanations:
            console.print()
        envs = sorted({u.prefix for u in item.elsewhere})
        print_text(
            console,
            Text.assemble((item.pattern, "bold cyan"),
                          f" is not in {report.prefix} (the default environment); "
                          f"{_plural(len(envs), 'environment')} {'has' if len(envs) == 1 else 'have'} it:"),
        )
        shared: dict[str, list[str]] = {}
        for use in item.elsewhere:
            if use.cache_entry:
                shared.setdefault(use.cache_entry, []).append(use.prefix)
        lines = _environment_lines(item.elsewhere, {k: tuple(v) for k, v in shared.items() if len(v) > 1},
                                   console.width - 2)
        for line in lines:
            print_line(console, Text.assemble("  ", line))


def render_text(report: WhyUsedReport, console: Console) -> None:
    print_text(console, roots_line(report))
    for e in report.explanations:
        console.print()
        print_explanation(e, report, console)


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
    print_text(console, roots_line(report))
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
    if e.loaded_by is not None:
        data["loaded_by"] = list(e.loaded_by)
        data["on_demand"] = list(e.on_demand or ())
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
