"""How long reading the native libraries of an environment takes, first and from the cache.

Builds (offline, with py-rattler-build and py-rattler) an environment from the binary wheels
the accuracy suite keeps in its cache folder (numpy, scipy, pandas, pyarrow, h5py, tables,
scikit-learn, matplotlib, pillow, lxml...: each wheel a conda package, as the accuracy suite
makes them; see tests/accuracy/wheels.py), plus the pure-Python ones, then times the
native-library expander over every package of it:

    first run   no cache: every file that may be ELF is opened, every ELF file parsed
    cached run  the per-file cache of the first run, every file unchanged

and prints files, ELF files, what they load, and the medians. Fetch the wheels once with
``python -m pytest -m accuracy`` (or set CONDA_PRUNE_ACCURACY_CACHE to a folder of wheels).

    python bench/bench_native_libraries.py [--repeat 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent))


def build(root: Path) -> Path | None:
    from accuracy.wheels import cache_dir, conda_name, python_package, wheel_to_package
    from builder import Installation

    wheels = sorted((cache_dir() / "wheels").glob("*.whl"))
    if not any("manylinux" in w.name for w in wheels):
        return None
    inst = Installation(root / "inst")
    out = inst.channel / "linux-64"
    names = {conda_name(w.name.split("-")[0]) for w in wheels} | {"python"}
    packages = ["python"]
    for wheel in wheels:
        packages.append(wheel_to_package(wheel, out, root / "stage", names).name)
    python_package(out, root / "stage")
    return inst.create_env("bench", packages)


def run(prefix: Path, cache: Path | None):
    from conda_prune.env_prune.native import NativeLibraries
    from conda_prune.graph import DependencyGraph
    from conda_prune.records import read_environment

    env = read_environment(prefix)
    graph = DependencyGraph.build(env)
    started = time.perf_counter()
    native = NativeLibraries(env, graph, cache_dir=cache)
    loads = native(frozenset(graph.nodes))
    # what every package loads, even the ones already needed: ask again with each left out
    edges = sum(len(found) for found in native._loads.values())
    return time.perf_counter() - started, native, loads, edges, graph


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build into this folder and leave it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-native-"))
    try:
        t0 = time.perf_counter()
        prefix = build(root)
        if prefix is None:
            print("no binary wheels in the accuracy suite's cache folder: run `python -m pytest -m accuracy` once")
            return 0
        print(f"built {prefix} in {time.perf_counter() - t0:.1f} s")
        files = sum(1 for p in prefix.rglob("*") if p.is_file())
        first, cached = [], []
        for n in range(args.repeat):
            cache = root / f"cache-{n}"
            seconds, native, _, edges, graph = run(prefix, cache)
            first.append(seconds)
            seconds, again, _, _, _ = run(prefix, cache)
            cached.append(seconds)
            assert again.files_read == 0, "the cached run read files again"
        opened = native.files_read
        elf = sum(1 for entry in native._cache.entries.values() if isinstance(entry[2], list))
        print(f"{len(graph.nodes)} packages, {files} files, {opened} opened (the rest are never ELF by name), "
              f"{elf} ELF files, {edges} package -> package loads, {len(native.problems)} problems")
        print(f"first run   {statistics.median(first) * 1000:8.1f} ms (median of {args.repeat})")
        print(f"cached run  {statistics.median(cached) * 1000:8.1f} ms (median of {args.repeat}), "
              f"{statistics.median(first) / statistics.median(cached):.1f}x faster")
        for key in sorted(native._loads):
            for child, why in sorted(native._loads[key].items())[:1]:
                print(f"  {graph.nodes[key].name} -> {graph.nodes[child].name}: {why[0]}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
