"""What a plan holds: verdicts, their evidence, and the report the render layer receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from ..appscan import ScanProblem, Use
from ..environment import Freed, name_matches
from ..graph import DependencyGraph
from ..roots import RootSet


class Status(str, Enum):
    """A package's verdict: stable codes, the same in ``--json`` and in the text view."""

    USED = "used"  # direct evidence in the application
    NEEDED = "needed"  # a dependency of something used or kept
    KEPT = "kept"  # an always-keep rule
    UNUSED = "unused"

    def __str__(self) -> str:
        return self.value


USED, NEEDED, KEPT, UNUSED = Status.USED, Status.NEEDED, Status.KEPT, Status.UNUSED


UNUSED_REASON = "no import, no executable use, not needed by any used package"


@dataclass(frozen=True)
class Evidence:
    """Why a package counts as used: what the application does, and where."""

    kind: str  # a use kind (MODULE, EXECUTABLE, LIBRARY...), "plugin", "extra" or "metapackage"
    detail: str  # "import pandas", "runs black (Makefile)", "pytest loads it (entry point pytest11)"
    location: str = ""  # "app/x.py:3"; empty for a plugin

    def __str__(self) -> str:
        return f"{self.detail} at {self.location}" if self.location else self.detail


@dataclass
class Loads:
    """What the packages already needed load themselves (their imports, their native libraries).

    ``needed``: loaded whenever they are used (a module-level import, a ``DT_NEEDED``): those
    packages are needed. ``on_demand``: loaded only when some call asks for it (an import inside
    a function, a lazy submodule): unused, but named as a doubt and kept with ``--keep-optional``.
    Keys are the dependency graph's keys; each value says why, with the chain."""

    needed: dict[str, list[Evidence]] = field(default_factory=dict)
    on_demand: dict[str, list[Evidence]] = field(default_factory=dict)
    doubts: list[str] = field(default_factory=list)  # each forbids removal (a trace that could not be read)


@dataclass(frozen=True)
class Verdict:
    key: str  # the dependency graph's key: "conda:numpy" or "pypi:requests"
    name: str
    version: str
    build: str
    kind: str  # "conda" or "pypi"
    status: Status
    reason: str
    evidence: tuple[Evidence, ...] = ()
    needed_by: tuple[str, ...] = ()  # a chain of names from a used or kept package down to this one
    cautions: tuple[str, ...] = ()
    on_demand: tuple[str, ...] = ()  # unused, but a used package can load it on demand: how (with the chain)
    removable: bool = False  # unused, and conda can remove it (not installed with pip)
    optional_only: bool = False  # used only through imports guarded by ``except ImportError``
    asked_for: str = ""  # how the user asked for it ("requested: pandas", "environment.yml: pandas>=2")

    @property
    def stays(self) -> bool:
        return self.status != UNUSED


@dataclass(frozen=True)
class MissingModule:
    """A module the application imports that nothing installed provides."""

    module: str
    sites: tuple[str, ...]
    optional: bool  # every site is guarded by ``except ImportError``


@dataclass(frozen=True)
class Unsatisfied:
    package: str
    requirement: str  # the spec as the package writes it
    before: bool = False  # it was already unsatisfied before anything was removed

    def __str__(self) -> str:
        return f"{self.package} requires {self.requirement!r}, which is not installed" + (
            " (already so before)" if self.before else ""
        )


@dataclass
class EnvPrunePlan:
    prefix: Path
    apps: tuple[str, ...]
    verdicts: list[Verdict]
    missing: list[MissingModule] = field(default_factory=list)
    dynamic: list[Use] = field(default_factory=list)  # import_module(<expression>) sites
    typing_only: list[Use] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # shown, removal may go ahead
    unparsed: tuple[ScanProblem, ...] = ()  # app files that do not parse (read line by line instead)
    doubts: list[str] = field(default_factory=list)  # each forbids removal
    frozen: bool = False
    files_scanned: int = 0
    files_cached: int = 0
    skipped_environments: tuple[str, ...] = ()
    roots: RootSet | None = None  # what the user asked for
    graph: DependencyGraph | None = field(default=None, compare=False, repr=False)

    def with_status(self, status: str) -> list[Verdict]:
        return [v for v in self.verdicts if v.status == status]

    @property
    def unused(self) -> list[Verdict]:
        return self.with_status(UNUSED)

    @property
    def removable(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.removable]

    def verdict(self, name: str) -> Verdict | None:
        return next((v for v in self.verdicts if name_matches(name, v.name)), None)


@dataclass
class EnvPruneReport:
    """A plan and what came of it: bytes, the export, the removal, the check after it."""

    plan: EnvPrunePlan
    freed: Freed
    package_bytes: dict[str, int] = field(default_factory=dict)  # removable key -> bytes it frees now
    dry_run: bool = False
    cache_after: int | None = None  # what the cache prune would free once the packages are gone
    cache_note: str = ""
    export_path: str | None = None
    export_text: str | None = None
    export_written: bool = False
    removed: list[str] = field(default_factory=list)
    unsatisfied_after: list[Unsatisfied] | None = None  # None: nothing was removed, nothing checked
    cache_prune: dict | None = None  # the cache prune's own JSON view, with --with-cache
    traces: list = field(default_factory=list)  # each --trace run (conda_prune.trace.TraceRun)
