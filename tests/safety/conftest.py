from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import ROOT, User, as_user, create_user, delete_user, open_parents, rmtree


@pytest.fixture(scope="session")
def unprivileged() -> Iterator[User]:
    """A user without privileges, created for this run and deleted after it."""
    user = create_user()
    if user is None:
        pytest.skip("needs root, useradd and setpriv to run the prune as an unprivileged user")
    try:
        # the prune must run without any capability: root's would pass every permission check
        probe = subprocess.run(
            [*as_user(user), sys.executable, "-c", "print(open('/proc/self/status').read())"],
            capture_output=True, text=True, check=True,
        )
        assert "CapEff:\t0000000000000000" in probe.stdout, probe.stdout
        yield user
    finally:
        delete_user(user)


@pytest.fixture(params=["root", "user"])
def who(request: pytest.FixtureRequest) -> User:
    """Run the case as root and as an unprivileged user (root passes every permission check)."""
    if request.param == "root":
        if os.geteuid() != 0:
            return User("me", os.geteuid(), os.getegid())
        return ROOT
    return request.getfixturevalue("unprivileged")


def _base() -> Path:
    """Where test installations live: ``CONDA_PRUNE_SAFETY_TMP``, else a tmpfs when there is one.

    The suite kills processes, it does not cut power: what a kill leaves is the same on any
    filesystem, and creating thousands of files per trial is many times faster in memory."""
    chosen = os.environ.get("CONDA_PRUNE_SAFETY_TMP")
    if chosen:
        return Path(chosen)
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return Path(tempfile.gettempdir())


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A folder every user can traverse (pytest's own temp folders are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="conda-prune-safety-", dir=_base()))
    os.chmod(path, 0o755)
    open_parents(path)
    try:
        yield path
    finally:
        rmtree(path)
