"""Which Python files of the application do not parse, checked beside the rest of the run.

The line reader (:mod:`.python`) decides most files without building a syntax tree, so whether a
file parses at all is still unknown after the scan. Parsing every file costs several times the
scan itself (Python's parser builds the whole tree: about 8 µs per line here, against under
2 µs for the line reader). So :class:`SyntaxCheck` runs the parse in a second process, started
as soon as the scan has listed the files, while this one reads the environment and follows the
imports through it; :meth:`SyntaxCheck.finish` collects what it found before the report. A file
that does not parse changes no verdict (its imports were read line by line either way): it is
listed, with the parser's message, so the user knows Python itself cannot import it.

The result is kept in the per-file scan cache (an entry marked checked), so a file is parsed
once per change. Where no second process can be started, the check runs here, at ``finish``.
"""

from __future__ import annotations

import ast
import atexit
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .types import ScanProblem

if TYPE_CHECKING:
    import subprocess

#: one file to check: (where to read it, how it is shown, its kind in the walk)
Item = tuple[str, str, str]
#: what the check found for one file: (its shown path, line or None, the parser's message)
Found = tuple[str, "int | None", str]


def not_parsed(path: str, line: int | None, said: str) -> ScanProblem:
    """A file that does not parse, as the scan reports it: file:line and the parser's message."""
    where = f" at line {line}" if line else ""
    return ScanProblem(path, f"is not valid Python 3{where} ({said}); its imports were read line by line",
                       line=line, parser_message=said)


def problem_of(exc: BaseException, path: str, first_line: int = 1) -> ScanProblem:
    """:func:`not_parsed` for what the parser raised (``first_line``: where the text starts in
    its file, for a cell or a snippet)."""
    line = exc.lineno if isinstance(exc, SyntaxError) and exc.lineno else None
    said = (exc.msg if isinstance(exc, SyntaxError) else str(exc)) or type(exc).__name__
    return not_parsed(path, line + first_line - 1 if line else None, said)


def check_text(text: str, path: str) -> ScanProblem | None:
    try:
        ast.parse(text, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return problem_of(exc, path)
    return None


def check_file(path: str, shown: str, kind: str) -> ScanProblem | None:
    """Parse one file, read as the scan reads it (a regular file under the read limit; a file
    without extension only when its ``#!`` names Python). None: it parses, or it is not read."""
    from ..safeio import read_bytes
    from . import _decode, walk

    try:
        raw = read_bytes(path, limit=walk.MAX_BYTES)
    except OSError:
        return None  # the scan said already that it cannot be read
    if kind == walk.SCRIPT and walk.shebang_kind(raw[:200])[0] != walk.PYTHON:
        return None
    return check_text(_decode(raw), shown)


def check_items(items: Iterable[Item]) -> list[Found]:
    found: list[Found] = []
    for path, shown, kind in items:
        problem = check_file(path, shown, kind)
        if problem is not None:
            found.append((shown, problem.line, problem.parser_message))
    return found


@dataclass
class SyntaxCheck:
    """A parse of ``items``, running in a second process until :meth:`finish`.

    ``on_done`` is called once with the files checked and what was found (the scan uses it to
    mark its cache entries)."""

    items: list[Item]
    on_done: Callable[[list[Item], list[Found]], None] | None = None
    _process: "subprocess.Popen[bytes] | None" = field(default=None, repr=False)
    _result: list[ScanProblem] | None = field(default=None, repr=False)

    def start(self) -> SyntaxCheck:
        import subprocess

        from ..second_python import python_command

        command = python_command("appscan.syntax") if self.items else None
        if command is None:
            return self
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, close_fds=True,
            )
            atexit.register(self._stop)  # a caller that fails before finish leaves no process behind
            assert self._process.stdin is not None
            self._process.stdin.write(json.dumps(self.items).encode("utf-8", "surrogateescape"))
            self._process.stdin.close()
        except (OSError, ValueError):  # no second process here (a sandbox): checked at finish
            self._stop()
        return self

    def finish(self) -> list[ScanProblem]:
        """The files that do not parse (waits for the second process, or checks here)."""
        if self._result is not None:
            return self._result
        found: list[Found] | None = None
        if self._process is not None:
            try:
                assert self._process.stdout is not None
                out = self._process.stdout.read()  # its input is written and closed: it only writes now
                if self._process.wait() == 0:
                    found = [(str(s), int(n) if n is not None else None, str(m)) for s, n, m in json.loads(out)]
            except (OSError, ValueError, TypeError):
                found = None
            self._stop()
        if found is None:  # it could not start, or it died (a parser crash): check here
            found = check_items(self.items)
        if self.on_done is not None:
            self.on_done(self.items, found)
        self._result = [not_parsed(shown, line, said) for shown, line, said in found]
        return self._result

    def _stop(self) -> None:
        process, self._process = self._process, None
        atexit.unregister(self._stop)
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()


def _main() -> int:
    """The second process: items as JSON on stdin, what was found as JSON on stdout."""
    items = json.loads(sys.stdin.buffer.read().decode("utf-8", "surrogateescape"))
    found = check_items((str(p), str(s), str(k)) for p, s, k in items)
    sys.stdout.buffer.write(json.dumps(found).encode("utf-8", "surrogateescape"))
    return 0
