"""One piece of input that could not be used (its own module: the second process of
:mod:`.walker` reports them too, and imports nothing else)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One piece of input that could not be used: the file, and what the user should do."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"
