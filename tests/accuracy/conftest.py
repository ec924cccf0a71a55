from __future__ import annotations

import pytest

from .cases import CASES
from .measure import RESULTS, Result, details, measure, table
from .wheels import Offline

#: cases that run in every test run; the others only when ``-m`` names ``accuracy``
DEFAULT_CASES = ("small",)
_NOT_RUN: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "accuracy" in (config.option.markexpr or ""):
        return
    later = [i for i in items if getattr(i, "callspec", None) and i.callspec.params.get("measured", "small")
             not in DEFAULT_CASES]
    if later:
        config.hook.pytest_deselected(items=later)
        items[:] = [i for i in items if i not in later]
        _NOT_RUN.extend(sorted({i.callspec.params["measured"] for i in later}))


@pytest.fixture(scope="module", params=list(CASES))
def measured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Result:
    """One case measured once per module: built, traced, judged, pruned on a copy, rerun."""
    case = CASES[request.param]
    try:
        result = measure(case, tmp_path_factory.mktemp(f"accuracy-{case.name}"))
    except Offline as exc:
        pytest.skip(f"accuracy: cannot fetch the wheels from the package registry ({exc})")
    RESULTS.append(result)
    return result


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if _NOT_RUN:
        terminalreporter.write_line(
            f"accuracy: the {', '.join(_NOT_RUN)} case runs with -m accuracy (or python bench/accuracy_report.py)"
        )
    if RESULTS:
        terminalreporter.section("accuracy of conda prune --app (tests/accuracy)")
        terminalreporter.write_line(table(RESULTS))
        for result in RESULTS:
            terminalreporter.write_line(details(result))
