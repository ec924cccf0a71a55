"""Finding every environment a package cache may be serving.

Sources, as conda uses them: every ``environments.txt`` conda reads (every user's when run as
root), the direct children of every envs dir, and the root prefix; plus places the user names
with ``--search-path`` (project-local environments such as ``./.env`` or ``.pixi/envs``),
which conda itself cannot see.

A registered prefix that is gone is either removed (its parent folder still exists) or
unreachable (its parent is missing or unreadable: an unmounted filesystem, a home directory on
another machine). The first is harmless; the second is doubt, and callers refuse to delete.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .locations import Locations
from .records import Problem, is_environment
from .safeio import TEXT_LIMIT, open_regular, read_fd

SEARCH_DEPTH = 5
#: folders --search-path never looks into. Deliberately fewer than the application walk skips
#: (``appscan.walk.SKIP_DIRS``): an environment below ``.pixi``, ``.nox`` or ``.direnv`` is still an
#: environment whose cache entries must stay, and an environment missed here looks unused.
_SKIP_DIRS = {".git", "node_modules", "__pycache__", ".hg", ".svn", ".tox", ".mypy_cache"}


@dataclass(frozen=True)
class FoundEnvironment:
    prefix: Path
    how: str  # "root prefix", "registered in <file>", "in envs dir <dir>", "under --search-path <dir>"


@dataclass(frozen=True)
class MissingEnvironment:
    prefix: Path
    registry: Path  # the environments.txt that lists it
    unreachable: bool  # True: the parent folder is missing too, so it may be on an unmounted disk

    @property
    def advice(self) -> str:
        if self.unreachable:
            return (
                f"{self.prefix} is listed in {self.registry} but neither it nor its parent folder "
                "exists (a filesystem that is not mounted?). Mount it, or delete that line from "
                f"{self.registry.name}, or pass --ignore-unreachable to treat it as removed."
            )
        return f"{self.prefix} is listed in {self.registry} but was removed"


@dataclass
class Discovery:
    environments: list[FoundEnvironment] = field(default_factory=list)
    missing: list[MissingEnvironment] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # places that hold or list environments but cannot be read: what those use is unknown
    doubts: list[str] = field(default_factory=list)

    @property
    def prefixes(self) -> list[Path]:
        return [env.prefix for env in self.environments]

    @property
    def unreachable(self) -> list[MissingEnvironment]:
        return [m for m in self.missing if m.unreachable]


def _key(path: Path) -> str:
    try:
        return os.path.realpath(path)
    except OSError:  # pragma: no cover
        return os.path.abspath(path)


def read_environments_txt(path: Path) -> tuple[list[Path], Problem | None]:
    """The prefixes listed in one environments.txt. Read-only: conda's reader rewrites it."""
    prefixes, problem, _ = read_registry(path)
    return prefixes, problem


def read_registry(path: Path) -> tuple[list[Path], Problem | None, int | None]:
    """:func:`read_environments_txt`, and the owner of the file that was read: taken from the
    descriptor it was read through, so a symlink flipped after the read cannot lend the lines
    another owner."""
    try:
        fd = open_regular(path, limit=TEXT_LIMIT)
        try:
            owner: int | None = os.fstat(fd).st_uid
            text = read_fd(fd, TEXT_LIMIT, path).decode("utf-8", "surrogateescape")
        finally:
            os.close(fd)
    except FileNotFoundError:
        return [], None, None
    except OSError as exc:
        return [], Problem(path, f"cannot be read ({exc.strerror}); the environments it lists are not scanned"), None
    return _registry_lines(text), None, owner


def _registry_lines(text: str) -> list[Path]:
    prefixes = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            prefixes.append(Path(os.path.expanduser(line)))
    return prefixes


def _owner(path: Path) -> int | None:
    try:
        return os.stat(path).st_uid
    except OSError:
        return None


def _through_proc(prefix: Path) -> bool:
    """A spelling the kernel resolves through another process's view of the filesystem
    (``/proc/PID/root``, ``/proc/self/cwd``, ``/dev/fd/N``): what it shows is that process's."""
    parts = Path(os.path.abspath(prefix)).parts
    return len(parts) > 1 and (parts[1] == "proc" or parts[1:3] == ("dev", "fd"))


def _search(root: Path, depth: int, found: list[Path], problems: list[Problem]) -> None:
    """Environments below ``root``: folders holding ``conda-meta``; hidden folders included
    (``.env``, ``.pixi/envs/default``), version-control and cache folders skipped."""
    if is_environment(root):
        found.append(root)
        # an environment can hold others (the root prefix's envs/)
        envs = root / "envs"
        if depth > 0 and envs.is_dir():
            _search(envs, depth - 1, found, problems)
        return
    if depth <= 0:
        return
    try:
        with os.scandir(root) as it:
            children = sorted(
                (e.path for e in it if e.is_dir(follow_symlinks=False) and e.name not in _SKIP_DIRS)
            )
    except OSError as exc:
        problems.append(Problem(root, f"cannot be searched ({exc.strerror}); environments below it are not scanned"))
        return
    for child in children:
        _search(Path(child), depth - 1, found, problems)


def _doubt(path: Path, what: str) -> str:
    return f"cannot read {path}: {what} unknown. Fix its permissions, or pass --ignore-unreachable to prune anyway."


def _unreadable(path: Path) -> bool | None:
    """True: exists but may not be read; None: missing (or a symlink loop); False: readable."""
    try:
        os.stat(path)
    except PermissionError:
        return True
    except OSError:
        return None
    return not os.access(path, os.R_OK | os.X_OK)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a symlink loop: not an environment, and no reason to skip its siblings
        return False


def discover(locations: Locations, search_paths: Iterable[Path] = ()) -> Discovery:
    """Every environment, each once, by its resolved path: the path it is de-duplicated by is
    the path it is read through (``FoundEnvironment.prefix``), so no other spelling of it can
    stand in for it.

    Run as root, every user's ``environments.txt`` is read. A line there that goes through
    ``/proc`` is skipped and reported; a line that resolves to an environment the file's owner
    does not own is reported and never replaces that environment's own listing: it is scanned,
    by its resolved path, only if no other source found it."""
    result = Discovery()
    seen: dict[str, None] = {}
    deferred: dict[str, str] = {}  # resolved prefix -> how, from registries that do not own it
    me = os.geteuid() if hasattr(os, "geteuid") else None

    def add(prefix: Path, how: str) -> None:
        key = _key(prefix)
        if key in seen:
            return
        seen[key] = None
        result.environments.append(FoundEnvironment(Path(key), how))

    def doubt(path: Path, what: str) -> None:
        key = _key(path)
        if key not in seen:
            seen[key] = None
            result.doubts.append(_doubt(path, what))

    if locations.root_prefix is not None and is_environment(locations.root_prefix):
        add(locations.root_prefix, "root prefix")
    for registry in locations.environments_txt:
        prefixes, problem, owner = read_registry(registry)
        if problem:
            result.problems.append(problem)
            doubt(registry, "the environments it lists are")
        foreign = me is not None and owner is not None and owner != me
        for prefix in prefixes:
            if foreign and _through_proc(prefix):
                result.problems.append(Problem(registry, (
                    f"lists {prefix}, a path through another process's view of the filesystem: not "
                    "trusted, skipped. Delete that line")))
                continue
            if is_environment(prefix):
                key = _key(prefix)
                if foreign and _owner(Path(key)) != owner:
                    if key not in seen:
                        deferred.setdefault(key, f"registered in {registry} (not its owner's)")
                        result.problems.append(Problem(registry, (
                            f"lists {prefix}, which resolves to {key}, not owned by this file's owner: "
                            "it never stands in for that environment's own listing. Delete that line if it is not theirs")))
                    continue
                add(prefix, f"registered in {registry}")
                continue
            state = _unreadable(prefix)
            if state is None:
                parent = prefix.parent
                reachable = os.path.isdir(parent) and os.access(parent, os.R_OK | os.X_OK)
                result.missing.append(MissingEnvironment(prefix, registry, unreachable=not reachable))
            elif state:
                doubt(prefix, f"the packages of this environment (listed in {registry}) are")
    for envs_dir in locations.envs_dirs:
        try:
            with os.scandir(envs_dir) as it:
                children = sorted(e.path for e in it if _is_dir(e))
        except FileNotFoundError:
            continue
        except OSError as exc:
            result.problems.append(Problem(envs_dir, f"cannot be listed ({exc.strerror}); its environments are not scanned"))
            doubt(envs_dir, "the environments in it are")
            continue
        for child in children:
            if is_environment(Path(child)):
                add(Path(child), f"in envs dir {envs_dir}")
            elif _unreadable(Path(child)):
                doubt(Path(child), "the packages of what may be an environment are")
    for root in search_paths:
        found: list[Path] = []
        _search(Path(root), SEARCH_DEPTH, found, result.problems)
        for prefix in found:
            add(prefix, f"under --search-path {root}")
    for key, how in deferred.items():  # safety first: still scanned, by its resolved path
        add(Path(key), how)
    return result


def resolve_target(locations: Locations, name: str | None, prefix: str | None) -> Path | None:
    """``-n NAME`` / ``-p PATH`` the way conda resolves them (for the standalone script)."""
    if prefix:
        return Path(os.path.abspath(os.path.expanduser(prefix)))
    if not name:
        active = os.environ.get("CONDA_PREFIX")
        return Path(active) if active else locations.root_prefix
    if name in ("base", "root") and locations.root_prefix is not None:
        return locations.root_prefix
    for envs_dir in locations.envs_dirs:
        candidate = envs_dir / name
        if candidate.is_dir():
            return candidate
    for registry in locations.environments_txt:
        for registered in read_environments_txt(registry)[0]:
            if registered.name == name:
                return registered
    return None
