"""The package-cache plan: which cache entries go, why, and what that really frees. Reads only.

The verdict for one cache entry is :func:`judge`, one function with every rule in order,
returning an immutable :class:`Decision`. :func:`plan_cache_prune` gathers the facts it needs
(the environments that reference an entry, the symlinks into it, what measuring it found) and
calls it; afterwards only the byte figures of an entry that goes are filled in (an inode shared
by two entries counts for the first), never its verdict. The rules, in the order ``judge``
applies them (the first that matches decides the reason shown):

1. An entry some scanned environment references (its conda-meta file name, ``link.source``
   or ``extracted_package_dir``) is **in use**, whatever the link type, unless every
   environment that references it was installed by copy (those do not need the cache). A
   record that cannot be read but names it keeps it too (``unreadable-record``).
2. The keep-list, then ``--keep-latest``: kept.
   (With ``--tarballs``, an entry kept by 1 or 2 still loses its tarballs, unless the cache is
   read-only or the tarball belongs to another user.)
3. Safety net for environments nobody can see: a symlink in a scanned environment points into
   the entry ("in use by an environment outside the scan").
4. Not ours to remove: an entry folder that is itself a symlink, a read-only cache, an entry
   owned by someone else.
5. The only copy of a package (it came from a local file or ``file://`` channel that is gone,
   or nothing records where it came from) is kept unless ``--include-local``.
6. Measured, for what would go: an entry that could not be read whole is kept; one with a file
   that has hardlinks outside everything being removed is kept ("in use by an environment
   outside the scan").
7. Everything else goes, folder and tarballs: "used only by copy-installed environments", or
   "no environment uses it".

What an interrupted prune left in the trash is judged by :func:`judge_leftover`: the same
rules 1, 2 and 6, asked when the run that would finish it gets to it.

Bytes are exact: allocated blocks (not apparent sizes), each inode once, and a file counts only
when every one of its hardlinks is among what is removed. Deleting is :mod:`.removal`'s.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import partial
from pathlib import Path

from .caches import (
    TARBALL_SUFFIXES,
    CacheEntry,
    PackageCache,
    cache_spelling,
    euid,
    lock_file_name,
    newest_builds,
    only_copy,
    original_name,
    scan_cache,
    strip_tarball_suffix,
    user_name,
)
from .envs import Discovery, discover
from .locations import Locations, keep_pattern
from .records import LINK_COPY, Problem, read_conda_meta
from .references import (
    Progress,
    Reference,
    ReferenceIndex,
    no_progress,
    read_references,
    symlinks_into_caches,
    walk_args,
)
from .summaries import RecordSummaries, folders_path
from .treestats import TreeStats, files_stats, tree_stats
from .walker import Helper, found_from_json, measure_shared, measure_until_answered, walk_job


class Reason(str, Enum):  # (str, Enum), not StrEnum: Python 3.10 is supported
    """Why an entry stays or goes: stable codes, the same in ``--json`` and in the text view."""

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
    ONLY_COPY = "only-copy"

    def __str__(self) -> str:
        return self.value


class Action(str, Enum):
    REMOVE = "remove"
    KEEP = "keep"

    def __str__(self) -> str:
        return self.value


# the names the rest of the code (and the tests) use
IN_USE, UNUSED, COPY_ONLY, TARBALL = Reason.IN_USE, Reason.UNUSED, Reason.COPY_ONLY, Reason.TARBALL
KEEP_LIST, KEEP_LATEST, READ_ONLY, OTHER_OWNER = Reason.KEEP_LIST, Reason.KEEP_LATEST, Reason.READ_ONLY, Reason.OTHER_OWNER
OUTSIDE_HARDLINK, OUTSIDE_SYMLINK = Reason.OUTSIDE_HARDLINK, Reason.OUTSIDE_SYMLINK
SYMLINKED_ENTRY, UNREADABLE, DOUBT, ONLY_COPY = Reason.SYMLINKED_ENTRY, Reason.UNREADABLE, Reason.DOUBT, Reason.ONLY_COPY
REMOVE, KEEP = Action.REMOVE, Action.KEEP




@dataclass(frozen=True)
class Decision:
    """The verdict for one cache entry. Made once, by :func:`judge`; never changed."""

    entry: CacheEntry
    action: Action
    code: Reason
    reason: str
    evidence: str = ""
    users: tuple[Reference, ...] = ()
    paths: tuple[Path, ...] = ()  # what a real run removes
    freed_bytes: int = 0
    apparent_bytes: int = 0
    stats: TreeStats | None = field(default=None, repr=False, compare=False)

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
    leftovers: list[tuple[PackageCache, Path, TreeStats]] = field(default_factory=list)  # to finish
    #: what an interrupted prune left that is wanted again (:func:`judge_leftover`): put back whole
    leftovers_kept: list[tuple[PackageCache, Path, Decision]] = field(default_factory=list)
    tarballs: bool = False  # --tarballs: the real run judges leftover tarballs the same way
    #: doubts --ignore-unreachable set aside: the real run does not take them as new
    ignored_doubts: list[str] = field(default_factory=list)

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
        return sum(freed(s) for _, _, s in self.leftovers)

    def kept_unreferenced(self) -> list[Decision]:
        """Entries no environment references that stay anyway, each with its reason."""
        return [d for d in self.decisions if d.action == KEEP and d.code != IN_USE]

    def in_use(self) -> list[Decision]:
        return [d for d in self.decisions if d.code == IN_USE]








# -- the verdict ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryFacts:
    """Everything the verdict for one entry depends on."""

    cache: PackageCache
    entry: CacheEntry
    users: tuple[Reference, ...]
    symlink_evidence: str | None  # a symlink in a scanned environment that points into the entry
    keep_match: str | None  # the keep-list pattern it matches
    latest: bool  # one of the newest builds kept by --keep-latest
    euid: int | None
    tarballs: bool  # --tarballs
    include_local: bool = False  # --include-local
    stats: TreeStats | None = None  # measured (only for entries that would go)
    outside_link: str | None = None  # measured: a file with hardlinks outside everything removed
    only_copy: str | None = None  # measured: why nothing can fetch the package again


def judge(f: EntryFacts) -> Decision:
    """The verdict for one cache entry: every rule, in the order of the module docstring."""
    entry, users = f.entry, f.users
    needing = [u for u in users if u.link_type != LINK_COPY]
    kept: Decision | None = None
    if needing:  # 1. in use
        envs = sorted({str(u.prefix) for u in needing})
        kinds = sorted({u.link_name for u in needing})
        why = f"used by {len(envs)} environment{'s' if len(envs) != 1 else ''} ({', '.join(kinds)})"
        unknown = any(u.link_type is None for u in needing)
        if unknown:
            why += "; an unreadable record names it"
        kept = Decision(entry, KEEP, DOUBT if unknown else IN_USE, why, evidence=envs[0], users=users)
    elif f.keep_match:  # 2. the keep-list, --keep-latest
        kept = Decision(entry, KEEP, KEEP_LIST, f"on the keep-list ({f.keep_match})", users=users)
    elif f.latest:
        kept = Decision(entry, KEEP, KEEP_LATEST, "one of the newest builds kept by --keep-latest", users=users)
    if kept is not None:
        return _measured(f, _tarballs_of_kept(f, kept))
    if f.symlink_evidence:  # 3. a symlink from an environment nobody registered
        return Decision(entry, KEEP, OUTSIDE_SYMLINK,
                        "in use by an environment outside the scan: a symlink points into it",
                        evidence=f.symlink_evidence, users=users)
    if entry.folder_is_symlink:  # 4. what is not ours to remove
        target = os.path.realpath(entry.folder) if entry.folder else ""
        return Decision(entry, KEEP, SYMLINKED_ENTRY, f"the entry is a symlink to {target}; left alone",
                        evidence=str(entry.folder), users=users)
    if f.cache.read_only:
        return Decision(entry, KEEP, READ_ONLY, f"the cache {f.cache.read_only}", evidence=str(f.cache.path),
                        users=users)
    if f.euid is not None and entry.owner_uid is not None and entry.owner_uid != f.euid:
        owner = user_name(entry.owner_uid)
        return Decision(entry, KEEP, OTHER_OWNER, f"owned by {owner}; run the prune as {owner} to remove it",
                        evidence=str(entry.folder or entry.tarballs[0]), users=users)
    if f.only_copy and not f.include_local:  # 5. a package nothing can download again
        return Decision(entry, KEEP, ONLY_COPY, f"{f.only_copy}; --include-local lets it go",
                        evidence=str(entry.folder or entry.tarballs[0]), users=users)
    if users:  # 7. goes (after 6, what measuring found)
        envs = sorted({str(u.prefix) for u in users})
        goes = Decision(entry, REMOVE, COPY_ONLY,
                        "used only by copy-installed environments, which do not need the cache",
                        evidence=", ".join(envs), users=users, paths=tuple(entry.paths()))
    else:
        goes = Decision(entry, REMOVE, UNUSED, "no environment uses it", paths=tuple(entry.paths()))
    return _measured(f, goes)


def _tarballs_of_kept(f: EntryFacts, kept: Decision) -> Decision:
    """An entry kept in use (or by --keep-latest / the keep-list) may still lose its tarballs
    with ``--tarballs``: environments never link from a tarball. The read-only and owner rules
    apply to the tarballs as to entries."""
    entry = f.entry
    if not entry.tarballs:
        return kept
    folder_stays = entry.folder is not None
    only_tarball = entry.folder is None and kept.code == IN_USE
    if not (folder_stays or only_tarball):
        return kept
    if not f.tarballs:
        if only_tarball:
            return replace(kept, reason=kept.reason + "; only its tarball is cached (use --tarballs to drop it)")
        return kept
    if f.cache.read_only:
        return replace(kept, reason=kept.reason + f"; its tarball stays: the cache {f.cache.read_only}")
    others = sorted({uid for uid in entry.tarball_owners.values() if f.euid is not None and uid != f.euid})
    if others:
        owner = user_name(others[0])
        return replace(kept, reason=kept.reason + f"; its tarball stays: owned by {owner} (run the prune as {owner} to remove it)")
    if folder_stays:
        return Decision(entry, REMOVE, TARBALL, f"tarball of an entry that stays extracted ({kept.reason})",
                        users=kept.users, paths=tuple(entry.tarballs))
    return Decision(entry, REMOVE, TARBALL, "tarball of an installed package; the environments do not need it",
                    users=kept.users, paths=tuple(entry.tarballs))


def _measured(f: EntryFacts, d: Decision) -> Decision:
    """6. what measuring an entry that would go found."""
    if d.action != REMOVE or f.stats is None:
        return d
    if f.stats.errors:
        error = f.stats.errors[0]
        return Decision(f.entry, KEEP, UNREADABLE,
                        f"could not read all of it ({error.message}); nothing deleted. Make it readable to prune it",
                        evidence=str(error.path), users=d.users, stats=f.stats)
    if f.outside_link:
        return Decision(f.entry, KEEP, OUTSIDE_HARDLINK,
                        "in use by an environment outside the scan: its files have other hardlinks",
                        evidence=f.outside_link, users=d.users, stats=f.stats)
    return replace(d, stats=f.stats)


@dataclass(frozen=True)
class LeftoverFacts:
    """What the verdict for one item left in the trash by an interrupted prune depends on (read
    when the run that would finish it starts: time has passed since it was moved)."""

    entry: CacheEntry
    users: tuple[Reference, ...]  # environments whose records reference it now
    keep_match: str | None
    outside_link: bool  # a file of it has hardlinks outside it
    unreadable: str | None = None  # why it could not be read whole (then its links are unknown)
    symlink_evidence: str | None = None  # a symlink in a scanned environment points into it
    doubt: str | None = None  # what environments use is unknown now (a conda-meta that cannot be read)
    tarball: bool = False  # the item is a tarball, not an extracted folder
    folder_in_cache: bool = False  # the extracted folder of the same package is in the cache
    tarballs: bool = False  # --tarballs


def leftover_facts(cache: PackageCache, item: Path, entry: CacheEntry, index: ReferenceIndex,
                   symlinks: Mapping[tuple[str, str], str], stats: TreeStats, keep: Collection[str], *,
                   tarballs: bool, doubt: str | None = None) -> LeftoverFacts:
    """The facts of one leftover, from an index of references and the symlinks into the caches
    (the plan's, or fresh ones when the real run gets to it)."""
    is_tarball = entry.dist != (original_name(item.name) or item.name)  # its suffix was taken off
    return LeftoverFacts(
        entry, tuple(index.users(cache, entry)), keep_pattern(entry.name, keep) if keep else None,
        outside_link=any(nlink > seen for seen, nlink, _, _ in stats.inodes.values()),
        unreadable=stats.errors[0].message if stats.errors else None,
        symlink_evidence=symlinks.get((str(cache.real), entry.dist)),
        doubt=doubt, tarball=is_tarball,
        folder_in_cache=os.path.isdir(os.path.join(cache.real, entry.dist)), tarballs=tarballs,
    )


def leftover_entry(cache: PackageCache, item: Path) -> CacheEntry:
    """The cache entry a trash item was, from the name our rename gave it."""
    original = original_name(item.name) or item.name
    return CacheEntry(cache=cache.path, dist=strip_tarball_suffix(original, TARBALL_SUFFIXES) or original)


def judge_leftover(f: LeftoverFacts) -> Decision:
    """Finish (delete) a leftover of our own interrupted prune, unless it is wanted again: in
    use (not only by copies), on the keep-list, a symlink points into it, or linked from
    outside; or what uses it cannot be known now. A tarball is judged as :func:`judge` judges
    tarballs: environments never link from one, so it goes when its package stays extracted in
    the cache (or with ``--tarballs``). Only the trash of the user running the prune, and only
    what its own rename put there, is ever a leftover, and a read-only cache's leftovers are
    left alone (:func:`plan_cache_prune`)."""
    if f.doubt:
        return Decision(f.entry, KEEP, DOUBT, f.doubt, users=f.users)
    if f.tarball and (f.folder_in_cache or f.tarballs):
        return Decision(f.entry, REMOVE, TARBALL, "the tarball of a package that stays extracted, or --tarballs",
                        users=f.users)
    needing = [u for u in f.users if u.link_type != LINK_COPY]
    if needing:
        return Decision(f.entry, KEEP, IN_USE, f"{needing[0].prefix} uses it", evidence=str(needing[0].prefix),
                        users=f.users)
    if f.keep_match:
        return Decision(f.entry, KEEP, KEEP_LIST, f"it is on the keep-list ({f.keep_match})", users=f.users)
    if f.symlink_evidence:
        return Decision(f.entry, KEEP, OUTSIDE_SYMLINK, f"a symlink points into it ({f.symlink_evidence})",
                        evidence=f.symlink_evidence, users=f.users)
    if f.unreadable:
        return Decision(f.entry, KEEP, UNREADABLE, f"it could not be read whole ({f.unreadable})", users=f.users)
    if f.outside_link:
        return Decision(f.entry, KEEP, OUTSIDE_HARDLINK, "its files have other hardlinks", users=f.users)
    return Decision(f.entry, REMOVE, UNUSED, "left in the trash by an interrupted prune", users=f.users)


# -- measuring ------------------------------------------------------------------------------


def freed(stats: TreeStats) -> int:
    """Bytes a tree frees on its own: its folders, and files whose every link is in it."""
    return stats.dirs_bytes + stats.single_bytes + sum(b for seen, nlink, b, _ in stats.inodes.values() if seen >= nlink)


def _links_that_go(what_if: Mapping[Path, Collection[str]]) -> dict[tuple[int, int], int]:
    """(dev, ino) -> links in environments whose records a what-if removes along with the entries."""
    links: dict[tuple[int, int], int] = {}
    for prefix, dists in what_if.items():
        data = read_conda_meta(Path(prefix), with_files=True)
        paths = [os.path.join(prefix, rel) for rec in data.records if rec.dist in dists for rel in rec.files]
        for key, (seen, nlink, _, _) in files_stats(paths).inodes.items():
            if nlink > 1:
                links[key] = links.get(key, 0) + seen
    return links


def _outside_links(removing: list[Decision], also_gone: Mapping[tuple[int, int], int]) -> tuple[dict[int, str], dict[tuple[int, int], int]]:
    """For each entry about to go (by id), a file of it with hardlinks outside the whole removal
    set, if any; and how many links of each shared inode the set holds. Links inside one entry
    (two names for one binary) and between two entries that both go are accounted for."""
    seen_total: dict[tuple[int, int], int] = dict(also_gone)
    shared = {id(d): [(k, v) for k, v in d.stats.inodes.items() if v[1] > 1] for d in removing if d.stats}
    for d in removing:
        for key, (seen, _, _, _) in shared.get(id(d), ()):
            seen_total[key] = seen_total.get(key, 0) + seen
    found: dict[int, str] = {}
    for d in removing:
        for key, (_, nlink, _, where) in shared.get(id(d), ()):
            if nlink > seen_total[key]:
                found[id(d)] = f"{where} has {nlink} links, {seen_total[key]} of them in the cache entry"
                break
    return found, seen_total


def _with_bytes(decisions: list[Decision], seen_total: Mapping[tuple[int, int], int]) -> list[Decision]:
    """Exact bytes: an inode is freed once, by the entry seen first, when all its links go."""
    claimed: set[tuple[int, int]] = set()
    out = []
    for d in decisions:
        if d.action != REMOVE or d.stats is None:
            out.append(d)
            continue
        total = d.stats.dirs_bytes + d.stats.single_bytes
        for key, (_, nlink, blocks, _) in d.stats.inodes.items():
            if key not in claimed and seen_total.get(key, 0) >= nlink:
                claimed.add(key)
                total += blocks
        out.append(replace(d, freed_bytes=total, apparent_bytes=d.stats.apparent_bytes))
    return out


def plan_cache_prune(
    locations: Locations,
    search_paths: Iterable[Path] = (),
    *,
    keep_latest: int = 0,
    tarballs: bool = False,
    ignore_unreachable: bool = False,
    include_local: bool = False,
    progress: Progress = no_progress,
    extra_removed_prefix_records: Mapping[Path, Collection[str]] | None = None,
    summaries_path: Path | None = None,
    second_process: bool = True,
) -> CachePlan:
    """Decide, for every entry of every package cache, whether it goes and why. Reads only.

    ``extra_removed_prefix_records`` asks "what if": records (prefix -> dists) treated as already
    removed, their files' hardlinks as gone, to tell what a cache prune would free after an
    environment prune. Such a plan is for reporting only, never for execution.

    ``summaries_path``: where the record summaries of :mod:`.summaries` are kept between runs
    (the command line passes the user's cache folder; None reads every record in full); the
    folder summaries are kept beside it. ``second_process``: walk for symlinks and measure half
    of what goes in a second process (:mod:`.walker`), while this one reads the records."""
    helper = Helper().start() if second_process else None
    try:
        discovery = discover(locations, search_paths)
        folders = folders_path(summaries_path) if summaries_path is not None else None
        # the walk needs only where the caches are: it is handed over first, and the second
        # process walks (once started) while this one lists the caches and reads the records
        spellings = [cache_spelling(p) for p in locations.pkgs_dirs]
        envs, roots, skip = walk_args(discovery, spellings, locations)
        walking = helper is not None and helper.send(
            "walk", walk_job(envs, roots, skip, str(folders) if folders else None))
        caches = [scan_cache(c) for c in spellings]
        problems: list[Problem] = [p for c in caches for p in c.problems] + discovery.problems
        # every doubt says how to pass it (--ignore-unreachable); with that flag they are set aside below
        blockers = [m.advice for m in discovery.unreachable] + discovery.doubts + locations.config_doubts
        return _plan(locations, caches, problems, discovery, blockers, helper if walking else None, envs, folders,
                     keep_latest=keep_latest, tarballs=tarballs, ignore_unreachable=ignore_unreachable,
                     include_local=include_local, progress=progress,
                     extra_removed_prefix_records=extra_removed_prefix_records, summaries_path=summaries_path)
    finally:
        if helper is not None:
            helper.close()


def _plan(locations: Locations, caches: list[PackageCache], problems: list[Problem], discovery: Discovery,
          blockers: list[str], helper: Helper | None, envs: list[str], folders: Path | None, *, keep_latest: int,
          tarballs: bool, ignore_unreachable: bool, include_local: bool, progress: Progress,
          extra_removed_prefix_records: Mapping[Path, Collection[str]] | None,
          summaries_path: Path | None) -> CachePlan:
    """The plan; ``helper``: the second process, walking ``envs`` (None: no walk was handed over)."""
    walking = helper is not None
    summaries = RecordSummaries(summaries_path) if summaries_path is not None else None
    index = read_references(caches, discovery, problems, blockers, progress, extra_removed_prefix_records, summaries)
    if summaries is not None:
        summaries.save()
    ignored: list[str] = []
    if ignore_unreachable:
        ignored = [b for b in blockers if "--ignore-unreachable" in b]
        blockers = [b for b in blockers if "--ignore-unreachable" not in b]
    all_entries = [e for c in caches for e in c.entries.values()]
    latest = newest_builds(all_entries, keep_latest) if keep_latest > 0 else set()
    me = euid()
    keep = locations.keep

    def facts_with(symlinks: Mapping[tuple[str, str], str]) -> list[EntryFacts]:
        return [
            EntryFacts(
                cache=cache, entry=entry, users=tuple(index.users(cache, entry, real)),
                symlink_evidence=symlinks.get((real, entry.dist)),
                keep_match=keep_pattern(entry.name, keep) if keep else None,
                latest=id(entry) in latest, euid=me, tarballs=tarballs, include_local=include_local,
            )
            for cache, real in ((c, str(c.real)) for c in caches) for entry in cache.entries.values()
        ]

    def paths_of(f: EntryFacts, d: Decision) -> list[Path]:
        paths = list(d.paths)
        lock = f.cache.real / lock_file_name(f.entry.dist)  # an installer's lock goes with its entry
        if d.code != TARBALL and f.entry.folder is not None and os.path.lexists(lock):
            paths.append(lock)
        return paths

    # while the second process walks, measure what would go if no symlink pointed into it
    early: dict[int, tuple[list[Path], TreeStats]] = {}
    symlinks = None
    guess: tuple[list[EntryFacts], list[Decision], dict[int, list[Path]]] | None = None
    if walking:
        assert helper is not None
        facts = facts_with({})
        first = [judge(f) for f in facts]
        guess = facts, first, {i: paths_of(facts[i], d) for i, d in enumerate(first) if d.action == REMOVE}
        early = measure_until_answered(helper, list(guess[2].items()), progress)
        progress("looking for symlinks into caches", 0, len(discovery.environments))
        try:
            symlinks = found_from_json(helper.answer(), envs)
        except ValueError:  # it died or answered something else: walk here, and alone
            helper.close()
    if symlinks is None:
        symlinks = symlinks_into_caches(discovery, caches, locations, progress, folders=folders)
    # measure what would go, then judge again with what measuring found; keeping one entry for
    # an outside hardlink can expose another, so repeat until nothing changes
    if guess is not None and not symlinks:  # no symlink points into a cache: the guess stands
        facts, first, jobs = guess
    else:
        facts = facts_with(symlinks)
        first = [judge(f) for f in facts]
        jobs = {i: paths_of(facts[i], d) for i, d in enumerate(first) if d.action == REMOVE}
    judged, decisions = list(facts), list(first)  # the facts judged so far, and their verdicts
    done = {i: stats for i, (paths, stats) in early.items() if jobs.get(i) == paths}
    sources: dict[int, str | None] = {}

    def source_of(i: int) -> None:
        sources[i] = None if first[i].code == TARBALL or include_local else only_copy(facts[i].cache, facts[i].entry)

    done.update(measure_shared({i: p for i, p in jobs.items() if i not in done}, helper, progress,
                               [partial(source_of, i) for i in jobs]))
    for i in jobs:
        facts[i] = replace(facts[i], stats=done[i], only_copy=sources[i])
    also_gone = _links_that_go(extra_removed_prefix_records) if extra_removed_prefix_records else {}
    while True:
        # judge is a function of the facts alone: only the entries whose facts changed are judged again
        decisions = [d if f is was else judge(f) for f, was, d in zip(facts, judged, decisions, strict=True)]
        judged = list(facts)
        removing = [d for d in decisions if d.action == REMOVE and d.stats is not None]
        outside, seen_total = _outside_links(removing, also_gone)
        if not outside:
            break
        for i, d in enumerate(decisions):
            if id(d) in outside:
                facts[i] = replace(facts[i], outside_link=outside[id(d)])
    decisions = _with_bytes(decisions, seen_total)

    leftovers = []
    kept_leftovers: list[tuple[PackageCache, Path, Decision]] = []
    for cache in caches:
        if cache.leftovers and cache.read_only:
            problems.append(Problem(cache.path, (
                f"holds {len(cache.leftovers)} item(s) an interrupted prune left in its trash, but the cache "
                f"{cache.read_only}: left alone. Rerun where you may write it")))
            continue
        for item in cache.leftovers:
            stats = tree_stats(item)
            entry = leftover_entry(cache, item)
            verdict = judge_leftover(leftover_facts(
                cache, item, entry, index, symlinks, stats, keep, tarballs=tarballs))
            if verdict.action == REMOVE:
                leftovers.append((cache, item, stats))
            else:
                kept_leftovers.append((cache, item, verdict))
    decisions.sort(key=lambda d: (str(d.entry.cache), d.entry.dist))
    return CachePlan(caches, discovery, decisions, problems, blockers, leftovers, kept_leftovers,
                     tarballs=tarballs, ignored_doubts=ignored)
