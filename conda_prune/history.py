"""What the user asked for in an environment: ``conda-meta/history`` and ``conda-meta/pinned``.

This is the same reading as conda's ``History.get_requested_specs_map`` (the map the solver
uses), done without conda so it also works from the standalone script; a test checks that both
agree on real histories. The per-record ``requested_spec(s)`` field is not used: it goes stale.

One difference: a command that installed from a lockfile or an explicit list (``conda create
--file explicit.txt``, ``conda-lock install``, ``conda env create`` from a fully pinned file)
records *every* package it installed as requested, each pinned to its exact build or given as a
URL. Such a command says nothing about what the user wanted, so its specs are set apart
(:attr:`RequestedSpecs.lockfile_specs`) instead of being taken as requests. The test is made per
command, so a later ``conda install x`` on top of a lockfile environment still counts.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .records import Problem
from .safeio import TEXT_LIMIT, read_bytes
from .specs import spec_name

_SPEC_LINE = re.compile(r"^#\s*(\w+)\s*specs:\s*(.+)?$")
_VERSION_RELATION = re.compile(r"^(=|>|<|!|~)")
_CMD_LINE = re.compile(r"^#\s*cmd:\s*(.+)")
#: ``name==1.26.4=py311_0``, ``name=1.26.4=py311_0``, ``name 1.26.4 py311_0``: one exact build
_EXACT_BUILD = re.compile(r"^[A-Za-z0-9_.+-]+\s*(?:==|=|\s)\s*[^\s=<>!~*,|\[\]]+\s*(?:=|\s)\s*[^\s=<>!~*,|\[\]]+$")
_CHECKSUMS = re.compile(r"\[([^\[\]]*)\]$")
#: a spec line longer than this is not conda's (a real one for 1,000 URL specs is ~150 KB);
#: parsing it could exhaust memory, so it is skipped and reported
MAX_SPEC_LINE = 1 << 20
_ACTIONS = {
    "update": "update", "install": "update", "create": "update",
    "remove": "remove", "uninstall": "remove",
    "neutered": "neutered",
}


def _blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("==>") and line.endswith("<=="):
            blocks.append([])
        elif blocks and line:
            blocks[-1].append(line)
    return blocks


@dataclass
class RequestedSpecs:
    """Requested specs by package name.

    ``lockfile_specs``: the specs of commands that installed from a lockfile or an explicit
    list, by name; they are not in ``specs``. ``lockfile`` is true when the history holds such
    a command (also one that wrote only ``+url`` lines and no specs)."""

    specs: dict[str, str] = field(default_factory=dict)
    pinned: dict[str, str] = field(default_factory=dict)
    lockfile: bool = False
    lockfile_specs: dict[str, str] = field(default_factory=dict)
    after_lockfile: set[str] = field(default_factory=set)  # real requests made after the last lockfile install
    problems: list[Problem] = field(default_factory=list)
    #: ``history`` or ``pinned`` there but not readable (a FIFO, a device, over the size cap, no
    #: permission): what was asked for is unknown, and conda's own transaction could not read it
    unreadable: list[Problem] = field(default_factory=list)


def _read(path: Path, unreadable: list[Problem], unknown: str) -> str:
    """The text of ``conda-meta/history`` or ``pinned`` through :mod:`conda_prune.safeio` (never a
    hang on a FIFO, never more than the size cap); "" when it is missing, and also when it cannot
    be read, which ``unreadable`` then says."""
    try:
        return read_bytes(path, limit=TEXT_LIMIT).decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
    except OSError as exc:
        unreadable.append(Problem(path, (
            f"cannot be read ({exc.strerror or exc}): {unknown}, and conda cannot read it either; "
            "replace it with a regular file, or remove it"
        )))
        return ""


def _parse_specs(text: str | None) -> list[str]:
    if not text:
        return []
    text = text.strip()
    if text.startswith("["):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return []  # hostile or broken input (``[-----...1]`` exhausts the parser)
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else []
    specs: list[str] = []
    for part in text.split(","):
        if _VERSION_RELATION.match(part) and specs:
            specs[-1] = f"{specs[-1]},{part}"
        else:
            specs.append(part)
    return [s.strip() for s in specs if s.strip()]


def is_exact_spec(spec: str) -> bool:
    """Does ``spec`` name one exact build, as lockfiles and explicit installs write them? A URL
    (``file:///ch/noarch::numpy==1.26.4=py_0``, ``https://.../numpy-1.26.4-py_0.conda``) or
    ``name==version=build`` with no wildcard."""
    spec = spec.strip()
    if "://" in spec or spec.startswith("file:"):
        return True
    if "::" in spec:
        spec = spec.rsplit("::", 1)[1]
    checksums = _CHECKSUMS.search(spec)  # ``[md5=...]`` pins nothing more than the build
    if checksums and all(key.strip() in ("md5", "sha256", "fn", "url", "subdir")
                         for key, _, _ in (part.partition("=") for part in checksums.group(1).split(","))):
        spec = spec[: checksums.start()]
    return bool(_EXACT_BUILD.match(spec))


def _names(block: list[str], sign: str) -> set[str]:
    """Names of the packages a command added (``sign`` "+") or removed ("-"): its
    ``+channel::name-version-build`` lines."""
    names = set()
    for line in block:
        if line.startswith(sign) and len(line) > 1:
            dist = line[1:].rsplit("::", 1)[-1].rsplit("/", 1)[-1]
            parts = dist.rsplit("-", 2)
            if len(parts) == 3:
                names.add(parts[0].lower())
    return names


def _is_lockfile_command(specs: list[str], present: set[str]) -> bool:
    """Specs of one command that came from a lockfile or an explicit list: more than one, each
    one exact build, naming every package the environment holds after the command (``present``,
    replayed from the history's ``+``/``-`` lines; the installed ones when it has none). A
    single pinned spec is taken at its word: a person may type that. So is an install of a few
    exact builds into an environment that holds other packages too."""
    if len(specs) < 2 or not all(is_exact_spec(s) for s in specs):
        return False
    return bool(present) and present <= {spec_name(s) for s in specs}


def read_requested_specs(prefix: Path, installed: Iterable[str] | None = None) -> RequestedSpecs:
    """Requested specs of an environment, limited to installed names when those are given."""
    result = RequestedSpecs()
    history = prefix / "conda-meta" / "history"
    text = _read(history, result.unreadable, "what was asked for in this environment is unknown")
    installed_names = set(installed) if installed is not None else None
    spec_map: dict[str, str] = {}
    asked_at: dict[str, int] = {}  # name -> the command that asked for it last
    present: set[str] = set()  # what the environment holds after each command, replayed
    last_lockfile = -1
    for number, block in enumerate(_blocks(text)):
        if not any(_CMD_LINE.match(line) for line in block):
            continue  # conda ignores a block without a "# cmd:" line
        actions: dict[str, list[str]] = {}
        spec_lines = 0
        for line in block:
            if len(line) > MAX_SPEC_LINE and line.startswith("#"):
                result.problems.append(Problem(
                    history, f"has a spec line of {len(line):,} characters, which conda never writes; it was "
                    "skipped (restore the file from a backup, or delete that line)",
                ))
                continue
            match = _SPEC_LINE.match(line)
            if not match:
                continue
            spec_lines += 1
            action, raw = match.groups()
            specs = [s for s in _parse_specs(raw) if not s.endswith("@")]
            kind = _ACTIONS.get(action)
            if specs and kind:
                actions[kind] = specs
        added, removed = _names(block, "+"), _names(block, "-")
        present = (present - removed) | added
        if not spec_lines and added and not removed:
            result.lockfile = True  # +url lines and no specs: an explicit install by an older tool
            last_lockfile = number
        update = actions.get("update", [])
        if _is_lockfile_command(update, present or installed_names or set()):
            result.lockfile = True
            result.lockfile_specs.update((spec_name(s), s) for s in update)
            actions.pop("update")
            last_lockfile = number
        # the order conda applies them in: removals, then updates, then neutered specs
        for spec in actions.get("remove", ()):
            spec_map.pop(spec_name(spec), None)
        for kind in ("update", "neutered"):
            for spec in actions.get(kind, ()):
                spec_map[spec_name(spec)] = spec
                asked_at[spec_name(spec)] = number
    pinned = _read(prefix / "conda-meta" / "pinned", result.unreadable, "which packages are pinned is unknown")
    for line in pinned.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            result.pinned[spec_name(line)] = line
    if installed_names is not None:
        spec_map = {n: s for n, s in spec_map.items() if n in installed_names}
        result.pinned = {n: s for n, s in result.pinned.items() if n in installed_names}
        result.lockfile_specs = {n: s for n, s in result.lockfile_specs.items() if n in installed_names}
    result.specs = spec_map
    result.after_lockfile = {n for n in spec_map if asked_at.get(n, -1) > last_lockfile} if result.lockfile else set()
    return result
