"""``why-used`` on real installations: the core, the standalone script, and real conda."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import in_time, needs_conda

from conda_prune.cli.standalone import main
from conda_prune.roots import CYCLE, LEAF, PIP_REQUESTED, REQUESTED
from conda_prune.why import (
    find_import_sites,
    why_used,
)
from conda_prune.environment import disk_usage, module_of, near_names

# -- installations -------------------------------------------------------------------------------


def science(inst, *, history: bool = True, link: str = "hardlink", name: str = "sci") -> Path:
    """python, numpy, pandas, scikit-learn (via scipy), pyyaml (module ``yaml``) and a C library
    also called ``yaml``; pandas and scikit-learn requested. torch from pip, requested, needing
    numpy and (on Linux only) nvidia-cublas-cu12; pywin32 needed only on Windows."""
    if "python-3.11.8-h0" not in inst.packages:
        inst.package("python", "3.11.8", "h0", files={"lib/python3.11/os.py": "# os\n", "bin/python3.11": "x"})
        inst.package("pip", "24.0", "pyh0", depends=["python >=3.8"], python_modules=["pip"])
        inst.package("yaml", "0.2.5", "h0", files={"lib/libyaml.so": "elf"})
        inst.package("pyyaml", "6.0.1", "py311_0", depends=["python", "yaml >=0.2.5"], python_modules=["yaml"], dist_name="PyYAML")
        inst.package("numpy", "1.26.4", "py311_0", depends=["python >=3.11,<3.12"], python_modules=["numpy", "numpy.linalg"], size=200_000)
        inst.package("pandas", "2.2.1", "py311_0", depends=["python", "numpy >=1.22.4", "pyyaml"], python_modules=["pandas"])
        inst.package("scipy", "1.12.0", "py311_0", depends=["python", "numpy >=1.23.5"], python_modules=["scipy"])
        inst.package("scikit-learn", "1.4.0", "py311_0", depends=["python", "scipy >=1.6", "numpy >=1.19.5"], python_modules=["sklearn"], dist_name="scikit-learn")
    prefix = inst.create_env(name, ["pandas", "scikit-learn", "pip"], link=link, history=history)
    inst.pip_install(prefix, "torch", "2.3.0", ["torch"], ["numpy", 'nvidia-cublas-cu12 ; platform_system == "Linux"', 'pywin32 ; sys_platform == "win32"'])
    inst.pip_install(prefix, "nvidia-cublas-cu12", "12.1.3.1", ["nvidia.cublas"], requested=False)
    inst.pip_install(prefix, "pywin32", "306", ["win32api"], requested=False)
    return prefix


def by_name(report, name):
    return next(e for e in report.explanations if e.package.name == name)


def chains(explanation) -> list[list[str]]:
    return [[p.links[0].parent, *(link.child for link in p.links)] if p.links else [explanation.package.name] for p in explanation.paths]


@pytest.fixture
def run(inst, monkeypatch, capsys):
    """Run the standalone ``conda-prune why-used`` against ``inst``; returns (code, out, err)."""
    for key in list(os.environ):
        if key.startswith(("CONDA", "MAMBA", "_CE_", "_CONDA")):
            monkeypatch.delenv(key)
    for key, value in inst.environ().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COLUMNS", "200")

    def call(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["why-used", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return call


def snapshot(prefix: Path) -> dict[str, tuple[int, int]]:
    result = {}
    for folder, _, files in os.walk(prefix):
        for name in [*files, "."]:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            result[path] = (st.st_mtime_ns, st.st_size)
    return result


# -- roots ---------------------------------------------------------------------------------------


def test_roots_come_from_history_and_requested_pip_distributions(inst):
    prefix = science(inst)
    report = why_used(prefix, ["numpy"])
    reasons = {(r.name, r.reason) for r in report.roots.roots}
    assert reasons == {("pandas", REQUESTED), ("scikit-learn", REQUESTED), ("pip", REQUESTED), ("torch", PIP_REQUESTED)}
    assert report.roots.from_history and report.roots.note == ""


def test_a_deep_chain_runs_from_what_was_asked_for_down_to_the_package(inst):
    prefix = science(inst)
    report = why_used(prefix, ["numpy"], all_paths=True)
    numpy = by_name(report, "numpy")
    assert not numpy.requested
    assert chains(numpy) == [
        ["pandas", "numpy"],
        ["scikit-learn", "numpy"],
        ["torch", "numpy"],
        ["scikit-learn", "scipy", "numpy"],
    ]
    deep = numpy.paths[-1]
    assert [link.spec for link in deep.links] == ["scipy >=1.6", "numpy >=1.23.5"]
    assert deep.root.description == "requested: scikit-learn"
    assert numpy.path_count == 4 and numpy.paths_complete
    assert numpy.would_break == ("pandas", "scikit-learn", "scipy", "torch")


def test_the_default_view_shows_the_shortest_path_from_each_root(inst):
    prefix = science(inst)
    numpy = by_name(why_used(prefix, ["numpy"]), "numpy")
    assert chains(numpy) == [["pandas", "numpy"], ["scikit-learn", "numpy"], ["torch", "numpy"]]
    assert numpy.path_count == 4 and not numpy.paths_complete


def test_a_requested_package_says_so(inst):
    prefix = science(inst)
    pandas = by_name(why_used(prefix, ["pandas"]), "pandas")
    assert pandas.requested
    assert [r.description for r in pandas.requested_as] == ["requested: pandas"]
    assert chains(pandas) == [["pandas"]]


def test_pinned_specs_are_roots(inst):
    prefix = science(inst)
    (prefix / "conda-meta" / "pinned").write_text("numpy 1.26.*\n")
    numpy = by_name(why_used(prefix, ["numpy"]), "numpy")
    assert numpy.requested
    assert [r.description for r in numpy.requested_as] == ["pinned: numpy 1.26.*"]


def test_a_fifo_history_is_one_problem_line_not_a_hang(inst, run):
    prefix = science(inst)
    history = prefix / "conda-meta" / "history"
    history.unlink()
    os.mkfifo(history)
    code, out, err = in_time(lambda: run("numpy", "-p", str(prefix)))
    assert code == 0 and "Traceback" not in err
    named = [line for line in err.splitlines() if str(history) in line]
    assert len(named) == 1 and "FIFO" in named[0]


def test_without_history_the_leaves_are_the_roots_and_the_report_says_so(inst, run):
    prefix = science(inst, history=False)
    report = why_used(prefix, ["numpy"])
    assert not report.roots.from_history
    assert {r.name for r in report.roots.roots if r.reason == LEAF} == {"pandas", "scikit-learn", "torch", "pywin32"}
    assert "no requested specs" in report.roots.note
    code, out, _ = run("numpy", "-p", str(prefix))
    assert code == 0 and "note:" in out and "no requested specs" in " ".join(out.split())
    code, out, _ = run("numpy", "-p", str(prefix), "--json")
    data = json.loads(out)
    assert data["roots"]["source"] == "leaves" and "no requested specs" in data["roots"]["note"]


def test_without_history_a_cycle_nothing_else_needs_still_has_a_root(inst):
    inst.package("alpha", "1.0", "0", depends=["beta"])
    inst.package("beta", "1.0", "0", depends=["alpha"])
    prefix = inst.create_env("loop", ["alpha"], history=False)
    report = why_used(prefix, ["beta"])
    assert [(r.name, r.reason) for r in report.roots.roots] == [("alpha", CYCLE)]
    beta = by_name(report, "beta")
    assert chains(beta) == [["alpha", "beta"]]


# -- pip, markers, cycles, globs ------------------------------------------------------------------


def test_pip_requirements_join_the_graph_with_markers_evaluated(inst):
    prefix = science(inst)
    report = why_used(prefix, ["nvidia-cublas-cu12", "pywin32"])
    cublas, pywin32 = by_name(report, "nvidia-cublas-cu12"), by_name(report, "pywin32")
    assert chains(cublas) == [["torch", "nvidia-cublas-cu12"]]
    assert cublas.paths[0].root.description == "pip, requested"
    assert cublas.package.kind == "pypi" and cublas.package.channel == "pypi"
    assert pywin32.paths == () and pywin32.would_break == ()  # sys_platform == "win32" is false here


def test_a_pip_dependency_cycle_ends(inst):
    prefix = science(inst)
    inst.pip_install(prefix, "left", "1.0", ["left"], ["right"])
    inst.pip_install(prefix, "right", "1.0", ["right"], ["left"], requested=False)
    right = by_name(why_used(prefix, ["right"], all_paths=True), "right")
    assert chains(right) == [["left", "right"]] and right.paths_complete


def test_a_glob_matches_conda_and_pip_packages(inst):
    prefix = science(inst)
    report = why_used(prefix, ["nvidia-*", "py*"])
    assert [e.package.name for e in report.explanations] == ["python", "pyyaml", "nvidia-cublas-cu12", "pywin32"]
    assert report.not_found == ()


def test_pip_names_match_in_any_spelling(inst):
    prefix = science(inst)
    assert [e.package.name for e in why_used(prefix, ["NVIDIA_CUBLAS_CU12"]).explanations] == ["nvidia-cublas-cu12"]


# -- not installed -------------------------------------------------------------------------------


def test_near_names_suggest_what_was_probably_meant():
    assert near_names("pytorch", ["torch", "numpy"]) == ("torch",)
    assert near_names("cublas", ["nvidia-cublas-cu12", "numpy"]) == ("nvidia-cublas-cu12",)
    assert near_names("zzz", ["numpy"]) == ()


def test_a_missing_package_exits_1_with_one_line_and_a_near_name(inst, run):
    prefix = science(inst)
    code, out, err = run("numpyy", "-p", str(prefix))
    assert code == 1
    assert out == ""
    assert err.strip().splitlines() == [f"numpyy is not installed in {prefix}; did you mean numpy?"]


def test_a_missing_package_under_json_is_in_the_document(inst, run):
    prefix = science(inst)
    code, out, _ = run("torhc", "numpy", "-p", str(prefix), "--json")
    data = json.loads(out)
    assert code == 1
    assert data["not_found"] == [{"pattern": "torhc", "did_you_mean": ["torch"], "installed_in": []}]
    assert [p["name"] for p in data["packages"]] == ["numpy"]


# -- disk ----------------------------------------------------------------------------------------


def test_hardlinked_files_count_as_shared_and_copies_as_alone(inst):
    linked = science(inst, name="linked")
    copied = science(inst, name="copied", link="copy")
    shared = by_name(why_used(linked, ["numpy"]), "numpy").disk
    alone = by_name(why_used(copied, ["numpy"]), "numpy").disk
    assert shared.shared_bytes >= 200_000 and shared.alone_bytes == 0
    assert alone.alone_bytes >= 200_000 and alone.shared_bytes == 0
    assert shared.files == alone.files > 1


def test_symlinked_files_hold_nothing_in_the_environment(inst):
    prefix = science(inst, link="symlink")
    disk = by_name(why_used(prefix, ["numpy"]), "numpy").disk
    assert disk.symlinks == disk.files and disk.alone_bytes == disk.shared_bytes == 0


def test_two_names_for_one_inode_inside_a_package_count_once_and_alone(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 10_000)
    os.link(tmp_path / "a", tmp_path / "b")
    usage = disk_usage(tmp_path, ["a", "b", "gone"])
    assert usage.shared_bytes == 0 and 10_000 <= usage.alone_bytes < 20_000
    assert (usage.files, usage.missing) == (2, 1)


# -- import sites --------------------------------------------------------------------------------


def test_module_of_reads_installed_paths():
    assert module_of("lib/python3.11/site-packages/numpy/linalg/__init__.py") == "numpy.linalg"
    assert module_of("lib/python3.11/site-packages/yaml/_yaml.cpython-311-x86_64-linux-gnu.so") == "yaml._yaml"
    assert module_of("lib/python3.11/os.py") == "os"
    assert module_of("lib/python3.11/site-packages/numpy-1.26.4.dist-info/METADATA") is None
    assert module_of("lib/libyaml.so") is None


def write_app(root: Path) -> Path:
    app = root / "app"
    (app / "pkg").mkdir(parents=True)
    (app / "main.py").write_text(
        "import os\nimport numpy as np\n\n\ndef load():\n    from yaml import safe_load\n    import torch.cuda\n    from . import pkg\n"
    )
    (app / "pkg" / "__init__.py").write_text("from sklearn.linear_model import LinearRegression\n")
    (app / "broken.py").write_text("def (:\n")
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": ["import pandas\n"]},
            {"cell_type": "code", "source": ["%matplotlib inline\n", "!pip list\n", "import pandas as pd\n"]},
            {"cell_type": "code", "source": "%%bash\nimport numpy\n"},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    (app / "analysis.ipynb").write_text(json.dumps(notebook))
    return app


def test_import_sites_cover_function_local_imports_and_notebook_cells(tmp_path):
    sites, problems = find_import_sites([write_app(tmp_path)])
    found = {(Path(s.path).name, s.line, s.cell, s.statement) for s in sites}
    assert found == {
        ("analysis.ipynb", 3, 2, "import pandas"),
        ("analysis.ipynb", 1, 2, "matplotlib (%matplotlib)"),  # the magic loads matplotlib and its backend
        ("analysis.ipynb", 1, 2, "matplotlib_inline (%matplotlib inline) (optional)"),
        ("main.py", 1, None, "import os"),
        ("main.py", 2, None, "import numpy"),
        ("main.py", 6, None, "from yaml import safe_load"),
        ("main.py", 7, None, "import torch.cuda"),
        ("__init__.py", 1, None, "from sklearn.linear_model import LinearRegression"),
    }
    assert [p.path.name for p in problems] == ["broken.py"]


def test_import_sites_map_modules_through_installed_files_not_names(inst, tmp_path):
    prefix = science(inst)
    report = why_used(prefix, ["pyyaml", "yaml", "scikit-learn", "torch", "pandas", "numpy"], apps=[write_app(tmp_path)])
    sites = {e.package.name: [s.location.split("/app/")[1] for s in e.import_sites] for e in report.explanations}
    assert sites == {
        "pyyaml": ["main.py:6"],
        "yaml": [],  # the C library ships no module called yaml
        "scikit-learn": ["pkg/__init__.py:1"],
        "torch": ["main.py:7"],
        "pandas": ["analysis.ipynb[cell 2]:3"],
        "numpy": ["main.py:2"],
    }
    assert any("broken.py" in str(p.path) for p in report.problems)


# -- other environments --------------------------------------------------------------------------


def test_all_envs_lists_environments_and_their_shared_cache_entry(inst, run):
    first = science(inst, name="one")
    second = science(inst, name="two")
    code, out, _ = run("numpy", "-p", str(first), "--all-envs", "--json")
    assert code == 0
    numpy = json.loads(out)["packages"][0]
    assert [e["prefix"] for e in numpy["environments"]] == [str(first), str(second)]
    entry = os.path.realpath(inst.pkgs / "numpy-1.26.4-py311_0")
    assert numpy["shared_cache_entries"] == {entry: [str(first), str(second)]}
    code, out, _ = run("numpy", "-p", str(first), "--all-envs")
    assert "all share one cache entry" in out


def test_all_envs_names_where_a_package_missing_here_is_installed(inst, run):
    inst.package("tiny", "1.0", "0")
    here = inst.create_env("here", ["tiny"])
    science(inst, name="there")
    code, _, err = run("numpy", "-p", str(here), "--all-envs")
    assert code == 1
    assert err.strip().splitlines() == [f"numpy is not installed in {here} (installed in {inst.envs_dir / 'there'})"]


@pytest.mark.parametrize("hostile", ["\x1b]0;pwned\x07", "\x1b[2J"], ids=["window-title", "clear-screen"])
def test_the_not_found_line_shows_escapes_in_other_environments_paths(inst, run, hostile):
    inst.package("tiny", "1.0", "0")
    here = inst.create_env("here", ["tiny"])
    science(inst, name=f"there{hostile}")
    code, out, err = run("numpy", "-p", str(here), "--all-envs")
    assert code == 1
    assert "\x1b" not in err + out and "\x07" not in err + out
    shown = str(inst.envs_dir / "there") + hostile.replace("\x1b", "\\x1b").replace("\x07", "\\x07")
    assert err.strip().splitlines() == [f"numpy is not installed in {here} (installed in {shown})"]


# -- the command ---------------------------------------------------------------------------------


def test_the_summary_reads_at_a_glance(inst, run, tmp_path):
    science(inst)
    code, out, err = run("numpy", "-n", "sci", "--app", str(write_app(tmp_path)))
    assert code == 0
    text = " ".join(out.split())
    assert "numpy 1.26.4 py311_0" in text
    assert "asked for no: needed by 3 of the 4 packages you asked for (pandas, scikit-learn, torch)" in text
    assert "1. pandas 2.2.1 → numpy >=1.22.4 (requested: pandas)" in text
    assert "3. torch 2.3.0 (pypi) → numpy (pip, requested)" in text
    assert "1 more path (4 in all); --all-paths lists every one" in text
    assert "would break without it 4 packages: pandas, scikit-learn, scipy, torch" in text
    assert "main.py:2 import numpy" in text
    code, out, _ = run("pandas", "-n", "sci", "--app", str(write_app(tmp_path / "again")))
    assert "analysis.ipynb[cell 2]:3 import pandas" in " ".join(out.split())  # brackets are not markup
    assert all(line == line.rstrip() for line in out.splitlines())
    assert "broken.py" in err and "Traceback" not in err


def test_json_is_stable_sorted_and_alone_on_stdout(inst, run):
    prefix = science(inst)
    code, first, err = run("numpy", "nvidia-*", "-p", str(prefix), "--json")
    _, second, _ = run("numpy", "nvidia-*", "-p", str(prefix), "--json")
    assert code == 0 and first == second and err == ""
    data = json.loads(first)
    assert list(data) == sorted(data)
    numpy = data["packages"][0]
    assert numpy["paths"][0]["links"][0] == {
        "child": "numpy", "child_version": "1.26.4", "kind": "depends", "parent": "pandas",
        "parent_kind": "conda", "parent_version": "2.2.1", "spec": "numpy >=1.22.4",
    }
    assert numpy["disk"]["shared_bytes"] >= 200_000 and numpy["requested"] is False
    cublas = data["packages"][1]
    assert cublas["paths"][0]["links"][0]["spec"] == 'nvidia-cublas-cu12 ; platform_system == "Linux"'
    assert cublas["paths"][0]["root"]["reason"] == "pip-requested"


def test_the_tree_shows_what_needs_the_package_once_per_package(inst, run):
    prefix = science(inst)
    code, out, _ = run("numpy", "-p", str(prefix), "--tree")
    assert code == 0
    assert "scipy 1.12.0 needs numpy >=1.23.5" in out
    assert "scikit-learn 1.4.0 needs scipy >=1.6  [requested: scikit-learn]" in out
    assert "(see above)" in out  # scikit-learn needs numpy directly too


def test_graph_dot_is_graphviz(inst, run):
    prefix = science(inst)
    code, out, _ = run("numpy", "-p", str(prefix), "--graph", "dot")
    assert code == 0 and out.startswith("digraph why_used {") and out.rstrip().endswith("}")
    assert '"conda:scipy" -> "conda:numpy" [label="numpy >=1.23.5"];' in out
    assert '"pypi:torch" [label="torch\\n2.3.0", shape=ellipse, peripheries=2];' in out


def test_broken_conda_meta_is_one_warning_line_and_no_traceback(inst, run):
    prefix = science(inst)
    broken = prefix / "conda-meta" / "scipy-1.12.0-py311_0.json"
    broken.write_text('{"name": "scipy", "files": [')
    code, out, err = run("numpy", "-p", str(prefix))
    assert code == 0 and "numpy 1.26.4" in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(broken) in " ".join(err.split()) and "Traceback" not in err


def test_a_prefix_that_is_no_environment_is_a_usage_error(inst, run, tmp_path):
    code, _, err = run("numpy", "-p", str(tmp_path))
    assert code == 2 and "is not a conda environment" in err


def test_why_used_writes_nothing(inst, run, tmp_path):
    prefix = science(inst)
    before = snapshot(prefix)
    for extra in ((), ("--json",), ("--tree",), ("--all-envs",), ("--app", str(write_app(tmp_path)))):
        run("numpy", "torch", "-p", str(prefix), *extra)
    assert snapshot(prefix) == before


@needs_conda
def test_through_real_conda(inst):
    prefix = science(inst)
    (prefix / "conda-meta" / "pip-24.0-pyh0.json").unlink()  # pip's record gone: conda's interop would act
    before = snapshot(prefix)
    env = inst.environ()
    done = subprocess.run(
        [sys.executable, "-m", "conda", "why-used", "numpy", "-n", "sci", "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["prefix"] == str(prefix) and data["packages"][0]["name"] == "numpy"
    missing = subprocess.run(
        [sys.executable, "-m", "conda", "why-used", "pytorch", "-n", "sci"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert missing.returncode == 1
    assert len(missing.stderr.strip().splitlines()) == 1
    assert missing.stderr.startswith(f"pytorch is not installed in {prefix}; did you mean torch")
    assert snapshot(prefix) == before


def test_a_long_fan_is_summarised_with_a_count_unless_all_paths(inst, run):
    inst.package("base", "1.0", "0")
    users = [f"user{i:02d}" for i in range(12)]
    for user in users:
        inst.package(user, "1.0", "0", depends=["base >=1"])
    prefix = inst.create_env("fan", users)
    code, out, _ = run("base", "-p", str(prefix))
    text = " ".join(out.split())
    assert code == 0
    assert "8. user07 1.0 → base >=1 (requested: user07)" in text and "user08 1.0 →" not in text
    assert "… 4 more paths (12 in all); --all-paths lists every one" in text
    assert "… and 4 more; --all-paths lists them" in text
    _, out, _ = run("base", "-p", str(prefix), "--tree")
    assert "… and 4 more; --all-paths shows them" in out
    _, out, _ = run("base", "-p", str(prefix), "--all-paths")
    text = " ".join(out.split())
    assert "12. user11 1.0 → base >=1 (requested: user11)" in text and "--all-paths" not in text, text
