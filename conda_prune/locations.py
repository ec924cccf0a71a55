"""Where package caches and environments live.

Inside conda the answers come from conda's own ``context`` (so ``.condarc``, ``CONDA_PKGS_DIRS``
and every other way of configuring conda apply). The ``conda-prune`` script, which also runs
where conda is not importable (micromamba and pixi users, slim images), reads the same sources
itself: conda's configuration files and variables, read and merged by conda's rules
(:mod:`conda_prune.condarc`, which also reads micromamba's ``.mambarc`` files), the root
prefix, and ``~/.conda/environments.txt``.

We never call ``conda.core.envs_manager.list_all_known_prefixes``: it rewrites
``environments.txt`` to drop entries it cannot see, and a prune must not change what it reads
(an unmounted filesystem would lose its registration).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

KEEP_SETTING = "prune_keep"


@dataclass(frozen=True)
class Locations:
    """Everything the scans need to know about an installation."""

    root_prefix: Path | None
    pkgs_dirs: tuple[Path, ...]
    envs_dirs: tuple[Path, ...]
    environments_txt: tuple[Path, ...] = ()
    keep: tuple[str, ...] = ()
    condarc_files: tuple[Path, ...] = field(default=(), compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)
    #: configuration files the standalone script could not read at all: the caches, environments
    #: and keep-list they may set are unknown, so nothing is removed while they stay so
    unread_config: tuple[str, ...] = field(default=(), compare=False)

    @property
    def config_doubts(self) -> list[str]:
        return [f"{what} (see above): the package caches, environments and keep-list it may set are "
                "unknown. Fix it, or pass --ignore-unreachable to prune anyway" for what in self.unread_config]


def keep_pattern(name: str, patterns: Iterable[str]) -> str | None:
    """The keep-list pattern (a name or a glob) that ``name`` matches, if any."""
    return next((p for p in patterns if fnmatch.fnmatchcase(name, p)), None)


def _unique(paths: Iterable[Path]) -> tuple[Path, ...]:
    seen: dict[Path, None] = {}
    for path in paths:
        seen.setdefault(path, None)
    return tuple(seen)


def _unique_dirs(paths: Iterable[Path]) -> tuple[Path, ...]:
    """Each folder once, by its real path, under the first name it is listed by: conda's merge can
    list one cache twice (``CONDA_PKGS_DIRS=~/pkgs-link`` in front of a ``pkgs_dirs`` naming the
    folder the link points to), and a cache pruned under two names is pruned twice."""
    seen: dict[str, Path] = {}
    for path in paths:
        seen.setdefault(os.path.realpath(path), path)
    return tuple(seen.values())


def environments_txt_files(home: Path, *, every_user: bool) -> tuple[Path, ...]:
    """The environments.txt files conda reads: the user's, or every user's when run as root."""
    homes = [home]
    if every_user:
        try:
            import pwd

            homes += [Path(entry.pw_dir) for entry in pwd.getpwall() if entry.pw_dir]
        except (ImportError, KeyError):  # pragma: no cover - not on POSIX
            pass
    return _unique(h / ".conda" / "environments.txt" for h in homes)


def _is_admin() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def from_conda_context() -> Locations:
    """Locations as conda itself sees them (only inside a process where conda is importable)."""
    from conda.base.context import context

    keep: tuple[str, ...] = ()
    try:
        keep = tuple(getattr(context.plugins, KEEP_SETTING) or ())
    except AttributeError:  # the setting is not registered (plugin loaded without conda hooks)
        keep = ()
    home = Path(os.path.expanduser("~"))
    return Locations(
        root_prefix=Path(context.root_prefix),
        pkgs_dirs=_unique_dirs(Path(p) for p in context.pkgs_dirs),
        envs_dirs=_unique(Path(p) for p in context.envs_dirs),
        environments_txt=environments_txt_files(home, every_user=_is_admin()),
        keep=keep,
    )


# -- the standalone reading of conda's configuration -------------------------------------------


def _installation(environ: Mapping[str, str], home: Path) -> Path | None:
    """The conda (or micromamba) installation: what conda calls ``$CONDA_ROOT``."""
    for var in ("CONDA_ROOT", "MAMBA_ROOT_PREFIX"):
        if environ.get(var):
            return Path(environ[var])
    if environ.get("CONDA_EXE"):
        return Path(environ["CONDA_EXE"]).resolve().parent.parent
    for guess in ("miniforge3", "miniconda3", "anaconda3", "mambaforge"):
        if (home / guess / "conda-meta").is_dir():
            return home / guess
    return None


def _root_writable(root: Path | None) -> bool:
    """conda's test: the root prefix's ``conda-meta/history`` can be opened for appending."""
    if root is None:
        return False
    history = root / "conda-meta" / "history"
    return history.is_file() and os.access(history, os.W_OK)


def _target_prefix(
    environ: Mapping[str, str], home: Path, installation: Path | None,
    name: str | None, prefix: str | None,
) -> Path | None:
    """The environment conda puts in ``$CONDA_PREFIX`` while it reads its configuration:
    ``-p``, ``-n``, else the active one, else ``CONDA_DEFAULT_ENV``, else the installation."""
    from .condarc import expand_path

    if prefix:
        return expand_path(prefix, environ, home)
    if name:
        default_env: str | None = name
    elif environ.get("CONDA_PREFIX"):
        return Path(environ["CONDA_PREFIX"])
    else:
        default_env = environ.get("CONDA_DEFAULT_ENV")
    if not default_env or default_env in ("base", "root"):
        return installation
    if os.sep in default_env:
        return Path(os.path.abspath(default_env))
    if installation is None:
        return None
    # conda looks the name up in the envs dirs it knows before reading any file
    dirs = [home / ".conda" / "envs", installation / "envs"]
    if _root_writable(installation):
        dirs.reverse()
    return next((d / default_env for d in dirs if (d / default_env).is_dir()), dirs[0] / default_env)


def from_environment(
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    *,
    target_name: str | None = None,
    target_prefix: str | None = None,
) -> Locations:
    """Locations read the way conda reads them, for use where conda is not importable.

    ``target_name`` / ``target_prefix`` are ``-n`` / ``-p``: conda reads that environment's
    ``.condarc`` (instead of the active environment's)."""
    from . import condarc

    environ = os.environ if environ is None else environ
    home = Path(environ.get("HOME") or os.path.expanduser("~")) if home is None else home
    installation = _installation(environ, home)
    target = _target_prefix(environ, home, installation, target_name, target_prefix)
    variables = dict(environ)
    for var, value in (("CONDA_ROOT", installation), ("CONDA_PREFIX", target)):
        if value is not None:
            variables[var] = str(value)
        else:
            variables.pop(var, None)
    config = condarc.load(variables, home)
    warnings: list[str] = list(config.warnings)

    root_setting = condarc.single_setting(condarc.ROOT_PREFIX, config.sources, environ, warnings)
    root = (
        Path(os.path.abspath(condarc.expand_user(root_setting, home))) if root_setting else installation
    )
    writable = _root_writable(root)

    def with_defaults(configured: tuple[str, ...], leaf: str) -> list[Path]:
        defaults = [home / ".conda" / leaf]
        if root is not None:
            defaults.insert(0 if writable else 1, root / leaf)
        return [*condarc.paths_setting(configured, environ, home), *defaults]

    pkgs = condarc.sequence_setting(condarc.PKGS_DIRS, config.sources, environ, warnings)
    # conda: the configured caches, or else the defaults; the configured envs dirs, then the defaults
    pkgs_dirs = list(condarc.paths_setting(pkgs, environ, home)) if pkgs else with_defaults((), "pkgs")
    envs = condarc.sequence_setting(condarc.ENVS_DIRS, config.sources, environ, warnings)
    envs_dirs = with_defaults(envs, "envs")
    keep = condarc.sequence_setting(condarc.keep_setting(KEEP_SETTING), config.sources, environ, warnings)
    if environ.get("CONDA_PRUNE_KEEP"):
        keep = tuple(p for p in re.split(f"[,{os.pathsep}]", environ["CONDA_PRUNE_KEEP"]) if p)
    return Locations(
        root_prefix=root,
        pkgs_dirs=_unique_dirs(pkgs_dirs),
        envs_dirs=_unique(envs_dirs),
        environments_txt=environments_txt_files(home, every_user=_is_admin()),
        keep=tuple(keep),
        condarc_files=config.files,
        warnings=tuple(dict.fromkeys(warnings)),
        unread_config=(*config.unread, *dict.fromkeys(f"a setting conda refuses: {w}" for w in warnings
                                                      if isinstance(w, condarc.Refused))),
    )


def conda_importable() -> bool:
    try:
        import conda.base.context  # noqa: F401
    except ImportError:
        return False
    return True
