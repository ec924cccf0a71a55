"""Build the small demo installation the README's examples were run on.

    python bench/demo.py /tmp/demo          # builds it, prints the variables to point conda at it
    eval "$(python bench/demo.py /tmp/demo --env)"; conda prune --dry-run

Real .conda packages from a local channel, installed into real environments: one linked by
hardlink (conda's default), one by symlink, one by copy, and one that was removed.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from builder import Installation  # noqa: E402


def build(root: Path) -> Installation:
    inst = Installation(root)
    mb = 1024 * 1024
    inst.package("python", "3.11.9", "h955ad1f_0", files={"bin/python3.11": b"\x7fELF" + b"p" * 2 * mb})
    inst.package("pip", "24.2", "pyh8b19718_1", depends=["python >=3.8"], python_modules=["pip"])
    inst.package("libblas", "3.9.0", "20_linux64_openblas", size=300_000)
    inst.package("blas-devel", "3.9.0", "20_linux64_openblas", metadata_only=True)
    inst.package("numpy", "1.26.4", "py311h64a7726_0", depends=["python >=3.11", "libblas >=3.9"],
                 python_modules=["numpy"], size=6 * mb)
    inst.package("numpy", "2.1.1", "py311h71ddf71_0", depends=["python >=3.11", "libblas >=3.9"],
                 python_modules=["numpy"], size=7 * mb)
    inst.package("pandas", "2.2.3", "py311h7db5c69_1", depends=["python >=3.11", "numpy >=1.22.4"],
                 python_modules=["pandas"], requires_dist=["numpy>=1.22.4"], size=12 * mb)
    inst.package("scipy", "1.14.1", "py311he9a78e4_0", depends=["numpy >=1.23.5", "libblas"],
                 python_modules=["scipy"], size=15 * mb)
    inst.package("jupyterlab", "4.2.5", "pyhd8ed1ab_0", depends=["python >=3.8"], python_modules=["jupyterlab"], size=9 * mb)
    inst.package("r-base", "4.4.1", "h2d5e3b5_1", size=20 * mb)
    inst.package("cuda-nvrtc", "12.6.68", "h5888daf_0", size=25 * mb)
    inst.index()
    inst.create_env("analysis", ["pandas", "scipy", "pip", "blas-devel", "numpy=2.1.1"])
    inst.create_env("notebooks", ["jupyterlab", "numpy=2.1.1"], link="symlink")
    inst.create_env("portable", ["numpy=1.26.4"], link="copy")
    inst.create_env("old-r", ["r-base"])
    inst.remove_env("old-r")
    inst.extract_to_cache(inst.packages["cuda-nvrtc-12.6.68-h5888daf_0"])
    inst.add_conda_cache_files()
    (root / "done").write_text("")
    return inst


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/demo").resolve()
    inst = Installation(root) if (root / "done").exists() else build(root)
    env = inst.environ()
    for key in ("HOME", "CONDARC", "CONDA_PKGS_DIRS", "CONDA_ENVS_PATH", "CONDA_ROOT_PREFIX"):
        print(f"export {key}={shlex.quote(env[key])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
