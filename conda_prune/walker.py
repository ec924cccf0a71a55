"""The two slow reads of a cache prune that need nothing of each other, run side by side.

A plan reads every environment's records and walks every environment's folders for symlinks
into the caches; then it measures (``lstat``-s every file of) the entries that go. Each is bound
by system calls, and a thread does not help: the lock Python holds between two calls is handed
back and forth at each one, which made a walk in a thread slower than the same walk alone.

So :class:`Helper` starts a second Python process (this interpreter, ``-I -S``: neither the
current folder nor ``PYTHONPATH`` nor site-packages is on its path, only the standard library
and, after it, the folder holding conda_prune) as soon as the plan starts. Its first line says
how it encodes file names; one that encodes them otherwise than this process (``-I`` drops
``PYTHONUTF8``: it gets this process's ``-X utf8`` instead, and a Windows legacy encoding is
caught here) or says nothing within :data:`HELLO_SECONDS` is not used. It walks for symlinks while this one
reads the records; later it measures half of the entries that go while this one measures the
other half. Messages are one JSON document a line, each way. The second process reads and writes
nothing but the folder summaries (:class:`~.summaries.FolderSummaries`, a file of its own).

Where no second process can start (a sandbox, no interpreter path), or it dies or answers
something that is not a whole answer, the same work is done in this process: the walk and the
measuring are never skipped, only moved.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

# not ``from typing import TYPE_CHECKING``: the second process imports this module, and typing
# costs it 6 ms of start-up; type checkers read this name alike
TYPE_CHECKING = False

if TYPE_CHECKING:
    import subprocess
    from typing import Any

    from .summaries import FolderSummaries
    from .treestats import TreeStats

#: (a spelling of a cache + the separator, the cache's real path)
Root = tuple[str, str]
#: (cache real path, entry name) -> a symlink pointing into that entry
Found = dict[tuple[str, str], str]

#: fewer entries to measure than this: not worth a message each way
MIN_SHARED = 64
#: entries the second process is handed at a time, at most; fewer as the queue runs out (a
#: third of what is left, at least MIN_CHUNK), so that neither waits long for the other's last
CHUNK = 32
MIN_CHUNK = 4
#: how long the second process may take to say it runs (a loaded machine, an interpreter read
#: from a network filesystem)
HELLO_SECONDS = 30.0


def listing(folder: str, summaries: FolderSummaries | None, env: str, rel: str,
            ) -> tuple[list[str], list[list[str]]] | None:
    """A folder's subfolders and [name, target] of its symlinks; None when it cannot be read.
    With ``summaries``, an unchanged folder is not listed again (``env``, ``rel``: the
    environment walked and the folder relative to it, how the summaries know it)."""
    st = None
    if summaries is not None:
        try:
            st = os.lstat(folder)
        except (OSError, ValueError):  # ValueError: a name this encoding cannot write (not a folder here)
            return None
        kept = summaries.get_dir(env, rel, st)
        if kept is not None:
            return kept
    subdirs: list[str] = []
    links: list[list[str]] = []
    try:
        with os.scandir(folder) as it:
            for child in it:
                try:
                    if child.is_file(follow_symlinks=False):  # most of them: one test, then the next
                        continue
                    if child.is_dir(follow_symlinks=False):
                        subdirs.append(child.name)
                    elif child.is_symlink():
                        links.append([child.name, os.readlink(child.path)])
                except OSError:
                    continue
    except (OSError, ValueError):
        return None
    if summaries is not None and st is not None:
        summaries.put_dir(env, rel, st, subdirs, links)
    return subdirs, links


def walk(envs: Sequence[str], roots: Sequence[Root], skip: Iterable[str],
         summaries: FolderSummaries | None = None, progress: Any = None) -> Found:
    """Walk each environment folder (not into ``skip``: other environments and the caches,
    scanned on their own) for symlinks whose target lies in a cache. Reads directory listings
    only (``d_type`` tells symlinks apart), and ``readlink`` for symlinks, so it costs far less
    than a stat of every file. ``progress``: called with (environments done, all)."""
    skip = set(skip)
    found: Found = {}
    sep = os.sep
    for n, top in enumerate(envs):
        if progress is not None:
            progress(n, len(envs))
        stack = [(top, "")]
        while stack:
            current, rel = stack.pop()
            listed = listing(current, summaries, top, rel)
            if listed is None:
                continue
            subdirs, links = listed
            for name, target in links:
                if target[:1] == sep and f"{sep}." not in target and sep * 2 not in target:
                    resolved = target  # absolute and already normal (conda writes its softlinks so)
                else:
                    resolved = os.path.normpath(os.path.join(current, target))
                for root, cache_real in roots:
                    if resolved.startswith(root):
                        entry = resolved[len(root):].split(sep, 1)[0]
                        found.setdefault((cache_real, entry), os.path.join(current, name))
                        break
            for name in subdirs:
                path = f"{current}{sep}{name}"  # a name from a listing: no separator, never absolute
                if path in skip or name == "conda-meta":
                    continue
                stack.append((path, f"{rel}/{name}" if rel else name))
    if progress is not None:
        progress(len(envs), len(envs))
    return found


def walk_job(envs: Sequence[str], roots: Sequence[Root], skip: Iterable[str], folders: str | None) -> dict:
    """A walk for the second process (``folders``: the folder summaries' file, or None), with
    this process's margin for changes too recent to trust."""
    from . import summaries

    return {"envs": list(envs), "roots": [list(r) for r in roots], "skip": sorted(skip), "folders": folders,
            "granularity_ns": summaries.GRANULARITY_NS}


def run_walk(job: dict) -> tuple[Found, FolderSummaries | None]:
    """A walk job; the folder summaries it read and updated (the caller saves them)."""
    from .summaries import FolderSummaries

    margin = job.get("granularity_ns")
    summaries = (FolderSummaries(Path(job["folders"]), margin if type(margin) is int else None)
                 if job.get("folders") else None)
    return walk(job["envs"], [(a, b) for a, b in job["roots"]], job["skip"], summaries), summaries


def measure(jobs: Iterable[Sequence[str]]) -> list[TreeStats]:
    """The stats of each job: the paths of one entry (its folder, tarballs, lock) as one tree."""
    from .treestats import merge_stats

    return [merge_stats(Path(p) for p in paths) for paths in jobs]


def measure_until_answered(helper: Helper, jobs: Sequence[tuple[int, list[Path]]],
                           progress: Callable[[str, int, int], None]) -> dict[int, tuple[list[Path], TreeStats]]:
    """Measure jobs here until the answer to the job the second process has is there: what
    would go if no symlink pointed into it, while the walk runs. Each with the paths measured,
    so the caller uses only those it then judges alike."""
    from .treestats import merge_stats

    out: dict[int, tuple[list[Path], TreeStats]] = {}
    for n, (i, paths) in enumerate(jobs):
        if helper.ready():
            break
        progress("measuring unused entries", n, len(jobs))
        out[i] = (paths, merge_stats(paths))
    return out


def measure_shared(jobs: Mapping[int, list[Path]], helper: Helper | None,
                   progress: Callable[[str, int, int], None],
                   side_work: Sequence[Callable[[], None]] = ()) -> dict[int, TreeStats]:
    """The stats of each job (the paths of one entry). The second process takes them a chunk at a
    time from the front of the queue while this one takes them one at a time from the back, and
    does ``side_work`` (small tasks of the caller's) in between: neither waits while work is left.
    All here if the second process is not there or fails."""
    from collections import deque

    from .treestats import merge_stats

    queue = deque(jobs)
    todo = deque(side_work)
    out: dict[int, TreeStats] = {}
    shared = helper is not None and helper.alive and len(queue) >= MIN_SHARED

    def hand_over() -> list[int] | None:
        size = min(len(queue), CHUNK, max(MIN_CHUNK, len(queue) // 3))
        chunk = [queue.popleft() for _ in range(size)]
        if chunk and helper.send("measure", [[str(p) for p in jobs[i]] for i in chunk]):  # type: ignore[union-attr]
            return chunk
        queue.extendleft(reversed(chunk))
        return None

    def collect(chunk: list[int]) -> bool:
        answer = helper.answer()  # type: ignore[union-attr]
        try:
            if type(answer) is not list or len(answer) != len(chunk):
                raise ValueError("not one answer an entry")
            out.update((i, stats_from_json(doc)) for i, doc in zip(chunk, answer, strict=True))
        except ValueError:  # it died or answered something else: measure them here
            queue.extend(chunk)
            return False
        return True

    theirs = hand_over() if shared else None
    while queue or todo:
        if theirs is not None and helper.ready():  # type: ignore[union-attr]
            theirs = hand_over() if collect(theirs) and queue else None
            continue
        if todo:
            todo.popleft()()
        if queue:
            i = queue.pop()
            out[i] = merge_stats(jobs[i])
            progress("measuring unused entries", len(out), len(jobs))
    if theirs is not None and not collect(theirs):
        for i in queue:
            out[i] = merge_stats(jobs[i])
    progress("measuring unused entries", len(jobs), len(jobs))
    return {i: out[i] for i in jobs}


# -- what crosses the pipe ----------------------------------------------------------------------------


def stats_to_json(s: TreeStats) -> list:
    """The stats of a walk (:func:`~.treestats.tree_stats`, which keeps no key of a file with one
    link) as one JSON list."""
    return [s.dirs_bytes, s.apparent_bytes, s.files, s.single_bytes,
            [[dev, ino, *v] for (dev, ino), v in s.inodes.items()],
            [[str(e.path), e.message] for e in s.errors], s.symlinks, s.missing]


def stats_from_json(doc: Any) -> TreeStats:
    """The inverse of :func:`stats_to_json`; a ValueError for anything that is not one whole."""
    from .problem import Problem
    from .treestats import TreeStats

    try:
        dirs_bytes, apparent, files, single_bytes, inodes, errors, symlinks, missing = doc
        ints = (dirs_bytes, apparent, files, single_bytes, symlinks, missing)
        if not all(type(v) is int for v in ints):
            raise ValueError
        out = TreeStats(dirs_bytes=dirs_bytes, apparent_bytes=apparent, files=files, single_bytes=single_bytes,
                        symlinks=symlinks, missing=missing)
        for dev, ino, seen, nlink, blocks, where in inodes:
            if not (type(dev) is int and type(ino) is int and type(seen) is int and type(nlink) is int
                    and type(blocks) is int and type(where) is str):
                raise ValueError
            out.inodes[(dev, ino)] = [seen, nlink, blocks, where]
        for where, message in errors:
            if type(where) is not str or type(message) is not str:
                raise ValueError
            out.errors.append(Problem(Path(where), message))
    except (TypeError, ValueError) as exc:
        raise ValueError("not the stats of an entry") from exc
    return out


def found_to_json(envs: Sequence[str], found: Found) -> dict:
    return {"walked": list(envs), "found": [[real, entry, where] for (real, entry), where in found.items()]}


def found_from_json(doc: Any, envs: Sequence[str]) -> Found:
    """The inverse of :func:`found_to_json`: a ValueError unless it is the answer to a walk of
    exactly ``envs``."""
    if type(doc) is not dict or doc.get("walked") != list(envs) or type(doc.get("found")) is not list:
        raise ValueError("not the answer to this walk")
    out: Found = {}
    for item in doc["found"]:
        if type(item) is not list or len(item) != 3 or not all(type(v) is str for v in item):
            raise ValueError("not a symlink into a cache")
        out.setdefault((item[0], item[1]), item[2])
    return out


# -- the second process -------------------------------------------------------------------------


class Helper:
    """A second process that takes a walk job, then measuring jobs, one at a time.

    Every method returns None (or False) when the second process is not there or failed; the
    caller then does the work itself. :meth:`close` ends it (also at exit, if never called)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._waiting = False
        self._greeted = False
        self._received = bytearray()  # what it said that is not read as a line yet

    def start(self) -> Helper:
        import subprocess

        from .second_python import python_command

        command = python_command("walker")
        if command is None:
            return self
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, close_fds=True,
            )
        except (OSError, ValueError):  # no second process here: the caller works alone
            self._process = None
            return self
        atexit.register(self.close)
        return self

    @property
    def alive(self) -> bool:
        return self._process is not None

    def _readable(self, timeout: float) -> bool | None:
        """Whether it has said a whole line (or ended) within ``timeout`` seconds; None where a
        pipe cannot be polled."""
        assert self._process is not None and self._process.stdout is not None
        if b"\n" in self._received:
            return True
        try:
            import select

            readable, _, _ = select.select([self._process.stdout], [], [], timeout)
        except (OSError, ValueError, TypeError):
            return None
        return bool(readable)

    def _document(self, timeout: float | None = None) -> Any:
        """Its next line as JSON; None for anything but a whole document, or for silence over
        ``timeout`` seconds (where a pipe can be polled; elsewhere this waits).

        The pipe is read here, into a buffer of this object, never through the file object's
        own: what that one read ahead (the answer arriving with the hello) would be invisible to
        ``select``, and an answer already there would look like one still to come."""
        assert self._process is not None and self._process.stdout is not None
        fd = self._process.stdout.fileno()
        while b"\n" not in self._received:
            if timeout is not None and self._readable(timeout) is False:
                return None
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                return None
            if not chunk:  # it ended, before a whole line or with none
                return None
            self._received += chunk
        line, _, rest = self._received.partition(b"\n")
        self._received = rest
        try:
            return json.loads(line)
        except (ValueError, RecursionError):
            return None

    def _hello(self) -> bool:
        """Whether it runs and encodes file names as this process does (read once, before the
        first answer: a job is handed over without waiting for it, and the process reads it
        once it runs)."""
        from .summaries import names_encoding

        if self._greeted:
            return True
        if self._document(HELLO_SECONDS) != {"hello": names_encoding()}:
            self._waiting = True  # whatever it is doing, no one will read it: close() kills it
            self.close()
            return False
        self._greeted = True
        return True

    def send(self, kind: str, job: Any) -> bool:
        """Hand over one job; False if it could not be (the caller does it)."""
        if self._process is None or self._waiting:
            return False
        try:
            assert self._process.stdin is not None
            self._process.stdin.write(_message({kind: job}))
            self._process.stdin.flush()
        except (OSError, ValueError):
            self.close()
            return False
        self._waiting = True
        return True

    def ready(self) -> bool:
        """Whether the answer to the job sent last can be read without waiting (or never will be:
        the process ended). False where a pipe cannot be polled: the caller then simply waits."""
        if self._process is None or not self._waiting:
            return True
        if not self._greeted:
            if self._readable(0) is not True:
                return False
            if not self._hello():  # it said something else: no answer will come
                return True
        return self._readable(0) is True

    def answer(self) -> Any:
        """The answer to the job sent last, or None (it died, or said something else)."""
        if self._process is None or not self._waiting or not self._hello():
            return None
        doc = self._document()
        self._waiting = False  # only now: interrupted while it reads, close() still kills the process
        if not isinstance(doc, dict) or "ok" not in doc:
            self.close()
            return None
        return doc["ok"]

    def close(self) -> None:
        process, self._process = self._process, None
        atexit.unregister(self.close)
        if process is None:
            return
        try:
            if self._waiting:  # a job no one will read the answer to (this process failed): stop it
                raise TimeoutError
            assert process.stdin is not None
            process.stdin.close()  # its end of the conversation: it saves its summaries and exits
            process.wait(timeout=30)
        except Exception:  # noqa: BLE001 - whatever stops it, it must not outlive this process
            process.kill()
            process.wait()
        self._waiting = False
        if process.stdout is not None:
            process.stdout.close()


def _message(doc: object) -> bytes:
    """One message on the pipe, either way: a JSON document on one line (ASCII: a name's escapes
    travel as escapes)."""
    return json.dumps(doc).encode("ascii") + b"\n"


def _main() -> int:
    """The second process: jobs on stdin, one JSON document a line; answers the same way."""
    import gc

    from .summaries import names_encoding

    # what it builds (the folder summaries, the listings of a walk) holds no reference cycle and
    # lives until it exits: collections would only walk it again and again
    gc.disable()

    out = sys.stdout.buffer
    out.write(_message({"hello": names_encoding()}))
    out.flush()
    for line in sys.stdin.buffer:
        msg = json.loads(line)
        summaries = None
        if "walk" in msg:
            found, summaries = run_walk(msg["walk"])
            answer: Any = found_to_json(msg["walk"]["envs"], found)
        elif "measure" in msg:
            answer = [stats_to_json(s) for s in measure(msg["measure"])]
        else:
            return 2
        out.write(_message({"ok": answer}))
        out.flush()
        if summaries is not None:
            summaries.save()  # after the answer: the other process goes on meanwhile
    return 0
