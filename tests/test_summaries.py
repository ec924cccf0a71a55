"""The record summaries kept between cache prunes: used while a record is unchanged, never after."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from builder import Installation

from conda_prune import summaries as summaries_module
from conda_prune.cache_plan import IN_USE, UNUSED, plan_cache_prune
from conda_prune.summaries import VERSION, FolderSummaries, RecordSummaries, folders_path


def _age(prefix: Path, monkeypatch, seconds: int = 3600) -> None:  # type: ignore[no-untyped-def]
    """Records written an hour ago: the summaries may be trusted for them. (Setting the mtime
    back sets the ctime to now, and no call sets a ctime: so the granularity margin, which
    :func:`test_recent_records_are_always_read` checks, is set to nothing here.)"""
    old = time.time() - seconds
    for record in (prefix / "conda-meta").glob("*.json"):
        os.utime(record, (old, old))
    monkeypatch.setattr(summaries_module, "GRANULARITY_NS", -10**9)


def _plan(inst: Installation, path: Path):  # type: ignore[no-untyped-def]
    return plan_cache_prune(inst.locations(), summaries_path=path)


def _a_used_b_unused(inst: Installation, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    """``a`` installed in ``e`` (records an hour old), ``b`` in the cache only."""
    inst.package("a", size=1_000)
    inst.package("b", size=1_000)
    prefix = inst.create_env("e", ["a"])
    inst.extract_to_cache(inst.packages["b-1.0-0"])
    _age(prefix, monkeypatch)
    return prefix


def decisions(plan) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {d.entry.dist: (d.action, d.code) for d in plan.decisions}


def test_an_unchanged_record_is_not_read_again_and_a_changed_one_is(inst: Installation, tmp_path: Path, monkeypatch) -> None:
    prefix = _a_used_b_unused(inst, monkeypatch)
    path = tmp_path / "cache" / "records.json"
    first = _plan(inst, path)
    assert decisions(first)["a-1.0-0"] == ("keep", IN_USE) and decisions(first)["b-1.0-0"] == ("remove", UNUSED)
    assert path.is_file()
    summaries = RecordSummaries(path)
    again = decisions(_plan(inst, path))
    assert again == decisions(first)
    # the second run took a's record from the summaries: prove it by what it would not notice
    record = prefix / "conda-meta" / "a-1.0-0.json"
    st = record.stat()
    assert summaries.get(str(prefix.resolve()), record.name, st) is not None
    # now the record points at b instead (same size, same mtime: only the ctime tells)
    data = json.loads(record.read_text())
    text = record.read_text().replace("a-1.0-0", "b-1.0-0")
    assert len(text) == len(record.read_text())
    record.write_text(text)
    os.utime(record, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert data["link"]["source"].endswith("a-1.0-0")
    changed = decisions(_plan(inst, path))
    assert changed["b-1.0-0"] == ("keep", IN_USE), "a changed record was taken from the summaries"


def test_recent_records_are_always_read(inst: Installation, tmp_path: Path) -> None:
    inst.package("a", size=1_000)
    prefix = inst.create_env("e", ["a"])
    path = tmp_path / "records.json"
    _plan(inst, path)
    summaries = RecordSummaries(path)
    record = prefix / "conda-meta" / "a-1.0-0.json"
    assert summaries.get(str(prefix.resolve()), record.name, record.stat()) is None  # written in the same tick


def test_a_corrupt_or_foreign_summary_file_is_ignored_and_rewritten(inst: Installation, tmp_path: Path, monkeypatch) -> None:
    _a_used_b_unused(inst, monkeypatch)
    path = tmp_path / "records.json"
    _plan(inst, path)
    doc = json.loads(path.read_text())
    # a forged summary: a's record said to point nowhere (so a's entry would look unused)
    for env in doc["envs"].values():
        for entry in env.values():
            entry[1][4] = entry[1][5] = None
            entry[1][0] = "zzz"
    for bad in (json.dumps(doc)[:-5], "[1, 2]", json.dumps({**doc, "version": 99})):
        path.write_text(bad)
        assert decisions(_plan(inst, path))["a-1.0-0"] == ("keep", IN_USE)
        assert json.loads(path.read_text())["version"] == VERSION  # rewritten
    path.write_text(json.dumps(doc))
    os.chmod(path, 0o666)  # others may write it: not trusted
    assert decisions(_plan(inst, path))["a-1.0-0"] == ("keep", IN_USE)


def test_a_new_symlink_into_the_cache_is_seen_on_the_next_run(inst: Installation, tmp_path: Path, monkeypatch) -> None:
    from conda_prune.cache_plan import OUTSIDE_SYMLINK

    prefix = _a_used_b_unused(inst, monkeypatch)
    path = tmp_path / "records.json"
    assert decisions(_plan(inst, path))["b-1.0-0"] == ("remove", UNUSED)
    share = prefix / "share"
    kept = FolderSummaries(folders_path(path))
    assert kept.get_dir(str(prefix), "share", os.lstat(share)) is not None  # kept for the next run
    (share / "into-b").symlink_to(inst.pkgs / "b-1.0-0" / "info")
    assert decisions(_plan(inst, path))["b-1.0-0"] == ("keep", OUTSIDE_SYMLINK)


def test_the_files_of_earlier_versions_go_when_this_one_is_written(inst: Installation, tmp_path: Path,
                                                                   monkeypatch) -> None:
    """``records-v1.json`` and ``records-v2.json`` held records and folder listings; they are
    removed once ``records-v3.json`` is written beside them. A symlink by an old name is left,
    and what it points to with it."""
    _a_used_b_unused(inst, monkeypatch)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "records-v1.json").write_text("{}")
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("{}")
    (cache / "records-v2.json").symlink_to(elsewhere)
    _plan(inst, cache / f"records-v{VERSION}.json")
    assert (cache / f"records-v{VERSION}.json").is_file()
    assert not (cache / "records-v1.json").exists()
    assert (cache / "records-v2.json").is_symlink() and elsewhere.read_text() == "{}"
