"""Extras: the optional dependencies of a needed distribution that something asks for.

``requests`` lists ``PySocks; extra == 'socks'``: PySocks is needed only where someone asks for
``requests[socks]``. Three things ask, and each makes that extra's requirements needed (while
the distribution itself is needed):

* the application's own requirements, beside an ``--app`` path (that folder and the one above,
  as for ``--requested-from``): ``pyproject.toml`` (``[project]`` dependencies, optional
  dependencies, ``[dependency-groups]``, Poetry's ``extras = [...]``), ``setup.cfg``
  (``install_requires``, ``extras_require``) and ``requirements*.txt``;
* an import of a submodule named as an extra of the distribution that provides it:
  ``import dask.dataframe`` asks for ``dask[dataframe]`` (dask's ``dataframe`` extra brings pandas);
* an installed distribution's own ``Requires-Dist: dask[dataframe]``, and an extra that asks for
  others (``dask[complete]`` -> ``dask[dataframe]``), to a fixed point.

:class:`Extras` is an expander of the plan (:class:`~conda_prune.env_prune.results.Loads`).
Requirements are parsed with ``packaging`` (PEP 508); a requirements file is read line by line
(comments, options and continuation lines as pip reads them), as no well-kept parser of that
format exists outside pip's internals.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..appscan import MODULE, AppScan
from ..environment import Providers, distribution_names, owner_key
from ..graph import DependencyGraph, marker_environment
from ..records import EnvironmentData, PipDistribution, normalize_pip_name
from ..safeio import TEXT_LIMIT, read_bytes
from .results import Evidence, Loads

EXTRA = "extra"  # the kind of evidence an extra gives

_EXTRA_IN_MARKER = re.compile(r"extra\s*==\s*['\"]([^'\"]+)['\"]")


@dataclass(frozen=True)
class AskedExtras:
    """A requirement with extras the application declares: ``requests[socks]`` in pyproject.toml."""

    name: str  # normalized distribution name
    extras: tuple[str, ...]  # normalized extra names
    written: str  # "requests[socks]"
    file: str  # where, as shown: "pyproject.toml"


def _parse(text: str, markers: dict[str, str]) -> tuple[str, tuple[str, ...], str] | None:
    """name, extras, shown form of a PEP 508 requirement with extras whose marker holds here."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        req = Requirement(text.strip())
    except InvalidRequirement:
        return None
    if not req.extras:
        return None
    if req.marker is not None:
        try:
            if not req.marker.evaluate({**markers, "extra": ""}):
                return None
        except Exception:  # noqa: BLE001 - an unknown marker variable: count it, the safe direction
            pass
    extras = tuple(sorted(normalize_pip_name(e) for e in req.extras))
    return normalize_pip_name(req.name), extras, f"{req.name}[{','.join(sorted(req.extras))}]"


def _requirements_txt(text: str) -> Iterator[str]:
    joined = re.sub(r"\\\r?\n", " ", text)
    for line in joined.splitlines():
        line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
        if line and not line.startswith("-"):  # -r, -e, --index-url: not a requirement of its own
            yield re.split(r"\s+--?[a-z]", line, maxsplit=1)[0]  # per-requirement options (--hash)


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _pyproject(data: dict[str, Any]) -> Iterator[str]:
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    yield from _strings(project.get("dependencies"))
    optional = project.get("optional-dependencies")
    for group in (optional.values() if isinstance(optional, dict) else ()):
        yield from _strings(group)
    groups = data.get("dependency-groups")
    for group in (groups.values() if isinstance(groups, dict) else ()):
        yield from _strings(group)
    poetry = data.get("tool", {}).get("poetry", {}) if isinstance(data.get("tool"), dict) else {}
    tables = [poetry.get("dependencies"), poetry.get("dev-dependencies")]
    tables += [g.get("dependencies") for g in (poetry.get("group") or {}).values() if isinstance(g, dict)]
    for table in tables:
        for name, spec in (table.items() if isinstance(table, dict) else ()):
            if isinstance(spec, dict) and _strings(spec.get("extras")):
                yield f"{name}[{','.join(_strings(spec['extras']))}]"


def _setup_cfg(text: str) -> Iterator[str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(text)
    if parser.has_option("options", "install_requires"):
        yield from parser.get("options", "install_requires").splitlines()
    if parser.has_section("options.extras_require"):
        for _, value in parser.items("options.extras_require"):
            yield from value.splitlines()


def _candidates(roots: Iterable[Path]) -> list[Path]:
    seen: set[str] = set()
    files: list[Path] = []
    for root in roots:
        here = root if root.is_dir() else root.parent
        for folder in (here, here / ".."):
            real = os.path.realpath(folder)
            if real in seen:
                continue
            seen.add(real)
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                continue
            for name in names:
                lower = name.lower()
                if lower in ("pyproject.toml", "setup.cfg") or (lower.startswith("requirements") and lower.endswith(".txt")):
                    files.append(Path(os.path.normpath(folder / name)))
            requirements = folder / "requirements"
            if requirements.is_dir():
                try:
                    files += [requirements / n for n in sorted(os.listdir(requirements)) if n.endswith(".txt")]
                except OSError:
                    pass
    return files


def asked_extras(roots: Sequence[Path], markers: dict[str, str]) -> tuple[list[AskedExtras], list[str]]:
    """Requirements with extras the application's own files declare, and a problem line for each
    such file that could not be read."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    found: list[AskedExtras] = []
    problems: list[str] = []
    for path in _candidates(roots):
        try:
            text = read_bytes(path, limit=TEXT_LIMIT).decode("utf-8")
            if path.name.lower() == "pyproject.toml":
                lines = list(_pyproject(tomllib.loads(text)))
            elif path.name.lower() == "setup.cfg":
                lines = list(_setup_cfg(text))
            else:
                lines = list(_requirements_txt(text))
        except (OSError, UnicodeDecodeError, ValueError, configparser.Error, RecursionError) as exc:
            why = getattr(exc, "strerror", None) or type(exc).__name__
            problems.append(f"{path}: cannot be read ({why}); the extras it asks for (name[extra]) are not counted")
            continue
        for line in lines:
            parsed = _parse(line, markers)
            if parsed is not None:
                found.append(AskedExtras(parsed[0], parsed[1], parsed[2], path.name))
    return found, problems


def extras_of(dist: PipDistribution) -> set[str]:
    """The extras a distribution's ``Requires-Dist`` lines name (normalized)."""
    return {normalize_pip_name(e) for line in dist.requires_dist for e in _EXTRA_IN_MARKER.findall(line)}


class Extras:
    """The extras expander of one plan (see the module docstring). ``problems``: requirement
    files of the application that could not be read."""

    def __init__(self, env: EnvironmentData, graph: DependencyGraph, scan: AppScan, providers: Providers) -> None:
        from packaging.requirements import InvalidRequirement, Requirement

        self.graph = graph
        self.markers = marker_environment(env)
        self.asked, self.problems = asked_extras(scan.roots, self.markers)
        names = distribution_names(env)
        self._key_of = lambda name: names.get(name) or next((n.key for n in graph.find(name)), None)
        record_names = env.name_of_dist
        self._dists: dict[str, list[PipDistribution]] = {}
        for dist in env.pip:
            self._dists.setdefault(owner_key(dist, record_names), []).append(dist)
        self._requirements: dict[int, list[Any]] = {}  # id(dist) -> parsed Requires-Dist
        for dists in self._dists.values():
            for dist in dists:
                parsed = []
                for line in dist.requires_dist:
                    try:
                        parsed.append(Requirement(line))
                    except InvalidRequirement:
                        continue
                self._requirements[id(dist)] = parsed
        self._submodules = self._submodule_requests(scan, providers)

    def _submodule_requests(self, scan: AppScan, providers: Providers) -> list[tuple[str, str, str, bool]]:
        """(key, extra, why, True) for every imported submodule named as an extra of its distribution."""
        found: list[tuple[str, str, str, bool]] = []
        for use in scan.uses:
            if use.kind != MODULE:
                continue
            top, _, rest = use.name.partition(".")
            subs = [rest.split(".")[0]] if rest else list(use.subnames)
            for key in sorted(providers.modules.get(top, ())):
                for dist in self._dists.get(key, ()):
                    extras = extras_of(dist)
                    for sub in subs:
                        if normalize_pip_name(sub) in extras:
                            found.append((key, normalize_pip_name(sub),
                                          f"{dist.name}[{normalize_pip_name(sub)}]: the application imports "
                                          f"{top}.{sub} at {use.location}, and {dist.name} needs it for that extra", True))
        return found

    def _holds(self, marker: Any, extra: str) -> bool:
        if marker is None:
            return not extra
        try:
            return bool(marker.evaluate({**self.markers, "extra": extra}))
        except Exception:  # noqa: BLE001 - an unknown marker variable: count it, the safe direction
            return True

    def __call__(self, needed: frozenset[str]) -> Loads:
        loads = Loads()
        # (key, extra, who asks for it, whether that already says all): the evidence of what it brings
        todo: list[tuple[str, str, str, bool]] = []
        for asked in self.asked:
            key = self._key_of(asked.name)
            if key in needed:
                todo += [(key, e, f"{asked.written} in {asked.file}", False) for e in asked.extras]
        todo += [t for t in self._submodules if t[0] in needed]
        for key in sorted(needed):  # installed distributions asking for extras of others
            for dist in self._dists.get(key, ()):
                for req in self._requirements[id(dist)]:
                    if req.extras and self._holds(req.marker, ""):
                        child = self._key_of(normalize_pip_name(req.name))
                        if child is not None:
                            todo += [(child, normalize_pip_name(e),
                                      f"{req.name}[{normalize_pip_name(e)}] (required by {dist.name})", False)
                                     for e in sorted(req.extras)]
        done: set[tuple[str, str]] = set()
        while todo:
            key, extra, why, complete = todo.pop(0)
            if (key, extra) in done:
                continue
            done.add((key, extra))
            for dist in self._dists.get(key, ()):
                for req in self._requirements[id(dist)]:
                    if req.marker is None or "extra" not in str(req.marker) or not self._holds(req.marker, extra):
                        continue
                    child = self._key_of(normalize_pip_name(req.name))
                    if child is None:
                        continue
                    if child != key:
                        detail = why if complete else f"{why}: {dist.name} needs it for its extra '{extra}'"
                        evidence = Evidence(EXTRA, detail)
                        if child not in needed and evidence not in loads.needed.get(child, ()):
                            loads.needed.setdefault(child, []).append(evidence)
                    todo += [(child, normalize_pip_name(e), f"{req.name}[{normalize_pip_name(e)}] (required by "
                              f"{dist.name}[{extra}])", False) for e in sorted(req.extras)]
        return loads
