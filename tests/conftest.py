from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from builder import Installation  # noqa: E402

try:
    import conda.base.context  # noqa: F401

    HAVE_CONDA = True
except ImportError:
    HAVE_CONDA = False

needs_conda = pytest.mark.skipif(not HAVE_CONDA, reason="needs conda: not importable in this interpreter")


@pytest.fixture
def inst(tmp_path: Path) -> Installation:
    """An empty installation (channel, root prefix, cache, home) under a fresh temp folder."""
    return Installation(tmp_path / "inst")
