"""The user's cache folder for conda-prune's own caches (the scan cache, record summaries,
native-library results): ``$CONDA_PRUNE_CACHE_DIR``, else ``$XDG_CACHE_HOME/conda-prune``,
``~/Library/Caches/conda-prune`` or ``%LOCALAPPDATA%\\conda-prune\\Cache``.

A module of its own so that the cache prune, which needs only this, loads none of the
application scanner."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def default_cache_dir() -> Path:
    env = os.environ
    if env.get("CONDA_PRUNE_CACHE_DIR"):
        return Path(env["CONDA_PRUNE_CACHE_DIR"])
    if sys.platform == "win32" and env.get("LOCALAPPDATA"):
        return Path(env["LOCALAPPDATA"]) / "conda-prune" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "conda-prune"
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "conda-prune"
