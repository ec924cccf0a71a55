"""``conda prune --trace``'s recorder: what one Python process of the traced command loaded.

``conda_prune.trace`` puts this folder first on ``PYTHONPATH`` and names a private folder in
``CONDA_PRUNE_TRACE_DIR``; Python's ``site`` imports it as ``sitecustomize`` at start-up in every
process that inherits that environment (children, ``multiprocessing`` workers, programs started
through ``exec``). It then runs the environment's own ``sitecustomize`` (the next one on
``sys.path``), as if it were not there.

Each process writes one JSON file, ``<pid>-<random>.json``, always by an atomic rename: once at
start-up (``"complete": false``: if only that one is found, the process ended without running its
exit handlers, killed by a signal or crashed), and again with everything it loaded when it ends:
at exit, in ``os._exit`` (forked workers leave that way) and before ``exec``. A forked child
starts its own file. Recorded, for paths under the environment (``CONDA_PRUNE_TRACE_PREFIX``):

- ``modules``: the file of every module in ``sys.modules``, and every file Python opened for
  reading (``open``, ``io.open_code``: sources and bytecode of modules imported and dropped
  again, bytecode kept under ``PYTHONPYCACHEPREFIX`` as its source, data files);
- ``libraries``: every shared object mapped into the process (``/proc/self/maps``; where there
  is none, as on macOS, the extension modules in ``sys.modules`` and what ``ctypes`` loaded);
- ``pth``: the ``.pth`` files ``site`` ran in the site-packages folders;
- ``programs`` and ``commands``: what the process started (``subprocess``, ``os.exec*``,
  ``os.posix_spawn``, ``os.system``).

Rules this file keeps, because it runs inside someone else's program: every exception of its
own is swallowed, nothing is printed, no exit code or signal is changed, each list is bounded,
and it writes only into ``CONDA_PRUNE_TRACE_DIR``. Its syntax and calls stay those of Python
3.8 (``sys.addaudithook``), the oldest Python that may run it; older ones record nothing.
"""

import os
import sys

#: a list longer than this is cut and the record says so (the reader then doubts it)
_LIMIT = 200000
#: characters of a command or an argument kept
_TEXT = 4096
_FORMAT = "conda-prune-trace/1"
_WATCHED = frozenset(("open", "ctypes.dlopen", "subprocess.Popen", "os.exec", "os.posix_spawn",
                      "os.spawn", "os.system"))


def _install(out, prefixes):
    import atexit

    abspath, normpath, fsdecode = os.path.abspath, os.path.normpath, os.fsdecode
    roots = tuple(normpath(p) + os.sep for p in prefixes if p)
    # bytecode kept outside the sources (PYTHONPYCACHEPREFIX): <prefix>/<source folder>/<name>.<tag>.pyc
    cache = getattr(sys, "pycache_prefix", None)
    cache = normpath(abspath(cache)) if cache else None
    state = {"name": None, "busy": False, "truncated": False}
    modules, libraries, programs, commands = set(), set(), set(), []

    def under_prefix(path):
        return path.startswith(roots)

    def add(bucket, item):
        if len(bucket) < _LIMIT:
            bucket.add(item)
        else:
            state["truncated"] = True

    def text(value):
        if isinstance(value, bytes):
            value = fsdecode(value)
        return value[:_TEXT] if isinstance(value, str) else None

    def new_name():
        state["name"] = os.path.join(out, f"{os.getpid()}-{os.urandom(6).hex()}.json")

    def argv():
        return [text(a) for a in list(getattr(sys, "orig_argv", None) or sys.argv or [])[:64]]

    def maps():
        found = set()
        try:
            with open("/proc/self/maps", "rb") as fh:
                for raw in fh:
                    parts = raw.split(None, 5)
                    if len(parts) == 6 and parts[5].startswith(b"/"):
                        path = fsdecode(parts[5].rstrip(b"\n"))
                        if path.endswith(" (deleted)"):
                            path = path[: -len(" (deleted)")]
                        found.add(path)
        except OSError:
            return None
        return found

    def pth_files():
        found = []
        try:
            import site

            folders = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
            if getattr(site, "ENABLE_USER_SITE", False):
                folders.append(site.getusersitepackages())
            for folder in folders:
                folder = normpath(abspath(folder))
                if not under_prefix(folder + os.sep) or not os.path.isdir(folder):
                    continue
                for name in sorted(os.listdir(folder)):
                    if name.endswith(".pth") and not name.startswith("."):
                        found.append(os.path.join(folder, name))
        except Exception:
            pass
        return found[:_LIMIT]

    pth = pth_files()

    def record(complete, ended):
        for module in list(sys.modules.values()):
            try:
                path = getattr(module, "__file__", None)
            except Exception:  # a lazy module object may run code here
                continue
            if isinstance(path, str):
                path = normpath(abspath(path))
                if under_prefix(path):
                    add(modules, path)
        mapped = maps()
        if mapped is None:  # no /proc: the extension modules themselves are what is known
            mapped = {p for p in modules if p.endswith((".so", ".dylib", ".pyd"))}
        for path in mapped:
            add(libraries, path)
        return {
            "format": _FORMAT, "pid": os.getpid(), "ppid": os.getppid(), "argv": argv(),
            "executable": text(sys.executable), "prefix": text(sys.prefix), "complete": complete,
            "ended": ended, "proc_maps": mapped is not None and sys.platform.startswith("linux"),
            "modules": sorted(modules), "libraries": sorted(libraries), "pth": pth,
            "programs": sorted(programs), "commands": commands[:1000], "truncated": state["truncated"],
        }

    def write(payload):
        tmp = state["name"] + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(payload)
        os.replace(tmp, state["name"])

    def started():
        """The start-up record, written without importing ``json`` (which would change what
        the program finds in ``sys.modules``)."""
        if state["busy"]:
            return
        state["busy"] = True
        try:
            words = ",".join(_json_string(a) for a in argv() if a is not None)
            write(f'{{"format": "{_FORMAT}", "pid": {os.getpid()}, "ppid": {os.getppid()}, "argv": [{words}], '
                  '"complete": false, "ended": "start"}')
        except Exception:
            pass
        finally:
            state["busy"] = False

    def dump(complete=True, ended="exit"):
        if state["busy"]:
            return
        state["busy"] = True
        try:
            import json

            data = None
            for _attempt in range(3):  # another thread may change a set while it is copied
                try:
                    data = record(complete, ended)
                    break
                except RuntimeError:
                    pass
            if data is not None:
                write(json.dumps(data))
        except Exception:
            pass
        finally:
            state["busy"] = False

    def hook(event, args):
        if event not in _WATCHED or state["busy"]:
            return
        try:
            if event == "open":
                path, mode, flags = (*args, None, None, None)[:3]
                if isinstance(path, (str, bytes)) and path:
                    if isinstance(mode, str) and any(c in mode for c in "wax+"):
                        return
                    if isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR):
                        return
                    path = normpath(abspath(fsdecode(path)))
                    if cache and path.startswith(cache + os.sep) and path.endswith(".pyc"):
                        folder, name = os.path.split(path[len(cache):])
                        path = os.path.join(folder, name.split(".")[0] + ".py")  # its source
                    if under_prefix(path):
                        add(modules, path)
            elif event == "ctypes.dlopen":
                path = text(args[0]) if args else None
                if path:
                    add(libraries, normpath(abspath(path)) if os.sep in path else path)
            elif event == "os.system":
                command = text(args[0]) if args else None
                if command and len(commands) < 1000:
                    commands.append(command)
            else:
                if event == "os.spawn":  # (mode, path, args, env)
                    args = args[1:]
                exe, words = args[0], args[1] if len(args) > 1 else None
                if event == "subprocess.Popen" and exe is None:
                    exe = words if isinstance(words, (str, bytes)) else (words[0] if words else None)
                name = text(os.fspath(exe)) if exe is not None else None
                if name:
                    add(programs, name)
                if isinstance(words, (list, tuple)) and len(words) >= 3 and text(words[1]) == "-c":
                    shell = os.path.basename(text(os.fspath(words[0])) or "")
                    if shell in ("sh", "bash", "dash", "zsh", "ksh") and len(commands) < 1000:
                        commands.append(text(words[2]))
                if event == "os.exec":
                    dump(True, "exec")
        except Exception:
            pass

    def forked():
        state["busy"] = False  # a fork while another thread was writing: that write is the parent's
        try:
            new_name()
            started()
        except Exception:
            pass

    new_name()
    sys.addaudithook(hook)
    atexit.register(dump)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=forked)
    real_exit = os._exit

    def _exit(*args, **kwargs):
        try:
            dump(True, "os._exit")
        except BaseException:
            pass
        return real_exit(*args, **kwargs)

    _exit.__doc__, _exit.__name__ = real_exit.__doc__, real_exit.__name__
    os._exit = _exit
    started()


def _json_string(value):
    """A JSON string of ``value``, every character outside a safe few escaped."""
    out = []
    for c in value:
        if (c.isalnum() and c.isascii()) or c in " -_./=:,+@%":
            out.append(c)
        elif ord(c) > 0xFFFF:
            n = ord(c) - 0x10000
            out.append(f"\\u{0xD800 + (n >> 10):04x}\\u{0xDC00 + (n & 0x3FF):04x}")
        else:
            out.append(f"\\u{ord(c):04x}")
    return '"' + "".join(out) + '"'


def _chain():
    """Run the next ``sitecustomize`` on ``sys.path`` (the environment's own), as ``site`` would
    have. What it raises is the program's own behaviour: ``site`` reports it as it would. The
    import system's frozen modules (always loaded) do the finding, so that no module is imported
    that the program would not have."""
    try:
        import _frozen_importlib
        import _frozen_importlib_external

        here = os.path.normcase(os.path.realpath(os.path.dirname(os.path.abspath(__file__))))
        rest, seen = [], False
        for entry in sys.path:
            try:
                ours = os.path.normcase(os.path.realpath(os.path.abspath(entry or "."))) == here
            except Exception:
                ours = False
            if ours:  # this folder may be on the path twice: never this file again
                seen = True
            elif seen:
                rest.append(entry)
        spec = _frozen_importlib_external.PathFinder.find_spec("sitecustomize", rest if seen else [])
    except Exception:
        return
    if spec is None or spec.loader is None:
        return
    module = _frozen_importlib.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


def _start():
    out = os.environ.get("CONDA_PRUNE_TRACE_DIR")
    if not out or not hasattr(sys, "addaudithook"):
        return
    try:
        prefixes = [p for p in os.environ.get("CONDA_PRUNE_TRACE_PREFIX", "").split(os.pathsep) if p]
        if os.path.isdir(out) and prefixes:
            _install(out, prefixes)
    except Exception:
        pass


_start()
_chain()
