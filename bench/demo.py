"""Build every installation the README's examples run on, under one folder.

    python bench/demo.py /tmp/prune-demo

Needs Python 3.10 or newer with py-rattler and py-rattler-build, the test extras
(``pip install -e '.[test]'``); the README's commands then need conda with conda-prune installed,
or the ``conda-prune`` script. Every run builds afresh (a folder it built before is replaced;
any other existing folder is refused), so the README's ``--yes`` examples can be run again.

Real .conda packages from a local channel, installed into real environments:

- ``cache/``: the cache prune. One environment linked by hardlink (conda's default), one by
  symlink, one by copy, one that was removed, and a package downloaded but never installed.
- ``weather/``: an environment ``weather`` of 16 packages and the application ``./weather``.
- ``ml/``: an environment ``ml`` with torch and its CUDA libraries installed by pip, and the
  code in ``./src`` and ``./explore.ipynb``.
- ``lockfile/``: environments installed from a lockfile (see ``bench/demo_lockfile.py``).

Each has an ``activate`` file to source: it sets ``CONDARC`` to the installation's own
``condarc`` (its ``pkgs_dirs``, ``envs_dirs`` and ``root_prefix``, and ``register_envs: false``
so that conda does not add the demo's environments to your ``~/.conda/environments.txt``) and
the app-scan cache folder, then changes into the installation. ``$HOME`` is left alone.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = ".conda-prune-demo"
MB = 1024 * 1024

NEEDS = (
    "bench/demo.py needs Python 3.10 or newer with py-rattler and py-rattler-build "
    "(the test extras: pip install -e '.[test]')"
)


def _requirements_missing() -> str | None:
    if sys.version_info < (3, 10):  # noqa: UP036 - said in one line, not a SyntaxError later
        return f"{NEEDS}; this is Python {sys.version_info.major}.{sys.version_info.minor}"
    missing = []
    for module, dist in (("rattler", "py-rattler"), ("rattler_build", "py-rattler-build")):
        try:
            __import__(module)
        except ImportError:
            missing.append(dist)
    if missing:
        return f"{NEEDS}; {' and '.join(missing)} cannot be imported by {sys.executable}"
    return None


def _installation(root: Path):
    for path in (ROOT, ROOT / "tests"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    from builder import Installation

    inst = Installation(root)
    (root / "condarc").write_text(
        f"pkgs_dirs:\n  - {inst.pkgs}\nenvs_dirs:\n  - {inst.envs_dir}\nroot_prefix: {inst.base}\n"
        # conda registers an environment it changes in ~/.conda/environments.txt: not the demo's
        "register_envs: false\n"
    )
    return inst


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# -- the installations ---------------------------------------------------------------------------


def build_cache(root: Path):
    inst = _installation(root)
    inst.package("python", "3.11.9", "h955ad1f_0", files={"bin/python3.11": b"\x7fELF" + b"p" * 2 * MB})
    inst.package("pip", "24.2", "pyh8b19718_1", depends=["python >=3.8"], python_modules=["pip"])
    inst.package("libblas", "3.9.0", "20_linux64_openblas", size=300_000)
    inst.package("blas-devel", "3.9.0", "20_linux64_openblas", metadata_only=True)
    inst.package("numpy", "1.26.4", "py311h64a7726_0", depends=["python >=3.11", "libblas >=3.9"],
                 python_modules=["numpy"], size=6 * MB)
    inst.package("numpy", "2.1.1", "py311h71ddf71_0", depends=["python >=3.11", "libblas >=3.9"],
                 python_modules=["numpy"], size=7 * MB)
    inst.package("pandas", "2.2.3", "py311h7db5c69_1", depends=["python >=3.11", "numpy >=1.22.4"],
                 python_modules=["pandas"], requires_dist=["numpy>=1.22.4"], size=12 * MB)
    inst.package("scipy", "1.14.1", "py311he9a78e4_0", depends=["numpy >=1.23.5", "libblas"],
                 python_modules=["scipy"], size=15 * MB)
    inst.package("jupyterlab", "4.2.5", "pyhd8ed1ab_0", depends=["python >=3.8"], python_modules=["jupyterlab"],
                 size=9 * MB)
    inst.package("r-base", "4.4.1", "h2d5e3b5_1", size=20 * MB)
    inst.package("cuda-nvrtc", "12.6.68", "h5888daf_0", size=25 * MB)
    inst.index()
    inst.create_env("analysis", ["pandas", "scipy", "pip", "blas-devel", "numpy=2.1.1"])
    inst.create_env("notebooks", ["jupyterlab", "numpy=2.1.1"], link="symlink")
    inst.create_env("portable", ["numpy=1.26.4"], link="copy")
    inst.create_env("old-r", ["r-base"])
    inst.remove_env("old-r")
    inst.extract_to_cache(inst.packages["cuda-nvrtc-12.6.68-h5888daf_0"])
    inst.add_conda_cache_files()
    return inst


KERNEL_JSON = json.dumps({"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                          "display_name": "Python 3", "language": "python"})

NOTEBOOK = json.dumps({
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Weather at a glance\n"]},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": ["from weather.load import read_station\n", "from weather.plot import plot_week\n",
                    "\n", "plot_week(read_station('data/oslo.csv'))\n"]},
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}, indent=1)

WEATHER_APP = {
    "weather/weather/__init__.py": '"""Weather station readings: load, store, plot."""\n',
    "weather/weather/load.py": (
        "import pandas as pd\n\n\ndef read_station(path):\n    return pd.read_csv(path, parse_dates=['time'])\n"),
    "weather/weather/store.py": (
        "import tables\n\n\ndef save(frame, path):\n"
        "    with tables.open_file(path, 'w') as h5:\n        h5.create_array('/', 'temp', frame['temp'].to_numpy())\n"),
    "weather/weather/plot.py": (
        "import matplotlib\n\n\ndef plot_week(frame):\n"
        "    return frame.plot(x='time', y='temp')\n"),
    "weather/tests/test_load.py": (
        "from weather.load import read_station\n\n\ndef test_read(tmp_path):\n"
        "    (tmp_path / 'a.csv').write_text('time,temp\\n2024-01-01,3\\n')\n"
        "    assert len(read_station(tmp_path / 'a.csv')) == 1\n"),
    "weather/Makefile": "check:\n\tblack --check weather tests\n\tpytest -n 4 tests\n",
    "weather/explore.ipynb": NOTEBOOK,
}


def build_weather(root: Path):
    """16 packages; the app uses 8 of them directly and needs 2 more through those."""
    inst = _installation(root)
    p = inst.package
    p("python", "3.11.9", "hb806964_0_cpython", files={"lib/python3.11/os.py": "# os\n"},
      executables=["python", "python3"])
    p("numpy", "1.26.4", "py311h64a7726_0", depends=["python >=3.11,<3.12.0a0"], python_modules=["numpy"],
      size=7 * MB)
    p("pandas", "2.2.2", "py311h14de704_1", depends=["python >=3.11,<3.12.0a0", "numpy >=1.22.4"],
      python_modules=["pandas"], requires_dist=["numpy>=1.22.4", "pyarrow>=10.0.1; extra == 'parquet'"],
      size=12 * MB)
    p("pyarrow", "16.1.0", "py311h9cebb41_1", depends=["python >=3.11,<3.12.0a0", "numpy >=1.23"],
      python_modules=["pyarrow"], size=21 * MB)
    p("pytables", "3.9.2", "py311h8b6c5b4_2", depends=["python >=3.11,<3.12.0a0", "numpy >=1.20"],
      python_modules=["tables"], dist_name="tables", size=4 * MB)
    p("matplotlib-base", "3.8.4", "py311ha4ca890_2", depends=["python >=3.11,<3.12.0a0", "numpy >=1.21"],
      python_modules=["matplotlib"], dist_name="matplotlib", size=8 * MB)
    p("scipy", "1.13.1", "py311hc2bc53b_0", depends=["python >=3.11,<3.12.0a0", "numpy >=1.23.5"],
      python_modules=["scipy"], size=38 * MB)
    p("joblib", "1.4.2", "pyhd8ed1ab_0", depends=["python >=3.8"], python_modules=["joblib"], size=1 * MB)
    p("scikit-learn", "1.5.0", "py311h775a589_1", depends=["python >=3.11,<3.12.0a0", "scipy", "joblib >=1.2.0"],
      python_modules=["sklearn"], dist_name="scikit-learn", size=24 * MB)
    p("seaborn", "0.13.2", "pyhd8ed1ab_2", depends=["python >=3.8", "matplotlib-base >=3.4", "pandas >=1.2"],
      python_modules=["seaborn"], size=1 * MB)
    p("ffmpeg", "6.1.1", "gpl_h38e077a_106", executables=["ffmpeg", "ffprobe"], size=18 * MB)
    p("pluggy", "1.5.0", "pyhd8ed1ab_0", depends=["python >=3.8"], python_modules=["pluggy"])
    p("pytest", "8.2.2", "pyhd8ed1ab_0", depends=["python >=3.8", "pluggy >=1.5,<2"],
      python_modules=["pytest", "_pytest"], executables=["pytest"])
    p("pytest-xdist", "3.6.1", "pyhd8ed1ab_0", depends=["python >=3.7", "pytest >=7.0.0"],
      python_modules=["xdist"], dist_name="pytest-xdist",
      files={"lib/python3.11/site-packages/pytest_xdist-3.6.1.dist-info/entry_points.txt":
             "[pytest11]\nxdist = xdist.plugin\nxdist.looponfail = xdist.looponfail\n"})
    p("black", "24.4.2", "py311h38be061_0", depends=["python >=3.11,<3.12.0a0"], python_modules=["black"],
      executables=["black"])
    p("ipykernel", "6.29.4", "pyh3099207_0", depends=["python >=3.8"],
      python_modules=["ipykernel", "ipykernel_launcher"],
      files={"share/jupyter/kernels/python3/kernel.json": KERNEL_JSON})
    inst.index()
    inst.create_env("weather", ["python", "pandas", "pyarrow", "pytables", "matplotlib-base", "scikit-learn",
                                "seaborn", "ffmpeg", "pytest-xdist", "black", "ipykernel"])
    inst.add_conda_cache_files()
    write_files(root, WEATHER_APP)
    return inst


ML_APP = {
    "src/features.py": "from numpy.linalg import norm\n\n\ndef scale(x):\n    return x / norm(x)\n",
    "src/train.py": (
        '"""Train the model."""\n\nimport numpy\nimport pandas as pd\nimport torch\n\n\n'
        "def load(path):\n    return torch.tensor(numpy.asarray(pd.read_parquet(path)))\n"),
    "explore.ipynb": json.dumps({
        "cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                   "source": ["import pandas as pd\n", "import numpy\n", "numpy.__version__\n"]}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }, indent=1),
}


def build_ml(root: Path):
    """pandas and scikit-learn from conda over OpenBLAS; torch from pip with its CUDA wheels."""
    inst = _installation(root)
    p = inst.package
    p("python", "3.11.8", "hab00c5b_0_cpython", files={"lib/python3.11/os.py": "# os\n"},
      executables=["python", "python3"])
    p("pip", "24.0", "pyhd8ed1ab_0", depends=["python >=3.7"], python_modules=["pip"], executables=["pip"])
    p("libopenblas", "0.3.26", "pthreads_h413a1c8_0",
      files={"lib/libopenblas.so.0": b"\x7fELF" + b"b" * (5 * MB + 200_000), "lib/libopenblas.so": "link"})
    p("libblas", "3.9.0", "21_linux64_openblas", depends=["libopenblas >=0.3.26,<1.0a0"],
      files={"lib/libblas.so.3": "blas"})
    p("numpy", "1.26.4", "py311h64a7726_0",
      depends=["python >=3.11,<3.12.0a0", "libblas >=3.9.0,<4.0a0"], python_modules=["numpy", "numpy.linalg"],
      size=7 * MB)
    p("pandas", "2.2.1", "py311h320fe9a_0", depends=["python >=3.11,<3.12.0a0", "numpy >=1.23.5,<2.0a0"],
      python_modules=["pandas"], size=12 * MB)
    p("scipy", "1.12.0", "py311h64a7726_2",
      depends=["python >=3.11,<3.12.0a0", "numpy >=1.23.5,<2.0a0", "libblas >=3.9.0,<4.0a0"],
      python_modules=["scipy"], size=30 * MB)
    p("scikit-learn", "1.4.1.post1", "py311hc009520_0",
      depends=["python >=3.11,<3.12.0a0", "numpy >=1.23.5,<2.0a0", "scipy"],
      python_modules=["sklearn"], dist_name="scikit-learn", size=9 * MB)
    inst.index()
    prefix = inst.create_env("ml", ["python", "pip", "pandas", "scikit-learn"],
                             requested=["python=3.11", "pip", "pandas", "scikit-learn"])
    inst.pip_install(prefix, "torch", "2.3.0", ["torch"],
                     ["numpy", 'nvidia-cublas-cu12==12.1.3.1 ; platform_system == "Linux"',
                      'nvidia-cuda-runtime-cu12==12.1.105 ; platform_system == "Linux"'])
    inst.pip_install(prefix, "nvidia-cublas-cu12", "12.1.3.1", ["nvidia.cublas"], requested=False)
    inst.pip_install(prefix, "nvidia-cuda-runtime-cu12", "12.1.105", ["nvidia.cuda_runtime"], requested=False)
    inst.add_conda_cache_files()
    write_files(root, ML_APP)
    return inst


def build_lockfile(root: Path):
    for path in (ROOT, ROOT / "tests", ROOT / "bench"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    import demo_lockfile

    _installation(root)
    return demo_lockfile.build(root)


INSTALLATIONS = {
    "cache": (build_cache, "the cache prune: 11 cache entries, environments linked 3 ways"),
    "weather": (build_weather, "an environment of 16 packages and the app ./weather"),
    "ml": (build_ml, "torch from pip with CUDA wheels, over conda packages"),
    "lockfile": (build_lockfile, "environments installed from a lockfile"),
}


# -- activation ------------------------------------------------------------------------------------


def activation(root: Path) -> str:
    """What ``. ROOT/activate`` runs: conda's configuration points at this installation only
    through a ``.condarc`` of its own; ``$HOME`` stays as it is."""
    q = shlex.quote
    return (
        f"# point conda and conda-prune at the demo installation {root}; $HOME is left alone\n"
        f"export CONDARC={q(str(root / 'condarc'))}\n"
        f"export CONDA_PRUNE_CACHE_DIR={q(str(root / 'scan-cache'))}\n"
        f"cd {q(str(root))}\n"
    )


def build(top: Path) -> dict[str, Path]:
    """Every installation, afresh, under ``top``."""
    if top.exists():
        if not (top / MARKER).exists():
            raise SystemExit(f"{top} exists and was not built by bench/demo.py: give a new folder")
        shutil.rmtree(top)
    top.mkdir(parents=True)
    (top / MARKER).write_text("built by bench/demo.py; it replaces this folder when run again\n")
    roots = {}
    for name, (make, _) in INSTALLATIONS.items():
        root = top / name
        make(root)
        shutil.rmtree(root / "stage", ignore_errors=True)  # the packages' build folders
        (root / "activate").write_text(activation(root))
        roots[name] = root
    return roots


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python bench/demo.py FOLDER    (e.g. /tmp/prune-demo)", file=sys.stderr)
        return 2
    problem = _requirements_missing()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    top = Path(argv[0]).absolute()
    roots = build(top)
    print(f"Built the README's installations in {top}:")
    for name, (_, what) in INSTALLATIONS.items():
        print(f"  {name:<9} {what}")
    print()
    print("Point conda at one (this sets CONDARC and changes into it; $HOME is left alone):")
    for root in roots.values():
        print(f"  . {shlex.quote(str(root / 'activate'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
