"""What the application scan finds: uses of the environment, each with where it was found."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# kinds of use (stable: they appear in --json)
MODULE = "module"  # a Python import (or a module run with ``python -m``, or a pytest plugin)
EXECUTABLE = "executable"  # a program called from a script, a Makefile, CI, a Dockerfile, subprocess
R_PACKAGE = "r-package"  # library(x), require(x), x::f in R code
KERNEL = "kernel"  # the Jupyter kernel a notebook runs on
LIBRARY = "library"  # a shared library loaded by name (ctypes.CDLL, find_library)
NAMED = "named"  # a string that names a module (INSTALLED_APPS, engine="openpyxl", _target_: a.b.C);
#                  the scanners collect these as plain names (AppScan.names), not as uses
TYPING = "type-checking"  # an import under ``if TYPE_CHECKING:``: not a use at run time
DYNAMIC = "dynamic"  # import_module(<expression>): a use whose target cannot be known



@dataclass(frozen=True)
class Use:
    """One use of something the environment may provide.

    ``name`` is a dotted module, a program name, an R package, a kernel name or a library name,
    depending on ``kind``. ``subnames`` holds the names of ``from X import a, b`` (any may be a
    submodule). ``optional`` marks an import inside ``try: ... except ImportError``. In installed
    code (the import closure) a relative import keeps its dots (``.compat``, ``..``)."""

    kind: str
    name: str
    path: str  # as shown to the user; a notebook cell is ``nb.ipynb[cell 3]``
    line: int
    how: str = ""  # "import", "from", "import_module", "subprocess", "Makefile", "library()", ...
    optional: bool = False
    subnames: tuple[str, ...] = ()
    #: inside a function (or a lazy module ``__getattr__``): runs when called, not on import.
    #: Set only when reading installed code (:func:`.python.installed_imports`)
    deferred: bool = False

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    @property
    def file(self) -> str:
        """The file the use is in (a notebook cell's notebook)."""
        return self.path.split("[cell ", 1)[0]

    def describe(self) -> str:
        if self.kind == MODULE:
            if self.how == "from":
                shown = ", ".join(self.subnames[:3]) + (", ..." if len(self.subnames) > 3 else "")
                text = f"from {self.name} import {shown}"
            elif self.how in ("import", "cimport"):
                text = f"{self.how} {self.name}"
            elif self.how.endswith(" -m") or self.how == "pytest -p":
                text = f"{self.how} {self.name}"
            else:
                text = f"{self.name} ({self.how})" if self.how else self.name
            return text + (" (optional)" if self.optional else "")
        if self.kind == EXECUTABLE:
            return f"runs {self.name}" + (f" ({self.how})" if self.how else "")
        if self.kind == R_PACKAGE:
            return f"{self.how or 'library'}({self.name})" if self.how != "::" else f"{self.name}::"
        if self.kind == KERNEL:
            return f"notebook kernel {self.name}"
        if self.kind == LIBRARY:
            return f"loads library {self.name}" + (f" ({self.how})" if self.how else "")
        if self.kind == NAMED:
            return f"names {self.name!r}" + (f" ({self.how})" if self.how else "")
        if self.kind == TYPING:
            return f"import {self.name} (only under TYPE_CHECKING)"
        return f"{self.how}({self.name})"


@dataclass(frozen=True)
class ScanProblem:
    """A file or folder that could not be read as it should.

    ``doubt`` is True when what it holds is unknown (an unreadable file or folder): uses may be
    missing, so nothing may be removed. A file that does not parse is read line by line
    instead, and is reported without doubt."""

    path: str
    message: str
    doubt: bool = False
    line: int | None = None  # where the parser stopped, for a file that does not parse
    parser_message: str = ""  # what the parser said; non-empty only for a file that does not parse

    @property
    def where(self) -> str:
        """``path:line`` (or the path alone when the parser gave no line)."""
        return f"{self.path}:{self.line}" if self.line else self.path

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class AppScan:
    """Everything found in the application's files."""

    roots: tuple[Path, ...]
    uses: list[Use] = field(default_factory=list)
    problems: list[ScanProblem] = field(default_factory=list)
    #: quoted strings (and dotted names in configuration) that may name a module, with the
    #: first files they are in: ``"rest_framework"`` in INSTALLED_APPS, ``engine="openpyxl"``
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    first_party: frozenset[str] = frozenset()  # the application's own top-level module names
    files: int = 0  # files scanned (or taken from the cache)
    cached: int = 0  # of which unchanged since the last scan
    skipped_environments: tuple[str, ...] = ()  # folders below the app that are environments
    #: the parse of Python files still running beside the run (``scan_app(check_syntax="later")``)
    syntax: Any = field(default=None, compare=False, repr=False)

    def finish_syntax(self) -> None:
        """Add the files that do not parse to :attr:`problems` (waits for the check, if any)."""
        check, self.syntax = self.syntax, None
        if check is not None:
            self.problems += check.finish()

    @property
    def doubts(self) -> list[ScanProblem]:
        return [p for p in self.problems if p.doubt]
