"""The conda recipe in recipe/ agrees with pyproject.toml and with the package's own version,
and builds into a package that installs and loads.

The recipe is parsed and rendered with rattler-build's Python API, then built (see below). The recipe reads its version and summary with ``load_from_file``, an experimental
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


# -- building the recipe and installing what it makes ---------------------------------------------
#
# rattler-build builds recipe/ against a local channel holding only what the build needs: python
# (this interpreter, packaged as a virtual environment: bin/python and pyvenv.cfg), and pip and
# setuptools made into noarch conda packages from their PyPI wheels (files under site-packages,
# depends from Requires-Dist). The package it makes is installed into a fresh environment.
# Wheels are downloaded once into $XDG_CACHE_HOME/conda-prune/wheels (skipped, one line, when
# that fails). The build takes about 15 s; run it alone with: python -m pytest tests/test_recipe.py

BUILD_WHEELS = ("pip", "setuptools")


def wheel_cache() -> Path:
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "conda-prune" / "wheels"


def wheels(names: tuple[str, ...]) -> dict[str, Path]:
    """The newest cached wheel of each name, downloading what is missing (skip when offline)."""
    import subprocess

    folder = wheel_cache()
    folder.mkdir(parents=True, exist_ok=True)

    def cached(name: str) -> Path | None:
        found = sorted(folder.glob(f"{name.replace('-', '_')}-*-py3-none-any.whl"))
        return found[-1] if found else None

    missing = [n for n in names if cached(n) is None]
    if missing:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--no-deps",
             "--dest", str(folder), *missing],
            capture_output=True, text=True, timeout=300,
        )
        if proc.returncode:
            pytest.skip(f"cannot download the wheels {', '.join(missing)} from PyPI (offline?)")
    return {n: cached(n) for n in names}  # type: ignore[misc]


def conda_package_from_wheel(wheel: Path, channel: Path, stage: Path) -> Path:
    """A noarch python conda package holding the wheel's files under site-packages, its depends
    read from the wheel's Requires-Dist (requirements of extras left out)."""
    import zipfile
    from email.parser import Parser

    from rattler_build import assemble_package

    name, version = wheel.name.split("-")[:2]
    root = stage / wheel.stem
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if ".data/" in member.split("/", 1)[0] + "/" or member.endswith("/"):
                continue
            target = root / "site-packages" / member
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))
        metadata = next(m for m in archive.namelist() if m.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(archive.read(metadata).decode())
    depends = ["python >=3.10"]
    for raw in meta.get_all("Requires-Dist") or []:
        requirement = Requirement(raw)
        if requirement.marker and "extra" in str(requirement.marker):
            continue
        if requirement.marker and not requirement.marker.evaluate():
            continue
        depends.append(f"{canonicalize_name(requirement.name)} {requirement.specifier}".strip())
    out = assemble_package(
        name=canonicalize_name(name), version=version, target_platform="noarch", build_string="pyh_0",
        output_dir=channel / "noarch", files_dir=root, depends=depends, noarch="python",
        compression_level=1, detect_prefix=False,
    )
    return Path(out.path)


def python_package(channel: Path, stage: Path) -> Path:
    """This interpreter as a conda package: a virtual environment's bin/python and pyvenv.cfg."""
    import os

    from rattler_build import assemble_package

    base = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    root = stage / "python"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").symlink_to(base)
    (root / "bin" / "python3").symlink_to("python")
    (root / "pyvenv.cfg").write_text(
        f"home = {base.parent}\ninclude-system-site-packages = false\n"
        f"version = {'.'.join(map(str, sys.version_info[:3]))}\n"
    )
    version = ".".join(map(str, sys.version_info[:3]))
    out = assemble_package(
        name="python", version=version, target_platform=SUBDIR_NATIVE, build_string="venv_0",
        output_dir=channel / SUBDIR_NATIVE, files_dir=root, compression_level=1, detect_prefix=False,
    )
    assert os.path.exists(out.path)
    return Path(out.path)


SUBDIR_NATIVE = "linux-64"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Any]:
    """recipe/ built into a noarch .conda against a local channel, and installed."""
    import asyncio
    import platform

    import rattler

    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip("the build channel is made for linux-64")
    found = wheels(BUILD_WHEELS)
    tmp = tmp_path_factory.mktemp("recipe-build")
    channel, stage, out = tmp / "channel", tmp / "stage", tmp / "out"
    for sub in (SUBDIR_NATIVE, "noarch"):
        (channel / sub).mkdir(parents=True)
    python_package(channel, stage)
    for wheel in found.values():
        conda_package_from_wheel(wheel, channel, stage)
    asyncio.run(rattler.index.index_fs(channel, write_zst=False, write_shards=False, force=True))

    recipe = rattler_build.Stage0Recipe.from_file(RECIPE)
    config = rattler_build.RenderConfig(platform=rattler_build.PlatformConfig(experimental=True))
    (variant,) = recipe.render(rattler_build.VariantConfig(), config)
    result = variant.run_build(
        tool_config=rattler_build.ToolConfiguration(test_strategy="skip"),
        output_dir=out, channels=[channel.as_uri()], no_build_id=True,
    )
    (package_path,) = [Path(p) for p in result.packages]

    # install it, with the python it runs on, into a fresh environment
    import shutil

    shutil.copy2(package_path, channel / "noarch" / package_path.name)
    asyncio.run(rattler.index.index_fs(channel, write_zst=False, write_shards=False, force=True))
    records = []
    for sub in (SUBDIR_NATIVE, "noarch"):
        repodata = rattler.RepoData.from_path(str(channel / sub / "repodata.json"))
        records += repodata.into_repo_data(rattler.Channel(channel.as_uri()))
    chosen = [r for r in records if r.name.normalized in ("python", "conda-prune")]
    prefix = tmp / "env"
    asyncio.run(rattler.install(chosen, prefix, cache_dir=tmp / "pkgs", show_progress=False))
    return {"package": package_path, "prefix": prefix}


def test_the_recipe_builds_a_noarch_conda_package_with_the_run_requirements(built: dict[str, Any]) -> None:
    package = rattler_build.Package.from_file(built["package"])
    assert package.name == "conda-prune" and package.version == conda_prune.__version__
    assert package.noarch == "python" and built["package"].name.endswith(".conda")
    depends = {spec_name(d): spec_constraints(d) for d in package.depends}
    assert depends == {
        "python": {">=3.10"}, "conda": set(), "rich": {">=13"}, "packaging": {">=23"},
        "ruamel-yaml": {">=0.17"}, "tomli": {">=1.1"}, "pyelftools": {">=0.29"},
        "macholib": {">=1.16"},
    }
    files = set(package.files)
    assert "site-packages/conda_prune/plugin.py" in files
    assert "site-packages/conda_prune/py.typed" in files
    assert "site-packages/conda_prune/trace/hook/sitecustomize.py" in files  # --trace's recorder, package data
    assert not [f for f in files if "/tests/" in f or f.startswith(("tests/", "bench/"))]


def test_the_installed_package_registers_its_conda_entry_point(built: dict[str, Any]) -> None:
    import json

    prefix = built["prefix"]
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    assert (site / "conda_prune" / "plugin.py").is_file()
    (dist_info,) = site.glob("conda_prune-*.dist-info")
    entry_points = (dist_info / "entry_points.txt").read_text()
    assert "[conda]\nconda-prune = conda_prune.plugin" in entry_points
    assert "[console_scripts]\nconda-prune = conda_prune.cli.standalone:main" in entry_points
    (record,) = (prefix / "conda-meta").glob("conda-prune-*.json")
    meta = json.loads(record.read_text())
    assert {spec_name(d) for d in meta["depends"]} == {"python", "conda", "rich", "packaging", "ruamel-yaml",
                                                       "tomli", "pyelftools", "macholib"}
    assert (prefix / "bin" / "conda-prune").is_file()


def test_python_m_conda_prune_help_runs_from_the_installed_package(built: dict[str, Any]) -> None:
    import os
    import subprocess

    try:
        import conda  # noqa: F401
    except ImportError:
        pytest.skip("needs conda: not importable in this interpreter")
    site = built["prefix"] / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "_CE_"))}
    env["PYTHONPATH"] = str(site)  # ahead of this interpreter's own (editable) conda-prune
    where = subprocess.run(
        [sys.executable, "-c", "import conda_prune, importlib.metadata as m; print(conda_prune.__file__); "
         "print(m.distribution('conda-prune').locate_file('conda_prune/plugin.py'))"],
        env=env, capture_output=True, text=True, cwd=built["prefix"],  # not the checkout
    )
    assert where.stdout.splitlines() and all(line.startswith(str(site)) for line in where.stdout.splitlines()), where
    for sub, text in (("prune", "Free disk without breaking anything"), ("why-used", "why a package")):
        proc = subprocess.run([sys.executable, "-m", "conda", sub, "--help"], env=env, capture_output=True,
                              text=True, cwd=built["prefix"])
        assert proc.returncode == 0, proc.stderr
        assert text in proc.stdout
