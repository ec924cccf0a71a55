"""The environment prune's decisions, on real environments built offline (no conda needed)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from builder import SITE, Installation
from conftest import in_time
from conda_prune.appscan import scan_app
from conda_prune.env_prune import (
    KEPT,
    NEEDED,
    UNUSED,
    UNUSED_REASON,
    USED,
    EnvPrunePlan,
    check_removal,
    lean_environment,
    plan_env_prune,
    unsatisfied,
)
from conda_prune.environment import bytes_leaving, module_owners
from conda_prune.records import read_environment

KERNEL_JSON = json.dumps({"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "language": "python"})


def build_lab(inst: Installation) -> Installation:
    p = inst.package
    p("python", "3.11.9", "h0", files={"lib/python3.11/os.py": "", "lib/python3.11/json/__init__.py": "",
                                      "lib/python3.11/sqlite3/__init__.py": ""},
      executables=["python", "python3"])
    p("pip", "24.0", "pyh0", depends=["python"], python_modules=["pip"], executables=["pip"])
    p("numpy", "1.26.4", "py311h0", depends=["python"], python_modules=["numpy"], size=4000)
    p("pyarrow", "16.1.0", "py311h0", depends=["python", "numpy"], python_modules=["pyarrow"], size=4000)
    p("pandas", "2.2.2", "py311h0", depends=["python", "numpy"], python_modules=["pandas"],
      requires_dist=["numpy>=1.23", "pyarrow>=10.0.1; extra == 'parquet'"], size=4000)
    p("scipy", "1.13.1", "py311h0", depends=["python", "numpy"], python_modules=["scipy"], size=4000)
    p("scikit-image", "0.24.0", "py311h0", depends=["python", "numpy", "scipy"], python_modules=["skimage"],
      dist_name="scikit-image")
    p("pytables", "3.9.2", "py311h0", depends=["python", "numpy"], python_modules=["tables"], dist_name="tables")
    p("tiledb-py", "0.30.0", "py311h0", depends=["python", "numpy"], python_modules=["tiledb"], dist_name="tiledb")
    p("protobuf", "4.25.3", "py311h0", depends=["python"], python_modules=["google.protobuf"])
    p("google-cloud-storage", "2.17.0", "pyh0", depends=["python", "protobuf"],
      python_modules=["google.cloud.storage"])
    p("google-cloud-bigquery", "3.25.0", "pyh0", depends=["python", "protobuf"],
      python_modules=["google.cloud.bigquery"])
    p("black", "24.4.2", "py311h0", depends=["python"], python_modules=["black"], executables=["black"])
    p("pytest", "8.2.2", "pyh0", depends=["python"], python_modules=["pytest", "_pytest"], executables=["pytest"])
    p("pytest-xdist", "3.6.1", "pyh0", depends=["pytest"], python_modules=["xdist"], dist_name="pytest-xdist",
      files={f"{SITE}/pytest_xdist-3.6.1.dist-info/entry_points.txt": "[pytest11]\nxdist = xdist.plugin\n"})
    p("ipykernel", "6.29.4", "pyh0", depends=["python"], python_modules=["ipykernel", "ipykernel_launcher"],
      files={"share/jupyter/kernels/python3/kernel.json": KERNEL_JSON})
    p("r-base", "4.3.3", "h0", files={"lib/R/library/stats/DESCRIPTION": "Package: stats\n"},
      executables=["R", "Rscript"])
    p("r-ggplot2", "3.5.1", "r43h0", depends=["r-base"],
      files={"lib/R/library/ggplot2/DESCRIPTION": "Package: ggplot2\n"})
    p("r-data.table", "1.15.4", "r43h0", depends=["r-base"],
      files={"lib/R/library/data.table/DESCRIPTION": "Package: data.table\n"})
    p("libgdal", "3.9.0", "h0", files={"lib/libgdal.so.34": "ELF"})
    p("django-cors-headers", "4.4.0", "pyh0", depends=["python"], python_modules=["corsheaders"])
    p("_openmp_mutex", "4.5", "2_gnu", metadata_only=True)
    p("ffmpeg", "6.1.1", "h0", executables=["ffmpeg", "ffprobe"], size=8000)
    return inst


LAB = ["python", "pip", "numpy", "pyarrow", "pandas", "scipy", "scikit-image", "pytables", "tiledb-py",
       "protobuf", "google-cloud-storage", "google-cloud-bigquery", "black", "pytest", "pytest-xdist",
       "ipykernel", "r-base", "r-ggplot2", "r-data.table", "libgdal", "django-cors-headers", "_openmp_mutex",
       "ffmpeg"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Installation:
    inst = build_lab(Installation(tmp_path_factory.mktemp("lab") / "inst"))
    inst.create_env("lab", LAB)
    return inst


def write_app(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def plan_for(inst: Installation, env_name: str, files: dict[str, str], tmp_path: Path, **kwargs) -> EnvPrunePlan:
    app = write_app(tmp_path / "app", files)
    env = read_environment(inst.prefix_of(env_name))
    return plan_env_prune(env, scan_app([app], cache_dir=None), **kwargs)


def load_yaml(text: str):
    try:
        import yaml

        return yaml.safe_load(text)
    except ImportError:
        ruamel = pytest.importorskip("ruamel.yaml")
        return ruamel.YAML(typ="safe", pure=True).load(text)


def status(plan: EnvPrunePlan) -> dict[str, str]:
    return {v.name: v.status for v in plan.verdicts}


# -- evidence -------------------------------------------------------------------------------------

EVIDENCE_CASES = [
    pytest.param({"a.py": "import tables\n"}, "pytables", "import tables", id="conda-name-pytables"),
    pytest.param({"a.py": "import tiledb\n"}, "tiledb-py", "import tiledb", id="conda-name-tiledb-py"),
    pytest.param({"a.py": "from skimage import io\n"}, "scikit-image", "from skimage import io", id="conda-name-skimage"),
    pytest.param({"Makefile": "fmt:\n\tblack src\n"}, "black", "runs black (Makefile)", id="executable-makefile"),
    pytest.param({"a.py": "import subprocess\nsubprocess.run(['ffmpeg', '-i', f])\n"}, "ffmpeg",
                 "runs ffmpeg (subprocess)", id="executable-subprocess"),
    pytest.param({"a.R": "library(ggplot2)\n"}, "r-ggplot2", "library(ggplot2)", id="r-library"),
    pytest.param({"a.R": "x <- data.table::fread('f')\n"}, "r-data.table", "data.table::", id="r-colons"),
    pytest.param({"a.py": "import ctypes\nctypes.CDLL('libgdal.so.34')\n"}, "libgdal", "loads library", id="ctypes"),
    pytest.param({"settings.py": "INSTALLED_APPS = ['corsheaders']\n"}, "django-cors-headers", "names 'corsheaders'",
                 id="named-string"),
    pytest.param({"nb.ipynb": json.dumps({"cells": [], "metadata": {"kernelspec": {"name": "python3"}}})},
                 "ipykernel", "notebook kernel python3", id="kernel"),
    pytest.param({"nb.ipynb": json.dumps({"cells": [], "metadata": {}})}, "ipykernel", "notebook kernel python3",
                 id="default-kernel"),
    pytest.param({"a.py": "from importlib.metadata import version\nv = version('scikit-image')\n"}, "scikit-image",
                 "names 'scikit-image'", id="distribution-name"),
]


@pytest.mark.parametrize("files,package,detail", EVIDENCE_CASES)
def test_each_kind_of_evidence_marks_its_package_used(lab, tmp_path, files, package, detail) -> None:
    plan = plan_for(lab, "lab", files, tmp_path)
    verdict = plan.verdict(package)
    assert verdict is not None and verdict.status == USED, (verdict, plan.missing)
    assert detail in verdict.reason
    assert verdict.evidence[0].location.startswith(str(tmp_path / "app"))


def test_r_code_keeps_r_itself_and_base_r_packages_map_to_r_base(lab, tmp_path) -> None:
    plan = plan_for(lab, "lab", {"a.R": "library(stats)\n"}, tmp_path)
    assert plan.verdict("r-base").status == USED
    assert plan.verdict("r-ggplot2").status == UNUSED


def test_namespace_packages_map_to_the_distribution_with_the_submodule(lab, tmp_path) -> None:
    plan = plan_for(lab, "lab", {"a.py": "from google.cloud import storage\n"}, tmp_path)
    s = status(plan)
    assert s["google-cloud-storage"] == USED
    assert s["google-cloud-bigquery"] == UNUSED
    assert s["protobuf"] == NEEDED  # a dependency, not evidence: google is a namespace of several
    env = read_environment(lab.prefix_of("lab"))
    from conda_prune.environment import environment_providers

    modules = environment_providers(env).modules
    assert module_owners(modules, "google") == {
        "conda:protobuf", "conda:google-cloud-storage", "conda:google-cloud-bigquery"}
    assert module_owners(modules, "google.cloud.bigquery.client") == {"conda:google-cloud-bigquery"}
    assert module_owners(modules, "google.protobuf") == {"conda:protobuf"}


def test_closure_needed_by_chain_and_unused_reason(lab, tmp_path) -> None:
    plan = plan_for(lab, "lab", {"a.py": "import skimage\n"}, tmp_path)
    scipy = plan.verdict("scipy")
    assert scipy.status == NEEDED and scipy.needed_by == ("scikit-image", "scipy")
    assert plan.verdict("numpy").status == NEEDED
    unused = plan.verdict("tiledb-py")
    assert unused.status == UNUSED and unused.reason == UNUSED_REASON and unused.removable


def test_entry_point_plugins_of_a_used_package_are_kept(lab, tmp_path) -> None:
    plan = plan_for(lab, "lab", {"tests/test_a.py": "import pytest\n"}, tmp_path)
    xdist = plan.verdict("pytest-xdist")
    assert xdist.status == USED and "pytest loads it (entry point pytest11" in xdist.reason
    unused_pytest = plan_for(lab, "lab", {"a.py": "import numpy\n"}, tmp_path / "other")
    assert unused_pytest.verdict("pytest-xdist").status == UNUSED


def test_type_checking_only_import_does_not_keep_a_package(lab, tmp_path) -> None:
    plan = plan_for(lab, "lab", {"a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import scipy\n"},
                    tmp_path)
    assert plan.verdict("scipy").status == UNUSED
    assert [u.name for u in plan.typing_only] == ["scipy"]


def test_optional_import_keeps_the_package_and_says_so(lab, tmp_path) -> None:
    plan = plan_for(lab, "lab", {"a.py": "try:\n    import scipy\nexcept ImportError:\n    scipy = None\n"}, tmp_path)
    assert plan.verdict("scipy").status == USED and plan.verdict("scipy").optional_only


def test_missing_modules_first_party_and_stdlib(lab, tmp_path) -> None:
    plan = plan_for(lab, "lab", {
        "a.py": "import os, json, sqlite3\nimport helpers\nimport notinstalled\ntry:\n    import maybe\nexcept ImportError:\n    pass\n",
        "helpers.py": "",
    }, tmp_path)
    assert [(m.module, m.optional) for m in plan.missing] == [("maybe", True), ("notinstalled", False)]


def test_optional_dependency_of_a_used_package_is_unused_with_a_caution(lab, tmp_path) -> None:
    plan = plan_for(lab, "lab", {"a.py": "import pandas\n"}, tmp_path)
    pyarrow = plan.verdict("pyarrow")
    assert pyarrow.status == UNUSED
    assert any("extra 'parquet'" in c for c in pyarrow.cautions)


# -- keep rules ------------------------------------------------------------------------------------


def test_python_and_mutexes_are_kept(lab, tmp_path) -> None:
    plan = plan_for(lab, "lab", {"a.py": "import numpy\n"}, tmp_path)
    s = status(plan)
    assert s["python"] == KEPT and s["pip"] == NEEDED and s["_openmp_mutex"] == KEPT


def test_keep_and_keep_list_take_names_and_globs(lab, tmp_path) -> None:
    plan = plan_for(lab, "lab", {"a.py": "import numpy\n"}, tmp_path, keep=["r-*"], keep_list=["FFmpeg"])
    assert plan.verdict("r-ggplot2").status == KEPT and "--keep 'r-*'" in plan.verdict("r-ggplot2").reason
    assert plan.verdict("r-base").status in (KEPT, NEEDED)
    assert plan.verdict("ffmpeg").status == KEPT and "keep-list" in plan.verdict("ffmpeg").reason


def test_conda_and_its_dependencies_stay_in_the_base_environment(inst: Installation, tmp_path) -> None:
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""})
    inst.package("ruamel.yaml", "0.18.6", "py311h0", depends=["python"], python_modules=["ruamel.yaml"])
    inst.package("conda", "26.7.1", "py311h0", depends=["python", "ruamel.yaml"], python_modules=["conda"],
                 executables=["conda"])
    inst.package("conda-libmamba-solver", "24.9.0", "pyh0", depends=["conda"], python_modules=["conda_libmamba_solver"],
                 dist_name="conda-libmamba-solver",
                 files={f"{SITE}/conda_libmamba_solver-24.9.0.dist-info/entry_points.txt":
                        "[conda]\nconda-libmamba-solver = conda_libmamba_solver.plugin\n"})
    inst.package("extra", "1.0", "0", python_modules=["extra"])
    inst.create_env("base", ["python", "conda", "conda-libmamba-solver", "extra"])
    plan = plan_for(inst, "base", {"a.py": "import os\n"}, tmp_path, self_hosting=True)
    s = status(plan)
    assert s["conda"] == KEPT and s["ruamel.yaml"] == NEEDED and s["extra"] == UNUSED
    assert s["conda-libmamba-solver"] == USED  # conda loads it (entry point conda)
    assert status(plan_for(inst, "base", {"a.py": "import os\n"}, tmp_path / "b"))["conda"] == UNUSED


def test_pip_installed_packages_cannot_be_removed_and_keep_what_they_need(inst: Installation, tmp_path) -> None:
    inst.package("python", "3.11.9", "h0")
    inst.package("numpy", "1.26.4", "py311h0", depends=["python"], python_modules=["numpy"])
    inst.package("scipy", "1.13.1", "py311h0", depends=["python", "numpy"], python_modules=["scipy"])
    prefix = inst.create_env("e", ["python", "numpy", "scipy"])
    inst.pip_install(prefix, "leftover", "1.0", ["leftover"], ["numpy"])
    inst.pip_install(prefix, "mylib", "0.1", ["mylib"])
    info = next((prefix / SITE).glob("mylib-*.dist-info"))
    (info / "direct_url.json").write_text(json.dumps({"url": "file:///src/mylib", "dir_info": {"editable": True}}))
    plan = plan_for(inst, "e", {"a.py": "import os\n"}, tmp_path)
    leftover = plan.verdict("leftover")
    assert leftover.status == UNUSED and not leftover.removable
    assert any("pip uninstall leftover" in c for c in leftover.cautions)
    numpy = plan.verdict("numpy")
    assert numpy.status == KEPT and "installed with pip" in numpy.reason
    assert plan.verdict("scipy").removable
    assert plan.verdict("mylib").status == KEPT and "editable install of file:///src/mylib" in plan.verdict("mylib").reason
    assert not check_removal(plan.graph, {v.key for v in plan.removable})


@pytest.mark.parametrize("how", ["fifo", "deep"])
def test_a_direct_url_json_that_cannot_be_read_is_a_problem_line_not_a_hang_or_a_crash(inst: Installation, tmp_path,
                                                                                       how: str) -> None:
    inst.package("python", "3.11.9", "h0")
    inst.package("numpy", "1.26.4", "py311h0", depends=["python"], python_modules=["numpy"])
    prefix = inst.create_env("e", ["python", "numpy"])
    info = inst.pip_install(prefix, "mylib", "0.1", ["mylib"], ["numpy"])
    direct_url = info / "direct_url.json"
    if how == "fifo":
        os.mkfifo(direct_url)
    else:
        direct_url.write_text('{"url": "file:///src", "dir_info": ' + "[" * 100_000 + "]" * 100_000 + "}")
    plan = in_time(lambda: plan_for(inst, "e", {"a.py": "import os\n"}, tmp_path))
    (problem,) = [p for p in plan.problems if str(direct_url) in p]
    assert ("FIFO" if how == "fifo" else "not valid JSON") in problem and "mylib" in problem
    assert plan.verdict("numpy").status == KEPT  # what the pip-installed distribution needs stays


# -- doubt ---------------------------------------------------------------------------------------


def test_an_app_with_nothing_to_read_is_a_doubt(lab, tmp_path) -> None:
    plan = plan_for(lab, "lab", {"README.md": "# nothing\n"}, tmp_path)
    assert plan.doubts and "nothing to read" in plan.doubts[0]


def test_an_unreadable_record_is_a_doubt_naming_it(inst: Installation, tmp_path) -> None:
    inst.package("python", "3.11.9", "h0")
    inst.package("thing", "1.0", "0", python_modules=["thing"])
    prefix = inst.create_env("e", ["python", "thing"])
    (prefix / "conda-meta" / "thing-1.0-0.json").write_text("{truncated")
    plan = plan_for(inst, "e", {"a.py": "import os\n"}, tmp_path)
    assert any("thing-1.0-0.json could not be read" in d for d in plan.doubts)


def _plugins_and_kernel(inst: Installation) -> Path:
    p = inst.package
    p("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    p("pytest", "8.2.2", "pyh0", depends=["python"], python_modules=["pytest", "_pytest"], executables=["pytest"])
    p("pytest-xdist", "3.6.1", "pyh0", depends=["pytest"], python_modules=["xdist"], dist_name="pytest-xdist",
      files={f"{SITE}/pytest_xdist-3.6.1.dist-info/entry_points.txt": "[pytest11]\nxdist = xdist.plugin\n"})
    p("ipykernel", "6.29.4", "pyh0", depends=["python"], python_modules=["ipykernel", "ipykernel_launcher"],
      files={"share/jupyter/kernels/python3/kernel.json": KERNEL_JSON})
    return inst.create_env("e", ["pytest-xdist", "ipykernel"])


def _replace(path: Path, how: str) -> None:
    path.unlink()  # a hardlink into the cache: the cache's copy stays as it was
    if how == "fifo":
        os.mkfifo(path)
    elif how == "device":
        path.symlink_to("/dev/null")  # a device; were it read, the test fails (/dev/zero would exhaust memory)
    else:
        path.write_text('{"argv": ' + "[" * 100_000 + "]" * 100_000 + "}")


@pytest.mark.parametrize("how", ["fifo", "device"])
def test_an_entry_points_txt_that_is_not_a_regular_file_is_a_doubt_not_a_hang(inst: Installation, tmp_path,
                                                                               how: str) -> None:
    prefix = _plugins_and_kernel(inst)
    entry_points = prefix / SITE / "pytest_xdist-3.6.1.dist-info" / "entry_points.txt"
    _replace(entry_points, how)
    plan = in_time(lambda: plan_for(inst, "e", {"tests/test_a.py": "import pytest\n"}, tmp_path))
    (doubt,) = [d for d in plan.doubts if str(entry_points) in d]
    assert ("FIFO" if how == "fifo" else "character device") in doubt and "pytest-xdist" in doubt


@pytest.mark.parametrize("how", ["fifo", "deep"])
def test_a_kernel_json_that_cannot_be_read_is_a_doubt_not_a_hang_or_a_crash(inst: Installation, tmp_path,
                                                                             how: str) -> None:
    prefix = _plugins_and_kernel(inst)
    kernel_json = prefix / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    _replace(kernel_json, how)
    notebook = json.dumps({"cells": [], "metadata": {"kernelspec": {"name": "python3"}}})
    plan = in_time(lambda: plan_for(inst, "e", {"nb.ipynb": notebook}, tmp_path))
    (doubt,) = [d for d in plan.doubts if str(kernel_json) in d]
    assert ("FIFO" if how == "fifo" else "not valid JSON") in doubt and "kernel python3" in doubt


# -- after -------------------------------------------------------------------------------------


def test_unsatisfied_requirements_are_found_and_dated(inst: Installation) -> None:
    inst.package("a", "1.0", "0", depends=["b"])
    inst.package("b", "1.0", "0")
    inst.package("c", "1.0", "0", depends=["gone-before"])
    inst.package("gone-before", "1.0", "0")
    prefix = inst.create_env("e", ["a", "c"])
    (prefix / "conda-meta" / "gone-before-1.0-0.json").unlink()
    before = read_environment(prefix)
    (prefix / "conda-meta" / "b-1.0-0.json").unlink()
    after = read_environment(prefix)
    assert [(u.package, u.requirement, u.before) for u in unsatisfied(after, before)] == [
        ("a", "b", False), ("c", "gone-before", True)]


def test_bytes_leaving_counts_only_files_whose_every_link_goes(inst: Installation) -> None:
    inst.package("big", "1.0", "0", size=200_000)
    linked = inst.create_env("linked", ["big"])
    copied = inst.create_env("copied", ["big"], link="copy")
    key = ["conda:big"]
    hard = bytes_leaving(read_environment(linked), key)
    copy = bytes_leaving(read_environment(copied), key)
    assert hard.shared >= 200_000 and hard.freed < 200_000  # the cache holds the same inode
    assert copy.freed >= 200_000 and copy.shared == 0


# -- export -------------------------------------------------------------------------------------


def test_lean_export_pins_direct_evidence_and_has_a_pip_section(inst: Installation, tmp_path) -> None:
    inst.package("python", "3.11.9", "h0")
    inst.package("pip", "24.0", "pyh0", depends=["python"], python_modules=["pip"])
    inst.package("numpy", "1.26.4", "py311h0", depends=["python"], python_modules=["numpy"])
    inst.package("pandas", "2.2.2", "py311h0", depends=["python", "numpy"], python_modules=["pandas"])
    inst.package("scipy", "1.13.1", "py311h0", depends=["python", "numpy"], python_modules=["scipy"])
    inst.package("pyyaml", "6.0.1", "py311h0", depends=["python"], python_modules=["yaml"], dist_name="PyYAML")
    prefix = inst.create_env("e", ["python", "pip", "numpy", "pandas", "scipy", "pyyaml"])
    inst.pip_install(prefix, "httpx-mock", "0.3", ["httpx_mock"], ["PyYAML"])
    plan = plan_for(inst, "e", {"a.py": "import pandas\nimport httpx_mock\n"}, tmp_path)
    env = read_environment(prefix)
    data = load_yaml(lean_environment(plan, env))
    assert data["name"] == "e"
    assert data["channels"] == [inst.channel.as_uri()]
    conda = [d for d in data["dependencies"] if isinstance(d, str)]
    # pyyaml is needed only through the pip package: named, or pip would fetch its own copy
    assert conda == ["pandas=2.2.2=py311h0", "pip=24.0=pyh0", "python=3.11.9=h0", "pyyaml=6.0.1=py311h0"]
    assert data["dependencies"][-1] == {"pip": ["httpx-mock==0.3"]}
    assert "scipy" not in json.dumps(data)


def test_a_call_that_loads_a_default_engine_keeps_it(lab: Installation, tmp_path: Path) -> None:
    # pd.read_hdf needs pytables, df.to_parquet pyarrow, when no engine= names another; the engines
    # that are not installed (openpyxl, fastparquet...) are no missing modules
    plan = plan_for(lab, "lab", {"io.py": """
        import pandas as pd

        def load(path):
            frame = pd.read_hdf(path)
            frame.to_parquet(path + ".parquet")
            return pd.read_excel(path + ".xlsx")
        """}, tmp_path)
    assert plan.verdict("pytables").status == USED
    assert "read_hdf, default engine" in plan.verdict("pytables").reason
    assert plan.verdict("pyarrow").status == USED
    assert not [m for m in plan.missing if m.module in ("openpyxl", "xlrd", "fastparquet")]


def test_an_engine_given_by_name_keeps_only_that_one(lab: Installation, tmp_path: Path) -> None:
    plan = plan_for(lab, "lab", {"io.py": """
        import pandas as pd
        pd.read_parquet("x.parquet", engine="fastparquet")
        """}, tmp_path)
    assert plan.verdict("pyarrow").status == UNUSED
