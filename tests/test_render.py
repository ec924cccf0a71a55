"""What a user sees: output that fits 60, 80 and 120 columns (and a pipe), never a value split
across lines, no line ending in spaces, and counts that say what happens."""

from __future__ import annotations

import io
import re

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
