"""Native libraries: what the ELF files of needed packages load, and which packages provide it.

An extension module (``psycopg2/_psycopg.so``), a program in ``bin/`` or a library in ``lib/``
names the shared libraries it needs in its dynamic section (``DT_NEEDED``) and where to look
for them (``DT_RPATH`` / ``DT_RUNPATH``, ``$ORIGIN`` being its own folder). Each name is looked
up where the dynamic loader would find it inside the environment: those folders, then the
environment's ``lib/``. The file found maps to the package that installed it (conda's ``files``,
pip's ``RECORD``), and that package is needed: "libpq.so.5 <- psycopg2/_psycopg.so". A library
the environment does not hold (``libc.so.6``) is the system's and says nothing.

:class:`NativeLibraries` is an expander for :func:`conda_prune.env_prune.plan_env_prune`:
called with the packages needed so far, it reads their files (each package once) and returns
what they load as :class:`~conda_prune.env_prune.results.Loads`; the plan calls it again for
what that brings in, so ``libpq`` brings ``libssl`` in turn. Packages pip installed are read
whether needed or not: conda prune never removes them, so what they load must stay too.

Only the dynamic section is read, with pyelftools; Mach-O files (macOS) are read the same way
with macholib (``LC_LOAD_DYLIB``, ``LC_RPATH``, ``@rpath``/``@loader_path``). A file with
either magic that cannot be read is a problem line naming it; as what it loads is unknown,
every package with a shared library in ``lib/`` stays. PE files (Windows DLLs) are not read.

Per-file results are cached between runs by (path, size, mtime) under the user's cache folder,
as the application scan does: an environment of numpy and scipy has hundreds of ELF files,
and ``bench/native_libraries.py`` prints what the cache saves.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..appscan import LIBRARY
from ..environment import file_owners, files_of
from ..graph import DependencyGraph
from ..records import EnvironmentData
from ..safeio import open_regular, read_json_cache, write_json_atomically
from .results import Evidence, Loads

ELF_MAGIC = b"\x7fELF"
#: Mach-O, 32 and 64 bits in either byte order, and universal ("fat") files
MACHO_MAGICS = frozenset({b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",
                          b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf"})

#: bump when what is kept per file changes, so older cache files are not reused
CACHE_VERSION = 1

#: file names that are never ELF, so they are not even opened (an environment has tens of
#: thousands of .py files; a file with any other name is opened and its first bytes read)
_NOT_BINARY = re.compile(
    r"\.(?:py|pyc|pyi|pyx|pxd|pxi|h|hpp|hxx|c|cc|cpp|f|f90|txt|md|rst|json|yaml|yml|toml|cfg|ini|pth|typed|"
    r"html|htm|js|css|map|svg|png|jpg|gif|ico|csv|xml|mo|po|pc|cmake|la|a|mod|sh|bat|ps1|fish|csh|zsh|tcl|pl|pm|"
    r"rb|lua|R|Rd|rds|afm|ttf|otf|tex|sty|npy|npz|mat|nc|zip|gz|bz2|xz|zst|tar|whl|egg|pem|crt|cnf|def|sip|class|jar|"
    r"jinja|j2|tmpl|template|in|am|m4|ac|mk|conf|desktop|service|ipynb|pyx\.in)$"
    r"|(?:^|/)(?:METADATA|RECORD|WHEEL|INSTALLER|REQUESTED|LICENSE[^/]*|COPYING[^/]*|NOTICE[^/]*|README[^/]*)$",
    re.IGNORECASE,
)

_ORIGIN = re.compile(r"\$(?:ORIGIN\b|\{ORIGIN\})")

#: no real ELF file needs more to describe its dynamic section; a hostile one cannot make us hold more
_MAX_ENTRIES = 4096


@dataclass(frozen=True)
class ElfLinks:
    """What one ELF file's dynamic section says: the libraries it needs and where to look."""

    needed: tuple[str, ...] = ()
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()


class NotElf(Exception):
    """The file is neither ELF nor Mach-O (by its first four bytes)."""


def read_elf_links(path: str | os.PathLike[str]) -> ElfLinks:
    """``DT_NEEDED``, ``DT_RPATH`` and ``DT_RUNPATH`` of an ELF file; for a Mach-O file, its
    ``LC_LOAD_DYLIB`` (and weak, re-exported, upward) install names and ``LC_RPATH`` folders.

    Raises :class:`NotElf` for any other file, :class:`OSError` when it cannot be opened, and
    any exception of the reader (``ELFError``, ``struct.error``...) when it is not a readable
    file of its kind: the callers turn those into a problem line."""
    fd = open_regular(path, limit=1 << 40, follow=False)  # never a FIFO or a device; size is no concern here
    with os.fdopen(fd, "rb") as fh:
        magic = fh.read(4)
        if magic in MACHO_MAGICS:
            return _macho_links(fh, path)
        if magic != ELF_MAGIC:
            raise NotElf(str(path))
        # pyelftools: a well-kept reader of every ELF class, byte order and machine, rather than
        # a hand-written one; it reads lazily, so only the headers and the dynamic section are read
        from elftools.elf.elffile import ELFFile

        fh.seek(0)
        elf = ELFFile(fh)
        needed: list[str] = []
        rpath: list[str] = []
        runpath: list[str] = []
        for n, tag in enumerate(_dynamic_tags(elf)):
            if n > _MAX_ENTRIES:
                break
            kind = tag.entry.d_tag
            if kind == "DT_NEEDED":
                needed.append(tag.needed)
            elif kind == "DT_RPATH":
                rpath += [p for p in tag.rpath.split(":") if p]
            elif kind == "DT_RUNPATH":
                runpath += [p for p in tag.runpath.split(":") if p]
        return ElfLinks(tuple(needed), tuple(rpath), tuple(runpath))


def _dynamic_tags(elf: Any) -> Iterator[Any]:
    """The tags of the dynamic section.

    Found by its section header (``SHT_DYNAMIC``), reading the headers alone: pyelftools' own
    ways (``iter_sections``, ``get_section_by_name``, the ``PT_DYNAMIC`` segment) build an object
    for every section of the file first, which is most of the time spent on a large library
    (``bench/bench_native_libraries.py``). A file without section headers (stripped of them:
    rare, and valid) is read through its ``PT_DYNAMIC`` segment."""
    header_of = getattr(elf, "_get_section_header", None)  # not public; the segment still works without it
    if header_of is not None and elf.num_sections():
        for i in range(elf.num_sections()):
            if header_of(i)["sh_type"] == "SHT_DYNAMIC":
                yield from elf.get_section(i).iter_tags()
                return
        return  # no dynamic section: a static executable or an object file loads nothing
    for segment in elf.iter_segments():
        if segment["p_type"] == "PT_DYNAMIC":
            yield from segment.iter_tags()
            return


def _macho_links(fh: Any, path: str | os.PathLike[str]) -> ElfLinks:
    """The load commands of a Mach-O file (each architecture of a universal one), read with
    macholib, the reader py2app and PyInstaller use, rather than a hand-written one, from
    ``fh``: the file :func:`read_elf_links` opened and checked, not its path opened again
    (:class:`_CheckedMachO`)."""
    from macholib import mach_o

    loads = {mach_o.LC_LOAD_DYLIB, mach_o.LC_LOAD_WEAK_DYLIB, mach_o.LC_REEXPORT_DYLIB, mach_o.LC_LOAD_UPWARD_DYLIB}
    needed: list[str] = []
    rpath: list[str] = []
    for header in _checked_macho(fh, os.fspath(path)).headers:
        for n, (command, _, data) in enumerate(header.commands):
            if n > _MAX_ENTRIES:
                break
            text = data.split(b"\0", 1)[0].decode("utf-8", "replace") if isinstance(data, bytes) else ""
            if command.cmd in loads and text and text not in needed:
                needed.append(text)
            elif command.cmd == mach_o.LC_RPATH and text and text not in rpath:
                rpath.append(text)
    return ElfLinks(tuple(needed), tuple(rpath), ())


def _checked_macho(fh: Any, filename: str) -> Any:
    """macholib's ``MachO`` read from the open file ``fh``. ``MachO(filename)`` opens the path
    itself, and by then the path may name something else than what was checked (a FIFO would
    block the open, ``/dev/zero`` would be read forever): so this sets what its ``__init__``
    sets (macholib 1.16) and calls its ``load(fh)``, the part of ``__init__`` after the open."""
    from macholib.MachO import MachO

    class _CheckedMachO(MachO):  # type: ignore[misc]
        def __init__(self, fh: Any, filename: str) -> None:
            self.graphident = filename
            self.filename = filename
            self.loader_path = os.path.dirname(filename)
            self.fat = None
            self.headers = []
            self.allow_unknown_load_commands = False
            fh.seek(0)
            self.load(fh)

    return _CheckedMachO(fh, filename)


def shown(rel: str) -> str:
    """A file as the evidence names it: relative to site-packages there, else to the prefix."""
    from ..environment import site_relative

    return site_relative(rel)


@dataclass
class _FileCache:
    """Per-file results between runs: prefix-relative path -> [size, mtime_ns, result]."""

    path: Path | None
    entries: dict[str, list] = field(default_factory=dict)
    changed: bool = False

    @classmethod
    def open(cls, cache_dir: Path | None, prefix: Path) -> _FileCache:
        if cache_dir is None:
            return cls(None)
        digest = hashlib.sha256(os.path.realpath(prefix).encode("utf-8", "surrogateescape")).hexdigest()[:24]
        path = Path(cache_dir) / "native" / f"{digest}.json"
        data = read_json_cache(path)
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("files"), dict):
            return cls(path)
        return cls(path, data["files"])

    def save(self) -> None:
        """Atomically; a cache that cannot be written is simply not there next time."""
        if self.path is None or not self.changed:
            return
        write_json_atomically(self.path, {"version": CACHE_VERSION, "files": self.entries}, ".native-")
        self.changed = False


class NativeLibraries:
    """The native-library expander of one environment (see the module docstring).

    ``problems``: binaries that could not be read, one line each, for the plan's problems.
    ``files_read`` / ``files_cached``: how many files that may be binaries were opened, or came
    from the cache."""

    def __init__(self, env: EnvironmentData, graph: DependencyGraph, *, cache_dir: Path | None = None) -> None:
        self.env = env
        self.graph = graph
        self.prefix = os.path.normpath(os.path.abspath(env.prefix))
        self.owners = file_owners(env)
        self.problems: list[str] = []
        self.files_read = 0
        self.files_cached = 0
        self._cache = _FileCache.open(cache_dir, env.prefix)
        self._loads: dict[str, dict[str, list[Evidence]]] = {}  # package key -> keys it loads -> why
        self._unreadable: list[tuple[str, str]] = []  # (key, rel) of binaries that could not be read
        self._pip_installed = frozenset(k for k, node in graph.nodes.items() if node.kind == "pypi")
        try:
            import elftools.elf.elffile  # noqa: F401
        except ImportError:  # a dependency of ours; without it, say so once and keep what may be loaded
            self._no_reader = True
            self.problems.append(
                "pyelftools is not installed, so the native libraries of needed packages could not be read: every "
                "package with a shared library in lib/ is kept; install pyelftools (conda install pyelftools)"
            )
        else:
            self._no_reader = False

    def __call__(self, needed: frozenset[str]) -> Loads:
        if self._no_reader:
            why = Evidence(LIBRARY, "a needed package may load it (pyelftools is not installed to tell)")
            return Loads(needed={key: [why] for key in sorted(self._library_packages()) if key not in needed})
        # what pip installed stays whatever the verdict (conda cannot remove it), so what it loads stays too
        loaders = needed | self._pip_installed
        for key in sorted(loaders):
            if key not in self._loads and key in self.graph.nodes:
                self._loads[key] = self._package_loads(key)
        self._cache.save()
        loads = Loads()
        for key in sorted(loaders):
            for child, why in self._loads.get(key, {}).items():
                if child not in needed:
                    loads.needed.setdefault(child, []).extend(why)
        if any(key in loaders for key, _ in self._unreadable):
            unknown = [rel for key, rel in self._unreadable if key in loaders]
            why = Evidence(LIBRARY, f"{shown(unknown[0])} may load it (a binary that could not be read)")
            for child in sorted(self._library_packages()):
                if child not in needed:
                    loads.needed.setdefault(child, []).append(why)
        return loads

    # -- one package --------------------------------------------------------------------------

    def _package_loads(self, key: str) -> dict[str, list[Evidence]]:
        found: dict[str, list[Evidence]] = {}
        for rel in files_of(self.graph.nodes[key]):
            if _NOT_BINARY.search(rel):
                continue
            links = self._links(key, rel)
            if links is None:
                continue
            for library in links.needed:
                for owner in self._resolve(rel, library, links):
                    if owner != key and owner in self.graph.nodes:
                        evidence = Evidence(LIBRARY, f"{library} <- {shown(rel)}")
                        if evidence not in found.get(owner, ()):
                            found.setdefault(owner, []).append(evidence)
        return found

    def _links(self, key: str, rel: str) -> ElfLinks | None:
        """The dynamic section of one file of the package, from the cache while it is unchanged."""
        path = os.path.join(self.prefix, rel)
        try:
            st = os.lstat(path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode) or st.st_size < 4:
            return None  # a symlink's target is a file of its own; a missing file loads nothing
        cached = self._cache.entries.get(rel)
        if isinstance(cached, list) and len(cached) == 3 and cached[:2] == [st.st_size, st.st_mtime_ns]:
            self.files_cached += 1
            result = cached[2]
        else:
            self.files_read += 1
            result, lasting = self._read(path, rel)
            if lasting:  # what the file says, not a passing failure to open it
                self._cache.entries[rel] = [st.st_size, st.st_mtime_ns, result]
                self._cache.changed = True
        if result is None:
            return None
        if isinstance(result, str):
            self._unreadable.append((key, rel))
            self.problems.append(
                f"{path}: looks like a program or library (ELF or Mach-O) but cannot be read ({result}); "
                "what it loads is unknown, "
                f"so every package with a shared library in lib/ is kept; reinstall {self.graph.nodes[key].name}"
            )
            return None
        try:
            return ElfLinks(*(tuple(str(x) for x in part) for part in result))
        except (TypeError, ValueError):  # a cache entry someone edited: read the file again
            self._cache.entries.pop(rel, None)
            return self._links(key, rel)

    @staticmethod
    def _read(path: str, rel: str) -> tuple[list | str | None, bool]:
        """None (no binary), the three lists, or why it is no readable binary; and whether that
        may be cached (a file that could not be opened may open next time)."""
        try:
            links = read_elf_links(path)
        except NotElf:
            return None, True
        except FileNotFoundError:
            return None, False  # gone since the records were read: it loads nothing now
        except OSError as exc:  # a file of a needed package we may not read: a binary's is a doubt
            looks_binary = _is_shared_library(rel) or ".so" in rel.rsplit("/", 1)[-1] or rel.startswith("bin/")
            return (f"cannot be opened: {exc.strerror or exc}" if looks_binary else None), False
        except Exception as exc:  # noqa: BLE001 - any error of the parser: a corrupt or hostile file
            return f"{type(exc).__name__}: {exc}"[:200], True
        return [list(links.needed), list(links.rpath), list(links.runpath)], True

    # -- where the loader finds a library -----------------------------------------------------

    def _resolve(self, rel: str, library: str, links: ElfLinks) -> set[str]:
        """The packages owning the file ``library`` resolves to, for the binary at ``rel``.

        ELF: the dynamic loader reads ``DT_RUNPATH`` when there is one and ``DT_RPATH``
        otherwise; within the environment, the folders either names come first. Mach-O:
        ``@rpath/`` tries each ``LC_RPATH``, ``@loader_path`` is the file's folder,
        ``@executable_path`` the environment's ``bin/``. Then the environment's ``lib/``, where
        the interpreter's own ``RPATH`` ($ORIGIN/../lib) and conda's activation point."""
        origin = os.path.dirname(os.path.join(self.prefix, rel))
        here = {"$ORIGIN": origin, "@loader_path": origin, "@executable_path": os.path.join(self.prefix, "bin")}

        def expand(folder: str) -> str:
            folder = _ORIGIN.sub(lambda _: origin, folder)
            for word, value in here.items():
                if folder == word or folder.startswith(word + "/"):
                    folder = value + folder[len(word):]
            return folder

        name = os.path.basename(library)
        if library.startswith("@rpath/"):
            candidates = [os.path.join(expand(d), library[len("@rpath/"):]) for d in links.rpath]
        elif library.startswith("@"):
            candidates = [expand(library)]
        elif "/" in library:  # a path, not a name: absolute, or relative to the working directory
            candidates = [library] if os.path.isabs(library) else []
        else:
            candidates = [os.path.join(expand(d), library) for d in (links.runpath or links.rpath)]
        candidates.append(os.path.join(self.prefix, "lib", name))
        for candidate in candidates:
            candidate = os.path.normpath(candidate)
            inside = os.path.relpath(candidate, self.prefix).replace(os.sep, "/")
            if inside.startswith("../") or os.path.isabs(inside):
                continue  # outside the environment: the system's, or the build machine's
            if inside in self.owners:
                return self.owners[inside]
            if os.path.exists(candidate):
                real = os.path.relpath(os.path.realpath(candidate), os.path.realpath(self.prefix))
                return self.owners.get(real.replace(os.sep, "/"), set())  # the loader stops at the first file
        return set()

    def _library_packages(self) -> set[str]:
        return {key for rel, keys in self.owners.items() if _is_shared_library(rel) for key in keys}


def _is_shared_library(rel: str) -> bool:
    parts = rel.split("/")
    return len(parts) == 2 and parts[0] == "lib" and (".so" in parts[1] or parts[1].endswith(".dylib"))
