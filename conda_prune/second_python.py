"""The command line of a second Python process running one of conda_prune's modules beside
this one (the symlink walk of :mod:`.walker`, the parse check of :mod:`.appscan.syntax`)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])  # the folder holding conda_prune


def python_command(module: str) -> list[str] | None:
    """``python ... -c CODE ROOT`` running ``conda_prune.<module>._main()``, whose return value is
    the exit code. None where no second Python can be started so (a frozen conda takes no -c).

    -I: neither the current folder (the application, often) nor PYTHONPATH is on the path, so no
    file of the application shadows a module the process imports and runs in its place. -S: no
    site-packages either; the folder holding conda_prune goes last, after the standard library,
    so that nothing installed beside it (backports) shadows the standard library. The UTF-8 mode
    and bytecode setting are this process's. It ends with os._exit once its output is flushed:
    freeing what it built is work no one waits for."""
    if not sys.executable or getattr(sys, "frozen", False):
        return None
    code = ("import os, sys\n"
            "sys.path.append(sys.argv[1])\n"
            f"from conda_prune.{module} import _main\n"
            "code = _main()\n"
            "sys.stdout.flush()\n"
            "os._exit(code)\n")
    flags = ["-I", "-S", "-X", f"utf8={sys.flags.utf8_mode}"] + (["-B"] if sys.dont_write_bytecode else [])
    return [sys.executable, *flags, "-c", code, ROOT]
