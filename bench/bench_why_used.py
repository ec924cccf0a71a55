"""How long ``conda why-used`` takes next to ``conda list`` on the same environment.

Builds (offline, with py-rattler-build and py-rattler) an installation holding one environment of
500 conda packages with a layered dependency graph shaped like a real one (a few low-level
libraries everything needs, a python stack in the middle, applications on top) plus 30 pip
distributions with Requires-Dist (some behind markers), then times, in one run and through real
conda in subprocesses:

    python -m conda why-used PKG -n bench      (PKG: the package with the most dependents)
    python -m conda list -n bench

Each is run several times, interleaved; the medians and their ratio are printed. The target is a
ratio of at most 1.0: explaining one package costs no more than listing them all.

    python bench/bench_why_used.py [--packages 500] [--pip 30] [--repeat 7] [--keep DIR]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent))


def conda_importable() -> bool:
    try:
        import conda.base.context  # noqa: F401
    except ImportError:
        return False
    return True


def build(root: Path, n_packages: int, n_pip: int, seed: int = 7):
    """The installation, the environment's prefix, and the most depended-upon package."""
    from builder import Installation

    rng = random.Random(seed)
    inst = Installation(root)
    # layers: base libraries, python, python libraries, applications
    n_base = max(n_packages // 10, 5)
    n_apps = max(n_packages // 10, 5)
    n_py = n_packages - n_base - n_apps - 2
    base = [f"lib{i:03d}" for i in range(n_base)]
    pylibs = [f"py-lib{i:03d}" for i in range(n_py)]
    apps = [f"app{i:03d}" for i in range(n_apps)]
    weights = [1 / (i + 1) for i in range(n_packages)]  # early (low-level) packages are popular

    def pick(pool: list[str], k: int) -> list[str]:
        chosen: set[str] = set()
        w = weights[: len(pool)]
        while len(chosen) < min(k, len(pool)):
            chosen.add(rng.choices(pool, weights=w)[0])
        return sorted(chosen)

    def files_for(name: str, count: int) -> dict[str, str]:
        return {f"share/{name}/data{j:03d}.txt": f"{name} {j}\n" for j in range(count)}

    for i, name in enumerate(base):
        deps = pick(base[:i], rng.randint(0, 3)) if i else []
        inst.package(name, f"1.{i}.0", "h0", depends=[f"{d} >=1.0" for d in deps], files=files_for(name, rng.randint(5, 40)))
    inst.package("python", "3.11.8", "h0_cpython", depends=[f"{d} >=1.0" for d in pick(base, 6)],
                 files={**files_for("python", 60), "lib/python3.11/os.py": "# os\n"})
    inst.package("pip", "24.0", "pyh0", depends=["python >=3.8"], python_modules=["pip"])
    for i, name in enumerate(pylibs):
        deps = ["python >=3.11,<3.12", *pick(pylibs[:i], rng.randint(0, 5)), *pick(base, rng.randint(0, 2))]
        module = name.replace("-", "_")
        inst.package(name, f"2.{i}.0", "py311_0", depends=deps, python_modules=[module],
                     files=files_for(name, rng.randint(5, 30)))
    for i, name in enumerate(apps):
        deps = [*pick(pylibs, rng.randint(2, 8)), *pick(base, rng.randint(0, 2))]
        inst.package(name, f"3.{i}.0", "py311_0", depends=deps, files=files_for(name, rng.randint(5, 20)))

    requested = [*apps, "pip"]
    everything = [*base, "python", "pip", *pylibs, *apps]  # install all; history names the apps
    prefix = inst.create_env("bench", everything, requested=requested)

    pip_names = [f"pip-dist{i:02d}" for i in range(n_pip)]
    for i, name in enumerate(pip_names):
        requires = [f"{d}>=1" for d in pick(pip_names[:i], rng.randint(0, 3))]
        requires += [f"{d.replace('py-', 'py_')}>=1" for d in pick(pylibs, rng.randint(0, 2))]
        if i % 5 == 0:
            requires.append('pywin-only ; sys_platform == "win32"')
        info = inst.pip_install(prefix, name, "1.0", [name.replace("-", "_")], requires, requested=i >= n_pip - 8)
        write_real_record(info)

    from conda_prune.graph import DependencyGraph
    from conda_prune.records import read_environment

    graph = DependencyGraph.build(read_environment(prefix))
    target = max(graph.nodes, key=lambda k: (len(graph.parents[k]), k))
    return inst, prefix, graph.nodes[target].name, len(graph.nodes)


def write_real_record(info: Path) -> None:
    """RECORD with real hashes and sizes, as pip writes it (conda list parses them)."""
    site = info.parent
    lines = []
    for line in (info / "RECORD").read_text().splitlines():
        rel = line.split(",", 1)[0]
        path = site / rel
        if rel.endswith("RECORD") or not path.is_file():
            lines.append(f"{rel},,")
            continue
        data = path.read_bytes()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{rel},sha256={digest},{len(data)}")
    (info / "RECORD").write_text("\n".join(lines) + "\n")


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[2:])} failed ({done.returncode}):\n{done.stderr}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=500)
    parser.add_argument("--pip", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", metavar="DIR", help="build the installation in DIR and keep it")
    args = parser.parse_args(argv)

    if not conda_importable():
        print("conda is not importable in this interpreter; nothing to compare against (skipped)")
        return 0

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-why-used-"))
    try:
        start = time.perf_counter()
        inst, prefix, target, nodes = build(root / "inst", args.packages, args.pip)
        print(f"built {args.packages} conda packages + {args.pip} pip distributions in "
              f"{time.perf_counter() - start:.1f} s ({nodes} graph nodes); explaining {target!r}")
        env = inst.environ()
        why = [sys.executable, "-m", "conda", "why-used", target, "-n", "bench"]
        lst = [sys.executable, "-m", "conda", "list", "-n", "bench"]
        timed(why, env), timed(lst, env)  # warm the file cache and the byte-code cache
        why_times, list_times = [], []
        for _ in range(args.repeat):
            why_times.append(timed(why, env))
            list_times.append(timed(lst, env))
        w, c = statistics.median(why_times), statistics.median(list_times)
        print(f"conda why-used {target}: median {w:.3f} s over {args.repeat} runs "
              f"(min {min(why_times):.3f}, max {max(why_times):.3f})")
        print(f"conda list:{' ' * (len(target) + 5)}median {c:.3f} s over {args.repeat} runs "
              f"(min {min(list_times):.3f}, max {max(list_times):.3f})")
        print(f"ratio why-used / list: {w / c:.2f} ({'meets' if w <= c else 'misses'} the target of at most 1.00)")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
