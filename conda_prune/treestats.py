"""The accounting of what removing a tree frees: every file ``lstat``-ed once, per inode.

Kept apart from :mod:`.caches` and free of anything but the standard library, so the second
process of :mod:`.walker` can measure entries without importing the rest of conda-prune."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from .problem import Problem


class TreeStats:
    """Allocated bytes of a tree, per inode, so links can be counted across the whole removal.

    A plain class, not a dataclass: the second process of :mod:`.walker` imports this module,
    and ``dataclasses`` (through ``inspect``) would be half of its start-up."""

    __slots__ = (
        "apparent_bytes",
        "dirs_bytes",
        "errors",
        "files",
        "inodes",
        "missing",
        "single",
        "single_bytes",
        "symlinks",
    )

    def __init__(self, dirs_bytes: int = 0, apparent_bytes: int = 0, files: int = 0,
                 inodes: dict[tuple[int, int], list] | None = None, single: set[tuple[int, int]] | None = None,
                 single_bytes: int = 0, errors: list[Problem] | None = None, symlinks: int = 0,
                 missing: int = 0) -> None:
        self.dirs_bytes = dirs_bytes
        self.apparent_bytes = apparent_bytes
        self.files = files
        # files with more than one link: (dev, ino) -> [links seen inside this tree, st_nlink,
        # allocated bytes, one path]
        self.inodes: dict[tuple[int, int], list] = {} if inodes is None else inodes
        # files with one link (most of them): freed with the tree, nothing to count across trees,
        # so only their bytes are kept. A walk names each file once, so it keeps no key of them (a
        # hundred thousand tuples an entry-heavy prune would build, send and free for nothing);
        # files_stats, given a list that may name a file twice, keeps the keys it has counted.
        self.single: set[tuple[int, int]] = set() if single is None else single
        self.single_bytes = single_bytes
        self.errors: list[Problem] = [] if errors is None else errors
        self.symlinks = symlinks  # by files_stats: symlinks named (their targets live elsewhere)
        self.missing = missing  # by files_stats: paths that are not there

    def _fields(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass is

    def __repr__(self) -> str:
        return "TreeStats(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__) + ")"


DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_FD_WALK = os.open in os.supports_dir_fd and os.scandir in os.supports_fd and hasattr(os, "O_NOFOLLOW")


def tree_stats(root: Path, into: TreeStats | None = None, *, dir_fd: int | None = None) -> TreeStats:
    """Walk ``root`` without following symlinks; lstat every file once. With ``into``, add to
    those stats (an entry's folder and tarballs are counted as one). ``dir_fd``: ``root`` is
    only shown; what is walked is its last component in that open folder (the trash, opened
    once), so no component of the path is resolved again.

    Each folder is opened once, with ``O_NOFOLLOW``, relative to its parent's descriptor, and
    listed through it: a folder another user swaps for a symlink mid-walk is not entered, so the
    figures (and the hardlink safety net built on them) are of the entry, never of what a link
    points to. This is the one place the prune touches every file of an entry, so it stays lean:
    plain strings, one ``fstatat`` per file (``DirEntry.stat``), no Path objects in the loop."""
    stats = TreeStats() if into is None else into
    inodes = stats.inodes
    name = root.name if dir_fd is not None else root
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        stats.errors.append(Problem(root, f"cannot be read ({exc.strerror})"))
        return stats
    if not stat.S_ISDIR(st.st_mode):
        _count_file(stats, str(root), st)
        return stats
    if not _FD_WALK:  # pragma: no cover - platforms without descriptor-relative calls
        return _tree_stats_by_path(root, st, stats)
    try:
        top = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        stats.errors.append(Problem(root, f"cannot be read ({exc.strerror})"))
        return stats
    dirs_bytes = st.st_blocks * 512
    apparent = files = single_bytes = 0
    S_ISDIR = stat.S_ISDIR
    sep = os.sep
    # one open descriptor per level: (fd, its path, subfolders left to enter)
    stack: list[tuple[int, str, list[str] | None]] = [(top, str(root), None)]
    try:
        while stack:
            fd, current, pending = stack[-1]
            if pending is None:
                pending = []
                try:
                    with os.scandir(fd) as it:
                        children = list(it)
                except OSError as exc:
                    stats.errors.append(Problem(Path(current), f"cannot be read ({exc.strerror})"))
                    children = []
                for child in children:
                    try:
                        cst = child.stat(follow_symlinks=False)
                    except OSError as exc:
                        stats.errors.append(Problem(Path(current + sep + child.name), f"cannot be read ({exc.strerror})"))
                        continue
                    if S_ISDIR(cst.st_mode):
                        dirs_bytes += cst.st_blocks * 512
                        pending.append(child.name)
                        continue
                    files += 1
                    apparent += cst.st_size
                    if cst.st_nlink == 1:
                        single_bytes += cst.st_blocks * 512
                        continue
                    key = (cst.st_dev, cst.st_ino)
                    seen = inodes.get(key)
                    if seen is None:
                        inodes[key] = [1, cst.st_nlink, cst.st_blocks * 512, current + sep + child.name]
                    else:
                        seen[0] += 1
                stack[-1] = (fd, current, pending)
                continue
            if pending:
                name = pending.pop()
                try:
                    stack.append((os.open(name, DIR_FLAGS, dir_fd=fd), current + sep + name, None))
                except OSError as exc:
                    stats.errors.append(Problem(Path(current + sep + name), f"cannot be read ({exc.strerror})"))
                continue
            stack.pop()
            os.close(fd)
    finally:
        for fd, _, _ in stack:
            os.close(fd)
    stats.dirs_bytes += dirs_bytes
    stats.apparent_bytes += apparent
    stats.files += files
    stats.single_bytes += single_bytes
    return stats


def _tree_stats_by_path(root: Path, st: os.stat_result, stats: TreeStats) -> TreeStats:  # pragma: no cover
    dirs_bytes = st.st_blocks * 512
    stack = [str(root)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                children = list(it)
        except OSError as exc:
            stats.errors.append(Problem(Path(current), f"cannot be read ({exc.strerror})"))
            continue
        for child in children:
            try:
                cst = child.stat(follow_symlinks=False)
            except OSError as exc:
                stats.errors.append(Problem(Path(child.path), f"cannot be read ({exc.strerror})"))
                continue
            if stat.S_ISDIR(cst.st_mode):
                dirs_bytes += cst.st_blocks * 512
                stack.append(child.path)
            else:
                _count_file(stats, child.path, cst)
    stats.dirs_bytes += dirs_bytes
    return stats


def files_stats(paths: Iterable[str]) -> TreeStats:
    """The same accounting for a list of files (a package's, in an environment): each path
    ``lstat``-ed once, per inode; symlinks and missing paths counted apart, folders skipped."""
    stats = TreeStats()
    for path in paths:
        try:
            st = os.lstat(path)
        except OSError:
            stats.missing += 1
            continue
        if stat.S_ISLNK(st.st_mode):
            stats.symlinks += 1
        elif not stat.S_ISDIR(st.st_mode):
            _count_file(stats, path, st)
    return stats


def _count_file(stats: TreeStats, path: str, st: os.stat_result) -> None:
    stats.files += 1
    stats.apparent_bytes += st.st_size
    key = (st.st_dev, st.st_ino)
    if st.st_nlink == 1:
        if key not in stats.single:
            stats.single.add(key)
            stats.single_bytes += st.st_blocks * 512
        return
    seen = stats.inodes.get(key)
    if seen is None:
        stats.inodes[key] = [1, st.st_nlink, st.st_blocks * 512, path]
    else:
        seen[0] += 1


def merge_stats(paths: Iterable[Path]) -> TreeStats:
    """The stats of several trees as one (an entry's folder, its tarballs and lock)."""
    total = TreeStats()
    for path in paths:
        tree_stats(path, into=total)
    return total
