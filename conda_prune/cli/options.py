"""The standard options, as conda defines them.

Inside conda, conda's own helpers add ``-n/-p``, ``--json``, ``-v/-q``, ``--dry-run`` and
``--yes`` so they behave exactly as in core conda (and conda fills ``context`` from them).
The standalone ``conda-prune`` script adds look-alikes with the same names and help.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

STANDALONE = "_conda_prune_standalone"


def _conda_helpers_usable(parser: argparse.ArgumentParser) -> bool:
    if getattr(parser, STANDALONE, False):
        return False
    try:
        import conda.cli.helpers  # noqa: F401
    except ImportError:
        return False
    return True


def add_prefix(parser: argparse.ArgumentParser) -> None:
    if _conda_helpers_usable(parser):
        from conda.cli.helpers import add_parser_prefix

        add_parser_prefix(parser)
        return
    group = parser.add_argument_group("Target Environment Specification").add_mutually_exclusive_group()
    group.add_argument("-n", "--name", metavar="ENVIRONMENT", help="Name of environment.")
    group.add_argument("-p", "--prefix", metavar="PATH", help="Full path to environment location (i.e. prefix).")


def add_output(parser: argparse.ArgumentParser, *, prompt: bool) -> None:
    """``--json -v -q`` and, for commands that change things, ``-d/--dry-run -y/--yes``."""
    if _conda_helpers_usable(parser):
        from conda.cli.helpers import add_output_and_prompt_options, add_parser_json

        (add_output_and_prompt_options if prompt else add_parser_json)(parser)
        return
    group = parser.add_argument_group("Output, Prompt, and Flow Control Options")
    group.add_argument("--json", action="store_true", help="Report all output as json. Suitable for using conda programmatically.")
    group.add_argument("-v", "--verbose", action="count", default=0, dest="verbosity", help="Can be used multiple times. Once for detailed output.")
    group.add_argument("-q", "--quiet", action="store_true", help="Do not display progress bar.")
    if prompt:
        group.add_argument("-d", "--dry-run", action="store_true", help="Only display what would have been done.")
        group.add_argument(
            "-y", "--yes", action="store_true",
            help="Sets any confirmation values to 'yes' automatically. Users will not be asked to confirm any adding, deleting, backups, etc.",
        )


@dataclass(frozen=True)
class RunOptions:
    json: bool = False
    quiet: bool = False
    verbosity: int = 0
    dry_run: bool = False
    yes: bool = False
    standalone: bool = False


def _flag(value: object) -> bool:
    # conda's helpers default to its NULL sentinel, which is truthy: only True counts
    return value is True


def run_options(args: argparse.Namespace) -> RunOptions:
    """The output and prompt settings, from conda's context or from the parsed arguments."""
    if getattr(args, STANDALONE, False):
        return RunOptions(
            json=_flag(args.json),
            quiet=_flag(args.quiet),
            verbosity=int(getattr(args, "verbosity", 0) or 0),
            dry_run=_flag(getattr(args, "dry_run", False)),
            yes=_flag(getattr(args, "yes", False)),
            standalone=True,
        )
    from conda.base.context import context

    return RunOptions(
        # conda's --console json selects its JSON reporter: here it means --json
        json=bool(context.json) or getattr(context, "console", None) == "json",
        quiet=bool(context.quiet),
        verbosity=int(context.verbosity or 0),
        dry_run=bool(context.dry_run),
        yes=bool(context.always_yes),
    )


def locations_for(args: argparse.Namespace, output=None):
    """Where caches and environments are: from conda's context, or (standalone) read the way
    conda reads them, with a warning on ``output`` for each configuration file we ignore."""
    from .. import locations

    if not getattr(args, STANDALONE, False):
        return locations.from_conda_context()
    name, prefix = getattr(args, "name", None), getattr(args, "prefix", None)
    locs = locations.from_environment(
        target_name=name if isinstance(name, str) else None,
        target_prefix=prefix if isinstance(prefix, str) else None,
    )
    if output is not None:
        for message in locs.warnings:
            output.warn(message)
    return locs


def target_prefix(args: argparse.Namespace, locs) -> str | None:
    """The environment named by ``-n``/``-p`` (or the active one), as conda resolves it."""
    from ..envs import resolve_target
    from ..exceptions import EnvironmentNotFound

    name = getattr(args, "name", None)
    prefix = getattr(args, "prefix", None)
    if not getattr(args, STANDALONE, False):
        from conda.base.context import context

        if not isinstance(name, str) and not isinstance(prefix, str):
            return context.target_prefix
        try:
            return context.target_prefix
        except Exception:  # conda's EnvironmentNameNotFound and friends
            if isinstance(name, str):
                raise EnvironmentNotFound.named(name, context.envs_dirs) from None
            raise EnvironmentNotFound.at(prefix) from None
    target = resolve_target(locs, name if isinstance(name, str) else None, prefix if isinstance(prefix, str) else None)
    if target is None:
        if isinstance(name, str):
            raise EnvironmentNotFound.named(name, locs.envs_dirs)
        raise EnvironmentNotFound("no environment is active and no root prefix is known; " + EnvironmentNotFound.ADVICE)
    return str(target)



def add_requested_from(group) -> None:
    """``--requested-from FILE``: the file that names what the user asked for."""
    group.add_argument(
        "--requested-from", metavar="FILE",
        help="Take what was asked for from FILE (an environment.yml, conda-lock.yml, pixi.toml or pyproject.toml), "
             "not from the history: for environments installed from a lockfile, which record every package as "
             "requested. Without it, such a file beside the --app folders is used when the history has no real requests.",
    )


def requested_file(args: argparse.Namespace):
    """The ``--requested-from`` file, read; a missing or broken one is a usage error (exit 2)."""
    raw = getattr(args, "requested_from", None)
    if not isinstance(raw, str):
        return None
    from pathlib import Path

    from ..requested_files import read_requested_file

    return read_requested_file(Path(raw))
