"""``conda why-used PKG``: explain why a package is in an environment."""

from __future__ import annotations

import argparse

from .options import add_output, add_prefix


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = "Explain why a package is in an environment."
    parser.add_argument("packages", nargs="+", metavar="PKG", help="Package name or glob.")
    add_prefix(parser)
    add_output(parser, prompt=False)


def execute(args: argparse.Namespace) -> int:
    from ..exceptions import UsageError

    raise UsageError("conda why-used is not available in this version")
