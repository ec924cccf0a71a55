"""``conda doctor``: the package-cache space no environment uses, and ``--fix`` to free it.

conda runs a health check once per environment it is asked about, but the figure is the same
for every environment (it is about the package caches), so the plan is made once per process.
The check and the fix read the same plan the cache prune makes (:func:`plan_cache_prune`), so
the figure is the one ``conda prune --dry-run`` gives; the fix removes what the plan says
through :func:`execute_plan`, after conda's own confirmation (``conda doctor --fix`` asks,
default no, so a closed stdin removes nothing; ``--dry-run`` stops before it).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cache_prune import CachePlan
    from .locations import Locations

CHECK_NAME = "unused-package-cache"
SUMMARY = "Package-cache entries that no environment uses (what conda prune frees)"
FIX = "Remove them with conda prune"

_plans: dict[tuple, tuple[Locations, CachePlan]] = {}


def _plan() -> tuple[Locations, CachePlan]:
    """The cache prune's plan for conda's current configuration, made once per process."""
    from .cache_prune import plan_cache_prune
    from .locations import from_conda_context

    locations = from_conda_context()
    key = (locations.pkgs_dirs, locations.envs_dirs, locations.root_prefix, locations.keep)
    if key not in _plans:
        _plans[key] = (locations, plan_cache_prune(locations))
    return _plans[key]


def _marks() -> tuple[str, str]:
    try:
        from conda.base.constants import OK_MARK, X_MARK
    except ImportError:  # pragma: no cover - older conda
        return "OK", "X"
    return OK_MARK, X_MARK


def finding(plan: CachePlan) -> tuple[bool, str]:
    """(healthy, the line ``conda doctor`` prints) for a plan."""
    from .render.words import human_bytes

    entries = len(plan.removals)
    if plan.blockers:
        return False, (f"package caches: conda prune would refuse to remove anything: {plan.blockers[0]}")
    if not entries and not plan.leftovers:
        caches = len(plan.caches)
        return True, f"package caches: every entry is used by an environment ({caches} package cache(s) scanned)."
    what = f"{entries} {'entry' if entries == 1 else 'entries'} no environment uses"
    if plan.leftovers:
        what += f" (and {len(plan.leftovers)} item(s) an interrupted prune left in its trash)"
    return False, f"package caches: {human_bytes(plan.freed_bytes)} in {what} (--fix removes them)"


def check(prefix: str, verbose: bool) -> None:
    """The health check's action: one line, and with ``-v`` the entries."""
    _, plan = _plan()
    healthy, line = finding(plan)
    ok, bad = _marks()
    print(f"{ok if healthy else bad} {line}")
    if verbose:
        from .render.words import human_bytes

        for d in plan.removals:
            print(f"  {d.entry.cache}/{d.entry.dist}  {human_bytes(d.freed_bytes)}  {d.reason}")
    print()


def fix(prefix: str, args: argparse.Namespace, confirm: Callable[[str], object]) -> int:
    """The fixer for ``conda doctor --fix``: conda's ``confirm`` (which raises when the answer
    is no, at the end of input, and under ``--dry-run``), then the prune."""
    from conda.base.context import context

    from .cache_prune import execute_plan
    from .exceptions import EXIT_OK, EXIT_PARTIAL, EXIT_REFUSED
    from .render.words import human_bytes

    locations, plan = _plan()
    healthy, line = finding(plan)
    if plan.blockers:
        print(f"Nothing was removed: {line}")
        return EXIT_REFUSED
    if healthy:
        print("The package caches hold nothing that no environment uses.")
        return EXIT_OK
    print(line)
    for d in plan.removals:
        print(f"  {d.entry.dist}  {human_bytes(d.freed_bytes)}")
    if context.json and not context.always_yes:
        # conda's JSON prompt answers yes without asking: deleting needs an explicit --yes
        print("Nothing was removed: under --json the fix needs --yes.")
        return EXIT_REFUSED
    confirm("Remove these package-cache entries?")
    result = execute_plan(plan, locations)
    _plans.clear()  # the caches changed
    for d, why in result.restored:
        print(f"  kept {d.entry.dist}: {why}")
    for d, why in result.failed:
        print(f"  could not remove {d.entry.dist}: {why}")
    count = len(result.removed)
    print(f"Removed {count} cache {'entry' if count == 1 else 'entries'}, freeing {human_bytes(result.freed_bytes)}.")
    return EXIT_PARTIAL if result.failed else EXIT_OK
