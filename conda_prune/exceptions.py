"""Errors conda-prune reports to the user, and the exit codes it documents.

Exit codes (the same for ``conda prune``, ``conda why-used`` and the ``conda-prune`` script):

==== =====================================================================================
code meaning
==== =====================================================================================
0    success (also a dry run, a prune that found nothing to remove, and a prune that kept
     entries of a read-only cache or of another user: those are reported, not errors)
1    ``why-used``: no installed package matches; ``prune``: the user declined the prompt
2    bad usage or input: a path that does not exist, an unknown environment, bad options
3    refused for safety: doubt about what is in use (an unreachable or unreadable registered
     environment, envs dir or environments.txt; a refused ``--json`` run without ``--yes``;
     a frozen environment); nothing was deleted
4    partial: some entries could not be removed or finished (permissions, trash left
     incomplete); the rest were
130  interrupted (Ctrl-C); nothing half-done is left in a cache
141  stdout was closed before the output ended (``... | head``): the rest of the output is
     dropped without a message. 141 is 128 + SIGPIPE, what a shell reports for a program a
     closed pipe stops (``set -o pipefail`` sees it), so a truncated report is never taken
     for a complete one, nor for "no package matched" (1)
==== =====================================================================================

A dry run exits as the real run would: when the real run would refuse (3), so does the dry
run, with the same message. Under ``--json``, errors are a JSON document on stdout (conda's
shape: ``exception_name``, ``message``, ``return_code``, ...) and nothing else is printed there.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_PARTIAL = 4
EXIT_INTERRUPTED = 130
EXIT_CLOSED_PIPE = 141

class PruneError(Exception):
    """Base class: a message that says what went wrong and what to do."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.return_code = self.exit_code

    def __str__(self) -> str:
        return self.message


def as_conda_error(exc: PruneError) -> Exception:
    """The same error as one of conda's own kind, for conda's error handler (inside conda only:
    it prints a ``CondaError`` as ``Name: message`` with its return code, or as JSON under
    ``--json``, and anything else as a crash report). Our classes stay plain exceptions, so
    what they are never depends on whether conda was imported first."""
    from conda.exceptions import CondaError

    cls = type(exc)
    conda_cls = type(cls.__name__, (CondaError,), {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                                  "return_code": exc.exit_code})
    error = conda_cls(exc.message)
    error.return_code = exc.exit_code
    return error


def error_document(exc: PruneError) -> dict[str, object]:
    """The JSON document conda prints for an error under ``--json``, for the standalone script."""
    cls = type(exc)
    return {
        "caused_by": "None",
        "error": f"{cls.__name__}: {exc.message}",
        "exception_name": cls.__name__,
        "exception_type": f"<class '{cls.__module__}.{cls.__qualname__}'>",
        "message": exc.message,
        "return_code": exc.exit_code,
    }


class UsageError(PruneError):
    exit_code = EXIT_USAGE


class EnvironmentNotFound(PruneError):
    """One wording wherever an environment named by ``-n``/``-p`` (or the active one) is not there."""

    exit_code = EXIT_USAGE

    @classmethod
    def at(cls, prefix: object) -> EnvironmentNotFound:
        return cls(f"{prefix} is not a conda environment (it has no conda-meta/history); {cls.ADVICE}")

    @classmethod
    def named(cls, name: str, looked_in: object = ()) -> EnvironmentNotFound:
        places = ", ".join(str(p) for p in looked_in)  # type: ignore[attr-defined]
        where = f"no such folder in {places}, nor registered" if places else "not registered"
        return cls(f"{name!r} is not a conda environment ({where}); {cls.ADVICE}")

    ADVICE = "name an existing environment with -n NAME or -p PATH"


class RefusedForSafety(PruneError):
    exit_code = EXIT_REFUSED


class PackageNotInstalled(PruneError):
    exit_code = EXIT_NOT_FOUND
