"""``conda prune -n ENV --app PATH`` end to end: the standalone script in-process, and a real
conda (in a subprocess) for the removal itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from builder import SITE, Installation
from conda_prune.cli.standalone import main
from conftest import in_time, needs_conda

APP = {
    "app/main.py": "import pandas as pd\nimport tables\n\n\ndef run():\n    return pd, tables\n",
    "app/Makefile": "lint:\n\tblack --check .\n",
}


def demo(inst: Installation, link: str = "copy") -> Path:
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    inst.package("numpy", "1.26.4", "py311h0", depends=["python"], python_modules=["numpy"], size=30_000)
    inst.package("pandas", "2.2.2", "py311h0", depends=["python", "numpy"], python_modules=["pandas"], size=30_000)
    inst.package("pytables", "3.9.2", "py311h0", depends=["python", "numpy"], python_modules=["tables"],
                 dist_name="tables", size=30_000)
    inst.package("scipy", "1.13.1", "py311h0", depends=["python", "numpy"], python_modules=["scipy"], size=60_000)
    inst.package("black", "24.4.2", "py311h0", depends=["python"], python_modules=["black"], executables=["black"])
    inst.package("matplotlib", "3.8.4", "py311h0", depends=["python", "numpy"], python_modules=["matplotlib"],
                 size=60_000)
    prefix = inst.create_env("demo", ["python", "numpy", "pandas", "pytables", "scipy", "black", "matplotlib"],
                             link=link)
    inst.add_conda_cache_files()
    for rel, text in APP.items():
        path = inst.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return prefix


def run(inst: Installation, monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    for key in [k for k in os.environ if k.startswith(("CONDA", "MAMBA"))]:
        monkeypatch.delenv(key)
    for key, value in inst.environ(CONDA_PRUNE_CACHE_DIR=str(inst.root / "scan-cache")).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COLUMNS", "200")
    code = main(["prune", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(prefix: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(prefix)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in sorted(prefix.rglob("*"))
    }


def conda(inst: Installation, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = inst.environ(CONDA_PRUNE_CACHE_DIR=str(inst.root / "scan-cache"), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "conda", *args], env=env, capture_output=True, text=True,
                          input=stdin if stdin is not None else "", cwd=inst.root)


def imports_still_work(prefix: Path, app: Path) -> subprocess.CompletedProcess:
    """Import the application with the environment's site-packages as its only third-party path."""
    code = f"import sys; sys.path[:0] = [{str(prefix / SITE)!r}, {str(app)!r}]; import main; print('ok')"
    return subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True)


# -- arguments and bad input -----------------------------------------------------------------------


def test_missing_app_path_is_one_line_exit_2_and_nothing_removed(inst, monkeypatch, capsys) -> None:
    prefix = demo(inst)
    before = snapshot(prefix)
    code, out, err = run(inst, monkeypatch, capsys, "-p", str(prefix), "--app", str(inst.root / "nope"), "--yes")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--app" in err and "nope: no such file or folder" in err
    assert snapshot(prefix) == before


def test_app_needs_an_explicit_environment(inst, monkeypatch, capsys) -> None:
    demo(inst)
    code, _, err = run(inst, monkeypatch, capsys, "--app", str(inst.root / "app"), "--dry-run")
    assert code == 2 and "-n NAME or -p PATH" in err


def test_cache_prune_options_are_rejected_with_app(inst, monkeypatch, capsys) -> None:
    prefix = demo(inst)
    code, _, err = run(inst, monkeypatch, capsys, "-p", str(prefix), "--app", str(inst.root / "app"), "--tarballs")
    assert code == 2 and "--tarballs only applies to the cache prune" in err


def test_bad_files_are_one_warning_each_and_no_traceback(inst, monkeypatch, capsys) -> None:
    prefix = demo(inst)
    (inst.root / "app" / "broken.ipynb").write_text('{"cells": [')
    (inst.root / "app" / "old.py").write_text('print "x"\nimport scipy\ns = """never closed\n')
    code, out, err = run(inst, monkeypatch, capsys, "-p", str(prefix), "--app", str(inst.root / "app"), "--dry-run")
    assert code == 0 and "Traceback" not in err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert any("broken.ipynb: is not valid notebook JSON" in w for w in warnings)
    assert any("old.py: is not valid Python 3 at line" in w for w in warnings)
    assert "scipy" not in out.split("Unused")[1]  # still read from the broken file: scipy stays


def test_a_fifo_history_is_a_doubt_that_refuses_removal_not_a_hang(inst, monkeypatch, capsys) -> None:
    prefix = demo(inst)
    history = prefix / "conda-meta" / "history"
    history.unlink()
    os.mkfifo(history)
    code, out, err = in_time(lambda: run(inst, monkeypatch, capsys, "-p", str(prefix), "--app", str(inst.root / "app"),
                                         "--dry-run"))
    assert code == 3 and "Traceback" not in err
    named = [line for line in err.splitlines() if str(history) in line]
    assert named and all("FIFO" in line for line in named)
    assert "error: nothing was removed: " in err


# -- reports ---------------------------------------------------------------------------------------


def test_dry_run_reports_unused_with_reasons_and_bytes_and_changes_nothing(inst, monkeypatch, capsys) -> None:
    prefix = demo(inst)
    before = snapshot(prefix)
    code, out, err = run(inst, monkeypatch, capsys, "-p", str(prefix), "--app", str(inst.root / "app"), "--dry-run")
    assert code == 0, err
    unused = out.split("Unused (2 packages")[1]
    assert "matplotlib" in unused and "scipy" in unused and "pandas" not in unused
    assert "no import, no executable use, not needed by any used package" in unused
    assert "leave the environment now" in out and "Dry run: nothing was removed." in out
    assert snapshot(prefix) == before


def test_verbose_shows_every_verdict_with_its_evidence(inst, monkeypatch, capsys) -> None:
    prefix = demo(inst)
    _, out, _ = run(inst, monkeypatch, capsys, "-p", str(prefix), "--app", str(inst.root / "app"), "--dry-run", "-v")
    assert "import tables at" in out and "runs black (Makefile) at" in out
    assert "needed by pandas" in out and "the interpreter" in out


def test_json_is_one_sorted_document_and_stable(inst, monkeypatch, capsys) -> None:
    prefix = demo(inst)
    args = ("-p", str(prefix), "--app", str(inst.root / "app"), "--dry-run", "--json")
    code, out, _ = run(inst, monkeypatch, capsys, *args)
    assert code == 0
    doc = json.loads(out)
    assert out == json.dumps(doc, indent=2, sort_keys=True) + "\n"
    assert doc["unused"] == ["matplotlib", "scipy"] and doc["removable"] == ["matplotlib", "scipy"]
    names = [p["name"] for p in doc["packages"]]
    assert names == sorted(names)
    by_name = {p["name"]: p for p in doc["packages"]}
    assert by_name["pytables"]["status"] == "used" and by_name["pytables"]["evidence"][0]["detail"] == "import tables"
    assert by_name["scipy"]["bytes_freed_now"] > 60_000  # installed by copy: its files leave the disk
    _, again, _ = run(inst, monkeypatch, capsys, *args)
    second = json.loads(again)
    assert second["files_cached"] == 2 and {**second, "files_cached": 0} == {**doc, "files_cached": 0}


def test_export_writes_a_lean_environment_file(inst, monkeypatch, capsys) -> None:
    prefix = demo(inst)
    target = inst.root / "lean.yml"
    before = snapshot(prefix)
    code, out, _ = run(inst, monkeypatch, capsys, "-p", str(prefix), "--app", str(inst.root / "app"),
                       "--export", str(target))
    assert code == 0 and f"Wrote {target}" in out
    text = target.read_text()
    assert "  - pandas=2.2.2=py311h0\n" in text and "  - pytables=3.9.2=py311h0\n" in text
    assert "  - black=24.4.2=py311h0\n" in text
    assert "scipy" not in text and "matplotlib" not in text
    assert snapshot(prefix) == before  # an export removes nothing


def test_export_under_dry_run_shows_the_file_and_writes_nothing(inst, monkeypatch, capsys) -> None:
    prefix = demo(inst)
    target = inst.root / "lean.yml"
    code, out, _ = run(inst, monkeypatch, capsys, "-p", str(prefix), "--app", str(inst.root / "app"),
                       "--export", str(target), "--dry-run")
    assert code == 0 and not target.exists()
    assert "Would write" in out and "  - pandas=2.2.2=py311h0" in out


def test_without_conda_removal_is_refused_in_one_line_but_dry_run_and_export_work(inst) -> None:
    prefix = demo(inst)
    env = inst.environ(CONDA_PRUNE_CACHE_DIR=str(inst.root / "scan-cache"))
    script = "import sys; sys.modules['conda'] = None; from conda_prune.cli.standalone import main; sys.exit(main())"

    def standalone(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", script, "prune", "-p", str(prefix), "--app",
                               str(inst.root / "app"), *args], env=env, capture_output=True, text=True)

    refused = standalone("--yes")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "removing packages needs conda" in refused.stderr
    assert (prefix / "conda-meta" / "scipy-1.13.1-py311h0.json").exists()
    assert standalone("--dry-run").returncode == 0
    exported = standalone("--export", str(inst.root / "lean.yml"))
    assert exported.returncode == 0 and (inst.root / "lean.yml").exists()


# -- the removal, through a real conda ---------------------------------------------------------------


@needs_conda
def test_removal_through_conda_records_history_checks_dependencies_and_the_app_still_imports(inst) -> None:
    prefix = demo(inst)
    assert imports_still_work(prefix, inst.root / "app").stdout.strip() == "ok"
    out = conda(inst, "prune", "-p", str(prefix), "--app", "app", "--yes")
    assert out.returncode == 0, out.stderr
    assert "Removed 2 packages" in out.stdout
    assert "each of the 5 remaining packages has what it requires" in out.stdout
    left = sorted(p.name for p in (prefix / "conda-meta").glob("*.json"))
    assert left == ["black-24.4.2-py311h0.json", "numpy-1.26.4-py311h0.json", "pandas-2.2.2-py311h0.json",
                    "pytables-3.9.2-py311h0.json", "python-3.11.9-h0.json"]
    assert not (prefix / SITE / "scipy").exists() and not (prefix / SITE / "matplotlib").exists()
    history = (prefix / "conda-meta" / "history").read_text()
    assert "# remove specs: ['matplotlib', 'scipy']" in history or "# remove specs: ['scipy', 'matplotlib']" in history
    assert imports_still_work(prefix, inst.root / "app").stdout.strip() == "ok"
    again = conda(inst, "prune", "-p", str(prefix), "--app", "app", "--dry-run")
    assert "Nothing unused" in again.stdout


@needs_conda
def test_json_removal_prints_only_json_and_the_check(inst) -> None:
    prefix = demo(inst)
    out = conda(inst, "prune", "-p", str(prefix), "--app", "app", "--yes", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["removed"] == ["matplotlib", "scipy"]
    assert doc["dependency_check"] == {"checked": True, "unsatisfied": []}
    assert isinstance(doc["bytes"]["cache_prune_after"], int)


@needs_conda
@pytest.mark.parametrize("answer", ["n\n", ""], ids=["no", "end-of-input"])
def test_prompt_no_or_end_of_input_removes_nothing(inst, answer: str) -> None:
    prefix = demo(inst)
    before = snapshot(prefix)
    out = conda(inst, "prune", "-p", str(prefix), "--app", "app", stdin=answer)
    assert out.returncode == 1 and "Nothing was removed." in out.stdout
    assert snapshot(prefix) == before


@needs_conda
def test_json_without_yes_refuses(inst) -> None:
    prefix = demo(inst)
    out = conda(inst, "prune", "-p", str(prefix), "--app", "app", "--json")
    assert out.returncode == 3 and json.loads(out.stdout)["exception_name"] == "RefusedForSafety"
    assert (prefix / "conda-meta" / "scipy-1.13.1-py311h0.json").exists()


@needs_conda
def test_frozen_environment_is_refused(inst) -> None:
    prefix = demo(inst)
    (prefix / "conda-meta" / "frozen").write_text("{}")
    before = snapshot(prefix)
    out = conda(inst, "prune", "-p", str(prefix), "--app", "app", "--yes")
    assert out.returncode == 3 and "frozen" in out.stderr
    assert snapshot(prefix) == before


@needs_conda
def test_doubt_about_the_app_refuses_removal(inst) -> None:
    prefix = demo(inst)
    (inst.root / "empty").mkdir()
    out = conda(inst, "prune", "-p", str(prefix), "--app", "empty", "--yes")
    assert out.returncode == 3 and "nothing to read" in out.stderr
    assert (prefix / "conda-meta" / "scipy-1.13.1-py311h0.json").exists()


@needs_conda
def test_with_cache_prunes_the_cache_entries_the_removal_freed(inst) -> None:
    prefix = demo(inst, link="hardlink")
    entries = [inst.pkgs / "scipy-1.13.1-py311h0", inst.pkgs / "matplotlib-3.8.4-py311h0"]
    dry = conda(inst, "prune", "--dry-run", "--json")
    assert not {e.name for e in entries} & {d["entry"] for d in json.loads(dry.stdout)["remove"]}  # in use
    out = conda(inst, "prune", "-p", str(prefix), "--app", "app", "--yes", "--with-cache")
    assert out.returncode == 0, out.stderr
    assert not any(e.exists() for e in entries)
    assert (inst.pkgs / "pandas-2.2.2-py311h0").exists()
    assert imports_still_work(prefix, inst.root / "app").stdout.strip() == "ok"


@needs_conda
def test_with_cache_sees_the_environments_search_path_names(inst) -> None:
    """A project environment nobody registered uses scipy by symlink: named with --search-path,
    the cache prune after the removal keeps scipy's entry."""
    prefix = demo(inst, link="hardlink")
    inst.create_env(inst.root / "proj" / ".env", ["scipy"], register=False, link="symlink")
    out = conda(inst, "prune", "-p", str(prefix), "--app", "app", "--yes", "--with-cache",
                "--search-path", str(inst.root / "proj"))
    assert out.returncode == 0, out.stderr
    assert not (prefix / "conda-meta" / "scipy-1.13.1-py311h0.json").exists()  # gone from the environment
    assert (inst.pkgs / "scipy-1.13.1-py311h0" / "info" / "index.json").is_file()  # kept for the project env
    assert not (inst.pkgs / "matplotlib-3.8.4-py311h0").exists()


def test_dry_run_names_the_doubt_that_would_stop_removal(inst, monkeypatch, capsys) -> None:
    prefix = demo(inst)
    (prefix / "conda-meta" / "scipy-1.13.1-py311h0.json").write_text("{truncated")
    code, out, err = run(inst, monkeypatch, capsys, "-p", str(prefix), "--app", str(inst.root / "app"), "--dry-run")
    assert code == 3  # as the real run: it would refuse
    assert "Nothing will be removed while this is in doubt" in out and "scipy-1.13.1-py311h0.json" in out
    assert any("scipy-1.13.1-py311h0.json" in line and line.startswith("warning:") for line in err.splitlines())
    assert "error: nothing was removed: " in err
