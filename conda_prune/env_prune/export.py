"""The lean environment file: what the application uses, pinned exactly to the installed builds."""

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
        version, build = (pip_node.version, pip_node.build) if pip_node else ("", "")
        conda.append(Verdict("conda:pip", "pip", version, build, "conda", NEEDED, ""))
    records = env.record_of_key
    counts: dict[str, int] = {}
    for v in conda:
        record = records.get(v.key)
        if record is not None and record.channel:
            channel = _channel_name(record.channel)
            counts[channel] = counts.get(channel, 0) + 1
    channels = sorted(counts, key=lambda c: (-counts[c], c))
    own = _file_specs(plan)
    pinned = "pinned to the installed version and build"
    if own:
        pinned += f" where {Path(plan.roots.file).name} gives no spec" if plan.roots else ""
    dependencies: list[str | dict[str, list[str]]] = [
        own.get(v.key) or _conda_pin(v) for v in sorted(conda, key=lambda v: v.name)
    ]
    if pip:
        pip.sort(key=lambda v: v.name.lower())
        dependencies.append({"pip": [own.get(v.key) or _pip_pin(v) for v in pip]})
    document: dict[str, object] = {"name": name or env.prefix.name}
    if channels:
        document["channels"] = channels
    document["dependencies"] = dependencies
    head = [  # a line each, so that the text stays readable at 80 columns in all but the longest paths
        f"What {', '.join(plan.apps)} uses in {env.prefix},",
        f"{pinned}.",
        "Written by conda prune --export; rebuild with: conda env create -f THIS_FILE",
    ]
    tail = [f"{v.name} {v.version} is an editable install: add it back with pip install -e" for v in editable]
    return _comments(head) + dump_yaml(document) + _comments(tail)


def _conda_pin(v: Verdict) -> str:
    """An exact conda pin. ``name=1.2`` is a fuzzy match in conda (``1.2*``: it accepts 1.2.5);
    ``name=1.2=build`` and ``name==1.2`` match that version only."""
    if not v.version:
        return v.name
    return f"{v.name}={v.version}={v.build}" if v.build else f"{v.name}=={v.version}"


def _pip_pin(v: Verdict) -> str:
    return f"{v.name}=={v.version}" if v.version else v.name


def _comments(lines: list[str]) -> str:
    """YAML comment lines. A line break in a path would end the comment and turn the rest into
    YAML, and YAML forbids non-printable characters anywhere: both are written escaped."""
    def printable(text: str) -> str:
        return "".join(c if c.isprintable() or c == "\t" else c.encode("unicode_escape").decode() for c in text)

    return "".join(f"# {printable(line)}\n" for line in lines)


def dump_yaml(document: dict) -> str:
    """``document`` as YAML that reads back as exactly the strings written.

    Strings a YAML 1.1 reader (PyYAML and the tools built on it) takes for something else
    (``yes``, ``on``, ``1:20``, ``~``) are single-quoted first: the emitters below follow YAML 1.2,
    where those are plain strings, and leave them bare. What YAML 1.2 itself would misread
    (``1.10``, ``null``, ``1e5``, ``a: b``, ``#x``, ``*x``) they quote on their own."""
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.resolver import VersionedResolver
    from ruamel.yaml.scalarstring import SingleQuotedScalarString

    yaml11 = VersionedResolver(version=(1, 1))
    string = "tag:yaml.org,2002:str"

    def marked(value: object) -> object:
        if isinstance(value, dict):
            return {k: marked(v) for k, v in value.items()}
        if isinstance(value, list):
            return [marked(v) for v in value]
        if isinstance(value, str) and yaml11.resolve(ScalarNode, value, (True, False)) != string:
            return SingleQuotedScalarString(value)
        return value

    try:
        # conda's own emitter, the one ``conda env export`` writes with (conda 26.1 and later).
        # The older ``conda.common.serialize.yaml_safe_dump(object, stream=None)`` is pending
        # deprecation since then (removed in 27.3) and uses ruamel's safe representer, which
        # refuses the quoted-string marker above: older conda gets the fallback, the same ruamel
        # emitter set up as conda sets up its own.
        from conda.common.serialize.yaml import dumps
    except ImportError:
        dumps = _ruamel_dumps
    return dumps(marked(document))


def _ruamel_dumps(document: dict) -> str:
    """Without conda: ruamel.yaml (already a dependency, for reading environment files) in
    round-trip mode with conda's settings. Round-trip rather than safe mode: only its representer
    honours the quoted-string marker, and both quote what YAML 1.2 would misread."""
    from io import StringIO

    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, offset=2, sequence=4)
    yaml.default_flow_style = False
    stream = StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()


def _file_specs(plan: EnvPrunePlan) -> dict[str, str]:
    """Graph key -> the spec as the user wrote it in the file the roots came from, where it is
    of the section's own kind: a pip requirement (``torch>=2``, ``pandas[performance]``) says
    nothing conda can read about the conda package that installed it (``pytorch``), nor a
    conda spec about a pip one; those get the exact pin."""
    if plan.roots is None or not plan.roots.file:
        return {}
    return {
        r.key: r.spec for r in reversed(plan.roots.roots)
        if r.reason == FROM_FILE and r.spec and r.pip_spec == r.key.startswith("pypi:")
    }
