"""``conda doctor``: the unused-package-cache check and its fix, through a real conda."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from builder import Installation
from conftest import needs_conda

CHECK = "unused-package-cache"


@pytest.fixture
def small(inst: Installation) -> Installation:
    inst.package("used", size=5_000)
    inst.package("linked-by-symlink", size=5_000)
    inst.package("orphan", size=50_000)
    inst.package("spare", size=20_000)
    inst.create_env("e", ["used"])
    inst.create_env("s", ["linked-by-symlink"], link="symlink")
    inst.extract_to_cache(inst.packages["orphan-1.0-0"])
    inst.extract_to_cache(inst.packages["spare-1.0-0"])
    inst.add_conda_cache_files()
    return inst


def conda(inst: Installation, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "conda", *args], env=inst.environ(COLUMNS="200"), capture_output=True, text=True,
        input=stdin if stdin is not None else "", timeout=120,
    )


def reclaimable(inst: Installation) -> int:
    out = conda(inst, "prune", "--dry-run", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["reclaimable_bytes"]


def entries(inst: Installation) -> set[str]:
    return {p.name for p in inst.pkgs.iterdir() if (p / "info").is_dir()}


@needs_conda
def test_doctor_lists_the_check_with_its_fix(inst: Installation) -> None:
    out = conda(inst, "doctor", "--list")
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if line.strip().startswith(f"{CHECK}:"))
    assert "no environment uses" in line and "(fix: Remove them with conda prune)" in line


@needs_conda
def test_doctor_reports_the_exact_figure_the_dry_run_gives(small: Installation) -> None:
    from conda_prune.cli.output import human_bytes

    freed = reclaimable(small)
    out = conda(small, "doctor", CHECK, "-p", str(small.base))
    assert out.returncode == 0, out.stderr
    assert f"package caches: {human_bytes(freed)} in 2 entries no environment uses" in out.stdout
    verbose = conda(small, "doctor", CHECK, "-p", str(small.base), "-v")
    assert "orphan-1.0-0" in verbose.stdout and "spare-1.0-0" in verbose.stdout
    assert "linked-by-symlink-1.0-0" not in verbose.stdout
    assert entries(small) >= {"orphan-1.0-0", "spare-1.0-0"}  # a check never deletes


@needs_conda
def test_doctor_says_healthy_when_every_entry_is_used(small: Installation) -> None:
    assert conda(small, "prune", "--yes").returncode == 0
    out = conda(small, "doctor", CHECK, "-p", str(small.base))
    assert "package caches: every entry is used by an environment" in out.stdout


@needs_conda
@pytest.mark.parametrize(
    ("extra", "stdin"),
    [
        pytest.param((), "", id="closed-stdin"),
        pytest.param((), "n\n", id="answered-no"),
        pytest.param(("--dry-run",), "y\n", id="dry-run"),
        pytest.param(("--json",), "y\n", id="json-without-yes"),
    ],
)
def test_fix_removes_nothing_unless_confirmed(small: Installation, extra: tuple[str, ...], stdin: str) -> None:
    before = entries(small)
    out = conda(small, "doctor", CHECK, "--fix", "-p", str(small.base), *extra, stdin=stdin)
    assert entries(small) == before, out.stdout + out.stderr
    assert "Removed" not in out.stdout


@needs_conda
@pytest.mark.parametrize(("extra", "stdin"), [((), "y\n"), (("--yes",), "")], ids=["answered-yes", "yes-flag"])
def test_fix_prunes_after_conda_confirms(small: Installation, extra: tuple[str, ...], stdin: str) -> None:
    from conda_prune.cli.output import human_bytes

    freed = reclaimable(small)
    out = conda(small, "doctor", CHECK, "--fix", "-p", str(small.base), *extra, stdin=stdin)
    assert out.returncode == 0, out.stderr
    assert f"Removed 2 cache entries, freeing {human_bytes(freed)}." in out.stdout
    assert not {"orphan-1.0-0", "spare-1.0-0"} & entries(small)
    assert {"used-1.0-0", "linked-by-symlink-1.0-0"} <= entries(small)
    assert (small.envs_dir / "s" / "share" / "linked-by-symlink" / "payload.bin").read_bytes()


@needs_conda
def test_the_plan_is_made_once_per_process_for_every_environment(small: Installation, monkeypatch, capsys) -> None:
    from conda_prune import cache_prune, health, locations

    calls = []
    real = cache_prune.plan_cache_prune

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(cache_prune, "plan_cache_prune", counting)
    monkeypatch.setattr(locations, "from_conda_context", small.locations)
    monkeypatch.setattr(health, "_plans", {})
    for prefix in (small.base, small.envs_dir / "e", small.envs_dir / "s"):
        health.check(str(prefix), False)
    assert len(calls) == 1
    assert capsys.readouterr().out.count("in 2 entries no environment uses") == 3


def test_the_plugin_module_imports_no_engine() -> None:
    code = (
        "import sys, conda_prune.plugin; "
        "print(sorted(m for m in sys.modules if m.startswith('conda_prune')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode and "No module named 'conda" in out.stderr:
        pytest.skip("needs conda: not importable in this interpreter")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['conda_prune', 'conda_prune.plugin']"
