"""Everything that moves, restores or deletes: one module to audit. Every change to disk is
read in one place (split, a review misses one): that is why it is longer than the others.

For environments that is :func:`remove_from_environment`, conda's own transaction. For package
caches, the rest of this module:

A cache entry leaves in two steps. First one ``rename`` moves it into this user's trash
folder, ``<cache>/.conda-prune-trash/<uid>/``: conda never looks there, so from that instant
the entry is gone for conda, whole. Then it is deleted. A kill between the two leaves trash
that the next run of the same user finishes (:func:`cache_plan.judge_leftover` decides
whether it is finished or put back).

Another user who can write inside a shared cache (a group-writable cache on an HPC system)
may swap a folder for a symlink at any moment. So nothing here resolves a path inside the
cache twice:

* the cache folder is opened once, and must be the folder the scan listed (device and
  inode); the trash folders are opened relative to it with
  ``O_NOFOLLOW`` and must be real folders; ours must be owned by us and writable by nobody
  else, so nobody else can put anything into it;
* an entry is renamed relative to those descriptors, and its device and inode are compared
  before and after: an entry swapped between the check and the rename is put back, not
  deleted;
* deletion opens every folder once, with ``O_NOFOLLOW``, relative to its parent's descriptor,
  lists it through that descriptor and unlinks its children relative to it; a read-only
  folder of ours is made writable with ``fchmod`` on the open descriptor. A child swapped for
  a symlink after the listing is unlinked as a link; what it points to is never touched;
* what is read of a trash item before it is deleted (its figures, whether it is whole) is read
  through the trash folder's descriptor too.

``shutil.rmtree`` is not used: its error hooks receive paths, so making a read-only folder
writable there would resolve the path again, and its descriptor form needs Python 3.11.
Where the platform has no descriptor-relative calls (``FD_SAFE`` false, e.g. Windows), a
cache that others may write is refused with that reason, and nothing is moved or deleted in
any other cache either: each removal fails with the reason (exit 4), nothing half done.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .cache_plan import (
    DOUBT,
    KEEP,
    TARBALL,
    UNREADABLE,
    CachePlan,
    Decision,
    freed,
    judge_leftover,
    leftover_entry,
    leftover_facts,
)
from .caches import (
    TRASH_DIR,
    PackageCache,
    euid,
    lock_file_name,
    original_name,
    own_trash_folder,
    trash_name,
)
from .envs import Discovery, discover
from .locations import Locations
from .records import LINK_COPY
from .references import Progress, ReferenceIndex, no_progress, read_references, symlinks_into_caches
from .safeio import SMALL_LIMIT, open_regular, read_bytes
from .treestats import DIR_FLAGS as _DIR_FLAGS
from .treestats import TreeStats, tree_stats

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no installer there locks with flock
    fcntl = None  # type: ignore[assignment]

#: rattler's package-cache lock (pixi, rattler-build, py-rattler): held while they validate,
#: extract and link from the cache; entries also have a ``<dist>.lock`` beside them
CACHE_LOCK = ".cache.lock"

FD_SAFE = (
    {os.open, os.stat, os.unlink, os.rmdir, os.rename, os.mkdir} <= os.supports_dir_fd
    and os.scandir in os.supports_fd
    and hasattr(os, "O_NOFOLLOW")
    and hasattr(os, "O_DIRECTORY")
)
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


class TrashUnusable(OSError):
    """The trash folder cannot be used safely: nothing is moved into it."""


_O_PATH = getattr(os, "O_PATH", 0)


def _open_dir(name: str, dir_fd: int | None, make_writable: bool = True) -> int:
    """Open the folder ``name`` (relative to ``dir_fd``) without following a symlink; a folder
    of ours that we may not write or search is given those rights through the descriptor."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:
        if not (make_writable and _O_PATH and _let_us_read(name, dir_fd)):
            raise
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        me = euid()
        if make_writable and me is not None and st.st_uid == me and st.st_mode & stat.S_IRWXU != stat.S_IRWXU:
            os.fchmod(fd, stat.S_IMODE(st.st_mode) | stat.S_IRWXU)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _let_us_read(name: str, dir_fd: int | None) -> bool:
    """A folder of ours we may not even read (mode 000): it cannot be opened to ``fchmod`` it,
    so it is opened as a bare reference (Linux's ``O_PATH``, which needs no rights on it, and
    never follows a symlink here) and given the rights through that reference's own
    ``/proc/self/fd`` entry: the very folder opened, whatever its path has become since."""
    try:
        ref = os.open(name, _O_PATH | os.O_NOFOLLOW | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0),
                      dir_fd=dir_fd)
    except OSError:
        return False
    try:
        st = os.fstat(ref)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != euid():
            return False
        os.chmod(f"/proc/self/fd/{ref}", stat.S_IMODE(st.st_mode) | stat.S_IRWXU)
        return True
    except OSError:
        return False
    finally:
        os.close(ref)


def delete_at(parent_fd: int, name: str) -> None:
    """Delete ``name`` in the open folder ``parent_fd`` and everything below it, each folder
    opened once and never through a symlink (see the module docstring)."""
    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent_fd)
        return
    # one open descriptor per level of the walk: (parent fd, name, fd, folders left to enter)
    stack: list[tuple[int, str, int, list[str] | None]] = [(parent_fd, name, _open_dir(name, parent_fd), None)]
    try:
        while stack:
            pfd, dname, dfd, pending = stack[-1]
            if pending is None:
                with os.scandir(dfd) as it:
                    children = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
                folders = []
                for child, is_dir in children:
                    if is_dir:
                        folders.append(child)
                        continue
                    try:
                        os.unlink(child, dir_fd=dfd)
                    except FileNotFoundError:
                        pass
                    except OSError as exc:
                        if exc.errno not in (errno.EISDIR, errno.EPERM):
                            raise
                        folders.append(child)  # a folder swapped in after the listing
                stack[-1] = (pfd, dname, dfd, folders)
                continue
            if pending:
                child = pending.pop()
                try:
                    cfd = _open_dir(child, dfd)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    os.unlink(child, dir_fd=dfd)  # swapped for a symlink or a file: only that name goes
                    continue
                stack.append((dfd, child, cfd, None))
                continue
            stack.pop()
            os.close(dfd)
            try:
                os.rmdir(dname, dir_fd=pfd)
            except NotADirectoryError:
                os.unlink(dname, dir_fd=pfd)  # swapped for a symlink after we emptied it: the link goes
    finally:
        for _, _, dfd, _ in stack:
            os.close(dfd)


class Trash:
    """One cache's trash folder for this user, opened once; every operation is relative to it."""

    def __init__(self, cache_real: Path, identity: tuple[int, int] | None = None) -> None:
        self.cache_real = cache_real
        self.identity = identity  # the cache folder the scan listed: nothing is moved in any other
        self.uid = euid()
        self._cache_fd: int | None = None
        self._top_fd: int | None = None
        self._own_fd: int | None = None
        self._locks: dict[str, int] = {}  # lock file name -> the descriptor holding its flock
        if not FD_SAFE:
            mode = os.lstat(cache_real).st_mode
            if mode & _OTHERS_WRITE:
                raise TrashUnusable(
                    errno.EPERM, "other users may write this cache, and this platform cannot delete "
                    "without following paths again; conda-prune does not delete here", str(cache_real))

    @property
    def own_name(self) -> str:
        return str(self.uid if self.uid is not None else "user")

    @property
    def path(self) -> Path:
        return own_trash_folder(self.cache_real, self.uid)

    # -- opening -------------------------------------------------------------------------------

    def _cache(self) -> int:
        if self._cache_fd is None:
            # the resolved path, so its last part is no symlink; and the folder the scan saw
            fd = os.open(self.cache_real, _DIR_FLAGS)
            st = os.fstat(fd)
            if self.identity is not None and (st.st_dev, st.st_ino) != self.identity:
                os.close(fd)
                raise TrashUnusable(errno.ESTALE, "is not the folder the scan listed (replaced since?); nothing "
                                    "is moved or deleted in it. Rerun the prune", str(self.cache_real))
            self._cache_fd = fd
        return self._cache_fd

    def _open_or_make(self, dir_fd: int, name: str, private: bool) -> int:
        try:
            os.mkdir(name, 0o700, dir_fd=dir_fd)
            made = True
        except FileExistsError:
            made = False
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise TrashUnusable(exc.errno, "is not a folder (a symlink?); nothing is moved there",
                                    str(self.cache_real / (TRASH_DIR if not private else f"{TRASH_DIR}/{name}"))) from None
            raise
        st = os.fstat(fd)
        if made and not private:
            # like /tmp: every user who may write the cache can make a folder of their own here,
            # and nobody can rename or remove another user's
            cache_mode = os.fstat(dir_fd).st_mode
            os.fchmod(fd, (stat.S_IMODE(cache_mode) & 0o777) | stat.S_IRWXU | stat.S_ISVTX)
        if private and (st.st_uid != self.uid or st.st_mode & _OTHERS_WRITE):
            os.close(fd)
            raise TrashUnusable(
                errno.EPERM, "is not a folder of yours that only you may write; nothing is moved there. "
                "Delete that folder and rerun", str(self.path))
        return fd

    def _own(self) -> int:
        if not FD_SAFE:
            raise TrashUnusable(errno.ENOSYS, "this platform has no folder-descriptor calls, and conda-prune "
                                "deletes only through them: nothing is moved or deleted", str(self.cache_real))
        if self._own_fd is None:
            if self._top_fd is None:
                self._top_fd = self._open_or_make(self._cache(), TRASH_DIR, private=False)
            self._own_fd = self._open_or_make(self._top_fd, self.own_name, private=True)
        return self._own_fd

    # -- other installers' locks ----------------------------------------------------------------

    def lock(self, name: str) -> str | None:
        """Take the installer lock file ``name`` in the cache (rattler's ``.cache.lock`` or an
        entry's ``<dist>.lock``: ``flock``, exclusive) without waiting, and hold it until
        :meth:`release`. None when taken or when there is no such file; else why not."""
        if name in self._locks or fcntl is None:
            return None
        try:
            fd = open_regular(name, limit=1 << 20, follow=False, dir_fd=self._cache())
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"its lock file {name} cannot be used ({exc.strerror}); left in place"
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return f"in use by another installer right now ({name} is locked); left in place, rerun later"
            return f"its lock file {name} cannot be locked ({exc.strerror}); left in place"
        self._locks[name] = fd
        return None

    def held(self, name: str) -> tuple[int, int] | None:
        """(st_dev, st_ino) of the lock file ``name`` while we hold its lock; None otherwise."""
        fd = self._locks.get(name)
        if fd is None:
            return None
        st = os.fstat(fd)
        return st.st_dev, st.st_ino

    def release(self, name: str | None = None) -> None:
        """Let go of one lock (or of all)."""
        for key in [name] if name is not None else list(self._locks):
            fd = self._locks.pop(key, None) if key is not None else None
            if fd is not None:
                os.close(fd)

    # -- the three moves ---------------------------------------------------------------------

    def move_in(self, name: str, expect: tuple[int, int] | None = None) -> str:
        """Rename the cache item ``name`` into the trash; its new name. ``expect``: the device
        and inode the scan saw; anything else under that name now is left where it is."""
        own = self._own()
        cache_fd = self._cache()
        st = os.stat(name, dir_fd=cache_fd, follow_symlinks=False)
        if expect is not None and (st.st_dev, st.st_ino) != expect:
            raise OSError(errno.ESTALE, "was replaced since the scan; left alone", name)
        if stat.S_ISDIR(st.st_mode) and st.st_uid == self.uid and not st.st_mode & stat.S_IWUSR:
            fd = _open_dir(name, cache_fd)  # moving a folder rewrites its '..': it must be writable
            os.close(fd)
        target = trash_name(name)
        os.rename(name, target, src_dir_fd=cache_fd, dst_dir_fd=own)
        after = os.stat(target, dir_fd=own, follow_symlinks=False)
        if (after.st_dev, after.st_ino) != (st.st_dev, st.st_ino):
            # swapped between the check and the rename: whatever it is, it is not ours to delete
            if not self.restore(target, name):
                raise OSError(errno.ESTALE, f"was replaced during the prune; what took its place is in {self.path / target}", name)
            raise OSError(errno.ESTALE, "was replaced during the prune; left alone", name)
        return target

    def restore(self, trashed: str, name: str) -> bool:
        """Put a trash item back under ``name``; False when that slot is taken again."""
        cache_fd = self._cache()
        try:
            os.stat(name, dir_fd=cache_fd, follow_symlinks=False)
            return False
        except FileNotFoundError:
            pass
        os.rename(trashed, name, src_dir_fd=self._own(), dst_dir_fd=cache_fd)
        return True

    def delete(self, trashed: str) -> None:
        delete_at(self._own(), trashed)

    # -- reading ------------------------------------------------------------------------------

    def stats_of(self, trashed: str, into: TreeStats) -> TreeStats:
        """The figures of a trash item, walked from the trash folder opened once."""
        return tree_stats(self.path / trashed, into, dir_fd=self._own())

    def complete(self, trashed: str) -> bool:
        """A trashed entry still holds every file its ``info/paths.json`` lists (a tarball is one
        file: whole or gone). Read through descriptors; a FIFO or device there is incomplete."""
        own = self._own()
        try:
            st = os.stat(trashed, dir_fd=own, follow_symlinks=False)
        except OSError:
            return False
        if not stat.S_ISDIR(st.st_mode):
            return stat.S_ISREG(st.st_mode)
        try:
            item = os.open(trashed, _DIR_FLAGS, dir_fd=own)
        except OSError:
            return False
        try:
            info = os.open("info", _DIR_FLAGS, dir_fd=item)
            try:
                listed = [p["_path"] for p in json.loads(read_bytes("paths.json", limit=SMALL_LIMIT, follow=False,
                                                                    dir_fd=info))["paths"]]
                read_bytes("index.json", limit=SMALL_LIMIT, follow=False, dir_fd=info)
            finally:
                os.close(info)
            for rel in listed:
                os.stat(rel, dir_fd=item, follow_symlinks=False)
            return True
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return False
        finally:
            os.close(item)

    def tidy(self) -> None:
        """Remove this user's trash folder and the top one if they are empty. Nothing is
        created: a run killed between the two ``rmdir`` of :meth:`close` leaves them, and the next
        run may have nothing else to do."""
        if not FD_SAFE:
            return
        try:
            top = os.open(TRASH_DIR, _DIR_FLAGS, dir_fd=self._cache())
        except OSError:
            return
        try:
            os.rmdir(self.own_name, dir_fd=top)
        except OSError:
            pass  # absent, or not empty
        finally:
            os.close(top)
        try:
            os.rmdir(TRASH_DIR, dir_fd=self._cache())
        except OSError:
            pass  # another user's folder is in it

    def close(self) -> None:
        """Close the descriptors; our trash folder, and the top one, go when empty."""
        self.release()
        for fd, name, parent in ((self._own_fd, self.own_name, self._top_fd), (self._top_fd, TRASH_DIR, self._cache_fd)):
            if fd is None or parent is None:
                continue
            os.close(fd)
            try:
                os.rmdir(name, dir_fd=parent)
            except OSError:
                pass  # not empty (another user's folder, leftovers that stay)
        if self._cache_fd is not None:
            os.close(self._cache_fd)
        self._cache_fd = self._top_fd = self._own_fd = None

    def __enter__(self) -> Trash:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- doing it -----------------------------------------------------------------------------------


@dataclass
class PruneResult:
    removed: list[Decision] = field(default_factory=list)
    restored: list[tuple[Decision, str]] = field(default_factory=list)  # came into use meanwhile
    failed: list[tuple[Decision, str]] = field(default_factory=list)
    finished_leftovers: list[Path] = field(default_factory=list)
    restored_leftovers: list[tuple[Path, str]] = field(default_factory=list)  # wanted again: put back whole
    freed_bytes: int = 0


def _delete_trashed(trash: Trash, trashed: str) -> None:
    """Delete one item of the trash (all deletion is :func:`removal.delete_at`)."""
    trash.delete(trashed)


def _current_users(locations: Locations, search_paths: Iterable[Path], plan: CachePlan,
                   ) -> tuple[ReferenceIndex, str | None, Discovery]:
    """Who references what now, and the first doubt that arose since the plan (a conda-meta
    that cannot be read now: what that environment uses is unknown)."""
    discovery = discover(locations, search_paths)
    blockers: list[str] = []
    index = read_references(plan.caches, discovery, [], blockers, no_progress)
    new = [b for b in blockers + discovery.doubts if b not in plan.ignored_doubts]
    return index, (new[0] if new else None), discovery


def _links_grew(trash: Trash, trashed: list[str], stats: TreeStats | None) -> str | None:
    """A file of the entry gained a hardlink since the scan: something linked it meanwhile.

    The scan kept the files that had more than one link; a file with more than one link now
    that it did not keep had one link then (or was not there: something wrote into the entry
    meanwhile), so it counts as gained too."""
    if stats is None:
        return None
    now = TreeStats()
    for t in trashed:
        trash.stats_of(t, into=now)
    before = {key: nlink for key, (_, nlink, _, _) in stats.inodes.items()}
    for key, (_, nlink, _, where) in now.inodes.items():  # files with more than one link now
        if nlink > before.get(key, 1):
            return f"{where} gained a hardlink during the prune"
    return None


def execute_plan(
    plan: CachePlan,
    locations: Locations,
    search_paths: Iterable[Path] = (),
    progress: Progress = no_progress,
) -> PruneResult:
    """Remove what the plan says, crash-safely, and re-check for environments that started
    using an entry while the prune ran (there is no global lock on package caches). Every
    move and deletion goes through :class:`Trash`."""
    result = PruneResult()
    caches = {str(c.path): c for c in plan.caches}
    search_paths = list(search_paths)
    trashes: dict[str, Trash] = {}

    def trash_of(cache: PackageCache) -> Trash:
        trash = trashes.get(str(cache.real))
        if trash is None:
            trash = trashes[str(cache.real)] = Trash(cache.real, cache.identity)
        return trash

    try:
        _execute(plan, locations, search_paths, progress, result, caches, trash_of)
        tidy_trash(plan, trash_of)
    finally:
        for trash in trashes.values():
            trash.close()
    return result


def tidy_trash(plan: CachePlan, trash_of: Callable[[PackageCache], Trash] | None = None) -> None:
    """Remove the empty trash folders the scan found (an earlier run killed while tidying up).
    A real run does this even when there is nothing else to do; a dry run never does."""
    own: list[Trash] = []
    for cache in plan.caches:
        if not cache.empty_trash or cache.read_only:
            continue
        try:
            if trash_of is not None:
                trash_of(cache).tidy()
            else:
                trash = Trash(cache.real, cache.identity)
                own.append(trash)
                trash.tidy()
        except OSError:
            continue
    for trash in own:
        trash.close()


def entry_lock(d: Decision) -> str:
    return lock_file_name(d.entry.dist)


def _failure(exc: OSError, what: str) -> str:
    return f"{exc.strerror or exc}: {exc.filename or what}"


def _execute(plan: CachePlan, locations: Locations, search_paths: list[Path], progress: Progress,
             result: PruneResult, caches: dict[str, PackageCache],
             trash_of: Callable[[PackageCache], Trash]) -> None:
    # 1. move every entry out of conda's sight, one rename per folder or tarball
    moved: list[tuple[Decision, Trash, list[tuple[str, str]]]] = []
    removals = plan.removals
    for n, d in enumerate(removals):
        progress("removing", n, len(removals))
        cache = caches[str(d.entry.cache)]
        done: list[tuple[str, str]] = []
        try:
            trash = trash_of(cache)
            # another installer (pixi, rattler-build) using this cache, or this entry, right now
            busy = trash.lock(CACHE_LOCK) or trash.lock(entry_lock(d))
            if busy:
                result.restored.append((d, busy))
                continue
            for path in sorted(d.paths, key=lambda p: p == d.entry.folder):  # tarballs first
                done.append((path.name, trash.move_in(path.name, d.entry.identity.get(path.name))))
        except OSError as exc:
            for original, trashed in reversed(done):
                trash.restore(trashed, original)
            result.failed.append((d, _failure(exc, d.entry.dist)))
            continue
        moved.append((d, trash, done))

    # 2. did anything start using them meanwhile? a new record, or a new hardlink
    if moved:
        index, doubt, _ = _current_users(locations, search_paths, plan)
        for d, trash, done in list(moved):
            if d.code == TARBALL and not doubt:
                continue  # the extracted folder stays: environments never link from a tarball
            cache = caches[str(d.entry.cache)]
            fresh = [u for u in index.users(cache, d.entry) if u.link_type != LINK_COPY]
            grew = None if doubt else _links_grew(trash, [t for _, t in done], d.stats)
            if doubt or fresh or grew:
                for original, trashed in reversed(done):
                    if trash.restore(trashed, original):
                        continue
                    try:  # extracted again meanwhile: environments link from that copy, not this one
                        _delete_trashed(trash, trashed)
                    except OSError:
                        pass  # the next run finishes it
                why = (f"a doubt arose during the prune, so nothing goes: {doubt}" if doubt else grew
                       or f"an environment started using it during the prune ({fresh[0].prefix})")
                result.restored.append((d, why))
                moved.remove((d, trash, done))
        for d, trash, done in moved:
            # the entry's lock file goes with its folder (a tarball alone leaves the folder, and its lock)
            # only the lock file we hold: one made since belongs to an installer that just started
            held = trash.held(entry_lock(d)) if d.code != TARBALL and d.entry.folder is not None else None
            if held is not None:
                try:
                    done.append((entry_lock(d), trash.move_in(entry_lock(d), held)))
                except OSError:
                    pass  # one we cannot move: it stays, and rattler re-creates it anyway
    for trash in {id(t): t for _, t, _ in moved}.values():
        trash.release()  # deleting needs no lock: nothing links from the trash

    # 3. delete; a kill from here on leaves only trash that the next run finishes
    for d, trash, done in moved:
        try:
            for _, trashed in done:
                _delete_trashed(trash, trashed)
        except OSError as exc:
            result.failed.append((d, f"{exc.strerror or exc}: {exc.filename or ''}; the rest is in {trash.path} "
                                     "and the next run finishes it"))
            continue
        result.removed.append(d)
        result.freed_bytes += d.freed_bytes
    progress("removing", len(removals), len(removals))

    # 4. trash an interrupted run of ours left behind: finish it, unless it turned out to be in
    # use or on the keep-list (then it goes back, whole)
    leftovers = [(cache, item) for cache, item, _ in plan.leftovers] + [(c, i) for c, i, _ in plan.leftovers_kept]
    if leftovers:
        index, doubt, discovery = _current_users(locations, search_paths, plan)
        symlinks = symlinks_into_caches(discovery, plan.caches, locations, no_progress)
        for cache, item in leftovers:
            original = original_name(item.name) or item.name
            entry = leftover_entry(cache, item)
            try:
                trash = trash_of(cache)
                stats = trash.stats_of(item.name, TreeStats())  # now, and through the trash's descriptor
                verdict = judge_leftover(leftover_facts(cache, item, entry, index, symlinks, stats, locations.keep,
                                                        tarballs=plan.tarballs, doubt=doubt))
                if verdict.action == KEEP:
                    # wanted again: put it back, but only whole (a kill mid-deletion leaves part of
                    # it, and conda would link from an incomplete entry); a refilled slot needs no copy
                    if trash.complete(item.name) and trash.restore(item.name, original):
                        result.restored_leftovers.append((item, verdict.reason))
                        continue
                    if verdict.code in (UNREADABLE, DOUBT):
                        fix = f"make it readable (chmod -R u+rwX {item}) and rerun" if verdict.code == UNREADABLE \
                            else "a later run finishes it or puts it back"
                        result.failed.append((verdict, f"left by an interrupted prune, and {verdict.reason}; it "
                                                       f"stays in {item.parent}: {fix}"))
                        continue
                    if not os.path.lexists(cache.real / original):
                        why = verdict.reason
                        result.failed.append((
                            verdict,
                            f"an interrupted prune deleted part of it and {why}; the rest stays in "
                            f"{item.parent}. Reinstall {entry.name} there (conda install --force-reinstall "
                            f"{entry.name}), then rerun",
                        ))
                        continue
                _delete_trashed(trash, item.name)
            except OSError:
                continue
            result.finished_leftovers.append(item)
            result.freed_bytes += freed(stats)


# -- environments ---------------------------------------------------------------------------------


def remove_from_environment(prefix: Path, names: list[str], *, reset_conda_context: bool = False) -> None:
    """Unlink the packages ``names`` from ``prefix`` offline with conda's transaction, recording
    ``remove_specs`` in the history as ``conda remove`` would (without a solver: nothing else is
    touched). ``reset_conda_context``: outside conda's CLI (the standalone script), read conda's
    configuration first."""
    from conda.base.context import context, reset_context

    from .exceptions import RefusedForSafety

    if reset_conda_context:
        reset_context()  # conda's own reading of .condarc and CONDA_* variables
    from conda.core.link import PrefixSetup, UnlinkLinkTransaction
    from conda.core.prefix_data import PrefixData
    from conda.models.match_spec import MatchSpec

    data = PrefixData(str(prefix), interoperability=False)
    data.reload()
    data.assert_not_frozen()
    records = []
    for name in names:
        record = data.get(name, None)
        if record is None:
            raise RefusedForSafety(f"{name} is no longer installed in {prefix} (changed meanwhile?); nothing was removed")
        records.append(record)
    setup = PrefixSetup(
        target_prefix=str(prefix),
        unlink_precs=tuple(records),
        link_precs=(),
        remove_specs=tuple(MatchSpec(name) for name in names),
        update_specs=(),
        neutered_specs=(),
    )
    if context.dry_run:  # pragma: no cover - the caller never gets here in a dry run
        raise RefusedForSafety("dry run: nothing was removed")
    UnlinkLinkTransaction(setup).execute()
