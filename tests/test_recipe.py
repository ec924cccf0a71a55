"""The conda recipe in recipe/ agrees with pyproject.toml and with the package's own version.

The recipe is parsed and rendered with rattler-build's Python API; nothing is built and nothing is
downloaded. The recipe reads its version and summary with ``load_from_file``, an experimental
rattler-build feature, so rendering enables experimental features.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import conda_prune

rattler_build = pytest.importorskip("rattler_build", reason="needs py-rattler-build")

if sys.version_info >= (3, 11):
    import tomllib
else:
    tomllib = pytest.importorskip("tomli", reason="needs tomli on Python 3.10")

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipe" / "recipe.yaml"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

HELP_COMMANDS = (
    "python -m conda prune --help",
    "python -m conda why-used --help",
    "conda-prune --help",
)


@pytest.fixture(scope="module")
def rendered() -> Any:
    """The recipe rendered for its single variant (a Stage1 recipe)."""
    recipe = rattler_build.Stage0Recipe.from_file(RECIPE)
    render_config = rattler_build.RenderConfig(
        platform=rattler_build.PlatformConfig(experimental=True)
    )
    variants = recipe.render(rattler_build.VariantConfig(), render_config)
    assert len(variants) == 1, f"expected one variant, got {[v.variant for v in variants]}"
    return variants[0].recipe


def split_spec(spec: str) -> tuple[str, set[str]]:
    """A conda match spec's name and constraints: ``rich >=13`` -> ``("rich", {">=13"})``."""
    match = re.match(r"\s*([^\s<>=!~,]+)(.*)", spec)
    assert match, f"not a match spec: {spec!r}"
    name, rest = match.groups()
    return canonicalize_name(name), {part for part in rest.replace(" ", "").split(",") if part}


def spec_name(spec: str) -> str:
    return split_spec(spec)[0]


def spec_constraints(spec: str) -> set[str]:
    return split_spec(spec)[1]


def run_specs(rendered: Any) -> dict[str, str]:
    return {spec_name(str(spec)): str(spec) for spec in rendered.requirements.run}


def test_package_name_is_the_pyproject_name(rendered: Any) -> None:
    assert rendered.package.name == PROJECT["name"]


def test_rendered_version_is_the_package_version(rendered: Any) -> None:
    assert "version" in PROJECT.get("dynamic", []), "pyproject should read the package version"
    assert str(rendered.package.version) == conda_prune.__version__


def test_build_is_noarch_python(rendered: Any) -> None:
    assert str(rendered.build.noarch) == "python"


def test_build_script_installs_with_pip_without_deps_or_isolation(rendered: Any) -> None:
    script = str(rendered.build.script)
    assert "pip install ." in script
    assert "--no-deps" in script
    assert "--no-build-isolation" in script


def test_host_has_python_pip_and_the_pyproject_build_backend(rendered: Any) -> None:
    host = {spec_name(str(spec)) for spec in rendered.requirements.host}
    assert {"python", "pip", "setuptools"} <= host


def test_run_requires_python_matching_requires_python(rendered: Any) -> None:
    specs = run_specs(rendered)
    assert "python" in specs, f"no python in run requirements: {sorted(specs)}"
    assert spec_constraints(specs["python"]) == {">=3.10"}
    assert spec_constraints(specs["python"]) == set(
        PROJECT["requires-python"].replace(" ", "").split(",")
    )


def test_run_requires_conda_and_rich(rendered: Any) -> None:
    assert {"conda", "rich"} <= set(run_specs(rendered))


@pytest.mark.parametrize(
    "dependency",
    PROJECT["dependencies"],
)
def test_run_requires_each_pyproject_dependency_with_the_same_bounds(
    rendered: Any, dependency: str
) -> None:
    requirement = Requirement(dependency)
    specs = run_specs(rendered)
    name = canonicalize_name(requirement.name)
    assert name in specs, f"{requirement.name!r} missing from run requirements: {sorted(specs)}"
    assert spec_constraints(specs[name]) == {str(s) for s in requirement.specifier}


def test_recipe_tests_run_pip_check_and_every_help_command(rendered: Any) -> None:
    script_tests = [test for test in rendered.to_dict().get("tests", []) if "script" in test]
    assert script_tests, "the recipe has no script test"
    commands = [line.strip() for test in script_tests for line in test["script"]]
    for command in ("pip check", *HELP_COMMANDS):
        assert command in commands
    runs_pip_check = [test for test in script_tests if "pip check" in test["script"]]
    assert "pip" in {
        spec_name(spec) for test in runs_pip_check for spec in test["requirements"]["run"]
    }


def test_about_matches_pyproject_and_names_no_placeholder_urls(rendered: Any) -> None:
    about = rendered.about
    assert about.summary == PROJECT["description"]
    assert about.license == PROJECT["license"] == "BSD-3-Clause"
    for url in (about.homepage, about.repository, about.documentation):
        assert url is None or not re.search(r"example|placeholder|todo|your-|[<>]", str(url), re.I)
