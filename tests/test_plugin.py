"""The plugin through a real conda: registration, options, context, settings, history."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from builder import Installation
from conftest import needs_conda

pytestmark = needs_conda


def conda(inst: Installation, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "conda", *args], env=inst.environ(), capture_output=True, text=True, **kwargs
    )


@pytest.fixture
def small(inst: Installation) -> Installation:
    inst.package("used", size=5_000)
    inst.package("linked-by-symlink", size=5_000)
    inst.package("orphan", size=5_000)
    inst.package("cudatoolkit", size=5_000)
    inst.create_env("e", ["used"])
    inst.create_env("s", ["linked-by-symlink"], link="symlink")
    inst.extract_to_cache(inst.packages["orphan-1.0-0"])
    inst.extract_to_cache(inst.packages["cudatoolkit-1.0-0"])
    inst.add_conda_cache_files()
    return inst


def test_subcommands_are_registered_and_load(inst: Installation) -> None:
    for sub, text in (("prune", "Free disk without breaking anything"), ("why-used", "why a package")):
        out = conda(inst, sub, "--help")
        assert out.returncode == 0, out.stderr
        assert text in out.stdout
        assert "--json" in out.stdout and "-n ENVIRONMENT" in out.stdout
    listing = conda(inst, "--help")
    assert "prune" in listing.stdout and "why-used" in listing.stdout


def test_dry_run_json_through_conda_context(small: Installation) -> None:
    out = conda(small, "prune", "--dry-run", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [r["entry"] for r in doc["remove"]] == ["cudatoolkit-1.0-0", "orphan-1.0-0"]
    assert doc["caches"][0]["path"] == str(small.pkgs)  # conda's context.pkgs_dirs was used
    # conda's own clean would delete the entry a symlinked environment runs from
    clean = json.loads(conda(small, "clean", "--packages", "--dry-run", "--json").stdout)
    assert "linked-by-symlink-1.0-0" in clean["packages"]["pkgs_dirs"][str(small.pkgs)]


def test_keep_list_setting_is_read_from_condarc_by_conda(small: Installation) -> None:
    (small.root / "condarc").write_text("plugins:\n  prune_keep:\n    - cuda*\n")
    doc = json.loads(conda(small, "prune", "--dry-run", "--json").stdout)
    assert [r["entry"] for r in doc["remove"]] == ["orphan-1.0-0"]
    kept = {r["entry"]: r["reason_code"] for r in doc["kept"]}
    assert kept == {"cudatoolkit-1.0-0": "keep-list"}


def test_json_needs_yes_and_yes_deletes(small: Installation) -> None:
    refused = conda(small, "prune", "--json")
    assert refused.returncode == 3 and (small.pkgs / "orphan-1.0-0").exists()
    done = conda(small, "prune", "--json", "--yes")
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(done.stdout)["removed"]) == ["cudatoolkit-1.0-0", "orphan-1.0-0"]
    assert not (small.pkgs / "orphan-1.0-0").exists()
    assert (small.envs_dir / "s" / "share" / "linked-by-symlink" / "payload.bin").read_bytes()


def test_history_reading_agrees_with_conda(inst: Installation) -> None:
    from conda.history import History

    from conda_prune.history import read_requested_specs

    inst.package("a")
    inst.package("b")
    inst.package("c")
    prefix = inst.create_env("e", ["a", "b", "c"])
    with open(prefix / "conda-meta" / "history", "a") as fh:
        fh.write(
            "==> 2024-01-02 00:00:00 <==\n# cmd: conda remove b\n# conda version: 26.7.1\n-x::b-1.0-0\n"
            "# remove specs: ['b']\n"
            "==> 2024-01-03 00:00:00 <==\n# cmd: conda install 'c>=1'\n# conda version: 26.7.1\n"
            "# update specs: ['c[version=\\'>=1\\']']\n# neutered specs: ['a >=1']\n"
            "==> 2024-01-04 00:00:00 <==\n# update specs: ['b']\n"  # no cmd line: ignored
        )
    ours = read_requested_specs(prefix, ["a", "b", "c"]).specs
    theirs = {name: str(spec) for name, spec in History(str(prefix)).get_requested_specs_map().items()}
    assert set(ours) == set(theirs) == {"a", "c"}


def test_end_of_input_at_condas_prompt_deletes_nothing(small: Installation) -> None:
    """conda's own prompt takes a closed stdin as yes; ours does not."""
    out = conda(small, "prune", stdin=subprocess.DEVNULL)
    assert "Proceed ([y]/n)?" in out.stdout
    assert out.returncode == 1 and (small.pkgs / "orphan-1.0-0").exists()
    out = conda(small, "prune", input="y\n")
    assert out.returncode == 0 and not (small.pkgs / "orphan-1.0-0").exists()
