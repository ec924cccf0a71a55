"""Hostile files where conda-prune reads an environment, a configuration or an application, as
root and as an unprivileged user.

Each case plants one thing (a FIFO, a link to ``/dev/zero``, a file over the read limit, input
nested deeper than a parser recurses), then runs the real command (``conda-prune why-used``,
``conda-prune prune -p ENV --app APP``, or the cache prune of the ``conda-prune`` script) in a
subprocess under a timeout. Each case checks: no hang, no traceback, the exit code, one line that
names the file (where there is something to report), a dry run that changed nothing, and, where
the file leaves what to keep in doubt, a real run that removes nothing (exit 3).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from builder import SITE, Installation
from conftest import HAVE_CONDA

from .support import Result, User, assert_clean_stderr, chown_tree, diff_snapshots, record, run, snapshot

pytestmark = pytest.mark.safety

TIMEOUT = 60  # seconds: a hang fails the case
#: a run that reads ``/dev/zero`` (or any file) without bound fails with MemoryError at this much
#: address space, instead of taking the machine's memory until the kernel kills something
MEMORY_CAP = 3 << 30
DEEP = "[" * 100_000 + "]" * 100_000


@dataclass
class Ctx:
    inst: Installation
    prefix: Path
    app: Path

    @property
    def meta(self) -> Path:
        return self.prefix / "conda-meta"


@dataclass(frozen=True)
class Case:
    title: str  # the row of the safety table
    plant: Callable[[Ctx], Path | None]  # breaks one thing; the file a line must name (None: nothing to report)
    says: str  # what that line says about it
    code: int  # exit code of the dry run (and of the real run, when it refuses)
    command: str = "app"  # "app": prune -p ENV --app APP; "why-used"; "cache": the cache prune
    python: bool = True  # False: the environment has no Python (so no standard library of its own)
    args: tuple[str, ...] = ()


def _fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(path):
        path.unlink()  # a hardlink into the cache: the cache's copy stays as it was
    os.mkfifo(path)
    return path


def _zero(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to("/dev/zero")
    return path


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:
        fh.write(b"pkgs_dirs: [/from/huge]\n")
        fh.truncate(size)  # sparse: no disk used
    return path


def _deep_direct_url(ctx: Ctx) -> Path:
    info = ctx.inst.pip_install(ctx.prefix, "mylib", "0.1", ["mylib"], ["numpy"])
    path = info / "direct_url.json"
    path.write_text('{"url": "file:///src/mylib", "dir_info": ' + DEEP + "}")
    return path


def _deep_dockerfile(ctx: Ctx) -> None:
    (ctx.app / "Dockerfile").write_text(f"FROM x\nCMD {DEEP}\n")


def _deep_ci(ctx: Ctx) -> None:
    workflows = ctx.app / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text(f"jobs:\n  t:\n    steps:\n      - run: {DEEP}\n")


def _kernel_fifo(ctx: Ctx) -> Path:
    (ctx.app / "nb.ipynb").write_text('{"cells": [], "metadata": {"kernelspec": {"name": "python3"}}, '
                                      '"nbformat": 4, "nbformat_minor": 5}')
    return _fifo(ctx.prefix / "share" / "jupyter" / "kernels" / "python3" / "kernel.json")


def _program_fifo(ctx: Ctx) -> Path:
    (ctx.app / "Makefile").write_text("lint:\n\ttool --check .\n")
    return _fifo(ctx.prefix / "bin" / "tool")


def _deep_pytest_plugins(ctx: Ctx) -> None:
    (ctx.app / "conftest.py").write_text("pytest_plugins = " + "-" * 50_000 + "1\nimport numpy\n")


def _requested_from_fifo(ctx: Ctx) -> Path:
    return _fifo(ctx.inst.root / "environment.yml")


CASES: dict[str, Case] = {
    "history-why-used": Case("a FIFO `conda-meta/history` (`why-used`)",
                             lambda c: _fifo(c.meta / "history"), "is a FIFO", 0, command="why-used"),
    "history-app": Case("a FIFO `conda-meta/history` (`prune --app`)",
                        lambda c: _fifo(c.meta / "history"), "is a FIFO", 3),
    "pinned": Case("a FIFO `conda-meta/pinned`", lambda c: _fifo(c.meta / "pinned"), "is a FIFO", 3),
    "entry-points": Case("a FIFO `entry_points.txt` in a dist-info",
                         lambda c: _fifo(c.prefix / SITE / "pytest_xdist-3.6.1.dist-info" / "entry_points.txt"),
                         "is a FIFO", 3),
    "direct-url-deep": Case("a `direct_url.json` nested 100,000 deep", _deep_direct_url, "is not valid JSON", 0),
    "pyvenv-fifo": Case("a FIFO `pyvenv.cfg` in an environment without a standard library",
                        lambda c: _fifo(c.prefix / "pyvenv.cfg"), "is a FIFO", 0, python=False),
    "condarc-fifo": Case("a FIFO `~/.condarc` (the `conda-prune` script)",
                         lambda c: _fifo(c.inst.home / ".condarc"), "is a FIFO", 3, command="cache"),
    "condarc-zero": Case("a `condarc.d/*.yml` symlink to `/dev/zero` (the `conda-prune` script)",
                         lambda c: _zero(c.inst.home / ".conda" / "condarc.d" / "zero.yml"),
                         "is a character device", 3, command="cache"),
    "condarc-huge": Case("a 70 MiB sparse `~/.condarc` (the `conda-prune` script)",
                         lambda c: _sparse(c.inst.home / ".condarc", 70 << 20), "over the 64 MiB read limit", 3,
                         command="cache"),
    "dockerfile-deep": Case("a Dockerfile `CMD` exec form nested 100,000 deep", _deep_dockerfile, "", 0),
    "ci-deep": Case("a CI file's `run: [[[...]]]` nested 100,000 deep", _deep_ci, "", 0),
    "kernel-fifo": Case("a FIFO `kernel.json` of the kernel a notebook names", _kernel_fifo, "is a FIFO", 3),
    "program-fifo": Case("a FIFO in place of a `bin/` program the application runs", _program_fifo, "is a FIFO", 3),
    "pytest-plugins-deep": Case("`pytest_plugins = ----...1` (50,000 minus signs) in a `conftest.py`",
                                _deep_pytest_plugins, "", 0),
    "requested-from-fifo": Case("a FIFO named by `--requested-from`", _requested_from_fifo, "is a FIFO", 2),
}


def _installation(root: Path, python: bool) -> Ctx:
    inst = Installation(root)
    if python:
        inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
        deps = ["python"]
    else:
        deps = []
    inst.package("numpy", "1.26.4", "py311h0", depends=deps, python_modules=["numpy"], size=3_000)
    inst.package("pytest", "8.2.2", "pyh0", depends=deps, python_modules=["pytest", "_pytest"])
    inst.package("pytest-xdist", "3.6.1", "pyh0", depends=["pytest"], python_modules=["xdist"],
                 dist_name="pytest-xdist",
                 files={f"{SITE}/pytest_xdist-3.6.1.dist-info/entry_points.txt": "[pytest11]\nxdist = xdist.plugin\n"})
    inst.package("ipykernel", "6.29.4", "pyh0", depends=deps, python_modules=["ipykernel", "ipykernel_launcher"],
                 files={"share/jupyter/kernels/python3/kernel.json":
                        '{"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]}'})
    inst.package("tool", "1.0", "0", depends=deps, files={
        "bin/tool": "#!/usr/bin/env python\nfrom tool.cli import main\nmain()\n", f"{SITE}/tool/__init__.py": "",
    })
    inst.package("spare", "1.0", "py311h0", depends=deps, python_modules=["spare"], size=3_000)
    names = ["numpy", "pytest-xdist", "ipykernel", "tool", "spare"] + (["python"] if python else [])
    prefix = inst.create_env("demo", names, link="copy")
    app = root / "app"
    app.mkdir()
    (app / "main.py").write_text("import numpy\n")
    return Ctx(inst, prefix, app)


def _command(ctx: Ctx, case: Case, needle: Path | None) -> tuple[str, tuple[str, ...]]:
    """(subcommand, arguments) of the case's run, without --dry-run / --yes."""
    if case.command == "why-used":
        return "why-used", ("numpy", "-p", str(ctx.prefix))
    if case.command == "cache":
        return "prune", ()
    args: tuple[str, ...] = ("-p", str(ctx.prefix), "--app", str(ctx.app))
    if needle is not None and needle.name == "environment.yml":
        args += ("--requested-from", str(needle))
    return "prune", args


_CAP = ["prlimit", f"--as={MEMORY_CAP}", "--"] if shutil.which("prlimit") else []


def _run(ctx: Ctx, who: User, subcommand: str, *args: str) -> Result:
    try:
        return run(ctx.inst, who, *args, subcommand=subcommand, timeout=TIMEOUT, wrap=_CAP,
                   XDG_CACHE_HOME=str(ctx.inst.root.parent / "xdg"))
    except subprocess.TimeoutExpired:
        pytest.fail(f"conda-prune {subcommand} {' '.join(args)} still ran after {TIMEOUT} s: it hung")


@pytest.mark.parametrize("case_id", list(CASES))
def test_hostile_reader(request, workdir: Path, who: User, case_id: str) -> None:
    case = CASES[case_id]
    ctx = _installation(workdir / "inst", case.python)
    ctx.inst.condarc()  # written on first use: before the snapshots
    needle = case.plant(ctx)
    if who.uid != 0:
        chown_tree(workdir, who)
    subcommand, args = _command(ctx, case, needle)
    before = snapshot(ctx.inst.root)

    dry = _run(ctx, who, subcommand, *args, *(("--dry-run",) if subcommand == "prune" else ()))
    assert_clean_stderr(dry.err)
    assert dry.code == case.code, dry.err + dry.out
    assert not diff_snapshots(before, snapshot(ctx.inst.root)), "the dry run changed something"
    final = dry
    if case.code == 3 and HAVE_CONDA:  # where it must refuse, a real run too (it needs conda to remove)
        final = _run(ctx, who, subcommand, *args, "--yes")
        assert_clean_stderr(final.err)
        assert final.code == 3, final.err + final.out
        assert (ctx.meta / "spare-1.0-py311h0.json").exists(), "removed while in doubt"
        assert not diff_snapshots(before, snapshot(ctx.inst.root)), "a refused run changed something"

    said = [line.strip() for line in (final.err + final.out).splitlines() if needle is not None and str(needle) in line]
    if needle is not None:
        assert said, f"no line names {needle}:\n{final.err}\n{final.out}"
        assert any(case.says in line for line in said), said
    if case.code == 2:
        assert final.out == "" and len(final.err.strip().splitlines()) == 1, final.err

    shown = next((line for line in said if case.says in line), "").removeprefix("warning: ")
    happened = f"exit {final.code}" + ("; nothing removed" if case.code == 3 else "") + (
        f"; says: {shown.replace(str(ctx.inst.root), '<inst>')}" if shown else "; no traceback, nothing to report")
    record(request, case.title, 1, happened, who.label)
