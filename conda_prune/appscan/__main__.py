"""``python -m conda_prune.appscan PATH...``: what an application uses, without an environment.

A tool for checking the scanner (and for the benchmark): prints how many files were read, how
many came from the cache, the uses by kind, and the time the scan took.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from . import scan_app

    parser = argparse.ArgumentParser(prog="python -m conda_prune.appscan", description=__doc__)
    parser.add_argument("paths", nargs="+", metavar="PATH")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--cache-dir", type=Path, help="keep the per-file cache here (default: the user cache folder)")
    where.add_argument("--no-cache", action="store_true", help="read every file, keep no cache")
    parser.add_argument("--json", action="store_true", help="print every use as JSON")
    parser.add_argument("--check-syntax", action="store_true",
                        help="also parse every Python file whose parse is not known yet, as prune --app does")
    args = parser.parse_args(argv)
    for path in args.paths:
        if not Path(path).exists():
            print(f"{path}: no such file or folder", file=sys.stderr)
            return 2
    kwargs: dict = {"cache_dir": None} if args.no_cache else {"cache_dir": args.cache_dir} if args.cache_dir else {}
    if args.check_syntax:
        kwargs["check_syntax"] = True
    start = time.perf_counter()
    scan = scan_app(args.paths, **kwargs)
    elapsed = time.perf_counter() - start
    if args.json:
        uses = sorted((u.kind, u.name, u.location, u.how, u.optional) for u in scan.uses)
        json.dump({"files": scan.files, "cached": scan.cached, "uses": uses, "seconds": elapsed}, sys.stdout, indent=1)
        print()
    else:
        kinds = Counter(u.kind for u in scan.uses)
        shown = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        print(f"{scan.files} files ({scan.cached} from the cache), {shown}, {len(scan.names)} names; {elapsed:.3f} s")
        for problem in scan.problems:
            print(f"  {problem}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
