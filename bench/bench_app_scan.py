"""Time conda prune's application scan against deptry on the same large Python codebase.

    python bench/bench_app_scan.py PATH [--repeat 7] [--deptry deptry]

PATH is a real codebase of at least 400,000 lines of Python. None is committed here; get one,
for example astropy (about 1,000 modules, 416,000 lines at the time of writing)::

    git clone --depth 1 https://github.com/astropy/astropy /tmp/astropy
    python bench/bench_app_scan.py /tmp/astropy

Each repetition runs, as separate processes and in an order that rotates between repetitions:

* ``deptry PATH`` (it finds every import and compares them with the declared dependencies),
  excluding only version control and virtual environments, so both read the same files;
* our scan with an empty cache (the first run);
* our scan again with the cache the first run left (the cached run: nothing changed);
* our first run with the parse of every Python file (``--check-syntax``), which ``prune --app``
  runs in a second process beside the rest of its work: what that parse costs on its own.

It prints the median wall time of each (process start included, as a user sees it), the time the
scan itself took inside our process, the ratio, and whether the targets hold: the first run no
slower than deptry, the cached run under 0.2 s. The machine is shared and noisy: medians of
several repetitions, all run in one go.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_SKIP = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".tox", ".nox", ".venv", "venv", "site-packages"}


def python_lines(root: Path) -> tuple[int, int]:
    files = lines = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIP]
        for name in names:
            if name.endswith(".py"):
                files += 1
                with open(os.path.join(folder, name), "rb") as fh:
                    lines += fh.read().count(b"\n")
    return files, lines


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if out.returncode not in (0, 1):  # deptry exits 1 when it finds dependency issues
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return elapsed, out.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path, help="a large Python codebase (see above)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--deptry", default=shutil.which("deptry") or str(Path(sys.executable).parent / "deptry"))
    args = parser.parse_args()
    if not args.path.is_dir():
        parser.error(f"{args.path}: not a folder")
    if not Path(args.deptry).exists() and not shutil.which(args.deptry):
        parser.error(f"deptry not found at {args.deptry}; pass --deptry PATH")

    files, lines = python_lines(args.path)
    version = subprocess.run([args.deptry, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"codebase: {args.path} ({files} Python files, {lines:,} lines)")
    print(f"deptry: {version}; python: {sys.version.split()[0]}; cores: {os.cpu_count()}; repetitions: {args.repeat}")
    if lines < 400_000:
        print(f"warning: {lines:,} lines is below the 400,000 the benchmark asks for", file=sys.stderr)

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    deptry = [args.deptry, str(args.path), "--no-ansi", "-e", r"(.*/)?\.git(/|$)", "-e", r"(.*/)?\.?venv(/|$)"]
    ours = [sys.executable, "-m", "conda_prune.appscan", str(args.path)]
    inside = re.compile(r"; ([\d.]+) s$")

    results: dict[str, list[float]] = {"deptry": [], "first": [], "cached": [], "first (in process)": [],
                                       "cached (in process)": [], "with the parse": []}
    for rep in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="appscan-bench-") as cache:
            def first() -> None:
                wall, out = timed([*ours, "--cache-dir", cache], env)
                results["first"].append(wall)
                results["first (in process)"].append(float(inside.search(out.strip()).group(1)))

            def deptry_run() -> None:
                results["deptry"].append(timed(deptry)[0])

            order = [deptry_run, first] if rep % 2 == 0 else [first, deptry_run]
            for step in order:
                step()
            wall, out = timed([*ours, "--cache-dir", cache], env)
            results["cached"].append(wall)
            results["cached (in process)"].append(float(inside.search(out.strip()).group(1)))
        with tempfile.TemporaryDirectory(prefix="appscan-bench-") as cache:
            results["with the parse"].append(timed([*ours, "--cache-dir", cache, "--check-syntax"], env)[0])
        print(f"  repetition {rep + 1}: deptry {results['deptry'][-1]:.3f} s, first {results['first'][-1]:.3f} s, "
              f"cached {results['cached'][-1]:.3f} s, with the parse {results['with the parse'][-1]:.3f} s", flush=True)

    median = {k: statistics.median(v) for k, v in results.items()}
    print()
    print(f"{'':26}{'median':>9}{'min':>9}{'max':>9}")
    for key in ("deptry", "first", "first (in process)", "cached", "cached (in process)", "with the parse"):
        label = {"deptry": "deptry", "first": "ours, first run", "cached": "ours, cached run",
                 "with the parse": "ours, first, with the parse"}.get(key, f"  {key}")
        values = results[key]
        print(f"{label:26}{median[key]:>8.3f}s{min(values):>8.3f}s{max(values):>8.3f}s")
    ratio = median["deptry"] / median["first"]
    print()
    print(f"first run: {ratio:.2f}x deptry's speed ({'no slower than deptry: met' if ratio >= 1 else 'slower than deptry: NOT met'})")
    cached_ok = median["cached"] < 0.2
    print(f"cached run: {median['cached']:.3f} s wall, {median['cached (in process)']:.3f} s scanning "
          f"({'under 0.2 s: met' if cached_ok else 'over 0.2 s: NOT met'}); "
          f"{median['deptry'] / median['cached']:.1f}x faster than deptry")
    return 0


if __name__ == "__main__":
    sys.exit(main())
