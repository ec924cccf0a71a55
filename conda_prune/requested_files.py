"""What the user asked for, as written in a file: ``--requested-from FILE``.

An environment installed from a lockfile records every package as requested, so its history
cannot say what the user wanted. The file the environment was made from can:

* ``environment.yml``: its ``dependencies`` (conda specs) and their ``pip:`` section;
* ``conda-lock.yml``: the specs of the files in its ``metadata.sources`` when they can be read
  (paths are relative to the lockfile), else the locked packages no other locked package
  depends on, each with its category (``main``, ``dev``);
* ``pixi.toml``: ``[dependencies]`` and ``[pypi-dependencies]``;
* ``pyproject.toml``: ``[project.dependencies]``, ``[tool.pixi.dependencies]`` and
  ``[tool.pixi.pypi-dependencies]``.

Files are read with real parsers (ruamel.yaml, tomllib); the specs are kept as the user wrote
them. A file that is missing or does not parse is a :class:`RequestedFileError` naming the file
and what to do (exit 2). :func:`find_requested_file` looks for such a file beside the ``--app``
folders.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .exceptions import UsageError
from .records import Problem

#: file names looked for beside an application, in this order
KNOWN_NAMES = ("environment.yml", "environment.yaml", "conda-lock.yml", "conda-lock.yaml", "pixi.toml", "pyproject.toml")


class RequestedFileError(UsageError):
    """A ``--requested-from`` file that is missing or cannot be read as what it claims to be."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(f"--requested-from {path}: {what}")
        self.path = path
        self.what = what


@dataclass(frozen=True)
class RequestedFile:
    """The specs a file names: conda specs and pip requirements, as written."""

    path: Path
    conda: tuple[str, ...]
    pip: tuple[str, ...] = ()
    how: str = ""  # how they were found, when not simply the file's dependencies
    found_beside: str = ""  # the --app path it was found beside; empty when named by the user
    #: a conda-lock file's top-level packages per platform ("linux-64" -> (conda, pip)); ``conda``
    #: and ``pip`` are then those of every platform together
    platforms: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = ()

    @property
    def specs(self) -> tuple[str, ...]:
        return self.conda + self.pip

    def for_platform(self, subdirs: set[str]) -> RequestedFile:
        """Only the specs locked for the environment's platform (its records' ``subdir``), when
        the file says which; unchanged otherwise."""
        mine = [(c, p) for platform, c, p in self.platforms if platform in subdirs]
        if not mine:
            return self
        conda = tuple(sorted({s for c, _ in mine for s in c}))
        pip = tuple(sorted({s for _, p in mine for s in p}))
        return replace(self, conda=conda, pip=pip)


def _error(path: Path, what: str) -> RequestedFileError:
    return RequestedFileError(path, what)


def _read_text(path: Path) -> str:
    """The file's text through :mod:`conda_prune.safeio`: a FIFO never blocks, ``/dev/zero`` is
    never read, and a file over 64 MiB is refused (no environment file is that large)."""
    from .safeio import TEXT_LIMIT, UnsafeFile, read_bytes

    if path.is_dir():
        raise _error(path, "is a folder; name the environment.yml, conda-lock.yml, pixi.toml or pyproject.toml in it")
    try:
        return read_bytes(path, limit=TEXT_LIMIT).decode("utf-8")
    except FileNotFoundError:
        raise _error(path, "no such file; name an environment.yml, conda-lock.yml, pixi.toml or pyproject.toml") from None
    except UnsafeFile as exc:
        raise _error(path, f"{exc.strerror}; name the file the environment was made from") from None
    except UnicodeDecodeError:
        raise _error(path, "is not a text file (not UTF-8); name the file the environment was made from") from None
    except OSError as exc:
        raise _error(path, f"cannot be read ({exc.strerror or exc}); fix its permissions or copy it") from None


def _load_yaml(path: Path) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    text = _read_text(path)
    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise _error(path, f"is not valid YAML{where}; fix it, or name another file") from None
    except (RecursionError, MemoryError, ValueError, TypeError):
        raise _error(path, "is not valid YAML; fix it, or name another file") from None


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    text = _read_text(path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _error(path, f"is not valid TOML ({exc}); fix it, or name another file") from None
    except (RecursionError, MemoryError):
        raise _error(path, "is not valid TOML; fix it, or name another file") from None


def _strings(value: Any) -> list[str]:
    return [v.strip() for v in value if isinstance(v, str) and v.strip()] if isinstance(value, list) else []


def _environment_yml(path: Path, data: Any) -> RequestedFile:
    if not isinstance(data, dict) or not isinstance(data.get("dependencies"), list):
        raise _error(path, "has no 'dependencies' list; name the environment.yml the environment was made from")
    conda: list[str] = []
    pip: list[str] = []
    for item in data["dependencies"]:
        if isinstance(item, str) and item.strip():
            conda.append(item.strip())
        elif isinstance(item, dict) and isinstance(item.get("pip"), list):
            pip += [p for p in _strings(item["pip"]) if not p.startswith("-")]  # -r / -e / --index-url
    return RequestedFile(path, tuple(conda), tuple(pip))


def _conda_lock(path: Path, data: dict[str, Any]) -> RequestedFile:
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    sources = _strings(metadata.get("sources"))
    readable = [path.parent / s for s in sources if (path.parent / s).is_file()]
    if sources and len(readable) == len(sources):
        conda: list[str] = []
        pip: list[str] = []
        for source in readable:
            found = read_requested_file(source)
            conda += [s for s in found.conda if s not in conda]
            pip += [s for s in found.pip if s not in pip]
        names = ", ".join(s.name for s in readable)
        return RequestedFile(path, tuple(conda), tuple(pip), how=f"the specs of {names}, its sources")
    packages = [p for p in data.get("package", ()) if isinstance(p, dict) and isinstance(p.get("name"), str)]
    if not packages:
        raise _error(path, "locks no packages; name the conda-lock.yml the environment was made from")
    by_platform: dict[str, list[dict[str, Any]]] = {}
    for package in packages:
        by_platform.setdefault(str(package.get("platform", "")), []).append(package)
    conda_specs: set[str] = set()
    pip_specs: set[str] = set()
    categories: set[str] = set()
    platforms: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
    for platform, locked in sorted(by_platform.items()):
        top_conda: set[str] = set()
        top_pip: set[str] = set()
        needed = {
            str(dep).lower()
            for p in locked
            if isinstance(p.get("dependencies"), dict)
            for dep in p["dependencies"]
        }
        for package in locked:
            name = package["name"]
            if name.lower() in needed:
                continue
            categories.add(str(package.get("category") or "main"))
            (top_pip if package.get("manager") == "pip" else top_conda).add(name)
        conda_specs |= top_conda
        pip_specs |= top_pip
        platforms.append((platform, tuple(sorted(top_conda)), tuple(sorted(top_pip))))
    missing = [s for s in sources if not (path.parent / s).is_file()]
    why = f"its sources ({', '.join(missing)}) cannot be read, so " if missing else ""
    return RequestedFile(
        path,
        tuple(sorted(conda_specs)),
        tuple(sorted(pip_specs)),
        how=f"{why}the locked packages (category {', '.join(sorted(categories))}) no other locked package depends on",
        platforms=tuple(platforms),
    )


def _toml_table(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None  # type: ignore[assignment]
    return data if isinstance(data, dict) else {}


def _pixi_spec(name: str, value: Any) -> str:
    """``numpy = ">=1.26"`` -> ``numpy >=1.26``; ``{version = "2.*", channel = "pytorch"}`` ->
    ``pytorch::numpy 2.*``; ``"*"`` -> ``numpy``."""
    channel = ""
    if isinstance(value, dict):
        channel = str(value.get("channel") or "")
        value = value.get("version", "*")
    version = str(value).strip() if value is not None else "*"
    spec = name if version in ("", "*") else f"{name} {version}"
    return f"{channel}::{spec}" if channel else spec


def _pypi_spec(name: str, value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("version", "*")
    version = str(value).strip() if isinstance(value, str) else "*"
    return name if version in ("", "*") else f"{name}{version}"


def _pixi(path: Path, data: dict[str, Any], *, pyproject: bool) -> RequestedFile:
    base = _toml_table(data, "tool", "pixi") if pyproject else data
    conda = [_pixi_spec(n, v) for n, v in _toml_table(base, "dependencies").items()]
    pip = [_pypi_spec(n, v) for n, v in _toml_table(base, "pypi-dependencies").items()]
    if pyproject:
        pip = _strings(_toml_table(data, "project").get("dependencies")) + pip
    if not conda and not pip:
        where = "[project.dependencies] or [tool.pixi.dependencies]" if pyproject else "[dependencies]"
        raise _error(path, f"has no {where}; name the file the environment was made from")
    return RequestedFile(path, tuple(conda), tuple(pip))


def read_requested_file(path: Path) -> RequestedFile:
    """The specs ``path`` names; raises :class:`RequestedFileError` when it cannot tell."""
    path = Path(path).expanduser()
    name = path.name.lower()
    if name.endswith(".toml"):
        return _pixi(path, _load_toml(path), pyproject=name == "pyproject.toml")
    if not name.endswith((".yml", ".yaml")):
        raise _error(path, "is not an environment.yml, conda-lock.yml, pixi.toml or pyproject.toml (by its name)")
    data = _load_yaml(path)
    if isinstance(data, dict) and "package" in data and ("metadata" in data or "version" in data):
        return _conda_lock(path, data)
    return _environment_yml(path, data)


def find_requested_file(apps: Sequence[Path]) -> tuple[RequestedFile | None, list[Problem]]:
    """A file beside the ``--app`` paths that names what was asked for: in each app folder (a
    file's own folder), then the folder above it. Returns the file and, for files found that
    could not be used, a problem each."""
    skipped: list[Problem] = []
    for app, folder in _folders(apps):
        for name in KNOWN_NAMES:
            candidate = folder / name
            if not candidate.is_file():
                continue
            try:
                found = read_requested_file(candidate)
            except RequestedFileError as exc:
                if name != "pyproject.toml":  # a pyproject.toml without dependencies is no news
                    skipped.append(Problem(candidate, f"{exc.what} (it was not used to tell what was asked for)"))
                continue
            return RequestedFile(found.path, found.conda, found.pip, found.how, found_beside=str(app)), skipped
    return None, skipped


def _folders(apps: Iterable[Path]) -> list[tuple[Path, Path]]:
    seen: set[Path] = set()
    out: list[tuple[Path, Path]] = []
    for app in apps:
        here = app if app.is_dir() else app.parent
        for folder in (here, here / ".."):
            real = folder.resolve()
            if real not in seen:
                seen.add(real)
                out.append((app, Path(os.path.normpath(folder))))
    return out
