"""Time the import closure on an environment of real packages.

    python bench/bench_closure.py [--repeat 5] [--root /tmp/bench-closure]

The environment is the large accuracy case's (``tests/accuracy/cases.py``: numpy, pandas,
scipy, matplotlib, their optional dependencies and about sixty more, over 100 packages), made
from PyPI wheels turned into conda packages exactly as the accuracy suite does (the wheels are
downloaded once into its cache folder). The application is one file importing numpy, pandas,
scipy and matplotlib (``matplotlib.pyplot`` and ``scipy.sparse`` too).

Each repetition runs, in this process, the closure with an empty cache (the first run: every
installed file reached is read and parsed) and again with the cache the first run left (the
cached run). The environment's records are read once beforehand (that is the plan's cost, not
the closure's). It prints the medians, the split by phase, how many modules and files were
reached, and whether the targets hold: first run under 3 s, cached run under 0.3 s.

With ``modulegraph`` importable (``pip install modulegraph``), it also times modulegraph on the
same application and site-packages, the freezer-style reference the closure follows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

APP = (
    "import numpy as np\nimport pandas as pd\nimport scipy\nimport scipy.sparse\n"
    "import matplotlib\nimport matplotlib.pyplot as plt\n"
)
FIRST_TARGET, CACHED_TARGET = 3.0, 0.3
#: beside the large case's packages, to make the environment over 100 packages
MORE = (
    "attrs==26.1.0", "jsonschema==4.26.0", "jsonschema-specifications==2025.9.1", "referencing==0.37.0",
    "rpds-py==2026.9.1", "webcolors==25.10.0", "jsonpointer==3.12", "rfc3339-validator==0.1.4", "six==1.17.0",
    "jsonpath-ng==1.16.0", "pytz==2024.2", "colorama==0.4.6", "sniffio==1.3.1", "filelock==3.16.1",
    "platformdirs==4.3.6", "decorator==5.1.1", "wcwidth==0.2.13", "docutils==0.21.2", "soupsieve==2.6",
    "beautifulsoup4==4.12.3", "networkx==3.6.1",
)


def build(root: Path) -> Path:
    """The large accuracy case's environment under ``root`` (reused when already built)."""
    from accuracy.cases import LARGE
    from accuracy.wheels import conda_name, fetch_wheels, python_package, wheel_to_package
    from builder import Installation

    prefix = root / "inst" / "base" / "envs" / "closure"
    if (prefix / "conda-meta").is_dir():
        return prefix
    pins = [*LARGE.env, *MORE]
    wheels = fetch_wheels(pins)
    inst = Installation(root / "inst")
    out = inst.channel / "linux-64"
    available = {conda_name(p.split("==")[0]) for p in pins} | {"python"}
    names = ["python"]
    for wheel in wheels:
        names.append(wheel_to_package(wheel, out, root / "stage", available).name)
    python_package(out, root / "stage")
    shutil.rmtree(root / "stage", ignore_errors=True)
    return inst.create_env("closure", names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "bench-closure")
    args = parser.parse_args(argv)

    from conda_prune.appscan import scan_app
    from conda_prune.env_prune.closure import import_closure
    from conda_prune.graph import DependencyGraph
    from conda_prune.records import read_environment

    started = time.perf_counter()
    prefix = build(args.root)
    print(f"environment: {prefix} (ready in {time.perf_counter() - started:.0f} s); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    app = args.root / "app"
    app.mkdir(exist_ok=True)
    (app / "main.py").write_text(APP)

    started = time.perf_counter()
    env = read_environment(prefix)
    graph = DependencyGraph.build(env)
    scan = scan_app([app], cache_dir=None)
    print(f"{len(graph.nodes)} packages; records, graph and app scan read in {time.perf_counter() - started:.2f} s "
          "(not part of the closure)")

    first, cached, phases_first, phases_cached = [], [], [], []
    closure = None
    for _ in range(args.repeat):
        cache = Path(tempfile.mkdtemp(prefix="closure-cache-"))
        try:
            t = time.perf_counter()
            closure = import_closure(env, scan, graph, cache_dir=cache)
            first.append(time.perf_counter() - t)
            phases_first.append(closure.stats.seconds)
            t = time.perf_counter()
            again = import_closure(env, scan, graph, cache_dir=cache)
            cached.append(time.perf_counter() - t)
            phases_cached.append(again.stats.seconds)
            assert again.stats.files_read == 0, "the cached run read files"
            assert again.needed.keys() == closure.needed.keys()
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    assert closure is not None
    stats = closure.stats
    print(f"reached {stats.modules} modules, read {stats.files_read} installed files; "
          f"{len(closure.needed)} packages loaded at import time, {len(closure.on_demand)} on demand")

    def split(runs: list[dict[str, float]]) -> str:
        keys = sorted({k for r in runs for k in r})
        return ", ".join(f"{k} {statistics.median(r.get(k, 0.0) for r in runs):.3f}" for k in keys)

    f, c = statistics.median(first), statistics.median(cached)
    print(f"first run  (empty cache): median {f:.3f} s over {args.repeat} [{split(phases_first)}]")
    print(f"cached run              : median {c:.3f} s over {args.repeat} [{split(phases_cached)}]")
    print(f"targets: first < {FIRST_TARGET} s: {'met' if f < FIRST_TARGET else 'MISSED'}; "
          f"cached < {CACHED_TARGET} s: {'met' if c < CACHED_TARGET else 'MISSED'}")

    try:
        from modulegraph.modulegraph import ModuleGraph
    except ImportError:
        print("modulegraph not importable: no comparison")
        return 0
    site = next(prefix.glob("lib/python*/site-packages"))
    times = []
    for _ in range(max(1, args.repeat // 2)):
        t = time.perf_counter()
        stdlib = [p for p in sys.path if "site-packages" not in p and os.path.isdir(p)]
        graph_mg = ModuleGraph(path=[str(site), *stdlib])
        try:
            graph_mg.run_script(str(app / "main.py"))
        except RecursionError:
            print(f"modulegraph: RecursionError after {time.perf_counter() - t:.1f} s (its syntax-tree walk recurses)")
            return 0
        times.append(time.perf_counter() - t)
    nodes = sum(1 for _ in graph_mg.flatten())
    print(f"modulegraph 0.19 on the same app: median {statistics.median(times):.3f} s ({nodes} nodes, no cache)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
