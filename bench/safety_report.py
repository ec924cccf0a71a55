"""Run the safety suite (``pytest -m safety tests/safety``) and print what it tried and what happened.

    python bench/safety_report.py                    the default seeded run, as a Markdown table
    CONDA_PRUNE_SAFETY_TRIALS=500 python bench/safety_report.py     a bigger run
    python bench/safety_report.py -- -k hostile      extra pytest arguments after --

Every safety test records one row or more (case, who ran the prune, trials, what happened);
the result column is the test's outcome. Rows of one case run as root and as an unprivileged
user are merged when both saw the same thing. The table is the one in README.md under
"How we test safety"; the exit status is pytest's.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Row:
    case: str
    who: list[str]
    trials: int
    happened: str
    result: str
    order: int = 0


@dataclass
class Collector:
    rows: list[Row] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if report.nodeid in self.seen:
                return
            self.seen.add(report.nodeid)
            result = "pass" if report.passed else "skipped" if report.skipped else "FAIL"
            recorded = [json.loads(v) for k, v in report.user_properties if k == "safety"]
            if not recorded:
                if result == "skipped":
                    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                    recorded = [{"case": report.nodeid.split("::")[-1], "who": "-", "trials": 0,
                                 "happened": reason.removeprefix("Skipped: ")}]
                else:
                    message = str(report.longrepr).strip().splitlines()[-1] if report.longrepr else ""
                    recorded = [{"case": report.nodeid.split("::")[-1], "who": "-", "trials": 1,
                                 "happened": message[:200]}]
            for rec in recorded:
                self.rows.append(Row(rec["case"], [rec["who"]], int(rec["trials"]), rec["happened"], result,
                                     len(self.rows)))


def merge(rows: list[Row]) -> list[Row]:
    """One row per case and user (what each variant saw, joined), then one row per case when
    root and the user saw the same thing."""
    joined: dict[tuple[str, str, str], Row] = {}
    for row in rows:
        key = (row.case, row.who[0], row.result)
        if key in joined:
            joined[key].trials += row.trials
            if row.happened not in joined[key].happened:
                joined[key].happened += "; " + row.happened
        else:
            joined[key] = Row(row.case, list(row.who), row.trials, row.happened, row.result, row.order)
    merged: dict[tuple[str, str, str], Row] = {}
    for row in sorted(joined.values(), key=lambda r: r.order):
        key = (row.case, row.happened, row.result)
        if key in merged:
            merged[key].who += [w for w in row.who if w not in merged[key].who]
            merged[key].trials += row.trials
        else:
            merged[key] = Row(row.case, list(row.who), row.trials, row.happened, row.result, row.order)
    return sorted(merged.values(), key=lambda r: r.order)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: list[Row]) -> str:
    lines = ["| case | run as | trials | what happened | result |", "|---|---|---:|---|---|"]
    for r in rows:
        lines.append(f"| {_cell(r.case)} | {', '.join(r.who)} | {r.trials} | {_cell(r.happened)} | {r.result} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    collector = Collector()
    started = time.monotonic()
    os.chdir(REPO)
    code = pytest.main(["-m", "safety", "-q", "-p", "no:cacheprovider", "tests/safety", *extra], plugins=[collector])
    elapsed = time.monotonic() - started
    rows = merge(collector.rows)
    print()
    print(table(rows))
    counted = [r for r in collector.rows if r.result != "skipped"]
    passed = sum(1 for r in counted if r.result == "pass")
    print()
    support = sys.modules.get("safety.support")
    settings = ""
    if support is not None:
        settings = (f" (seed {support.SEED}; {support.TRIALS} crash trials as root, {support.USER_TRIALS} as a user, "
                    f"{support.RACE_TRIALS} race trials)")
    print(
        f"{len(rows)} rows from {len(counted)} test runs, {sum(r.trials for r in counted)} trials: "
        f"{passed} passed, {len(counted) - passed} failed, "
        f"{sum(1 for r in collector.rows if r.result == 'skipped')} skipped; "
        f"{elapsed:.0f} s on {os.cpu_count()} cores{settings}"
    )
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
