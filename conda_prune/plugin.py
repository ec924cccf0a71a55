"""conda's plugin hooks, and nothing else: this module is imported on every ``conda`` call."""

from __future__ import annotations

from conda.plugins import hookimpl
from conda.plugins.types import CondaSetting, CondaSubcommand


def _in_conda(execute):  # type: ignore[no-untyped-def]
    """The subcommand's action as conda calls it: our errors reach conda's handler as conda
    errors (same name, message and exit code)."""

    def action(args):  # type: ignore[no-untyped-def]
        from .exceptions import PruneError, as_conda_error

        try:
            return execute(args)
        except PruneError as exc:
            raise as_conda_error(exc) from None

    return action


@hookimpl
def conda_subcommands():
    from .cli import main_prune, main_why_used

    yield CondaSubcommand(
        name="prune",
        summary="Free disk: remove package-cache entries no environment uses, or packages an application never uses.",
        action=_in_conda(main_prune.execute),
        configure_parser=main_prune.configure_parser,
    )
    yield CondaSubcommand(
        name="why-used",
        summary="Explain why a package is in an environment, and what would break without it.",
        action=_in_conda(main_why_used.execute),
        configure_parser=main_why_used.configure_parser,
    )


@hookimpl
def conda_settings():
    from conda.common.configuration import PrimitiveParameter, SequenceParameter

    from .locations import KEEP_SETTING

    yield CondaSetting(
        name=KEEP_SETTING,
        description=(
            "Package names or globs that conda prune never removes, from package caches or "
            "from environments (e.g. ['cudatoolkit', 'nvidia-*'])."
        ),
        parameter=SequenceParameter(PrimitiveParameter("", element_type=str)),
    )


def _check(prefix: str, verbose: bool) -> None:
    from .health import check

    check(prefix, verbose)


def _fix(prefix, args, confirm) -> int:
    from .health import fix

    return fix(prefix, args, confirm)


@hookimpl
def conda_health_checks():
    from conda.plugins.types import CondaHealthCheck

    from .health import CHECK_NAME, FIX, SUMMARY

    yield CondaHealthCheck(name=CHECK_NAME, action=_check, fixer=_fix, summary=SUMMARY, fix=FIX)
