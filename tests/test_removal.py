"""The removal module: deletion through folder descriptors, and the per-user trash."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conda_prune import removal
from conda_prune.caches import TRASH_DIR, scan_cache
from conda_prune.removal import Trash, TrashUnusable, delete_at, original_name, trash_name


def _tree(root: Path) -> None:
    (root / "info").mkdir(parents=True)
    (root / "info" / "index.json").write_text("{}")
    (root / "share" / "deep").mkdir(parents=True)
    (root / "share" / "deep" / "f.txt").write_text("x")
    (root / "top.txt").write_text("t")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    (out / "nested").mkdir(parents=True)
    (out / "precious.txt").write_text("keep me\n")
    (out / "nested" / "deep.txt").write_text("keep me too\n")
    return out


def _listing(path: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.lstat().st_mode, p.lstat().st_size) for p in sorted(path.rglob("*"))}


def test_swap_after_listing_deletes_nothing_outside(tmp_path: Path, outside: Path, monkeypatch) -> None:
    """A folder and a file swapped for symlinks to outside right after the walk lists their
    parent: only the links go."""
    folder = tmp_path / "trash"
    _tree(folder / "entry")
    before = _listing(outside) | {str(outside): (outside.stat().st_mode, 0)}
    real_scandir = os.scandir
    fired: list[int] = []

    def scandir(arg):  # type: ignore[no-untyped-def]
        with real_scandir(arg) as it:
            entries = list(it)
        where = os.readlink(f"/proc/self/fd/{arg}") if isinstance(arg, int) else os.fspath(arg)
        if not fired and os.path.basename(where) == "entry":
            fired.append(1)
            os.rename(os.path.join(where, "share"), tmp_path / "stash")
            os.symlink(outside, os.path.join(where, "share"))
            os.unlink(os.path.join(where, "top.txt"))
            os.symlink(outside / "precious.txt", os.path.join(where, "top.txt"))

        class Listing(list):
            def __enter__(self):  # type: ignore[no-untyped-def]
                return self

            def __exit__(self, *exc):  # type: ignore[no-untyped-def]
                return None

        return Listing(entries)

    monkeypatch.setattr(removal.os, "scandir", scandir)
    fd = os.open(folder, os.O_RDONLY)
    try:
        delete_at(fd, "entry")
    finally:
        os.close(fd)
        monkeypatch.undo()
    assert fired, "the swap never happened"
    assert not (folder / "entry").exists()
    assert _listing(outside) | {str(outside): (outside.stat().st_mode, 0)} == before
    assert (tmp_path / "stash" / "deep" / "f.txt").read_text() == "x"  # never entered


def test_read_only_folders_of_ours_are_deleted(tmp_path: Path) -> None:
    _tree(tmp_path / "entry")
    for dirpath, _, _ in os.walk(tmp_path / "entry", topdown=False):
        os.chmod(dirpath, 0o555)
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        delete_at(fd, "entry")
    finally:
        os.close(fd)
    assert not (tmp_path / "entry").exists()


@pytest.mark.skipif(not hasattr(os, "O_PATH"), reason="needs Linux's O_PATH")
def test_a_folder_of_ours_we_may_not_even_read_is_deleted(tmp_path: Path) -> None:
    """Mode 000 on a folder of ours: root reads it anyway, so this runs as an unprivileged user."""
    import shutil
    import subprocess
    import sys

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv, to run as an unprivileged user")
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="conda-prune-test-"))  # a folder the user can reach
    _tree(root / "entry")
    os.chmod(root / "entry" / "share", 0o000)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            os.lchown(name, 65534, 65534)
    code = ("import os, sys; from conda_prune.removal import delete_at; "
            "fd = os.open(sys.argv[1], os.O_RDONLY); delete_at(fd, 'entry')")
    repo = str(Path(removal.__file__).resolve().parents[1])
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                           code, str(root)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": repo})
    try:
        assert done.returncode == 0, done.stderr
        assert not (root / "entry").exists()
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", str(root)], check=False)
        shutil.rmtree(root)


def test_a_trash_folder_swapped_after_it_was_opened_is_not_what_is_counted(tmp_path: Path) -> None:
    """The check for a hardlink gained during the prune walks the trash item through the trash
    folder opened once: a decoy put under the same path later is not what it reads."""
    from conda_prune.removal import _links_grew
    from conda_prune.treestats import tree_stats

    cache = tmp_path / "pkgs"
    _tree(cache / "a-1-0")
    before = tree_stats(cache / "a-1-0")
    with Trash(cache) as trash:
        moved = trash.move_in("a-1-0")
        os.rename(cache / TRASH_DIR, tmp_path / "moved-away")
        decoy = cache / TRASH_DIR / str(os.geteuid()) / moved
        _tree(decoy)
        os.link(decoy / "top.txt", tmp_path / "extra-link")  # the decoy's file has two links
        assert _links_grew(trash, [moved], before) is None
        assert trash.stats_of(moved, removal.TreeStats()).files == before.files


def test_a_cache_replaced_since_the_scan_gets_nothing_moved(tmp_path: Path) -> None:
    cache = tmp_path / "pkgs"
    _tree(cache / "a-1-0")
    scanned = scan_cache(cache)
    os.rename(cache, tmp_path / "old-pkgs")
    _tree(cache / "a-1-0")  # a new folder under the cache's name
    with Trash(scanned.real, scanned.identity) as trash, pytest.raises(TrashUnusable, match="not the folder the scan"):
        trash.move_in("a-1-0")
    assert (cache / "a-1-0" / "top.txt").exists() and (tmp_path / "old-pkgs" / "a-1-0" / "top.txt").exists()


def test_symlink_target_survives_deleting_the_link(tmp_path: Path, outside: Path) -> None:
    (tmp_path / "link").symlink_to(outside)
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        delete_at(fd, "link")
    finally:
        os.close(fd)
    assert (outside / "precious.txt").exists() and not os.path.lexists(tmp_path / "link")


def test_trash_names_carry_the_marker_of_our_rename() -> None:
    name = trash_name("numpy-1.26.4-py311h0_0")
    assert original_name(name) == "numpy-1.26.4-py311h0_0"
    for foreign in ("numpy-1.26.4-py311h0_0", "x~", "x~abc-1", "~1-2", "x~1"):
        assert original_name(foreign) is None


def test_move_restore_and_delete_go_through_our_private_folder(tmp_path: Path) -> None:
    cache = tmp_path / "pkgs"
    _tree(cache / "a-1-0")
    st = os.lstat(cache / "a-1-0")
    with Trash(cache) as trash:
        moved = trash.move_in("a-1-0", (st.st_dev, st.st_ino))
        own = cache / TRASH_DIR / str(os.geteuid())
        assert (own / moved / "top.txt").exists()
        assert stat.S_IMODE(own.stat().st_mode) == 0o700
        assert (cache / TRASH_DIR).stat().st_mode & stat.S_ISVTX
        assert trash.restore(moved, "a-1-0") and (cache / "a-1-0" / "top.txt").exists()
        moved = trash.move_in("a-1-0")
        trash.delete(moved)
    assert not (cache / "a-1-0").exists() and not (cache / TRASH_DIR).exists()


def test_an_entry_replaced_since_the_scan_is_left_alone(tmp_path: Path) -> None:
    cache = tmp_path / "pkgs"
    _tree(cache / "a-1-0")
    st = os.lstat(cache / "a-1-0")
    os.rename(cache / "a-1-0", tmp_path / "elsewhere")
    _tree(cache / "a-1-0")  # another folder under the judged name
    with Trash(cache) as trash, pytest.raises(OSError, match="replaced since the scan"):
        trash.move_in("a-1-0", (st.st_dev, st.st_ino))
    assert (cache / "a-1-0" / "top.txt").exists()


def test_a_planted_private_folder_is_refused(tmp_path: Path) -> None:
    cache = tmp_path / "pkgs"
    _tree(cache / "a-1-0")
    own = cache / TRASH_DIR / str(os.geteuid())
    own.mkdir(parents=True)
    os.chmod(own, 0o777)  # others may write it: what is in it may be anybody's
    with Trash(cache) as trash, pytest.raises(TrashUnusable, match="only you may write"):
        trash.move_in("a-1-0")
    os.chmod(own, 0o700)
    own.rmdir()
    (tmp_path / "elsewhere").mkdir()
    own.symlink_to(tmp_path / "elsewhere")
    with Trash(cache) as trash, pytest.raises(TrashUnusable, match="symlink"):
        trash.move_in("a-1-0")
    assert (cache / "a-1-0" / "top.txt").exists() and not os.listdir(tmp_path / "elsewhere")


def test_without_descriptor_calls_a_cache_others_may_write_is_refused(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "pkgs"
    _tree(cache / "a-1-0")
    os.chmod(cache, 0o775)
    monkeypatch.setattr(removal, "FD_SAFE", False)
    with pytest.raises(TrashUnusable, match="other users may write this cache"):
        Trash(cache)
    os.chmod(cache, 0o755)
    Trash(cache).close()


def test_only_our_own_trash_items_are_leftovers(tmp_path: Path) -> None:
    cache = tmp_path / "pkgs"
    cache.mkdir()
    (cache / "urls.txt").write_text("")
    trash = cache / TRASH_DIR
    own = trash / str(os.geteuid())
    own.mkdir(parents=True, mode=0o700)
    _tree(own / "ours-1-0~12-34")
    _tree(own / "renamed-by-hand-1-0")  # not a name our rename writes
    _tree(trash / "moved-there-1-0~1-1")  # outside any user's folder
    other = trash / "4242"
    _tree(other / "theirs-1-0~5-6")
    scanned = scan_cache(cache)
    assert [p.name for p in scanned.leftovers] == ["ours-1-0~12-34"]
    said = {p.path.name: p.message for p in scanned.problems}
    assert "left alone" in said["renamed-by-hand-1-0"] and "delete it" in said["renamed-by-hand-1-0"]
    assert "left alone" in said["moved-there-1-0~1-1"]
    assert "Run the prune as" in said["4242"]


# -- other installers' locks (rattler: pixi, rattler-build, py-rattler) ----------------------------


def _held(path: Path):  # type: ignore[no-untyped-def]
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _unused(inst):  # type: ignore[no-untyped-def]
    inst.package("spare", size=2_000)
    inst.package("other", size=2_000)
    inst.extract_to_cache(inst.packages["spare-1.0-0"])
    inst.extract_to_cache(inst.packages["other-1.0-0"])
    (inst.pkgs / "spare-1.0-0.lock").write_bytes(b"\0" * 40)  # as rattler writes one beside each entry
    return inst


def test_a_held_cache_lock_keeps_every_entry_of_that_cache(inst) -> None:
    from conda_prune.cache_prune import execute_plan, plan_cache_prune

    _unused(inst)
    plan = plan_cache_prune(inst.locations())
    assert {d.entry.dist for d in plan.removals} >= {"spare-1.0-0", "other-1.0-0"}
    fd = _held(inst.pkgs / ".cache.lock")
    try:
        result = execute_plan(plan, inst.locations())
    finally:
        os.close(fd)
    assert not result.removed and (inst.pkgs / "spare-1.0-0").is_dir() and (inst.pkgs / "other-1.0-0").is_dir()
    assert all("in use by another installer right now" in why for _, why in result.restored)
    result = execute_plan(plan_cache_prune(inst.locations()), inst.locations())  # released: it goes
    assert {d.entry.dist for d in result.removed} >= {"spare-1.0-0", "other-1.0-0"}


def test_a_held_entry_lock_keeps_that_entry_and_an_entry_goes_with_its_lock_file(inst) -> None:
    from conda_prune.cache_prune import execute_plan, plan_cache_prune

    _unused(inst)
    (inst.pkgs / ".cache.lock").write_bytes(b"")  # present, not held
    fd = _held(inst.pkgs / "other-1.0-0.lock")
    try:
        result = execute_plan(plan_cache_prune(inst.locations()), inst.locations())
    finally:
        os.close(fd)
    assert [d.entry.dist for d, _ in result.restored] == ["other-1.0-0"]
    assert (inst.pkgs / "other-1.0-0" / "info" / "index.json").is_file()
    assert "spare-1.0-0" in {d.entry.dist for d in result.removed}
    assert not (inst.pkgs / "spare-1.0-0.lock").exists(), "the removed entry's lock file stayed behind"
    assert (inst.pkgs / ".cache.lock").exists()  # the cache's own lock file is not ours to remove


def test_without_descriptor_calls_nothing_is_moved_in_any_cache(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "pkgs"
    _tree(cache / "a-1-0")
    os.chmod(cache, 0o755)
    monkeypatch.setattr(removal, "FD_SAFE", False)
    with Trash(cache) as trash, pytest.raises(TrashUnusable, match="nothing is moved or deleted"):
        trash.move_in("a-1-0")
    assert (cache / "a-1-0" / "top.txt").exists() and not (cache / TRASH_DIR).exists()


def test_a_file_with_one_link_that_gains_one_during_the_prune_is_seen(tmp_path: Path) -> None:
    # the scan keeps nothing of a one-link file but its bytes: a link added later must still show
    from types import SimpleNamespace

    from conda_prune.removal import _links_grew
    from conda_prune.treestats import tree_stats

    trash = tmp_path / "trash"
    entry = trash / "a-1-0~1-1"
    (entry / "info").mkdir(parents=True)
    (entry / "info" / "index.json").write_text("{}")
    (entry / "lib.so").write_bytes(b"x" * 5000)
    stats = tree_stats(entry)
    assert not stats.inodes and not stats.single and stats.single_bytes > 0
    fd = os.open(trash, os.O_RDONLY | os.O_DIRECTORY)
    fake = SimpleNamespace(path=trash, stats_of=lambda t, into: tree_stats(trash / t, into, dir_fd=fd))
    assert _links_grew(fake, [entry.name], stats) is None  # type: ignore[arg-type]
    os.link(entry / "lib.so", tmp_path / "elsewhere.so")
    assert "lib.so gained a hardlink" in (_links_grew(fake, [entry.name], stats) or "")  # type: ignore[arg-type]
