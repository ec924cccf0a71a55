"""Hostile and broken input, one case each, run as root and as an unprivileged user.

Every case starts from the same small real installation (``used`` hardlinked into ``e``,
``linked`` symlinked into ``s``, ``spare`` used by nothing) plus a sentinel folder outside the
cache that the running user could delete, breaks one thing, then runs ``conda-prune prune``
with ``--dry-run`` and with ``--yes`` in a subprocess. Each case checks:

* the exit code documented in ``conda_prune/exceptions.py``;
* no traceback on stderr, and (where there is something to report) one line that names the
  file and says what to do;
* the dry run changed nothing at all, and no run changed anything outside the cache (the
  sentinel folder, the environments, ``environments.txt``);
* nothing in use was removed: ``used`` and ``linked`` stay whole, both environments verify;
* ``spare`` is removed or kept as the case says.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conda_prune.caches import TRASH_DIR

from conftest import needs_conda

from .installs import small_installation
from .support import (
    ME, User, assert_clean_stderr, chown_tree, diff_snapshots, env_fingerprint, incomplete_entries,
    record, run, snapshot, verify_env,
)

pytestmark = pytest.mark.safety

# what a message must offer besides naming the file: something the user can do ...
REMEDY = re.compile(
    r"reinstall \S|restore the file|Fix its permissions|Make it readable|pass --ignore-unreachable|"
    r"Delete that|Mount it|run the prune as|check its permissions|they were ignored|Move it back into the cache"
)
# ... or, where the prune rightly leaves something alone and there is nothing to do, why
EXPLAINS = re.compile(r"left alone|not writable by you|on a read-only filesystem")

# a subset also runs through a real conda (`python -m conda prune`): conda's own error handler
THROUGH_CONDA = ("meta-truncated", "unreadable-registry", "registry-unmounted", "nonutf8-entry", "trash-symlink",
                 "other-owner")


@dataclass
class Ctx:
    inst: object
    outside: Path
    who: User
    env: dict[str, str] = field(default_factory=dict)  # extra environment variables for the run
    wrap: list[str] = field(default_factory=list)  # a command the prune runs under
    frontend: str = "script"  # "script": python -m conda_prune; "conda": python -m conda
    fingerprints: dict[str, dict[str, str]] = field(default_factory=dict)  # the environments, before

    @property
    def pkgs(self) -> Path:
        return self.inst.pkgs  # type: ignore[attr-defined]

    @property
    def envs(self) -> Path:
        return self.inst.envs_dir  # type: ignore[attr-defined]

    def meta(self, env: str = "s", dist: str = "linked-1.0-0") -> Path:
        return self.envs / env / "conda-meta" / f"{dist}.json"

    def registry(self) -> Path:
        return self.inst.home / ".conda" / "environments.txt"  # type: ignore[attr-defined]


@dataclass
class Case:
    id: str
    title: str  # the row of the safety table
    prepare: Callable[[Ctx], None]  # before the tree is handed to the user running the prune
    code: dict[str, int]  # expected exit code of --yes, by "root" / "user"
    spare_removed: dict[str, bool]
    needle: Callable[[Ctx], str] | None = None  # the file a message must name (None: nothing to report)
    perms: Callable[[Ctx], None] | None = None  # after the hand-over: modes and owners
    then: tuple[str, ...] = ()  # a second --yes run with these options must exit 0
    who: tuple[str, ...] = ("root", "user")
    says: tuple[str, ...] = ("root", "user")  # who gets the message (root reads what users may not)
    remedy: bool = True  # False: the message explains why something is left alone; nothing to do
    extra: Callable[[Ctx], list[str]] | None = None  # more checks after the runs; problems found
    args: tuple[str, ...] = ()  # options of both runs
    printed: Callable[[str], list[str]] | None = None  # checks of everything both runs printed

    def expected(self, who: User) -> tuple[int, bool]:
        return self.code[who.label], self.spare_removed[who.label]


def both(value):  # type: ignore[no-untyped-def]
    return {"root": value, "user": value}


def rewrite(path: Path, change: Callable[[bytes], bytes]) -> None:
    path.write_bytes(change(path.read_bytes()))


def edit_record(ctx: Ctx, **fields: object) -> None:
    data = json.loads(ctx.meta().read_bytes())
    data.update(fields)
    ctx.meta().write_text(json.dumps(data))


def nonutf8(base: Path, raw: bytes) -> str:
    return os.fsdecode(os.path.join(os.fsencode(base), raw))


# -- the cases ---------------------------------------------------------------------------------


def _escaping_links(ctx: Ctx) -> None:
    share = ctx.pkgs / "spare-1.0-0" / "share"
    (share / "abs-dir").symlink_to(ctx.outside)
    (share / "abs-file").symlink_to(ctx.outside / "precious.txt")
    (share / "rel").symlink_to(os.path.relpath(ctx.outside, share))
    (ctx.pkgs / "used-1.0-0" / "share" / "out").symlink_to(ctx.outside)  # in an entry in use, too


def _loops(ctx: Ctx) -> None:
    for base in (ctx.pkgs / "spare-1.0-0" / "share", ctx.envs / "e" / "share"):
        (base / "a").symlink_to("b")
        (base / "b").symlink_to("a")
        (base / "self").symlink_to(".")
        (base / "up").symlink_to("..")
    (ctx.envs / "s" / "lib-loop").symlink_to(ctx.envs / "s")
    (ctx.envs / "e" / "conda-meta" / "loop.json").symlink_to("loop.json")
    ctx.env["_SEARCH"] = str(ctx.inst.root)  # type: ignore[attr-defined]


def _nonutf8_entry(ctx: Ctx) -> None:
    share = ctx.pkgs / "spare-1.0-0" / "share"
    Path(nonutf8(share, b"caf\xe9.txt")).write_bytes(b"latin-1 name\n")
    Path(nonutf8(share, b"dir-\xff")).mkdir()
    Path(nonutf8(share, b"dir-\xff/\xfe")).write_bytes(b"x")
    shutil.copytree(ctx.pkgs / "spare-1.0-0", nonutf8(ctx.pkgs, b"sp\xe9re-1.0-0"), symlinks=True)


def _nonutf8_env(ctx: Ctx) -> None:
    share = ctx.envs / "e" / "share"
    Path(nonutf8(share, b"na\xefve.txt")).write_bytes(b"x")
    Path(nonutf8(ctx.envs / "s", b"link-\xe9")).symlink_to(ctx.pkgs / "linked-1.0-0" / "share")
    Path(nonutf8(ctx.envs / "e" / "conda-meta", b"b\xe4d-1.0-0.json")).write_bytes(b"{")


def _mount_read_only(ctx: Ctx) -> None:
    ctx.wrap[:] = ["unshare", "-m", "sh", "-c",
                   f'mount --bind "{ctx.pkgs}" "{ctx.pkgs}" && mount -o remount,bind,ro "{ctx.pkgs}" && exec "$@"',
                   "sh"]


def _read_only_folders(ctx: Ctx) -> None:
    for dirpath, _, _ in os.walk(ctx.pkgs / "spare-1.0-0", topdown=False):
        os.chmod(dirpath, 0o555)


def _other_owner(ctx: Ctx) -> None:
    other = (65534, 65534) if ctx.who.uid == 0 else (0, 0)
    for dirpath, dirnames, filenames in os.walk(ctx.pkgs / "spare-1.0-0"):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            os.lchown(name, *other)
    os.lchown(ctx.pkgs / "spare-1.0-0.conda", *other)


def _registry_lines(ctx: Ctx, *lines: str | bytes) -> None:
    with open(ctx.registry(), "ab") as fh:
        for line in lines:
            fh.write((line if isinstance(line, bytes) else line.encode()) + b"\n")


def _registry_junk(ctx: Ctx) -> None:
    (ctx.envs / "loop").symlink_to("loop")
    _registry_lines(ctx, str(ctx.envs / "removed-env"), "# a comment", "", "   ",
                    os.fsencode(ctx.envs) + b"/\xff\xfe-gone", str(ctx.envs / "loop"))


def _cache_symlink(ctx: Ctx) -> None:
    alias = ctx.inst.root / "pkgs-alias"  # type: ignore[attr-defined]
    alias.symlink_to(ctx.pkgs)
    ctx.env["CONDA_PKGS_DIRS"] = str(alias)


def _entry_symlink(ctx: Ctx) -> None:
    (ctx.outside / "info").mkdir()
    (ctx.outside / "info" / "index.json").write_text('{"name": "ext", "version": "1.0", "build": "0"}')
    (ctx.outside / "info" / "paths.json").write_text('{"paths": [], "paths_version": 1}')
    (ctx.pkgs / "ext-1.0-0").symlink_to(ctx.outside)


def _trash_symlink(ctx: Ctx) -> None:
    (ctx.pkgs / TRASH_DIR).symlink_to(ctx.outside)


def _leftover_symlink(ctx: Ctx) -> None:
    (ctx.pkgs / TRASH_DIR).mkdir()
    (ctx.pkgs / TRASH_DIR / "ghost-1.0-0~1-1").symlink_to(ctx.outside)


SWAPHOOK = Path(__file__).resolve().parent / "swaphook"


def _swap_during_deletion(ctx: Ctx) -> None:
    """Another user swaps the entry's folders (and files) for symlinks to a folder outside the
    cache right after the deletion walk lists the entry (see swaphook/sitecustomize.py)."""
    stash = ctx.outside.parent / "stash"
    ctx.env["CONDA_PRUNE_SWAP"] = f"spare-1.0-0|{stash}|{ctx.outside}"
    ctx.env["PYTHONPATH"] = os.pathsep.join((str(SWAPHOOK), str(Path(__file__).resolve().parents[2])))
    (ctx.pkgs / "spare-1.0-0" / "top.txt").write_text("a file directly in the entry\n")


def _swap_happened(ctx: Ctx) -> list[str]:
    stash = ctx.outside.parent / "stash"
    return [] if (stash / "share" / "spare" / "s.txt").is_file() else ["the swap never happened: the case tested nothing"]


def _fifo_record(ctx: Ctx) -> None:
    os.mkfifo(ctx.envs / "e" / "conda-meta" / "x-1-0.json")


def _zero_record(ctx: Ctx) -> None:
    (ctx.envs / "e" / "conda-meta" / "zero-1-0.json").symlink_to("/dev/zero")


def _fifo_registry(ctx: Ctx) -> None:
    ctx.registry().unlink()
    os.mkfifo(ctx.registry())


def _own_trash(ctx: Ctx) -> Path:
    own = ctx.pkgs / TRASH_DIR / str(ctx.who.uid)
    own.mkdir(parents=True, exist_ok=True)
    os.chmod(own, 0o700)
    return own


def _fifo_leftover(ctx: Ctx) -> None:
    """A leftover of an entry in use (so the prune checks it is whole before anything else)
    whose info/paths.json is a FIFO."""
    left = _own_trash(ctx) / "used-1.0-0~1-1"
    shutil.copytree(ctx.pkgs / "used-1.0-0", left, symlinks=True)
    (left / "info" / "paths.json").unlink()
    os.mkfifo(left / "info" / "paths.json")


def _foreign_trash_item(ctx: Ctx) -> None:
    """Another user moved an entry they may not delete into the trash, by hand."""
    (ctx.pkgs / TRASH_DIR).mkdir(exist_ok=True)
    shutil.copytree(ctx.pkgs / "spare-1.0-0", ctx.pkgs / TRASH_DIR / "theirs-1.0-0~1-1", symlinks=True)


def _foreign_kept(ctx: Ctx) -> list[str]:
    kept = (ctx.pkgs / TRASH_DIR / "theirs-1.0-0~1-1" / "info" / "index.json").is_file()
    return [] if kept else ["the item someone else put in the trash was deleted"]


def _foreign_registry(ctx: Ctx, line: str) -> None:
    """Another user's environments.txt (root reads every user's), holding ``line``."""
    _registry_lines(ctx, line)
    os.chown(ctx.registry(), 65534, 65534)


#: what discovery says of a line through /proc in another user's registry (not the owner check's
#: "not owned by this file's owner", which the same line would get without the /proc check)
THROUGH_PROC = "a path through another process's view of the filesystem: not trusted, skipped"


def _proc_line_skipped(printed: str) -> list[str]:
    problems = []
    if THROUGH_PROC not in printed:
        problems.append("the line through /proc was not reported as such")
    if any("lists /proc/" in line and "which resolves to" in line for line in printed.splitlines()):
        problems.append("the line through /proc was followed (judged by its target's owner)")
    return problems


def _hostile_names(ctx: Ctx) -> None:
    """An entry named with terminal escapes (an OSC 52 clipboard write, a cleared screen) and
    rich markup, and a record whose name holds the same."""
    name = "evil\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J[bold]-1.0-0"
    shutil.copytree(ctx.pkgs / "spare-1.0-0", ctx.pkgs / name, symlinks=True)
    (ctx.envs / "e" / "conda-meta" / "x\x1b[2J[red]-1-0.json").write_text("{")


def _shown_not_sent(printed: str) -> list[str]:
    problems = [f"a raw control character was printed: {c!r}" for c in ("\x1b", "\x07") if c in printed]
    if "\\x1b" not in printed or "[bold]" not in printed:
        problems.append("the hostile name was not shown escaped")
    return problems


def _tarball_of_other_user(ctx: Ctx) -> None:
    tarball = ctx.pkgs / "used-1.0-0.conda"
    if not tarball.exists():
        shutil.copy2(ctx.inst.packages["used-1.0-0"].path, tarball)  # type: ignore[attr-defined]


def _tarball_owner(ctx: Ctx) -> None:
    os.lchown(ctx.pkgs / "used-1.0-0.conda", 65534, 65534)


def _tarball_kept(ctx: Ctx) -> list[str]:
    return [] if (ctx.pkgs / "used-1.0-0.conda").exists() else ["another user's tarball was deleted"]


def _symlink_kept(ctx: Ctx) -> list[str]:
    return [] if (ctx.pkgs / "ext-1.0-0").is_symlink() else ["the symlinked entry was removed"]


def _alias_kept(ctx: Ctx) -> list[str]:
    return [] if (ctx.inst.root / "pkgs-alias").is_symlink() else ["the cache symlink was removed"]  # type: ignore[attr-defined]


def _trash_kept(ctx: Ctx) -> list[str]:
    return [] if (ctx.pkgs / TRASH_DIR).is_symlink() else ["the planted trash link is gone"]


def _nonutf8_entry_gone(ctx: Ctx) -> list[str]:
    return ["the non-UTF-8 entry is still there"] if os.path.lexists(nonutf8(ctx.pkgs, b"sp\xe9re-1.0-0")) else []


CASES = [
    Case("meta-truncated", "`conda-meta/*.json` truncated",
         lambda c: rewrite(c.meta(), lambda b: b[: len(b) // 2]), both(0), both(True), lambda c: str(c.meta())),
    Case("meta-binary", "`conda-meta/*.json` not JSON (binary garbage)",
         lambda c: c.meta().write_bytes(b"\x00\xff\xfe\x89PNG garbage"), both(0), both(True), lambda c: str(c.meta())),
    Case("meta-empty", "`conda-meta/*.json` empty",
         lambda c: c.meta().write_bytes(b""), both(0), both(True), lambda c: str(c.meta())),
    Case("meta-array", "`conda-meta/*.json` JSON but not an object",
         lambda c: c.meta().write_text("[1, 2, 3]"), both(0), both(True), lambda c: str(c.meta())),
    Case("meta-deep", "`conda-meta/*.json` nested 100000 deep",
         lambda c: c.meta().write_text("[" * 100_000), both(0), both(True), lambda c: str(c.meta())),
    Case("record-types", "record with wrong types (name 5, link.source 7, depends a string)",
         lambda c: edit_record(c, name=5, depends="x", link={"source": 7, "type": "hard"}),
         both(0), both(True), lambda c: str(c.meta())),
    Case("record-link", "record whose `link` is a list",
         lambda c: edit_record(c, link=[1, 2]), both(0), both(True), lambda c: str(c.meta())),
    Case("record-escape", "record `files` with `..` and absolute paths, `link.source` outside the cache",
         lambda c: edit_record(c, files=["../../../outside/precious.txt", "/etc/passwd", str(c.outside / "precious.txt")],
                               link={"source": str(c.pkgs / ".." / ".." / "outside"), "type": 2},
                               extracted_package_dir=str(c.outside)),
         both(0), both(True), None),
    Case("entry-escaping-symlinks", "symlinks in cache entries pointing outside the cache (absolute, relative, to a folder)",
         _escaping_links, both(0), both(True), None),
    Case("symlink-loops", "symlink loops in a cache entry, in environments and in conda-meta",
         _loops, both(0), both(True), lambda c: str(c.envs / "e" / "conda-meta" / "loop.json")),
    Case("unreadable-meta", "an environment's `conda-meta` the user cannot read",
         lambda c: None, {"root": 0, "user": 3}, {"root": True, "user": False},
         lambda c: str(c.envs / "s" / "conda-meta"), perms=lambda c: os.chmod(c.envs / "s" / "conda-meta", 0), says=("user",),
         then=("--ignore-unreachable",)),
    Case("unreadable-env", "a registered environment the user cannot read",
         lambda c: None, {"root": 0, "user": 3}, {"root": True, "user": False},
         lambda c: str(c.envs / "s"), perms=lambda c: os.chmod(c.envs / "s", 0), says=("user",)),
    Case("unreadable-envs-dir", "an envs dir the user cannot read",
         lambda c: None, {"root": 0, "user": 3}, {"root": True, "user": False},
         lambda c: str(c.envs), perms=lambda c: os.chmod(c.envs, 0), says=("user",)),
    Case("unreadable-registry", "an `environments.txt` the user cannot read",
         lambda c: None, {"root": 0, "user": 3}, {"root": True, "user": False},
         lambda c: str(c.registry()), perms=lambda c: os.chmod(c.registry(), 0), says=("user",)),
    Case("unreadable-entry", "a folder inside a cache entry the user cannot read",
         lambda c: None, {"root": 0, "user": 0}, {"root": True, "user": False},
         lambda c: str(c.pkgs / "spare-1.0-0" / "share"), perms=lambda c: os.chmod(c.pkgs / "spare-1.0-0" / "share", 0), says=("user",)),
    Case("unreadable-cache", "a cache the user cannot list",
         lambda c: None, {"root": 0, "user": 0}, {"root": True, "user": False},
         lambda c: str(c.pkgs), perms=lambda c: os.chmod(c.pkgs, 0), says=("user",)),
    Case("nonutf8-entry", "non-UTF-8 file names in a cache entry, and an entry folder named so",
         _nonutf8_entry, both(0), both(True), None, extra=_nonutf8_entry_gone),
    Case("nonutf8-env", "non-UTF-8 file names in environments (a file, a symlink, a record)",
         _nonutf8_env, both(0), both(True), lambda c: str(c.envs / "e" / "conda-meta" / "b")),
    Case("other-owner", "an entry owned by another user",
         lambda c: None, both(0), both(False), lambda c: str(c.pkgs / "spare-1.0-0"), perms=_other_owner),
    Case("read-only-cache", "a cache the user may not write",
         lambda c: None, both(0), {"root": True, "user": False}, lambda c: str(c.pkgs),
         perms=lambda c: os.chmod(c.pkgs, 0o555), says=("user",), remedy=False),
    Case("read-only-fs", "a cache on a read-only filesystem (bind mount)",
         _mount_read_only, both(0), both(False), lambda c: str(c.pkgs), remedy=False),
    Case("read-only-entry", "an entry whose folders are read-only (owned by the user)",
         lambda c: None, both(0), both(True), None, perms=_read_only_folders),
    Case("registry-missing", "`environments.txt` listing removed environments, a symlink loop and junk lines",
         _registry_junk, both(0), both(True), None),
    Case("registry-unmounted", "`environments.txt` listing an environment on an unmounted disk",
         lambda c: _registry_lines(c, "/mnt/conda-prune-not-mounted/envs/ghost"), both(3), both(False),
         lambda c: "/mnt/conda-prune-not-mounted/envs/ghost", then=("--ignore-unreachable",)),
    Case("cache-symlink", "the cache directory is itself a symlink",
         _cache_symlink, both(0), both(True), None, extra=_alias_kept),
    Case("entry-symlink", "a cache entry that is a symlink to a folder outside the cache",
         _entry_symlink, both(0), both(True), lambda c: str(c.pkgs / "ext-1.0-0"), extra=_symlink_kept, remedy=False),
    Case("trash-symlink", "the trash folder planted as a symlink to a folder outside the cache",
         _trash_symlink, both(0), both(False), lambda c: str(c.pkgs / TRASH_DIR), extra=_trash_kept),
    Case("swap-during-deletion", "entry folders and files swapped for symlinks to a folder outside the cache "
         "right after the deletion lists them", _swap_during_deletion, both(0), both(True), None, extra=_swap_happened),
    Case("fifo-record", "a FIFO named like a record in `conda-meta`",
         _fifo_record, both(0), both(True), lambda c: str(c.envs / "e" / "conda-meta" / "x-1-0.json")),
    Case("zero-record", "a record that is a symlink to `/dev/zero`",
         _zero_record, both(0), both(True), lambda c: str(c.envs / "e" / "conda-meta" / "zero-1-0.json")),
    Case("fifo-registry", "`environments.txt` replaced by a FIFO",
         _fifo_registry, both(3), both(False), lambda c: str(c.registry()), then=("--ignore-unreachable",)),
    Case("fifo-leftover", "a leftover in the trash whose `info/paths.json` is a FIFO",
         _fifo_leftover, both(0), both(True), None),
    Case("foreign-trash-item", "an entry someone else moved into the trash by hand",
         _foreign_trash_item, both(0), both(True), lambda c: str(c.pkgs / TRASH_DIR / "theirs-1.0-0~1-1"),
         extra=_foreign_kept),
    Case("registry-through-proc", "another user's `environments.txt` listing a path through `/proc/self/root`",
         lambda c: _foreign_registry(c, f"/proc/self/root{c.envs / 's'}"), both(0), both(True),
         lambda c: f"{c.registry()}: lists /proc/self/root{c.envs / 's'}, {THROUGH_PROC}", who=("root",),
         printed=_proc_line_skipped),
    Case("registry-foreign-target", "another user's `environments.txt` listing an environment that user does not own",
         lambda c: _foreign_registry(c, str(c.envs / "s")), both(0), both(True),
         lambda c: str(c.registry()), who=("root",)),
    Case("tarball-other-owner", "`--tarballs` with a tarball of an entry in use owned by another user",
         _tarball_of_other_user, both(0), both(True), None, perms=_tarball_owner, who=("root",),
         args=("--tarballs",), extra=_tarball_kept),
    Case("read-only-cache-tarballs", "`--tarballs` in a cache the user may not write",
         _tarball_of_other_user, both(0), {"root": True, "user": False}, None,
         perms=lambda c: os.chmod(c.pkgs, 0o555), args=("--tarballs",),
         extra=lambda c: [] if (c.pkgs / "used-1.0-0").is_dir() else ["the entry in use was removed"]),
    Case("hostile-names", "an entry and a record named with terminal escapes and rich markup",
         _hostile_names, both(0), both(True), None, printed=_shown_not_sent),
    Case("leftover-symlink", "a symlink to a folder outside planted in the trash",
         _leftover_symlink, both(0), both(True), None),
]

PARAMS = [
    pytest.param(case, who, "script", id=f"{case.id}-{who}") for case in CASES for who in ("root", "user") if who in case.who
] + [
    pytest.param(case, who, "conda", id=f"{case.id}-{who}-conda", marks=needs_conda)
    for case in CASES if case.id in THROUGH_CONDA for who in ("root", "user") if who in case.who
]


def _setup(workdir: Path, who: User, case: Case) -> Ctx:
    outside = workdir / "outside"
    (outside / "nested").mkdir(parents=True)
    (outside / "precious.txt").write_text("keep me\n")
    (outside / "nested" / "deep.txt").write_text("keep me too\n")
    ctx = Ctx(small_installation(workdir / "inst"), outside, who)
    shutil.rmtree(ctx.inst.root / "stage")  # type: ignore[attr-defined]
    ctx.inst.condarc()  # type: ignore[attr-defined]  # written on first use: before the snapshots
    case.prepare(ctx)
    if who.uid != 0:
        chown_tree(workdir, who)
    ctx.fingerprints = {env: env_fingerprint(ctx.envs / env) for env in ("e", "s")}
    if case.perms:
        case.perms(ctx)
    return ctx


def _snapshots(ctx: Ctx) -> tuple[dict, dict]:
    root = ctx.inst.root  # type: ignore[attr-defined]
    everything = snapshot(root) | snapshot(ctx.outside)
    outside_cache = snapshot(root, exclude=(ctx.pkgs,)) | snapshot(ctx.outside)
    return everything, outside_cache


def _run(ctx: Ctx, *args: str):  # type: ignore[no-untyped-def]
    extra = dict(ctx.env)
    search = extra.pop("_SEARCH", None)
    if search:
        args = (*args, "--search-path", search)
    return run(ctx.inst, ctx.who, *args, wrap=ctx.wrap or None, frontend=ctx.frontend, **extra)


def _message(case: Case, ctx: Ctx, out: str, err: str) -> str:
    """The one line that names the file and says what to do; '' when the case has none."""
    if case.needle is None:
        return ""
    needle = case.needle(ctx)
    wanted = REMEDY if case.remedy else EXPLAINS
    lines = [line for line in (err + "\n" + out).splitlines() if needle in line and wanted.search(line)]
    assert lines, f"no line names {needle} and says what to do:\n{err}\n{out}"
    return lines[0].strip()


@pytest.mark.parametrize(("case", "who_name", "frontend"), PARAMS)
def test_hostile_input(request, workdir: Path, case: Case, who_name: str, frontend: str) -> None:
    # not root: the "root" run is this user's (with a user's expectations); "user" needs root
    who = ME if who_name == "root" else request.getfixturevalue("unprivileged")
    if case.id == "read-only-fs" and (os.geteuid() != 0 or not shutil.which("unshare")):
        pytest.skip("needs root and unshare to mount a read-only filesystem")
    if case.id == "other-owner" and os.geteuid() != 0:
        pytest.skip("needs root to give an entry to another user")
    ctx = _setup(workdir, who, case)
    ctx.frontend = frontend
    before_all, before_outside = _snapshots(ctx)
    code, spare_gone = case.expected(who)

    dry = _run(ctx, "--dry-run", *case.args)
    assert dry.code == (3 if code == 3 else 0), dry.err  # a dry run exits 3 where the real run refuses
    assert_clean_stderr(dry.err)
    assert not diff_snapshots(before_all, _snapshots(ctx)[0]), "the dry run changed something"

    real = _run(ctx, "--yes", *case.args)
    assert_clean_stderr(real.err)
    assert real.code == code, real.err + real.out
    message = _message(case, ctx, real.out, real.err) if who.label in case.says else ""
    happened = f"exit {real.code}"
    if case.then and real.code != 0:
        again = _run(ctx, "--yes", *case.then)
        assert_clean_stderr(again.err)
        assert again.code == 0, again.err
        happened += f", then exit {again.code} with {' '.join(case.then)}"
        spare_gone = True
    if case.id == "record-escape":  # the cache prune never reads `files`; why-used does, and names the record
        assert str(ctx.meta()) not in real.err
        why = run(ctx.inst, who, "linked", "-p", str(ctx.envs / "s"), subcommand="why-used")
        assert_clean_stderr(why.err)
        assert str(ctx.meta()) in why.err and "outside the environment" in why.err, why.err
        message = next(line for line in why.err.splitlines() if str(ctx.meta()) in line).strip()
        happened += " (the cache prune does not read `files`; `why-used` does)"

    problems = diff_snapshots(before_outside, _snapshots(ctx)[1])
    if os.geteuid() != 0:  # root reads whatever modes the case set; anyone else unlocks them first
        for path in (ctx.envs / "s" / "conda-meta", ctx.envs / "s", ctx.envs, ctx.registry(),
                     ctx.pkgs / "spare-1.0-0" / "share", ctx.pkgs):
            if not os.path.islink(path) and os.path.exists(path) and not os.stat(path).st_mode & 0o400:
                os.chmod(path, 0o755 if path.is_dir() else 0o644)
    problems += [p for p in incomplete_entries(ctx.pkgs)]
    for env, fp in ctx.fingerprints.items():
        problems += verify_env(ctx.envs / env, fp)
    for dist in ("used-1.0-0", "linked-1.0-0"):
        if not (ctx.pkgs / dist / "info" / "index.json").is_file():
            problems.append(f"{dist} (in use) was removed")
    if (ctx.pkgs / "spare-1.0-0").exists() == spare_gone:
        problems.append(f"spare-1.0-0 {'still there' if spare_gone else 'removed'}")
    if case.extra:
        problems += case.extra(ctx)
    if case.printed:
        problems += case.printed(dry.out + dry.err + real.out + real.err)
    kept = "removed" if spare_gone else "kept"
    verb = "says" if case.remedy else "explains"
    record(request, case.title + (" (through conda)" if frontend == "conda" else ""), 1,
           f"{happened}; unused entry {kept}; " + (f"{verb}: {_short(message, ctx)}" if message else "nothing to report"),
           who.label)
    assert not problems, problems


def _short(message: str, ctx: Ctx) -> str:
    """The message with the test's temporary path replaced, for the table."""
    text = message.replace(str(ctx.inst.root), "<inst>").replace(str(ctx.outside), "<outside>")  # type: ignore[attr-defined]
    text = re.sub(r"\s{2,}", " | ", text)
    return text.replace("warning: ", "")
