"""What another user who controls file names and contents can make a prune do (issue 14).

Each case is reproduced on a real installation built offline; most run as any user, the
ones about other users' files need root (to own files as someone else)."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path

import pytest

from builder import Installation
from conda_prune import cache_plan
from conda_prune.cache_prune import IN_USE, plan_cache_prune

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own files as other users")


def decisions(plan) -> dict[str, tuple[str, str]]:
    return {d.entry.dist: (d.action, d.code) for d in plan.decisions}


@pytest.fixture
def victim(inst: Installation) -> Installation:
    """``linked`` symlinked into the victim's environment ``v``; ``decoy`` holds nothing of it."""
    inst.package("linked", size=20_000)
    inst.package("other", size=1_000)
    inst.create_env("v", ["linked"], link="symlink")
    inst.create_env(inst.root / "hidden" / "decoy", ["other"], register=False)
    return inst


def _registry(path: Path, *lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def test_a_flipped_spelling_cannot_stand_in_for_an_environment(victim: Installation, monkeypatch) -> None:
    """A registered spelling that resolves onto the victim's environment when environments are
    de-duplicated and onto a decoy when they are read: the victim's environment is read."""
    link = victim.root / "spelling"
    link.symlink_to(victim.envs_dir / "v")
    first = _registry(victim.root / "attacker" / "environments.txt", str(link))
    mine = victim.home / ".conda" / "environments.txt"
    locations = dataclasses.replace(victim.locations(), environments_txt=(first, mine))
    real_discover = cache_plan.discover

    def discover_then_flip(*args, **kwargs):  # type: ignore[no-untyped-def]
        found = real_discover(*args, **kwargs)
        link.unlink()
        link.symlink_to(victim.root / "hidden" / "decoy")  # between the de-duplication and the read
        return found

    monkeypatch.setattr(cache_plan, "discover", discover_then_flip)
    plan = plan_cache_prune(locations)
    assert decisions(plan)["linked-1.0-0"] == ("keep", IN_USE)


@needs_root
def test_a_line_through_proc_in_another_users_registry_is_not_trusted(victim: Installation) -> None:
    theirs = _registry(victim.root / "attacker" / "environments.txt", f"/proc/self/root{victim.root / 'hidden' / 'decoy'}")
    os.chown(theirs, 65534, 65534)
    locations = dataclasses.replace(victim.locations(), environments_txt=(theirs, *victim.locations().environments_txt))
    plan = plan_cache_prune(locations)
    assert not any("decoy" in str(e.prefix) for e in plan.discovery.environments)
    said = [str(p) for p in plan.problems if p.path == theirs]
    assert said and "not trusted" in said[0] and "Delete that line" in said[0]
    assert decisions(plan)["linked-1.0-0"] == ("keep", IN_USE)


@needs_root
def test_a_registry_flipped_after_its_read_keeps_the_owner_of_what_was_read(victim: Installation, monkeypatch) -> None:
    """Another user's environments.txt is a symlink to their own file, which lists a path
    through /proc; right after it is read, they point the link at a file root owns. The lines
    read are theirs, and stay untrusted."""
    from conda_prune import envs

    decoy = victim.root / "hidden" / "decoy"
    theirs = _registry(victim.root / "attacker" / "real.txt", f"/proc/self/root{decoy}")
    os.chown(theirs, 65534, 65534)
    roots = _registry(victim.root / "attacker" / "roots.txt", "# nothing")
    registry = victim.root / "attacker" / "environments.txt"
    registry.symlink_to(theirs)
    for name in ("read_fd", "read_bytes"):  # whichever reads the file: flip right after it
        real = getattr(envs, name, None)
        if real is None:
            continue

        def read_then_flip(*args, _real=real, **kwargs):  # type: ignore[no-untyped-def]
            data = _real(*args, **kwargs)
            if registry.is_symlink() and registry.resolve() == theirs.resolve():
                registry.unlink()
                registry.symlink_to(roots)
            return data

        monkeypatch.setattr(envs, name, read_then_flip)
    locations = dataclasses.replace(victim.locations(), environments_txt=(registry, *victim.locations().environments_txt))
    plan = plan_cache_prune(locations)
    assert not any("decoy" in str(e.prefix) for e in plan.discovery.environments)
    assert any("not trusted" in str(p) for p in plan.problems if p.path == registry)


@needs_root
def test_another_users_line_never_replaces_the_owners_listing(victim: Installation) -> None:
    v = victim.envs_dir / "v"
    for dirpath, dirnames, filenames in os.walk(v):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            os.lchown(name, 1234, 1234)
    link = victim.root / "spelling"
    link.symlink_to(v)
    theirs = _registry(victim.root / "attacker" / "environments.txt", str(link))
    os.chown(theirs, 65534, 65534)
    owners = _registry(victim.root / "owner" / "environments.txt", str(v))
    os.chown(owners, 1234, 1234)
    locations = dataclasses.replace(victim.locations(), environments_txt=(theirs, owners))
    plan = plan_cache_prune(locations)
    found = {str(e.prefix): e.how for e in plan.discovery.environments}
    assert found[str(v.resolve())] == f"registered in {owners}"
    assert any("not owned by this file's owner" in str(p) for p in plan.problems)


def test_fifos_and_devices_are_named_problems_not_hangs(victim: Installation, tmp_path: Path) -> None:
    meta = victim.envs_dir / "v" / "conda-meta"
    os.mkfifo(meta / "x-1-0.json")
    (meta / "zero-1-0.json").symlink_to("/dev/null")  # a device (not /dev/zero: a regression would fill memory)
    registry = tmp_path / "fifo-environments.txt"
    os.mkfifo(registry)
    locations = dataclasses.replace(victim.locations(), environments_txt=(registry, *victim.locations().environments_txt))
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(plan_cache_prune(locations)), daemon=True)
    worker.start()
    worker.join(60)
    assert done, "the plan hung on a FIFO"
    plan = done[0]
    said = {p.path.name: p.message for p in plan.problems}  # type: ignore[attr-defined]
    assert "FIFO" in said["x-1-0.json"] and "reinstall" in said["x-1-0.json"]
    assert "symlink" in said["zero-1-0.json"]
    assert "FIFO" in said["fifo-environments.txt"]
    assert plan.blockers, "an unreadable environments.txt is doubt"  # type: ignore[attr-defined]


def test_a_fifo_paths_json_in_the_trash_is_incomplete_not_a_hang(victim: Installation) -> None:
    from conda_prune.removal import Trash

    cache = victim.pkgs
    with Trash(cache) as trash:
        moved = trash.move_in("other-1.0-0")
        item = trash.path / moved
        (item / "info" / "paths.json").unlink()
        os.mkfifo(item / "info" / "paths.json")
        started = time.monotonic()
        assert trash.complete(moved) is False
        assert time.monotonic() - started < 5
        trash.delete(moved)


@pytest.fixture
def tarball_kept(inst: Installation) -> Installation:
    """``used`` is installed; its extracted folder and its tarball are both in the cache."""
    inst.package("used", size=5_000)
    inst.create_env("e", ["used"])
    inst.add_conda_cache_files()
    import shutil

    shutil.copy2(inst.packages["used-1.0-0"].path, inst.pkgs / inst.packages["used-1.0-0"].path.name)
    return inst


@needs_root
def test_tarballs_of_another_user_are_kept(tarball_kept: Installation) -> None:
    tarball = tarball_kept.pkgs / tarball_kept.packages["used-1.0-0"].path.name
    os.chown(tarball, 65534, 65534)
    plan = plan_cache_prune(tarball_kept.locations(), tarballs=True)
    d = next(d for d in plan.decisions if d.entry.dist == "used-1.0-0")
    assert (d.action, d.code) == ("keep", IN_USE) and "run the prune as" in d.reason
    assert not plan.removals


def test_tarballs_in_a_cache_you_may_not_write_are_kept(tarball_kept: Installation, monkeypatch) -> None:
    from conda_prune import caches

    monkeypatch.setattr(caches, "_read_only_reason", lambda path: "is not writable by you")
    plan = plan_cache_prune(tarball_kept.locations(), tarballs=True)
    d = next(d for d in plan.decisions if d.entry.dist == "used-1.0-0")
    assert (d.action, d.code) == ("keep", IN_USE) and "not writable by you" in d.reason
    assert not plan.removals


def test_names_with_terminal_escapes_and_markup_are_shown_not_sent(inst: Installation, monkeypatch, capsys) -> None:
    from conda_prune.cli.standalone import main

    inst.package("spare", size=1_000)
    inst.extract_to_cache(inst.packages["spare-1.0-0"])
    import shutil

    hostile = "evil\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J[bold]-1.0-0"
    shutil.copytree(inst.pkgs / "spare-1.0-0", inst.pkgs / hostile)
    odd = inst.root / "odd[" / "x]env"  # a prefix whose path holds "[/x]", registered
    (odd / "conda-meta").mkdir(parents=True)
    os.mkfifo(odd / "conda-meta" / "x\x1b[2J-1-0.json")  # a warning names it
    registry = inst.home / ".conda" / "environments.txt"
    registry.parent.mkdir(parents=True, exist_ok=True)
    with open(registry, "a") as fh:
        fh.write(f"{odd}\n")
    for key in [k for k in os.environ if k.startswith(("CONDA", "MAMBA"))]:
        monkeypatch.delenv(key)
    for key, value in inst.environ().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COLUMNS", "200")
    for args in (["--dry-run"], ["--yes"]):
        code = main(["prune", *args])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "\x1b" not in out + err and "\x07" not in out + err
        assert "\\x1b" in out and "[bold]" in out and "\\x1b" in err and "[/x]" in err
    assert not os.path.lexists(inst.pkgs / hostile)


def test_an_app_naming_markup_and_escapes_in_a_computed_import_is_reported_not_crashed(inst: Installation,
                                                                                        monkeypatch, capsys) -> None:
    from conda_prune.cli.standalone import main

    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    inst.package("numpy", "1.26.4", "py311h0", depends=["python"], python_modules=["numpy"], size=3_000)
    prefix = inst.create_env("demo", ["python", "numpy"], link="copy")
    app = inst.root / "app"
    app.mkdir()
    (app / "main.py").write_text('import importlib\nname = "x"\nimportlib.import_module("[/x]" + name)\n'
                                 'importlib.import_module("\\x1b]0;owned\\x07" + name)\n')
    for key in [k for k in os.environ if k.startswith(("CONDA", "MAMBA"))]:
        monkeypatch.delenv(key)
    for key, value in inst.environ(XDG_CACHE_HOME=str(inst.root / "xdg")).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COLUMNS", "200")
    for flags in ([], ["-v"], ["--json"]):
        code = main(["prune", "-p", str(prefix), "--app", str(app), "--dry-run", *flags])
        out, err = capsys.readouterr()
        assert code in (0, 3), err
        assert "Traceback" not in err and "\x1b" not in out + err and "\x07" not in out + err
        assert "[/x]" in out + err
