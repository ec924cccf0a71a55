"""One piece of input that could not be used (its own module: the second process of
:mod:`.walker` reports them too, and imports nothing else).

Written out rather than as a dataclass: importing ``dataclasses`` pulls in ``inspect`` and its
tokenizer, half of the second process's start-up (15 ms of 30)."""

from __future__ import annotations

from pathlib import Path


class Problem:
    """One piece of input that could not be used: the file, and what the user should do.
    Immutable and compared by value."""

    __slots__ = ("message", "path")
    path: Path
    message: str

    def __init__(self, path: Path, message: str) -> None:
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "message", message)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Problem is immutable: cannot set {name}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.path, self.message) == (other.path, other.message)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.path, self.message))

    def __repr__(self) -> str:
        return f"Problem(path={self.path!r}, message={self.message!r})"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"
