"""What ``--trace``'s recorder costs the traced program: Python start-up, and an import-heavy run.

    python bench/bench_trace.py [--repeat 15]

The environment traced is the one this interpreter runs in (``sys.prefix``). Each repetition
runs, as separate processes and alternating, the same command plain and under the recorder
(``conda_prune.trace.trace_environ``: the hook first on ``PYTHONPATH``, a fresh output folder):

* ``python -c pass``: start-up alone (the recorder's install, its start-up record, its record at exit);
* ``python -c "import <30 standard modules>"``: many imports, so many ``open`` audit events.

It prints the median wall time of each, the difference per process, and the size of the records.
The machine is shared and noisy: medians of several repetitions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conda_prune.trace import trace_environ  # noqa: E402

MODULES = ("json", "email.parser", "http.client", "xml.dom.minidom", "asyncio", "decimal", "fractions",
           "statistics", "csv", "sqlite3", "logging.handlers", "argparse", "tarfile", "zipfile", "gzip",
           "unittest", "difflib", "inspect", "dataclasses", "typing", "pathlib", "tempfile", "shutil",
           "subprocess", "urllib.request", "html.parser", "configparser", "pickle", "uuid", "ssl")
COMMANDS = {"start-up": "pass", "30 imports": "import " + ", ".join(MODULES)}


def timed(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    prefix = Path(sys.prefix)
    print(f"python {sys.version.split()[0]} in {prefix}, {args.repeat} repetitions, medians")
    with tempfile.TemporaryDirectory(prefix="bench-trace-") as tmp:
        for label, code in COMMANDS.items():
            plain, traced, sizes = [], [], []
            for n in range(args.repeat):
                out = Path(tmp) / f"{label}-{n}"
                out.mkdir()
                env = trace_environ(prefix, out, base)
                order = [(plain, base), (traced, env)] if n % 2 else [(traced, env), (plain, base)]
                for times, variables in order:
                    times.append(timed(code, variables))
                sizes += [p.stat().st_size for p in out.glob("*.json")]
            a, b = statistics.median(plain), statistics.median(traced)
            print(f"{label:>11}: plain {a * 1000:6.1f} ms, traced {b * 1000:6.1f} ms "
                  f"(+{(b - a) * 1000:.1f} ms, x{b / a:.2f}); record {statistics.median(sizes) / 1024:.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
