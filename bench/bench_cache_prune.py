"""Benchmark: ``conda prune --dry-run --json`` against ``conda clean --packages --dry-run --json``.

Generates a real installation with the test fixture builder (real .conda packages, a local
channel, a package cache, environments linked by hardlink, symlink and copy, some removed),
then times both commands side by side in one run, alternating, on the same installation, and
prints medians, the ratio and each command's peak memory (max RSS).

    python bench/bench_cache_prune.py                       # 2,000 entries, ~300,000 files, 10 envs
    python bench/bench_cache_prune.py --entries 300 --files 30000 --repeat 3   # a quick look

The installation is kept under bench/.work/ and reused when its parameters match
(--rebuild forces a new one). Needs py-rattler, py-rattler-build and, for the comparison,
conda importable by this interpreter.
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
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent))

from builder import Installation  # noqa: E402


def build(root: Path, entries: int, files: int, envs: int, removed: int, seed: int) -> Installation:
    rng = random.Random(seed)
    inst = Installation(root)
    per_package = max(files // entries, 1)
    names = [f"pkg{i:04d}" for i in range(entries)]
    started = time.time()
    built = []
    for i, name in enumerate(names):
        n_files = max(1, int(rng.gauss(per_package, per_package / 3)))
        depends = sorted({rng.choice(names[:i]) for _ in range(rng.randint(0, 3))}) if i > 10 else []
        contents = {f"lib/{name}/m{j % 9}/f{j}.py": os.urandom(rng.randint(50, 600)).hex() for j in range(n_files)}
        version = f"{1 + i % 3}.{i % 7}"
        if i % 10 == 0:
            contents["bin/" + name] = "#!/bin/sh\n"
            contents["bin/" + name + "-alias"] = "#!/bin/sh\n"
        if i % 25 == 0:
            built.append(inst.package(name, version, files={}, depends=depends, metadata_only=True))
        else:
            built.append(inst.package(name, version, depends=depends, files=contents))
        if i and i % 200 == 0:
            print(f"  built {i}/{entries} packages ({time.time() - started:.0f} s)", file=sys.stderr)
    inst.index()
    links = ["hardlink"] * max(envs - 3, 1) + ["symlink", "copy", "hardlink"]
    for k in range(envs):
        tops = rng.sample(names[entries // 2:], k=min(12, entries // 2))
        inst.create_env(f"env{k}", tops, link=links[k % len(links)])
        print(f"  created env{k} ({links[k % len(links)]})", file=sys.stderr)
    for k in range(removed):
        inst.remove_env(f"env{k}", unregister=k % 2 == 0)  # some stay listed in environments.txt
    for pkg in built:
        inst.extract_to_cache(pkg)  # downloaded once and never linked, or linked by a removed env
    inst.add_conda_cache_files()
    return inst


def bench_environ(inst: Installation) -> dict[str, str]:
    """The installation's variables, minus PYTHONDONTWRITEBYTECODE: an installed conda-prune has
    its byte code cached as conda has, so neither command pays for compiling on every run."""
    env = inst.environ()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def count_files(path: Path) -> int:
    return sum(len(f) for _, _, f in os.walk(path))


class Run(NamedTuple):
    seconds: float  # wall time
    rss_mb: int  # peak RSS, measured by /usr/bin/time on the command alone
    stdout: str
    cpu_seconds: float  # user + system: steadier than wall time on a busy machine


def timed(cmd: list[str], env: dict[str, str]) -> Run:
    with tempfile.NamedTemporaryFile("r") as usage:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-q", "-f", "%M %U %S", "-o", usage.name, *cmd], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
        rss, user, system = usage.read().strip().splitlines()[-1].split()
        return Run(elapsed, int(rss) // 1024, proc.stdout.decode(), float(user) + float(system))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=2000)
    ap.add_argument("--files", type=int, default=320_000)
    ap.add_argument("--envs", type=int, default=10)
    ap.add_argument("--removed", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", type=Path, default=HERE / ".work")
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()

    try:
        import conda  # noqa: F401
        have_conda = True
    except ImportError:
        have_conda = False

    root = args.work / f"cache-{args.entries}-{args.files}-{args.envs}-{args.removed}-{args.seed}"
    if args.rebuild and root.exists():
        shutil.rmtree(root)
    if not (root / "done").exists():
        if root.exists():
            shutil.rmtree(root)
        print(f"generating the installation in {root} ...", file=sys.stderr)
        build(root, args.entries, args.files, args.envs, args.removed, args.seed)
        (root / "done").write_text("")
    inst = Installation(root)
    env = bench_environ(inst)
    entries = sum(1 for p in inst.pkgs.iterdir() if (p / "info").is_dir())
    cache_files = count_files(inst.pkgs)
    envs = sum(1 for p in inst.envs_dir.iterdir() if p.is_dir())
    print(f"installation: {entries} cache entries, {cache_files} files in the cache, {args.envs} environments "
          f"created and {args.removed} of them removed ({envs} remain), {count_files(inst.envs_dir)} files in environments")

    ours_conda = [sys.executable, "-m", "conda", "prune", "--dry-run", "--json", "--quiet"]
    ours_alone = [sys.executable, "-m", "conda_prune", "prune", "--dry-run", "--json", "--quiet"]
    clean = [sys.executable, "-m", "conda", "clean", "--packages", "--dry-run", "--json"]
    commands = {"conda-prune (standalone)": ours_alone}
    if have_conda:
        commands = {"conda prune": ours_conda, "conda clean --packages": clean, **commands}
    else:
        print("conda is not importable here: timing the standalone script only (no ratio)")

    times: dict[str, list[float]] = {k: [] for k in commands}
    rss: dict[str, int] = dict.fromkeys(commands, 0)
    outputs: dict[str, str] = {}
    for name, cmd in commands.items():  # warm-up: same page cache for everyone
        timed(cmd, env)
    for _ in range(args.repeat):
        for name, cmd in commands.items():
            t, mb, out, _ = timed(cmd, env)
            times[name].append(t)
            rss[name] = max(rss[name], mb)
            outputs[name] = out

    print(f"\n{'command':<28}{'median s':>10}{'min s':>9}{'peak MB':>9}")
    for name in commands:
        print(f"{name:<28}{statistics.median(times[name]):>10.2f}{min(times[name]):>9.2f}{rss[name]:>9}")
    if have_conda:
        ratio = statistics.median(times["conda prune"]) / statistics.median(times["conda clean --packages"])
        ours = json.loads(outputs["conda prune"])
        theirs = json.loads(outputs["conda clean --packages"])["packages"]
        print(f"\nratio conda prune / conda clean: {ratio:.2f} (target <= 0.30)")
        print(f"peak memory of conda prune: {rss['conda prune']} MB (target < 300 MB)")
        print(f"conda prune would remove {len(ours['remove'])} entries, freeing {ours['reclaimable_bytes'] / 2**20:.1f} MiB "
              f"of blocks; conda clean would remove {sum(len(v) for v in theirs['pkgs_dirs'].values())} entries "
              f"and reports {theirs['total_size'] / 2**20:.1f} MiB of apparent size")
    return 0


if __name__ == "__main__":
    sys.exit(main())
