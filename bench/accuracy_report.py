"""Measure how right ``conda prune --app`` is on real applications, and print the table.

    python bench/accuracy_report.py                  both cases (small, large), as a Markdown table
    python bench/accuracy_report.py --case small     one case
    python bench/accuracy_report.py --keep /tmp/acc  keep the environments, traces and test reports

Each case builds an environment of real packages (wheels from PyPI turned into conda packages,
cached under ``$XDG_CACHE_HOME/conda-prune-accuracy``), runs a real application's tests under a
tracer for the ground truth, asks ``conda-prune prune --app --dry-run --json`` for its verdict,
then prunes a copy with ``conda prune --yes`` (when conda is importable) and runs the tests
again. The table is the one in README.md under "How we test verdicts"; definitions are in
``tests/accuracy/measure.py``. Exit status: 0 when every case was measured, 2 when offline.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from accuracy.cases import CASES  # noqa: E402
from accuracy.measure import details, measure, table  # noqa: E402
from accuracy.wheels import Offline  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="run only this case (repeatable)")
    parser.add_argument("--keep", type=Path, help="build under this folder and keep it")
    args = parser.parse_args(argv)
    names = args.case or list(CASES)
    root = args.keep or Path(tempfile.mkdtemp(prefix="conda-prune-accuracy-"))
    results = []
    started = time.monotonic()
    try:
        for name in names:
            folder = root / name
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            try:
                results.append(measure(CASES[name], folder))
            except Offline as exc:
                print(f"accuracy: cannot fetch the wheels from the package registry ({exc})", file=sys.stderr)
                return 2
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(table(results))
    print()
    for result in results:
        print(details(result))
    print(f"\n{len(results)} case(s) in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
