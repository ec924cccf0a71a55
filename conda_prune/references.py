"""Which environment records point at which cache entry, and which symlinks in scanned
environments point into one: the facts the cache plan judges an entry by. Reads only."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .caches import CacheEntry, PackageCache
from .envs import Discovery
from .locations import Locations
from .records import LINK_NAMES, Problem, read_conda_meta
from .summaries import FolderSummaries, RecordSummaries
from .walker import Root, walk

Progress = Callable[[str, int, int], None]  # (what, done, total)


def no_progress(what: str, done: int, total: int) -> None:
    pass


@dataclass(frozen=True)
class Reference:
    """An environment's record that points at a cache entry."""

    prefix: Path
    dist: str
    link_type: int | None  # None: unknown (the record could not be read)
    via: str  # "link.source", "extracted_package_dir" or "name"

    @property
    def link_name(self) -> str:
        return LINK_NAMES.get(self.link_type or 0, "unknown")


class ReferenceIndex:
    """Which environment records point at which cache entry."""

    def __init__(self, caches: list[PackageCache]) -> None:
        self.by_real_cache = {str(c.real): c for c in caches}
        for c in caches:
            self.by_real_cache.setdefault(os.path.normpath(str(c.path)), c)
        self.by_entry: dict[tuple[str, str], list[Reference]] = {}  # (cache real, dist)
        self.by_name: dict[str, list[Reference]] = {}  # dist -> refs with no usable path
        self._realdirs: dict[str, str] = {}
        self._sources: dict[str, tuple[PackageCache, str] | None] = {}  # every record names its source twice
        self._added: set[tuple[str, str, str, str]] = set()  # (cache real, entry, prefix, dist)

    def _cache_of(self, source: str) -> tuple[PackageCache, str] | None:
        try:
            return self._sources[source]
        except KeyError:
            found = self._sources[source] = self._find_cache(source)
            return found

    def _find_cache(self, source: str) -> tuple[PackageCache, str] | None:
        parent, base = os.path.split(os.path.normpath(source))
        real = self._realdirs.get(parent)
        if real is None:
            try:
                real = os.path.realpath(parent)
            except OSError:  # pragma: no cover
                real = parent
            self._realdirs[parent] = real
        cache = self.by_real_cache.get(real) or self.by_real_cache.get(parent)
        return (cache, base) if cache is not None else None

    def add(self, prefix: Path, dist: str, link_type: int | None, sources: Iterable[str]) -> None:
        placed = False
        for via, source in sources:
            found = self._cache_of(source)
            if found is None:
                continue
            cache, base = found
            key = (str(cache.real), base)
            seen = (*key, str(prefix), dist)
            if seen not in self._added:
                self._added.add(seen)
                self.by_entry.setdefault(key, []).append(Reference(prefix, dist, link_type, via))
            placed = True
        if not placed:
            # no path into a known cache (another tool's record, a moved cache): match by name
            self.by_name.setdefault(dist, []).append(Reference(prefix, dist, link_type, "name"))

    def users(self, cache: PackageCache, entry: CacheEntry, cache_real: str | None = None) -> list[Reference]:
        """``cache_real``: ``str(cache.real)``, when the caller has it (a loop over every entry)."""
        refs = list(self.by_entry.get((cache_real or str(cache.real), entry.dist), ()))
        refs += self.by_name.get(entry.dist, ())
        return refs


def read_references(
    caches: list[PackageCache], discovery: Discovery, problems: list[Problem], blockers: list[str],
    progress: Progress = no_progress, ignore: Mapping[Path, Collection[str]] | None = None,
    summaries: RecordSummaries | None = None,
) -> ReferenceIndex:
    index = ReferenceIndex(caches)
    envs = discovery.environments
    ignore = {os.path.realpath(p): set(d) for p, d in (ignore or {}).items()}
    for n, env in enumerate(envs):
        progress("reading environments", n, len(envs))
        data = read_conda_meta(env.prefix, with_files=False, canonical=True, summaries=summaries)
        problems.extend(data.problems)
        skipped = ignore.get(os.path.realpath(env.prefix), set())
        for rec in data.records:
            if rec.dist in skipped:
                continue  # a what-if: this record is about to be removed
            sources = [("link.source", rec.link_source)] if rec.link_source else []
            if rec.extracted_package_dir:
                sources.append(("extracted_package_dir", rec.extracted_package_dir))
            index.add(env.prefix, rec.dist, rec.link_type, [(v, s) for v, s in sources if s])
        for dist in data.unreadable:
            if dist == "*":
                blockers.append(
                    f"cannot read {env.prefix / 'conda-meta'}: the packages that environment uses are "
                    "unknown. Fix its permissions, or pass --ignore-unreachable to prune anyway."
                )
                continue
            # what this record references is unknown: keep every entry of that name
            index.by_name.setdefault(dist, []).append(Reference(env.prefix, dist, None, "name"))
    progress("reading environments", len(envs), len(envs))
    return index


def walk_args(discovery: Discovery, caches: list[PackageCache], locations: Locations,
              ) -> tuple[list[str], list[Root], set[str]]:
    """What the symlink walk needs: the environments to walk, each spelling of each cache (with a
    trailing separator) beside its real path, and the folders not to enter (other environments,
    the caches, the environment folders: each scanned on its own)."""
    roots: list[Root] = []
    for c in caches:
        for spelling in dict.fromkeys((str(c.real), os.path.normpath(str(c.path)))):
            roots.append((spelling + os.sep, str(c.real)))
    skip = {str(c.real) for c in caches} | {os.path.normpath(str(c.path)) for c in caches}
    skip |= {os.path.normpath(str(d)) for d in locations.envs_dirs}
    skip |= {str(env.prefix) for env in discovery.environments}
    return [str(env.prefix) for env in discovery.environments], roots, skip


def symlinks_into_caches(
    discovery: Discovery, caches: list[PackageCache], locations: Locations, progress: Progress,
    *, folders: Path | None = None,
) -> dict[tuple[str, str], str]:
    """(cache real, entry) -> one symlink in a scanned environment that points into it
    (:func:`.walker.walk`, in this process). ``folders``: the folder summaries' file, read
    before the walk and written after (None: every folder is listed)."""
    envs, roots, skip = walk_args(discovery, caches, locations)
    summaries = FolderSummaries(folders) if folders is not None else None

    def step(done: int, total: int) -> None:
        progress("looking for symlinks into caches", done, total)

    found = walk(envs, roots, skip, summaries, step)
    if summaries is not None:
        summaries.save()
    return found
