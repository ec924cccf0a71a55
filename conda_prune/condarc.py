"""conda's configuration files, read as conda reads them, for where conda is not importable.

The ``conda-prune`` script needs three things from the configuration: ``pkgs_dirs``,
``envs_dirs`` (and ``root_prefix``, which decides their defaults) and the keep-list
``plugins: prune_keep``. A cache or an envs dir configured in a file we did not read is a
cache we do not prune or, worse, environments we do not see, whose cache entries then look
unused. So this module follows conda (26.7: ``SEARCH_PATH`` in ``conda/base/constants.py``,
``Configuration`` in ``conda/common/configuration.py``) rule by rule:

* **The search path**, lowest precedence first: ``/etc/conda``, ``/var/lib/conda``,
  ``$CONDA_ROOT`` (the conda installation), ``$XDG_CONFIG_HOME/conda``, ``~/.config/conda``,
  ``~/.conda``, each as ``.condarc``, ``condarc`` and ``condarc.d/``; then ``~/.condarc``;
  ``$CONDA_PREFIX`` (the target environment) likewise; ``$CONDARC`` last. A path met twice
  counts at its first place.
* **Which files**: a path that is a file counts only when it is named ``.condarc`` or
  ``condarc`` or ends in ``.yml`` / ``.yaml`` (so ``CONDARC=~/myrc`` is ignored, as conda
  ignores it); a path that is a folder gives its ``*.yml`` / ``*.yaml`` files, sorted by name.
* **Sequences** (``pkgs_dirs``, ``envs_dirs`` / ``envs_path``, ``prune_keep``) merge across
  files: later files take precedence, so their items come first, each item once. A key marked
  ``#!final`` stops every later source; items marked ``#!top`` / ``#!bottom`` move to the
  front / end. The environment variables (``CONDA_PKGS_DIRS`` split on ``,``,
  ``CONDA_ENVS_DIRS`` / ``CONDA_ENVS_PATH`` split on ``os.pathsep``,
  ``CONDA_PLUGINS_PRUNE_KEEP``) are one more source after every file: they add to the files'
  items, in front of them, rather than replace them.
* **A single value** (``root_prefix`` / ``root_dir``): the last source wins, or the first one
  marked ``#!final``.

micromamba (libmamba's ``compute_default_rc_sources``) reads conda's files and, besides them,
``.mambarc`` beside each system, root and target ``.condarc``, ``$MAMBA_ROOT_PREFIX``'s files,
and the user's ``~/.config/mamba/`` (``$XDG_CONFIG_HOME/mamba/``) and ``~/.mamba/``
(``.mambarc``, ``mambarc``, ``mambarc.d/``), ``~/.mambarc`` and ``$MAMBARC``. Those are read
too, each at the place micromamba gives it relative to conda's files (the user's mamba files
after ``~/.condarc``, before the target environment's files and ``$CONDARC``), so a cache or
envs dir set only for micromamba is found; they merge by conda's rules.

Where we differ from conda on purpose:

* a file conda cannot read or parse stops conda (or is skipped with a warning); here it gives
  one warning line naming the file and its settings are ignored. So does a file that is not a
  regular file (a FIFO would block conda, a link to ``/dev/zero`` would be read forever) or is
  over 64 MiB: it is read as :mod:`conda_prune.safeio` reads, never opened as a FIFO and never
  read past the limit. So do values of the wrong type (``pkgs_dirs: /one/path`` instead of a
  list) and both ``envs_dirs`` and ``envs_path`` in one source (conda refuses that; we read
  ``envs_dirs``);
* a variable of the search path that is unset or empty is a path that does not exist. conda
  keeps the text: an unset ``$CONDARC`` names a file literally called ``$CONDARC`` in the
  current folder, and ``CONDARC=`` (empty) makes conda read every ``*.yml`` of the current
  folder as configuration.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONDARC_NAMES = (".condarc", "condarc")
MAMBARC_NAMES = (*CONDARC_NAMES, ".mambarc", "mambarc")
YAML_SUFFIXES = (".yml", ".yaml")

ENV_SOURCE = "environment variables"

# (template, the file names it may have): conda's SEARCH_PATH, with micromamba's own files
# placed where micromamba reads them. A template ending in "/" is a folder of *.yml files.
_CONDA, _MAMBA = CONDARC_NAMES, MAMBARC_NAMES


def _rc_folder(base: str, stem: str, *, mambarc: bool, names: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    entries = [(f"{base}/.{stem}", names), (f"{base}/{stem}", names), (f"{base}/{stem}.d/", names)]
    if mambarc:
        entries.append((f"{base}/.mambarc", _MAMBA))
    return entries


SEARCH_PATH: tuple[tuple[str, tuple[str, ...]], ...] = (
    *_rc_folder("/etc/conda", "condarc", mambarc=True, names=_CONDA),
    *_rc_folder("/var/lib/conda", "condarc", mambarc=True, names=_CONDA),
    *_rc_folder("$CONDA_ROOT", "condarc", mambarc=False, names=_CONDA),
    *_rc_folder("$MAMBA_ROOT_PREFIX", "condarc", mambarc=True, names=_MAMBA),
    *_rc_folder("$XDG_CONFIG_HOME/conda", "condarc", mambarc=False, names=_CONDA),
    *_rc_folder("~/.config/conda", "condarc", mambarc=False, names=_CONDA),
    *_rc_folder("~/.conda", "condarc", mambarc=False, names=_CONDA),
    ("~/.condarc", _CONDA),
    *_rc_folder("$XDG_CONFIG_HOME/mamba", "mambarc", mambarc=False, names=_MAMBA),
    *_rc_folder("~/.config/mamba", "mambarc", mambarc=False, names=_MAMBA),
    *_rc_folder("~/.mamba", "mambarc", mambarc=False, names=_MAMBA),
    ("~/.mambarc", _MAMBA),
    ("$MAMBARC", _MAMBA),
    *_rc_folder("$CONDA_PREFIX", "condarc", mambarc=True, names=_CONDA),
    ("$CONDARC", _CONDA),
)

_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")


def _search_entry(template: str, variables: Mapping[str, str], home: Path) -> Path | None:
    """A search-path template as a path, or None when a variable in it is unset or empty."""
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        found = variables.get(match.group(1) or match.group(2), "")
        missing = missing or not found
        return found

    text = _VARIABLE.sub(value, template)
    if missing:
        return None
    if text == "~" or text.startswith("~/"):
        text = str(home) + text[1:]
    return Path(text)


def search_path(variables: Mapping[str, str], home: Path) -> tuple[tuple[Path, tuple[str, ...]], ...]:
    """Every place configuration may be, lowest precedence first, each once.

    ``variables`` holds the environment plus ``CONDA_ROOT`` (the conda installation) and
    ``CONDA_PREFIX`` (the target environment) as conda sets them."""
    seen: dict[Path, tuple[str, ...]] = {}
    for template, names in SEARCH_PATH:
        path = _search_entry(template, variables, home)
        if path is not None and path not in seen:
            seen[path] = names
    return tuple(seen.items())


class Refused(str):
    """A warning about something conda itself refuses (it stops with an error): what the setting
    would have said is unknown, so removals must not go ahead on the rest."""


def config_files(entries: Iterable[tuple[Path, tuple[str, ...]]],
                 unlisted: list[str] | None = None) -> tuple[Path, ...]:
    """The files the search path names: files with a configuration name, and the ``*.yml`` /
    ``*.yaml`` files of folders, sorted by name; each once, lowest precedence first.

    "Files" are whatever is not a folder: a FIFO or a link to a device with such a name is
    listed too, so that :func:`read_file` says it is not read (conda would block on the FIFO,
    or read ``/dev/zero`` forever), rather than being passed over in silence. What does not
    exist (a dangling symlink) is not listed, as in conda."""
    found: dict[Path, None] = {}
    for path, names in entries:
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:  # there, but not to be looked into: what it holds is unknown
            if unlisted is not None and exc.errno not in (errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG):
                unlisted.append(f"{path} cannot be looked into ({exc.strerror})")
            continue
        if stat.S_ISDIR(mode):
            try:
                with os.scandir(path) as it:
                    children = sorted(it, key=lambda entry: entry.name)
            except OSError as exc:
                if unlisted is not None:
                    unlisted.append(f"the configuration folder {path} cannot be listed ({exc.strerror})")
                continue
            for child in children:
                if Path(child.name).suffix not in YAML_SUFFIXES:
                    continue
                try:
                    is_dir = stat.S_ISDIR(os.stat(child.path).st_mode)  # follows a symlink, as conda does
                except OSError:
                    continue
                if not is_dir:
                    found.setdefault(Path(child.path), None)
        elif path.name in names or path.suffix in YAML_SUFFIXES:
            found.setdefault(path, None)
    return tuple(found)


# -- reading one file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One place settings come from: a file's top-level mapping, or the environment variables."""

    name: str
    data: Mapping[str, Any]


def _yaml_problem(exc: Exception) -> str:
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or type(exc).__name__
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(problem)


def read_file(path: Path) -> tuple[Source | None, str | None]:
    """A file's settings, or a one-line warning saying why it is ignored."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from .safeio import TEXT_LIMIT, UnsafeFile, read_bytes

    try:
        # a symlink is followed: a .condarc kept in a dotfiles folder is one
        text = read_bytes(path, limit=TEXT_LIMIT, follow=True).decode("utf-8")
    except UnsafeFile as exc:  # a FIFO, a device, a file over the limit: never opened or never read
        return None, (f"ignoring the configuration file {path}: it {exc.strerror}; its settings are not used "
                      f"(make it a regular file of at most {TEXT_LIMIT >> 20} MiB, or remove it)")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        return None, f"ignoring the configuration file {path}: {reason}"
    try:
        data = YAML(typ="rt").load(text)
    except (YAMLError, ValueError) as exc:  # ruamel raises ValueError-like errors for some input
        return None, f"ignoring the configuration file {path}: not valid YAML ({_yaml_problem(exc)}); conda would refuse it"
    except (RecursionError, MemoryError):  # ``a: [[[[...`` thousands deep: the parser recurses per level
        return None, f"ignoring the configuration file {path}: nested too deeply to parse; conda would refuse it"
    if data is None:
        return Source(str(path), {}), None
    if not isinstance(data, Mapping):
        return None, f"ignoring the configuration file {path}: not a mapping of settings; conda would refuse it"
    return Source(str(path), data), None


def read_configuration(files: Iterable[Path]) -> tuple[tuple[Source, ...], tuple[str, ...], tuple[str, ...]]:
    """The settings of each file, the warnings, and the files whose settings could not be read
    at all (their caches, environments and keep-list are unknown)."""
    sources: list[Source] = []
    warnings: list[str] = []
    unread: list[str] = []
    for path in files:
        source, warning = read_file(path)
        if source is not None:
            sources.append(source)
        elif warning:
            unread.append(f"the configuration file {path} could not be read")
        if warning:
            warnings.append(warning)
    return tuple(sources), tuple(warnings), tuple(unread)


# -- merging ------------------------------------------------------------------------------------

_FLAGS = ("final", "top", "bottom")


def _flag(comment: Any) -> str | None:
    """``#!final``, ``#!top`` or ``#!bottom`` in a ruamel comment token, as conda reads it."""
    text = getattr(comment, "value", None)
    if not isinstance(text, str):
        return None
    word = text.strip().strip("!#")
    return word if word in _FLAGS else None


def _key_flag(mapping: Any, key: str) -> str | None:
    try:
        return _flag(mapping.ca.items[key][2])
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


def _item_flag(sequence: Any, index: int) -> str | None:
    try:
        before, after = sequence.ca.items[index][0], sequence.ca.items[index][1]
    except (AttributeError, KeyError, IndexError, TypeError):
        return None
    if before:
        return _flag(before)
    try:
        return _flag(after[0])
    except (IndexError, TypeError):
        return None


@dataclass(frozen=True)
class Match:
    """One source's value for one setting."""

    source: str
    values: tuple[str, ...]
    final: bool = False
    flags: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class Setting:
    """A setting conda knows by several names, and its environment variable."""

    names: tuple[str, ...]
    env_var: str
    delimiter: str = ","
    under_plugins: bool = False

    @property
    def name(self) -> str:
        return self.names[0]


PKGS_DIRS = Setting(("pkgs_dirs", "_pkgs_dirs"), "CONDA_PKGS_DIRS")
ENVS_DIRS = Setting(("envs_dirs", "envs_path", "_envs_dirs"), "CONDA_ENVS_DIRS", delimiter=os.pathsep)
ROOT_PREFIX = Setting(("root_prefix", "root_dir", "_root_prefix"), "CONDA_ROOT_PREFIX")


def keep_setting(name: str) -> Setting:
    return Setting((name,), f"CONDA_PLUGINS_{name.upper()}", under_plugins=True)


def _lookup(source: Source, setting: Setting, warnings: list[str]) -> tuple[Any, str] | None:
    """The mapping and key that hold the setting in one source."""
    data: Any = source.data
    if setting.under_plugins:
        data = data.get("plugins")
        if not isinstance(data, Mapping):
            return None
    present = [name for name in setting.names if name in data]
    if not present:
        return None
    if len(present) > 1:
        warnings.append(Refused(
            f"{source.name} sets {' and '.join(present)}, which conda refuses; reading {present[0]} only"
        ))
    return data, present[0]


def _sequence_match(source: Source, setting: Setting, warnings: list[str]) -> Match | None:
    found = _lookup(source, setting, warnings)
    if found is None:
        return None
    mapping, key = found
    value = mapping[key]
    if value is None:  # ``pkgs_dirs: ~`` is no setting at all, as in conda
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        warnings.append(Refused(f"ignoring {key} in {source.name}: a list is needed, not {type(value).__name__}"))
        return None
    values: list[str] = []
    flags: list[str | None] = []
    for index, item in enumerate(value):
        if item is None or isinstance(item, (Mapping, list)):
            warnings.append(Refused(f"ignoring an item of {key} in {source.name}: {item!r} is not a path or name"))
            continue
        values.append(str(item))
        flags.append(_item_flag(value, index))
    return Match(source.name, tuple(values), _key_flag(mapping, key) == "final", tuple(flags))


def _env_sources(setting: Setting, environ: Mapping[str, str]) -> list[str]:
    """The environment variables for a setting (conda reads ``CONDA_<NAME>`` for every name)."""
    names = [setting.env_var] if setting.under_plugins else [f"CONDA_{n.upper()}" for n in setting.names]
    return [name for name in names if name in environ]


def _env_sequence(setting: Setting, environ: Mapping[str, str], warnings: list[str]) -> Match | None:
    present = _env_sources(setting, environ)
    if not present:
        return None
    if len(present) > 1:
        warnings.append(Refused(f"both {' and '.join(present)} are set, which conda refuses; reading {present[0]} only"))
    raw = environ[present[0]]
    values = tuple(v for v in (part.strip() for part in raw.split(setting.delimiter)) if v)
    return Match(ENV_SOURCE, values, "!important" in raw, ())


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def merge_sequence(matches: Sequence[Match]) -> tuple[str, ...]:
    """conda's merge of a list setting across sources (lowest precedence first).

    Sources after the first one marked final are dropped. The rest are read from the last to
    the first, so a later file's items come first; items marked top go to the front, items
    marked bottom to the end, and each item is kept once."""
    relevant: list[Match] = []
    for match in matches:
        relevant.append(match)
        if match.final:
            break

    def marked(match: Match, flag: str) -> list[str]:
        return [value for value, f in zip(match.values, match.flags, strict=False) if f == flag]

    top = [v for m in relevant for v in marked(m, "top")]
    bottom = [v for m in reversed(relevant) for v in marked(m, "bottom")]
    everything = [v for m in reversed(relevant) for v in m.values]
    front = _unique([*top, *everything])
    return tuple(reversed(_unique([*reversed(bottom), *reversed(front)])))


def sequence_setting(
    setting: Setting, sources: Sequence[Source], environ: Mapping[str, str], warnings: list[str]
) -> tuple[str, ...]:
    matches = [m for s in sources if (m := _sequence_match(s, setting, warnings)) is not None]
    env = _env_sequence(setting, environ, warnings)
    if env is not None:
        matches.append(env)
    return merge_sequence(matches)


def single_setting(
    setting: Setting, sources: Sequence[Source], environ: Mapping[str, str], warnings: list[str]
) -> str | None:
    """A one-value setting: the first source marked final, else the last one."""
    matches: list[tuple[Any, bool]] = []
    for source in sources:
        found = _lookup(source, setting, warnings)
        if found is not None:
            mapping, key = found
            matches.append((mapping[key], _key_flag(mapping, key) == "final"))
    present = _env_sources(setting, environ)
    if present:
        raw = environ[present[0]]
        matches.append((raw.split("!important")[0].strip(), "!important" in raw))
    if not matches:
        return None
    value = next((v for v, final in matches if final), matches[-1][0])
    return str(value) if value not in (None, "") and not isinstance(value, (Mapping, list)) else None


# -- paths as conda expands them ----------------------------------------------------------------


def expand_vars(value: str, environ: Mapping[str, str]) -> str:
    """``os.path.expandvars`` against a given environment: unknown variables stay as written."""

    def value_of(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return environ.get(name, match.group(0))

    return _VARIABLE.sub(value_of, value) if "$" in value else value


def expand_user(value: str, home: Path) -> str:
    if value == "~" or value.startswith("~/"):
        return str(home) + value[1:]
    return os.path.expanduser(value)  # ~user


def expand_path(value: str, environ: Mapping[str, str], home: Path) -> Path:
    """conda's ``expand``: variables, then ``~``, then an absolute, normalised path."""
    return Path(os.path.abspath(expand_user(expand_vars(value, environ), home)))


@dataclass(frozen=True)
class Configuration:
    """What the standalone script takes from the configuration."""

    files: tuple[Path, ...]
    sources: tuple[Source, ...] = field(repr=False)
    warnings: tuple[str, ...] = ()
    unread: tuple[str, ...] = ()  # what could not be read at all: "the configuration file X could not be read"


def load(variables: Mapping[str, str], home: Path) -> Configuration:
    unlisted: list[str] = []
    files = config_files(search_path(variables, home), unlisted)
    sources, warnings, unread = read_configuration(files)
    return Configuration(files=files, sources=sources, warnings=(*warnings, *unlisted), unread=(*unlisted, *unread))


def paths_setting(values: Iterable[str], environ: Mapping[str, str], home: Path) -> Iterator[Path]:
    """Configured paths after conda's variable expansion (done once at merge, once in expand)."""
    for value in values:
        yield expand_path(expand_vars(value, environ), environ, home)
