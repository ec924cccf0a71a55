"""``conda why-used PKG``: explain why a package is in an environment."""

from __future__ import annotations

import argparse
from textwrap import dedent

from .options import add_output, add_prefix, add_requested_from

DESCRIPTION = dedent(
    """
    Explain why a package is in an environment, and what would break without it.

    Starting from what was asked for (the specs in the environment's history,
    pinned specs, and pip distributions installed on request), show every
    dependency path down to the package, shortest first, each step labelled with
    the spec that creates it. conda depends and pip Requires-Dist (markers
    evaluated for the environment) form one graph. Without history (or with only
    a lockfile install's specs, which name every package), the packages nothing
    depends on stand in for what was asked for, unless --requested-from names
    the file the environment was made from, or such a file lies beside the --app
    folders.

    Nothing is written into the environment.
    """
)

EPILOG = dedent(
    """
    examples:
      conda why-used numpy -n myenv
          why numpy is in myenv
      conda why-used 'nvidia-*' -n myenv
          every nvidia package, one by one
      conda why-used numpy -n myenv --app ./src
          ... and where ./src imports it
      conda why-used openssl --all-envs
          which environments have it, and their cache entries
      conda why-used numpy -n myenv --tree
          what needs it, as a tree
      conda why-used libcublas -n myenv --requested-from environment.yml
          ... from what environment.yml asks for
      conda why-used numpy -n myenv --graph dot | dot -Tsvg > numpy.svg
          the dependency paths as a picture

    exit codes: 0 every PKG is installed, 1 some PKG is not installed, 2 bad usage
    """
)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from .options import STANDALONE

    parser.description = DESCRIPTION
    # the standalone script names itself in its examples
    parser.epilog = (
        EPILOG.replace("conda why-used", "conda-prune why-used") if getattr(parser, STANDALONE, False) else EPILOG
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "packages", nargs="+", metavar="PKG",
        help="A package name or a glob such as 'nvidia-*' (quote it), conda or pip-installed.",
    )
    add_prefix(parser)
    group = parser.add_argument_group("What to explain")
    group.add_argument(
        "--app", action="append", default=[], metavar="PATH",
        help="Also list the import sites in the application (files or folders; .py and .ipynb) "
             "that load a module the package provides. Repeatable.",
    )
    group.add_argument(
        "--all-envs", action="store_true",
        help="Also list every environment that has the package, and whether they share one package-cache entry.",
    )
    group.add_argument(
        "--all-paths", action="store_true",
        help="List every dependency path (and every dependent), not the shortest one from each requested package.",
    )
    add_requested_from(group)
    view = parser.add_argument_group("View").add_mutually_exclusive_group()
    view.add_argument("--tree", action="store_true", help="Show what needs the package as a tree.")
    view.add_argument("--graph", choices=["dot"], help="Print the package and what needs it as a Graphviz graph.")
    add_output(parser, prompt=False)


def execute(args: argparse.Namespace) -> int:
    from .output import quiet_on_closed_pipe

    return quiet_on_closed_pipe(_execute)(args)


def _execute(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..exceptions import EXIT_NOT_FOUND, EXIT_OK, EnvironmentNotFound, UsageError
    from ..records import is_environment
    from .options import locations_for, requested_file, run_options, target_prefix
    from .output import Output

    options = run_options(args)
    output = Output(options)
    locations = locations_for(args, output)
    prefix = Path(target_prefix(args, locations) or "")
    if not str(prefix) or not is_environment(prefix):
        raise EnvironmentNotFound.at(prefix)
    apps = [Path(a).expanduser() for a in args.app]
    for app, raw in zip(apps, args.app):
        if not app.exists():
            raise UsageError(f"--app {raw}: no such file or folder")
    named = requested_file(args)

    from ..why import why_used

    others = None
    if args.all_envs:
        from ..envs import discover

        discovery = discover(locations)
        others = discovery.prefixes
    report = why_used(
        prefix, args.packages, apps=apps, other_environments=others, all_paths=args.all_paths, requested_file=named
    )

    from ..render import why_used as render

    # `why-used PKG --all-envs` without -n/-p asks which environments have PKG: one that the
    # default environment lacks but others have was found, not missing
    explicit = isinstance(getattr(args, "name", None), str) or isinstance(getattr(args, "prefix", None), str)
    found_elsewhere = [] if explicit or not args.all_envs else [n for n in report.not_found if n.elsewhere]
    missing = [n for n in report.not_found if n not in found_elsewhere]

    for problem in report.problems:
        output.warn(str(problem))
    for item in missing:
        output.err.print(render.not_found_line(item, report), markup=False, highlight=False, soft_wrap=True)

    if options.json:
        output.emit_json(render.report_json(report))
    else:
        if report.explanations:
            if args.graph == "dot":
                output.out.file.write(render.render_dot(report))
            elif args.tree:
                render.render_tree(report, output.out)
            else:
                render.render_text(report, output.out)
        if found_elsewhere:
            render.render_elsewhere(found_elsewhere, report, output.out)
    return EXIT_NOT_FOUND if missing else EXIT_OK
