"""The environment model both commands use: what an environment's files provide (modules,
executables, libraries, R packages, kernels), who owns them, how packages are named and
matched, and what their files hold on disk.

Records and pip distributions are read by :mod:`.records`; the dependency graph is
:mod:`.graph`. Everything here is derived from those and from ``lstat``; nothing writes.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .graph import DependencyGraph, Node
from .records import EnvironmentData, PipDistribution, normalize_pip_name
from .treestats import files_stats

_PLUGIN_FOLDERS = {
    "etc/jupyter/jupyter_server_config.d/": "jupyter_server",
    "etc/jupyter/jupyter_notebook_config.d/": "notebook",
    "etc/jupyter/nbconfig/": "notebook",
    "share/jupyter/labextensions/": "jupyterlab",
    "share/jupyter/nbextensions/": "notebook",
}


@dataclass
class Providers:
    """Who provides what in one environment, from its files."""

    modules: dict[str, set[str]]  # dotted module -> graph keys (every prefix of a module listed)
    executables: dict[str, set[str]]
    r_packages: dict[str, set[str]]
    kernels: dict[str, tuple[set[str], str]]  # kernel name -> (owners, path of kernel.json)
    libraries: dict[str, set[str]]
    plugin_files: dict[str, set[str]]  # consumer module -> keys of packages with plugin files for it
    top_modules: dict[str, set[str]]  # graph key -> its top-level modules
    stdlib: frozenset[str]
    #: where ``stdlib`` comes from: the environment's ``lib/pythonX.Y``, or (no Python in the
    #: environment) the Python running this command, which the report then says
    stdlib_source: str = ""

    @property
    def stdlib_is_the_hosts(self) -> bool:
        return self.stdlib_source.startswith("the Python running")


def owner_key(dist: PipDistribution, record_names: dict[str, str]) -> str:
    if dist.conda_owner is not None and dist.conda_owner in record_names:
        return f"conda:{record_names[dist.conda_owner]}"
    return f"pypi:{dist.normalized_name}"


def file_owners(env: EnvironmentData) -> dict[str, set[str]]:
    """Every installed file (prefix-relative) -> the packages (graph keys) that list it: conda's
    ``files`` and pip's ``RECORD``. A file pip installed over a conda package has both. Computed
    once per environment (:attr:`EnvironmentData.file_owners`)."""
    return env.file_owners


_LIB_NAME = re.compile(r"^(?:lib)?([A-Za-z0-9_+-]+?)(?:[-.]\d[\w.]*)?\.(?:so(?:\.[\d.]+)?|dylib|dll|a)$")


def _jupyter_data_dirs() -> list[Path]:
    """Where Jupyter looks for kernels besides an environment's ``share/jupyter``, in its order
    (``jupyter_core.paths.jupyter_path``): ``$JUPYTER_PATH``, the user's data folder, the system's."""
    env = os.environ
    dirs = [Path(p) for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if env.get("JUPYTER_DATA_DIR"):
        dirs.append(Path(env["JUPYTER_DATA_DIR"]))
    elif sys.platform == "win32":
        if env.get("APPDATA"):
            dirs.append(Path(env["APPDATA"]) / "jupyter")
    elif sys.platform == "darwin":
        dirs.append(Path.home() / "Library" / "Jupyter")
    else:
        dirs.append(Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "jupyter")
    if sys.platform == "win32":
        if env.get("PROGRAMDATA"):
            dirs.append(Path(env["PROGRAMDATA"]) / "jupyter")
    else:
        dirs += [Path("/usr/local/share/jupyter"), Path("/usr/share/jupyter")]
    return dirs


def _kernel_program(kernel_json: Path) -> str | None:
    from .safeio import read_bytes

    try:
        data = json.loads(read_bytes(kernel_json, limit=1 << 20))
    except (OSError, ValueError, RecursionError):  # not there, a FIFO, nested too deeply: not this kernel
        return None
    argv = data.get("argv") if isinstance(data, dict) else None
    return argv[0] if isinstance(argv, list) and argv and isinstance(argv[0], str) else None


def installed_kernels(prefix: Path) -> dict[str, str]:
    """Kernels installed under a name (``python -m ipykernel install --name X``) that run this
    environment, which no package record owns: ``share/jupyter/kernels/X`` in the environment
    (``--prefix``, ``--sys-prefix``), and the user's and the system's kernel folders
    (``--user``) where the kernel's program is this environment's (its ``argv[0]`` inside the
    prefix). Name -> the kernel.json path (relative to the prefix when inside it)."""
    found: dict[str, str] = {}
    try:
        own = sorted(os.scandir(prefix / "share" / "jupyter" / "kernels"), key=lambda e: e.name)
    except OSError:
        own = []
    for entry in own:
        if os.path.isfile(os.path.join(entry.path, "kernel.json")):
            found.setdefault(entry.name, f"share/jupyter/kernels/{entry.name}/kernel.json")
    real_prefix = os.path.realpath(prefix)
    for folder in _jupyter_data_dirs():
        try:
            entries = sorted(os.scandir(folder / "kernels"), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            kernel_json = Path(entry.path) / "kernel.json"
            program = _kernel_program(kernel_json)
            if not program or not os.path.isabs(program):
                continue  # "python": whichever is first on PATH, no sign of this environment
            if os.path.realpath(program).startswith(real_prefix.rstrip(os.sep) + os.sep) or os.path.normpath(
                    program).startswith(os.path.normpath(str(prefix)).rstrip(os.sep) + os.sep):
                found.setdefault(entry.name, str(kernel_json))
    return found


def library_name(text: str) -> str:
    """``libfoo.so.6`` / ``foo`` / ``foo.dll`` / ``/usr/lib/libfoo.so`` -> ``foo``."""
    base = re.split(r"[/\\]", text)[-1]
    match = _LIB_NAME.match(base)
    name = match.group(1) if match else base
    if name.startswith("lib") and not match:
        name = name[3:]
    return name.lower()


def environment_providers(env: EnvironmentData) -> Providers:
    modules = module_providers(env)
    executables: dict[str, set[str]] = {}
    r_packages: dict[str, set[str]] = {}
    kernels: dict[str, tuple[set[str], str]] = {}
    libraries: dict[str, set[str]] = {}
    plugin_files: dict[str, set[str]] = {}
    for path, key in env.files_with_keys():
        parts = path.split("/")
        if len(parts) == 2 and parts[0] in ("bin", "Scripts"):
            name = parts[1]
            if name.lower().endswith((".exe", ".bat", ".cmd")):
                name = name[:-4]
            executables.setdefault(name, set()).add(key)
        elif len(parts) == 3 and parts[0] == "Library" and parts[1] in ("bin", "usr"):
            name = parts[2]
            if name.lower().endswith(".exe"):
                executables.setdefault(name[:-4], set()).add(key)
            elif name.lower().endswith(".dll"):
                libraries.setdefault(library_name(name), set()).add(key)
        elif len(parts) == 1 and parts[0].lower() in ("python.exe", "pythonw.exe"):
            executables.setdefault(parts[0][:-4], set()).add(key)
        elif len(parts) == 2 and parts[0] == "lib" and (".so" in parts[1] or parts[1].endswith(".dylib")):
            libraries.setdefault(library_name(parts[1]), set()).add(key)
        elif len(parts) == 5 and parts[:3] == ["lib", "R", "library"] and parts[4] == "DESCRIPTION":
            r_packages.setdefault(parts[3], set()).add(key)
        elif len(parts) == 5 and parts[:3] == ["share", "jupyter", "kernels"] and parts[4] == "kernel.json":
            owners, _ = kernels.get(parts[3], (set(), path))
            owners.add(key)
            kernels[parts[3]] = (owners, path)
        else:
            for folder, consumer in _PLUGIN_FOLDERS.items():
                if path.startswith(folder) and len(path) > len(folder):
                    plugin_files.setdefault(consumer, set()).add(key)
    for name, path in installed_kernels(env.prefix).items():
        if name not in kernels and name.lower() not in kernels:
            kernels[name] = (set(), path)
    top_modules: dict[str, set[str]] = {}
    for module, owners in modules.items():
        if "." not in module:
            for key in owners:
                top_modules.setdefault(key, set()).add(module)
    stdlib, stdlib_source = environment_stdlib(env.prefix)
    stdlib |= {m for m, owners in modules.items() if "." not in m and owners == {"conda:python"}}
    return Providers(modules, executables, r_packages, kernels, libraries, plugin_files, top_modules,
                     frozenset(stdlib), stdlib_source)


#: modules compiled into every CPython interpreter (``Modules/Setup.bootstrap.in`` and the core
#: of ``Python/``): they have no file under ``lib/pythonX.Y``, whatever the build
_ALWAYS_BUILT_IN = frozenset({
    "sys", "builtins", "marshal", "_imp", "_warnings", "_thread", "_io", "_abc", "_codecs", "_collections",
    "_functools", "_locale", "_operator", "_signal", "_sre", "_stat", "_string", "_symtable", "_tracemalloc",
    "_weakref", "_ast", "_tokenize", "_typing", "_contextvars", "atexit", "errno", "faulthandler", "gc",
    "itertools", "posix", "pwd", "time", "nt", "winreg", "msvcrt", "_winapi", "__future__", "__main__",
    "_frozen_importlib", "_frozen_importlib_external",
})
_LIB_PYTHON = re.compile(r"^python(\d+)\.(\d+)t?$")


def environment_stdlib(prefix: Path, _base: bool = False) -> tuple[set[str], str]:
    """The standard library of the environment's own Python: the modules and packages in its
    ``lib/pythonX.Y`` (``Lib`` on Windows) and the extension modules of ``lib-dynload``
    (``DLLs``), plus the modules every CPython has built in. Python 3.12 has no ``distutils``:
    the list of the Python running conda (3.11, say) would call it standard and hide who
    serves it. Without a Python in the environment: that list, and ``stdlib_source`` says so."""
    names: set[str] = set()
    folders: list[Path] = []
    lib = prefix / "lib"
    try:
        versions = sorted((e.name for e in os.scandir(lib) if e.is_dir() and _LIB_PYTHON.match(e.name)),
                          key=lambda n: tuple(int(x) for x in _LIB_PYTHON.match(n).groups()))  # type: ignore[union-attr]
    except OSError:
        versions = []
    # the newest that holds a standard library (an old Python's leftover site-packages does not)
    with_os = [v for v in versions if (lib / v / "os.py").is_file()] or versions
    if with_os:
        folders = [lib / with_os[-1], lib / with_os[-1] / "lib-dynload"]
    elif (prefix / "Lib" / "os.py").is_file():
        folders = [prefix / "Lib", prefix / "DLLs"]
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name in ("site-packages", "dist-packages", "lib-dynload") or name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:
                if name.isidentifier() and os.path.exists(os.path.join(entry.path, "__init__.py")):
                    names.add(name)
                continue
            stem = name.split(".", 1)[0]
            if name.endswith((".py", ".pyc", ".so", ".pyd")) and stem.isidentifier():
                names.add(stem)
    if names:
        where = f"the environment's {os.path.relpath(folders[0], prefix)}"
        return names | _ALWAYS_BUILT_IN, where if not _base else f"{folders[0]} (the base of a virtual environment)"
    unreadable: list[str] = []
    home = _venv_home(prefix, unreadable) if not _base else None
    if home is not None:  # a virtual environment: its standard library is its base Python's
        found, where = environment_stdlib(home, _base=True)
        if not where.startswith("the Python running"):
            return found, where
    host = set(getattr(sys, "stdlib_module_names", ())) | set(sys.builtin_module_names) | _ALWAYS_BUILT_IN
    why = unreadable[0] if unreadable else "the environment has no Python of its own"
    return host, f"the Python running this command ({sys.version_info[0]}.{sys.version_info[1]}): {why}"


def _venv_home(prefix: Path, unreadable: list[str]) -> Path | None:
    """The prefix of the Python a virtual environment was made from (``home`` in pyvenv.cfg).
    A pyvenv.cfg that is there but cannot be read (a FIFO, a device, over 1 MiB) is a line in
    ``unreadable``."""
    from .safeio import read_bytes

    path = prefix / "pyvenv.cfg"
    try:
        text = read_bytes(path, limit=1 << 20).decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        unreadable.append(f"{path} cannot be read ({exc.strerror or exc}), so which Python the environment "
                          "was made from is unknown; replace it with a regular file")
        return None
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().lower() == "home" and value.strip():
            return Path(value.strip()).parent  # home is the folder of the interpreter: bin/
    return None


def module_owners(modules: dict[str, set[str]], name: str, subnames: Sequence[str] = ()) -> set[str]:
    """The packages an import loads from: those providing the longest dotted prefix of the
    module that anything provides. ``from a import b`` may load the submodule ``a.b``: where a
    package provides it, that decides."""
    found: set[str] = set()
    for sub in subnames:
        owners = modules.get(f"{name}.{sub}")
        if owners:
            found |= owners
    if found:
        return found
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        owners = modules.get(".".join(parts[:i]))
        if owners:
            return set(owners)
    return set()


def distribution_names(env: EnvironmentData) -> dict[str, str]:
    """Normalized names of the Python distributions (pip's and conda's dist-infos) -> graph keys."""
    record_names = env.name_of_dist
    return {dist.normalized_name: owner_key(dist, record_names) for dist in env.pip}


@dataclass(frozen=True)
class Freed:
    """What removing packages takes off the disk now: allocated blocks of files whose every
    hardlink goes with them, each inode once. ``shared`` is held by other links (the package
    cache, another environment) and stays until those go too."""

    freed: int
    shared: int
    files: int


def bytes_leaving(env: EnvironmentData, keys: Iterable[str]) -> Freed:
    wanted = set(keys)
    paths: list[str] = []
    for record in env.records:
        if f"conda:{record.name}" in wanted:
            paths += record.files
            paths.append(f"conda-meta/{record.dist}.json")
    usage = disk_usage(env.prefix, paths)
    return Freed(usage.alone_bytes, usage.shared_bytes, usage.files)


def bytes_per_package(env: EnvironmentData, keys: Iterable[str]) -> dict[str, int]:
    out = {}
    by_key = env.record_of_key
    for key in keys:
        record = by_key.get(key)
        if record is not None:
            out[key] = disk_usage(env.prefix, [*record.files, f"conda-meta/{record.dist}.json"]).alone_bytes
    return out


@dataclass(frozen=True)
class DiskUsage:
    """The package's installed files, measured in allocated blocks, each inode once.

    ``alone_bytes`` would come back if the package left the environment; ``shared_bytes`` are
    also held elsewhere through hardlinks (the package cache, other environments)."""

    alone_bytes: int = 0
    shared_bytes: int = 0
    files: int = 0
    symlinks: int = 0  # their targets live elsewhere (a package cache, under always_softlink)
    missing: int = 0


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def name_matches(pattern: str, name: str) -> bool:
    """A package name against a name or a glob (``'nvidia-*'``); pip names match in any
    spelling (``Typing_Extensions`` is ``typing-extensions``)."""
    if not _is_glob(pattern):
        return name == pattern or normalize_pip_name(name) == normalize_pip_name(pattern)
    return fnmatch.fnmatchcase(name.lower(), pattern.lower()) or fnmatch.fnmatchcase(
        normalize_pip_name(name), normalize_pip_name(pattern)
    )


def match_packages(graph: DependencyGraph, pattern: str) -> list[Node]:
    """Installed packages called ``pattern``, or matching it as a glob."""
    return sorted((n for n in graph.nodes.values() if name_matches(pattern, n.name)), key=lambda n: n.key)


def near_names(pattern: str, names: Iterable[str], n: int = 3) -> tuple[str, ...]:
    """Installed names close to a name that matched nothing ("did you mean pytorch?")."""
    names = sorted(set(names))
    bare = pattern.lower().strip("*?[]")
    close = difflib.get_close_matches(bare, names, n=n, cutoff=0.6)
    if bare:
        close += [name for name in names if bare in name.lower() and name not in close]
    return tuple(close[:n])


def disk_usage(prefix: Path, files: Iterable[str]) -> DiskUsage:
    """Allocated bytes of a package's files, each inode counted once.

    A file whose every link belongs to this package is held alone; one with further links
    (``st_nlink`` above what the package itself accounts for) is shared with a package cache or
    another environment, and removing the package would not free it."""
    stats = files_stats(os.path.join(prefix, rel) for rel in dict.fromkeys(files))
    alone = stats.single_bytes + sum(b for links, nlink, b, _ in stats.inodes.values() if nlink <= links)
    shared = sum(b for links, nlink, b, _ in stats.inodes.values() if nlink > links)
    return DiskUsage(alone, shared, stats.files + stats.symlinks, stats.symlinks, stats.missing)


def files_of(node: Node) -> tuple[str, ...]:
    if node.record is not None:
        return node.record.files
    if node.dist is not None:
        return node.dist.files
    return ()


_MODULE_ROOTS = re.compile(
    r"^(?:lib/python\d+\.\d+t?/site-packages|Lib/site-packages"
    r"|lib/python\d+\.\d+t?(?:/lib-dynload)?|Lib|DLLs)/(.+)$"
)


_EXTENSION = re.compile(r"^([A-Za-z_]\w*)(?:\.[\w-]+)*\.(?:so|pyd)$")


def module_of(path: str) -> str | None:
    """The dotted module an installed file is (``lib/python3.11/site-packages/numpy/linalg/
    __init__.py`` -> ``numpy.linalg``), or None for anything that is not an importable module."""
    match = _MODULE_ROOTS.match(path)
    if not match:
        return None
    return _module_at(match.group(1))


def _module_at(rel: str) -> str | None:
    """The dotted module a file is, from its path below a folder on ``sys.path``."""
    *folders, last = rel.split("/")
    if last.endswith((".py", ".pyw")):
        stem = last.rsplit(".", 1)[0]
        parts = folders if stem == "__init__" else [*folders, stem]
    else:
        extension = _EXTENSION.match(last)
        if not extension:
            return None
        parts = [*folders, extension.group(1)]
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)


def module_providers(env: EnvironmentData) -> dict[str, set[str]]:
    """Every importable dotted name in the environment, and the packages (graph keys) whose
    installed files provide it. A package providing ``a.b`` provides ``a`` too, so a namespace
    package (``google``) maps to every package with a part of it."""
    providers: dict[str, set[str]] = {}

    def add(module: str, key: str) -> None:
        parts = module.split(".")
        for i in range(1, len(parts) + 1):
            providers.setdefault(".".join(parts[:i]), set()).add(key)

    for record in env.records:
        for path in record.files:
            module = module_of(path)
            if module:
                add(module, f"conda:{record.name}")
    for dist in env.pip:
        if not dist.is_pip_installed:
            continue  # shipped by a conda package, whose files are counted above
        key = f"pypi:{dist.normalized_name}"
        modules = [m for m in (module_of(p) for p in dist.files) if m]
        for module in modules or dist.top_level:
            add(module, key)
    for module, key in _modules_on_pth_folders(env):
        add(module, key)
    if "_distutils_hack" in providers:
        # setuptools' distutils-precedence.pth serves ``import distutils`` from setuptools._distutils
        # (the standard one on Python < 3.12 is shadowed, Python 3.12 has none)
        for key in set(providers["_distutils_hack"]):
            add("distutils", key)
    return providers


#: the site-packages folder at the start of a prefix-relative path, on Unix and Windows
SITE_PACKAGES = re.compile(r"^(?:lib/python\d+\.\d+t?/site-packages|Lib/site-packages)/")


def site_relative(rel: str) -> str:
    """A prefix-relative file as evidence names it: relative to site-packages there, else as is."""
    return SITE_PACKAGES.sub("", rel)


def _modules_on_pth_folders(env: EnvironmentData) -> Iterable[tuple[str, str]]:
    """Modules importable because a package's ``.pth`` file puts one of its folders on the path
    (pywin32's ``win32/lib``): the modules there are that package's, under their own names.
    A ``.pth`` line is no evidence by itself: an ``import`` line runs at start-up whatever the
    application does (setuptools' distutils-precedence.pth), and a folder outside the
    environment is an editable install, kept as one."""
    from .safeio import read_bytes

    owned: list[tuple[str, list[str]]] = [(f"conda:{r.name}", list(r.files)) for r in env.records]
    owned += [(f"pypi:{d.normalized_name}", list(d.files)) for d in env.pip if d.is_pip_installed]
    for key, files in owned:
        for path in files:
            site = SITE_PACKAGES.match(path)
            if not (site and path.endswith(".pth") and "/" not in path[site.end():]):
                continue
            try:
                text = read_bytes(env.prefix / path, limit=1 << 20).decode("utf-8", "replace")
            except (OSError, ValueError):
                continue
            for line in text.splitlines():
                line = line.strip()
                if not line or line.startswith("#") or line.startswith(("import ", "import\t")):
                    continue
                if os.path.isabs(line):  # a path the package wrote at install time: inside the prefix?
                    line = os.path.relpath(line, os.path.join(env.prefix, site.group()))
                folder = os.path.normpath(os.path.join(site.group(), line)).replace(os.sep, "/")
                if folder.startswith("../") or folder == "..":
                    continue  # outside the environment
                inside = folder.rstrip("/") + "/"
                for other in files:
                    if other.startswith(inside):
                        module = _module_at(other[len(inside):])
                        if module:
                            yield module, key
