"""Packages the plan must keep although no import names them: a conda package pip installed over,
the extras of used requirements, file-less metapackages whose dependencies are used."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from builder import SITE, Installation
from conda_prune.appscan import scan_app
from conda_prune.env_prune import KEPT, NEEDED, UNUSED, EnvPrunePlan, check_removal, plan_env_prune
from conda_prune.records import read_environment
from conda_prune.roots import find_roots
from conda_prune.graph import DependencyGraph


def plan_for(inst: Installation, prefix: Path, files: dict[str, str], tmp_path: Path, **kwargs) -> EnvPrunePlan:
    app = tmp_path / "app"
    for rel, text in files.items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(textwrap.dedent(text))
    env = read_environment(prefix)
    return plan_env_prune(env, scan_app([app], cache_dir=None), **kwargs)


def python(inst: Installation) -> None:
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])


# -- pip installed over a conda package ---------------------------------------------------------


def test_a_conda_package_pip_installed_over_is_kept_and_never_removed_through_conda(inst, tmp_path) -> None:
    python(inst)
    inst.package("numpy", "1.26.4", "py311h0", depends=["python"], python_modules=["numpy"], size=2000)
    inst.package("scipy", "1.13.1", "py311h0", depends=["python"], python_modules=["scipy"])
    prefix = inst.create_env("e", ["python", "numpy", "scipy"])
    # pip install -U numpy: pip removes the old dist-info and writes its own files where conda's were
    shutil.rmtree(prefix / SITE / "numpy-1.26.4.dist-info")
    inst.pip_install(prefix, "numpy", "2.0.0", ["numpy"])
    assert (prefix / SITE / "numpy" / "__init__.py").read_text() == "# numpy (pip)\n"

    plan = plan_for(inst, prefix, {"a.py": "import os\n"}, tmp_path)  # the app imports no numpy at all
    numpy = next(v for v in plan.verdicts if v.key == "conda:numpy")
    assert numpy.status == KEPT and not numpy.removable
    assert numpy.reason.startswith(f"pip installed numpy 2.0.0 over it: {SITE}/numpy/__init__.py is now pip's")
    assert "removing it through conda would delete them" in numpy.reason
    assert any("run 'python -m pip uninstall numpy' in the environment first" in c for c in numpy.cautions)
    assert plan.verdict("scipy").removable  # the rest is judged as before
    assert "conda:numpy" not in {v.key for v in plan.removable}
    assert not check_removal(plan.graph, {v.key for v in plan.removable})


def test_a_conda_package_with_its_own_files_stays_removable(inst, tmp_path) -> None:
    python(inst)
    inst.package("numpy", "1.26.4", "py311h0", depends=["python"], python_modules=["numpy"])
    prefix = inst.create_env("e", ["python", "numpy"])
    inst.pip_install(prefix, "other", "1.0", ["other"])  # pip beside conda, over nothing
    plan = plan_for(inst, prefix, {"a.py": "import os\n"}, tmp_path)
    assert plan.verdict("numpy").status == UNUSED and plan.verdict("numpy").removable


# -- extras -----------------------------------------------------------------------------------


def extras_env(inst: Installation) -> Path:
    python(inst)
    inst.package("pysocks", "1.7.1", "pyh0", depends=["python"], python_modules=["socks"], dist_name="PySocks")
    inst.package("chardet", "5.2.0", "pyh0", depends=["python"], python_modules=["chardet"])
    inst.package("requests", "2.32.3", "pyh0", depends=["python"], python_modules=["requests"],
                 requires_dist=["PySocks>=1.5.6,!=1.5.7; extra == 'socks'",
                                "chardet<6,>=3.0.2; extra == 'use-chardet-on-py3'"])
    inst.package("pandas", "2.2.2", "py311h0", depends=["python"], python_modules=["pandas"])
    inst.package("toolz", "0.12.1", "pyh0", depends=["python"], python_modules=["toolz"])
    inst.package("dask", "2024.8.0", "pyh0", depends=["python", "toolz"], python_modules=["dask", "dask.dataframe"],
                 requires_dist=["toolz>=0.10.0", "pandas>=2.0; extra == 'dataframe'",
                                "dask[dataframe]; extra == 'complete'"])
    return inst.create_env("e", ["python", "pysocks", "chardet", "requests", "pandas", "toolz", "dask"])


REQUIRES_SOCKS = {
    "pyproject.toml": '[project]\nname = "app"\ndependencies = ["requests[socks] >=2.31"]\n',
    "requirements.txt": "# pinned\nrequests[socks]==2.32.3  # proxies\n",
    "setup.cfg": "[options]\ninstall_requires =\n    requests[socks]>=2\n",
}


def test_an_extra_the_app_requires_of_a_used_package_is_needed(inst, tmp_path) -> None:
    prefix = extras_env(inst)
    for name, text in REQUIRES_SOCKS.items():
        where = tmp_path / name.replace(".", "_")
        plan = plan_for(inst, prefix, {"app.py": "import requests\n", name: text}, where)
        pysocks = plan.verdict("pysocks")
        assert pysocks.status == NEEDED, name
        assert pysocks.reason == f"requests[socks] in {name}: requests needs it for its extra 'socks'", name
        assert plan.verdict("chardet").status == UNUSED  # the other extra was not asked for


def test_an_extra_of_an_unused_requirement_is_not_followed(inst, tmp_path) -> None:
    prefix = extras_env(inst)
    plan = plan_for(inst, prefix, {"app.py": "import os\n", "requirements.txt": "requests[socks]\n"}, tmp_path)
    assert plan.verdict("pysocks").status == UNUSED and plan.verdict("requests").status == UNUSED


def test_a_submodule_named_as_an_extra_needs_that_extra(inst, tmp_path) -> None:
    prefix = extras_env(inst)
    for line in ("import dask.dataframe as dd\n", "from dask import dataframe\n"):
        where = tmp_path / str(len(line))
        plan = plan_for(inst, prefix, {"app.py": line}, where)
        pandas = plan.verdict("pandas")
        assert pandas.status == NEEDED, line
        assert pandas.reason == (f"dask[dataframe]: the application imports dask.dataframe at {where}/app/app.py:1, "
                                 "and dask needs it for that extra"), line
    plan = plan_for(inst, prefix, {"app.py": "import dask\n"}, tmp_path / "plain")
    assert plan.verdict("pandas").status == UNUSED


def test_extras_an_installed_package_asks_of_another_are_followed(inst, tmp_path) -> None:
    python(inst)
    inst.package("pandas", "2.2.2", "py311h0", depends=["python"], python_modules=["pandas"])
    inst.package("dask", "2024.8.0", "pyh0", depends=["python"], python_modules=["dask"],
                 requires_dist=["pandas>=2.0; extra == 'dataframe'"])
    inst.package("dask-ml", "2024.4.4", "pyh0", depends=["python", "dask"], python_modules=["dask_ml"],
                 requires_dist=["dask[dataframe]>=2.4.0"])
    prefix = inst.create_env("e", ["python", "pandas", "dask", "dask-ml"])
    plan = plan_for(inst, prefix, {"app.py": "import dask_ml\n"}, tmp_path)
    pandas = plan.verdict("pandas")
    assert pandas.status == NEEDED and pandas.reason.startswith("dask[dataframe] (required by dask-ml)")


# -- metapackages -----------------------------------------------------------------------------


def metapackage_env(inst: Installation) -> Path:
    python(inst)
    inst.package("matplotlib-base", "3.9.1", "py311h0", depends=["python"], python_modules=["matplotlib"])
    inst.package("pyqt", "5.15.9", "py311h0", depends=["python"], python_modules=["PyQt5"])
    inst.package("tornado", "6.4.1", "py311h0", depends=["python"], python_modules=["tornado"])
    inst.package("matplotlib", "3.9.1", "py311h0", depends=["matplotlib-base", "pyqt", "tornado", "python"],
                 metadata_only=True)
    inst.package("seaborn", "0.13.2", "pyh0", depends=["python"], python_modules=["seaborn"])
    return inst.create_env("e", ["python", "matplotlib", "seaborn"], requested=["matplotlib", "seaborn"])


def test_a_metapackage_you_asked_for_stays_with_what_it_brings(inst, tmp_path) -> None:
    prefix = metapackage_env(inst)
    env = read_environment(prefix)
    graph = DependencyGraph.build(env)
    roots = find_roots(prefix, env, graph)
    plan = plan_for(inst, prefix, {"app.py": "import matplotlib.pyplot as plt\nplt.show()\n"}, tmp_path,
                    graph=graph, roots=roots)
    meta = plan.verdict("matplotlib")
    assert meta.status == KEPT and not meta.removable
    assert meta.reason == ("you asked for matplotlib; it brings pyqt, the GUI backend, and tornado "
                           "(matplotlib-base is used)")
    assert plan.verdict("pyqt").status == NEEDED and plan.verdict("tornado").status == NEEDED
    assert plan.verdict("seaborn").status == UNUSED
    assert not check_removal(plan.graph, {v.key for v in plan.removable})


def test_a_metapackage_not_asked_for_says_what_it_brings(inst, tmp_path) -> None:
    prefix = metapackage_env(inst)
    plan = plan_for(inst, prefix, {"app.py": "import matplotlib\n"}, tmp_path)
    assert plan.verdict("matplotlib").reason == (
        "a metapackage (no files of its own) for matplotlib-base, which is used: it brings pyqt, the GUI backend, "
        "and tornado"
    )


def test_a_metapackage_whose_dependencies_are_unused_is_unused(inst, tmp_path) -> None:
    prefix = metapackage_env(inst)
    plan = plan_for(inst, prefix, {"app.py": "import seaborn\n"}, tmp_path)
    assert all(plan.verdict(n).status == UNUSED for n in ("matplotlib", "matplotlib-base", "pyqt", "tornado"))


def test_a_requirements_file_that_cannot_be_read_is_one_problem_line(inst, tmp_path) -> None:
    prefix = extras_env(inst)
    plan = plan_for(inst, prefix, {"app.py": "import requests\n", "pyproject.toml": "[project\nname = 1\n"}, tmp_path)
    lines = [p for p in plan.problems if "pyproject.toml: cannot be read" in p]
    assert len(lines) == 1 and "the extras it asks for (name[extra]) are not counted" in lines[0]
    assert plan.verdict("pysocks").status == UNUSED
