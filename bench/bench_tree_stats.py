"""Micro-benchmark: does the size walk's safety cost anything?

``caches.tree_stats`` opens each folder with ``O_NOFOLLOW`` relative to its parent's
descriptor and lists it through that descriptor (a folder swapped for a symlink mid-walk is
never entered). This times it against two path-based ``os.scandir`` walks of the same trees:

* ``path twin``: the same loop, line for line, listing by path (``os.scandir(path)``; each
  ``DirEntry.stat`` then resolves the whole path again);
* ``path fallback``: ``caches._tree_stats_by_path``, the module's own walk for platforms
  without descriptor-relative calls.

Every entry of a package cache is one tree, as in the prune. The three walks run alternated,
``--repeat`` rounds, the page cache warm; their results are compared for equality. Two more
rows tell where the time goes and what threads would buy: the descriptor walk's listings
without a single stat, and ``tree_stats`` run over the entries by a thread pool (one
``TreeStats`` per entry; only the file count is compared).

    python bench/bench_tree_stats.py                      # the in-use shape's cache, if generated
    python bench/bench_tree_stats.py /path/to/pkgs --repeat 9
"""

from __future__ import annotations

import argparse
import os
import stat
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from conda_prune.treestats import DIR_FLAGS, TreeStats, _tree_stats_by_path, tree_stats  # noqa: E402


def path_twin(root: Path, into: TreeStats) -> TreeStats:
    """``tree_stats``'s loop with folders listed by path instead of through descriptors."""
    stats = into
    inodes = stats.inodes
    st = os.lstat(root)
    dirs_bytes = st.st_blocks * 512
    apparent = files = 0
    S_ISDIR = stat.S_ISDIR
    sep = os.sep
    stack = [str(root)]
    while stack:
        current = stack.pop()
        with os.scandir(current) as it:
            children = list(it)
        for child in children:
            cst = child.stat(follow_symlinks=False)
            if S_ISDIR(cst.st_mode):
                dirs_bytes += cst.st_blocks * 512
                stack.append(current + sep + child.name)
                continue
            files += 1
            apparent += cst.st_size
            key = (cst.st_dev, cst.st_ino)
            seen = inodes.get(key)
            if seen is None:
                inodes[key] = [1, cst.st_nlink, cst.st_blocks * 512, current + sep + child.name]
            else:
                seen[0] += 1
    stats.dirs_bytes += dirs_bytes
    stats.apparent_bytes += apparent
    stats.files += files
    return stats


WALKS = {
    "tree_stats (fd, O_NOFOLLOW)": lambda root, into: tree_stats(root, into=into),
    "path twin (scandir by path)": path_twin,
    "path fallback (_tree_stats_by_path)": lambda root, into: _tree_stats_by_path(root, os.lstat(root), into),
}


def listing_only(root: Path, into: TreeStats) -> TreeStats:
    """The descriptor walk's opens and listings, no stat: what the stat itself adds is the rest."""
    stack = [os.open(root, DIR_FLAGS)]
    while stack:
        fd = stack.pop()
        try:
            with os.scandir(fd) as it:
                for child in it:
                    if child.is_dir(follow_symlinks=False):
                        stack.append(os.open(child.name, DIR_FLAGS, dir_fd=fd))
                    else:
                        into.files += 1
        finally:
            os.close(fd)
    return into


def threaded(trees: list[Path], workers: int) -> int:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(s.files for s in pool.map(tree_stats, trees))


def default_cache() -> Path | None:
    found = sorted(HERE.glob(".work/shape-in-use-*/pkgs"))
    return found[0] if found else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cache", nargs="?", type=Path, help="a package cache (default: the in-use shape's)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="workers of the thread-pool row")
    args = ap.parse_args()
    cache = args.cache or default_cache()
    if cache is None:
        raise SystemExit("no cache given and none generated: run bench/bench_cache_shapes.py --shape in-use first")
    trees = sorted(p for p in cache.iterdir() if p.is_dir() and not p.is_symlink() and (p / "info").is_dir())

    times: dict[str, list[float]] = {name: [] for name in WALKS}
    results: dict[str, TreeStats] = {}
    for name, walk in WALKS.items():  # warm-up: the same page cache for all three
        results[name] = TreeStats()
        for tree in trees:
            walk(tree, results[name])
    for _ in range(args.repeat):
        for name, walk in WALKS.items():
            total = TreeStats()
            start = time.perf_counter()
            for tree in trees:
                walk(tree, total)
            times[name].append(time.perf_counter() - start)

    extra: dict[str, list[float]] = {"listing only (fd, no stat)": [], f"tree_stats, {args.threads} threads": []}
    counts = {}
    for _ in range(args.repeat):
        start = time.perf_counter()
        counts["listing"] = sum(listing_only(tree, TreeStats()).files for tree in trees)
        extra["listing only (fd, no stat)"].append(time.perf_counter() - start)
        start = time.perf_counter()
        counts["threads"] = threaded(trees, args.threads)
        extra[f"tree_stats, {args.threads} threads"].append(time.perf_counter() - start)

    first = next(iter(results.values()))
    same = all(
        (r.files, r.dirs_bytes, r.apparent_bytes, set(r.inodes) | r.single) == (first.files, first.dirs_bytes,
                                                                     first.apparent_bytes, set(first.inodes) | first.single)
        for r in results.values()
    ) and all(n == first.files for n in counts.values())
    print(f"{len(trees):,} trees, {first.files:,} files in {cache}; identical results: {same}")
    base = statistics.median(times["tree_stats (fd, O_NOFOLLOW)"])
    print(f"{'walk':<38}{'median s':>10}{'min s':>9}{'µs/file':>9}{'vs fd':>7}")
    for name, samples in {**times, **extra}.items():
        med = statistics.median(samples)
        print(f"{name:<38}{med:>10.3f}{min(samples):>9.3f}{med / first.files * 1e6:>9.2f}{med / base:>7.2f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
