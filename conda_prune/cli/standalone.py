"""The ``conda-prune`` script: the same commands where conda is not importable.

    conda-prune prune [options]        same as ``conda prune``
    conda-prune why-used PKG [options] same as ``conda why-used``

Locations come from conda's configuration, read from conda's search path (``condarc.d/``
folders included) and micromamba's ``.mambarc`` files, merged as conda merges them, with the
``CONDA_*`` variables; the root prefix (``CONDA_ROOT_PREFIX``, ``root_prefix``, else the
installation: ``CONDA_ROOT``, ``MAMBA_ROOT_PREFIX`` or ``CONDA_EXE``); and
``~/.conda/environments.txt``. See :mod:`conda_prune.condarc`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__
from .options import STANDALONE


def build_parser() -> argparse.ArgumentParser:
    from . import main_prune, main_why_used

    parser = argparse.ArgumentParser(
        prog="conda-prune",
        description="Free disk from conda package caches and environments without breaking anything.",
    )
    parser.add_argument("--version", action="version", version=f"conda-prune {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, summary in (
        ("prune", main_prune, "remove cache entries (or environment packages) nothing uses"),
        ("why-used", main_why_used, "explain why a package is in an environment"),
    ):
        p = sub.add_parser(name, help=summary)
        setattr(p, STANDALONE, True)
        module.configure_parser(p)
        p.set_defaults(_execute=module.execute, **{STANDALONE: True})
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import json

    from ..exceptions import EXIT_CLOSED_PIPE, EXIT_INTERRUPTED, PruneError, error_document
    from .output import closed_pipe, set_program

    set_program("conda-prune")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._execute(args) or 0)
    except PruneError as exc:
        if getattr(args, "json", False) is True:  # as conda does: the error as a JSON document on stdout
            try:
                sys.stdout.write(json.dumps(error_document(exc), indent=2, sort_keys=True) + "\n")
                sys.stdout.flush()
            except BrokenPipeError:
                closed_pipe()
                return EXIT_CLOSED_PIPE
        else:
            sys.stderr.write(f"conda-prune: error: {exc.message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("conda-prune: interrupted; nothing half-done is left in a cache (a rerun finishes)\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
