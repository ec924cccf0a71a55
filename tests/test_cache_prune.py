"""The package-cache prune on real installations built offline (no conda needed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder import Installation
from conda_prune.cache_prune import (
    COPY_ONLY, DOUBT, IN_USE, KEEP_LATEST, KEEP_LIST, OUTSIDE_HARDLINK, OUTSIDE_SYMLINK, TARBALL, UNUSED,
    execute_plan, plan_cache_prune,
)
from conda_prune.caches import TRASH_DIR
from conda_prune.removal import own_trash_folder
from conda_prune.cli.standalone import main


def run(inst: Installation, monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    for key in [k for k in os.environ if k.startswith(("CONDA", "MAMBA"))]:
        monkeypatch.delenv(key)
    for key, value in inst.environ().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COLUMNS", "200")
    code = main(["prune", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def du(path: Path) -> int:
    """Allocated bytes under ``path``, each inode once (what ``df`` sees change)."""
    out = subprocess.run(["du", "-s", "--block-size=1", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def decisions(plan) -> dict[str, tuple[str, str]]:
    return {d.entry.dist: (d.action, d.code) for d in plan.decisions}


@pytest.fixture
def mixed(inst: Installation) -> Installation:
    """Environments linked every way, one removed, plus entries nothing installed."""
    inst.package("liba", files={"lib/liba.so": b"a" * 50_000})
    inst.package("libb", depends=["liba"], size=20_000)
    inst.package("mutex", metadata_only=True)
    inst.package("orphan", size=100_000)
    inst.package("copied", size=30_000)
    inst.package("symlinked", size=40_000)
    inst.package("gone", size=40_000)
    inst.create_env("hard", ["libb", "mutex"])
    inst.create_env("soft", ["symlinked"], link="symlink")
    inst.create_env("cp", ["copied"], link="copy")
    inst.create_env("old", ["gone"])
    inst.remove_env("old")
    inst.extract_to_cache(inst.packages["orphan-1.0-0"])
    inst.add_conda_cache_files()
    return inst


def test_reference_based_verdicts_for_every_link_type(mixed: Installation) -> None:
    plan = plan_cache_prune(mixed.locations())
    got = decisions(plan)
    assert got["liba-1.0-0"] == ("keep", IN_USE)
    assert got["libb-1.0-0"] == ("keep", IN_USE)
    assert got["symlinked-1.0-0"] == ("keep", IN_USE)  # conda clean deletes this one
    assert got["mutex-1.0-0"] == ("keep", IN_USE)  # metadata-only, installed
    assert got["copied-1.0-0"] == ("remove", COPY_ONLY)
    assert got["gone-1.0-0"] == ("remove", UNUSED)
    assert got["orphan-1.0-0"] == ("remove", UNUSED)
    removal = {d.entry.dist: d for d in plan.removals}
    assert {p.name for p in removal["orphan-1.0-0"].paths} == {"orphan-1.0-0", "orphan-1.0-0.conda"}


def test_real_run_frees_what_the_dry_run_promised_and_breaks_nothing(mixed: Installation, monkeypatch, capsys) -> None:
    code, out, _ = run(mixed, monkeypatch, capsys, "--dry-run", "--json")
    assert code == 0
    promised = json.loads(out)["reclaimable_bytes"]
    before = du(mixed.root)
    code, out, err = run(mixed, monkeypatch, capsys, "--yes", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["removed"] == ["copied-1.0-0", "gone-1.0-0", "orphan-1.0-0"]
    dropped = before - du(mixed.root)
    assert abs(dropped - promised) <= 0.01 * promised, (dropped, promised)
    assert not (mixed.pkgs / "orphan-1.0-0").exists() and not (mixed.pkgs / "orphan-1.0-0.conda").exists()
    assert not (mixed.pkgs / TRASH_DIR).exists()
    # every environment still has every file its records list, and every symlink resolves
    for env in ("hard", "soft", "cp"):
        prefix = mixed.envs_dir / env
        for meta in (prefix / "conda-meta").glob("*.json"):
            for rel in json.loads(meta.read_text())["files"]:
                assert (prefix / rel).exists(), f"{env}: {rel} broken"


def test_dry_run_changes_nothing(mixed: Installation, monkeypatch, capsys) -> None:
    snapshot = sorted(str(p) for p in mixed.pkgs.rglob("*"))
    code, out, _ = run(mixed, monkeypatch, capsys, "--dry-run")
    assert code == 0
    assert "Would free" in out and "orphan" in out
    assert sorted(str(p) for p in mixed.pkgs.rglob("*")) == snapshot


def test_json_without_yes_refuses_to_delete(mixed: Installation, monkeypatch, capsys) -> None:
    code, out, err = run(mixed, monkeypatch, capsys, "--json")
    assert code == 3
    # as inside conda: the error is the only JSON document on stdout, nothing on stderr
    error = json.loads(out)
    assert error["exception_name"] == "RefusedForSafety" and error["return_code"] == 3
    assert "--yes" in error["message"] and err == ""
    assert (mixed.pkgs / "orphan-1.0-0").exists()


def test_json_dry_run_is_only_json_and_sorted(mixed: Installation, monkeypatch, capsys) -> None:
    code, out, _ = run(mixed, monkeypatch, capsys, "--json", "--dry-run")
    doc = json.loads(out)
    assert [r["entry"] for r in doc["remove"]] == sorted(r["entry"] for r in doc["remove"])
    assert doc["in_use_count"] == 4 and doc["dry_run"] is True
    copied = next(r for r in doc["remove"] if r["entry"] == "copied-1.0-0")
    assert copied["reason_code"] == COPY_ONLY and copied["used_by"] == [str(mixed.envs_dir / "cp")]


@pytest.mark.parametrize(("answer", "deleted"), [("", False), ("n\n", False), ("y\n", True), ("\n", True)])
def test_prompt_answers(mixed: Installation, monkeypatch, capsys, tmp_path: Path, answer: str, deleted: bool) -> None:
    """As conda: an empty line takes the default (yes); end of input deletes nothing."""
    stdin = tmp_path / "stdin"
    stdin.write_text(answer)
    monkeypatch.setattr("sys.stdin", open(stdin))
    code, out, err = run(mixed, monkeypatch, capsys)
    assert "Proceed ([y]/n)?" in out
    assert (not (mixed.pkgs / "orphan-1.0-0").exists()) is deleted
    assert code == (0 if deleted else 1)


def test_unregistered_environment_is_protected_by_its_hardlinks(inst: Installation) -> None:
    inst.package("projdep", size=10_000)
    inst.create_env(inst.root / "project" / ".env", ["projdep"], register=False)
    plan = plan_cache_prune(inst.locations())
    d = next(d for d in plan.decisions if d.entry.dist == "projdep-1.0-0")
    assert (d.action, d.code) == ("keep", OUTSIDE_HARDLINK)
    assert "has 2 links" in d.evidence
    found = plan_cache_prune(inst.locations(), [inst.root / "project"])
    assert decisions(found)["projdep-1.0-0"] == ("keep", IN_USE)


def test_symlink_from_a_scanned_environment_keeps_an_unreferenced_entry(inst: Installation) -> None:
    inst.package("seen", size=10_000)
    inst.package("other", size=10_000)
    prefix = inst.create_env("e", ["seen"])
    entry = inst.extract_to_cache(inst.packages["other-1.0-0"])
    (prefix / "lib").mkdir(exist_ok=True)
    (prefix / "lib" / "hand-made-link").symlink_to(entry / "share" / "other" / "payload.bin")
    d = next(d for d in plan_cache_prune(inst.locations()).decisions if d.entry.dist == "other-1.0-0")
    assert (d.action, d.code) == ("keep", OUTSIDE_SYMLINK)
    assert d.evidence.endswith("hand-made-link")


@pytest.mark.parametrize("spelling", ["absolute", "relative", "dot-dot", "dot", "double-slash", "trailing-slash"])
def test_every_spelling_of_a_symlink_into_an_entry_is_seen(inst: Installation, spelling: str) -> None:
    inst.package("seen", size=10_000)
    inst.package("other", size=10_000)
    prefix = inst.create_env("e", ["seen"])
    entry = inst.extract_to_cache(inst.packages["other-1.0-0"])
    (prefix / "lib").mkdir(exist_ok=True)
    target = str(entry / "share" / "other" / "payload.bin")
    target = {
        "absolute": target,
        "relative": os.path.relpath(target, prefix / "lib"),
        "dot-dot": str(entry / "share" / ".." / "share" / "other" / "payload.bin"),
        "dot": str(entry / "." / "share"),
        "double-slash": str(entry).replace(os.sep + "other-", os.sep * 2 + "other-"),
        "trailing-slash": str(entry / "share") + os.sep,
    }[spelling]
    os.symlink(target, prefix / "lib" / "hand-made-link")
    d = next(d for d in plan_cache_prune(inst.locations()).decisions if d.entry.dist == "other-1.0-0")
    assert (d.action, d.code) == ("keep", OUTSIDE_SYMLINK), target


def test_metadata_only_and_self_hardlinked_packages(inst: Installation, monkeypatch, capsys) -> None:
    inst.package("blas-variant", metadata_only=True)
    inst.package("unused-mutex", metadata_only=True)
    inst.package("interp", files={"bin/python3.11": b"\x7fELF" + b"i" * 30_000})
    inst.create_env("e", ["blas-variant"])
    inst.extract_to_cache(inst.packages["unused-mutex-1.0-0"])
    entry = inst.extract_to_cache(inst.packages["interp-1.0-0"])
    os.link(entry / "bin" / "python3.11", entry / "bin" / "python3")  # two names, one inode
    got = decisions(plan_cache_prune(inst.locations()))
    assert got["blas-variant-1.0-0"] == ("keep", IN_USE)
    assert got["unused-mutex-1.0-0"] == ("remove", UNUSED)
    assert got["interp-1.0-0"] == ("remove", UNUSED)  # conda clean never removes this one
    code, _, _ = run(inst, monkeypatch, capsys, "--yes")
    assert code == 0 and not entry.exists()


def test_broken_record_names_the_file_and_keeps_its_entry(inst: Installation, monkeypatch, capsys) -> None:
    inst.package("fragile", size=10_000)
    prefix = inst.create_env("e", ["fragile"], link="copy")
    meta = prefix / "conda-meta" / "fragile-1.0-0.json"
    meta.write_text(meta.read_text()[:40])  # truncated
    code, out, err = run(inst, monkeypatch, capsys, "--dry-run")
    assert code == 0
    assert str(meta) in err and "not valid JSON" in err and "Traceback" not in err
    got = decisions(plan_cache_prune(inst.locations()))
    assert got["fragile-1.0-0"] == ("keep", DOUBT)


def test_symlink_escaping_the_cache_is_removed_but_never_followed(inst: Installation, tmp_path: Path, monkeypatch, capsys) -> None:
    inst.package("escape", size=1_000)
    entry = inst.extract_to_cache(inst.packages["escape-1.0-0"])
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data.txt").write_text("keep me")
    (entry / "share" / "out").symlink_to(precious)
    (entry / "share" / "out-file").symlink_to(precious / "data.txt")
    code, _, _ = run(inst, monkeypatch, capsys, "--yes")
    assert code == 0
    assert not entry.exists()
    assert (precious / "data.txt").read_text() == "keep me"


def test_keep_latest_keep_list_and_tarballs(inst: Installation, monkeypatch, capsys) -> None:
    for version in ("1.0", "1.1", "2.0"):
        inst.package("tool", version, size=1_000)
    inst.package("cudatoolkit", size=1_000)
    inst.package("used", size=1_000)
    inst.create_env("e", ["used"])
    for pkg in inst.packages.values():
        inst.extract_to_cache(pkg)
    inst.add_conda_cache_files()
    plan = plan_cache_prune(inst.locations(keep=("cuda*",)), keep_latest=1)
    got = decisions(plan)
    assert got["tool-2.0-0"] == ("keep", KEEP_LATEST)
    assert got["tool-1.1-0"] == ("remove", UNUSED) and got["tool-1.0-0"] == ("remove", UNUSED)
    assert got["cudatoolkit-1.0-0"] == ("keep", KEEP_LIST)
    with_tarballs = decisions(plan_cache_prune(inst.locations(), tarballs=True))
    assert with_tarballs["used-1.0-0"] == ("remove", TARBALL)
    (inst.root / "condarc").write_text(
        f"pkgs_dirs:\n  - {inst.pkgs}\nplugins:\n  prune_keep:\n    - cudatoolkit\n"
    )
    code, out, _ = run(inst, monkeypatch, capsys, "--tarballs", "--yes", "--json")
    doc = json.loads(out)
    kept = next(d for d in doc["kept"] + doc["remove"] if d["entry"] == "cudatoolkit-1.0-0")
    assert kept["reason_code"] == TARBALL and "keep-list" in kept["reason"]  # only its tarball went
    assert (inst.pkgs / "cudatoolkit-1.0-0").is_dir() and not (inst.pkgs / "tool-1.1-0").exists()
    assert (inst.pkgs / "used-1.0-0").is_dir() and not (inst.pkgs / "used-1.0-0.conda").exists()


def test_unreachable_registered_environment_blocks_deletion(mixed: Installation, monkeypatch, capsys) -> None:
    with open(mixed.home / ".conda" / "environments.txt", "a") as fh:
        fh.write("/mnt/not-mounted/envs/ghost\n")
    code, _, err = run(mixed, monkeypatch, capsys, "--yes")
    assert code == 3 and "/mnt/not-mounted/envs/ghost" in err
    assert (mixed.pkgs / "orphan-1.0-0").exists()
    code, _, _ = run(mixed, monkeypatch, capsys, "--yes", "--ignore-unreachable")
    assert code == 0 and not (mixed.pkgs / "orphan-1.0-0").exists()
    # the registry is read, never rewritten
    assert "/mnt/not-mounted/envs/ghost" in (mixed.home / ".conda" / "environments.txt").read_text()


def test_interrupted_run_is_finished_by_the_next(mixed: Installation, monkeypatch, capsys) -> None:
    trash = mixed.pkgs / TRASH_DIR
    own = own_trash_folder(mixed.pkgs)
    own.mkdir(parents=True, mode=0o700)
    os.rename(mixed.pkgs / "gone-1.0-0", own / "gone-1.0-0~1234-1")
    # a half-deleted leftover: conda never looks in the trash, so it is harmless until finished
    shutil.rmtree(own / "gone-1.0-0~1234-1" / "info")
    code, out, _ = run(mixed, monkeypatch, capsys, "--dry-run")
    assert "interrupted prune" in out
    code, _, _ = run(mixed, monkeypatch, capsys, "--yes")
    assert code == 0 and not trash.exists()


@pytest.mark.parametrize("own_too", [False, True], ids=["top-only", "top-and-own"])
@pytest.mark.parametrize("json_out", [False, True], ids=["text", "json"])
def test_empty_trash_a_kill_left_is_removed_by_a_run_with_nothing_to_do(
        inst: Installation, monkeypatch, capsys, own_too: bool, json_out: bool) -> None:
    # a kill between the two rmdir calls that end a run: the rerun has nothing else to do
    trash = inst.pkgs / TRASH_DIR
    trash.mkdir()
    if own_too:
        own_trash_folder(inst.pkgs).mkdir(mode=0o700)
    json_flag = ("--json",) if json_out else ()
    code, out, _ = run(inst, monkeypatch, capsys, "--dry-run", *json_flag)
    assert code == 0 and trash.exists()  # a dry run changes nothing
    code, out, _ = run(inst, monkeypatch, capsys, "--yes", *json_flag)
    assert code == 0 and not trash.exists()


def test_a_trash_with_anything_in_it_is_not_tidied_away(inst: Installation, monkeypatch, capsys) -> None:
    trash = inst.pkgs / TRASH_DIR
    (trash / "12345").mkdir(parents=True)
    (trash / "12345" / "theirs~1-1").write_text("another user's leftover")
    code, _, _ = run(inst, monkeypatch, capsys, "--yes")
    assert (trash / "12345" / "theirs~1-1").exists()


def test_entry_that_comes_into_use_during_the_prune_is_restored(inst: Installation) -> None:
    inst.package("late", size=10_000)
    inst.extract_to_cache(inst.packages["late-1.0-0"])
    plan = plan_cache_prune(inst.locations())
    assert decisions(plan)["late-1.0-0"] == ("remove", UNUSED)
    inst.create_env("newcomer", ["late"])  # links from the cache after the plan was made
    result = execute_plan(plan, inst.locations())
    assert [d.entry.dist for d, _ in result.restored] == ["late-1.0-0"]
    assert (inst.pkgs / "late-1.0-0" / "info" / "index.json").exists()


def test_cache_that_is_a_symlink_is_handled_through_its_target(inst: Installation, monkeypatch, capsys) -> None:
    inst.package("used", size=1_000)
    inst.package("unused", size=1_000)
    inst.create_env("e", ["used"])
    inst.extract_to_cache(inst.packages["unused-1.0-0"])
    alias = inst.root / "pkgs-alias"
    alias.symlink_to(inst.pkgs)
    monkeypatch.setattr(inst, "pkgs", alias)
    got = decisions(plan_cache_prune(inst.locations()))
    assert got == {"used-1.0-0": ("keep", IN_USE), "unused-1.0-0": ("remove", UNUSED)}


def test_options_that_need_app_are_rejected(mixed: Installation, monkeypatch, capsys) -> None:
    code, _, err = run(mixed, monkeypatch, capsys, "--export", "x.yml")
    assert code == 2 and "--app" in err
    code, _, err = run(mixed, monkeypatch, capsys, "--search-path", "/does/not/exist")
    assert code == 2 and "/does/not/exist" in err


def _as_nobody() -> list[str] | None:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return None
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


@pytest.mark.skipif(_as_nobody() is None, reason="needs root and setpriv to run as another user")
def test_read_only_cache_and_foreign_entries_are_left_alone(mixed: Installation, tmp_path: Path) -> None:
    # the installation belongs to root; "nobody" may read it but not write it
    for path in [mixed.root, *mixed.root.parents]:
        os.chmod(path, os.stat(path).st_mode | 0o055)
    env = mixed.environ()
    cmd = [*_as_nobody(), sys.executable, "-m", "conda_prune", "prune", "--yes", "--json"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["remove"] == [] and doc["caches"][0]["read_only"] == "is not writable by you"
    assert (mixed.pkgs / "orphan-1.0-0").exists()


def test_what_if_plan_counts_entries_an_environment_prune_would_free(inst: Installation) -> None:
    inst.package("keepme", size=5_000)
    inst.package("dropme", size=50_000)
    prefix = inst.create_env("e", ["keepme", "dropme"])
    assert decisions(plan_cache_prune(inst.locations()))["dropme-1.0-0"] == ("keep", IN_USE)
    plan = plan_cache_prune(inst.locations(), extra_removed_prefix_records={prefix: {"dropme-1.0-0"}})
    got = decisions(plan)
    assert got["dropme-1.0-0"] == ("remove", UNUSED) and got["keepme-1.0-0"] == ("keep", IN_USE)
    assert plan.freed_bytes >= 50_000  # the environment's hardlinks go too, so the blocks come back


def test_the_only_copy_of_a_package_is_kept_unless_include_local(inst: Installation, monkeypatch, capsys) -> None:
    from conda_prune.cache_plan import ONLY_COPY

    for name in ("fetchable", "wiped", "nowhere"):
        inst.package(name, size=5_000)
        inst.extract_to_cache(inst.packages[f"{name}-1.0-0"])
    record = inst.pkgs / "wiped-1.0-0" / "info" / "repodata_record.json"
    data = json.loads(record.read_text())
    data["url"] = f"file://{inst.root}/scratch/channel/linux-64/wiped-1.0-0.conda"  # a channel since wiped
    record.write_text(json.dumps(data))
    (inst.pkgs / "nowhere-1.0-0" / "info" / "repodata_record.json").unlink()  # no record of its source
    verdicts = decisions(plan_cache_prune(inst.locations()))
    assert verdicts["fetchable-1.0-0"] == ("remove", UNUSED)  # its channel is still there
    assert verdicts["wiped-1.0-0"] == ("keep", ONLY_COPY) and verdicts["nowhere-1.0-0"] == ("keep", ONLY_COPY)
    code, out, _ = run(inst, monkeypatch, capsys, "--dry-run")
    assert f"it came from {inst.root}/scratch/channel/linux-64/wiped-1.0-0.conda, which no longer exists" in " ".join(out.split())
    code, _, _ = run(inst, monkeypatch, capsys, "--yes")
    assert code == 0 and (inst.pkgs / "wiped-1.0-0").is_dir() and (inst.pkgs / "nowhere-1.0-0").is_dir()
    assert not (inst.pkgs / "fetchable-1.0-0").exists()
    code, _, _ = run(inst, monkeypatch, capsys, "--yes", "--include-local")
    assert code == 0 and not (inst.pkgs / "wiped-1.0-0").exists() and not (inst.pkgs / "nowhere-1.0-0").exists()


def test_a_keep_listed_leftover_is_said_to_go_back_and_frees_nothing(inst: Installation, monkeypatch, capsys) -> None:
    """What an interrupted prune left in the trash but is on the keep-list now: the dry run says
    a real run puts it back (not that it finishes it, and its bytes are no saving); the real run
    does so, and says it did."""
    from conda_prune.caches import trash_name

    inst.package("keepme", size=20_000)
    inst.extract_to_cache(inst.packages["keepme-1.0-0"])
    own = own_trash_folder(inst.pkgs)
    own.mkdir(parents=True, mode=0o700)
    os.rename(inst.pkgs / "keepme-1.0-0", own / trash_name("keepme-1.0-0"))
    (inst.root / "condarc").write_text(f"pkgs_dirs:\n  - {inst.pkgs}\nplugins:\n  prune_keep:\n    - keepme\n")
    code, out, _ = run(inst, monkeypatch, capsys, "--dry-run")
    text = " ".join(out.split())
    assert code == 0 and "wanted again; a real run puts them back" in text, out
    assert "keepme-1.0-0: it is on the keep-list (keepme)" in text and "Would free" not in text
    code, out, _ = run(inst, monkeypatch, capsys, "--dry-run", "--json")
    doc = json.loads(out)
    assert doc["interrupted_leftovers"] == [] and doc["interrupted_leftovers_kept"][0]["code"] == KEEP_LIST
    code, out, _ = run(inst, monkeypatch, capsys, "--yes")
    assert code == 0 and "put back 1 left by an interrupted run" in out, out
    assert (inst.pkgs / "keepme-1.0-0" / "info" / "index.json").is_file()


@pytest.mark.parametrize("bad", ["fifo", "invalid"])
def test_a_configuration_file_that_cannot_be_read_stops_the_removal(inst: Installation, monkeypatch, capsys,
                                                                    bad: str) -> None:
    """The standalone script reads conda's configuration itself: a file it cannot read may set
    the caches or environments to scan (and the keep-list), so nothing is removed while it stays
    so; --ignore-unreachable goes ahead."""
    inst.package("spare", size=2_000)
    inst.extract_to_cache(inst.packages["spare-1.0-0"])
    rc = inst.home / ".config" / "conda" / "condarc"
    rc.parent.mkdir(parents=True)
    if bad == "fifo":
        os.mkfifo(rc)
    else:
        rc.write_text("envs_dirs: [/elsewhere\n  - : :\n")
    code, out, err = run(inst, monkeypatch, capsys, "--yes")
    assert code == 3 and (inst.pkgs / "spare-1.0-0").is_dir(), out + err
    assert f"the configuration file {rc} could not be read" in err and "--ignore-unreachable" in err
    code, out, err = run(inst, monkeypatch, capsys, "--yes", "--ignore-unreachable")
    assert code == 0 and not (inst.pkgs / "spare-1.0-0").exists(), out + err


def _leave_in_trash(inst: Installation, name: str) -> Path:
    """What a prune killed after its rename into the trash leaves behind."""
    from conda_prune.caches import trash_name

    own = own_trash_folder(inst.pkgs)
    own.mkdir(parents=True, mode=0o700, exist_ok=True)
    left = own / trash_name(name)
    os.rename(inst.pkgs / name, left)
    return left


def test_a_leftover_a_symlink_points_into_goes_back(inst: Installation, monkeypatch, capsys) -> None:
    """An environment nobody's records tie to the entry links into it (made after the killed
    run's plan): as an entry it would be kept, so as a leftover it goes back, and the link works."""
    inst.package("seen", size=2_000)
    inst.package("linked", size=20_000)
    prefix = inst.create_env("e", ["seen"])
    entry = inst.extract_to_cache(inst.packages["linked-1.0-0"])
    (prefix / "lib").mkdir(exist_ok=True)
    link = prefix / "lib" / "hand-made-link"
    link.symlink_to(entry / "share" / "linked" / "payload.bin")
    _leave_in_trash(inst, "linked-1.0-0")
    code, out, _ = run(inst, monkeypatch, capsys, "--dry-run")
    assert code == 0 and "linked-1.0-0: a symlink points into it" in " ".join(out.split()), out
    code, out, _ = run(inst, monkeypatch, capsys, "--yes")
    assert code == 0 and "put back 1" in out, out
    assert link.resolve().is_file()


@pytest.mark.parametrize("folder", [True, False])
def test_a_leftover_tarball_is_judged_as_tarballs_are(inst: Installation, monkeypatch, capsys, folder: bool) -> None:
    """A tarball an interrupted --tarballs run left: environments never link from a tarball, so
    it goes when the package stays extracted; with only the tarball in use, --tarballs lets it go."""
    inst.package("used", size=2_000)
    inst.create_env("e", ["used"])
    tarball = inst.pkgs / "used-1.0-0.conda"
    if not tarball.exists():
        shutil.copy(inst.packages["used-1.0-0"].path, tarball)
    if not folder:
        shutil.rmtree(inst.pkgs / "used-1.0-0")
    left = _leave_in_trash(inst, "used-1.0-0.conda")
    args = ("--yes",) if folder else ("--yes", "--tarballs")
    code, out, _ = run(inst, monkeypatch, capsys, *args)
    assert code == 0 and "finished 1 left by an interrupted run" in out, out
    assert not left.exists() and not tarball.exists()


def test_a_doubt_that_arises_during_the_prune_puts_everything_back(inst: Installation, monkeypatch, capsys) -> None:
    """The prune looks again before deleting; if what an environment uses cannot be known then
    (its conda-meta could not be read), nothing it moved is deleted."""
    from conda_prune import removal

    inst.package("spare", size=2_000)
    inst.extract_to_cache(inst.packages["spare-1.0-0"])
    real = removal.read_references

    def with_a_new_doubt(caches, discovery, problems, blockers, *args, **kwargs):  # type: ignore[no-untyped-def]
        index = real(caches, discovery, problems, blockers, *args, **kwargs)
        blockers.append("cannot read /somewhere/conda-meta: the packages that environment uses are unknown")
        return index

    monkeypatch.setattr(removal, "read_references", with_a_new_doubt)
    code, out, _ = run(inst, monkeypatch, capsys, "--yes")
    assert code == 0 and "a doubt arose during the prune" in out, out
    assert (inst.pkgs / "spare-1.0-0" / "info" / "index.json").is_file()


@pytest.mark.parametrize("text", ["envs_dirs: /somewhere/envs\n", "plugins:\n  prune_keep: keepme\n",
                                  "pkgs_dirs: [[/a]]\n"])
def test_a_setting_conda_refuses_stops_the_removal(inst: Installation, monkeypatch, capsys, text: str) -> None:
    """conda stops on a setting of the wrong type; the standalone script warns and goes on
    reading, but what that setting names (environments to scan, packages to keep) is unknown."""
    inst.package("keepme", size=2_000)
    inst.extract_to_cache(inst.packages["keepme-1.0-0"])
    rc = inst.home / ".condarc"
    rc.write_text(text)
    code, out, err = run(inst, monkeypatch, capsys, "--yes")
    assert code == 3 and (inst.pkgs / "keepme-1.0-0").is_dir(), out + err
    assert "a setting conda refuses" in err and str(rc) in err


def test_a_configuration_folder_that_cannot_be_listed_stops_the_removal(inst: Installation, monkeypatch, capsys) -> None:
    inst.package("spare", size=2_000)
    inst.extract_to_cache(inst.packages["spare-1.0-0"])
    folder = inst.home / ".conda" / "condarc.d"
    folder.mkdir(parents=True)
    real = os.scandir

    def refuse(path=".", *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path) == str(folder):  # as for a user without the right to list it
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", refuse)
    code, out, err = run(inst, monkeypatch, capsys, "--yes")
    assert code == 3 and (inst.pkgs / "spare-1.0-0").is_dir(), out + err
    assert f"the configuration folder {folder} cannot be listed" in err
