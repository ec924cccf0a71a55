"""What the cache prune needs from each ``conda-meta/*.json``, and from each environment folder it
walks for symlinks into the caches, kept between runs.

Parsing every record of every environment in full is the largest cost of a cache prune on a
machine whose caches are mostly in use; the prune needs five fields of each. This file keeps
those fields, per record, in the user's cache folder (``$CONDA_PRUNE_CACHE_DIR``, else
``$XDG_CACHE_HOME/conda-prune``: the app scan's), keyed by the record's resolved environment,
file name, size, ``mtime_ns``, inode and ``ctime_ns``: a record rewritten, replaced or touched is
read again. A record whose times fall within two seconds before the run that wrote the file
started reading (the coarsest timestamp granularity of common filesystems) counts as changed, so
a write in the same tick as that reading is never missed, however long the run took. Records that could not be read are never kept: their problem is reported on
every run.

For the symlink walk, each folder's subfolders and symlinks (with their targets) are kept, keyed
by the folder's device, inode, ``mtime_ns`` and ``ctime_ns``: adding, removing, renaming or
replacing anything in a folder changes its mtime (a symlink cannot be changed in place), so an
unchanged key means an unchanged listing; the same two-second margin applies.

The two are kept in two files beside each other (``records-vN.json``, ``folders-vN.json``), so the
walk can run in a second process that reads and writes its own (:mod:`.walker`). A file is
trusted only when it is a regular file owned by the user running the prune that no one else may
write, of this format's version, whole, and written by a process that encodes file names as this
one does (the names in it are strings); anything else is ignored and rewritten. A file that
cannot be written is simply not kept.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

from .safeio import read_json_cache, write_json_atomically

VERSION = 3  # 2: folders kept per environment, by their path relative to it; 3: in a file of their own
GRANULARITY_NS = 2_000_000_000

Key = tuple[int, int, int, int]  # size, mtime_ns, inode, ctime_ns
Fields = tuple[str, str, str, "int | None", "str | None", "str | None"]  # name, version, build, link type, source, extracted


def default_path() -> Path:
    """The record summaries' file in the user's cache folder."""
    from .cachedir import default_cache_dir

    return default_cache_dir() / f"records-v{VERSION}.json"


def folders_path(records_path: Path) -> Path:
    """The folder summaries' file, beside the record summaries' one."""
    return records_path.with_name(f"folders-v{VERSION}.json")


def key_of(st: os.stat_result) -> Key:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


class _Kept:
    """One file of summaries: loaded when it may be trusted, written back by :meth:`save`."""

    _what = ""  # the key of the document holding the summaries

    def __init__(self, path: Path | None, granularity_ns: int | None = None) -> None:
        self.path = path
        self._old: dict[str, dict[str, list]] = {}
        self._new: dict[str, dict[str, list]] = {}
        self._written_ns = 0
        self._started_ns = time.time_ns()  # before anything is read: what the next run compares against
        # the margin before the file's writing within which a change counts as unseen
        self.granularity_ns = GRANULARITY_NS if granularity_ns is None else granularity_ns
        self.hits = self.misses = 0
        if path is not None:
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            st = os.lstat(path)
        except OSError:
            return
        if not _ours(st) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return
        data = read_json_cache(path)
        if (not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get(self._what), dict)
                or data.get("names") != names_encoding()):
            return
        written = data.get("started_ns")
        self._written_ns = written if isinstance(written, int) else 0
        self._old = data[self._what]

    def save(self) -> bool:
        """Write what this run used (atomically); forgets environments and items that are gone.
        True when a file was written."""
        if self.path is None or (self.misses == 0 and self._new.keys() == self._old.keys()):
            return False
        doc = {"version": VERSION, "started_ns": self._started_ns, "names": names_encoding(), self._what: self._new}
        return write_json_atomically(self.path, doc, f".{self._what}-")  # if not kept, the next run reads again


class RecordSummaries(_Kept):
    """Summaries by (environment, record file name)."""

    _what = "envs"

    def get(self, prefix: str, name: str, st: os.stat_result) -> Fields | None:
        entry = self._old.get(prefix, {}).get(name) if isinstance(self._old.get(prefix), dict) else None
        key = key_of(st)
        if (not isinstance(entry, list) or len(entry) != 2 or entry[0] != list(key) or self._recent(st)
                or not _valid(entry[1])):
            self.misses += 1
            return None
        self.hits += 1
        self._new.setdefault(prefix, {})[name] = entry
        return tuple(entry[1])  # type: ignore[return-value]

    def put(self, prefix: str, name: str, st: os.stat_result, fields: Fields) -> None:
        self._new.setdefault(prefix, {})[name] = [list(key_of(st)), list(fields)]

    def save(self) -> bool:
        """:meth:`_Kept.save`; then the files of earlier versions beside it go (``records-v1.json``
        and on, which also held the folder listings): only regular files of this user."""
        written = super().save()
        if written and self.path is not None and self.path.name == f"records-v{VERSION}.json":
            for n in range(1, VERSION):
                old = self.path.with_name(f"records-v{n}.json")
                try:
                    if _ours(os.lstat(old)):
                        os.unlink(old)
                except OSError:
                    continue
        return written

    def _recent(self, st: os.stat_result) -> bool:
        return max(st.st_mtime_ns, st.st_ctime_ns) >= self._written_ns - self.granularity_ns


class FolderSummaries(_Kept):
    """Listings by (environment walked, folder relative to it)."""

    _what = "dirs"

    def get_dir(self, env: str, rel: str, st: os.stat_result) -> tuple[list[str], list[list[str]]] | None:
        """A folder's subfolders and [name, target] of its symlinks, while it is unchanged.
        ``env``: the environment walked; ``rel``: the folder, relative to it ("" for itself)."""
        # called once per folder of every environment: checks in the order that fails fastest
        old = self._old.get(env)
        entry = old.get(rel) if type(old) is dict else None
        mtime, ctime = st.st_mtime_ns, st.st_ctime_ns
        if (type(entry) is not list or len(entry) != 6 or entry[2] != mtime or entry[3] != ctime
                or entry[1] != st.st_ino or entry[0] != st.st_dev
                or (mtime if mtime > ctime else ctime) >= self._written_ns - self.granularity_ns):
            self.misses += 1
            return None
        subdirs, links = entry[4], entry[5]
        if (type(subdirs) is not list or type(links) is not list
                or (subdirs and not all(type(d) is str for d in subdirs))
                or (links and not all(type(x) is list and len(x) == 2 and type(x[0]) is str and type(x[1]) is str
                                      for x in links))):
            self.misses += 1
            return None
        self.hits += 1
        self._new.setdefault(env, {})[rel] = entry
        return subdirs, links

    def put_dir(self, env: str, rel: str, st: os.stat_result, subdirs: list[str], links: list[list[str]]) -> None:
        self._new.setdefault(env, {})[rel] = [st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, subdirs, links]


def _ours(st: os.stat_result) -> bool:
    """A regular file of the user running the prune."""
    return stat.S_ISREG(st.st_mode) and (not hasattr(os, "geteuid") or st.st_uid == os.geteuid())


def names_encoding() -> list[str]:
    """How this process turns file names into bytes: whoever reads names kept as strings (a file
    of summaries, the second process of :mod:`.walker`) must agree on it."""
    return [sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()]


def _valid(fields: object) -> bool:
    if not isinstance(fields, list) or len(fields) != 6:
        return False
    name, version, build, link_type, source, extracted = fields
    return (all(isinstance(v, str) for v in (name, version, build))
            and (link_type is None or (isinstance(link_type, int) and not isinstance(link_type, bool)))
            and all(v is None or isinstance(v, str) for v in (source, extracted)))
