"""Injected into a prune's process (on ``PYTHONPATH``) by the swap rows of the safety suite.

``CONDA_PRUNE_SWAP=ENTRY|STASH|TARGET`` : the moment the deletion walk lists the folder of a
trashed ``ENTRY`` (a name starting with ``ENTRY~``, as the trash calls it), every subfolder
listed there is moved to ``STASH`` and replaced by a symlink to the folder ``TARGET`` outside
the cache, and every file listed there is replaced by a symlink to ``TARGET/precious.txt``:
what another user with write access to the entry could do between the listing and the next
step. It fires once, and only for listings made by the deletion code."""

from __future__ import annotations

import os

_SPEC = os.environ.get("CONDA_PRUNE_SWAP")
_DELETERS = {"delete_at", "remove_tree", "rmtree", "_rmtree_safe_fd", "_rmtree_unsafe", "_rmtree_safe_fd_step"}

if _SPEC:
    _entry, _stash, _target = _SPEC.split("|")
    _original = os.scandir
    _fired: list[bool] = []

    def _where(arg: object) -> str:
        if isinstance(arg, int):
            return os.readlink(f"/proc/self/fd/{arg}")
        return os.fsdecode(arg)  # type: ignore[arg-type]

    class _Listing:
        def __init__(self, entries: list) -> None:
            self._entries = entries

        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter(self._entries)

        def __enter__(self) -> _Listing:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def close(self) -> None:
            pass

    def scandir(arg=".", *rest):  # type: ignore[no-untyped-def]
        import sys

        caller = sys._getframe(1).f_code.co_name
        with _original(arg, *rest) as it:
            entries = list(it)
        where = _where(arg)
        if not _fired and caller in _DELETERS and os.path.basename(where).startswith(_entry + "~"):
            _fired.append(True)
            os.makedirs(_stash, exist_ok=True)
            for e in entries:
                path = os.path.join(where, e.name)
                if e.is_dir(follow_symlinks=False):
                    os.rename(path, os.path.join(_stash, e.name))
                    os.symlink(_target, path)
                else:
                    os.unlink(path)
                    os.symlink(os.path.join(_target, "precious.txt"), path)
        return _Listing(entries)

    os.scandir = scandir
    os.supports_fd.add(scandir)  # as the real one: the code under test checks for it
