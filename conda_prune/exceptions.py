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
==== =====================================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_PARTIAL = 4

import sys

# Inside conda, our errors are conda errors, so conda's handler prints them in its style; the
# standalone script does not load conda just for a base class.
if "conda.base.context" in sys.modules:
    from conda.exceptions import CondaError as _Base
else:

    class _Base(Exception):  # type: ignore[no-redef]
        def __init__(self, message: str, **kwargs: object) -> None:
            super().__init__(message)
            self.message = message

        def __str__(self) -> str:
            return self.message


class PruneError(_Base):
    """Base class: a message that says what went wrong and what to do."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.return_code = self.exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(PruneError):
    exit_code = EXIT_USAGE


class EnvironmentNotFound(PruneError):
    exit_code = EXIT_USAGE


class RefusedForSafety(PruneError):
    exit_code = EXIT_REFUSED


class PackageNotInstalled(PruneError):
    exit_code = EXIT_NOT_FOUND
