"""Where package caches and environments live.

Inside conda the answers come from conda's own ``context`` (so ``.condarc``, ``CONDA_PKGS_DIRS``
and every other way of configuring conda apply). The ``conda-prune`` script, which also runs
where conda is not importable (micromamba and pixi users, slim images), reads the same sources
itself: ``CONDA_PKGS_DIRS`` / ``CONDA_ENVS_PATH``, ``CONDARC`` and the usual ``.condarc`` files,
the root prefix, and ``~/.conda/environments.txt``.

We never call ``conda.core.envs_manager.list_all_known_prefixes``: it rewrites
``environments.txt`` to drop entries it cannot see, and a prune must not change what it reads
(an unmounted filesystem would lose its registration).
"""

from __future__ import annotations

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


def _expand(value: str, environ: Mapping[str, str], home: Path) -> Path:
    value = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: environ.get(m.group(1) or m.group(2), ""), value)
    if value.startswith("~"):
        value = str(home) + value[1:]
    return Path(os.path.normpath(os.path.abspath(value)))


def _unique(paths: Iterable[Path]) -> tuple[Path, ...]:
    seen: dict[Path, None] = {}
    for path in paths:
        seen.setdefault(path, None)
    return tuple(seen)


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
        pkgs_dirs=_unique(Path(p) for p in context.pkgs_dirs),
        envs_dirs=_unique(Path(p) for p in context.envs_dirs),
        environments_txt=environments_txt_files(home, every_user=_is_admin()),
        keep=keep,
    )


# -- the standalone reading of conda's configuration -------------------------------------------


def _load_yaml(text: str) -> object:
    """Parse a .condarc. Uses a YAML library when one is installed, else a small reader that
    understands the keys conda-prune needs (top-level scalars and lists, and ``plugins:``)."""
    for loader in (_load_with_ruamel, _load_with_pyyaml):
        try:
            return loader(text)
        except ImportError:
            continue
    return _load_minimal(text)


def _load_with_ruamel(text: str) -> object:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


def _load_with_pyyaml(text: str) -> object:
    import yaml

    return yaml.safe_load(text)


def _scalar(text: str) -> str:
    text = text.split(" #", 1)[0].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _load_minimal(text: str) -> dict[str, object]:
    """Top-level ``key: value``, ``key: [a, b]``, block lists, and nested mappings."""
    result: dict[str, object] = {}
    # (indent of the key that opened it, its mapping, the parent mapping, the key)
    stack: list[tuple[int, dict[str, object], dict[str, object] | None, str]] = [(-1, result, None, "")]
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        while len(stack) > 1 and indent <= stack[-1][0]:
            stack.pop()
        mapping, parent, key = stack[-1][1], stack[-1][2], stack[-1][3]
        if line.startswith("- "):
            if parent is not None:
                items = parent.get(key)
                if not isinstance(items, list):
                    items = []
                    parent[key] = items  # the key opened a list, not a mapping
                items.append(_scalar(line[2:]))
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name, value = name.strip(), value.strip()
        if not value:
            child: dict[str, object] = {}
            mapping[name] = child
            stack.append((indent, child, mapping, name))
        elif value.startswith("[") and value.endswith("]"):
            mapping[name] = [_scalar(v) for v in value[1:-1].split(",") if v.strip()]
        else:
            mapping[name] = _scalar(value)
    return result


def _condarc_candidates(environ: Mapping[str, str], home: Path, root: Path | None) -> list[Path]:
    candidates: list[Path] = [Path("/etc/conda/.condarc"), Path("/etc/conda/condarc")]
    if root is not None:
        candidates += [root / ".condarc", root / "condarc"]
    xdg = environ.get("XDG_CONFIG_HOME") or str(home / ".config")
    candidates += [
        Path(xdg) / "conda" / ".condarc",
        Path(xdg) / "conda" / "condarc",
        home / ".config" / "conda" / ".condarc",
        home / ".conda" / ".condarc",
        home / ".conda" / "condarc",
        home / ".condarc",
    ]
    if environ.get("CONDA_PREFIX"):
        candidates.append(Path(environ["CONDA_PREFIX"]) / ".condarc")
    if environ.get("CONDARC"):
        candidates.append(Path(environ["CONDARC"]))
    return list(_unique(candidates))


def _standalone_root(environ: Mapping[str, str], home: Path) -> Path | None:
    for var in ("CONDA_ROOT_PREFIX", "CONDA_ROOT", "MAMBA_ROOT_PREFIX"):
        if environ.get(var):
            return Path(environ[var])
    if environ.get("CONDA_EXE"):
        return Path(environ["CONDA_EXE"]).resolve().parent.parent
    for guess in ("miniforge3", "miniconda3", "anaconda3", "mambaforge"):
        if (home / guess / "conda-meta").is_dir():
            return home / guess
    return None


def from_environment(
    environ: Mapping[str, str] | None = None, home: Path | None = None
) -> Locations:
    """Locations read the way conda reads them, for use where conda is not importable."""
    environ = os.environ if environ is None else environ
    home = Path(environ.get("HOME") or os.path.expanduser("~")) if home is None else home
    root = _standalone_root(environ, home)

    settings: dict[str, list[str]] = {"pkgs_dirs": [], "envs_dirs": [], KEEP_SETTING: []}
    used: list[Path] = []
    # Later files take precedence: their list items come first, as conda merges sequences.
    for path in reversed(_condarc_candidates(environ, home, root)):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        used.append(path)
        try:
            data = _load_yaml(text)
        except Exception:  # a broken .condarc: conda would refuse it too; ignore its values
            continue
        if not isinstance(data, dict):
            continue
        if root is None and isinstance(data.get("root_prefix"), str):
            root = Path(str(data["root_prefix"]))
        plugins = data.get("plugins")
        sources = {**data, **(plugins if isinstance(plugins, dict) else {})}
        for key in settings:
            value = sources.get(key)
            if isinstance(value, list):
                settings[key] += [str(v) for v in value if v not in settings[key]]

    def env_list(*names: str) -> list[str]:
        for name in names:
            if environ.get(name):
                return [p for p in re.split(r"[,%s]" % os.pathsep, environ[name]) if p]
        return []

    root_writable = root is not None and os.access(root, os.W_OK)
    pkgs = env_list("CONDA_PKGS_DIRS") or settings["pkgs_dirs"]
    if not pkgs:
        defaults = [str(home / ".conda" / "pkgs")]
        if root is not None:
            defaults.insert(0 if root_writable else 1, str(root / "pkgs"))
        pkgs = defaults
    envs = env_list("CONDA_ENVS_PATH", "CONDA_ENVS_DIRS") or settings["envs_dirs"]
    if not envs:
        defaults = [str(home / ".conda" / "envs")]
        if root is not None:
            defaults.insert(0 if root_writable else 1, str(root / "envs"))
        envs = defaults
    keep = env_list("CONDA_PRUNE_KEEP") or settings[KEEP_SETTING]
    return Locations(
        root_prefix=root,
        pkgs_dirs=_unique(_expand(p, environ, home) for p in pkgs),
        envs_dirs=_unique(_expand(p, environ, home) for p in envs),
        environments_txt=environments_txt_files(home, every_user=_is_admin()),
        keep=tuple(keep),
        condarc_files=tuple(used),
    )


def conda_importable() -> bool:
    try:
        import conda.base.context  # noqa: F401
    except ImportError:
        return False
    return True
