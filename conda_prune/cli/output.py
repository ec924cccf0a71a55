"""Printing, prompting and progress, the same way for every subcommand.

stdout carries the report (or, under ``--json``, the JSON document and nothing else);
warnings, problems and progress go to stderr.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..exceptions import RefusedForSafety
from ..render.words import command_name, human_bytes, set_program  # noqa: F401 (used by cli/)
from .options import RunOptions


def closed_pipe() -> None:
    """stdout was closed by its reader: point it at the null device, so that what is still
    buffered (and Python's own flush at exit) goes nowhere instead of raising again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # pragma: no cover - stdout is not a file
        pass


_FROZEN = False


def freeze_collected() -> None:
    """Spare the command Python's collections of what conda loaded before it: ``gc.freeze()``
    moves what is alive now into the permanent generation, which collections skip, the last
    one at shutdown included. Measured on a cache prune of 1,294 entries: the plan took 0.31 s
    with the collections its allocations triggered among conda's 45,000 objects and 0.23 s
    without; the shutdown 0.13 s with its final collection of them and 0.02 s without.

    What conda loaded lives until the end anyway. What the command makes is collected as
    before, at shutdown too: only what exists before it runs is frozen, so a file object it
    leaves in a reference cycle is still finalized (flushed) at exit."""
    global _FROZEN
    if _FROZEN:
        return
    import gc

    gc.freeze()
    _FROZEN = True


def quiet_on_closed_pipe(execute: Callable[[Any], int]) -> Callable[[Any], int]:
    """A subcommand that ends quietly with exit 141 (128 + SIGPIPE, see ``exceptions``) when
    its reader goes away (``conda why-used numpy -n ENV | head -1``). It ends without the
    collections of what is loaded already (:func:`freeze_collected`)."""

    @functools.wraps(execute)
    def guarded(args: Any) -> int:
        from ..exceptions import EXIT_CLOSED_PIPE

        freeze_collected()
        try:
            code = execute(args)
            sys.stdout.flush()  # a broken pipe shows here, not later in Python's exit
            return code
        except OSError as exc:
            if isinstance(exc, BrokenPipeError) or exc.errno in (errno.EPIPE, errno.ESHUTDOWN):
                closed_pipe()
                return EXIT_CLOSED_PIPE
            raise

    return guarded


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _console_class() -> type:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            """rich exits 1 here, the code that means "no package matched"; let the subcommand's
            :func:`quiet_on_closed_pipe` end it with 141 instead."""
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, "stdout was closed")

    return _Console


class Output:
    """The consoles are made on first use: a ``--json`` run with nothing to warn about never
    imports rich."""

    def __init__(self, options: RunOptions, *, width: int | None = None) -> None:
        self.options = options
        self._width = width

    @functools.cached_property
    def out(self) -> Any:
        return _console_class()(file=sys.stdout, width=self._width, highlight=False, soft_wrap=False)

    @functools.cached_property
    def err(self) -> Any:
        from rich.console import Console

        return Console(file=sys.stderr, width=self._width, highlight=False, stderr=True)

    @property
    def json(self) -> bool:
        return self.options.json

    def emit_json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()

    def warn(self, message: str) -> None:
        """One line on stderr (also under --json, where stdout holds only JSON)."""
        if not self.options.quiet or self.options.json:
            from rich.text import Text

            from ..render.layout import visible

            # the message names files whoever controls them chose: no markup, no raw escapes
            self.err.print(Text.assemble(("warning:", "yellow"), " ", visible(message)), highlight=False, soft_wrap=True)

    def info(self, message: str) -> None:
        if not self.options.json and not self.options.quiet:
            self.out.print(message, soft_wrap=True)

    def confirm(self, question: str) -> bool:
        """Ask as conda asks (Enter means yes), with two differences that protect data:
        the end of input is never a yes (conda's own prompt takes a closed stdin as yes), and
        under ``--json`` a destructive command needs an explicit ``--yes`` (conda's JSON
        prompt confirms silently)."""
        if self.options.yes:
            return True
        if self.options.json:
            raise RefusedForSafety(
                "refusing to delete under --json without --yes; add --yes to proceed, or --dry-run to only report"
            )
        while True:
            self.out.print(f"{question} ([y]/n)? ", end="", markup=False, highlight=False)
            self.out.file.flush()
            try:
                line = sys.stdin.readline() if sys.stdin is not None else ""
            except (OSError, ValueError):
                line = ""
            if not line:  # end of input: no answer, so no
                self.out.print()
                return False
            answer = line.strip().lower()
            if answer in ("", "y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            self.out.print(f"Invalid choice: {answer}", markup=False, highlight=False)

    @contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[Any]:
        """A progress bar on stderr for long scans; silent when quiet or not on a terminal."""
        if self.options.quiet or not _is_terminal(sys.stderr):
            yield _NoProgress()
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=self.err, transient=True,
        ) as bar:
            task = bar.add_task(description, total=total)
            yield _Progress(bar, task)


class _NoProgress:
    def update(self, what: str, done: int, total: int) -> None:
        pass


class _Progress:
    def __init__(self, bar: Any, task: Any) -> None:
        self.bar, self.task = bar, task

    def update(self, what: str, done: int, total: int) -> None:
        """The shape of the core's progress callbacks: (what, done, total)."""
        self.bar.update(self.task, description=what, completed=done, total=total)
