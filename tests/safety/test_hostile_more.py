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
* ``why-used --all-envs`` with an environment folder named with terminal escapes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from builder import Installation
from conftest import HAVE_CONDA

from conda_prune.caches import TRASH_DIR

from .support import (
    Result,
    User,
    assert_clean_stderr,
    chown_tree,
    record,
    run,
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
