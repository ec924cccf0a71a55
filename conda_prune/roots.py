"""What the user asked for in an environment: the roots every explanation and every verdict
report starts from.

In order: the requests in ``conda-meta/history`` and ``conda-meta/pinned`` and pip's
``REQUESTED`` markers (:mod:`.history`), unless the history records a lockfile install; then
the specs of a file named by ``--requested-from`` or found beside ``--app``
(:mod:`.requested_files`); else the packages nothing depends on (heads of dependency cycles
included), said in one line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .graph import DependencyGraph
from .history import read_requested_specs
from .records import EnvironmentData, Problem, normalize_pip_name
from .requested_files import RequestedFile, find_requested_file
from .specs import spec_name

REQUESTED = "requested"  # a spec in conda-meta/history


PINNED = "pinned"  # a spec in conda-meta/pinned


PIP_REQUESTED = "pip-requested"  # a pip distribution with REQUESTED


FROM_FILE = "file"  # a spec in the file named by --requested-from (or found beside --app)


LEAF = "leaf"  # no history: nothing depends on it


CYCLE = "cycle"  # no history: nothing outside its dependency cycle depends on it


@dataclass(frozen=True)
class Root:
    """Something the user asked for, and how we know."""

    key: str
    name: str
    reason: str  # REQUESTED, PINNED, PIP_REQUESTED, FROM_FILE, LEAF or CYCLE
    spec: str = ""
    origin: str = ""  # FROM_FILE: the file's name
    pip_spec: bool = False  # FROM_FILE: the spec is a pip requirement (a pip: section, pyproject's)

    @property
    def description(self) -> str:
        return {
            REQUESTED: f"requested: {self.spec}",
            PINNED: f"pinned: {self.spec}",
            PIP_REQUESTED: "pip, requested",
            FROM_FILE: f"{self.origin}: {self.spec}",
            LEAF: "nothing depends on it",
            CYCLE: "nothing outside its cycle depends on it",
        }[self.reason]

    @property
    def asked(self) -> bool:
        """Did the user ask for it (rather than nothing depending on it)?"""
        return self.reason in ASKED


ASKED = (REQUESTED, PINNED, PIP_REQUESTED, FROM_FILE)


_LOCKFILE = "installed from a lockfile (every package requested and pinned)"


@dataclass(frozen=True)
class RootSet:
    """The roots of an environment, and where they came from.

    ``from_history``: the history's own requests are the roots. Otherwise the roots are the
    specs of ``file`` when one was used, else the packages nothing depends on (``lockfile``
    says whether that is because the history records a lockfile install)."""

    roots: tuple[Root, ...]
    from_history: bool  # False: history had no real requests; a file or the leaves stand in
    file: str = ""  # the file the roots were read from
    file_how: str = ""  # how its specs were found ("the specs of environment.yml, its sources")
    found_beside: str = ""  # the --app path the file was found beside
    lockfile: bool = False  # the history records a lockfile install
    after_lockfile: frozenset[str] = frozenset()  # keys of the real requests made after it
    problems: tuple[Problem, ...] = field(default=(), compare=False)
    #: files that tell what was asked for but could not be read (a FIFO ``conda-meta/history``):
    #: a removal must wait until they can be
    doubts: tuple[Problem, ...] = field(default=(), compare=False)

    @property
    def source(self) -> str:
        """``history``, ``file`` or ``leaves``."""
        return "file" if self.file else "history" if self.from_history else "leaves"

    @property
    def roots_from(self) -> str:
        """``history``, ``leaves`` or the path of the file."""
        return self.file or self.source

    @property
    def asked(self) -> bool:
        """Are the roots what the user asked for (not the packages nothing depends on)?"""
        return self.source != "leaves"

    @property
    def later_requests(self) -> tuple[str, ...]:
        """With a lockfile install, what the history requested after it."""
        return tuple(sorted({r.name for r in self.roots if r.reason == REQUESTED and r.key in self.after_lockfile}))

    @property
    def other_requests(self) -> tuple[str, ...]:
        """With a lockfile install, what the history requested before it."""
        if not self.lockfile:
            return ()
        return tuple(sorted({r.name for r in self.roots if r.reason == REQUESTED and r.key not in self.after_lockfile}))

    @property
    def keys(self) -> set[str]:
        return {r.key for r in self.roots}

    def of(self, key: str) -> tuple[Root, ...]:
        return tuple(r for r in self.roots if r.key == key)

    @property
    def note(self) -> str:
        if self.file:
            how = f" ({self.file_how})" if self.file_how else ""
            if self.found_beside:
                why = _LOCKFILE if self.lockfile else "conda-meta/history names no requested specs"
                return f"{why}, so {self.file}{how}, found beside --app {self.found_beside}, tells what was asked for"
            return f"what was asked for is read from {self.file}{how}, named by --requested-from"
        if self.from_history:
            return ""
        if self.lockfile:
            also = "".join(
                f"; {', '.join(names)} {'was' if len(names) == 1 else 'were'} requested {when}"
                for names, when in ((self.other_requests, "before it"), (self.later_requests, "later")) if names
            )
            return (
                f"{_LOCKFILE}: the packages nothing depends on stand in for what you asked for{also}; "
                "name the file with --requested-from FILE"
            )
        return (
            "conda-meta/history names no requested specs (an install from a lockfile, or an "
            "environment made by another tool), so the packages nothing depends on are taken "
            "as what was asked for"
        )


def find_roots(
    prefix: Path,
    env: EnvironmentData,
    graph: DependencyGraph,
    *,
    requested_file: RequestedFile | None = None,
    apps: Sequence[Path] = (),
) -> RootSet:
    """What the user asked for: history specs, pinned specs and requested pip distributions.

    A lockfile install's specs are not requests (:mod:`conda_prune.history`). Where the
    history has no real requests, a file beside the ``--app`` paths that names them is used;
    ``requested_file`` (``--requested-from``) is used whatever the history says. Without either,
    the packages nothing depends on stand in, besides the real requests there are."""
    conda_names = {r.name for r in env.records}
    requested = read_requested_specs(prefix, conda_names)
    problems = list(requested.problems)
    doubts = tuple(requested.unreadable)
    asked = [Root(f"conda:{n}", n, REQUESTED, s) for n, s in sorted(requested.specs.items())]
    asked += [Root(f"conda:{n}", n, PINNED, s) for n, s in sorted(requested.pinned.items())]
    asked += [
        Root(f"pypi:{d.normalized_name}", d.name, PIP_REQUESTED)
        for d in sorted(env.pip, key=lambda d: d.normalized_name)
        if d.requested and d.is_pip_installed
    ]
    if requested_file is None and not requested.specs and apps:
        requested_file, skipped = find_requested_file(apps)
        problems += skipped
    if requested_file is not None:
        requested_file = requested_file.for_platform({r.subdir for r in env.records if r.subdir})
        from_file, unmatched = _file_roots(requested_file, graph, env)
        if not from_file:
            problems.append(Problem(
                requested_file.path, "names no installed package; it was not used to tell what was asked for"
            ))
        elif unmatched:
            problems.append(Problem(
                requested_file.path,
                f"names {len(unmatched)} {'specs that match' if len(unmatched) != 1 else 'spec that matches'} "
                "no installed package "
                f"({', '.join(unmatched[:5])}{', ...' if len(unmatched) > 5 else ''}); the others were used",
            ))
        if from_file:
            return RootSet(
                tuple(from_file + asked), from_history=False, file=str(requested_file.path),
                file_how=requested_file.how, found_beside=requested_file.found_beside,
                lockfile=requested.lockfile, problems=tuple(problems), doubts=doubts,
            )
    if requested.specs and not requested.lockfile:
        return RootSet(tuple(asked), from_history=True, problems=tuple(problems), doubts=doubts)
    roots = list(asked)
    roots += [Root(k, graph.nodes[k].name, LEAF) for k in graph.leaves()]
    roots += [Root(k, graph.nodes[k].name, CYCLE) for k in _cycle_heads(graph, {r.key for r in roots})]
    return RootSet(tuple(roots), from_history=False, lockfile=requested.lockfile,
                   after_lockfile=frozenset(f"conda:{n}" for n in requested.after_lockfile), problems=tuple(problems),
                   doubts=doubts)


_PIP_NAME_END = re.compile(r"[\s\[<>=!~;@(]")


def _file_roots(file: RequestedFile, graph: DependencyGraph, env: EnvironmentData) -> tuple[list[Root], list[str]]:
    """The installed packages the file's specs name, and the specs that name none. A conda spec
    finds a conda package first, a pip requirement a pip-installed distribution first; either
    falls back to the other kind, and a pip name to the conda package that installed a Python
    distribution of that name (a pyproject.toml's ``torch`` is conda's ``pytorch``)."""
    from .environment import distribution_names

    origin = file.path.name
    carried = distribution_names(env)  # a Python distribution -> the package that installed it
    roots: list[Root] = []
    unmatched: list[str] = []
    for spec, pip in [(s, False) for s in file.conda] + [(s, True) for s in file.pip]:
        name = _PIP_NAME_END.split(spec.strip(), 1)[0] if pip else spec_name(spec)
        keys = [f"pypi:{normalize_pip_name(name)}", f"conda:{name.lower()}"]
        if not pip:
            keys.reverse()
        key = next((k for k in keys if k in graph.nodes), None)
        if key is None:
            key = next((n.key for n in graph.find(name)), None) or carried.get(normalize_pip_name(name))
        if key is None:
            unmatched.append(spec)
            continue
        roots.append(Root(key, graph.nodes[key].name, FROM_FILE, spec, origin, pip_spec=pip))
    return roots, unmatched


def _cycle_heads(graph: DependencyGraph, roots: set[str]) -> list[str]:
    """One member of each dependency cycle that nothing outside it depends on (such cycles have
    no leaf above them, so without this their members would hang from no root)."""
    covered = graph.closure(roots)
    heads = []
    for key in sorted(graph.nodes):
        if key in covered:
            continue
        below = graph.closure([key])
        if graph.dependents(key) <= below:
            heads.append(key)
            covered |= below
    return heads
