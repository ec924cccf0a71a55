"""``conda prune``: free disk from package caches (default) or from one environment (``--app``)."""

from __future__ import annotations

import argparse
from textwrap import dedent

from .options import add_output, add_prefix, add_requested_from

DESCRIPTION = dedent(
    """
    Free disk without breaking anything.

    Without --app, remove package-cache entries (extracted folders and their
    tarballs) that no environment uses. "Used" is decided from what every
    environment's records reference, not from hardlink counts; entries that
    something outside the scan may still use (extra hardlinks, symlinks into the
    cache) are kept and reported. The bytes shown are the blocks that really
    come back: a file shared by hardlinks counts only when its last link goes.

    With -n ENV --app PATH, find the packages of ENV that the application at
    PATH never uses (imports, notebooks, executables called from scripts, R
    code) and remove them offline with conda's own transaction, or export a lean
    environment file.
    """
)

EPILOG = dedent(
    """
    examples:
      conda prune --dry-run
          show what the cache prune would free
      conda prune --yes
          prune every package cache
      conda prune --search-path ~/projects
          also look for project environments (./.env, .pixi)
      conda prune --keep-latest 1 --tarballs
          keep the newest build of each package, drop tarballs
      conda prune --json --dry-run
          the same report as JSON
      conda prune -n myenv --app ./src --dry-run
          packages ./src never uses
      conda prune -n myenv --app ./src --trace 'pytest -q' --dry-run
          also count what a run of the tests loads
      conda prune -n myenv --app ./src --export lean.yml
          write a lean environment.yml
      conda prune -n myenv --app ./src --yes --with-cache
          remove them, then prune the cache
    """
)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from .options import STANDALONE

    parser.description = DESCRIPTION
    # the standalone script names itself in its examples
    parser.epilog = EPILOG.replace("conda prune", "conda-prune prune") if getattr(parser, STANDALONE, False) else EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_prefix(parser)

    cache = parser.add_argument_group("Package-cache pruning (the default)")
    cache.add_argument(
        "--search-path", action="append", default=[], metavar="DIR",
        help="Also look for environments below DIR (project-local ones conda does not know). Repeatable.",
    )
    cache.add_argument(
        "--keep-latest", type=int, default=0, metavar="N",
        help="Keep the newest N builds of every package name, used or not.",
    )
    cache.add_argument(
        "--tarballs", action="store_true",
        help="Also remove the tarballs (.conda, .tar.bz2) of entries that stay extracted.",
    )
    cache.add_argument(
        "--include-local", action="store_true",
        help="Also remove entries that are the only copy of their package: installed from a local file or a "
        "file:// channel that no longer exists, or with no record of where they came from.",
    )
    cache.add_argument(
        "--ignore-unreachable", action="store_true",
        help="Prune even when some environments cannot be seen: registered ones whose folder and parent are "
        "missing (an unmounted disk?), or an environments.txt, envs dir or conda-meta you may not read.",
    )

    # conflict_handler: conda's own hidden --trace (trace-level logging, also -vvvv) gives way to ours
    app = parser.add_argument_group("Environment pruning (with --app)", conflict_handler="resolve")
    app.add_argument(
        "--app", action="append", default=[], metavar="PATH",
        help="The application (files or folders) whose use of the environment decides what stays. Repeatable.",
    )
    app.add_argument(
        "--keep", action="append", default=[], metavar="PKG",
        help="Never remove PKG (a name or a glob such as 'nvidia-*'). Repeatable.",
    )
    app.add_argument(
        "--keep-optional", action="store_true",
        help="Also keep unused packages that a used package can load on demand (an import inside one of its "
        "functions, a lazy submodule, an extra or a constrains entry). Without it they are removed, and the "
        "report names each with the chain that can load it.",
    )
    app.add_argument(
        "--export", metavar="FILE",
        help="Write a lean environment.yml holding what the application uses, instead of removing anything.",
    )
    app.add_argument(
        "--with-cache", action="store_true",
        help="After removing packages from the environment, also prune the package caches.",
    )
    add_requested_from(app)
    add_output(parser, prompt=True)
    # after conda's options, so that ours is the one that stays; its dest is not conda's "trace"
    app.add_argument(
        "--trace", action="append", default=[], metavar="COMMAND", dest="trace_commands",
        help="Also run COMMAND in the environment (through /bin/sh, in this folder) and count every package "
        "its Python processes load; e.g. --trace 'pytest -q'. Needs --app. Repeatable.",
    )


def execute(args: argparse.Namespace) -> int:
    from .output import quiet_on_closed_pipe

    return quiet_on_closed_pipe(_execute)(args)


def _conda_took_our_trace(args: argparse.Namespace) -> None:
    """conda's pre-parser reads any ``--trace`` on the command line as its own hidden flag (trace-level
    logging, as -vvvv) before our parser sees it. Ours names a command: set conda back as without it
    (only the one line conda logs before a subcommand runs is left)."""
    from .options import STANDALONE

    if getattr(args, STANDALONE, False) or not getattr(args, "trace_commands", None):
        return
    if getattr(args, "trace", None) is not True:
        return
    from conda.auxlib import NULL
    from conda.base.context import context
    from conda.gateways.logging import set_log_level

    args.trace = NULL
    context.__init__(argparse_args=args)
    set_log_level(context.log_level)


def _execute(args: argparse.Namespace) -> int:
    from .options import locations_for, run_options
    from .output import Output

    _conda_took_our_trace(args)
    options = run_options(args)
    output = Output(options)
    locs = locations_for(args, output)
    if getattr(args, "requested_from", None) and not args.app:
        from ..exceptions import UsageError

        raise UsageError("--requested-from only applies with --app (pruning an environment)")
    if getattr(args, "trace_commands", None) and not args.app:
        from ..exceptions import UsageError

        raise UsageError("--trace needs --app PATH: a traced run only shows what that run loaded, so the "
                         "application's files are read too")
    if getattr(args, "keep_optional", False) and not args.app:
        from ..exceptions import UsageError

        raise UsageError("--keep-optional only applies with --app (pruning an environment)")
    if args.app:
        from .env_prune import execute_env_prune

        return execute_env_prune(args, options, output, locs)
    from .cache_mode import execute_cache_prune

    return execute_cache_prune(args, options, output, locs)
