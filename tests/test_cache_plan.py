"""The verdict function alone: facts in, one immutable decision out, rules in their order.

These tests build the facts by hand (no installation): they pin which rule wins when several
match, which decides the reason the user is shown. The behaviour on real installations is in
test_cache_prune.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from conda_prune.cache_plan import (
    COPY_ONLY,
    DOUBT,
    IN_USE,
    KEEP,
    KEEP_LATEST,
    KEEP_LIST,
    ONLY_COPY,
    OTHER_OWNER,
    OUTSIDE_HARDLINK,
    OUTSIDE_SYMLINK,
    READ_ONLY,
    REMOVE,
    SYMLINKED_ENTRY,
    TARBALL,
    UNREADABLE,
    UNUSED,
    EntryFacts,
    LeftoverFacts,
    judge,
    judge_leftover,
)
from conda_prune.caches import CacheEntry, PackageCache
from conda_prune.records import LINK_COPY, LINK_HARDLINK, LINK_SOFTLINK, Problem
from conda_prune.references import Reference
from conda_prune.treestats import TreeStats

CACHE = Path("/pkgs")
ME, OTHER = 1000, 1001


def facts(**changes) -> EntryFacts:
    entry = changes.pop("entry", None) or CacheEntry(CACHE, "numpy-1.26.4-py311h0", folder=CACHE / "numpy-1.26.4-py311h0",
                                                      owner_uid=ME)
    base = EntryFacts(cache=PackageCache(CACHE, CACHE), entry=entry, users=(), symlink_evidence=None,
                      keep_match=None, latest=False, euid=ME, tarballs=False, stats=TreeStats())
    return dataclasses.replace(base, **changes)


def user(link_type: int | None, prefix: str = "/envs/a") -> Reference:
    return Reference(Path(prefix), "numpy-1.26.4-py311h0", link_type, "name")


def read_only() -> PackageCache:
    return PackageCache(CACHE, CACHE, read_only="is read-only for you")


def test_a_decision_cannot_be_changed_once_made() -> None:
    d = judge(facts())
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.action = KEEP  # type: ignore[misc]


@pytest.mark.parametrize(("change", "action", "code"), [
    ({}, REMOVE, UNUSED),
    ({"users": (user(LINK_HARDLINK),)}, KEEP, IN_USE),
    ({"users": (user(LINK_SOFTLINK),)}, KEEP, IN_USE),
    ({"users": (user(LINK_COPY),)}, REMOVE, COPY_ONLY),
    ({"users": (user(None),)}, KEEP, DOUBT),  # a record that cannot be read names it
    ({"keep_match": "numpy*"}, KEEP, KEEP_LIST),
    ({"latest": True}, KEEP, KEEP_LATEST),
    ({"symlink_evidence": "/hidden/env/lib/x.so"}, KEEP, OUTSIDE_SYMLINK),
    ({"cache": read_only()}, KEEP, READ_ONLY),
    ({"euid": OTHER}, KEEP, OTHER_OWNER),
    ({"only_copy": "its only copy: it came from /gone/x.conda"}, KEEP, ONLY_COPY),
    ({"only_copy": "its only copy", "include_local": True}, REMOVE, UNUSED),
    ({"outside_link": "lib/x.so has 2 links, 1 of them in the cache entry"}, KEEP, OUTSIDE_HARDLINK),
    ({"stats": TreeStats(errors=[Problem(CACHE, "Permission denied")])}, KEEP, UNREADABLE),
])
def test_each_rule_alone(change: dict, action, code) -> None:
    d = judge(facts(**change))
    assert (d.action, d.code) == (action, code)


@pytest.mark.parametrize(("change", "code"), [
    # 1 before 2: in use wins over the keep-list
    ({"users": (user(LINK_HARDLINK),), "keep_match": "numpy*"}, IN_USE),
    # 2: the keep-list before --keep-latest
    ({"keep_match": "numpy*", "latest": True}, KEEP_LIST),
    # 3 before 4: the symlink from an environment outside the scan is named, even in a read-only cache
    ({"symlink_evidence": "/hidden/env/lib/x.so", "cache": read_only()}, OUTSIDE_SYMLINK),
    # 4: read-only before another owner
    ({"cache": read_only(), "euid": OTHER}, READ_ONLY),
    # 5 before 6: the only copy is said before a hardlink measured outside it
    ({"only_copy": "its only copy", "outside_link": "lib/x.so has 2 links"}, ONLY_COPY),
    # 6: an entry that cannot be read whole before its hardlinks
    ({"stats": TreeStats(errors=[Problem(CACHE, "Permission denied")]), "outside_link": "x"}, UNREADABLE),
    # copies only, but a hardlink outside: kept
    ({"users": (user(LINK_COPY),), "outside_link": "lib/x.so has 2 links"}, OUTSIDE_HARDLINK),
])
def test_the_first_rule_that_matches_decides(change: dict, code) -> None:
    assert judge(facts(**change)).code == code


def test_tarballs_of_a_kept_entry_go_only_where_the_entry_could() -> None:
    entry = CacheEntry(CACHE, "numpy-1.26.4-py311h0", folder=CACHE / "numpy-1.26.4-py311h0",
                       tarballs=[CACHE / "numpy-1.26.4-py311h0.conda"], owner_uid=ME,
                       tarball_owners={"numpy-1.26.4-py311h0.conda": ME})
    in_use = (user(LINK_HARDLINK),)
    d = judge(facts(entry=entry, users=in_use, tarballs=True))
    assert (d.action, d.code, d.paths) == (REMOVE, TARBALL, (CACHE / "numpy-1.26.4-py311h0.conda",))
    assert judge(facts(entry=entry, users=in_use)).code == IN_USE  # without --tarballs
    kept = judge(facts(entry=entry, users=in_use, tarballs=True, cache=read_only()))
    assert (kept.action, kept.code) == (KEEP, IN_USE) and "its tarball stays" in kept.reason
    theirs = dataclasses.replace(entry, tarball_owners={"numpy-1.26.4-py311h0.conda": OTHER})
    kept = judge(facts(entry=theirs, users=in_use, tarballs=True))
    assert kept.action == KEEP and "owned by" in kept.reason


def test_a_symlinked_entry_folder_is_left_alone() -> None:
    entry = CacheEntry(CACHE, "numpy-1.26.4-py311h0", folder=CACHE / "numpy-1.26.4-py311h0",
                       folder_is_symlink=True, owner_uid=ME)
    assert judge(facts(entry=entry)).code == SYMLINKED_ENTRY


@pytest.mark.parametrize(("change", "action", "code"), [
    ({}, REMOVE, UNUSED),
    ({"users": (user(LINK_COPY),)}, REMOVE, UNUSED),  # a copy does not need it
    ({"users": (user(LINK_HARDLINK),)}, KEEP, IN_USE),
    ({"keep_match": "numpy"}, KEEP, KEEP_LIST),
    ({"outside_link": True}, KEEP, OUTSIDE_HARDLINK),
    ({"unreadable": "Permission denied", "outside_link": True}, KEEP, UNREADABLE),
    ({"symlink_evidence": "/env/lib/x.so"}, KEEP, OUTSIDE_SYMLINK),
    ({"keep_match": "numpy", "symlink_evidence": "/env/lib/x.so"}, KEEP, KEEP_LIST),
    ({"doubt": "cannot read /env/conda-meta", "users": (user(LINK_HARDLINK),)}, KEEP, DOUBT),
    ({"tarball": True, "users": (user(LINK_HARDLINK),)}, KEEP, IN_USE),  # only the tarball of what is in use
    ({"tarball": True, "users": (user(LINK_HARDLINK),), "folder_in_cache": True}, REMOVE, TARBALL),
    ({"tarball": True, "users": (user(LINK_HARDLINK),), "tarballs": True}, REMOVE, TARBALL),
    ({"users": (user(LINK_HARDLINK),), "keep_match": "numpy", "outside_link": True}, KEEP, IN_USE),
])
def test_a_leftover_is_finished_unless_it_is_wanted_again(change: dict, action, code) -> None:
    base = LeftoverFacts(CacheEntry(CACHE, "numpy-1.26.4-py311h0"), users=(), keep_match=None, outside_link=False)
    d = judge_leftover(dataclasses.replace(base, **change))
    assert (d.action, d.code) == (action, code)
