"""Benchmark of issue 9: ``conda prune --dry-run --json`` against
``conda clean --packages --dry-run --json`` on two shapes of installation, cold and warm.

Shapes (real installations made with tests/builder.py: real .conda packages, a local channel,
a package cache with tarballs, urls.txt and repodata_record.json, real environments):

* ``in-use``: an installation as conda leaves it after a while: about 2,589 cache items
  (1,294 extracted entries and their tarballs), about 269,560 files in the cache, 6
  environments (the root prefix and 5 more, all hardlinked) with about 275,115 files; 90 %
  of the entries in use, the rest older builds of installed packages.
* ``unused``: the project's benchmark (bench/bench_cache_prune.py, default sizes): 2,000
  entries, ~320,000 files, 10 environments linked by hardlink, symlink and copy, 3 removed;
  about 75 % of the entries go.

For each shape and each of two modes the two commands run alternated (A B A B ...):

* ``cold``: a fresh, empty ``XDG_CACHE_HOME`` for every run (whatever conda-prune keeps there
  is gone);
* ``warm``: one ``XDG_CACHE_HOME`` for all runs, after one warm-up run (nothing changed in
  between).

In both modes the operating system's page cache is warm (one run of each command first):
"cold" is about conda-prune's own cache, not the disk. Printed: medians, the per-pair
ratios and their median, peak memory (max RSS of each command, from ``/usr/bin/time``), the
start-up floor (``--help``) against each target in seconds, and the time of each phase of
the plan, measured in this process by calling the library functions in the order the plan
calls them (listing the caches, discovering and reading the environments' records, the
symlink walk, the stat of what goes), then the whole plan in one process and as the command
runs it, with its second process walking and measuring beside it (and how long it waits for
that process's answers).

    python bench/bench_cache_shapes.py                    # both shapes, 5 pairs per mode
    python bench/bench_cache_shapes.py --shape in-use --repeat 7
    python bench/bench_cache_shapes.py --root /scratch/bench --save results.json

Generated installations are kept under ``--root`` (default bench/.work/) and reused while
their parameters match (``--rebuild`` makes them anew). Generating both takes a few minutes.
Needs py-rattler, py-rattler-build and conda importable by this interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_cache_prune import Run, bench_environ, count_files, timed  # noqa: E402  (also sets sys.path)
from bench_cache_prune import build as build_project_benchmark  # noqa: E402
from builder import Installation  # noqa: E402

# -- the shapes ----------------------------------------------------------------------------------

IN_USE = {"packages": 1294, "cache_files": 269_560, "envs": 6, "env_files": 275_115, "unused": 0.10, "seed": 9}
UNUSED = {"entries": 2000, "files": 320_000, "envs": 10, "removed": 3, "seed": 1}
# files per extracted entry besides its payload (info/index.json, info/paths.json,
# info/repodata_record.json) plus its tarball
OVERHEAD = 4


def build_in_use(root: Path, packages: int, cache_files: int, envs: int, env_files: int, unused: float,
                 seed: int) -> Installation:
    """Most entries in use: every environment hardlinked (conda's default), a core of packages
    in all of them and the rest in one each, and the unused share made of older builds of
    installed packages (what updates leave behind). File counts are heavy-tailed, as real
    packages are, and scaled so the totals land on the targets."""
    rng = random.Random(seed)
    inst = Installation(root)
    n_old = round(packages * unused)
    n_new = packages - n_old
    payload = cache_files - 1 - OVERHEAD * packages  # 1: urls.txt
    metadata_only = set(rng.sample(range(packages), k=packages // 50))  # mutexes, blas variants
    weights = [0.0 if i in metadata_only else rng.lognormvariate(0, 1.1) for i in range(packages)]
    scale = payload / sum(weights)
    counts = [0 if i in metadata_only else max(1, round(w * scale)) for i, w in enumerate(weights)]
    names = [f"lib{i:04d}" for i in range(n_new)]
    # old builds: a lower version of an installed name
    old_names = rng.sample(names, k=n_old)

    # which environments get which package: a core in all, the rest spread one each
    order = list(range(n_new))
    rng.shuffle(order)
    in_use_files = sum(counts[i] + 1 for i in range(n_new))  # +1: its conda-meta record
    extra = env_files - envs - in_use_files  # envs: one history file each
    core: list[int] = []
    while order and extra > 0:
        i = order.pop()
        core.append(i)
        extra -= (envs - 1) * (counts[i] + 1)
    prefixes = ["base"] + [f"env{k}" for k in range(1, envs)]
    members: dict[str, list[int]] = {p: list(core) for p in prefixes}
    for n, i in enumerate(order):
        members[prefixes[n % envs]].append(i)

    started = time.time()
    dists: list[str] = []
    old_pkgs = []
    for i in range(packages):
        new = i < n_new
        name = names[i] if new else old_names[i - n_new]
        version = f"{2 + i % 5}.{i % 11}" if new else "1.0"
        contents = {f"lib/{name}/m{j % 9}/f{j}.py": os.urandom(rng.randint(50, 600)).hex()
                    for j in range(counts[i])}
        pkg = inst.package(name, version, build=f"h{i:x}_0", files=contents, metadata_only=i in metadata_only)
        (dists if new else old_pkgs).append(pkg.dist if new else pkg)
        if i and i % 200 == 0:
            print(f"  built {i}/{packages} packages ({time.time() - started:.0f} s)", file=sys.stderr)
    inst.index()
    for prefix in prefixes:
        inst.create_env(prefix, [dists[i] for i in members[prefix]])
        print(f"  created {prefix} ({len(members[prefix])} packages)", file=sys.stderr)
    for pkg in old_pkgs:
        inst.extract_to_cache(pkg)
    inst.add_conda_cache_files()
    for lock in inst.pkgs.glob("*.lock"):  # rattler's; conda writes none (and .cache.lock)
        lock.unlink()
    for lock in inst.pkgs.glob(".*.lock"):
        lock.unlink()
    return inst


def build_unused(root: Path, entries: int, files: int, envs: int, removed: int, seed: int) -> Installation:
    return build_project_benchmark(root, entries, files, envs, removed, seed)


SHAPES: dict[str, tuple[dict, Callable[..., Installation]]] = {
    "in-use": (IN_USE, build_in_use),
    "unused": (UNUSED, build_unused),
}


def installation(root: Path, shape: str, rebuild: bool) -> Installation:
    params, builder = SHAPES[shape]
    where = root / (f"shape-{shape}-" + "-".join(str(v) for v in params.values()))
    if rebuild and where.exists():
        shutil.rmtree(where)
    if not (where / "done").exists():
        if where.exists():
            shutil.rmtree(where)
        print(f"generating the {shape} installation in {where} ...", file=sys.stderr)
        started = time.time()
        builder(where, **params)
        shutil.rmtree(where / "stage", ignore_errors=True)
        (where / "done").write_text(json.dumps(params))
        print(f"  generated in {time.time() - started:.0f} s", file=sys.stderr)
    return Installation(where)


def describe(inst: Installation) -> dict[str, int]:
    prefixes = [inst.base] + [p for p in inst.envs_dir.iterdir() if (p / "conda-meta").is_dir()]
    env_files = sum(count_files(p) for p in prefixes[1:])
    env_files += sum(len(f) for d, _, f in os.walk(inst.base) if not d.startswith(str(inst.envs_dir)))
    return {
        "cache_items": len(os.listdir(inst.pkgs)),
        "entries": sum(1 for p in inst.pkgs.iterdir() if (p / "info").is_dir()),
        "cache_files": count_files(inst.pkgs),
        "environments": len(prefixes),
        "env_files": env_files,
    }


# -- timing the two commands ---------------------------------------------------------------------

PRUNE = [sys.executable, "-m", "conda", "prune", "--dry-run", "--json", "--quiet"]
CLEAN = [sys.executable, "-m", "conda", "clean", "--packages", "--dry-run", "--json"]


def pairs(env: dict[str, str], mode: str, repeat: int, scratch: Path) -> dict:
    """``repeat`` alternated runs of each command: wall and CPU times, per-pair ratios, peak memory."""
    warm_home = scratch / f"xdg-{mode}"
    warm_home.mkdir(parents=True, exist_ok=True)

    def run(cmd: list[str]) -> Run:
        if mode == "cold":
            home = Path(tempfile.mkdtemp(prefix="xdg-cold-", dir=scratch))
            try:
                return timed(cmd, {**env, "XDG_CACHE_HOME": str(home)})
            finally:
                shutil.rmtree(home, ignore_errors=True)
        return timed(cmd, {**env, "XDG_CACHE_HOME": str(warm_home)})

    run(PRUNE)  # warm: fills conda-prune's cache; cold: the same page cache for both
    run(CLEAN)
    runs: dict[str, list[Run]] = {"prune": [], "clean": []}
    for _ in range(repeat):
        runs["prune"].append(run(PRUNE))
        runs["clean"].append(run(CLEAN))
    figures: dict = {}
    for cmd, done in runs.items():
        figures[f"{cmd}_s"] = [r.seconds for r in done]
        figures[f"{cmd}_cpu_s"] = [r.cpu_seconds for r in done]
        figures[f"{cmd}_median"] = statistics.median(figures[f"{cmd}_s"])
        figures[f"{cmd}_cpu_median"] = statistics.median(figures[f"{cmd}_cpu_s"])
        figures[f"{cmd}_rss_mb"] = max(r.rss_mb for r in done)
    figures["ratios"] = [a.seconds / b.seconds for a, b in zip(runs["prune"], runs["clean"], strict=True)]
    figures["ratio_median"] = statistics.median(figures["ratios"])
    figures["cpu_ratio_median"] = statistics.median(
        a.cpu_seconds / b.cpu_seconds for a, b in zip(runs["prune"], runs["clean"], strict=True))
    ours = json.loads(runs["prune"][-1].stdout)
    theirs = json.loads(runs["clean"][-1].stdout)["packages"]
    figures["prune_removes"] = len(ours["remove"])
    figures["clean_removes"] = sum(len(v) for v in theirs["pkgs_dirs"].values())
    return figures


def startup(env: dict[str, str], repeat: int) -> dict[str, float]:
    """The floor under every whole-process figure: conda parsing a command line and exiting."""
    floor = {}
    for name, cmd in (("conda prune --help", [*PRUNE[:4], "--help"]), ("conda clean --help", [*CLEAN[:4], "--help"])):
        floor[name] = statistics.median(timed(cmd, env).seconds for _ in range(repeat))
    return floor


# -- phases, in a fresh process each time ---------------------------------------------------------


def one_pass_of_phases(root: Path) -> dict[str, float]:
    """Seconds of each phase of the plan, called in the order plan_cache_prune calls them (the
    private functions are the plan's own steps; nothing is timed inside them), then the whole
    plan, then the stat of what it removes, then its JSON document."""
    import gc

    from conda_prune import cache_plan as cp
    from conda_prune import walker
    from conda_prune.caches import scan_cache
    from conda_prune.envs import discover
    from conda_prune.render.cache_json import plan_json
    from conda_prune.treestats import merge_stats

    locations = Installation(root).locations()
    seconds: dict[str, float] = {}

    def clock(name: str, fn: Callable[..., object], *args: object) -> object:
        start = time.perf_counter()
        value = fn(*args)
        seconds[name] = time.perf_counter() - start
        return value

    def listing() -> list:
        return [scan_cache(p) for p in locations.pkgs_dirs]

    def stat_of(plan: cp.CachePlan) -> list:
        return [merge_stats(d.paths) for d in plan.removals]

    def document(plan: cp.CachePlan) -> str:
        return json.dumps(plan_json(plan, dry_run=True, verbose=0))

    none = cp.no_progress
    caches = clock("listing (scan_cache)", listing)
    discovery = clock("discovery (discover)", discover, locations)
    clock("records (read_conda_meta)", cp.read_references, caches, discovery, [], [], none)
    clock("symlink walk", cp.symlinks_into_caches, discovery, caches, locations, none)
    del caches, discovery
    gc.collect()
    plan = clock("whole plan, one process", lambda: cp.plan_cache_prune(locations, second_process=False))
    clock("stat of what goes (tree_stats)", stat_of, plan)
    waited = []
    answer = walker.Helper.answer

    def timed_answer(self: walker.Helper) -> object:
        start = time.perf_counter()
        try:
            return answer(self)
        finally:
            waited.append(time.perf_counter() - start)

    walker.Helper.answer = timed_answer  # type: ignore[method-assign]
    plan = clock("whole plan (plan_cache_prune)", cp.plan_cache_prune, locations)
    walker.Helper.answer = answer  # type: ignore[method-assign]
    seconds["waiting for the walk (second process)"] = waited[0] if waited else 0.0
    seconds["waiting for its measuring"] = sum(waited[1:])
    clock("JSON document (plan_json)", document, plan)
    return seconds


def phases(inst: Installation, repeat: int) -> dict[str, float]:
    """Median of ``repeat`` passes, each in a new interpreter (a heap like the command's own)."""
    samples: dict[str, list[float]] = {}
    for _ in range(repeat):
        out = subprocess.run([sys.executable, __file__, "--phases-of", str(inst.root)],
                             check=True, stdout=subprocess.PIPE).stdout
        for name, value in json.loads(out).items():
            samples.setdefault(name, []).append(value)
    medians = {name: statistics.median(v) for name, v in samples.items()}
    steps = [k for k in medians if k.startswith(("listing", "discovery", "records", "symlink", "stat"))]
    medians["rest of the plan (decisions, links)"] = medians["whole plan, one process"] - sum(
        medians[k] for k in steps)
    return medians


# -- the report ----------------------------------------------------------------------------------


def report(shape: str, counts: dict, modes: dict[str, dict], floor: dict, phase: dict) -> None:
    print(f"\n== {shape}: {counts['cache_items']:,} cache items ({counts['entries']:,} extracted entries), "
          f"{counts['cache_files']:,} files in the cache, {counts['environments']} environments with "
          f"{counts['env_files']:,} files")
    print(f"{'mode':<6}{'prune s':>9}{'clean s':>9}{'ratio':>7}{'target':>8}{'cpu ratio':>10}  "
          f"{'per-pair ratios':<31}{'prune MB':>9}{'clean MB':>9}")
    for mode, m in modes.items():
        target = 1.0 if mode == "cold" else 0.8
        verdict = "ok" if m["ratio_median"] <= target else "MISS"
        per_pair = " ".join(f"{r:.2f}" for r in m["ratios"])
        print(f"{mode:<6}{m['prune_median']:>9.3f}{m['clean_median']:>9.3f}{m['ratio_median']:>7.2f}"
              f"{'<= ' + str(target):>8}{m['cpu_ratio_median']:>10.2f}  {per_pair:<31}"
              f"{m['prune_rss_mb']:>9}{m['clean_rss_mb']:>9}  {verdict}")
    m = next(iter(modes.values()))
    print(f"conda prune removes {m['prune_removes']:,} entries; conda clean --packages "
          f"{m['clean_removes']:,} folders")
    print("start-up floor: " + ", ".join(f"{k} {v:.3f} s" for k, v in floor.items()))
    clean_help = floor["conda clean --help"]
    for mode, m in modes.items():
        target = (1.0 if mode == "cold" else 0.8) * m["clean_median"]
        print(f"{mode}: the target is {target:.3f} s for the whole process; conda clean --help alone takes "
              f"{clean_help:.3f} s, which leaves {target - clean_help:.3f} s for the work")
    print(f"\n{'phase (in-process, cold, median)':<40}{'s':>8}{'share':>7}")
    serial = phase["whole plan, one process"]
    for name, seconds in phase.items():
        share = f"{seconds / serial:>7.0%}" if name.startswith(
            ("listing", "discovery", "records", "symlink", "stat", "rest")) else ""
        print(f"{name:<40}{seconds:>8.3f}{share}")
    whole = phase["whole plan (plan_cache_prune)"]
    cold = modes.get("cold") or m  # the phases are timed cold: set them against the cold runs
    rest = cold["prune_median"] - whole - phase["JSON document (plan_json)"]
    print(f"{'cold run minus plan and JSON (start-up)':<40}{rest:>8.3f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=[*SHAPES, "both"], default="both")
    ap.add_argument("--mode", choices=["cold", "warm", "both"], default="both")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each command per mode (default 5)")
    ap.add_argument("--root", type=Path, default=HERE / ".work", help="where generated installations are kept")
    ap.add_argument("--rebuild", action="store_true", help="generate the installations anew")
    ap.add_argument("--save", type=Path, help="also write every figure to this JSON file")
    ap.add_argument("--phases-of", type=Path, help=argparse.SUPPRESS)  # one pass, in a new process
    args = ap.parse_args()
    if args.phases_of:
        print(json.dumps(one_pass_of_phases(args.phases_of)))
        return 0
    shapes = list(SHAPES) if args.shape == "both" else [args.shape]
    modes = ["cold", "warm"] if args.mode == "both" else [args.mode]

    results = {}
    for shape in shapes:
        inst = installation(args.root, shape, args.rebuild)
        counts = describe(inst)
        env = bench_environ(inst)
        with tempfile.TemporaryDirectory(prefix="bench-xdg-") as scratch:
            timings = {mode: pairs(env, mode, args.repeat, Path(scratch)) for mode in modes}
        floor = startup(env, args.repeat)
        phase = phases(inst, args.repeat)
        report(shape, counts, timings, floor, phase)
        results[shape] = {"installation": counts, "modes": timings, "startup": floor, "phases": phase}
    if args.save:
        args.save.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
