from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from builder import Installation  # noqa: E402

try:
    import conda.base.context  # noqa: F401

    HAVE_CONDA = True
except ImportError:
    HAVE_CONDA = False

needs_conda = pytest.mark.skipif(not HAVE_CONDA, reason="needs conda: not importable in this interpreter")

T = TypeVar("T")


def in_time(call: Callable[[], T], seconds: float = 60) -> T:
    """``call()``, run in a thread: still running after ``seconds`` (a read blocked on a FIFO)
    fails the test instead of hanging the suite. What it raises is raised here."""
    done: list[T] = []
    raised: list[BaseException] = []

    def target() -> None:
        try:
            done.append(call())
        except BaseException as exc:  # handed to the test
            raised.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"still running after {seconds:.0f} s: blocked (on a FIFO?)")
    if raised:
        raise raised[0]
    return done[0]


def plant_unreadable(path: Path, how: str, head: bytes = b"") -> None:
    """Put at ``path`` a file no reader may read whole: ``fifo``, ``device`` (a symlink to
    ``/dev/null``: were it read, the test fails; ``/dev/zero`` would exhaust memory) or ``huge``
    (``head``, then sparse up to 70 MiB: over the 64 MiB read limit, no disk used)."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    if how == "fifo":
        os.mkfifo(path)
    elif how == "device":
        path.symlink_to("/dev/null")
    elif how == "huge":
        with open(path, "wb") as fh:
            fh.write(head)
            fh.truncate(70 * 1024 * 1024)
    else:
        raise ValueError(how)


@pytest.fixture
def inst(tmp_path: Path) -> Installation:
    """An empty installation (channel, root prefix, cache, home) under a fresh temp folder."""
    return Installation(tmp_path / "inst")
