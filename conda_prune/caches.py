"""Reading package caches, without writing to them.

conda's ``PackageCacheData`` is not a read: on a writable cache, listing it re-extracts
tarballs that lack a folder, deletes tarballs it finds corrupt and writes
``repodata_record.json``. A dry run must change nothing, so we list the directory ourselves.

A cache holds extracted entries (``name-version-build/`` with ``info/index.json`` or
``info/repodata_record.json``), tarballs (``.conda``, ``.tar.bz2``; more kinds when a
package-extractor plugin is installed), ``urls.txt``, ``cache/`` (repodata), ``.trash/``,
``*.partial`` downloads and lock files. Only entries and their tarballs are ever removed.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .records import Problem, split_dist
from .safeio import SMALL_LIMIT, TEXT_LIMIT, read_bytes

TARBALL_SUFFIXES = (".conda", ".tar.bz2")
TRASH_DIR = ".conda-prune-trash"


def tarball_suffixes() -> tuple[str, ...]:
    """Package file kinds: conda's plugin registry knows more when extractor plugins exist."""
    extra: tuple[str, ...] = ()
    if "conda.base.context" in sys.modules:  # inside conda; the standalone script never pays for it
        try:
            from conda.base.context import context

            extra = tuple(getattr(context.plugin_manager, "get_package_extractors", dict)())
        except Exception:  # an older conda without package-extractor plugins
            extra = ()
    return tuple(dict.fromkeys((*TARBALL_SUFFIXES, *extra)))


def strip_tarball_suffix(name: str, suffixes: Iterable[str]) -> str | None:
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


@dataclass
class CacheEntry:
    """One package in one cache: its extracted folder and/or its tarballs."""

    cache: Path  # the cache as configured
    dist: str  # name-version-build: the folder name, the tarball stem, the conda-meta name
    folder: Path | None = None
    tarballs: list[Path] = field(default_factory=list)
    folder_is_symlink: bool = False
    owner_uid: int | None = None
    # name in the cache -> (st_dev, st_ino) when scanned: a removal moves only what was judged
    identity: dict[str, tuple[int, int]] = field(default_factory=dict, compare=False, repr=False)
    tarball_owners: dict[str, int] = field(default_factory=dict, compare=False, repr=False)  # name -> uid

    @property
    def name(self) -> str:
        return split_dist(self.dist)[0]

    @property
    def version(self) -> str:
        return split_dist(self.dist)[1]

    @property
    def build(self) -> str:
        return split_dist(self.dist)[2]

    def paths(self) -> list[Path]:
        return ([self.folder] if self.folder else []) + list(self.tarballs)


@dataclass
class PackageCache:
    path: Path  # as configured
    real: Path  # symlinks resolved: a cache folder may itself be a symlink (common on HPC)
    entries: dict[str, CacheEntry] = field(default_factory=dict)
    exists: bool = True
    read_only: str | None = None  # why nothing in it can be removed, if so
    leftovers: list[Path] = field(default_factory=list)  # what this user's interrupted prune left in its trash
    empty_trash: bool = False  # a trash folder with nothing in it (a run killed while tidying up)
    identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the cache folder the scan listed
    problems: list[Problem] = field(default_factory=list)
    _urls: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def urls(self) -> dict[str, str]:
        """``urls.txt``: package file name -> the URL the cache fetched it from."""
        if self._urls is None:
            self._urls = {}
            try:
                text = read_bytes(self.real / "urls.txt", limit=TEXT_LIMIT, follow=False).decode("utf-8", "replace")
            except OSError:
                text = ""
            for line in text.splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    self._urls[line.rsplit("/", 1)[-1]] = line
        return self._urls


def only_copy(cache: PackageCache, entry: CacheEntry) -> str | None:
    """Why this entry is the only copy of its package (None: it can be fetched again).

    Where it came from is the ``url`` of ``info/repodata_record.json`` (conda writes one into
    every entry it extracts), else the line of ``urls.txt`` naming its tarball. A local path or a
    ``file://`` URL that no longer exists, or no URL at all, means nothing can fetch it again."""
    url = None
    if entry.folder is not None and not entry.folder_is_symlink:
        try:
            record = json.loads(read_bytes(entry.folder / "info" / "repodata_record.json", limit=SMALL_LIMIT,
                                           follow=False))
            url = record.get("url") if isinstance(record, dict) and isinstance(record.get("url"), str) else None
        except (OSError, ValueError, RecursionError):
            url = None
    if not url:
        names = [t.name for t in entry.tarballs] or [f"{entry.dist}{suffix}" for suffix in TARBALL_SUFFIXES]
        url = next((cache.urls()[n] for n in names if n in cache.urls()), None)
    if not url:
        return "its only copy: nothing records where it came from (no url in info/repodata_record.json or urls.txt)"
    local = None
    if url.startswith("file:"):
        from urllib.parse import unquote, urlparse

        local = unquote(urlparse(url).path)
    elif "://" not in url:
        local = url
    if local is not None and not os.path.exists(local):
        return f"its only copy: it came from {local}, which no longer exists"
    return None


def _read_only_reason(path: Path) -> str | None:
    try:
        st = os.statvfs(path)
        if st.f_flag & os.ST_RDONLY:
            return "is on a read-only filesystem"
    except (OSError, AttributeError):
        pass
    if not os.access(path, os.W_OK | os.X_OK):
        return "is not writable by you"
    return None


def cache_spelling(path: Path) -> PackageCache:
    """A cache as configured and its real path, not listed yet (what the symlink walk needs)."""
    try:
        real = Path(os.path.realpath(path))
    except OSError:  # pragma: no cover
        real = path
    return PackageCache(path=path, real=real)


def scan_cache(path: Path | PackageCache, suffixes: tuple[str, ...] | None = None) -> PackageCache:
    """List one package cache: entries, tarballs, and leftovers of an interrupted prune.
    ``path``: the cache as configured, or its :func:`cache_spelling` (resolved once, then filled)."""
    suffixes = suffixes or tarball_suffixes()
    cache = path if isinstance(path, PackageCache) else cache_spelling(path)
    path, real = cache.path, cache.real
    try:
        st = os.stat(real)
    except OSError:
        st = None
    if st is None or not stat.S_ISDIR(st.st_mode):
        cache.exists = False
        return cache
    # listed and stat-ed through one descriptor of the cache folder: each stat then resolves one
    # name, not the whole path again (a third of the time of a path's stat, more on a network
    # filesystem)
    try:
        fd = os.open(real, _DIR_FLAGS)
    except OSError as exc:
        _unlistable(cache, exc)
        return cache
    try:
        st = os.fstat(fd)  # the folder listed, whatever its path names by now
        cache.identity = (st.st_dev, st.st_ino)
        _list_into(cache, fd, suffixes)
    finally:
        os.close(fd)
    return cache


def _unlistable(cache: PackageCache, exc: OSError) -> None:
    cache.problems.append(Problem(cache.path, (
        f"cannot be listed ({exc.strerror}); it was skipped. Fix its permissions to prune it")))
    cache.read_only = f"cannot be listed ({exc.strerror})"


_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


def _is_package(fd: int, name: str) -> bool:
    """Whether the folder ``name`` (in the cache open as ``fd``) holds a package's metadata."""
    for meta in ("/info/index.json", "/info/repodata_record.json"):
        try:
            if stat.S_ISREG(os.stat(name + meta, dir_fd=fd).st_mode):
                return True
        except OSError:
            continue
    return False


def _list_into(cache: PackageCache, fd: int, suffixes: tuple[str, ...]) -> None:
    """The entries, tarballs and trash of the cache open as ``fd``."""
    path, real = cache.path, str(cache.real)
    try:
        with os.scandir(fd) as it:
            listing = list(it)
    except OSError as exc:
        _unlistable(cache, exc)
        return
    cache.read_only = _read_only_reason(cache.real)
    entries = cache.entries
    sep = os.sep
    for item in sorted(listing, key=lambda e: e.name):
        name = item.name
        if name == TRASH_DIR:
            where = Path(real + sep + name)
            if item.is_symlink() or not item.is_dir(follow_symlinks=False):
                # what a prune moves there is deleted: never through a link to somewhere else
                cache.problems.append(Problem(where, (
                    "is not a folder (a symlink?); conda-prune deletes what it moves there, so it "
                    "removes nothing from this cache. Delete that link (not what it points to) and rerun")))
                cache.read_only = f"holds a {TRASH_DIR} that is not a folder"
                continue
            seen = len(cache.problems)
            cache.leftovers = _read_trash(where, cache.problems)
            cache.empty_trash = not cache.leftovers and len(cache.problems) == seen and _holds_nothing(where)
            continue
        if name.startswith("."):
            continue
        try:
            is_link = item.is_symlink()
            is_dir = item.is_dir(follow_symlinks=True)
            is_file = not is_dir and item.is_file(follow_symlinks=False)
        except OSError:
            continue
        if is_dir:
            if not _is_package(fd, name):
                continue  # not a package (cache/, notices, other tools' folders)
            entry = entries.get(name)
            if entry is None:
                entry = entries[name] = CacheEntry(cache=path, dist=name)
            entry.folder = Path(real + sep + name)
            entry.folder_is_symlink = is_link
            try:
                st = item.stat(follow_symlinks=False)
                entry.owner_uid = st.st_uid
                entry.identity[name] = (st.st_dev, st.st_ino)
            except OSError:
                pass
        elif is_file:
            stem = strip_tarball_suffix(name, suffixes)
            if stem is None:
                continue
            entry = entries.get(stem)
            if entry is None:
                entry = entries[stem] = CacheEntry(cache=path, dist=stem)
            entry.tarballs.append(Path(real + sep + name))
            try:
                st = item.stat(follow_symlinks=False)
            except OSError:
                continue
            entry.identity[name] = (st.st_dev, st.st_ino)
            entry.tarball_owners[name] = st.st_uid
            if entry.owner_uid is None:
                entry.owner_uid = st.st_uid


def euid() -> int | None:
    return os.geteuid() if hasattr(os, "geteuid") else None


def trash_name(original: str) -> str:
    """What a rename into the trash calls an item: the original name, then our marker."""
    return f"{original}~{os.getpid()}-{time.time_ns()}"


def original_name(trashed: str) -> str | None:
    """The cache name a trash item had, or None when the name is not one our rename writes."""
    name, sep, marker = trashed.rpartition("~")
    pid, dash, ns = marker.partition("-")
    if not (sep and name and dash and pid.isdigit() and ns.isdigit()):
        return None
    return name


def lock_file_name(dist: str) -> str:
    """The lock file rattler-based installers keep beside an entry (``<dist>.lock``)."""
    return f"{dist}.lock"


def own_trash_folder(cache_real: Path, uid: int | None = None) -> Path:
    uid = euid() if uid is None else uid
    return cache_real / TRASH_DIR / str(uid if uid is not None else "user")


def _read_trash(trash: Path, problems: list[Problem]) -> list[Path]:
    """What this user's interrupted prune left in ``<cache>/.conda-prune-trash/<uid>/``.

    Only that folder is ours: it must be a real folder owned by us that nobody else may
    write, and each item in it must carry the name our rename writes and be ours. Anything
    else in the trash (another user's folder, an item someone moved there by hand) is left
    alone and reported: finishing it would delete what nobody decided to delete."""
    me = euid()
    own = str(me if me is not None else "user")
    leftovers: list[Path] = []
    try:
        with os.scandir(trash) as it:
            children = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        problems.append(Problem(trash, f"cannot be listed ({exc.strerror}); what is in it is left alone"))
        return leftovers
    for child in children:
        path = Path(child.path)
        try:
            st = child.stat(follow_symlinks=False)
        except OSError:
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        if child.name == own:
            if not is_dir or st.st_uid != me or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                problems.append(Problem(path, (
                    "is not a folder of yours that only you may write, so what is in it was not necessarily "
                    "moved there by your prune: left alone. Delete it (a link: the link only) and rerun")))
                continue
            try:
                with os.scandir(path) as it:
                    items = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                problems.append(Problem(path, f"cannot be listed ({exc.strerror}); left alone. Fix its permissions"))
                continue
            for item in items:
                try:
                    owner = item.stat(follow_symlinks=False).st_uid
                except OSError:
                    continue
                if original_name(item.name) is None or owner != me:
                    problems.append(Problem(Path(item.path), (
                        "was not moved there by your prune: left alone. Move it back into the cache if it "
                        "is a package you need, or delete it")))
                    continue
                leftovers.append(Path(item.path))
        elif child.name.isdigit() and is_dir:
            try:
                count = len(os.listdir(path))
            except OSError:
                continue  # another user's, and private: theirs to finish
            if count:
                who = user_name(int(child.name))
                problems.append(Problem(path, (
                    f"holds {count} item(s) an interrupted prune by {who} left: left alone. "
                    f"Run the prune as {who} to finish them")))
        else:
            problems.append(Problem(path, (
                "was not put there by this conda-prune (an older version's leftover, or moved there by hand): "
                "left alone. "
                "Move it back into the cache if it is a package you need, or delete it")))
    return leftovers


def _holds_nothing(trash: Path) -> bool:
    """The trash holds no file: at most empty folders of users (``close`` removes them; a kill
    between its two ``rmdir`` calls leaves them behind)."""
    try:
        with os.scandir(trash) as it:
            for child in it:
                if not child.name.isdigit() or not child.is_dir(follow_symlinks=False):
                    return False
                with os.scandir(child.path) as inner:
                    if next(inner, None) is not None:
                        return False
    except OSError:
        return False
    return True


def user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


# -- versions, for --keep-latest -----------------------------------------------------------------


def _version_key(version: str, build: str) -> tuple:
    try:
        if "conda.models.version" not in sys.modules and "conda.base.context" not in sys.modules:
            raise ImportError  # the standalone script: do not load conda for this
        from conda.models.version import VersionOrder

        vkey: object = VersionOrder(version)
    except Exception:
        parts = re.split(r"[._-]", version)
        vkey = tuple((0, int(p), "") if p.isdigit() else (-1, 0, p) for p in parts)
    match = re.search(r"(\d+)$", build)
    return (vkey, int(match.group(1)) if match else 0, build)


def newest_builds(entries: list[CacheEntry], n: int) -> set[int]:
    """ids of the newest ``n`` builds of each package name (across all caches)."""
    keep: set[int] = set()
    by_name: dict[str, list[CacheEntry]] = {}
    for e in entries:
        by_name.setdefault(e.name, []).append(e)
    for group in by_name.values():
        try:
            ordered = sorted(group, key=lambda e: _version_key(e.version, e.build), reverse=True)
        except TypeError:  # mixed version kinds that do not compare: keep them all
            keep |= {id(e) for e in group}
            continue
        distinct: list[str] = []
        for e in ordered:
            if e.dist not in distinct:
                distinct.append(e.dist)
            if e.dist in distinct[:n]:
                keep.add(id(e))
    return keep
