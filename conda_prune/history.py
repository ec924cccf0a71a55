"""What the user asked for in an environment: ``conda-meta/history`` and ``conda-meta/pinned``.

This is the same reading as conda's ``History.get_requested_specs_map`` (the map the solver
uses), done without conda so it also works from the standalone script; a test checks that both
agree on real histories. The per-record ``requested_spec(s)`` field is not used: it goes stale.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .specs import spec_name

_SPEC_LINE = re.compile(r"^#\s*(\w+)\s*specs:\s*(.+)?$")
_VERSION_RELATION = re.compile(r"^(=|>|<|!|~)")
_CMD_LINE = re.compile(r"^#\s*cmd:\s*(.+)")
_ACTIONS = {
    "update": "update", "install": "update", "create": "update",
    "remove": "remove", "uninstall": "remove",
    "neutered": "neutered",
}


def _blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("==>") and line.endswith("<=="):
            blocks.append([])
        elif blocks and line:
            blocks[-1].append(line)
    return blocks


@dataclass
class RequestedSpecs:
    """Requested specs by package name, and whether a history existed at all."""

    specs: dict[str, str] = field(default_factory=dict)
    pinned: dict[str, str] = field(default_factory=dict)
    has_history: bool = False

    def names(self) -> set[str]:
        return set(self.specs) | set(self.pinned)


def _parse_specs(text: str | None) -> list[str]:
    if not text:
        return []
    text = text.strip()
    if text.startswith("["):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return []
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else []
    specs: list[str] = []
    for part in text.split(","):
        if _VERSION_RELATION.match(part) and specs:
            specs[-1] = f"{specs[-1]},{part}"
        else:
            specs.append(part)
    return [s.strip() for s in specs if s.strip()]


def read_requested_specs(prefix: Path, installed: Iterable[str] | None = None) -> RequestedSpecs:
    """Requested specs of an environment, limited to installed names when those are given."""
    result = RequestedSpecs()
    history = prefix / "conda-meta" / "history"
    try:
        text = history.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    spec_map: dict[str, str] = {}
    for block in _blocks(text):
        if not any(_CMD_LINE.match(line) for line in block):
            continue  # conda ignores a block without a "# cmd:" line
        actions: dict[str, list[str]] = {}
        for line in block:
            match = _SPEC_LINE.match(line)
            if not match:
                continue
            action, raw = match.groups()
            specs = [s for s in _parse_specs(raw) if not s.endswith("@")]
            kind = _ACTIONS.get(action)
            if specs and kind:
                actions[kind] = specs
        # the order conda applies them in: removals, then updates, then neutered specs
        for spec in actions.get("remove", ()):
            spec_map.pop(spec_name(spec), None)
        for kind in ("update", "neutered"):
            for spec in actions.get(kind, ()):
                spec_map[spec_name(spec)] = spec
    result.has_history = bool(spec_map) or "specs:" in text
    try:
        pinned = (prefix / "conda-meta" / "pinned").read_text(encoding="utf-8", errors="replace")
    except OSError:
        pinned = ""
    for line in pinned.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            result.pinned[spec_name(line)] = line
    if installed is not None:
        names = set(installed)
        spec_map = {n: s for n, s in spec_map.items() if n in names}
        result.pinned = {n: s for n, s in result.pinned.items() if n in names}
    result.specs = spec_map
    return result
