"""The lean environment file: what the application uses, pinned to the installed versions."""

from __future__ import annotations

import re
from pathlib import Path

from ..graph import REQUIRES_DIST, DependencyGraph
from ..records import EnvironmentData
from ..roots import FROM_FILE
from .results import KEPT, NEEDED, USED, EnvPrunePlan, Verdict


def _channel_name(channel: str) -> str:
    channel = channel.rstrip("/")
    channel = re.sub(r"/(?:noarch|linux-\w+|osx-\w+|win-\w+)$", "", channel)
    for prefix in ("https://conda.anaconda.org/", "http://conda.anaconda.org/"):
        if channel.startswith(prefix):
            return channel[len(prefix):]
    if channel.startswith(("https://repo.anaconda.com/", "http://repo.anaconda.com/")):
        return channel.split("repo.anaconda.com/", 1)[1]
    return channel


def lean_environment(plan: EnvPrunePlan, env: EnvironmentData, name: str | None = None) -> str:
    """An ``environment.yml`` that rebuilds only what the application needs: the packages with
    direct evidence (and those kept by rule), pinned to the installed versions, conda packages
    first and pip-installed ones in a ``pip:`` section. The solver brings their dependencies."""
    graph = plan.graph or DependencyGraph.build(env)
    chosen = [v for v in plan.verdicts if v.status == USED or (v.status == KEPT and not v.needed_by)]
    conda = [v for v in chosen if v.kind == "conda" and not v.name.startswith("_")]
    pip = [v for v in chosen if v.kind == "pypi" and "editable" not in v.reason]
    editable = [v for v in chosen if v.kind == "pypi" and "editable" in v.reason]
    # conda packages needed only through a pip requirement: name them, or pip would fetch them
    conda_roots = {v.key for v in conda}
    conda_only = DependencyGraph()
    conda_only.nodes = graph.nodes
    conda_only.children = {k: [e for e in edges if e.kind != REQUIRES_DIST] for k, edges in graph.children.items()}
    reached = conda_only.closure(conda_roots)
    for v in plan.verdicts:
        if v.kind == "conda" and v.stays and v.key not in reached and not v.name.startswith("_") and v not in conda:
            if any(e.child == v.key for k in graph.nodes if graph.nodes[k].kind == "pypi" for e in graph.children[k]):
                conda.append(v)
    if pip and not any(v.name == "pip" for v in conda):
        pip_node = graph.nodes.get("conda:pip")
        conda.append(Verdict("conda:pip", "pip", pip_node.version if pip_node else "", "", "conda", NEEDED, ""))
    records = {f"conda:{r.name}": r for r in env.records}
    counts: dict[str, int] = {}
    for v in conda:
        record = records.get(v.key)
        if record is not None and record.channel:
            channel = _channel_name(record.channel)
            counts[channel] = counts.get(channel, 0) + 1
    channels = sorted(counts, key=lambda c: (-counts[c], c))
    own = _file_specs(plan)
    pinned = "pinned to the installed versions"
    if own:
        pinned += f" where {Path(plan.roots.file).name} gives no spec" if plan.roots else ""
    lines = [
        f"# What {', '.join(plan.apps)} uses in {env.prefix}, {pinned}.",
        "# Written by conda prune --export; rebuild with: conda env create -f THIS_FILE",
        f"name: {name or env.prefix.name}",
    ]
    if channels:
        lines.append("channels:")
        lines += [f"  - {c}" for c in channels]
    lines.append("dependencies:")
    for v in sorted(conda, key=lambda v: v.name):
        lines.append(f"  - {own[v.key]}" if v.key in own else f"  - {v.name}={v.version}" if v.version else f"  - {v.name}")
    if pip:
        lines.append("  - pip:")
        lines += [f"    - {own.get(v.key) or f'{v.name}=={v.version}'}" for v in sorted(pip, key=lambda v: v.name.lower())]
    for v in editable:
        lines.append(f"# {v.name} {v.version} is an editable install: add it back with pip install -e")
    return "\n".join(lines) + "\n"


def _file_specs(plan: EnvPrunePlan) -> dict[str, str]:
    """Graph key -> the spec as the user wrote it in the file the roots came from."""
    if plan.roots is None or not plan.roots.file:
        return {}
    return {r.key: r.spec for r in reversed(plan.roots.roots) if r.reason == FROM_FILE and r.spec}
