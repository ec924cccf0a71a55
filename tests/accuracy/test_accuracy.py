"""How right ``conda prune --app`` is on real packages and real applications.

The small case runs in every test run (CI included); the large one with ``-m accuracy``.
Targets not met yet are strict xfails whose reason gives the current figure: they fail loudly
("XPASS(strict)") once the product meets them, so the mark comes off then.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from .measure import Result, app_environ
from .wheels import SITE

pytestmark = pytest.mark.accuracy


def _known_miss(request: pytest.FixtureRequest, result: Result, target: str) -> None:
    reason = result.known_misses.get(target)
    if reason:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=reason))


def test_environment_python_runs_the_environment_and_nothing_else(measured: Result) -> None:
    """``ENV/bin/python`` is the test's own interpreter with the environment's site-packages only:
    pytest comes from the environment, and conda_prune (installed where the tests run) is absent."""
    prefix = measured.built.prefix
    code = ("import json, sys, site, pytest\n"
            "try:\n    import conda_prune\nexcept ImportError:\n    conda_prune = None\n"
            "print(json.dumps([sys.prefix, site.getsitepackages(), pytest.__file__, conda_prune is None]))")
    proc = subprocess.run([str(prefix / "bin" / "python"), "-c", code], capture_output=True, text=True,
                          env=app_environ(measured.built.root, prefix, None), cwd=measured.built.root,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    sys_prefix, sites, pytest_file, isolated = json.loads(proc.stdout)
    assert sys_prefix == str(prefix)
    # the environment's site-packages first; Debian's python3 lists more of the prefix's own
    # folders after it (local/lib/.../dist-packages), none outside the environment
    assert sites[0] == str(prefix / SITE) and all(s.startswith(str(prefix) + "/") for s in sites)
    assert pytest_file.startswith(str(prefix / SITE) + "/")
    assert isolated, "the test interpreter's own site-packages leak into the environment"
    assert "include-system-site-packages = false" in (prefix / "pyvenv.cfg").read_text()


def test_verdict_is_compared_with_a_traced_run(measured: Result) -> None:
    assert measured.before.count("passed") > 0
    assert "python" in measured.loaded and len(measured.loaded) > 5
    assert measured.called_unused <= set(measured.installed)
    assert measured.truly_unused, "a case needs packages the application never uses"
    assert not measured.verdict["doubts"], measured.verdict["doubts"]


def test_no_package_loaded_at_run_time_is_called_unused(measured: Result, request: pytest.FixtureRequest) -> None:
    _known_miss(request, measured, "loaded_called_unused")
    assert not measured.loaded_called_unused, {n: measured.loaded[n] for n in measured.loaded_called_unused}


def test_no_package_a_loaded_one_requires_is_called_unused(measured: Result) -> None:
    assert not measured.required_called_unused


def test_recall_is_at_least_80_percent(measured: Result, request: pytest.FixtureRequest) -> None:
    _known_miss(request, measured, "recall")
    assert measured.recall >= 0.8, sorted(measured.missed)


def test_the_application_tests_pass_the_same_after_yes(measured: Result, request: pytest.FixtureRequest) -> None:
    if measured.after is None:
        pytest.skip(f"after --yes: {measured.removal_note}")
    _known_miss(request, measured, "same_after")
    assert not measured.removal_note, measured.removal_note
    changed = {k: (v, measured.after.outcomes.get(k)) for k, v in measured.before.outcomes.items()
               if measured.after.outcomes.get(k) != v}
    assert measured.same_after, list(changed.items())[:10] or measured.after.output


# -- the traced row: the same verdict with --trace of the application's tests ---------------------


@pytest.fixture
def traced(measured: Result) -> Result:
    view = measured.traced()
    assert view is not None, "the traced verdict was not measured"
    return view


def test_traced_verdict_ran_the_tests_and_has_no_doubts(traced: Result) -> None:
    (run,) = traced.verdict["traces"]
    assert run["processes"] >= 1 and run["files_mapped"] > 0, run
    assert not traced.verdict["doubts"], traced.verdict["doubts"]


def test_traced_no_package_loaded_at_run_time_is_called_unused(traced: Result, request: pytest.FixtureRequest) -> None:
    _known_miss(request, traced, "loaded_called_unused")
    assert not traced.loaded_called_unused, {n: traced.loaded[n] for n in traced.loaded_called_unused}


def test_traced_no_package_a_loaded_one_requires_is_called_unused(traced: Result) -> None:
    assert not traced.required_called_unused


def test_traced_recall_is_at_least_80_percent(traced: Result, request: pytest.FixtureRequest) -> None:
    _known_miss(request, traced, "recall")
    assert traced.recall >= 0.8, sorted(traced.missed)
