"""What every safety case needs: a prune in a subprocess (as root or as an unprivileged user),
fingerprints of what must not change, and the checks a case ends with.

The checks, in the words of issue 5:

* every environment verifies: every file its records list exists (symlinks resolve) and has
  the content it had before the prune (:func:`env_fingerprint`);
* no cache entry conda would link from is incomplete: a folder directly in the cache with
  ``info/index.json`` has every file its ``info/paths.json`` lists, with the recorded size and
  sha256 (:func:`incomplete_entries`);
* nothing outside the cache changed (:func:`snapshot` of a sentinel tree and of the
  installation minus its cache);
* stderr holds no traceback, and each problem is one line naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from conda_prune.caches import TRASH_DIR

TRIALS = int(os.environ.get("CONDA_PRUNE_SAFETY_TRIALS", "50"))
USER_TRIALS = int(os.environ.get("CONDA_PRUNE_SAFETY_USER_TRIALS", str(max(1, TRIALS // 5))))
RACE_TRIALS = int(os.environ.get("CONDA_PRUNE_SAFETY_RACE_TRIALS", "20"))
SEED = int(os.environ.get("CONDA_PRUNE_SAFETY_SEED", "5"))
REPO = Path(__file__).resolve().parents[2]

# -- who runs the prune ------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int

    @property
    def label(self) -> str:
        return "root" if self.uid == 0 else "user"


ROOT = User("root", 0, 0)
ME = ROOT if os.geteuid() == 0 else User(pwd.getpwuid(os.geteuid()).pw_name, os.geteuid(), os.getegid())


def create_user() -> User | None:
    """An unprivileged user made with the system's tools for this run (None when not root)."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("setpriv"):
        return None
    name = f"cpsafety{os.getpid() % 100000}"
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", "--user-group", name],
            check=True, capture_output=True,
        )
    entry = pwd.getpwnam(name)
    return User(name, entry.pw_uid, entry.pw_gid)


def delete_user(user: User) -> None:
    subprocess.run(["userdel", user.name], capture_output=True)
    subprocess.run(["groupdel", user.name], capture_output=True)


def chown_tree(root: Path, user: User) -> None:
    """Give a whole tree (symlinks themselves, not their targets) to ``user``."""
    os.lchown(root, user.uid, user.gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), user.uid, user.gid)


def open_parents(path: Path) -> None:
    """Let other users traverse every parent folder of ``path`` (not read or write them)."""
    for parent in [path, *path.parents]:
        mode = os.stat(parent).st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(parent, stat.S_IMODE(mode) | stat.S_IXOTH)


def rmtree(path: Path) -> None:
    """Remove a test tree, whatever modes a case gave its folders."""
    if not os.path.lexists(path):
        return

    def fix(func, p, exc):  # type: ignore[no-untyped-def]
        parent = os.path.dirname(p)
        os.chmod(parent, 0o700)
        if os.path.isdir(p) and not os.path.islink(p):
            os.chmod(p, 0o700)
        func(p)

    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if not os.path.islink(full):
                os.chmod(full, 0o700)
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=fix)
    else:  # pragma: no cover
        shutil.rmtree(path, onerror=fix)


# -- running the prune -------------------------------------------------------------------------


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


def as_user(user: User) -> list[str]:
    """The command prefix that runs a program as ``user`` (nothing when that is us)."""
    if user.uid == os.geteuid():
        return []
    return ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", "--"]


def command(user: User, *args: str, frontend: str = "script", subcommand: str = "prune") -> list[str]:
    module = "conda_prune" if frontend == "script" else "conda"
    return [*as_user(user), sys.executable, "-m", module, subcommand, *args]


def environ(inst, **extra: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = inst.environ(**extra)
    # conda-prune's own summary cache lives beside the installation, not in it: the checks that
    # a dry run changed nothing look at the whole installation (its home folder included)
    env.setdefault("CONDA_PRUNE_CACHE_DIR", str(inst.root.parent / "prune-cache"))
    env["COLUMNS"] = "400"  # a problem is one line: never wrapped by the terminal width
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run(inst, user: User, *args: str, frontend: str = "script", timeout: float = 300,  # type: ignore[no-untyped-def]
        wrap: list[str] | None = None, subcommand: str = "prune", **extra: str) -> Result:
    cmd = [*(wrap or []), *command(user, *args, frontend=frontend, subcommand=subcommand)]
    done = subprocess.run(cmd, env=environ(inst, **extra), capture_output=True, timeout=timeout, cwd="/")
    return Result(done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"))


def popen(inst, user: User, *args: str, stdout: int = subprocess.DEVNULL) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    return subprocess.Popen(
        command(user, *args), env=environ(inst), cwd="/", stdout=stdout, stderr=subprocess.PIPE,
    )


def kill(proc: subprocess.Popen) -> bool:
    """SIGKILL ``proc`` if it still runs; True when the kill landed."""
    if proc.poll() is not None:
        return False
    try:
        proc.send_signal(signal.SIGKILL)
    except ProcessLookupError:  # pragma: no cover
        return False
    proc.wait()
    return proc.returncode == -signal.SIGKILL


def assert_clean_stderr(err: str) -> None:
    assert "Traceback" not in err, err
    for line in err.splitlines():
        assert not line.startswith(("  File ", "During handling")), err


def message_lines(err: str, needle: str) -> list[str]:
    """The stderr lines that name ``needle`` (a path)."""
    return [line for line in err.splitlines() if needle in line]


# -- fingerprints ------------------------------------------------------------------------------


def _sha(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def snapshot(root: Path, exclude: tuple[Path, ...] = ()) -> dict[str, tuple]:
    """Every path under ``root`` (symlinks not followed) with its type, owner, mode, mtime and
    content (sha256 or link target). Link counts and ctimes are left out: deleting a cache
    entry lowers the link count of the environment files it shared inodes with."""
    skip = {os.path.normpath(p) for p in exclude}
    out: dict[str, tuple] = {}
    stack = [str(root)]
    while stack:
        current = stack.pop()
        if current in skip:
            out[current] = ("excluded",)
            continue
        try:
            st = os.lstat(current)
            base = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            if stat.S_ISLNK(st.st_mode):
                out[current] = (*base, os.readlink(current))
            elif stat.S_ISDIR(st.st_mode):
                out[current] = (*base, st.st_mtime_ns)
                names = sorted(os.listdir(current))
                out[current] += (tuple(names),)
                stack += [os.path.join(current, n) for n in names]
            elif stat.S_ISREG(st.st_mode):
                out[current] = (*base, st.st_mtime_ns, st.st_size, _sha(current))
            else:
                out[current] = (*base,)
        except PermissionError:  # not root: what a case made unreadable is compared by what can be seen
            out[current] = (*out.get(current, ()), "unreadable")
    return out


def diff_snapshots(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    changes = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            what = "removed" if path not in after else "added" if path not in before else "changed"
            changes.append(f"{what}: {path}")
    return changes


def _record_files(prefix: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    meta = prefix / "conda-meta"
    try:
        names = sorted(os.listdir(meta))
    except OSError:  # a case made it unreadable (the checks run as root unless the suite does not)
        return out
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            if not stat.S_ISREG(os.lstat(meta / name).st_mode):
                continue  # a case planted a FIFO or a link to a device: reading it would hang the check
            data = json.loads((meta / name).read_bytes())
            files = [f for f in data.get("files", []) if isinstance(f, str)]
        except (OSError, ValueError, AttributeError, RecursionError):
            continue  # a case broke this record on purpose
        out[name] = [f for f in files if not f.startswith("/") and ".." not in f.split("/")]
    return out


def env_fingerprint(prefix: Path) -> dict[str, str]:
    """Each file the environment's records list -> sha256 of what it resolves to."""
    out: dict[str, str] = {}
    for record, files in _record_files(prefix).items():
        for rel in files:
            path = os.path.join(prefix, rel)
            if not os.path.exists(path):  # follows symlinks: a dangling one is missing
                out[rel] = f"MISSING (listed by {record})"
            elif os.path.isdir(path):
                out[rel] = "dir"
            else:
                out[rel] = _sha(path)
    return out


def verify_env(prefix: Path, before: dict[str, str]) -> list[str]:
    now = env_fingerprint(prefix)
    broken = [f"{prefix}: {rel} {now.get(rel, 'gone')}" for rel in before if now.get(rel) != before[rel]]
    broken += [f"{prefix}: {rel} {v}" for rel, v in now.items() if v.startswith("MISSING")]
    return broken


def incomplete_entries(cache: Path) -> list[str]:
    """Entries conda would link from (a folder with info/index.json directly in the cache)
    that lack a file their info/paths.json lists, or hold it with another size or sha256."""
    problems = []
    try:
        items = sorted(os.listdir(cache))
    except PermissionError:  # not root, and a case made the cache unreadable: nothing to check
        return problems
    for item in items:
        entry = os.path.join(cache, item)
        if not os.path.isfile(os.path.join(entry, "info", "index.json")):
            continue
        try:
            paths = json.loads(Path(entry, "info", "paths.json").read_bytes())["paths"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{entry}: info/paths.json unreadable ({exc})")
            continue
        for p in paths:
            full = os.path.join(entry, p["_path"])
            try:
                os.lstat(full)
            except PermissionError:
                continue  # not root, and a case made part of the entry unreadable
            except OSError:
                problems.append(f"{entry}: {p['_path']} missing")
                continue
            if p.get("path_type", "hardlink") == "hardlink" and not os.path.islink(full):
                if "size_in_bytes" in p and os.lstat(full).st_size != p["size_in_bytes"]:
                    problems.append(f"{entry}: {p['_path']} has the wrong size")
                elif "sha256" in p and _sha(full) != p["sha256"]:
                    problems.append(f"{entry}: {p['_path']} has the wrong content")
    return problems


def trash_items(cache: Path) -> list[str]:
    """What is in the trash, relative to it: the items in each user's folder (``0/name~...``)
    and anything else found there."""
    trash = cache / TRASH_DIR
    try:
        top = sorted(os.listdir(trash))
    except FileNotFoundError:
        return []
    items = []
    for name in top:
        folder = trash / name
        if name.isdigit() and folder.is_dir() and not folder.is_symlink():
            items += [f"{name}/{item}" for item in sorted(os.listdir(folder))]
        else:
            items.append(name)
    return items


def count_files(path: Path) -> int:
    n = 0
    for _, dirnames, filenames in os.walk(path):
        n += len(filenames) + len(dirnames)
    return n


# -- recording what a case did, for bench/safety_report.py --------------------------------------


def record(request, case: str, trials: int, happened: str, who: str = "root") -> None:  # type: ignore[no-untyped-def]
    """One row of the safety table; the report adds the test's outcome as the result."""
    request.node.user_properties.append(
        ("safety", json.dumps({"case": case, "who": who, "trials": trials, "happened": happened}))
    )
