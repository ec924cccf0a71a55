"""Build the lockfile environments the README's "Lockfile environments" examples were run on.

    python bench/demo_lockfile.py /tmp/lockdemo; . /tmp/lockdemo/activate
    conda why-used numpy -n locked

``python bench/demo.py FOLDER`` builds this installation too (as ``FOLDER/lockfile``), with
every other one the README shows.

Real .conda packages from a local channel. ``locked`` is installed the way
``conda create --file explicit.txt`` installs (every package requested by URL spec, as conda
26.7.1 writes the history); ``locked-plus`` is the same lockfile with ``conda install pytorch``
on top. ``project/`` holds the environment.yml the lockfile was made from and the code.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

if TYPE_CHECKING:
    from builder import Installation

ENVIRONMENT_YML = """\
name: ml
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pytorch>=2.3
  - pandas
"""


def build(root: Path) -> Installation:
    from builder import Installation

    inst = Installation(root)
    inst.package("python", "3.11.9", "h955ad1f_0", files={"lib/python3.11/os.py": "# os\n"})
    inst.package("libopenblas", "0.3.27", "pthreads_h413a1c8_0", files={"lib/libopenblas.so.0": "elf"})
    inst.package("numpy", "1.26.4", "py311h64a7726_0", depends=["python >=3.11,<3.12.0a0", "libopenblas >=0.3.27,<1.0a0"],
                 python_modules=["numpy"])
    inst.package("pandas", "2.2.3", "py311h7db5c69_1", depends=["python >=3.11,<3.12.0a0", "numpy >=1.22.4"],
                 python_modules=["pandas"])
    inst.package("libcublas", "12.4.5.8", "h0", files={"lib/libcublas.so.12": "elf"})
    inst.package("cuda-libraries", "12.4.1", "ha770c72_1", depends=["libcublas >=12.4.5.8,<12.5"])
    inst.package("cuda-runtime", "12.4.1", "ha804496_0", depends=["cuda-libraries 12.4.1.*"])
    inst.package("pytorch", "2.3.1", "cuda124_py311h3d5e6ab_0",
                 depends=["python >=3.11,<3.12.0a0", "numpy >=1.23", "cuda-runtime >=12.4,<12.5"],
                 python_modules=["torch"], dist_name="torch")
    inst.package("tqdm", "4.66.5", "pyhd8ed1ab_0", depends=["python >=3.7"], python_modules=["tqdm"])
    inst.index()
    inst.create_env("locked", ["python", "pandas", "pytorch"], explicit="update-specs")
    plus = inst.create_env("locked-plus", ["python", "pandas", "pytorch"], explicit="update-specs")
    inst.install(plus, ["tqdm"])
    project = root / "project"
    (project / "src").mkdir(parents=True, exist_ok=True)
    (project / "environment.yml").write_text(ENVIRONMENT_YML)
    (project / "src" / "train.py").write_text("import torch\nimport pandas as pd\n")
    return inst


def main() -> int:
    import demo

    problem = demo._requirements_missing()
    if problem:
        print(problem.replace("bench/demo.py", "bench/demo_lockfile.py"), file=sys.stderr)
        return 2
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/lockdemo").absolute()
    if not (root / "done").exists():
        demo.build_lockfile(root)
        (root / "activate").write_text(demo.activation(root))
        (root / "done").write_text("")
    print(f". {shlex.quote(str(root / 'activate'))}    # sets CONDARC and changes into {root}; $HOME is left alone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
