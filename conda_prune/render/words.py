"""Words every view uses: sizes as people read them, and how the user runs us."""

from __future__ import annotations


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


#: how the user runs us: ``conda`` (the plugin) or ``conda-prune`` (the standalone script)
_PROGRAM = {"name": "conda"}


def set_program(name: str) -> None:
    _PROGRAM["name"] = name


def command_name(subcommand: str) -> str:
    """``conda prune`` inside conda, ``conda-prune prune`` from the standalone script."""
    return f"{_PROGRAM['name']} {subcommand}"
