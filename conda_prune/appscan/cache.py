"""The per-file cache of scan results: a second run on an unchanged tree reads no source file.

One JSON file per application root, in the user's cache folder (``$CONDA_PRUNE_CACHE_DIR``, else
``$XDG_CACHE_HOME/conda-prune``, ``~/Library/Caches/conda-prune``, ``%LOCALAPPDATA%\\conda-prune``),
never inside the application. An entry is used only while the file's path, size and mtime (in
nanoseconds) are unchanged, and only by the scanner version that wrote it. A cache that cannot
be read or written is ignored: the scan is then simply a first run.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ..cachedir import default_cache_dir  # noqa: F401 - where the scanners find it
from .types import ScanProblem, Use

#: bump when what a scanner finds changes, so older entries are not reused
SCANNER_VERSION = 9


def cache_file(cache_dir: Path, root: Path) -> Path:
    digest = hashlib.sha256(os.path.realpath(root).encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return cache_dir / "appscan" / f"{digest}.json"


Entry = list[Any]  # [size, mtime_ns, kind, packed uses, packed problems, names, syntax checked (0|1)]


def load(path: Path) -> dict[str, Entry]:
    from ..safeio import read_json_cache

    data = read_json_cache(path)
    if not isinstance(data, dict) or data.get("version") != SCANNER_VERSION or not isinstance(data.get("files"), dict):
        return {}
    return data["files"]


def save(path: Path, root: Path, files: dict[str, Entry]) -> bool:
    """Write atomically (a reader never sees half a file). False when it could not be written."""
    from ..safeio import write_json_atomically

    return write_json_atomically(
        path, {"version": SCANNER_VERSION, "root": os.path.realpath(root), "files": files}, ".appscan-")


def pack(shown: str, uses: list[Use], problems: list[ScanProblem]) -> tuple[list[Any], list[Any]]:
    """Uses and problems without the file's shown path (which depends on how the root was named)."""
    cut = len(shown)
    packed_uses = [
        [u.kind, u.name, u.line, u.how, 1 if u.optional else 0, list(u.subnames), u.path[cut:]] for u in uses
    ]
    packed_problems = [[p.path[cut:], p.message, 1 if p.doubt else 0, p.line, p.parser_message] for p in problems]
    return packed_uses, packed_problems


def unpack(shown: str, packed_uses: list[Any], packed_problems: list[Any]) -> tuple[list[Use], list[ScanProblem]]:
    uses = [
        Use(kind, name, shown + suffix, line, how, bool(optional), tuple(subnames))
        for kind, name, line, how, optional, subnames, suffix in packed_uses
    ]
    problems = [
        ScanProblem(shown + suffix, message, bool(doubt), line, parser_message)
        for suffix, message, doubt, line, parser_message in packed_problems
    ]
    return uses, problems
