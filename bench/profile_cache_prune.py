"""Profile ``conda prune --dry-run --json`` on a shape of bench/bench_cache_shapes.py.

Runs the whole command (conda's start-up included) under cProfile and prints the functions
that cost most, by own time and by cumulative time; with ``--pyinstrument`` (when it is
installed) also pyinstrument's call tree. Then lists what ``-X importtime`` says the command
imports that a JSON run does not need to (rich), and how long conda-prune's own imports take.

    python bench/profile_cache_prune.py                  # the in-use shape, generated if needed
    python bench/profile_cache_prune.py --shape unused --top 40 --pyinstrument
"""

from __future__ import annotations

import argparse
import pstats
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_cache_prune import bench_environ  # noqa: E402
from bench_cache_shapes import PRUNE, SHAPES, installation  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=list(SHAPES), default="in-use")
    ap.add_argument("--root", type=Path, default=HERE / ".work")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--pyinstrument", action="store_true", help="also print pyinstrument's call tree")
    args = ap.parse_args()
    inst = installation(args.root, args.shape, rebuild=False)
    env = bench_environ(inst)
    python, command = PRUNE[0], PRUNE[1:]

    subprocess.run(PRUNE, env=env, check=True, stdout=subprocess.DEVNULL)  # warm the page cache
    with tempfile.TemporaryDirectory() as tmp:
        prof = Path(tmp) / "prune.prof"
        subprocess.run([python, "-m", "cProfile", "-o", str(prof), *command], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        stats = pstats.Stats(str(prof))
        stats.strip_dirs()
        print(f"== cProfile of {' '.join(['python', *command])} ({args.shape} shape), by own time")
        stats.sort_stats("tottime").print_stats(args.top)
        print("== by cumulative time")
        stats.sort_stats("cumulative").print_stats(args.top)

        if args.pyinstrument:
            subprocess.run([python, "-m", "pyinstrument", "-r", "text", "-i", "0.001",
                            "-o", str(Path(tmp) / "tree.txt"), *command], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            print("== pyinstrument")
            print((Path(tmp) / "tree.txt").read_text())

    imports = subprocess.run([python, "-X", "importtime", *command], env=env, check=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True).stderr
    rows = [(int(own), int(cum), len(indent), name) for own, cum, indent, name in
            re.findall(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", imports)]
    ours = sum(own for own, _, _, name in rows if name.startswith("conda_prune"))
    print(f"== imports: conda_prune's own modules {ours / 1e6:.3f} s (own time)")
    # a module's line follows the lines of what it imported: rich's importer is the next line up a level
    for i, (_, cum, depth, name) in enumerate(rows):
        if name.split(".")[0] != "rich":
            continue
        importer = next((r[3] for r in rows[i + 1:] if r[2] < depth), "")
        if importer.split(".")[0] != "rich":
            print(f"   {name} imported by {importer or 'the command'}: {cum / 1e6:.3f} s cumulative")
    return 0


if __name__ == "__main__":
    sys.exit(main())
