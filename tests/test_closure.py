"""The import closure: what the application's imports load through installed code, on real
environments built offline (packages with real Python files, made with py-rattler-build)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from builder import SITE, Installation
from conftest import in_time

from conda_prune.appscan import scan_app
from conda_prune.appscan.python import _INSTALLED_CALLS, _TreeReader, installed_imports
from conda_prune.env_prune import KEPT, NEEDED, UNUSED, USED, plan_env_prune
from conda_prune.env_prune.closure import closure_expander
from conda_prune.graph import DependencyGraph
from conda_prune.records import read_environment


def _py(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


#: a pandas-like package: an import-time guarded import (pyarrow), an optional-import helper with
#: a literal name (numexpr), a function-level import (openpyxl), relative imports
PANDAS = {
    f"{SITE}/pandas/__init__.py": _py("""
        import numpy
        from pandas.compat import pyarrow as _pa
        from .core import computation
        from .io.excel import read_excel
    """),
    f"{SITE}/pandas/compat/__init__.py": "",
    f"{SITE}/pandas/compat/_optional.py": _py("""
        import importlib

        def import_optional_dependency(name, errors="raise"):
            try:
                return importlib.import_module(name)
            except ImportError:
                return None
    """),
    f"{SITE}/pandas/compat/pyarrow.py": _py("""
        \"\"\"pyarrow, when it is there.\"\"\"
        try:
            import pyarrow as pa
        except ImportError:
            pa = None
    """),
    f"{SITE}/pandas/core/__init__.py": "",
    f"{SITE}/pandas/core/computation.py": _py("""
        from pandas.compat._optional import import_optional_dependency

        ne = import_optional_dependency("numexpr", errors="warn")
    """),
    f"{SITE}/pandas/io/__init__.py": "",
    f"{SITE}/pandas/io/excel.py": _py("""
        def read_excel(
            path,
            engine=None,
        ):
            import openpyxl
            return openpyxl.load_workbook(path)
    """),
}

#: numpy-like: a lazy submodule through the module's __getattr__, whose own top level imports another package
NUMPY = {
    f"{SITE}/numpy/__init__.py": _py("""
        def __getattr__(attr):
            if attr == "f2py":
                import numpy.f2py as f2py
                return f2py
            raise AttributeError(attr)
    """),
    f"{SITE}/numpy/f2py/__init__.py": "import charset_normalizer\n",
}


def _module(name: str, text: str = "") -> dict[str, str]:
    return {f"{SITE}/{name}/__init__.py": text or f"# {name}\n"}


def build(inst: Installation) -> Path:
    p = inst.package
    p("python", "3.11.9", "h0", files={"lib/python3.11/os.py": "", "lib/python3.11/importlib/__init__.py": ""},
      executables=["python"])
    p("numpy", "2.0.0", "py311h0", depends=["python"], files=NUMPY)
    p("pandas", "2.2.2", "py311h0", depends=["python", "numpy"], files=PANDAS)
    p("pyarrow", "16.1.0", "py311h0", depends=["python", "numpy"],
      files=_module("pyarrow", "try:\n    import cloudpickle\nexcept ImportError:\n    cloudpickle = None\n"))
    p("cloudpickle", "3.0.0", "pyh0", depends=["python"], files=_module("cloudpickle"))
    p("numexpr", "2.10.0", "py311h0", depends=["python", "numpy"], files=_module("numexpr"))
    p("openpyxl", "3.1.2", "pyh0", depends=["python"], files=_module("openpyxl"))
    p("charset-normalizer", "3.3.2", "pyh0", depends=["python"], files=_module("charset_normalizer"))
    # a cycle: cyca imports cycb, which imports cyca back and cycdep
    p("cyca", "1.0", "0", depends=["python"], files=_module("cyca", "import cycb\n"))
    p("cycb", "1.0", "0", depends=["python"], files=_module("cycb", "import cyca\nimport cycdep\n"))
    p("cycdep", "1.0", "0", depends=["python"], files=_module("cycdep"))
    p("tabulate", "0.9.0", "pyh0", depends=["python"], files=_module("tabulate"))
    return inst.create_env("lab", ["python", "numpy", "pandas", "pyarrow", "cloudpickle", "numexpr", "openpyxl",
                                   "charset-normalizer", "cyca", "cycb", "cycdep", "tabulate"])


APP = {
    "app/io.py": "import pandas\n",
    "app/num.py": "import numpy as np\n",
    "app/cyc.py": "import cyca\n",
}


@pytest.fixture
def lab(inst: Installation, tmp_path: Path) -> tuple[Path, Path]:
    prefix = build(inst)
    app = tmp_path / "src"
    for rel, text in APP.items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(text)
    return prefix, app / "app"


def plan(prefix: Path, app: Path, cache: Path | None = None, **kwargs):
    env = read_environment(prefix)
    scan = scan_app([app], cache_dir=None)
    graph = DependencyGraph.build(env)
    expand, closure = closure_expander(env, scan, graph, cache_dir=cache)
    result = plan_env_prune(env, scan, graph=graph, expanders=[expand], **kwargs)
    return result, closure()


# -- the reader ----------------------------------------------------------------------------------


READER_CASES = '''
import os
try:
    import guarded
except ImportError:
    guarded = None
from . import sibling
from ..up import thing
x = __import__("dunder")

class Klass:
    import in_class_body

    def method(self):
        import in_method

def multi_line(
    a,
    b=1,
) -> None:
    import in_long_def
    importlib.import_module("by_name")

@decorator
async def coroutine():
    from lazy.mod import name
'''


def test_both_readers_tell_module_level_from_function_imports_and_keep_relative_ones() -> None:
    import ast

    line = {(u.name, u.deferred, u.optional) for u in installed_imports(READER_CASES, "p/__init__.py")}
    tree = {(u.name, u.deferred, u.optional)
            for u in _TreeReader("p", 1, frozenset(_INSTALLED_CALLS), installed=True).read(ast.parse(READER_CASES))}
    assert line == tree
    assert line == {
        ("os", False, False), ("guarded", False, True), (".", False, False), ("..up", False, False),
        ("dunder", False, False), ("in_class_body", False, False), ("in_method", True, False),
        ("in_long_def", True, False), ("by_name", True, False), ("lazy.mod", True, False),
    }


def test_the_application_scan_still_drops_relative_imports_and_marks_nothing_deferred(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(READER_CASES)
    scan = scan_app([tmp_path], cache_dir=None)
    names = {u.name for u in scan.uses}
    assert "in_method" in names and not any(n.startswith(".") for n in names)
    assert not any(u.deferred for u in scan.uses)


# -- the closure in the plan ---------------------------------------------------------------------


def test_import_time_loads_of_used_packages_are_needed_with_the_chain(lab) -> None:
    prefix, app = lab
    result, _ = plan(prefix, app)
    pyarrow = result.verdict("pyarrow")
    assert pyarrow.status == NEEDED
    assert pyarrow.reason.startswith("pandas imports it when present (pyarrow <- pandas/compat/pyarrow.py:3 <- ")
    assert pyarrow.reason.endswith(f"<- pandas <- {os.path.normpath(app)}/io.py:1)")
    numexpr = result.verdict("numexpr")
    assert numexpr.status == NEEDED and "import_optional_dependency" not in numexpr.reason
    assert numexpr.reason.startswith("pandas imports it when present (numexpr <- pandas/core/computation.py:3 <- ")
    # followed further: what pyarrow imports at import time
    cloudpickle = result.verdict("cloudpickle")
    assert cloudpickle.status == NEEDED
    assert cloudpickle.reason.startswith("pyarrow imports it when present (cloudpickle <- pyarrow/__init__.py:2 <- ")
    assert result.verdict("pandas").status == USED and result.verdict("tabulate").status == UNUSED
    assert not result.verdict("tabulate").on_demand


def test_a_function_level_import_is_on_demand_removable_and_kept_with_keep_optional(lab) -> None:
    prefix, app = lab
    result, _ = plan(prefix, app)
    openpyxl = result.verdict("openpyxl")
    assert openpyxl.status == UNUSED and openpyxl.removable
    assert openpyxl.on_demand == (
        f"pandas can load it on demand (openpyxl <- pandas/io/excel.py:5 (in a function) <- pandas <- "
        f"{os.path.normpath(app)}/io.py:1)",
    )
    kept, _ = plan(prefix, app, keep_optional=True)
    assert kept.verdict("openpyxl").status == KEPT and not kept.verdict("openpyxl").removable
    assert kept.verdict("tabulate").status == UNUSED  # nothing can load it: it still goes


def test_a_lazy_getattr_submodule_makes_what_it_imports_on_demand(lab) -> None:
    prefix, app = lab
    result, _ = plan(prefix, app)
    charset = result.verdict("charset-normalizer")
    assert charset.status == UNUSED and charset.removable
    assert charset.on_demand[0].startswith(
        "numpy can load it on demand (charset_normalizer <- numpy/f2py/__init__.py:1 <- numpy.f2py <- "
        "numpy/__init__.py:3 (in a function) <- numpy <- ")


def test_a_cycle_ends_and_everything_on_it_is_needed(lab) -> None:
    prefix, app = lab
    result, _ = plan(prefix, app)
    assert result.verdict("cyca").status == USED
    assert result.verdict("cycb").status == NEEDED and result.verdict("cycdep").status == NEEDED
    assert result.verdict("cycdep").reason.startswith("cycb imports it (cycdep <- cycb/__init__.py:2 <- cycb <- ")


def test_the_cache_is_reused_on_a_second_run_and_a_changed_file_is_read_again(lab, tmp_path: Path) -> None:
    prefix, app = lab
    cache = tmp_path / "cache"
    _, first = plan(prefix, app, cache)
    assert first.stats.files_read > 5 and first.stats.files_cached == 0
    assert list((cache / "closure").glob("*.json"))
    second_plan, second = plan(prefix, app, cache)
    assert second.stats.files_read == 0 and second.stats.files_cached == first.stats.files_read
    assert second_plan.verdict("pyarrow").status == NEEDED  # the cached lists decide the same
    changed = prefix / SITE / "pandas" / "compat" / "pyarrow.py"
    changed.write_text("import pyarrow\nimport tabulate\n")
    third_plan, third = plan(prefix, app, cache)
    assert third.stats.files_read == 2  # the changed file, and tabulate's, which nothing reached before
    assert third_plan.verdict("tabulate").status == NEEDED
    assert third_plan.verdict("tabulate").reason.startswith("pandas imports it (tabulate <- pandas/compat/pyarrow.py:2")


def test_an_unreadable_installed_file_is_a_doubt_naming_it_not_a_crash(lab) -> None:
    prefix, app = lab
    target = prefix / SITE / "pandas" / "compat" / "pyarrow.py"
    target.unlink()
    os.mkfifo(target)  # not a regular file: never opened (it could block)
    result, _ = plan(prefix, app)
    assert any(str(target) in d and "what it imports is unknown" in d for d in result.doubts)
    assert result.verdict("numexpr").status == NEEDED  # the rest is still followed


def test_programs_the_application_runs_are_followed_through_their_python_scripts(inst: Installation,
                                                                                 tmp_path: Path) -> None:
    p = inst.package
    p("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    p("tool", "1.0", "0", depends=["python"], files={
        "bin/tool": "#!/usr/bin/env python\nfrom tool.cli import main\nmain()\n",
        f"{SITE}/tool/__init__.py": "", f"{SITE}/tool/cli.py": "import helper\n\ndef main():\n    pass\n",
    })
    p("helper", "1.0", "0", depends=["python"], files=_module("helper"))
    prefix = inst.create_env("tools", ["python", "tool", "helper"])
    app = tmp_path / "app"
    app.mkdir()
    (app / "Makefile").write_text("lint:\n\ttool --check .\n")
    result, _ = plan(prefix, app)
    assert result.verdict("tool").status == USED
    assert result.verdict("helper").status == NEEDED
    assert result.verdict("helper").reason.startswith("tool imports it (helper <- tool/cli.py:1 <- ")


def test_a_program_the_application_runs_that_is_a_fifo_is_a_doubt_not_a_hang(inst: Installation,
                                                                            tmp_path: Path) -> None:
    p = inst.package
    p("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    p("tool", "1.0", "0", depends=["python"], files={
        "bin/tool": "#!/usr/bin/env python\nfrom tool.cli import main\nmain()\n", f"{SITE}/tool/__init__.py": "",
    })
    prefix = inst.create_env("tools", ["python", "tool"])
    program = prefix / "bin" / "tool"
    program.unlink()
    os.mkfifo(program)
    app = tmp_path / "app"
    app.mkdir()
    (app / "Makefile").write_text("lint:\n\ttool --check .\n")
    result, _ = in_time(lambda: plan(prefix, app))
    assert any(str(program) in d and "FIFO" in d and "what it imports is unknown" in d for d in result.doubts)


def test_a_closure_cache_file_that_is_a_fifo_is_no_cache_not_a_hang(lab, tmp_path: Path) -> None:
    prefix, app = lab
    cache = tmp_path / "cache"
    plan(prefix, app, cache)
    (cache_path,) = (cache / "closure").glob("*.json")
    cache_path.unlink()
    os.mkfifo(cache_path)
    result, closure = in_time(lambda: plan(prefix, app, cache))
    assert closure.stats.files_cached == 0 and result.verdict("numexpr").status == NEEDED


# -- the command line ----------------------------------------------------------------------------


def test_cli_names_on_demand_packages_in_text_and_json_and_keep_optional_keeps_them(lab, inst, monkeypatch,
                                                                                     capsys) -> None:
    from test_env_prune_cli import run

    prefix, app = lab
    code, out, err = run(inst, monkeypatch, capsys, "-p", str(prefix), "--app", str(app), "--dry-run")
    assert code == 0, err
    assert "Unused, but a used package can load it on demand" in out
    assert "pandas can load it on demand (openpyxl <- pandas/io/excel.py:5 (in a function)" in out
    assert "--keep-optional keeps them." in out and "A removal takes 2 packages" in out

    code, out, err = run(inst, monkeypatch, capsys, "-p", str(prefix), "--app", str(app), "--dry-run", "--json")
    doc = json.loads(out)
    packages = {p["name"]: p for p in doc["packages"]}
    assert packages["openpyxl"]["status"] == "unused" and packages["openpyxl"]["removable"]
    assert packages["openpyxl"]["on_demand"][0].startswith("pandas can load it on demand (openpyxl <- ")
    assert packages["tabulate"]["on_demand"] == [] and packages["pyarrow"]["status"] == "needed"
    assert doc["removable_on_demand"] == ["charset-normalizer", "openpyxl"]

    code, out, err = run(inst, monkeypatch, capsys, "-p", str(prefix), "--app", str(app), "--dry-run", "--json",
                         "--keep-optional")
    doc = json.loads(out)
    packages = {p["name"]: p for p in doc["packages"]}
    assert packages["openpyxl"]["status"] == "kept" and not packages["openpyxl"]["removable"]
    assert doc["removable"] == ["tabulate"] and doc["removable_on_demand"] == []


def test_keep_optional_without_app_is_a_usage_error(inst, monkeypatch, capsys) -> None:
    from test_env_prune_cli import run

    code, _, err = run(inst, monkeypatch, capsys, "--keep-optional", "--dry-run")
    assert code == 2 and "--keep-optional only applies with --app" in err


def test_why_used_with_app_shows_the_same_closure_chains(lab, inst, monkeypatch, capsys) -> None:
    from conda_prune.cli.standalone import main

    prefix, app = lab
    for key, value in inst.environ(CONDA_PRUNE_CACHE_DIR=str(inst.root / "scan-cache")).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COLUMNS", "200")

    def call(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["why-used", *argv])
        return (code, *capsys.readouterr())
    code, out, err = call("pyarrow", "openpyxl", "tabulate", "-p", str(prefix), "--app", str(app), "--json")
    assert code == 0, err
    explained = {e["name"]: e for e in json.loads(out)["packages"]}
    assert explained["pyarrow"]["loaded_by"][0].startswith(
        "pandas imports it when present (pyarrow <- pandas/compat/pyarrow.py:3 <- pandas <- ")
    assert explained["openpyxl"]["loaded_by"] == []
    assert explained["openpyxl"]["on_demand"][0].startswith("pandas can load it on demand (openpyxl <- ")
    assert explained["tabulate"]["loaded_by"] == [] and explained["tabulate"]["on_demand"] == []
    code, out, err = call("pyarrow", "-p", str(prefix), "--app", str(app))
    assert "loaded at import time" in out and "pandas imports it when present" in out


def test_a_package_installed_after_a_cached_run_is_followed(lab, inst: Installation, tmp_path: Path) -> None:
    _, app = lab
    prefix = inst.create_env("later", ["python", "numpy", "pandas", "numexpr", "openpyxl", "cyca", "cycb", "cycdep"])
    cache = tmp_path / "cache"
    before, _ = plan(prefix, app, cache)
    assert before.verdict("pyarrow") is None
    inst.install(prefix, ["pyarrow", "cloudpickle"])
    after, closure = plan(prefix, app, cache)  # no file the last result read has changed; the packages have
    assert after.verdict("pyarrow").status == NEEDED and after.verdict("cloudpickle").status == NEEDED
    assert closure.stats.files_read == 2  # pyarrow's and cloudpickle's; the rest from the per-file cache


def test_an_extension_module_is_read_through_the_cython_source_shipped_beside_it(inst: Installation,
                                                                                tmp_path: Path) -> None:
    p = inst.package
    p("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    p("arrowish", "1.0", "0", depends=["python"], files={
        f"{SITE}/arrowish/__init__.py": "from arrowish.lib import Table\n",
        f"{SITE}/arrowish/lib.cpython-311-x86_64-linux-gnu.so": b"\x7fELF not really",
        f"{SITE}/arrowish/lib.pyx": ('# cython: language_level=3\ncimport cython\ninclude "compat.pxi"\n'
                                     'include "made_at_build.pxi"\n'),
        f"{SITE}/arrowish/compat.pxi": "try:\n    import cloudpickle as pickle\nexcept ImportError:\n    import pickle\n",
    })
    p("cloudpickle", "3.0.0", "pyh0", depends=["python"], files=_module("cloudpickle"))
    prefix = inst.create_env("ext", ["python", "arrowish", "cloudpickle"])
    app = tmp_path / "app"
    app.mkdir()
    (app / "x.py").write_text("import arrowish\n")
    result, _ = plan(prefix, app)
    assert not result.doubts  # an include the package does not ship was compiled in: no doubt
    assert result.verdict("cloudpickle").status == NEEDED
    assert result.verdict("cloudpickle").reason == (
        f"arrowish imports it when present (cloudpickle <- arrowish/compat.pxi:2 <- arrowish <- {app}/x.py:1)")
