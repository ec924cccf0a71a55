"""Generated installations for the safety suite, built offline with the real-package builder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from builder import Installation


def many_files(name: str, n: int) -> dict[str, bytes]:
    """``n`` small files spread over a few folders: deletion takes long enough to be interrupted."""
    return {f"share/{name}/d{j % 8}/f{j}.txt": f"{name} file {j}\n".encode() for j in range(n)}


def crash_installation(root: Path, *, unused: int, files: int, tarball_only: int = 3) -> Installation:
    """Environments linked every way, plus many unused entries of many small files.

    In use, and kept: ``hard`` (hardlinks, with a metadata-only package), ``soft`` (symlinks
    into the cache), and an unregistered project environment nobody scans (kept by its
    hardlinks). Removed: entries nothing installed, the entry of a deleted environment, the
    entry of an environment installed by copy, and tarballs whose folder is gone."""
    inst = Installation(root)
    inst.package("libh", files=many_files("libh", files))
    inst.package("app-hard", depends=["libh", "mutex"], files=many_files("app-hard", files))
    inst.package("mutex", metadata_only=True)
    inst.package("app-soft", files=many_files("app-soft", files))
    inst.package("app-copy", files=many_files("app-copy", files))
    inst.package("proj", files=many_files("proj", files))
    inst.package("gone", files=many_files("gone", files))
    junk = [inst.package(f"junk{i:02d}", files=many_files(f"junk{i:02d}", files)) for i in range(unused)]
    inst.create_env("hard", ["app-hard"])
    inst.create_env("soft", ["app-soft"], link="symlink")
    inst.create_env("copied", ["app-copy"], link="copy")
    inst.create_env(root / "project" / ".env", ["proj"], register=False)
    inst.create_env("old", ["gone"])
    inst.remove_env("old")
    for pkg in junk[tarball_only:]:
        inst.extract_to_cache(pkg)
    inst.add_conda_cache_files()
    for pkg in junk[:tarball_only]:  # downloaded, never extracted
        inst.download_to_cache(pkg)
    for pkg in junk[tarball_only : tarball_only + 3]:  # extracted read-only, as some packages ship
        for dirpath, _, _ in os.walk(inst.pkgs / pkg.dist, topdown=False):
            os.chmod(dirpath, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return inst


def small_installation(root: Path) -> Installation:
    """A few environments and entries: the base every hostile-input case starts from.

    ``used`` (hardlinked into ``e``), ``linked`` (symlinked into ``s``), ``spare`` (in the cache,
    used by nothing)."""
    inst = Installation(root)
    inst.package("used", files={"lib/used.so": b"u" * 5000, "share/used/a.txt": b"a\n"})
    inst.package("linked", files={"share/linked/data.txt": b"linked data\n", "bin/linked-tool": b"#!/bin/sh\n"})
    inst.package("spare", files={"share/spare/s.txt": b"spare\n"})
    inst.create_env("e", ["used"])
    inst.create_env("s", ["linked"], link="symlink")
    inst.extract_to_cache(inst.packages["spare-1.0-0"])
    inst.add_conda_cache_files()
    return inst
