"""The accuracy suite's tracer: which files a Python process really loaded.

Put on ``PYTHONPATH`` with ``CONDA_PRUNE_ACCURACY_TRACE`` naming a folder; every Python process
started that way (children too, while they inherit the environment) writes
``trace-<pid>-<n>.json`` there when it ends: the files of every module in ``sys.modules``, every
file opened through Python (``open``, ``io.open_code``: sources, bytecode, data files), every
library ``ctypes`` loaded, every shared object mapped into the process (``/proc/self/maps``: the
extension modules and the libraries they pull in), every ``.pth`` file ``site`` ran at start-up,
and every program it started. It is written at exit, before ``os._exit`` and before ``exec``.
"""

from __future__ import annotations

import os
import sys

_OUT = os.environ.get("CONDA_PRUNE_ACCURACY_TRACE")


def _install(out: str) -> None:
    import atexit
    import json

    opened: set[str] = set()
    programs: set[str] = set()
    state = {"n": 0}
    abspath, fsdecode = os.path.abspath, os.fsdecode
    watched = frozenset({"open", "ctypes.dlopen", "subprocess.Popen", "os.exec", "os.posix_spawn",
                         "os.spawn", "os.system"})

    def dump() -> None:
        files = set(opened)
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if isinstance(path, str):
                files.add(abspath(path))
        try:
            with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    parts = line.split(None, 5)
                    if len(parts) == 6 and parts[5].startswith("/"):
                        files.add(parts[5].strip().removesuffix(" (deleted)"))
        except OSError:
            pass
        try:
            import site

            for folder in site.getsitepackages():
                if os.path.isdir(folder):
                    files.update(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".pth"))
        except Exception:
            pass
        state["n"] += 1
        path = os.path.join(out, f"trace-{os.getpid()}-{state['n']}.json")
        try:
            with open(path + ".tmp", "w") as fh:
                json.dump({"pid": os.getpid(), "argv": list(sys.argv), "cwd": os.getcwd(),
                           "files": sorted(files), "programs": sorted(programs)}, fh)
            os.replace(path + ".tmp", path)
        except OSError:
            pass

    def hook(event: str, args: tuple) -> None:
        if event not in watched:
            return
        try:
            if event == "open" or event == "ctypes.dlopen":
                path = args[0]
                if isinstance(path, (str, bytes)) and path:
                    opened.add(abspath(fsdecode(path)))
            elif event == "os.system":
                programs.add(fsdecode(args[0]).split()[0] if args[0] else "")
            else:
                if event == "subprocess.Popen":
                    exe, argv = args[0], args[1]
                    if exe is None:
                        exe = argv if isinstance(argv, (str, bytes)) else (argv[0] if argv else None)
                else:
                    exe = args[0]
                if exe is not None:
                    programs.add(fsdecode(exe))
                if event == "os.exec":
                    dump()
        except Exception:
            pass

    sys.addaudithook(hook)
    atexit.register(dump)
    real_exit = os._exit

    def _exit(code: int) -> None:
        try:
            dump()
        finally:
            real_exit(code)

    os._exit = _exit


if _OUT:
    _install(_OUT)
