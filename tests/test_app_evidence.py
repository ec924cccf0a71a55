"""What counts as evidence of use, on a real Python 3.12 environment built offline: strings only
where code loads what they name, notebook magics, named kernels and the notebook server, the
environment's own standard library, ``.pth`` files, and the file kinds read besides Python."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from builder import Installation
from conftest import in_time
from conda_prune.appscan import scan_app
from conda_prune.env_prune import UNUSED, USED, EnvPrunePlan, plan_env_prune
from conda_prune.records import read_environment

PY = "lib/python3.12"
SITE = f"{PY}/site-packages"
KERNEL_ARGV = ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def modules(*names: str) -> dict[str, str]:
    """site-packages files for top-level modules (``a.b`` makes a package ``a`` with ``b``)."""
    files = {}
    for name in names:
        parts = name.split(".")
        files[f"{SITE}/{'/'.join(parts)}/__init__.py"] = f"# {name}\n"
        for i in range(1, len(parts)):
            files[f"{SITE}/{'/'.join(parts[:i])}/__init__.py"] = ""
    return files


def build(inst: Installation) -> Installation:
    p = inst.package
    p("python", "3.12.4", "h0", files={
        f"{PY}/os.py": "", f"{PY}/json/__init__.py": "", f"{PY}/lib-dynload/_json.cpython-312-x86_64-linux-gnu.so": "",
        f"{PY}/lib-dynload/math.cpython-312-x86_64-linux-gnu.so": "",
    }, executables=["python", "python3"])
    p("setuptools", "70.0.0", "pyh0", depends=["python"], files={
        **modules("setuptools", "_distutils_hack", "pkg_resources"),
        f"{SITE}/distutils-precedence.pth": "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; "
                                            "enabled = os.environ.get(var, 'local') == 'local'; "
                                            "enabled and __import__('_distutils_hack').add_shim(); \n",
    })
    for name, module in [("black", "black"), ("click", "click"), ("pathspec", "pathspec"), ("netcdf4", "netCDF4"),
                         ("openpyxl", "openpyxl"), ("line_profiler", "line_profiler"), ("cython", "Cython"),
                         ("jupysql", "sql"), ("ipympl", "ipympl"), ("pyqt", "PyQt5"), ("pyside6", "PySide6"),
                         ("thirdparty", "thirdparty"), ("matplotlib-base", "matplotlib"), ("lxml", "lxml"),
                         ("jupyterlab", "jupyterlab"), ("notebook", "notebook"), ("jupyter_server", "jupyter_server"),
                         ("requests", "requests")]:
        p(name, "1.0", "pyh0", depends=["python"], files=modules(module))
    p("ipykernel", "6.29.4", "pyh0", depends=["python"], files={
        **modules("ipykernel"), f"{SITE}/ipykernel_launcher.py": "",
        "share/jupyter/kernels/python3/kernel.json": json.dumps({"argv": KERNEL_ARGV, "language": "python"}),
    })
    p("pywin32-like", "306", "py312h0", depends=["python"], files={
        f"{SITE}/pywin32.pth": "# the folders of win32\nwin32\nwin32/lib\nimport os\n",
        f"{SITE}/win32/win32api.cpython-312-x86_64-linux-gnu.so": "", f"{SITE}/win32/lib/win32con.py": "",
    })
    for name, programs in [("samtools", ["samtools"]), ("snakemake", ["snakemake"]), ("just", ["just"]),
                           ("ffmpeg", ["ffmpeg"]), ("pandoc", ["pandoc"]), ("ruff", ["ruff"]),
                           ("mypy", ["mypy"]), ("r-base", ["R", "Rscript"])]:
        p(name, "1.0", "h0", executables=programs)
    return inst


NAMES = ["python", "setuptools", "black", "click", "pathspec", "netcdf4", "openpyxl", "line_profiler", "cython",
         "jupysql", "ipympl", "pyqt", "pyside6", "thirdparty", "matplotlib-base", "lxml", "jupyterlab", "notebook",
         "jupyter_server", "requests", "ipykernel", "pywin32-like", "samtools", "snakemake", "just", "ffmpeg",
         "pandoc", "ruff", "mypy", "r-base"]


@pytest.fixture(scope="module")
def env312(tmp_path_factory) -> Installation:
    inst = build(Installation(tmp_path_factory.mktemp("py312") / "inst"))
    inst.create_env("py312", NAMES)
    return inst


def plan_for(inst: Installation, files: dict[str, str], tmp_path: Path) -> EnvPrunePlan:
    app = tmp_path / "app"
    for rel, text in files.items():
        path = app / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return plan_env_prune(read_environment(inst.prefix_of("py312")), scan_app([app], cache_dir=None))


def status(plan: EnvPrunePlan) -> dict[str, str]:
    return {v.name: v.status for v in plan.verdicts}


def test_a_colour_table_is_no_evidence_but_a_loading_context_is(env312, tmp_path) -> None:
    plan = plan_for(env312, {"style.py": """\
        COLOURS = {'black': '#000000', 'click': '#ffffff'}
        WORDS = ["pathspec", "requests"]
        print("openpyxl")
        """}, tmp_path / "a")
    s = status(plan)
    assert (s["black"], s["click"], s["pathspec"], s["requests"], s["openpyxl"]) == (UNUSED,) * 5
    plan = plan_for(env312, {"settings.py": """\
        INSTALLED_APPS = ["black"]
        LOGGING = {"handlers": {"h": {"class": "click.Handler"}}}
        def read(f):
            return pd.read_excel(f, engine="openpyxl")
        with mock.patch("requests.get"):
            pass
        soup = BeautifulSoup(text, "lxml")
        """}, tmp_path / "b")
    s = status(plan)
    assert (s["black"], s["click"], s["openpyxl"], s["requests"], s["lxml"]) == (USED,) * 5
    assert s["pathspec"] == UNUSED
    assert "names 'openpyxl'" in plan.verdict("openpyxl").reason


def test_an_engine_name_matches_its_module_in_any_case(env312, tmp_path) -> None:
    plan = plan_for(env312, {"io.py": "import xarray\nds = xarray.open_dataset(f, engine='netcdf4')\n"}, tmp_path)
    assert plan.verdict("netcdf4").status == USED
    assert "names 'netCDF4'" in plan.verdict("netcdf4").reason
    # an import is exact about case, as Python's own import is
    plan = plan_for(env312, {"io.py": "import netcdf4\n"}, tmp_path / "import")
    assert plan.verdict("netcdf4").status == UNUSED


def test_dotted_names_in_configuration_are_modules_not_files_or_hosts(tmp_path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "conf.yaml").write_text("model:\n  _target_: sklearn.svm.SVC\ndocs: black.md\nsite: pathspec.org\n")
    names = set(scan_app([app], cache_dir=None).names)
    assert "sklearn.svm.SVC" in names
    assert not names & {"black.md", "pathspec.org"}


def test_the_standard_library_is_the_environments_own(env312, tmp_path) -> None:
    from conda_prune.environment import environment_stdlib

    names, source = environment_stdlib(env312.prefix_of("py312"))
    assert {"os", "json", "_json", "math", "sys", "builtins"} <= names
    assert "distutils" not in names and "site-packages" not in names and "setuptools" not in names
    assert source == "the environment's lib/python3.12"
    # Python 3.12 has no distutils: setuptools serves it, so it is used, and nothing is missing
    plan = plan_for(env312, {"build.py": "from distutils.core import setup\nimport os, math\n"}, tmp_path)
    assert plan.verdict("setuptools").status == USED
    assert "from distutils.core import setup" in plan.verdict("setuptools").reason
    assert plan.missing == []
    assert not any("standard library" in p for p in plan.problems)


def test_without_a_python_the_standard_library_is_the_hosts_and_the_report_says_so(inst, tmp_path) -> None:
    inst.package("black", "1.0", "pyh0", files=modules("black"))
    inst.create_env("nopython", ["black"])
    app = tmp_path / "app"
    app.mkdir()
    (app / "a.py").write_text("import os, black\n")
    plan = plan_env_prune(read_environment(inst.prefix_of("nopython")), scan_app([app], cache_dir=None))
    assert plan.missing == [] and plan.verdict("black").status == USED
    assert any("standard library's modules were taken from the Python running this command" in p
               for p in plan.problems)


def test_a_pth_file_is_evidence_only_for_the_folders_it_puts_on_the_path(env312, tmp_path) -> None:
    plan = plan_for(env312, {"a.py": "import os\n"}, tmp_path / "none")
    assert plan.verdict("setuptools").status == UNUSED  # distutils-precedence.pth alone is no use
    assert plan.verdict("pywin32-like").status == UNUSED
    plan = plan_for(env312, {"a.py": "import win32api\nimport win32con\n"}, tmp_path / "win32")
    assert plan.verdict("pywin32-like").status == USED
    assert plan.missing == []


def test_a_virtual_environment_takes_the_standard_library_of_its_base(tmp_path) -> None:
    from conda_prune.environment import environment_stdlib

    base, venv = tmp_path / "base", tmp_path / "venv"
    (base / "lib" / "python3.12" / "tomllib").mkdir(parents=True)
    (base / "lib" / "python3.12" / "tomllib" / "__init__.py").write_text("")
    (base / "bin").mkdir()
    (venv / "lib" / "python3.12" / "site-packages").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = {base / 'bin'}\nversion = 3.12.4\n")
    names, source = environment_stdlib(venv)
    assert "tomllib" in names and str(base / "lib" / "python3.12") in source


def test_a_fifo_pyvenv_cfg_is_one_problem_line_not_a_hang(inst, tmp_path) -> None:
    inst.package("black", "1.0", "pyh0", files=modules("black"))
    prefix = inst.create_env("venvlike", ["black"])  # no Python of its own: pyvenv.cfg says where one is
    os.mkfifo(prefix / "pyvenv.cfg")
    app = tmp_path / "app"
    app.mkdir()
    (app / "a.py").write_text("import os, black\n")
    plan = in_time(lambda: plan_env_prune(read_environment(prefix), scan_app([app], cache_dir=None)))
    (problem,) = [p for p in plan.problems if str(prefix / "pyvenv.cfg") in p]
    assert "FIFO" in problem and "standard library's modules were taken from the Python running" in problem
    assert plan.verdict("black").status == USED


@pytest.mark.parametrize("call,module", [
    ('importlib.import_module(".x", package="thirdparty")', "thirdparty.x"),
    ('importlib.import_module("..y", "thirdparty.sub")', "thirdparty.y"),
    ('importlib.import_module(".", package="thirdparty")', "thirdparty"),
])
def test_a_relative_import_module_with_a_literal_package_is_that_package(env312, tmp_path, call, module) -> None:
    from conda_prune.appscan.python import read_lines, scan_python_snippet

    source = f"import importlib\n{call}\n"
    for uses in (read_lines(source, "a.py"), scan_python_snippet(source, "a.py", 1)):
        assert [(u.name, u.line) for u in uses if u.how == "import_module"] == [(module, 2)]
    plan = plan_for(env312, {"a.py": source}, tmp_path)
    assert plan.verdict("thirdparty").status == USED


def test_a_relative_import_module_of_the_codes_own_package_is_first_party() -> None:
    from conda_prune.appscan.python import scan_python_snippet

    uses = scan_python_snippet('import importlib\nimportlib.import_module(".x", package=__package__)\n', "a.py", 1)
    assert [u for u in uses if u.how == "import_module"] == []


def notebook(*cells: str, kernel: str | None = "python3") -> str:
    meta = {"kernelspec": {"name": kernel, "language": "python", "display_name": kernel}} if kernel else {}
    return json.dumps({"cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": []} for c in cells],
                       "metadata": meta, "nbformat": 4, "nbformat_minor": 5})


def test_notebook_magics_load_what_they_name(env312, tmp_path) -> None:
    plan = plan_for(env312, {"nb.ipynb": notebook(
        "%load_ext line_profiler\n%matplotlib qt\n",
        "%%cython\ncimport thirdparty\ndef f(int x):\n    return x\n",
        "%load_ext sql\n",
        "%%sql\nSELECT * FROM t\n",
        "%run -m black --check .\n",
        "!ruff check .\nfiles = !mypy src\n",
        "%timeit -n 3 import requests\n",
    )}, tmp_path)
    s = status(plan)
    for name in ("line_profiler", "matplotlib-base", "pyqt", "pyside6", "cython", "jupysql", "black", "ruff",
                 "mypy", "thirdparty", "requests"):
        assert s[name] == USED, (name, plan.verdict(name))
    assert s["ipympl"] == UNUSED
    assert "%matplotlib qt" in plan.verdict("pyside6").reason
    assert "%%cython" in plan.verdict("cython").reason
    assert plan.missing == []  # PyQt6 and PySide2 are not installed: the backend picks another


def test_matplotlib_widget_and_qt5_pick_their_bindings(env312, tmp_path) -> None:
    s = status(plan_for(env312, {"nb.ipynb": notebook("%matplotlib widget\n")}, tmp_path / "widget"))
    assert (s["ipympl"], s["pyqt"], s["pyside6"]) == (USED, UNUSED, UNUSED)
    s = status(plan_for(env312, {"nb.ipynb": notebook("%matplotlib qt5\n")}, tmp_path / "qt5"))
    assert (s["ipympl"], s["pyqt"], s["pyside6"]) == (UNUSED, USED, UNUSED)


def write_kernel(folder: Path, name: str, argv: list[str]) -> None:
    (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / name / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": name, "language": "python"}))


def test_a_kernel_installed_under_a_name_maps_to_the_environment(env312, tmp_path, monkeypatch) -> None:
    prefix = env312.prefix_of("py312")
    user = tmp_path / "jupyter-data"
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(user))
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    # ipykernel install --name analysis --user: argv runs this environment's python
    write_kernel(user / "kernels", "analysis", [str(prefix / "bin" / "python"), "-m", "ipykernel_launcher", "-f",
                                                 "{connection_file}"])
    # another environment's kernel of the same kind is no use of this one
    write_kernel(user / "kernels", "elsewhere", [str(tmp_path / "other" / "bin" / "python"), "-m",
                                                  "ipykernel_launcher"])
    plan = plan_for(env312, {"nb.ipynb": notebook("x = 1\n", kernel="analysis")}, tmp_path / "user")
    ipykernel = plan.verdict("ipykernel")
    assert ipykernel.status == USED
    assert "kernel analysis: python -m ipykernel_launcher" in ipykernel.reason
    plan = plan_for(env312, {"nb.ipynb": notebook("x = 1\n", kernel="elsewhere")}, tmp_path / "elsewhere")
    assert plan.verdict("ipykernel").status == UNUSED


def test_a_deeply_nested_kernel_json_in_the_user_folder_is_skipped_not_a_crash(env312, tmp_path, monkeypatch) -> None:
    user = tmp_path / "jupyter-data"
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(user))
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    (user / "kernels" / "deep").mkdir(parents=True)
    (user / "kernels" / "deep" / "kernel.json").write_text('{"argv": ' + "[" * 100_000 + "]" * 100_000 + "}")
    plan = plan_for(env312, {"nb.ipynb": notebook("x = 1\n", kernel="deep")}, tmp_path / "deep")
    assert plan.verdict("ipykernel").status == UNUSED  # not this environment's kernel: no sign it runs here


def test_a_kernel_installed_into_the_prefix_is_found_though_no_package_owns_it(inst, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "empty"))
    inst = build(inst)
    inst.create_env("own", ["python", "ipykernel"])
    prefix = inst.prefix_of("own")
    # ipykernel install --name Proj --sys-prefix
    write_kernel(prefix / "share" / "jupyter" / "kernels", "proj", [str(prefix / "bin" / "python"), "-m",
                                                                    "ipykernel_launcher", "-f", "{connection_file}"])
    app = tmp_path / "app"
    app.mkdir()
    (app / "nb.ipynb").write_text(notebook("x = 1\n", kernel="Proj"))
    plan = plan_env_prune(read_environment(prefix), scan_app([app], cache_dir=None))
    assert plan.verdict("ipykernel").status == USED
    assert "kernel Proj: python -m ipykernel_launcher" in plan.verdict("ipykernel").reason


def test_the_notebook_server_stays_for_an_app_made_of_notebooks(env312, tmp_path) -> None:
    plan = plan_for(env312, {"nb.ipynb": notebook("import requests\n")}, tmp_path / "nb")
    for name in ("jupyterlab", "notebook", "jupyter_server"):
        verdict = plan.verdict(name)
        assert verdict.status == USED and verdict.reason.startswith("these notebooks are opened with it"), verdict
    plan = plan_for(env312, {"a.py": "import requests\n"}, tmp_path / "py")
    assert plan.verdict("jupyterlab").status == UNUSED


SNAKEFILE = '''\
from snakemake.utils import min_version
import thirdparty

rule align:
    input: "reads.fq"
    output: "out.bam"
    conda: "envs/align.yaml"
    shell:
        "samtools sort {input} "
        "-o {output}"

rule plot:
    script: "scripts/plot.R"

rule convert:
    run:
        import requests
        shell("ffmpeg -i {input} {output}")

rule docs:
    shell: """
        pandoc README.md -o {output}
        """
'''


def test_snakefiles_are_read_as_python_with_shell_commands(env312, tmp_path) -> None:
    for name in ("Snakefile", "rules/extra.smk"):
        plan = plan_for(env312, {name: SNAKEFILE}, tmp_path / name.replace("/", "_"))
        s = status(plan)
        for package in ("snakemake", "samtools", "ffmpeg", "pandoc", "r-base", "requests", "thirdparty"):
            assert s[package] == USED, (name, package, plan.verdict(package))
        assert "Snakefile shell:" in plan.verdict("samtools").reason
        assert plan.verdict("samtools").evidence[0].location.endswith(":9")
        assert s["ruff"] == UNUSED


def test_justfile_recipes_are_shell_and_shebang_recipes_their_language(env312, tmp_path) -> None:
    justfile = '''\
        set shell := ["bash", "-uc"]
        version := `samtools --version`

        # the default recipe
        default: lint
        lint *ARGS:
            @ruff check {{ARGS}} .
            -mypy src
        analyse:
            #!/usr/bin/env python3
            import thirdparty
        video input="a.mp4" *FLAGS:
            ffmpeg -i {{input}} {{FLAGS}}
        '''
    for name in ("justfile", ".justfile", "tasks/build.just"):
        plan = plan_for(env312, {name: justfile}, tmp_path / name.replace("/", "_"))
        s = status(plan)
        for package in ("just", "ruff", "mypy", "samtools", "thirdparty", "ffmpeg"):
            assert s[package] == USED, (name, package)
        assert "runs ruff (justfile)" in plan.verdict("ruff").reason
        assert s["pandoc"] == UNUSED


def test_task_tables_in_pyproject_and_pixi_are_commands(env312, tmp_path) -> None:
    pyproject = '''\
        [project]
        name = "app"
        dependencies = ["pandoc"]

        [tool.poe.tasks]
        lint = "ruff check ."
        types = {cmd = "mypy src"}
        fetch = {script = "thirdparty.cli:main"}

        [tool.pdm.scripts]
        sort = {shell = "samtools sort x.bam | head"}

        [tool.hatch.envs.docs.scripts]
        build = ["pandoc README.md -o out.html {args}"]

        [tool.taskipy.tasks]
        video = {cmd = "ffmpeg -version", help = "codecs"}
        '''
    plan = plan_for(env312, {"pyproject.toml": pyproject}, tmp_path / "pyproject")
    s = status(plan)
    for package in ("ruff", "mypy", "thirdparty", "samtools", "pandoc", "ffmpeg"):
        assert s[package] == USED, package
    assert "runs ruff (poe task)" in plan.verdict("ruff").reason
    assert plan.verdict("ruff").evidence[0].location.endswith("pyproject.toml:6")
    pixi = '''\
        [workspace]
        name = "app"

        [tasks]
        lint = "ruff check ."
        sort = {cmd = ["samtools", "sort", "x.bam"], depends-on = ["lint"]}

        [feature.docs.tasks]
        docs = {cmd = "pandoc README.md"}
        '''
    plan = plan_for(env312, {"pixi.toml": pixi}, tmp_path / "pixi")
    s = status(plan)
    assert (s["ruff"], s["samtools"], s["pandoc"], s["mypy"]) == (USED, USED, USED, UNUSED)


def test_a_pyproject_that_is_not_toml_still_has_its_tasks_read(env312, tmp_path) -> None:
    plan = plan_for(env312, {"pyproject.toml": '[project]\nname = "{{cookiecutter.name}}\n\n'
                                               '[tool.poe.tasks]\nlint = "ruff check ."\n'}, tmp_path)
    assert plan.verdict("ruff").status == USED


def test_r_system_and_system2_run_programs(env312, tmp_path) -> None:
    plan = plan_for(env312, {"run.R": 'system("samtools index x.bam")\nsystem2("ffmpeg", args = c("-i", f))\n'
                                      'processx::run("pandoc", c("a.md"))\n'}, tmp_path)
    s = status(plan)
    assert (s["samtools"], s["ffmpeg"], s["pandoc"], s["ruff"]) == (USED, USED, USED, UNUSED)
    assert "runs samtools (system())" in plan.verdict("samtools").reason


def test_magics_in_a_notebook_exported_as_a_script_count(env312, tmp_path) -> None:
    plan = plan_for(env312, {"analysis.py": """\
        get_ipython().run_line_magic('load_ext', 'line_profiler')
        get_ipython().run_line_magic('matplotlib', 'qt5')
        get_ipython().run_cell_magic('cython', '', 'def f(int x):\\n    return x\\n')
        """}, tmp_path)
    s = status(plan)
    assert (s["line_profiler"], s["pyqt"], s["cython"], s["matplotlib-base"]) == (USED,) * 4
    assert s["pyside6"] == UNUSED


def test_a_leftover_site_packages_of_another_python_is_not_the_standard_library(tmp_path) -> None:
    from conda_prune.environment import environment_stdlib

    (tmp_path / "lib" / "python3.13" / "site-packages").mkdir(parents=True)  # left by an old install
    (tmp_path / "lib" / "python3.12" / "lib-dynload").mkdir(parents=True)
    (tmp_path / "lib" / "python3.12" / "os.py").write_text("")
    (tmp_path / "lib" / "python3.12" / "lib-dynload" / "_csv.cpython-312-x86_64-linux-gnu.so").write_text("")
    names, source = environment_stdlib(tmp_path)
    assert {"os", "_csv"} <= names and source == "the environment's lib/python3.12"


def test_a_pth_line_with_the_absolute_path_of_a_folder_in_the_environment(inst, tmp_path) -> None:
    inst = build(inst)
    inst.create_env("abs", ["python", "pywin32-like"])
    prefix = inst.prefix_of("abs")
    pth = prefix / SITE / "pywin32.pth"
    pth.unlink()  # a hardlink into the package cache: replaced, not written through
    pth.write_text(f"{prefix / SITE / 'win32'}\n{prefix / SITE / 'win32' / 'lib'}\n")
    app = tmp_path / "app"
    app.mkdir()
    (app / "a.py").write_text("import win32con\n")
    plan = plan_env_prune(read_environment(prefix), scan_app([app], cache_dir=None))
    assert plan.verdict("pywin32-like").status == USED and plan.missing == []


def test_cells_run_as_python_are_read_as_python_and_text_cells_are_not(tmp_path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "nb.ipynb").write_text(notebook("%%time\nimport requests\n", "%%script python3\nimport thirdparty\n",
                                           "%%writefile helper.py\nimport black\n", "%%perl\nprint 1;\n"))
    uses = scan_app([app], cache_dir=None).uses
    assert {u.name for u in uses if u.kind == "module"} == {"requests", "thirdparty"}
    assert {"python3", "perl"} <= {u.name for u in uses if u.kind == "executable"}
