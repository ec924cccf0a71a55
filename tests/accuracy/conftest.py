from __future__ import annotations

import pytest

from .cases import CASES
from .measure import RESULTS, Result, details, measure, table
from .wheels import Offline, fetch_wheels

#: cases that run in every test run; the others only when ``-m`` names ``accuracy``
DEFAULT_CASES = ("small",)
_NOT_RUN: list[str] = []


def _case_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("measured") if callspec is not None else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the cases that do not run by default, and every case whose wheels cannot be
    fetched (offline): one line each in the summary instead of a skip per test."""
    left_out: list[pytest.Item] = []
    if "accuracy" not in (config.option.markexpr or ""):
        later = [i for i in items if _case_of(i) not in (None, *DEFAULT_CASES)]
        left_out += later
        _NOT_RUN.extend(f"accuracy: the {name} case runs with -m accuracy (or python bench/accuracy_report.py)"
                        for name in sorted({_case_of(i) for i in later}))
    for name in sorted({_case_of(i) for i in items if i not in left_out} - {None}):
        case = CASES[name]
        try:
            fetch_wheels([*case.env, case.app])
        except Offline as exc:
            left_out += [i for i in items if _case_of(i) == name]
            _NOT_RUN.append(f"accuracy: skipped the {name} case: cannot fetch the wheels from the package "
                            f"registry ({exc})")
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [i for i in items if i not in left_out]


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
    for line in _NOT_RUN:
        terminalreporter.write_line(line)
    if RESULTS:
        terminalreporter.section("accuracy of conda prune --app (tests/accuracy)")
        terminalreporter.write_line(table(RESULTS))
        for result in RESULTS:
            terminalreporter.write_line(details(result))
