"""The symlink walk and the measuring in a second process: the same plan as in this one, and the
same plan again when that process cannot start, dies or answers something else."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from builder import Installation

from conda_prune import walker
from conda_prune.cache_plan import (
    IN_USE,
    OUTSIDE_HARDLINK,
    OUTSIDE_SYMLINK,
    UNUSED,
    plan_cache_prune,
)
from conda_prune.summaries import folders_path
from conda_prune.treestats import tree_stats


@pytest.fixture
def mixed(inst: Installation, tmp_path: Path, monkeypatch) -> Installation:  # type: ignore[no-untyped-def]
    """``a`` in use; ``c`` unused but a symlink in ``e`` points into it; ``d`` unused but one of
    its files is hardlinked from outside; six more unused, one with two names for one file."""
    for name in ("a", "c", "d", *(f"u{n}" for n in range(6))):
        inst.package(name, size=5_000, files={f"share/{name}/x.txt": name * 50})
    prefix = inst.create_env("e", ["a"])
    for name in ("c", "d", *(f"u{n}" for n in range(6))):
        inst.extract_to_cache(inst.packages[f"{name}-1.0-0"])
    (prefix / "share" / "into-c").symlink_to(inst.pkgs / "c-1.0-0" / "share" / "c")
    os.link(inst.pkgs / "d-1.0-0" / "share" / "d" / "x.txt", tmp_path / "outside-link")
    os.link(inst.pkgs / "u0-1.0-0" / "share" / "u0" / "x.txt", inst.pkgs / "u0-1.0-0" / "share" / "u0" / "y.txt")
    monkeypatch.setattr(walker, "MIN_SHARED", 1)  # share the measuring even for these few,
    monkeypatch.setattr(walker, "CHUNK", 2)  # two at a time
    return inst


def _verdicts(plan) -> dict[str, tuple]:  # type: ignore[no-untyped-def]
    return {d.entry.dist: (d.action, d.code, d.freed_bytes, d.apparent_bytes, d.evidence) for d in plan.decisions}


def test_the_second_process_finds_and_measures_what_this_one_does(mixed: Installation, monkeypatch) -> None:
    answers: list[object] = []
    answer = walker.Helper.answer

    def spy(self: walker.Helper) -> object:
        got = answer(self)
        answers.append(got)
        return got

    monkeypatch.setattr(walker.Helper, "answer", spy)
    monkeypatch.setattr(walker.Helper, "ready", lambda self: True)  # its answers are always there at once
    there = plan_cache_prune(mixed.locations())
    # the walk, then every chunk (this process never measured: the answer was always there)
    assert len(answers) == 1 + 4 and all(a is not None for a in answers), "the second process did not do the work"
    monkeypatch.undo()
    here = plan_cache_prune(mixed.locations(), second_process=False)
    assert _verdicts(there) == _verdicts(here)
    got = {k: v[:2] for k, v in _verdicts(there).items()}
    assert got["a-1.0-0"] == ("keep", IN_USE)
    assert got["c-1.0-0"] == ("keep", OUTSIDE_SYMLINK)
    assert got["d-1.0-0"] == ("keep", OUTSIDE_HARDLINK)
    assert all(got[f"u{n}-1.0-0"] == ("remove", UNUSED) for n in range(6))
    assert _verdicts(there)["u0-1.0-0"][2] > 0


@pytest.mark.parametrize("waits", [0, 2, 100])
def test_what_is_measured_while_the_walk_runs_gives_the_same_verdicts(mixed: Installation, monkeypatch,
                                                                      waits: int) -> None:
    """While the second process walks, this one measures what would go if no symlink pointed
    into it (``waits``: how many entries it measures before the walk's answer is there). The
    entry a symlink points into is then kept all the same, and the rest measured alike."""
    here = plan_cache_prune(mixed.locations(), second_process=False)
    polls = iter(range(10**6))
    monkeypatch.setattr(walker, "MIN_SHARED", 1)
    monkeypatch.setattr(walker.Helper, "ready", lambda self: not self._waiting or next(polls) >= waits)
    assert _verdicts(plan_cache_prune(mixed.locations())) == _verdicts(here)


_FAKES = {
    "does not exist": None,
    "exits at once": "#!/bin/sh\nexit 0\n",
    "answers nonsense": "#!/bin/sh\nwhile read line; do echo '{\"ok\": \"nonsense\"}'; done\n",
    "dies half way through a line": "#!/bin/sh\nread line; printf '{\"ok\": [['; exit 1\n",
    "answers too few": "#!/bin/sh\nwhile read line; do echo '{\"ok\": []}'; done\n",
    "dies after the walk": "#!/bin/sh\nread line; echo '{\"ok\": []}'; exit 3\n",
}


@pytest.mark.parametrize("fake", list(_FAKES))
def test_a_second_process_that_fails_changes_no_verdict(mixed: Installation, tmp_path: Path, monkeypatch,
                                                        fake: str) -> None:
    here = plan_cache_prune(mixed.locations(), second_process=False)
    script = tmp_path / "fake-python"
    if _FAKES[fake] is not None:
        script.write_text(_FAKES[fake])
        script.chmod(0o755)
    monkeypatch.setattr(walker.sys, "executable", str(script))
    records = tmp_path / "kept" / "records.json"
    assert _verdicts(plan_cache_prune(mixed.locations(), summaries_path=records)) == _verdicts(here)
    assert folders_path(records).is_file()  # this process walked, and kept the listings for the next run


def test_the_second_process_imports_nothing_of_the_current_folder(mixed: Installation, tmp_path: Path,
                                                                  monkeypatch) -> None:
    """Run from a folder holding a ``json.py`` (an application's, a user's): the second process
    imports the standard library's, never that one."""
    marker = tmp_path / "imported"
    for name in ("json", "os", "stat"):
        (tmp_path / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').write('{name}')\nraise SystemExit(9)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    assert _verdicts(plan_cache_prune(mixed.locations())) == _verdicts(
        plan_cache_prune(mixed.locations(), second_process=False))
    assert not marker.exists()


def test_the_stats_of_an_entry_cross_the_pipe_whole(mixed: Installation) -> None:
    entry = mixed.pkgs / "u0-1.0-0"
    (entry / "info" / "locked").mkdir()
    (entry / "info" / "locked").chmod(0)
    try:
        stats = tree_stats(entry)
        doc = json.loads(json.dumps(walker.stats_to_json(stats)))
        back = walker.stats_from_json(doc)
    finally:
        (entry / "info" / "locked").chmod(0o755)
    assert back == stats
    assert stats.inodes and stats.single  # two names for one file, and files with one
    for bad in (None, [], [1, 2], [*doc[:4], [[1, 2, "x", 1, 1, "p"]], *doc[5:]], [*doc[:5], [[1, [2, "3"]]], *doc[6:]],
                ["1", *doc[1:]], [*doc[:6], [["p", 2]], *doc[7:]]):
        with pytest.raises(ValueError):
            walker.stats_from_json(bad)


def test_a_symlink_list_that_is_not_the_answer_to_this_walk_is_refused() -> None:
    envs = ["/e1", "/e2"]
    assert walker.found_from_json(walker.found_to_json(envs, {("/c", "e"): "/x"}), envs) == {("/c", "e"): "/x"}
    for bad in (None, "x", [], {"walked": envs}, {"walked": ["/e1"], "found": []}, {"walked": envs, "found": "x"},
                {"walked": envs, "found": [["/c", "e"]]}, {"walked": envs, "found": [["/c", "e", 3]]}):
        with pytest.raises(ValueError):
            walker.found_from_json(bad, envs)


def test_a_symlink_under_a_name_that_is_not_utf8_is_found_by_the_second_process(mixed: Installation) -> None:
    """Paths cross the pipe as JSON strings; a folder name of bytes that are not UTF-8 (and one
    with a newline: the messages are lines) comes back as the same path."""
    odd = mixed.prefix_of("e") / os.fsdecode(b"caf\xe9\ndir")
    odd.mkdir()
    (odd / "into-u1").symlink_to(mixed.pkgs / "u1-1.0-0" / "share")
    there = _verdicts(plan_cache_prune(mixed.locations()))
    assert there == _verdicts(plan_cache_prune(mixed.locations(), second_process=False))
    assert there["u1-1.0-0"][:2] == ("keep", OUTSIDE_SYMLINK)
    assert there["u1-1.0-0"][4] == str(odd / "into-u1")


def test_a_frozen_interpreter_is_never_asked_to_run_python_code(mixed: Installation, monkeypatch) -> None:
    """Where conda runs as one frozen executable (conda-standalone), ``sys.executable`` is that
    program, not a Python that takes ``-I -S -c``: no second process is started at all."""
    import subprocess

    started: list[object] = []
    monkeypatch.setattr(walker.sys, "frozen", True, raising=False)
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: started.append(a) or (_ for _ in ()).throw(OSError()))
    here = _verdicts(plan_cache_prune(mixed.locations()))
    assert not started
    monkeypatch.undo()
    assert here == _verdicts(plan_cache_prune(mixed.locations(), second_process=False))


def test_a_plan_that_fails_while_the_walk_runs_stops_the_second_process_at_once(
        mixed: Installation, tmp_path: Path, monkeypatch) -> None:
    """An error in this process while the second one still walks (a huge installation on a
    network filesystem) does not wait for that walk to end: the second process is killed."""
    import time

    from conda_prune import cache_plan

    script = tmp_path / "slow-python"
    script.write_text("#!/bin/sh\nread line\nexec sleep 60\n")  # takes the walk, never answers
    script.chmod(0o755)
    monkeypatch.setattr(walker.sys, "executable", str(script))
    helpers: list[walker.Helper] = []
    start = walker.Helper.start

    def keep(self: walker.Helper) -> walker.Helper:
        helpers.append(self)
        return start(self)

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("failed while the walk runs")

    monkeypatch.setattr(walker.Helper, "start", keep)
    monkeypatch.setattr(cache_plan, "read_references", fail)
    began = time.monotonic()
    with pytest.raises(RuntimeError):
        plan_cache_prune(mixed.locations())
    assert time.monotonic() - began < 20, "it waited for the walk"
    assert helpers and not helpers[0].alive
