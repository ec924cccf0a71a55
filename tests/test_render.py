"""What a user sees: output that fits 60, 80 and 120 columns (and a pipe), never a value split
across lines, no line ending in spaces, and counts that say what happens."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from builder import Installation
from conda_prune.cache_prune import plan_cache_prune
from conda_prune.render.cache_report import render_plan, render_result
from conda_prune.render.layout import Column, print_records, wrap_words

WIDTHS = (60, 80, 120)


def console(width: int) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=width, color_system=None, highlight=False), buffer


def assert_fits(text: str, width: int, values: list[str] = ()) -> None:
    """Every line within ``width`` (unless it is a single word too long for any line), none
    ending in a space, and each of ``values`` whole on one line."""
    lines = text.splitlines()
    assert lines, "nothing printed"
    for line in lines:
        assert line == line.rstrip(), f"trailing spaces: {line!r}"
        assert len(line) <= width or " " not in line.strip(), f"wider than {width}: {line!r}"
    for value in values:
        assert any(value in line for line in lines), f"{value!r} split across lines:\n{text}"


@pytest.fixture
def long_builds(inst: Installation) -> Installation:
    """Entries with long version/build strings, and a reason long enough to need the room."""
    inst.package("cuda-nvrtc", "12.6.68", "h5888daf_0", size=30_000)
    inst.package("numpy", "1.26.4", "py311h64a7726_0", size=20_000)
    inst.package("r-base", "4.4.1", "h2d5e3b5_1", size=20_000)
    inst.package("libblas", "3.9.0", "20_linux64_openblas", size=10_000)
    inst.package("python", "3.11.9", "h955ad1f_0", size=10_000)
    inst.create_env("copied", ["numpy"], link="copy")
    inst.create_env("used", ["libblas", "python"])
    inst.create_env("gone", ["r-base"])
    inst.remove_env("gone")
    inst.extract_to_cache(inst.packages["cuda-nvrtc-12.6.68-h5888daf_0"])
    inst.add_conda_cache_files()
    return inst


@pytest.mark.parametrize("width", WIDTHS)
def test_cache_dry_run_fits_the_width_without_splitting_a_value(long_builds: Installation, width: int) -> None:
    plan = plan_cache_prune(long_builds.locations())
    con, buffer = console(width)
    render_plan(plan, con)
    out = buffer.getvalue()
    assert_fits(out, width, ["12.6.68 / h5888daf_0", "1.26.4 / py311h64a7726_0", "folder + tarball",
                             "cuda-nvrtc"])
    assert "h5888daf_0" in out and "used only by copy-installed environments" in " ".join(out.split())


def test_cache_dry_run_is_a_table_when_wide_and_degrades_when_narrow(long_builds: Installation) -> None:
    plan = plan_cache_prune(long_builds.locations())
    wide, buffer = console(160)
    render_plan(plan, wide)
    header = next(line for line in buffer.getvalue().splitlines() if line.startswith("entry"))
    assert header.split() == ["entry", "version", "/", "build", "removes", "frees", "why"]
    middle, buffer = console(80)  # the reasons move under their entries
    render_plan(plan, middle)
    lines = buffer.getvalue().splitlines()
    header = next(line for line in lines if line.startswith("entry"))
    assert header.split() == ["entry", "version", "/", "build", "removes", "frees"]
    row = next(n for n, line in enumerate(lines) if line.startswith("cuda-nvrtc"))
    assert lines[row + 1] == "  no environment uses it"
    narrow, buffer = console(60)
    render_plan(plan, narrow)
    out = buffer.getvalue()
    assert "  version / build: 12.6.68 / h5888daf_0" in out  # one record per block
    assert not any(line.startswith("entry ") for line in out.splitlines())


def test_tarballs_header_and_total_tell_folders_and_tarballs_apart(long_builds: Installation) -> None:
    plan = plan_cache_prune(long_builds.locations(), tarballs=True)
    con, buffer = console(200)
    render_plan(plan, con)
    out = " ".join(buffer.getvalue().split())
    # 5 entries: cuda-nvrtc, numpy (copies only), r-base go whole; libblas and python are in use
    assert "5 entries: 3 to remove, 2 in use (only their tarballs go), 0 kept for another reason" in out
    assert "by removing 3 cache entries and 2 tarballs of 2 entries that stay extracted" in out
    assert "removing 5 cache entries" not in out


def test_the_result_line_tells_folders_and_tarballs_apart(long_builds: Installation, monkeypatch) -> None:
    from conda_prune.cache_prune import execute_plan

    plan = plan_cache_prune(long_builds.locations(), tarballs=True)
    result = execute_plan(plan, long_builds.locations(), ())
    con, buffer = console(80)
    render_result(result, con)
    out = " ".join(buffer.getvalue().split())
    assert "Removed 3 cache entries and 2 tarballs of 2 entries that stay extracted, freeing" in out


def test_no_cache_on_disk_says_where_it_looked(inst: Installation, tmp_path) -> None:
    from dataclasses import replace

    locations = inst.locations()
    missing = [tmp_path / "nowhere" / "pkgs", tmp_path / "elsewhere" / "pkgs"]
    plan = plan_cache_prune(replace(locations, pkgs_dirs=missing))
    con, buffer = console(200)
    render_plan(plan, con)
    out = buffer.getvalue()
    assert "No package cache exists on disk; looked at:" in out
    assert all(str(p) in out for p in missing)


# -- the layout itself ----------------------------------------------------------------------


def test_words_wrap_between_words_and_a_long_word_stays_whole() -> None:
    lines = [t.plain for t in wrap_words(Text("see /a/very/long/path/that/fits/nowhere/at/all for why"), 12)]
    assert lines == ["see", "/a/very/long/path/that/fits/nowhere/at/all", "for why"]


@pytest.mark.parametrize("width", WIDTHS)
def test_records_never_split_a_cell(width: int) -> None:
    columns = [Column("name"), Column("version"), Column("size", justify="right"), Column("note", prose=True)]
    rows = [["a-package-with-a-long-name", "2024.10.1-py311h0123456_17", "100.0 MB",
             "a note long enough that at sixty columns it cannot share the line with the rest of the record"]]
    con, buffer = console(width)
    print_records(con, columns, rows)
    assert_fits(buffer.getvalue(), width, ["a-package-with-a-long-name", "2024.10.1-py311h0123456_17", "100.0 MB"])


def test_cells_print_as_they_are_not_as_markup() -> None:
    con, buffer = console(80)
    print_records(con, [Column("name"), Column("why", prose=True)], [["[bold]x[/bold]", "a [red] b"]])
    assert "[bold]x[/bold]" in buffer.getvalue() and "a [red] b" in buffer.getvalue()


def run(inst: Installation, monkeypatch, capsys, *argv: str, columns: int = 80) -> tuple[int, str, str]:
    """The standalone script in-process, its stdout a pipe ``columns`` wide."""
    import os

    from conda_prune.cli.standalone import main

    for key in [k for k in os.environ if k.startswith(("CONDA", "MAMBA"))]:
        monkeypatch.delenv(key)
    for key, value in inst.environ().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COLUMNS", str(columns))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_no_line_of_a_piped_run_ends_in_spaces(long_builds: Installation, monkeypatch, capsys) -> None:
    for argv in (("--dry-run",), ("--dry-run", "-v"), ("--dry-run", "--tarballs")):
        code, out, _ = run(long_builds, monkeypatch, capsys, "prune", *argv)
        assert code == 0
        assert not [line for line in out.splitlines() if re.search(r"\s$", line)], out


# -- messages ------------------------------------------------------------------------------

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from conftest import needs_conda  # noqa: E402


def script(inst: Installation, *argv: str, columns: int = 80, close_stdout: bool = False) -> tuple[int, str, str]:
    """The standalone script in a subprocess, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "MAMBA"))}
    env.update(inst.environ(COLUMNS=str(columns)))
    cmd = [sys.executable, "-c", "import sys; from conda_prune.cli.standalone import main; sys.exit(main())", *argv]
    if close_stdout:
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        p.stdout.close()
        err = p.stderr.read()
        return p.wait(), "", err
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    return out.returncode, out.stdout, out.stderr


def through_conda(inst: Installation, *argv: str, close_stdout: bool = False) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "MAMBA"))}
    env.update(inst.environ(COLUMNS="80"))
    cmd = [sys.executable, "-m", "conda", *argv]
    if close_stdout:
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        p.stdout.close()
        err = p.stderr.read()
        return p.wait(), "", err
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    return out.returncode, out.stdout, out.stderr


def test_a_closed_pipe_ends_quietly_with_141(long_builds: Installation) -> None:
    prefix = str(long_builds.envs_dir / "used")
    for argv in (("why-used", "libblas", "-p", prefix), ("prune", "--dry-run"), ("prune", "--dry-run", "--json")):
        code, _, err = script(long_builds, *argv, close_stdout=True)
        assert (code, err) == (141, ""), argv


@needs_conda
def test_a_closed_pipe_ends_quietly_with_141_through_conda(long_builds: Installation) -> None:
    code, _, err = through_conda(long_builds, "why-used", "libblas", "-p", str(long_builds.envs_dir / "used"),
                                 close_stdout=True)
    assert (code, err) == (141, "")


def test_a_dry_run_the_real_run_would_refuse_says_so_and_exits_3(long_builds: Installation) -> None:
    with open(long_builds.home / ".conda" / "environments.txt", "a") as fh:
        fh.write("/mnt/not-mounted/envs/ghost\n")
    real = script(long_builds, "prune", "--yes")
    dry = script(long_builds, "prune", "--dry-run")
    assert real[0] == dry[0] == 3
    refusal = next(line for line in real[2].splitlines() if "error:" in line)
    assert refusal in dry[2].splitlines() and "/mnt/not-mounted/envs/ghost" in refusal
    assert "Would free" not in dry[1]
    code, out, _ = script(long_builds, "prune", "--dry-run", "--json")
    doc = json.loads(out)
    assert code == 3 and doc["success"] is False and doc["refused"]
    assert any("/mnt/not-mounted/envs/ghost" in b for b in doc["blocked_by"])
    assert (long_builds.pkgs / "cuda-nvrtc-12.6.68-h5888daf_0").exists()


def test_the_script_names_itself_in_its_help(inst: Installation) -> None:
    for sub, wrong in (("prune", "  conda prune "), ("why-used", "  conda why-used ")):
        code, out, _ = script(inst, sub, "--help")
        assert code == 0 and f"  conda-prune {sub} " in out and wrong not in out


def test_the_script_prints_errors_under_json_as_a_json_document(inst: Installation) -> None:
    code, out, err = script(inst, "why-used", "numpy", "-p", str(inst.root / "nowhere"), "--json")
    doc = json.loads(out)
    assert code == 2 and err == ""
    assert doc["exception_name"] == "EnvironmentNotFound" and doc["return_code"] == 2
    assert set(doc) >= {"caused_by", "error", "exception_name", "exception_type", "message", "return_code"}


@needs_conda
def test_the_script_and_conda_print_the_same_json_error(inst: Installation) -> None:
    where = str(inst.root / "nowhere")
    _, ours, _ = script(inst, "why-used", "numpy", "-p", where, "--json")
    _, condas, _ = through_conda(inst, "why-used", "numpy", "-p", where, "--json")
    assert set(json.loads(ours)) == set(json.loads(condas))
    assert json.loads(ours)["message"] == json.loads(condas)["message"]


def test_one_wording_for_an_environment_that_does_not_exist(inst: Installation) -> None:
    (inst.root / "app.py").write_text("import os\n")
    runs = [
        script(inst, "why-used", "numpy", "-n", "nope"),
        script(inst, "why-used", "numpy", "-p", str(inst.root / "nope")),
        script(inst, "prune", "-n", "nope", "--app", str(inst.root / "app.py"), "--dry-run"),
        script(inst, "prune", "-p", str(inst.root / "nope"), "--app", str(inst.root / "app.py"), "--dry-run"),
    ]
    for code, _, err in runs:
        assert code == 2
        assert "is not a conda environment" in err and "name an existing environment with -n NAME or -p PATH" in err
        assert "conda env list" not in err


def test_all_envs_without_an_environment_lists_where_it_is_installed(long_builds: Installation) -> None:
    code, out, err = script(long_builds, "why-used", "libblas", "--all-envs")
    assert code == 0, err
    assert "libblas is not in" in " ".join(out.split()) and str(long_builds.envs_dir / "used") in out


def test_all_envs_without_an_environment_still_exits_1_for_a_package_nowhere(long_builds: Installation) -> None:
    code, _, err = script(long_builds, "why-used", "nothing-like-it", "--all-envs")
    assert code == 1 and "nothing-like-it is not installed" in err


@needs_conda
def test_console_json_is_json(long_builds: Installation) -> None:
    code, out, _ = through_conda(long_builds, "prune", "--dry-run", "--console", "json")
    assert code == 0 and json.loads(out)["dry_run"] is True
    code, out, _ = through_conda(long_builds, "why-used", "libblas", "-p", str(long_builds.envs_dir / "used"),
                                 "--console", "json")
    assert code == 0 and json.loads(out)["packages"][0]["name"] == "libblas"


@needs_conda
def test_all_envs_without_an_environment_through_conda(long_builds: Installation) -> None:
    code, out, err = through_conda(long_builds, "why-used", "libblas", "--all-envs")
    assert code == 0, err
    assert str(long_builds.envs_dir / "used") in out


def test_verbose_names_the_rule_that_adds_pip(inst: Installation) -> None:
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    inst.package("pip", "24.2", "pyh0", depends=["python"], python_modules=["pip"])
    prefix = inst.create_env("e", ["python", "pip"])
    (inst.root / "app.py").write_text("import os\n")
    code, out, err = script(inst, "prune", "-p", str(prefix), "--app", str(inst.root / "app.py"), "--dry-run", "-v",
                            columns=200)
    assert code == 0, err
    pip_line = next(line for line in out.splitlines() if line.startswith("pip "))
    assert "add_pip_as_python_dependency" in pip_line


def test_an_app_file_that_does_not_parse_is_listed_and_counted(inst: Installation) -> None:
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    prefix = inst.create_env("e", ["python"])
    app = inst.root / "app"
    app.mkdir()
    (app / "good.py").write_text("import os\n")
    (app / "old.py").write_text('import os\nprint "x"\ns = """never closed\n')
    code, out, _ = script(inst, "prune", "-p", str(prefix), "--app", str(app), "--dry-run", columns=120)
    assert code == 0
    assert "(2 files read, 1 could not be parsed)" in " ".join(out.split())
    line = next(line for line in out.splitlines() if "old.py:3:" in line)
    assert "unterminated triple-quoted string" in line
    code, out, _ = script(inst, "prune", "-p", str(prefix), "--app", str(app), "--dry-run", "--json")
    [entry] = json.loads(out)["not_parsed"]
    assert entry["line"] == 3 and entry["path"].endswith("old.py") and "unterminated" in entry["message"]


def test_a_file_the_line_reader_reads_whole_is_still_checked_by_the_parser(inst: Installation, tmp_path) -> None:
    """The line reader needs no parse for these files; the parse beside the run still lists them,
    in prune --app and why-used --app alike, and again from the cache on a second run."""
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    prefix = inst.create_env("e", ["python"])
    app = inst.root / "app"
    app.mkdir()
    (app / "good.py").write_text("import os\n")
    (app / "bad.py").write_text("import os\n\n\ndef f(:\n    pass\n")
    (app / "tool").write_text("#!/usr/bin/env python3\nimport os\nprint 'x'\n")
    (app / "notes").write_text("#!/bin/sh\necho (\n")  # a shell script is not Python's to parse
    for run in ("first", "cached"):
        code, out, _ = script(inst, "prune", "-p", str(prefix), "--app", str(app), "--dry-run", columns=120)
        assert code == 0, run
        assert "(4 files read" in out and "2 could not be parsed)" in " ".join(out.split()), (run, out)
        assert any("bad.py:4:" in line and "invalid syntax" in line for line in out.splitlines()), out
        assert any("tool:3:" in line for line in out.splitlines()), out
        assert "notes" not in " ".join(out.split()).split("could not be parsed")[1]
    code, out, _ = script(inst, "prune", "-p", str(prefix), "--app", str(app), "--dry-run", "--json")
    assert sorted((Path(e["path"]).name, e["line"]) for e in json.loads(out)["not_parsed"]) == [("bad.py", 4), ("tool", 3)]
    code, out, err = script(inst, "why-used", "python", "-p", str(prefix), "--app", str(app), columns=120)
    assert code == 0, err
    assert "bad.py" in out + err and "is not valid Python 3 at line 4" in " ".join((out + err).split())
    (app / "bad.py").write_text("import os\n\n\ndef f():\n    pass\n")  # mended: no longer listed
    code, out, _ = script(inst, "prune", "-p", str(prefix), "--app", str(app), "--dry-run", "--json")
    assert [Path(e["path"]).name for e in json.loads(out)["not_parsed"]] == ["tool"]


@pytest.mark.parametrize("width", WIDTHS)
def test_why_used_fits_the_width(long_builds: Installation, width: int) -> None:
    code, out, _ = script(long_builds, "why-used", "libblas", "python", "-p", str(long_builds.envs_dir / "used"),
                          "--all-envs", columns=width)
    assert code == 0
    assert_fits(out, width, ["libblas 3.9.0", "20_linux64_openblas"])


@pytest.mark.parametrize("subcommand", ["prune", "why-used"])
def test_help_fits_80_columns(subcommand: str) -> None:
    import subprocess
    import sys

    from conftest import HAVE_CONDA

    fronts = [["-m", "conda_prune"]] + ([["-m", "conda"]] if HAVE_CONDA else [])
    for front in fronts:
        out = subprocess.run([sys.executable, *front, subcommand, "--help"], capture_output=True, text=True,
                             env={**os.environ, "COLUMNS": "80"}, check=True).stdout
        wide = [line for line in out.splitlines() if len(line) > 80]
        assert not wide, wide
        assert not [line for line in out.splitlines() if line != line.rstrip()], "trailing spaces"
