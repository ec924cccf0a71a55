"""The symlink walk and the measuring in a second process: the same plan as in this one, and the
same plan again when that process cannot start, dies or answers something else."""

from __future__ import annotations

import json
import os
import time
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
from conda_prune.summaries import folders_path, names_encoding
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


HELLO = "echo '" + json.dumps({"hello": names_encoding()}) + "'\n"  # what our second process says first
_FAKES = {
    "does not exist": None,
    "exits at once": "exit 0\n",
    "says nothing": "exec sleep 60\n",
    "encodes names otherwise": "echo '" + json.dumps({"hello": ["ascii", "strict"]}) + "'\n" + "exec sleep 60\n",
    "answers nonsense": HELLO + "while read line; do echo '{\"ok\": \"nonsense\"}'; done\n",
    "dies half way through a line": HELLO + "read line; printf '{\"ok\": [['; exit 1\n",
    "answers too few": HELLO + "while read line; do echo '{\"ok\": []}'; done\n",
    "dies after the walk": HELLO + "read line; echo '{\"ok\": []}'; exit 3\n",
}


@pytest.mark.parametrize("fake", list(_FAKES))
def test_a_second_process_that_fails_changes_no_verdict(mixed: Installation, tmp_path: Path, monkeypatch,
                                                        fake: str) -> None:
    here = plan_cache_prune(mixed.locations(), second_process=False)
    script = tmp_path / "fake-python"
    if _FAKES[fake] is not None:
        script.write_text("#!/bin/sh\n" + _FAKES[fake])
        script.chmod(0o755)
    monkeypatch.setattr(walker.sys, "executable", str(script))
    monkeypatch.setattr(walker, "HELLO_SECONDS", 1.0)
    records = tmp_path / "kept" / "records.json"
    began = time.monotonic()
    assert _verdicts(plan_cache_prune(mixed.locations(), summaries_path=records)) == _verdicts(here)
    assert time.monotonic() - began < 20, "it waited for a process that will not answer"
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
    assert stats.inodes and stats.single_bytes  # two names for one file, and files with one
    assert not stats.single  # a walk keeps no key of a file with one link: none cross the pipe
    for bad in (None, [], [1, 2], [*doc[:4], [[1, 2, "x", 1, 1, "p"]], *doc[5:]], [*doc[:5], [["p", 2]], *doc[6:]],
                ["1", *doc[1:]], [*doc[:6], "3", *doc[7:]], [*doc, 1]):
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
    from conda_prune import cache_plan

    script = tmp_path / "slow-python"
    script.write_text("#!/bin/sh\n" + HELLO + "read line\nexec sleep 60\n")  # takes the walk, never answers
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


_ENCODING_CHECK = """
import os, sys
sys.path.insert(0, sys.argv[1])
from conda_prune.walker import Helper, walk, walk_job, found_from_json
base = sys.argv[2]
cache = os.path.join(base, os.fsdecode(b"pkgs-\\xc3\\xa9"))  # a cache whose name is not ASCII
os.makedirs(os.path.join(cache, "entry-1-0"))
env = os.path.join(base, "env")
os.makedirs(env)
os.symlink(os.path.join(cache, "entry-1-0"), os.path.join(env, "into-entry"))
roots = [(cache + os.sep, cache)]
here = walk([env], roots, set())
helper = Helper().start()
there = found_from_json(helper.answer(), [env]) if helper.send("walk", walk_job([env], roots, set(), None)) else None
helper.close()
print(sys.getfilesystemencoding(), len(here), there == here)
"""


@pytest.mark.parametrize("utf8", ["0", "1"])
def test_both_processes_read_file_names_alike_whatever_the_locale(tmp_path: Path, utf8: str) -> None:
    """``-I`` drops ``PYTHONUTF8``: the second process would read names as UTF-8 where this one
    reads them as ASCII (``LC_ALL=C``), and miss a symlink into a cache named ``pkgs-é``."""
    import subprocess
    import sys

    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": utf8, "PYTHONCOERCECLOCALE": "0"}
    out = subprocess.run([sys.executable, "-c", _ENCODING_CHECK, repo, str(tmp_path)], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[1:] == ["1", "True"], out


def test_an_interrupted_wait_for_an_answer_still_stops_the_second_process(mixed: Installation, tmp_path: Path,
                                                                          monkeypatch) -> None:
    """An interrupt that lands while this process waits for the walk's answer (Ctrl-C sent to it
    alone, a timeout of a caller's) does not leave close() waiting for a walk no one will read."""
    import signal

    script = tmp_path / "slow-python"
    script.write_text("#!/bin/sh\n" + HELLO + "read line\nexec sleep 60\n")
    script.chmod(0o755)
    monkeypatch.setattr(walker.sys, "executable", str(script))
    monkeypatch.setattr(walker.Helper, "ready", lambda self: True)  # straight to the wait

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(2)
    began = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            plan_cache_prune(mixed.locations())
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert time.monotonic() - began < 20, "close() waited for the walk"


def test_a_folder_changed_in_the_tick_it_was_listed_is_listed_again(tmp_path: Path, monkeypatch) -> None:
    """The margin is taken from when the run started listing, not from when it saved (after a
    walk that may take minutes): a folder listed early and changed right after, within its
    timestamp's tick, keeps its key, and must not be trusted on the next run."""
    from conda_prune import summaries as summaries_module
    from conda_prune.summaries import FolderSummaries

    folder = tmp_path / "env"
    folder.mkdir()
    st = os.lstat(folder)
    path = tmp_path / "folders.json"
    now = [st.st_mtime_ns - 10**9]  # the run starts a second before the folder's tick
    monkeypatch.setattr(summaries_module.time, "time_ns", lambda: now[0])
    kept = FolderSummaries(path)
    kept.put_dir(str(folder), "", st, [], [])
    kept.misses = 1
    now[0] = st.st_mtime_ns + 60 * 10**9  # and saves a minute later
    kept.save()
    assert FolderSummaries(path).get_dir(str(folder), "", st) is None


def test_the_second_process_writes_no_byte_code_where_this_one_would_not(monkeypatch) -> None:
    import subprocess

    seen: list[list[str]] = []

    def record(args: list[str], **kwargs: object) -> None:
        seen.append(args)
        raise OSError("not started")

    monkeypatch.setattr(subprocess, "Popen", record)
    monkeypatch.setattr(walker.sys, "dont_write_bytecode", True)
    walker.Helper().start()
    monkeypatch.setattr(walker.sys, "dont_write_bytecode", False)
    walker.Helper().start()
    assert "-B" in seen[0] and "-B" not in seen[1]
    assert seen[0][seen[0].index("-X") + 1] == f"utf8={walker.sys.flags.utf8_mode}"


def test_an_answer_that_arrives_with_the_hello_is_seen_as_there(tmp_path: Path, monkeypatch) -> None:
    """The hello and the answer to the walk in one read of the pipe (the second process was
    quick, this one busy): the answer is there, and waiting for more would measure everything
    here alone."""
    answer = json.dumps({"ok": walker.found_to_json(["/e"], {})})
    script = tmp_path / "quick-python"
    hello = json.dumps({"hello": names_encoding()})
    # both lines in one write, then it stays until its input ends (as ours does)
    script.write_text(f"#!/bin/sh\nread line\nprintf '%s\\n%s\\n' '{hello}' '{answer}'\nread line\n")
    script.chmod(0o755)
    monkeypatch.setattr(walker.sys, "executable", str(script))
    helper = walker.Helper().start()
    try:
        assert helper.send("walk", walker.walk_job(["/e"], [], set(), None))
        deadline = time.monotonic() + 10
        while not helper.ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert helper.ready(), "the answer came with the hello, and was not seen"
        assert walker.found_from_json(helper.answer(), ["/e"]) == {}
    finally:
        helper.close()


def test_the_kept_tree_lists_only_what_changed_and_sees_a_new_symlink_deep_down(tmp_path: Path) -> None:
    """A second walk over unchanged folders lists none of them; a symlink into the cache made in
    a folder three levels down, or in a folder that replaced one, is found on the next walk."""
    from conda_prune.summaries import FolderSummaries

    cache = tmp_path / "pkgs"
    (cache / "a-1-0" / "info").mkdir(parents=True)
    env = tmp_path / "env"
    for rel in ("lib/x/y", "lib/z", "bin", "conda-meta"):
        (env / rel).mkdir(parents=True)
    path = tmp_path / "folders.json"
    roots = [(str(cache) + os.sep, str(cache))]

    def run() -> tuple[dict, FolderSummaries]:
        kept = FolderSummaries(path, granularity_ns=0)
        found = walker.walk([str(env)], roots, [str(cache)], kept)
        kept.save()
        return found, kept

    assert run()[0] == {}
    found, kept = run()
    assert found == {} and kept.misses == 0 and kept.hits == 6  # env, lib, lib/x, lib/x/y, lib/z, bin
    (env / "lib" / "x" / "y" / "link").symlink_to(cache / "a-1-0" / "info")
    found, kept = run()
    assert found == {(str(cache), "a-1-0"): str(env / "lib" / "x" / "y" / "link")} and kept.misses == 1
    (env / "lib" / "x" / "y" / "link").unlink()
    (env / "lib" / "z").rename(tmp_path / "old-z")
    (env / "lib" / "z").mkdir()
    (env / "lib" / "z" / "w").mkdir()
    (env / "lib" / "z" / "w" / "link").symlink_to(cache / "a-1-0")
    found, kept = run()
    assert found == {(str(cache), "a-1-0"): str(env / "lib" / "z" / "w" / "link")}
