"""The application scan: each kind of evidence, from small files written for each case."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from conftest import in_time

from conda_prune.appscan import (
    DYNAMIC,
    EXECUTABLE,
    KERNEL,
    LIBRARY,
    MODULE,
    R_PACKAGE,
    TYPING,
    locate,
    scan_app,
)
from conda_prune.appscan.python import read_lines, read_tree, scan_python
from conda_prune.appscan.shell import shell_uses


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def scan(tmp_path: Path, files: dict[str, str]):
    return scan_app([write(tmp_path / "app", files)], cache_dir=None)


def found(result, kind: str) -> set[str]:
    return {u.name for u in result.uses if u.kind == kind}


# -- Python ----------------------------------------------------------------------------------------

PYTHON_CASES = [
    pytest.param("import numpy\n", {"numpy"}, id="plain"),
    pytest.param("import numpy.linalg as la, scipy\n", {"numpy.linalg", "scipy"}, id="dotted-and-several"),
    pytest.param("from pandas import DataFrame\n", {"pandas"}, id="from"),
    pytest.param("def f():\n    import h5py\n    return h5py\n", {"h5py"}, id="function-local"),
    pytest.param("x = 1; import toolz\n", {"toolz"}, id="after-semicolon"),
    pytest.param("if True: import attr\n", {"attr"}, id="one-line-if"),
    pytest.param("from . import sibling\nfrom .pkg import x\n", set(), id="relative-ignored"),
    pytest.param('"""\nimport not_code\n"""\nimport real\n', {"real"}, id="docstring-ignored"),
    pytest.param("from a import (\n    b,\n    c,\n)\nimport d\n", {"a", "d"}, id="parenthesized"),
    pytest.param("import a, \\\n    b\n", {"a", "b"}, id="backslash-continuation"),
    pytest.param('import importlib\nimportlib.import_module("yaml")\n', {"importlib", "yaml"}, id="import_module"),
    pytest.param('m = __import__("lxml.etree")\n', {"lxml.etree"}, id="dunder-import"),
    pytest.param('import pytest\nnp = pytest.importorskip("numpy")\n', {"pytest", "numpy"}, id="importorskip"),
    pytest.param('pytest_plugins = ["pytest_mock", "xdist.plugin"]\n', {"pytest_mock", "xdist.plugin"},
                 id="pytest_plugins"),
    pytest.param('s = "from x import y"\nimport z\n', {"z"}, id="string-not-import"),
]


@pytest.mark.parametrize("source,expected", PYTHON_CASES)
def test_python_imports_both_readers_agree(source: str, expected: set[str]) -> None:
    uses, problems = scan_python(source, "app.py")
    assert not problems
    assert {u.name for u in uses if u.kind == MODULE} == expected
    import ast

    tree_modules = {u.name for u in read_tree(ast.parse(source), "app.py") if u.kind == MODULE}
    assert tree_modules == expected


def test_type_checking_imports_do_not_count_and_else_branch_does() -> None:
    source = textwrap.dedent("""\
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import mypy_extensions
            from pandas import DataFrame
        else:
            import attr
        import after
        if typing.TYPE_CHECKING: import one_liner
        """)
    uses, _ = scan_python(source, "a.py")
    assert {u.name for u in uses if u.kind == TYPING} == {"mypy_extensions", "pandas", "one_liner"}
    assert {u.name for u in uses if u.kind == MODULE} == {"typing", "attr", "after"}


def test_imports_guarded_by_import_error_are_optional_uses() -> None:
    source = textwrap.dedent("""\
        try:
            import ujson as json
        except ImportError:
            import json
        try:
            import orjson
        except (ValueError, ModuleNotFoundError):
            pass
        try:
            import needed
        except KeyError:
            pass
        try: import inline
        except ImportError: pass
        """)
    uses = {u.name: u.optional for u in scan_python(source, "a.py")[0] if u.kind == MODULE}
    assert uses == {"ujson": True, "json": False, "orjson": True, "needed": False, "inline": True}


def test_dynamic_import_with_a_computed_name_is_reported() -> None:
    uses, _ = scan_python("import importlib\nmod = importlib.import_module(name)\n", "a.py")
    dynamic = [u for u in uses if u.kind == DYNAMIC]
    assert [(u.name, u.line) for u in dynamic] == [("name", 2)]


def test_subprocess_commands_and_python_dash_m() -> None:
    source = textwrap.dedent("""\
        import subprocess, sys, shutil, ctypes
        subprocess.run(["black", "--check", "."])
        subprocess.check_call("ruff check . && python -m mypy src", shell=True)
        subprocess.Popen([sys.executable, "-m", "pip", "list"])
        shutil.which("ffmpeg")
        ctypes.CDLL("libgdal.so.34")
        """)
    uses, _ = scan_python(source, "a.py")
    assert {"black", "ruff", "python", "ffmpeg"} <= found_in(uses, EXECUTABLE)
    assert {"mypy", "pip"} <= found_in(uses, MODULE)
    assert found_in(uses, LIBRARY) == {"libgdal.so.34"}


def found_in(uses, kind: str) -> set[str]:
    return {u.name for u in uses if u.kind == kind}


def test_unparseable_python_is_read_line_by_line_and_named(tmp_path: Path) -> None:
    result = scan(tmp_path, {"old.py": 'print "python 2"\nimport oldlib\nx = """unclosed\n'})
    assert "oldlib" in found(result, MODULE)
    assert [p.path for p in result.problems] == [str(tmp_path / "app" / "old.py")]
    assert "not valid Python" in result.problems[0].message and not result.problems[0].doubt


def test_line_reader_never_reads_less_than_the_tree_on_this_repository() -> None:
    """Every import the syntax tree finds in our own sources, the line reader finds too."""
    import ast

    root = Path(__file__).resolve().parents[1] / "conda_prune"
    for path in root.rglob("*.py"):
        text = path.read_text()
        tree = {(u.name, u.line) for u in read_tree(ast.parse(text), "x") if u.kind in (MODULE, TYPING)}
        lines = {(u.name, u.line) for u in read_lines(text, "x") if u.kind in (MODULE, TYPING)}
        assert tree <= lines, (path, tree - lines)


def test_named_strings_are_collected_and_located(tmp_path: Path) -> None:
    result = scan(tmp_path, {"settings.py": 'X = 1\nINSTALLED_APPS = ["rest_framework", "corsheaders"]\n',
                             "io.py": 'import pandas as pd\npd.read_excel(f, engine="openpyxl")\n'})
    assert {"rest_framework", "corsheaders", "openpyxl"} <= set(result.names)
    (file,) = result.names["corsheaders"]
    assert locate("corsheaders", file) == 2
    os.unlink(file)
    os.mkfifo(file)  # swapped since the scan: never opened
    assert in_time(lambda: locate("corsheaders", file)) == 0


# -- notebooks -------------------------------------------------------------------------------------


def notebook(cells: list[str], kernel: str = "python3", language: str = "python") -> str:
    return json.dumps({
        "cells": [{"cell_type": "code", "source": c.splitlines(keepends=True), "metadata": {}} for c in cells]
        + [{"cell_type": "markdown", "source": ["import not_code"]}],
        "metadata": {"kernelspec": {"name": kernel, "language": language}},
        "nbformat": 4, "nbformat_minor": 5,
    })


def test_notebook_cells_magics_shell_and_kernel(tmp_path: Path) -> None:
    nb = notebook([
        "%matplotlib inline\nimport seaborn as sns\n!pip install foo\nfiles = !ls\n",
        "%%bash\nsamtools view x.bam | head\n",
        "def f(:\n  broken\nimport still_read\n",
    ])
    result = scan(tmp_path, {"analysis.ipynb": nb})
    assert found(result, MODULE) == {"seaborn", "still_read", "matplotlib", "matplotlib_inline"}  # %matplotlib
    assert {"pip", "ls", "samtools", "head"} <= found(result, EXECUTABLE)
    assert found(result, KERNEL) == {"python3"}
    (site,) = [u for u in result.uses if u.name == "seaborn"]
    assert site.location.endswith("analysis.ipynb[cell 1]:2")
    assert [p.path.rsplit("/", 1)[-1] for p in result.problems] == ["analysis.ipynb[cell 3]"]


def test_r_notebook_cells_are_r(tmp_path: Path) -> None:
    result = scan(tmp_path, {"r.ipynb": notebook(["library(ggplot2)\n"], kernel="ir", language="R")})
    assert found(result, R_PACKAGE) == {"ggplot2"} and found(result, KERNEL) == {"ir"}


def test_broken_notebook_json_is_one_problem_and_read_as_text(tmp_path: Path) -> None:
    result = scan(tmp_path, {"broken.ipynb": '{"cells": [{"source": ["import numpy\\n"'})
    assert "numpy" in found(result, MODULE)
    assert len(result.problems) == 1 and "not valid notebook JSON" in result.problems[0].message


# -- programs --------------------------------------------------------------------------------------

SHELL_CASES = [
    pytest.param("black .", {"black"}, set(), id="plain"),
    pytest.param("FOO=1 ruff check && pytest -q | tee log", {"ruff", "pytest", "tee"}, set(), id="chain"),
    pytest.param("sudo -u me env A=1 timeout 10 gunicorn app:app &", {"sudo", "env", "timeout", "gunicorn"},
                 set(), id="wrappers"),
    pytest.param("conda run -n prod --no-capture-output snakemake -j 4", {"conda", "snakemake"}, set(),
                 id="conda-run"),
    pytest.param("python -m pytest -p xdist tests", {"python"}, {"pytest", "xdist"}, id="python-m"),
    pytest.param("python3 -c 'import requests'", {"python3"}, {"requests"}, id="python-c"),
    pytest.param("find . -name '*.tif' -exec gdalinfo {} \\;", {"find", "gdalinfo"}, set(), id="find-exec"),
    pytest.param("echo $(date) `whoami`", {"echo", "date", "whoami"}, set(), id="substitutions"),
    pytest.param("$CONDA_PREFIX/bin/dvc repro  # and not: fake", {"dvc"}, set(), id="path-and-comment"),
    pytest.param("jupyter nbconvert --execute x.ipynb", {"jupyter", "jupyter-nbconvert"}, set(), id="jupyter-sub"),
    pytest.param("bash -c 'samtools sort x.bam'", {"bash", "samtools"}, set(), id="bash-c"),
    pytest.param("coverage run -m pytest", {"coverage"}, {"coverage", "pytest"}, id="coverage-run"),
]


@pytest.mark.parametrize("line,programs,modules", SHELL_CASES)
def test_shell_commands(line: str, programs: set[str], modules: set[str]) -> None:
    from conda_prune.appscan.python import scan_python_snippet

    uses = shell_uses(line, "run.sh", python=scan_python_snippet)
    assert found_in(uses, EXECUTABLE) == programs
    assert found_in(uses, MODULE) == modules


def test_programs_from_scripts_makefiles_dockerfiles_and_ci(tmp_path: Path) -> None:
    result = scan(tmp_path, {
        "run": "#!/usr/bin/env bash\nset -e\nsalmon quant -i idx\npython - <<EOF\nimport polars\nEOF\n",
        "Makefile": "PYTHON ?= python3\nPYTEST = pytest\ntest:\n\t$(PYTHON) -m mkdocs build\n\t@$(PYTEST) -q\n"
                    "lint: ; flake8 src\nVERSION := $(shell git describe)\n",
        "Dockerfile": 'FROM x\nRUN apt-get update && \\\n    # a comment\n    fastqc --version\n'
                      'CMD ["python", "-m", "uvicorn", "app:app"]\nENTRYPOINT dvc repro\n',
        ".github/workflows/ci.yml": """\
            jobs:
              test:
                steps:
                  - uses: actions/checkout@v4
                  - run: pre-commit run --all-files
                  - name: docs
                    run: |
                      sphinx-build docs out
                      nbstripout --check *.ipynb
                container:
                  command: ["snakemake", "--cores", "1"]
            """,
        "Procfile": "web: waitress-serve app:app\n",
        "tox.ini": "[testenv]\ncommands =\n    pytest {posargs}\n    twine check dist/*\n",
        "setup.cfg": "[tool:pytest]\naddopts = -p pytest_randomly --strict-markers\n",
        "script.R": "library(ggplot2)\n",
    })
    assert {"salmon", "bash", "python3", "pytest", "flake8", "git", "apt-get", "fastqc", "dvc", "pre-commit",
            "sphinx-build", "nbstripout", "snakemake", "waitress-serve", "twine", "Rscript"} <= found(result, EXECUTABLE)
    assert {"polars", "mkdocs", "uvicorn", "pytest_randomly"} <= found(result, MODULE)


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("files, program", [
    pytest.param({"Dockerfile": f"FROM x\nCMD {DEEP}\nRUN fastqc --version\n"}, "fastqc", id="dockerfile-cmd"),
    pytest.param({".github/workflows/ci.yml": f"jobs:\n  t:\n    steps:\n      - run: {DEEP}\n"
                                              "      - run: salmon quant\n"}, "salmon", id="ci-yaml-run"),
])
def test_a_deeply_nested_exec_form_is_no_crash_and_the_rest_is_read(tmp_path: Path, files, program) -> None:
    result = scan(tmp_path, files)
    assert program in found(result, EXECUTABLE)


def test_pytest_plugins_that_exhaust_the_parser_are_no_crash(tmp_path: Path) -> None:
    result = scan(tmp_path, {"conftest.py": "pytest_plugins = " + "-" * 50_000 + "1\nimport numpy\n"})
    assert "numpy" in found(result, MODULE)


def test_r_code(tmp_path: Path) -> None:
    result = scan(tmp_path, {
        "a.R": 'library(ggplot2)\nsuppressMessages(require("dplyr"))\nx <- data.table::fread("f")\n'
               'requireNamespace("arrow", quietly = TRUE)\n',
        "report.Rmd": "---\ntitle: x\n---\n```{r}\nlibrary(tidyr)\n```\n```{python}\nimport numpy\n```\n",
    })
    assert found(result, R_PACKAGE) == {"ggplot2", "dplyr", "data.table", "arrow", "tidyr"}
    assert "numpy" in found(result, MODULE)
    assert {"Rscript", "R"} <= found(result, EXECUTABLE)


# -- the walk and the cache --------------------------------------------------------------------


def test_first_party_modules_environments_inside_the_app_and_vcs_are_skipped(tmp_path: Path) -> None:
    result = scan(tmp_path, {
        "mypkg/__init__.py": "from mypkg import util\n",
        "mypkg/util.py": "",
        "scripts/helper.py": "",
        ".env/conda-meta/history": "",
        ".env/lib/x.py": "import inside_env\n",
        ".git/hooks/pre-commit.py": "import inside_git\n",
        "node_modules/x.py": "import inside_node\n",
    })
    assert {"mypkg", "util", "helper", "scripts"} <= result.first_party
    assert not {"inside_env", "inside_git", "inside_node"} & found(result, MODULE)
    assert result.skipped_environments == (str(tmp_path / "app" / ".env"),)


def test_unreadable_folder_and_file_are_doubts_naming_them(tmp_path: Path, monkeypatch) -> None:
    import conda_prune.appscan as appscan
    from conda_prune.appscan import walk

    root = write(tmp_path / "app", {"ok.py": "import a\n", "secret/x.py": "import b\n", "locked.py": "import c\n"})
    real_scandir, real_open = os.scandir, appscan.open_regular

    def scandir(path):
        if str(path).endswith("secret"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    def opener(path, *args, **kwargs):
        if str(path).endswith("locked.py"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(walk.os, "scandir", scandir)
    monkeypatch.setattr(appscan, "open_regular", opener)
    result = scan_app([root], cache_dir=tmp_path / "cache")
    assert sorted(p.path for p in result.doubts) == [str(root / "locked.py"), str(root / "secret")]
    assert all("Permission denied" in p.message for p in result.doubts)
    assert found(result, MODULE) == {"a"}
    monkeypatch.undo()
    again = scan_app([root], cache_dir=tmp_path / "cache")  # what could not be read is read next time
    assert found(again, MODULE) == {"a", "b", "c"} and not again.doubts


def test_a_cache_file_that_is_a_fifo_or_nested_too_deeply_is_no_cache_not_a_hang(tmp_path: Path) -> None:
    root = write(tmp_path / "app", {"a.py": "import numpy\n"})
    cache = tmp_path / "cache"
    scan_app([root], cache_dir=cache)
    (cache_path,) = cache.rglob("*.json")
    for plant in ("fifo", "deep"):
        cache_path.unlink()
        if plant == "fifo":
            os.mkfifo(cache_path)
        else:
            cache_path.write_text('{"files": ' + "[" * 100_000 + "]" * 100_000 + "}")
        again = in_time(lambda: scan_app([root], cache_dir=cache))
        assert again.cached == 0 and found(again, MODULE) == {"numpy"}
        assert cache_path.is_file()  # written again, by rename: a FIFO in its place is replaced


def test_cache_is_keyed_by_path_size_and_mtime(tmp_path: Path) -> None:
    root = write(tmp_path / "app", {"a.py": "import numpy\n", "b.py": "import scipy\n"})
    cache = tmp_path / "cache"
    first = scan_app([root], cache_dir=cache)
    assert (first.files, first.cached) == (2, 0)
    assert list(cache.rglob("*.json")) and not list(root.rglob("*.json"))  # never inside the app
    second = scan_app([root], cache_dir=cache)
    assert (second.cached, sorted(u.name for u in second.uses)) == (2, ["numpy", "scipy"])
    (root / "b.py").write_text("import sympy\n")  # same size, new mtime
    os.utime(root / "b.py", ns=(1, 1))
    third = scan_app([root], cache_dir=cache)
    assert third.cached == 1 and sorted(u.name for u in third.uses) == ["numpy", "sympy"]


BAD_BUT_READ_WHOLE = {"good.py": "import numpy\n", "bad.py": "import scipy\n\ndef f(:\n    pass\n"}


def unparsed(result) -> list[tuple[str, int | None]]:
    return sorted((Path(p.path).name, p.line) for p in result.problems if p.parser_message)


def test_the_parse_runs_beside_the_caller_and_is_kept_in_the_cache(tmp_path: Path) -> None:
    root = write(tmp_path / "app", BAD_BUT_READ_WHOLE)
    cache = tmp_path / "cache"
    first = scan_app([root], cache_dir=cache, check_syntax="later")
    assert found(first, MODULE) == {"numpy", "scipy"}  # the uses are there before the parse ends
    assert first.syntax is not None and unparsed(first) == []
    first.finish_syntax()
    assert unparsed(first) == [("bad.py", 3)] and first.syntax is None
    [problem] = [p for p in first.problems if p.parser_message]
    assert not problem.doubt and "invalid syntax" in problem.parser_message
    second = scan_app([root], cache_dir=cache, check_syntax="later")
    assert second.cached == 2 and second.syntax is None  # nothing left to parse: the cache knows
    assert unparsed(second) == [("bad.py", 3)]
    plain = scan_app([root], cache_dir=cache)  # a caller that does not ask still sees what is known
    assert unparsed(plain) == [("bad.py", 3)]


def test_without_a_cache_the_parse_of_later_scans_is_not_lost(tmp_path: Path) -> None:
    root = write(tmp_path / "app", BAD_BUT_READ_WHOLE)
    cache = tmp_path / "cache"
    scan_app([root], cache_dir=cache)  # written by a caller that did not ask for the parse
    now = scan_app([root], cache_dir=cache, check_syntax=True)
    assert now.cached == 2 and unparsed(now) == [("bad.py", 3)]
    assert unparsed(scan_app([root], cache_dir=None, check_syntax=True)) == [("bad.py", 3)]


def test_the_second_process_does_the_parse_and_runs_nothing_of_the_application(tmp_path: Path, monkeypatch) -> None:
    """Run from inside the application (``--app .``): a ``token.py`` or ``json.py`` there must
    not be imported by the parsing process in place of the standard library's; and the result
    must come from that process, not from a fallback in this one."""
    from conda_prune.appscan import syntax

    marker = tmp_path / "ran"
    files = dict(BAD_BUT_READ_WHOLE)
    for name in ("token.py", "json.py", "ast.py", "tokenize.py", "typing.py"):
        files[name] = f"open({str(marker)!r}, 'w').write('ran')\n"
    root = write(tmp_path / "app", files)
    monkeypatch.chdir(root)

    def not_here(items):  # type: ignore[no-untyped-def]
        raise AssertionError("the parse fell back to this process")

    monkeypatch.setattr(syntax, "check_items", not_here)
    result = scan_app(["."], cache_dir=None, check_syntax="later")
    result.finish_syntax()
    assert unparsed(result) == [("bad.py", 3)]
    assert not marker.exists(), "a file of the application ran"


@pytest.mark.parametrize("how", ["no process", "the process dies", "a frozen conda"])
def test_the_parse_is_done_here_when_the_second_process_fails(tmp_path: Path, monkeypatch, how: str) -> None:
    """...or is never started: a frozen conda (conda-standalone) is not a Python that takes -c."""
    import subprocess
    import sys

    started = []
    if how == "no process":
        def refuse(*args, **kwargs):
            raise OSError(1, "Operation not permitted")
        monkeypatch.setattr(subprocess, "Popen", refuse)
    elif how == "the process dies":
        monkeypatch.setattr(sys, "executable", "/bin/false")
    else:
        def record(*args, **kwargs):
            started.append(args)
            raise OSError(1, "started")
        monkeypatch.setattr(sys, "frozen", True, raising=False)
        monkeypatch.setattr(subprocess, "Popen", record)
    root = write(tmp_path / "app", BAD_BUT_READ_WHOLE)
    result = scan_app([root], cache_dir=None, check_syntax="later")
    result.finish_syntax()
    assert unparsed(result) == [("bad.py", 3)]
    assert not started


def test_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    root = write(tmp_path / "app", {"a.py": "import numpy\n"})
    cache = tmp_path / "cache"
    scan_app([root], cache_dir=cache)
    for f in cache.rglob("*.json"):
        f.write_text("{not json")
    again = scan_app([root], cache_dir=cache)
    assert again.cached == 0 and [u.name for u in again.uses] == ["numpy"]


def test_cached_results_keep_the_path_the_user_gave(tmp_path: Path, monkeypatch) -> None:
    root = write(tmp_path / "app", {"a.py": "import numpy\n"})
    cache = tmp_path / "cache"
    scan_app([root], cache_dir=cache)
    monkeypatch.chdir(tmp_path)
    again = scan_app(["app"], cache_dir=cache)
    assert again.cached == 1 and again.uses[0].location == "app/a.py:1"


# -- hostile application files (issue 14): named problems and doubts, never a hang or a crash ----


def _hostile_app(root: Path) -> Path:
    write(root, {
        "ok.py": "import a\n",
        "minus.py": "x = " + "-" * 50_000 + "1\n",
        "chain.py": "import os\nos" + ".a" * 1_500 + "()\n",
        "deep.ipynb": '{"cells": [{"cell_type": "code", "source": "import nb", "outputs": '
                      + "[" * 100_000 + "]" * 100_000 + '}], "metadata": {}}',
    })
    os.mkfifo(root / "fifo.py")
    (root / "zero.py").symlink_to("/dev/null")  # a device (not /dev/zero: a regression would fill memory)
    (root / "proc").symlink_to("/proc")
    return root


def test_hostile_app_files_never_hang_or_crash_the_scan(tmp_path: Path) -> None:
    root = _hostile_app(tmp_path / "app")
    result = scan_app([root], cache_dir=tmp_path / "cache")
    doubts = {Path(p.path).name: p.message for p in result.doubts}
    assert "FIFO" in doubts["fifo.py"] and "character device" in doubts["zero.py"]
    assert "outside the application" in doubts["proc"] and "--app /proc" in doubts["proc"]
    assert "a" in found(result, MODULE)
    single = scan_app([root / "fifo.py"], cache_dir=None)  # one file named on --app: the same checks
    assert [Path(p.path).name for p in single.doubts] == ["fifo.py"]


def test_why_used_import_sites_survive_hostile_files(tmp_path: Path) -> None:
    from conda_prune.why import find_import_sites

    root = _hostile_app(tmp_path / "app")
    sites, problems = find_import_sites([root])
    said = {p.path.name: p.message for p in problems}
    assert {"fifo.py", "zero.py", "minus.py", "deep.ipynb"} <= set(said)
    assert any(s.modules == ("a",) for s in sites)


def test_a_file_over_the_read_limit_is_a_doubt(tmp_path: Path, monkeypatch) -> None:
    from conda_prune.appscan import walk

    root = write(tmp_path / "app", {"ok.py": "import a\n", "big.py": "import only_here\n" + "#" * 200})
    monkeypatch.setattr(walk, "MAX_BYTES", 100)
    result = scan_app([root], cache_dir=None)
    assert [Path(p.path).name for p in result.doubts] == ["big.py"]
    assert "read limit" in result.doubts[0].message


@pytest.mark.parametrize("source", [
    'import subprocess\nsubprocess.run(["git", "status"])\nrun("make all")\n',
    'def run(cmd):\n    pass\n\nrun("make all")\n',  # not subprocess: neither reader counts it
    'import os\nos.system("curl -s x")\nos.execvp("rsync", ["rsync"])\n',
    'import ctypes\nctypes.CDLL("libfoo.so")\nwhich("bar")\n',
    'from importlib import import_module\nimport_module("yaml")\n',
])
def test_the_tree_reader_and_the_line_reader_agree_on_call_sites(source: str) -> None:
    import ast

    def calls(uses):  # type: ignore[no-untyped-def]
        return sorted((u.kind, u.name, u.line) for u in uses if u.how not in ("import", "from"))

    assert calls(read_tree(ast.parse(source), "x.py")) == calls(read_lines(source, "x.py"))


def test_the_parse_check_runs_in_its_own_isolated_process(tmp_path, monkeypatch) -> None:
    """The second process finds the file that does not parse, though this process could not
    (check_items fails here), and a module of the application named like one of the standard
    library, in the current folder and on PYTHONPATH, is not what it imports."""
    from conda_prune.appscan import syntax, walk

    app = tmp_path / "app"
    app.mkdir()
    (app / "ast.py").write_text("raise SystemExit(3)\n")  # shadows the parser if it were imported
    (app / "broken.py").write_text("def f(:\n")
    monkeypatch.chdir(app)
    monkeypatch.setenv("PYTHONPATH", str(app))
    monkeypatch.setattr(syntax, "check_items", lambda items: pytest.fail("checked in this process"))
    check = syntax.SyntaxCheck([(str(app / "broken.py"), "broken.py", walk.PYTHON)]).start()
    assert check._process is not None
    (problem,) = check.finish()
    assert problem.line == 1 and "broken.py" in str(problem)
