"""What an environment holds, read straight from its on-disk format.

We read ``conda-meta/*.json`` and ``*.dist-info`` ourselves instead of using conda's
``PrefixData``, for two reasons (see CONDA_NOTES):

* ``PrefixData(..., interoperability=True)`` *deletes* a conda record's ``conda-meta/*.json`` when
  its python marker file is missing; every command here is a read and must never write.
* ``PrefixData`` builds a full record object per ``paths_data`` entry (about 10 µs each); a
  plain ``json.load`` of the same files is more than ten times faster, and the cache prune reads
  every environment on the machine.

Broken input never raises: each unreadable file becomes a :class:`Problem` that names the file
and says what to do, and the caller decides what "doubt" means for its decision.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import HeaderParser
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from .problem import Problem
from .record_skim import skim_record
from .safeio import RECORD_LIMIT, TEXT_LIMIT, open_dir_nofollow, read_bytes

if TYPE_CHECKING:
    from .summaries import RecordSummaries

LINK_HARDLINK = 1
LINK_SOFTLINK = 2
LINK_COPY = 3
LINK_NAMES = {LINK_HARDLINK: "hardlink", LINK_SOFTLINK: "softlink", LINK_COPY: "copy"}


@dataclass(frozen=True)
class CondaRecord:
    """One ``conda-meta/<name>-<version>-<build>.json`` of an environment."""

    prefix: Path
    dist: str  # the file name without .json: the same string as the cache entry's folder name
    name: str
    version: str
    build: str
    channel: str = ""
    subdir: str = ""
    depends: tuple[str, ...] = ()
    constrains: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    link_type: int | None = None
    link_source: str | None = None
    extracted_package_dir: str | None = None
    fn: str | None = None
    url: str | None = None
    requested_specs: tuple[str, ...] = ()

    @property
    def meta_file(self) -> Path:
        return self.prefix / "conda-meta" / f"{self.dist}.json"

    @property
    def cache_sources(self) -> tuple[str, ...]:
        """The package-cache folders this record says it was linked from."""
        return tuple(dict.fromkeys(p for p in (self.link_source, self.extracted_package_dir) if p))


@dataclass(frozen=True)
class PipDistribution:
    """A Python distribution found as ``*.dist-info`` (or ``*.egg-info``) in site-packages."""

    name: str
    version: str
    path: Path  # the dist-info folder
    installer: str = ""
    requested: bool = False
    requires_dist: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # prefix-relative, from RECORD
    top_level: tuple[str, ...] = ()
    conda_owner: str | None = None  # dist of the conda record that installed it, if any

    @property
    def normalized_name(self) -> str:
        return normalize_pip_name(self.name)

    @property
    def is_pip_installed(self) -> bool:
        """Installed by pip (or uv, poetry...) rather than shipped inside a conda package."""
        return self.conda_owner is None


@dataclass
class EnvironmentData:
    prefix: Path
    records: list[CondaRecord] = field(default_factory=list)
    pip: list[PipDistribution] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # dists whose conda-meta file exists but could not be read: what they reference is unknown
    unreadable: list[str] = field(default_factory=list)

    @cached_property
    def name_of_dist(self) -> dict[str, str]:
        """``name-version-build`` -> package name, for every record (read once it is complete)."""
        return {r.dist: r.name for r in self.records}

    @cached_property
    def record_of_key(self) -> dict[str, CondaRecord]:
        """Graph key (``conda:NAME``) -> that package's record."""
        return {f"conda:{r.name}": r for r in self.records}

    def files_with_keys(self) -> Iterator[tuple[str, str]]:
        """(prefix-relative path, graph key) for every file conda's records and pip's RECORDs
        list (pip's only for what pip installed)."""
        for record in self.records:
            key = f"conda:{record.name}"
            for path in record.files:
                yield path, key
        for dist in self.pip:
            if dist.is_pip_installed:
                key = f"pypi:{dist.normalized_name}"
                for path in dist.files:
                    yield path, key

    @cached_property
    def file_owners(self) -> dict[str, set[str]]:
        """Every installed file -> the graph keys of the packages that list it; a file pip
        installed over a conda package has both. Built once (the plan, the native-library
        reader and the trace all map files to packages); read it, never change it."""
        owners: dict[str, set[str]] = {}
        for path, key in self.files_with_keys():
            owners.setdefault(path, set()).add(key)
        return owners


def normalize_pip_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def split_dist(dist: str) -> tuple[str, str, str]:
    """``name-version-build`` -> its three parts (names may contain dashes, versions not)."""
    name, _, rest = dist.rpartition("-")
    name2, _, version = name.rpartition("-")
    if not name2:
        return dist, "", ""
    return name2, version, rest


def is_environment(prefix: Path) -> bool:
    """conda's own test: a folder with ``conda-meta/history`` (or any record) is an environment."""
    meta = prefix / "conda-meta"
    try:
        if (meta / "history").is_file():
            return True
        return any(name.endswith(".json") for name in os.listdir(meta))
    except PermissionError:
        # a conda-meta we may not read is still an environment, one whose packages are unknown:
        # read_conda_meta reports it, and the cache prune refuses to guess
        return os.path.isdir(meta)
    except OSError:
        return False


def safe_relative(path: object) -> str | None:
    """A prefix-relative path as conda records it, or None when it is absolute or escapes."""
    if not isinstance(path, str) or not path or "\x00" in path:
        return None
    pure = PurePosixPath(path.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts:
        return None
    return str(pure)


_REPAIR = "reinstall that package (conda install --force-reinstall NAME) or restore the file"


def _strings(value: object) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _parse_record(prefix: Path, path: Path, data: object, with_files: bool) -> CondaRecord | str:
    """A record, or the reason it cannot be used."""
    if not isinstance(data, dict):
        return "is not a JSON object"
    dist = path.name[: -len(".json")]
    fallback = split_dist(dist)
    name, version, build = (data.get(k) for k in ("name", "version", "build"))
    for key, value in (("name", name), ("version", version), ("build", build)):
        if value is not None and not isinstance(value, str):
            return f"field {key!r} is {type(value).__name__}, not a string"
    depends = _strings(data.get("depends"))
    constrains = _strings(data.get("constrains"))
    if depends is None:
        return "field 'depends' is not a list of strings"
    if constrains is None:
        return "field 'constrains' is not a list of strings"
    link = data.get("link")
    link_type = link_source = None
    if link is not None:
        if not isinstance(link, dict):
            return "field 'link' is not an object"
        raw_type = link.get("type")
        if isinstance(raw_type, int) and not isinstance(raw_type, bool):
            link_type = raw_type
        elif isinstance(raw_type, str) and raw_type.isdigit():
            link_type = int(raw_type)
        elif raw_type is not None:
            return "field 'link.type' is not a number"
        link_source = link.get("source")
        if link_source is not None and not isinstance(link_source, str):
            return "field 'link.source' is not a string"
    extracted = data.get("extracted_package_dir")
    if extracted is not None and not isinstance(extracted, str):
        return "field 'extracted_package_dir' is not a string"
    files: tuple[str, ...] = ()
    if with_files:
        raw_files = _strings(data.get("files"))
        if raw_files is None:
            return "field 'files' is not a list of strings"
        files = tuple(p for p in (safe_relative(f) for f in raw_files) if p is not None)
    requested = data.get("requested_specs")
    if requested is None and isinstance(data.get("requested_spec"), str):
        requested = [data["requested_spec"]]
    return CondaRecord(
        prefix=prefix,
        dist=dist,
        name=name or fallback[0],
        version=version or fallback[1],
        build=build or fallback[2],
        channel=str(data.get("channel") or ""),
        subdir=str(data.get("subdir") or ""),
        depends=depends,
        constrains=constrains,
        files=files,
        link_type=link_type,
        link_source=link_source or None,
        extracted_package_dir=extracted or None,
        fn=data.get("fn") if isinstance(data.get("fn"), str) else None,
        url=data.get("url") if isinstance(data.get("url"), str) else None,
        requested_specs=_strings(requested) or (),
    )


def read_conda_meta(prefix: Path, *, with_files: bool = True, canonical: bool = False,
                    summaries: RecordSummaries | None = None) -> EnvironmentData:
    """Every record of an environment. Unreadable ones become problems, never exceptions.

    ``conda-meta`` is opened once, each component of its path without following a symlink, and
    every record is read relative to that descriptor (a regular file, with a size cap: a FIFO or
    a link to ``/dev/zero`` is a problem, not a hang). ``canonical``: ``prefix`` is already the
    resolved path the caller identified the environment by (the cache prune de-duplicates
    environments by it), so it is not resolved again: a folder on it swapped for a symlink since
    makes the environment unreadable instead of letting another folder stand in for it."""
    env = EnvironmentData(prefix=prefix)
    meta = prefix / "conda-meta"
    try:
        fd = open_dir_nofollow(meta if canonical else os.path.realpath(meta))
    except FileNotFoundError:
        return env
    except OSError as exc:
        why = exc.strerror
        if canonical and exc.errno in (errno.ELOOP, errno.ENOTDIR):
            why = "a folder on its path was replaced by a symlink since it was found"
        env.problems.append(
            Problem(meta, f"cannot be read ({why}); check its permissions or skip this environment")
        )
        env.unreadable.append("*")
        return env
    try:
        try:
            names = sorted(n for n in os.listdir(fd) if n.endswith(".json"))
        except OSError as exc:
            env.problems.append(
                Problem(meta, f"cannot be read ({exc.strerror}); check its permissions or skip this environment")
            )
            env.unreadable.append("*")
            return env
        for file_name in names:
            if summaries is None or with_files:
                _read_record(env, prefix, meta, fd, file_name, with_files)
                continue
            # what the cache prune needs, kept between runs while the file is unchanged
            try:
                st = os.stat(file_name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                st = None
            fields = summaries.get(str(prefix), file_name, st) if st is not None and stat.S_ISREG(st.st_mode) else None
            if fields is not None:
                name, version, build, link_type, source, extracted = fields
                env.records.append(CondaRecord(prefix=prefix, dist=file_name[: -len(".json")], name=name,
                                               version=version, build=build, link_type=link_type,
                                               link_source=source, extracted_package_dir=extracted))
                continue
            count = len(env.records)
            _read_record(env, prefix, meta, fd, file_name, with_files)
            if st is not None and stat.S_ISREG(st.st_mode) and len(env.records) > count:
                rec = env.records[-1]
                summaries.put(str(prefix), file_name, st, (rec.name, rec.version, rec.build, rec.link_type,
                                                           rec.link_source, rec.extracted_package_dir))
    finally:
        os.close(fd)
    return env


def _read_record(env: EnvironmentData, prefix: Path, meta: Path, fd: int, file_name: str, with_files: bool) -> None:
    path = meta / file_name
    try:
        raw = read_bytes(file_name, limit=RECORD_LIMIT, follow=False, dir_fd=fd)
        data = None if with_files else skim_record(raw)
        if data is None:
            data = json.loads(raw)
    except OSError as exc:
        reason = f"cannot be read ({exc.strerror})"
    except (ValueError, RecursionError):
        reason = "is not valid JSON (truncated or corrupt)"
    else:
        parsed = _parse_record(prefix, path, data, with_files)
        if isinstance(parsed, CondaRecord):
            env.records.append(parsed)
            if with_files and isinstance(data, dict):
                bad = [f for f in data.get("files") or () if safe_relative(f) is None]
                if bad:
                    env.problems.append(
                        Problem(path, f"lists {len(bad)} path(s) outside the environment "
                                      f"(e.g. {bad[0]!r}); they were ignored")
                    )
            return
        reason = parsed
    env.problems.append(Problem(path, f"{reason}; {_REPAIR.replace('NAME', split_dist(file_name[:-5])[0])}"))
    env.unreadable.append(file_name[: -len(".json")])


# -- pip distributions --------------------------------------------------------------------------


def site_packages_dirs(prefix: Path) -> list[Path]:
    found = []
    lib = prefix / "lib"
    try:
        for entry in sorted(os.listdir(lib)):
            if entry.startswith("python"):
                candidate = lib / entry / "site-packages"
                if candidate.is_dir():
                    found.append(candidate)
    except OSError:
        pass
    windows = prefix / "Lib" / "site-packages"
    if windows.is_dir():
        found.append(windows)
    return found


def _read_text(path: Path) -> str | None:
    try:
        return read_bytes(path, limit=TEXT_LIMIT).decode("utf-8", "replace")
    except OSError:
        return None


def _record_paths(text: str, base: Path, prefix: Path) -> tuple[str, ...]:
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        rel = line.rsplit(",", 2)[0] if line.count(",") >= 2 else line
        rel = rel.strip().strip('"')
        absolute = os.path.normpath(os.path.join(base, rel))
        try:
            relative = os.path.relpath(absolute, prefix)
        except ValueError:
            continue
        if relative.startswith(".."):
            continue
        out.append(relative.replace(os.sep, "/"))
    return tuple(out)


def read_pip_distributions(
    prefix: Path, conda_files: dict[str, str] | None = None
) -> tuple[list[PipDistribution], list[Problem]]:
    """Distributions in the environment's site-packages.

    ``conda_files`` maps prefix-relative paths to the dist of the conda record that owns them,
    so a dist-info that a conda package shipped is marked as such.
    """
    dists: list[PipDistribution] = []
    problems: list[Problem] = []
    for site in site_packages_dirs(prefix):
        try:
            entries = sorted(os.listdir(site))
        except OSError as exc:
            problems.append(Problem(site, f"cannot be read ({exc.strerror})"))
            continue
        for entry in entries:
            if entry.endswith(".dist-info"):
                meta_name, record_name = "METADATA", "RECORD"
            elif entry.endswith(".egg-info"):
                meta_name, record_name = "PKG-INFO", "installed-files.txt"
            else:
                continue
            path = site / entry
            if not path.is_dir():
                continue
            metadata = _read_text(path / meta_name)
            if metadata is None:
                problems.append(Problem(path, f"has no readable {meta_name}; ignored"))
                continue
            headers = HeaderParser().parsestr(metadata)
            name = headers.get("Name")
            if not name:
                problems.append(Problem(path / meta_name, "has no Name; ignored"))
                continue
            requires = tuple(headers.get_all("Requires-Dist") or ())
            if entry.endswith(".egg-info"):
                requires += tuple(_egg_requires(_read_text(path / "requires.txt") or ""))
            record = _read_text(path / record_name) or ""
            base = path if record_name == "installed-files.txt" else site
            files = _record_paths(record, base, prefix)
            rel_info = os.path.relpath(path, prefix).replace(os.sep, "/")
            owner = None
            if conda_files is not None:
                owner = conda_files.get(f"{rel_info}/{meta_name}") or conda_files.get(rel_info)
            top = _read_text(path / "top_level.txt") or ""
            dists.append(
                PipDistribution(
                    name=name,
                    version=headers.get("Version") or "",
                    path=path,
                    installer=(_read_text(path / "INSTALLER") or "").strip(),
                    requested=(path / "REQUESTED").exists(),
                    requires_dist=requires,
                    files=files,
                    top_level=tuple(t.strip() for t in top.splitlines() if t.strip()),
                    conda_owner=owner,
                )
            )
    return dists, problems


def _egg_requires(text: str) -> Iterator[str]:
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("["):
            section = line[1:-1]
            continue
        if not section:
            yield line
        elif section.startswith(":"):
            yield f"{line}; {section[1:]}"
        else:
            extra, _, marker = section.partition(":")
            cond = f'extra == "{extra}"' + (f" and ({marker})" if marker else "")
            yield f"{line}; {cond}"


def read_environment(prefix: Path, *, with_pip: bool = True) -> EnvironmentData:
    """Conda records and pip distributions of one environment, with any problems found."""
    env = read_conda_meta(prefix, with_files=True)
    if with_pip:
        owners: dict[str, str] = {}
        for rec in env.records:
            for f in rec.files:
                if ".dist-info/" in f or ".egg-info" in f:
                    owners[f] = rec.dist
                    info_dir = f.split("/", -1)
                    for i, part in enumerate(info_dir):
                        if part.endswith((".dist-info", ".egg-info")):
                            owners.setdefault("/".join(info_dir[: i + 1]), rec.dist)
                            break
        env.pip, problems = read_pip_distributions(prefix, owners)
        env.problems.extend(problems)
    return env

