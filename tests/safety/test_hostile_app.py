"""Hostile application files under ``conda prune -n ENV --app``, as root and as an unprivileged user.

Each case plants one thing in the application, then runs ``conda-prune prune -p ENV --app APP``
(``--dry-run``, then ``--yes``) in a subprocess under a timeout: no hang, no traceback, one line
that names the file, and nothing removed while what the application uses is unknown (exit 3).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from builder import Installation
from conftest import HAVE_CONDA

from .support import User, assert_clean_stderr, chown_tree, record, run

pytestmark = pytest.mark.safety

TIMEOUT = 60  # seconds: a hang fails the case


def _fifo(app: Path) -> str:
    os.mkfifo(app / "fifo.py")
    return "fifo.py"


def _device(app: Path) -> str:
    (app / "zero.py").symlink_to("/dev/zero")
    return "zero.py"


def _proc_link(app: Path) -> str:
    (app / "proc").symlink_to("/proc")
    return "proc"


def _huge(app: Path) -> str:
    with open(app / "huge.py", "wb") as fh:
        fh.write(b"import numpy\n")
        fh.truncate(65 * 1024 * 1024)  # over the 64 MiB read limit (sparse: no disk used)
    return "huge.py"


def _deep(app: Path) -> str:
    (app / "deep.py").write_text("x = " + "-" * 50_000 + "1\nimport os" + ".a" * 1_500 + "\n")
    (app / "deep.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "import numpy", "outputs": '
                                    + "[" * 100_000 + "]" * 100_000 + '}], "metadata": {}}')
    return ""  # parsed what can be, reported what cannot: no doubt, no crash


CASES: dict[str, tuple[str, Callable[[Path], str], int]] = {
    # id: (row of the table, plant, exit code of --yes)
    "app-fifo": ("a FIFO named like a Python file in the application", _fifo, 3),
    "app-device": ("an application file that is a symlink to `/dev/zero`", _device, 3),
    "app-proc-link": ("a folder symlink from the application to `/proc`", _proc_link, 3),
    "app-huge": ("an application file over the 64 MiB read limit", _huge, 3),
    "app-deep": ("50,000 unary minuses, a 1,500-long attribute chain, a notebook nested 100,000 deep", _deep, 0),
}


def _installation(root: Path) -> tuple[Installation, Path, Path]:
    inst = Installation(root)
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    inst.package("numpy", "1.26.4", "py311h0", depends=["python"], python_modules=["numpy"], size=3_000)
    inst.package("spare", "1.0", "py311h0", depends=["python"], python_modules=["spare"], size=3_000)
    prefix = inst.create_env("demo", ["python", "numpy", "spare"], link="copy")
    app = root / "app"
    app.mkdir()
    (app / "main.py").write_text("import numpy\n")
    return inst, prefix, app


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_application_file(request, workdir: Path, who: User, case: str) -> None:
    title, plant, code = CASES[case]
    inst, prefix, app = _installation(workdir / "inst")
    needle = plant(app)
    if who.uid != 0:
        chown_tree(workdir, who)
    args = ("-p", str(prefix), "--app", str(app))
    extra = {"XDG_CACHE_HOME": str(workdir / "xdg")}
    dry = run(inst, who, *args, "--dry-run", timeout=TIMEOUT, **extra)
    assert_clean_stderr(dry.err)
    assert dry.code == code, dry.err + dry.out
    # a real run only where it must refuse, and only with conda (without it the script refuses any
    # removal before it reads the application: the dry run above is then the check)
    real = run(inst, who, *args, "--yes", timeout=TIMEOUT, **extra) if code == 3 and HAVE_CONDA else dry
    assert_clean_stderr(real.err)
    assert real.code == code, real.err + real.out
    said = [line for line in (real.err + real.out).splitlines() if needle and needle in line]
    if needle:
        assert said, f"no line names {needle}:\n{real.err}\n{real.out}"
    assert (prefix / "conda-meta" / "numpy-1.26.4-py311h0.json").exists()
    if code == 3:
        assert (prefix / "conda-meta" / "spare-1.0-py311h0.json").exists(), "removed while in doubt"
    happened = f"exit {real.code}" + ("; nothing removed" if code == 3 else "") + (
        f"; says: {said[0].strip()[:120]}" if said else "")
    record(request, title, 1, happened.replace(str(app), "<app>"), who.label)
