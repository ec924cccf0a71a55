"""The package-cache prune: which cache entries go, why, and what that really frees.

The decision for one cache entry lives in :func:`_decide` and :func:`_check_outside_links`;
read them to know why any entry stays or goes. In order:

1. An entry some scanned environment references (its conda-meta file name, ``link.source``
   or ``extracted_package_dir``) is **in use**, whatever the link type, unless every
   environment that references it was installed by copy (those do not need the cache).
2. The keep-list, ``--keep-latest``, a read-only cache, an entry owned by someone else, and an
   entry folder that is itself a symlink: kept, with the reason.
3. Safety nets for environments nobody can see: a symlink in a scanned environment that
   points into the entry, or a file of the entry with hardlinks outside everything being
   removed, keeps it ("in use by an environment outside the scan") with the evidence.
4. Everything else is unused and goes: folder and tarballs.

Bytes are exact: allocated blocks (not apparent sizes), each inode once, and a file counts only
when every one of its hardlinks is among what is removed.
"""

from __future__ import annotations

import errno
import fnmatch
import json
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import removal
from .caches import CacheEntry, PackageCache, TreeStats, scan_cache, tree_stats, user_name
from .envs import Discovery, discover
from .locations import Locations
from .records import LINK_COPY, LINK_NAMES, Problem, read_conda_meta

# reason codes (stable: they appear in --json)
IN_USE = "in-use"
UNUSED = "unused"
COPY_ONLY = "used-only-by-copies"
TARBALL = "tarball-of-kept-entry"
KEEP_LIST = "keep-list"
KEEP_LATEST = "keep-latest"
OUTSIDE_HARDLINK = "outside-scan-hardlink"
OUTSIDE_SYMLINK = "outside-scan-symlink"
READ_ONLY = "read-only-cache"
OTHER_OWNER = "other-owner"
SYMLINKED_ENTRY = "entry-is-symlink"
UNREADABLE = "unreadable"
DOUBT = "unreadable-record"

REMOVE = "remove"
KEEP = "keep"


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


@dataclass
class Decision:
    entry: CacheEntry
    action: str  # REMOVE or KEEP
    code: str
    reason: str
    evidence: str = ""
    users: list[Reference] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)  # what a real run removes
    freed_bytes: int = 0
    apparent_bytes: int = 0
    stats: TreeStats | None = field(default=None, repr=False)

    @property
    def referenced(self) -> bool:
        return bool(self.users)


@dataclass
class CachePlan:
    caches: list[PackageCache]
    discovery: Discovery
    decisions: list[Decision]
    problems: list[Problem] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)  # doubts that forbid any deletion
    leftovers: list[tuple[PackageCache, Path, TreeStats]] = field(default_factory=list)

    @property
    def removals(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == REMOVE and d.paths]

    @property
    def freed_bytes(self) -> int:
        return sum(d.freed_bytes for d in self.removals) + self.leftover_bytes

    @property
    def apparent_bytes(self) -> int:
        return sum(d.apparent_bytes for d in self.removals)

    @property
    def leftover_bytes(self) -> int:
        return sum(_freed(s) for _, _, s in self.leftovers)

    def kept_unreferenced(self) -> list[Decision]:
        """Entries no environment references that stay anyway, each with its reason."""
        return [d for d in self.decisions if d.action == KEEP and d.code != IN_USE]

    def in_use(self) -> list[Decision]:
        return [d for d in self.decisions if d.code == IN_USE]


Progress = Callable[[str, int, int], None]  # (what, done, total)


def _no_progress(what: str, done: int, total: int) -> None:
    pass


# -- references ----------------------------------------------------------------------------------


class _ReferenceIndex:
    """Which environment records point at which cache entry."""

    def __init__(self, caches: list[PackageCache]) -> None:
        self.by_real_cache = {str(c.real): c for c in caches}
        for c in caches:
            self.by_real_cache.setdefault(os.path.normpath(str(c.path)), c)
        self.by_entry: dict[tuple[str, str], list[Reference]] = {}  # (cache real, dist)
        self.by_name: dict[str, list[Reference]] = {}  # dist -> refs with no usable path
        self._realdirs: dict[str, str] = {}

    def _cache_of(self, source: str) -> tuple[PackageCache, str] | None:
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
            ref = Reference(prefix, dist, link_type, via)
            refs = self.by_entry.setdefault((str(cache.real), base), [])
            if not any(r.prefix == prefix and r.dist == dist for r in refs):
                refs.append(ref)
            placed = True
        if not placed:
            # no path into a known cache (another tool's record, a moved cache): match by name
            self.by_name.setdefault(dist, []).append(Reference(prefix, dist, link_type, "name"))

    def users(self, cache: PackageCache, entry: CacheEntry) -> list[Reference]:
        refs = list(self.by_entry.get((str(cache.real), entry.dist), ()))
        refs += self.by_name.get(entry.dist, ())
        return refs


def _read_references(
    caches: list[PackageCache], discovery: Discovery, problems: list[Problem], blockers: list[str],
    progress: Progress, ignore: Mapping[Path, Collection[str]] | None = None,
) -> _ReferenceIndex:
    index = _ReferenceIndex(caches)
    envs = discovery.environments
    ignore = {os.path.realpath(p): set(d) for p, d in (ignore or {}).items()}
    for n, env in enumerate(envs):
        progress("reading environments", n, len(envs))
        data = read_conda_meta(env.prefix, with_files=False, canonical=True)
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


def _symlinks_into_caches(
    discovery: Discovery, caches: list[PackageCache], locations: Locations, progress: Progress
) -> dict[tuple[str, str], str]:
    """(cache real, entry) -> one symlink in a scanned environment that points into it.

    Reads directory listings only (``d_type`` tells symlinks apart), and ``readlink`` for
    symlinks, so it costs far less than a stat of every file."""
    roots: list[tuple[str, str]] = []  # (a spelling of the cache + "/", its real path)
    for c in caches:
        for spelling in dict.fromkeys((str(c.real), os.path.normpath(str(c.path)))):
            roots.append((spelling + os.sep, str(c.real)))
    skip = {str(c.real) for c in caches} | {os.path.normpath(str(c.path)) for c in caches}
    skip |= {os.path.normpath(str(d)) for d in locations.envs_dirs}
    skip |= {str(env.prefix) for env in discovery.environments}
    found: dict[tuple[str, str], str] = {}
    envs = discovery.environments
    for n, env in enumerate(envs):
        progress("looking for symlinks into caches", n, len(envs))
        stack = [str(env.prefix)]
        while stack:
            current = stack.pop()
            try:
                with os.scandir(current) as it:
                    children = list(it)
            except OSError:
                continue
            for child in children:
                try:
                    if child.is_symlink():
                        target = os.readlink(child.path)
                        resolved = os.path.normpath(os.path.join(current, target))
                        for root, cache_real in roots:
                            if resolved.startswith(root):
                                entry = resolved[len(root):].split(os.sep, 1)[0]
                                found.setdefault((cache_real, entry), child.path)
                                break
                    elif child.is_dir(follow_symlinks=False):
                        if child.path in skip or child.name == "conda-meta":
                            continue  # other environments, caches: scanned on their own
                        stack.append(child.path)
                except OSError:
                    continue
    progress("looking for symlinks into caches", len(envs), len(envs))
    return found


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


def _newest(entries: list[CacheEntry], n: int) -> set[int]:
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


# -- the decision ----------------------------------------------------------------------------


def _decide(
    cache: PackageCache,
    entry: CacheEntry,
    users: list[Reference],
    symlink_evidence: str | None,
    keep_patterns: tuple[str, ...],
    latest: bool,
    euid: int | None,
) -> Decision:
    """Everything about one entry that needs no stat of its files."""
    needing = [u for u in users if u.link_type != LINK_COPY]
    if needing:
        envs = sorted({str(u.prefix) for u in needing})
        kinds = sorted({u.link_name for u in needing})
        why = f"used by {len(envs)} environment{'s' if len(envs) != 1 else ''} ({', '.join(kinds)})"
        if any(u.link_type is None for u in needing):
            why += "; an unreadable record names it"
        return Decision(entry, KEEP, IN_USE if all(u.link_type is not None for u in needing) else DOUBT,
                        why, evidence=envs[0], users=users)
    matched = next((p for p in keep_patterns if fnmatch.fnmatchcase(entry.name, p)), None)
    if matched:
        return Decision(entry, KEEP, KEEP_LIST, f"on the keep-list ({matched})", users=users)
    if latest:
        return Decision(entry, KEEP, KEEP_LATEST, "one of the newest builds kept by --keep-latest", users=users)
    if symlink_evidence:
        return Decision(entry, KEEP, OUTSIDE_SYMLINK,
                        "in use by an environment outside the scan: a symlink points into it",
                        evidence=symlink_evidence, users=users)
    if entry.folder_is_symlink:
        target = os.path.realpath(entry.folder) if entry.folder else ""
        return Decision(entry, KEEP, SYMLINKED_ENTRY, f"the entry is a symlink to {target}; left alone",
                        evidence=str(entry.folder), users=users)
    if cache.read_only:
        return Decision(entry, KEEP, READ_ONLY, f"the cache {cache.read_only}", evidence=str(cache.path), users=users)
    if euid is not None and entry.owner_uid is not None and entry.owner_uid != euid:
        owner = user_name(entry.owner_uid)
        return Decision(entry, KEEP, OTHER_OWNER, f"owned by {owner}; run the prune as {owner} to remove it",
                        evidence=str(entry.folder or entry.tarballs[0]), users=users)
    if users:
        envs = sorted({str(u.prefix) for u in users})
        return Decision(entry, REMOVE, COPY_ONLY,
                        "used only by copy-installed environments, which do not need the cache",
                        evidence=", ".join(envs), users=users, paths=entry.paths())
    return Decision(entry, REMOVE, UNUSED, "no environment uses it", paths=entry.paths())


def _tarball_rule(cache: PackageCache, entry: CacheEntry, d: Decision, tarballs: bool, euid: int | None) -> Decision:
    """An entry kept in use (or by --keep-latest / the keep-list) may still lose its tarballs
    with ``--tarballs``: environments never link from a tarball. The read-only and owner rules
    apply to the tarballs as to entries."""
    if d.action != KEEP or not entry.tarballs:
        return d
    folder_stays = entry.folder is not None and d.code in (IN_USE, KEEP_LATEST, KEEP_LIST)
    only_tarball = entry.folder is None and d.code == IN_USE
    if not (folder_stays or only_tarball):
        return d
    if not tarballs:
        if only_tarball:
            d.reason += "; only its tarball is cached (use --tarballs to drop it)"
        return d
    if cache.read_only:
        d.reason += f"; its tarball stays: the cache {cache.read_only}"
        return d
    others = sorted({uid for uid in entry.tarball_owners.values() if euid is not None and uid != euid})
    if others:
        owner = user_name(others[0])
        d.reason += f"; its tarball stays: owned by {owner} (run the prune as {owner} to remove it)"
        return d
    if folder_stays:
        return Decision(entry, REMOVE, TARBALL, f"tarball of an entry that stays extracted ({d.reason})",
                        users=d.users, paths=list(entry.tarballs))
    return Decision(entry, REMOVE, TARBALL, "tarball of an installed package; the environments do not need it",
                    users=d.users, paths=list(entry.tarballs))


def _merge_stats(paths: list[Path]) -> TreeStats:
    total = TreeStats()
    for path in paths:
        tree_stats(path, into=total)
    return total


def _freed(stats: TreeStats) -> int:
    return stats.dirs_bytes + sum(b for seen, nlink, b, _ in stats.inodes.values() if seen >= nlink)


def _links_that_go(what_if: Mapping[Path, Collection[str]]) -> dict[tuple[int, int], int]:
    """(dev, ino) -> links in environments whose records a what-if removes along with the entries."""
    links: dict[tuple[int, int], int] = {}
    for prefix, dists in what_if.items():
        data = read_conda_meta(Path(prefix), with_files=True)
        for rec in data.records:
            if rec.dist not in dists:
                continue
            for rel in rec.files:
                try:
                    st = os.lstat(os.path.join(prefix, rel))
                except OSError:
                    continue
                if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                    key = (st.st_dev, st.st_ino)
                    links[key] = links.get(key, 0) + 1
    return links


def _check_outside_links(removals: list[Decision], also_gone: Mapping[tuple[int, int], int] | None = None) -> None:
    """Keep every entry with a file that has hardlinks outside the whole removal set.

    Links inside one entry (two names for one binary) and links between two entries that both
    go are accounted for; a link anywhere else (an environment nobody scanned, an entry that
    stays) means the file is not freed and something may still use it. Removing one entry
    from the set can expose another, so repeat until nothing changes."""
    # only inodes with more than one link can have a link elsewhere
    shared = {
        id(d): [(key, v) for key, v in d.stats.inodes.items() if v[1] > 1]
        for d in removals if d.stats is not None
    }
    while True:
        active = [d for d in removals if d.action == REMOVE and d.stats is not None]
        seen_total: dict[tuple[int, int], int] = dict(also_gone or {})
        for d in active:
            for key, (seen, _, _, _) in shared[id(d)]:
                seen_total[key] = seen_total.get(key, 0) + seen
        changed = False
        for d in active:
            for key, (_, nlink, _, where) in shared[id(d)]:
                if nlink > seen_total[key]:
                    d.action, d.code = KEEP, OUTSIDE_HARDLINK
                    d.reason = "in use by an environment outside the scan: its files have other hardlinks"
                    d.evidence = f"{where} has {nlink} links, {seen_total[key]} of them in the cache entry"
                    d.paths = []
                    changed = True
                    break
        if not changed:
            break
    # exact bytes: an inode is freed once, by the entry seen first, when all its links go
    claimed: set[tuple[int, int]] = set()
    for d in removals:
        if d.action != REMOVE or d.stats is None:
            continue
        freed = d.stats.dirs_bytes
        for key, (_, nlink, blocks, _) in d.stats.inodes.items():
            if nlink == 1:
                freed += blocks
            elif key not in claimed and seen_total.get(key, 0) >= nlink:
                claimed.add(key)
                freed += blocks
        d.freed_bytes = freed
        d.apparent_bytes = d.stats.apparent_bytes


def plan_cache_prune(
    locations: Locations,
    search_paths: Iterable[Path] = (),
    *,
    keep_latest: int = 0,
    tarballs: bool = False,
    ignore_unreachable: bool = False,
    progress: Progress = _no_progress,
    extra_removed_prefix_records: Mapping[Path, Collection[str]] | None = None,
) -> CachePlan:
    """Decide, for every entry of every package cache, whether it goes and why. Reads only.

    ``extra_removed_prefix_records`` asks "what if": records (prefix -> dists) treated as already
    removed, their files' hardlinks as gone, to tell what a cache prune would free after an
    environment prune. Such a plan is for reporting only, never for :func:`execute_plan`."""
    caches = [scan_cache(p) for p in locations.pkgs_dirs]
    problems: list[Problem] = [p for c in caches for p in c.problems]
    discovery = discover(locations, search_paths)
    problems += discovery.problems
    blockers: list[str] = []
    if not ignore_unreachable:
        blockers += [m.advice for m in discovery.unreachable] + discovery.doubts
    index = _read_references(caches, discovery, problems, blockers, progress, extra_removed_prefix_records)
    if ignore_unreachable:
        blockers = [b for b in blockers if "--ignore-unreachable" not in b]
    symlinks = _symlinks_into_caches(discovery, caches, locations, progress)
    all_entries = [e for c in caches for e in c.entries.values()]
    latest = _newest(all_entries, keep_latest) if keep_latest > 0 else set()
    euid = os.geteuid() if hasattr(os, "geteuid") else None

    decisions: list[Decision] = []
    for cache in caches:
        for entry in cache.entries.values():
            d = _decide(cache, entry, index.users(cache, entry), symlinks.get((str(cache.real), entry.dist)),
                        locations.keep, id(entry) in latest, euid)
            decisions.append(_tarball_rule(cache, entry, d, tarballs, euid))

    removals = [d for d in decisions if d.action == REMOVE]
    for n, d in enumerate(removals):
        progress("measuring unused entries", n, len(removals))
        d.stats = _merge_stats(d.paths)
        if d.stats.errors:
            d.action, d.code, d.paths = KEEP, UNREADABLE, []
            d.reason = f"could not read all of it ({d.stats.errors[0].message}); nothing deleted. Make it readable to prune it"
            d.evidence = str(d.stats.errors[0].path)
    progress("measuring unused entries", len(removals), len(removals))
    _check_outside_links(removals, _links_that_go(extra_removed_prefix_records) if extra_removed_prefix_records else None)

    leftovers = []
    for cache in caches:
        if cache.leftovers and cache.read_only:
            problems.append(Problem(cache.path, (
                f"holds {len(cache.leftovers)} item(s) an interrupted prune left in its trash, but the cache "
                f"{cache.read_only}: left alone. Rerun where you may write it")))
            continue
        for item in cache.leftovers:
            leftovers.append((cache, item, tree_stats(item)))
    decisions.sort(key=lambda d: (str(d.entry.cache), d.entry.dist))
    return CachePlan(caches, discovery, decisions, problems, blockers, leftovers)


# -- doing it -----------------------------------------------------------------------------------


@dataclass
class PruneResult:
    removed: list[Decision] = field(default_factory=list)
    restored: list[tuple[Decision, str]] = field(default_factory=list)  # came into use meanwhile
    failed: list[tuple[Decision, str]] = field(default_factory=list)
    finished_leftovers: list[Path] = field(default_factory=list)
    freed_bytes: int = 0


def _delete_trashed(trash: removal.Trash, trashed: str) -> None:
    """Delete one item of the trash (all deletion is :func:`removal.delete_at`)."""
    trash.delete(trashed)


def _current_users(locations: Locations, search_paths: Iterable[Path], caches: list[PackageCache]) -> _ReferenceIndex:
    discovery = discover(locations, search_paths)
    return _read_references(caches, discovery, [], [], _no_progress)


def _links_grew(trash: removal.Trash, trashed: list[str], stats: TreeStats | None) -> str | None:
    """A file of the entry gained a hardlink since the scan: something linked it meanwhile."""
    if stats is None:
        return None
    now = _merge_stats([trash.path / t for t in trashed])
    before = {key: nlink for key, (_, nlink, _, _) in stats.inodes.items()}
    for key, (_, nlink, _, where) in now.inodes.items():
        if nlink > before.get(key, nlink):
            return f"{where} gained a hardlink during the prune"
    return None


def execute_plan(
    plan: CachePlan,
    locations: Locations,
    search_paths: Iterable[Path] = (),
    progress: Progress = _no_progress,
) -> PruneResult:
    """Remove what the plan says, crash-safely, and re-check for environments that started
    using an entry while the prune ran (there is no global lock on package caches). Every
    move and deletion goes through :class:`removal.Trash`."""
    result = PruneResult()
    caches = {str(c.path): c for c in plan.caches}
    search_paths = list(search_paths)
    trashes: dict[str, removal.Trash] = {}

    def trash_of(cache: PackageCache) -> removal.Trash:
        trash = trashes.get(str(cache.real))
        if trash is None:
            trash = trashes[str(cache.real)] = removal.Trash(cache.real)
        return trash

    try:
        _execute(plan, locations, search_paths, progress, result, caches, trash_of)
    finally:
        for trash in trashes.values():
            trash.close()
    return result


def _failure(exc: OSError, what: str) -> str:
    return f"{exc.strerror or exc}: {exc.filename or what}"


def _execute(plan: CachePlan, locations: Locations, search_paths: list[Path], progress: Progress,
             result: PruneResult, caches: dict[str, PackageCache],
             trash_of: Callable[[PackageCache], removal.Trash]) -> None:
    # 1. move every entry out of conda's sight, one rename per folder or tarball
    moved: list[tuple[Decision, removal.Trash, list[tuple[str, str]]]] = []
    removals = plan.removals
    for n, d in enumerate(removals):
        progress("removing", n, len(removals))
        cache = caches[str(d.entry.cache)]
        done: list[tuple[str, str]] = []
        try:
            trash = trash_of(cache)
            for path in sorted(d.paths, key=lambda p: p.is_dir()):  # tarballs first
                done.append((path.name, trash.move_in(path.name, d.entry.identity.get(path.name))))
        except OSError as exc:
            for original, trashed in reversed(done):
                trash.restore(trashed, original)
            result.failed.append((d, _failure(exc, d.entry.dist)))
            continue
        moved.append((d, trash, done))

    # 2. did anything start using them meanwhile? a new record, or a new hardlink
    if moved:
        index = _current_users(locations, search_paths, plan.caches)
        for d, trash, done in list(moved):
            if d.code == TARBALL:
                continue  # the extracted folder stays: environments never link from a tarball
            cache = caches[str(d.entry.cache)]
            fresh = [u for u in index.users(cache, d.entry) if u.link_type != LINK_COPY]
            grew = _links_grew(trash, [t for _, t in done], d.stats)
            if fresh or grew:
                for original, trashed in reversed(done):
                    if trash.restore(trashed, original):
                        continue
                    try:  # extracted again meanwhile: environments link from that copy, not this one
                        _delete_trashed(trash, trashed)
                    except OSError:
                        pass  # the next run finishes it
                why = grew or f"an environment started using it during the prune ({fresh[0].prefix})"
                result.restored.append((d, why))
                moved.remove((d, trash, done))

    # 3. delete; a kill from here on leaves only trash that the next run finishes
    for d, trash, done in moved:
        try:
            for _, trashed in done:
                _delete_trashed(trash, trashed)
        except OSError as exc:
            result.failed.append((d, f"{exc.strerror or exc}: {exc.filename or ''}; the rest is in {trash.path} "
                                     "and the next run finishes it"))
            continue
        result.removed.append(d)
        result.freed_bytes += d.freed_bytes
    progress("removing", len(removals), len(removals))

    # 4. trash an interrupted run of ours left behind: finish it, unless it turned out to be in
    # use or on the keep-list (then it goes back, whole)
    if plan.leftovers:
        index = _current_users(locations, search_paths, plan.caches)
        for cache, item, stats in plan.leftovers:
            original = removal.original_name(item.name) or item.name
            dist = original
            for suffix in (".conda", ".tar.bz2"):
                dist = dist.removesuffix(suffix)
            entry = CacheEntry(cache=cache.path, dist=dist)
            users = [u for u in index.users(cache, entry) if u.link_type != LINK_COPY]
            kept = next((p for p in locations.keep if fnmatch.fnmatchcase(entry.name, p)), None)
            outside = any(nlink > seen for seen, nlink, _, _ in stats.inodes.values())
            try:
                trash = trash_of(cache)
                if users or outside or kept:
                    # wanted again: put it back, but only whole (a kill mid-deletion leaves part of
                    # it, and conda would link from an incomplete entry); a refilled slot needs no copy
                    if trash.complete(item.name) and trash.restore(item.name, original):
                        continue
                    if not os.path.lexists(cache.real / original):
                        why = (f"{users[0].prefix} uses it" if users else f"it is on the keep-list ({kept})"
                               if kept else "its files have other hardlinks")
                        result.failed.append((
                            Decision(entry, KEEP, IN_USE if not kept else KEEP_LIST, why),
                            f"an interrupted prune deleted part of it and {why}; the rest stays in "
                            f"{item.parent}. Reinstall {entry.name} there (conda install --force-reinstall "
                            f"{entry.name}), then rerun",
                        ))
                        continue
                _delete_trashed(trash, item.name)
            except OSError:
                continue
            result.finished_leftovers.append(item)
            result.freed_bytes += _freed(stats)
