"""Reading a file that someone else may control: never a hang, never unbounded.

Every file conda-prune reads from a package cache, an environment, an application or a
configuration goes through :func:`read_bytes`. Another user can put a FIFO where a record
should be (``open`` would block forever), point a symlink at ``/dev/zero`` (``read`` never
ends) or swap a file between a check and the open. So:

* the type is checked before the open (``lstat``, or ``stat`` where a symlink to a regular
  file is legitimate, as for a ``.condarc`` kept in a dotfiles folder), so a device is never
  opened because of its name;
* the open is ``O_NONBLOCK`` (a FIFO swapped in after the check cannot block it) and, where a
  symlink is not legitimate, ``O_NOFOLLOW``;
* ``fstat`` of what was opened must again be a regular file;
* at most ``limit`` bytes are read; a larger file is refused, not truncated.

Each refusal is an :class:`OSError` with a ``strerror`` that says what the file is, so the
callers' existing ``cannot be read ({exc.strerror})`` messages name the problem.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MiB = 1 << 20
# conda-meta records of very large packages list every file: tens of MB at the most
RECORD_LIMIT = 256 * MiB
TEXT_LIMIT = 64 * MiB  # history, environments.txt, condarc, METADATA, RECORD, source files
SMALL_LIMIT = 16 * MiB  # info/index.json, info/paths.json of one cache entry

_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)


class UnsafeFile(OSError):
    """A file that is not read: not a regular file, or larger than the caller's limit."""


def kind_of(mode: int) -> str:
    """What a non-regular file is, for messages: "a FIFO", "a character device"..."""
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symlink"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _check(st: os.stat_result, path: object, limit: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFile(errno.EINVAL, f"is {kind_of(st.st_mode)}, not a regular file", str(path))
    if st.st_size > limit:
        raise UnsafeFile(errno.EFBIG, f"is {st.st_size:,} bytes, over the {limit // MiB} MiB read limit", str(path))


def open_regular(path: str | os.PathLike[str], *, limit: int = TEXT_LIMIT, follow: bool = True,
                 dir_fd: int | None = None) -> int:
    """An open descriptor of a regular file of at most ``limit`` bytes, checked as the module
    says. ``follow=False``: a symlink is refused too. ``dir_fd``: ``path`` is relative to it."""
    st = os.stat(path, dir_fd=dir_fd, follow_symlinks=follow)
    _check(st, path, limit)
    flags = os.O_RDONLY | _NONBLOCK | _CLOEXEC | _BINARY | (0 if follow else _NOFOLLOW)
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise UnsafeFile(errno.ELOOP, "is a symlink, not a regular file", str(path)) from None
        raise
    try:
        now = os.fstat(fd)
        _check(now, path, limit)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise UnsafeFile(errno.EAGAIN, "changed while it was being opened", str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_fd(fd: int, limit: int, path: object = "") -> bytes:
    """At most ``limit`` bytes from ``fd``; more is refused (the file grew after the check)."""
    chunks: list[bytes] = []
    left = limit + 1
    while left > 0:
        chunk = os.read(fd, min(left, MiB))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    data = b"".join(chunks)
    if len(data) > limit:
        raise UnsafeFile(errno.EFBIG, f"is over the {limit // MiB} MiB read limit", str(path))
    return data


def read_bytes(path: str | os.PathLike[str], *, limit: int = TEXT_LIMIT, follow: bool = True,
               dir_fd: int | None = None) -> bytes:
    """The content of a regular file (see :func:`open_regular`)."""
    fd = open_regular(path, limit=limit, follow=follow, dir_fd=dir_fd)
    try:
        return read_fd(fd, limit, path)
    finally:
        os.close(fd)


def read_json_cache(path: str | os.PathLike[str], *, limit: int = RECORD_LIMIT) -> object | None:
    """The JSON document of one of conda-prune's own cache files, or None when there is none to
    use: missing, not a regular file (a FIFO, a symlink: the cache is written by rename, never
    as a link), over ``limit``, not JSON, or nested too deeply for the parser. A cache that
    cannot be used is only a slower run."""
    import json

    try:
        return json.loads(read_bytes(path, limit=limit, follow=False))
    except (OSError, ValueError, RecursionError):
        return None


_DIR_NOFOLLOW = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC


def open_dir_nofollow(path: str | os.PathLike[str]) -> int:
    """Open the folder ``path`` (absolute, with no symlink in it) one component at a time, each
    with ``O_NOFOLLOW`` relative to the last: a component swapped for a symlink since the path
    was resolved makes this fail (ELOOP/ENOTDIR) instead of reading somewhere else."""
    parts = Path(os.path.abspath(path)).parts
    fd = os.open(parts[0], os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
    try:
        for part in parts[1:]:
            nxt = os.open(part, _DIR_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_text_atomically(path: Path, text: str, prefix: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it and a rename, so a reader
    never sees half a file. Raises OSError (the temporary file is removed)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json_atomically(path: Path, document: object, prefix: str) -> bool:
    """Write ``document`` as JSON to ``path`` (:func:`write_text_atomically`); the folder is made
    private (0700) when it is made. False when it could not be written (a cache that is not
    kept is only a slower next run)."""
    import json

    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # dumps, not dump: only the one-shot encoder is the fast C one
        write_text_atomically(path, json.dumps(document, separators=(",", ":"), check_circular=False), prefix)
    except OSError:
        return False
    return True
