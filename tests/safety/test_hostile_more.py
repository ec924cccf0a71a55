"""More hostile and broken input, one case each, as root and as an unprivileged user.

Each case builds a small real installation, breaks one thing, and runs ``conda-prune`` in a
subprocess under a timeout (a hang fails the case). Each checks the exit code, that stderr
holds no traceback, that a problem is one line naming the file, and that nothing in use (or in
doubt) was removed:

* ``why-used --app`` with hostile application files (a FIFO, a link to ``/dev/zero``, a link to
  ``/proc``, a notebook nested 100,000 deep, 50,000 unary minuses, a 1,500-long attribute chain);
* ``prune --app FILE`` naming one such file directly, not a folder to walk;
* a ``conda-meta/history`` spec line of 1,100,000 minus signs;
* an application file the user running the prune cannot read;
* rich markup in the application's ``import_module(...)`` calls;
* ``why-used --all-envs`` with an environment folder named with terminal escapes;
* ``--tarballs`` with another user's tarball, and in a cache the user may not write;
* leftovers of an interrupted prune: on the keep-list, and in a cache the user may not write.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from builder import Installation
from conftest import HAVE_CONDA

from conda_prune.caches import TRASH_DIR, own_trash_folder, trash_name

from .installs import many_files, small_installation
from .support import (
    Result,
    User,
    assert_clean_stderr,
    chown_tree,
    diff_snapshots,
    env_fingerprint,
    incomplete_entries,
    record,
    run,
    snapshot,
    trash_items,
    verify_env,
)

pytestmark = pytest.mark.safety

TIMEOUT = 60  # seconds: a hang fails the case


def _short(text: str, *roots: Path) -> str:
    """A line for the table: the test's temporary folders replaced, runs of spaces joined."""
    for n, root in enumerate(roots):
        text = text.replace(str(root), ("<inst>", "<app>")[n])
    text = re.sub(rf"/{re.escape(TRASH_DIR)}/\d+", f"/{TRASH_DIR}/<uid>", text)  # root's and the user's alike
    return re.sub(r"\s{2,}", " | ", text.strip()).replace("warning: ", "")[:200]


def _lines_naming(needle: str, *texts: str) -> list[str]:
    return [line for text in texts for line in text.splitlines() if needle in line]


# -- application installations ---------------------------------------------------------------------


def _app_installation(root: Path) -> tuple[Installation, Path, Path]:
    """python, numpy (imported by the application's main.py) and spare (used by nothing)."""
    inst = Installation(root / "inst")
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": "", "lib/python3.11/importlib/__init__.py": ""},
                 executables=["python"])
    inst.package("numpy", "1.26.4", "py311h0", depends=["python"], python_modules=["numpy"], size=3_000)
    inst.package("spare", "1.0", "py311h0", depends=["python"], python_modules=["spare"], size=3_000)
    prefix = inst.create_env("demo", ["python", "numpy", "spare"], link="copy")
    app = root / "app"
    app.mkdir()
    (app / "main.py").write_text("import numpy\n")
    return inst, prefix, app


def _records_stay(prefix: Path) -> None:
    for record_name in ("numpy-1.26.4-py311h0.json", "spare-1.0-py311h0.json"):
        assert (prefix / "conda-meta" / record_name).exists(), f"{record_name} removed while in doubt"


def _app_run(inst: Installation, who: User, workdir: Path, *args: str, subcommand: str = "prune") -> Result:
    result = run(inst, who, *args, subcommand=subcommand, timeout=TIMEOUT, XDG_CACHE_HOME=str(workdir / "xdg"))
    assert_clean_stderr(result.err)
    return result


# -- 1. why-used --app with hostile application files ----------------------------------------------


def _fifo(app: Path) -> str:
    os.mkfifo(app / "fifo.py")
    return "fifo.py"


def _device(app: Path) -> str:
    (app / "zero.py").symlink_to("/dev/zero")
    return "zero.py"


def _proc_link(app: Path) -> str:
    (app / "proc").symlink_to("/proc")
    return "proc"


def _deep_notebook(app: Path) -> str:
    (app / "deep.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "import numpy", "outputs": '
                                    + "[" * 100_000 + "]" * 100_000 + '}], "metadata": {}}')
    return "deep.ipynb"


def _minus_signs(app: Path) -> str:
    (app / "minus.py").write_text("x = " + "-" * 50_000 + "1\nimport numpy\n")
    return "minus.py"


def _attribute_chain(app: Path) -> str:
    (app / "attrs.py").write_text("import os" + ".a" * 1_500 + "\nx = os" + ".a" * 1_500 + "\n")
    return ""  # it parses: nothing to report


WHY_CASES: dict[str, tuple[str, Callable[[Path], str]]] = {
    "fifo": ("`why-used --app`: a FIFO named like a Python file in the application", _fifo),
    "device": ("`why-used --app`: an application file that is a symlink to `/dev/zero`", _device),
    "proc-link": ("`why-used --app`: a folder symlink from the application to `/proc`", _proc_link),
    "deep-notebook": ("`why-used --app`: a notebook nested 100,000 deep", _deep_notebook),
    "minus-signs": ("`why-used --app`: 50,000 unary minuses in an application file", _minus_signs),
    "attribute-chain": ("`why-used --app`: a 1,500-long attribute chain in an application file", _attribute_chain),
}


@pytest.mark.parametrize("case", list(WHY_CASES))
def test_why_used_app_hostile_file(request, workdir: Path, who: User, case: str) -> None:
    title, plant = WHY_CASES[case]
    inst, prefix, app = _app_installation(workdir)
    needle = plant(app)
    if who.uid != 0:
        chown_tree(workdir, who)
    result = _app_run(inst, who, workdir, "numpy", "-p", str(prefix), "--app", str(app), subcommand="why-used")
    assert result.code == 0, result.err + result.out
    assert str(app / "main.py") + ":1" in result.out, "the walk stopped before main.py:\n" + result.out
    said = _lines_naming(str(app / needle), result.err) if needle else []
    if needle:
        assert said, f"no line names {needle}:\n{result.err}"
        assert len(said) == 1, said
    else:
        assert not result.err.strip(), result.err
    happened = "exit 0; main.py's import still found; " + (
        f"says: {_short(said[0], inst.root, app)}" if said else "parsed; nothing to report")
    record(request, title, 1, happened, who.label)


# -- 2. prune --app naming one hostile file ---------------------------------------------------------

SINGLE_CASES: dict[str, tuple[str, Callable[[Path], str]]] = {
    "fifo": ("`prune --app FILE` naming a FIFO directly", _fifo),
    "device": ("`prune --app FILE` naming a symlink to `/dev/zero` directly", _device),
}


@pytest.mark.parametrize("case", list(SINGLE_CASES))
def test_prune_app_names_a_hostile_file(request, workdir: Path, who: User, case: str) -> None:
    title, plant = SINGLE_CASES[case]
    inst, prefix, app = _app_installation(workdir)
    target = app / plant(app)
    if who.uid != 0:
        chown_tree(workdir, who)
    args = ("-p", str(prefix), "--app", str(target))
    dry = _app_run(inst, who, workdir, *args, "--dry-run")
    assert dry.code == 3, dry.err + dry.out
    # with conda a real run gets as far as reading the application; without it the script
    # refuses any removal before, and the dry run is the check
    real = _app_run(inst, who, workdir, *args, "--yes") if HAVE_CONDA else dry
    assert real.code == 3, real.err + real.out
    said = _lines_naming(str(target), real.err)
    assert said, f"no line names {target}:\n{real.err}"
    _records_stay(prefix)
    record(request, title, 1, f"exit {real.code}; nothing removed; says: {_short(said[0], inst.root, app)}", who.label)


# -- 3. a history line of minus signs ---------------------------------------------------------------


def test_history_line_of_minus_signs(request, workdir: Path, who: User) -> None:
    inst, prefix, app = _app_installation(workdir)
    history = prefix / "conda-meta" / "history"
    with open(history, "a") as fh:
        fh.write("==> 2024-01-01 00:00:00 <==\n# cmd: conda install x\n# conda version: 24.1.0\n"
                 "# update specs: [" + "-" * 1_100_000 + "1]\n")
    if who.uid != 0:
        chown_tree(workdir, who)
    why = _app_run(inst, who, workdir, "numpy", "-p", str(prefix), "--app", str(app), subcommand="why-used")
    assert why.code == 0, why.err + why.out
    dry = _app_run(inst, who, workdir, "-p", str(prefix), "--app", str(app), "--dry-run")
    assert dry.code == 0, dry.err + dry.out
    said = []
    for result in (why, dry):
        assert "MemoryError" not in result.err + result.out, result.err
        lines = _lines_naming(str(history), result.err)
        assert len(lines) == 1, result.err
        assert not [line for line in result.err.splitlines() if line.strip() and line not in lines], result.err
        said.append(lines[0])
    assert "spare" in dry.out, dry.out  # the run went on: the unused package is still found
    record(request, "a `conda-meta/history` spec line of 1,100,000 minus signs (why-used and `prune --app --dry-run`)",
           1, f"exit 0 for both; one warning each: {_short(said[0], inst.root, app)}", who.label)


# -- 4. an application file the user cannot read -----------------------------------------------------


def test_unreadable_application_file(request, workdir: Path, unprivileged: User) -> None:
    inst, prefix, app = _app_installation(workdir)
    secret = app / "secret.py"
    secret.write_text("import spare\n")
    chown_tree(workdir, unprivileged)
    os.chmod(secret, 0)  # root reads it anyway: this case runs only as the unprivileged user
    args = ("-p", str(prefix), "--app", str(app))
    dry = _app_run(inst, unprivileged, workdir, *args, "--dry-run")
    assert dry.code == 3, dry.err + dry.out
    real = _app_run(inst, unprivileged, workdir, *args, "--yes") if HAVE_CONDA else dry
    assert real.code == 3, real.err + real.out
    said = _lines_naming(str(secret), real.err)
    assert said, f"no line names {secret}:\n{real.err}"
    assert _lines_naming(str(secret), real.out[real.out.find("in doubt"):]), "not listed as a doubt:\n" + real.out
    _records_stay(prefix)
    record(request, "an application file the user cannot read (mode 000; run as the unprivileged user only: "
           "root reads any file)", 1, f"exit {real.code}; nothing removed; listed as a doubt: "
           f"{_short(said[0], inst.root, app)}", unprivileged.label)


# -- 5. rich markup in import_module(...) ------------------------------------------------------------


def test_markup_in_import_module(request, workdir: Path, who: User) -> None:
    inst, prefix, app = _app_installation(workdir)
    (app / "main.py").write_text(
        "import numpy\nfrom importlib import import_module\nname = 'y'\n"
        "import_module(\"[/x]\" + name)\nimport_module(\"[bold]x\")\nimport_module(\"[bold]x\" + name)\n"
    )
    if who.uid != 0:
        chown_tree(workdir, who)
    dry = _app_run(inst, who, workdir, "-p", str(prefix), "--app", str(app), "--dry-run", "-v")
    why = _app_run(inst, who, workdir, "numpy", "-p", str(prefix), "--app", str(app), subcommand="why-used")
    for result in (dry, why):
        assert result.code == 0, result.err + result.out
        assert "MarkupError" not in result.err + result.out, result.err
    for shown in ("import_module('[/x]' + name)", "import_module('[bold]x' + name)"):
        assert shown in dry.out, f"{shown} not shown literally:\n{dry.out}"
    assert str(app / "main.py") + ":1" in why.out, why.out
    record(request, "rich markup in the application's `import_module(\"[/x]\" + name)` and `import_module(\"[bold]x\")`",
           1, "exit 0 for `prune --app --dry-run` and why-used; no markup error; shown literally: "
           "import_module('[/x]' + name), import_module('[bold]x' + name) (a literal `[bold]x` is no module name: "
           "not listed)", who.label)


# -- 7. why-used --all-envs and an environment folder named with terminal escapes ----------------------

HOSTILE_ENV = "there\x1b]0;pwned\x07\x1b[2J"


def test_not_found_line_with_hostile_environment_name(request, workdir: Path, who: User) -> None:
    inst = Installation(workdir / "inst")
    inst.package("tiny", "1.0", "0")
    inst.package("numpyx", "1.0", "0")
    here = inst.create_env("here", ["tiny"])
    inst.create_env(HOSTILE_ENV, ["numpyx"])
    if who.uid != 0:
        chown_tree(workdir, who)
    frontends = ["script", "conda"] if HAVE_CONDA else ["script"]
    shown = HOSTILE_ENV.replace("\x1b", "\\x1b").replace("\x07", "\\x07")
    said = ""
    for frontend in frontends:
        result = run(inst, who, "numpyx", "-p", str(here), "--all-envs", subcommand="why-used",
                     frontend=frontend, timeout=TIMEOUT)
        assert_clean_stderr(result.err)
        assert result.code == 1, result.err + result.out
        printed = result.out + result.err
        raw = [c for c in ("\x1b", "\x07") if c in printed]
        assert not raw, f"raw control characters reached the terminal ({frontend}): {printed!r}"
        lines = [line for line in result.err.splitlines() if "is not installed in" in line]
        assert lines and shown in lines[0], f"{frontend}: {result.err!r}"
        said = lines[0]
    record(request, "`why-used PKG -p ENV --all-envs`: PKG only in an environment folder named with terminal escapes"
           + (" (script and conda)" if HAVE_CONDA else ""), 1,
           f"exit 1; no raw escape printed; says: {_short(said, inst.root)}", who.label)


# -- cache installations -----------------------------------------------------------------------------


def _cache_installation(workdir: Path) -> Installation:
    inst = small_installation(workdir / "inst")
    shutil.rmtree(inst.root / "stage")  # build leftovers: nothing a prune looks at
    inst.condarc()  # written on first use: before any snapshot
    tarball = inst.pkgs / "used-1.0-0.conda"
    if not tarball.exists():
        shutil.copy2(inst.packages["used-1.0-0"].path, tarball)
    return inst


def _fingerprints(inst: Installation) -> dict[str, dict[str, str]]:
    return {env: env_fingerprint(inst.envs_dir / env) for env in ("e", "s")}


def _cache_problems(inst: Installation, fingerprints: dict[str, dict[str, str]]) -> list[str]:
    problems = incomplete_entries(inst.pkgs)
    for env, fp in fingerprints.items():
        problems += verify_env(inst.envs_dir / env, fp)
    for dist in ("used-1.0-0", "linked-1.0-0"):
        if not (inst.pkgs / dist / "info" / "index.json").is_file():
            problems.append(f"{dist} (in use) was removed")
    return problems


def _read_only_mount(pkgs: Path) -> list[str]:
    """The prune runs with the cache bind-mounted read-only (root passes every mode check)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare to mount a read-only filesystem")
    return ["unshare", "-m", "sh", "-c",
            f'mount --bind "{pkgs}" "{pkgs}" && mount -o remount,bind,ro "{pkgs}" && exec "$@"', "sh"]


def _cache_run(inst: Installation, who: User, *args: str, wrap: list[str] | None = None) -> Result:
    result = run(inst, who, *args, timeout=TIMEOUT, wrap=wrap)
    assert_clean_stderr(result.err)
    return result


# -- 6. --tarballs with another user's tarball, and in a cache the user may not write -----------------


def test_tarball_owned_by_root(request, workdir: Path, unprivileged: User) -> None:
    inst = _cache_installation(workdir)
    chown_tree(workdir, unprivileged)
    tarball = inst.pkgs / "used-1.0-0.conda"
    os.lchown(tarball, 0, 0)  # the user's own entry in use, with root's tarball beside it
    fingerprints = _fingerprints(inst)
    before = snapshot(inst.root)
    dry = _cache_run(inst, unprivileged, "--tarballs", "--dry-run")
    assert dry.code == 0, dry.err + dry.out
    assert not diff_snapshots(before, snapshot(inst.root)), "the dry run changed something"
    real = _cache_run(inst, unprivileged, "--tarballs", "--yes", "-v")
    assert real.code == 0, real.err + real.out
    problems = _cache_problems(inst, fingerprints)
    if not tarball.is_file():
        problems.append("root's tarball was deleted")
    if os.path.lexists(inst.pkgs / "spare-1.0-0"):
        problems.append("spare-1.0-0 (the user's, unused) still there")
    said = [line for line in real.out.splitlines() if "used-1.0-0" in line and "owned by root" in line]
    if not said:
        problems.append(f"no line says the tarball is owned by root:\n{real.out}")
    record(request, "`--tarballs` with a root-owned tarball beside the user's own entry in use (run as the "
           "unprivileged user; as root: `tarball-other-owner`)", 1,
           f"exit {real.code}; the tarball stays; unused entry removed; says: {_short(said[0], inst.root) if said else ''}",
           unprivileged.label)
    assert not problems, problems


def test_tarballs_in_a_cache_the_user_may_not_write(request, workdir: Path, who: User) -> None:
    inst = _cache_installation(workdir)
    if who.uid != 0:
        chown_tree(workdir, who)
        os.chmod(inst.pkgs, 0o555)
        wrap = None
    else:
        wrap = _read_only_mount(inst.pkgs)
    fingerprints = _fingerprints(inst)
    before = snapshot(inst.root)
    dry = _cache_run(inst, who, "--tarballs", "--dry-run", wrap=wrap)
    assert dry.code == 0, dry.err + dry.out
    real = _cache_run(inst, who, "--tarballs", "--yes", "-v", wrap=wrap)
    assert real.code == 0, real.err + real.out
    os.chmod(inst.pkgs, 0o755)
    problems = _cache_problems(inst, fingerprints)
    problems += [f"changed by a run: {c}" for c in diff_snapshots(before, snapshot(inst.root))
                 if c != f"changed: {inst.pkgs}"]  # its mode, set back above
    reason = "the cache is not writable by you" if who.uid else "the cache is on a read-only filesystem"
    lines = real.out.splitlines()
    said = {
        "the cache": [line for line in lines if line.strip() == f"left alone: {reason}"],
        "the unused entry": [line for line in lines if "spare-1.0-0" in line and reason in line],
        "the tarball in use": [line for line in lines if "used-1.0-0:" in line and f"its tarball stays: {reason}" in line],
    }
    problems += [f"no line says {what} is kept ({reason}):\n{real.out}" for what, found in said.items() if not found]
    how = "mode 555, as the user" if who.uid else "a read-only bind mount, as root"
    shown = said["the tarball in use"][0] if said["the tarball in use"] else ""
    record(request, "`--tarballs` in a cache the user may not write (mode 555 as the user, a read-only mount as root)",
           1, f"exit {real.code}; nothing removed ({how}): the unused entry kept, every tarball stays; "
           f"says: left alone: {reason}; {_short(shown, inst.root)}", who.label)
    assert not problems, problems


# -- 8. leftovers of an interrupted prune --------------------------------------------------------------


def _leftover(inst: Installation, who: User, dist: str, partial: bool = False) -> Path:
    """What a prune killed after its rename into the trash leaves (the name carries our marker);
    ``partial``: killed while deleting it."""
    own = own_trash_folder(inst.pkgs, who.uid)
    own.mkdir(parents=True, exist_ok=True)
    os.chmod(own.parent, 0o755)
    os.chmod(own, 0o700)
    left = own / trash_name(dist)
    os.rename(inst.pkgs / dist, left)
    if partial:
        for f in sorted((left / "share").rglob("*.txt"))[::2]:
            f.unlink()
    return left


LEFTOVER_CASES = {
    # id: (row, part deleted before the kill, exit, what becomes of it)
    "whole": ("a whole leftover of our interrupted prune whose package is on the keep-list", False, 0, "put back whole"),
    "partial": ("a partly deleted leftover of our interrupted prune whose package is on the keep-list", True, 4,
                "left in the trash, reported"),
}


@pytest.mark.parametrize("case", list(LEFTOVER_CASES))
def test_keep_listed_leftover(request, workdir: Path, who: User, case: str) -> None:
    title, partial, code, after = LEFTOVER_CASES[case]
    inst = _cache_installation(workdir)
    inst.package("keepme", files=many_files("keepme", 40))
    inst.extract_to_cache(inst.packages["keepme-1.0-0"])
    inst.condarc().write_text(inst.condarc().read_text() + "plugins:\n  prune_keep:\n    - keepme\n")
    left = _leftover(inst, who, "keepme-1.0-0", partial)
    if who.uid != 0:
        chown_tree(workdir, who)
    fingerprints = _fingerprints(inst)
    before = snapshot(inst.root)
    dry = _cache_run(inst, who, "--dry-run")
    assert dry.code == 0, dry.err + dry.out
    assert not diff_snapshots(before, snapshot(inst.root)), "the dry run changed something"
    real = _cache_run(inst, who, "--yes")
    assert real.code == code, real.err + real.out
    problems = _cache_problems(inst, fingerprints)
    entry = inst.pkgs / "keepme-1.0-0"
    said = ""
    if after == "put back whole":
        if not (entry / "info" / "index.json").is_file():
            problems.append(f"{entry} was not put back")
        if os.path.lexists(left):
            problems.append(f"{left} still there")
        if os.path.lexists(inst.pkgs / TRASH_DIR):
            problems.append(f"the trash is still there: {trash_items(inst.pkgs)}")
    else:
        if os.path.lexists(entry):
            problems.append(f"{entry} put back incomplete")
        if not (left / "info" / "index.json").is_file():
            problems.append(f"{left} deleted")
        lines = [line for line in real.out.splitlines() if "keepme-1.0-0" in line and "Reinstall" in line]
        if not lines or str(left.parent) not in lines[0]:
            problems.append(f"no line names the trash and says to reinstall:\n{real.out}")
        said = lines[0] if lines else ""
    record(request, title, 1, f"exit {real.code}; {after}" + (f"; says: {_short(said, inst.root)}" if said else ""),
           who.label)
    assert not problems, problems


def test_leftover_in_a_cache_the_user_may_not_write(request, workdir: Path, who: User) -> None:
    inst = _cache_installation(workdir)
    left = _leftover(inst, who, "spare-1.0-0")
    if who.uid != 0:
        chown_tree(workdir, who)
        os.chmod(inst.pkgs, 0o555)
        wrap = None
    else:
        wrap = _read_only_mount(inst.pkgs)
    fingerprints = _fingerprints(inst)
    items = trash_items(inst.pkgs)
    before = snapshot(inst.root)
    dry = _cache_run(inst, who, "--dry-run", wrap=wrap)
    assert dry.code == 0, dry.err + dry.out
    real = _cache_run(inst, who, "--yes", wrap=wrap)
    assert real.code == 0, real.err + real.out
    os.chmod(inst.pkgs, 0o755)
    problems = _cache_problems(inst, fingerprints)
    problems += [f"changed by a run: {c}" for c in diff_snapshots(before, snapshot(inst.root))
                 if c != f"changed: {inst.pkgs}"]  # its mode, set back above
    if trash_items(inst.pkgs) != items or not (left / "info" / "index.json").is_file():
        problems.append(f"the leftover was touched: {trash_items(inst.pkgs)}")
    said = [line for line in _lines_naming(str(inst.pkgs), real.err, real.out)
            if "interrupted prune" in line and "left alone" in line]
    if not said:
        problems.append(f"no problem line names the cache and its leftover:\n{real.err}\n{real.out}")
    how = "mode 555, as the user" if who.uid else "a read-only bind mount, as root"
    record(request, "a leftover of our interrupted prune in a cache the user may not write (mode 555 as the user, "
           "a read-only mount as root)", 1,
           f"exit {real.code}; the leftover is left alone ({how}); says: {_short(said[0], inst.root) if said else ''}",
           who.label)
    assert not problems, problems
