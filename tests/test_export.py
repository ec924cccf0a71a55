"""``conda prune -n ENV --app PATH --export FILE``: the file reads back as exactly the strings
written (YAML 1.2 as conda reads it, and YAML 1.1 as PyYAML-based tools do), pins are exact, and a
real conda solves it to the environment's own versions and builds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from builder import Installation
from conftest import HAVE_CONDA, needs_conda

from conda_prune.appscan import scan_app
from conda_prune.env_prune import lean_environment, plan_env_prune
from conda_prune.graph import DependencyGraph
from conda_prune.records import read_environment
from conda_prune.requested_files import read_requested_file
from conda_prune.roots import find_roots

# Strings a hand-written YAML line gets wrong: booleans and nulls in YAML 1.1 or 1.2, numbers
# that lose digits, indicators that start an alias, anchor, tag, comment or mapping, and more.
TRICKY = ["yes", "no", "on", "off", "y", "Yes", "NO", "true", "null", "Null", "~", "", "1.10", "2.0", "1e5", "012",
          "0x1F", "0o17", "1_000", "1:20", ".inf", "2001-12-14", "a: b", "a:b", "x #y", "#x", "*x", "&x", "!x", "%x",
          "@x", "`x", "|", ">", "-", "- x", "? x", "[x]", "{x}", "'q", '"q', "=", "<<", " lead", "trail ", "ünï",
          "日本", "tab\there", "line\nbreak", "pytorch >=2.3,<3 " * 8]


def loaders() -> list:
    """Every reader the file must satisfy: ruamel.yaml's safe loader as YAML 1.2 (what conda and
    ruamel default to) and as YAML 1.1 (what PyYAML and the tools built on it read), and conda's own
    loader when conda is importable."""
    from ruamel.yaml import YAML

    def ruamel(version: tuple[int, int] | None):
        yaml = YAML(typ="safe", pure=True)
        if version:
            yaml.version = version
        return yaml.load

    found = [ruamel(None), ruamel((1, 1))]
    if HAVE_CONDA:
        from conda.common.serialize.yaml import loads

        found.append(loads)
    return found


def assert_reads_back(text: str, expected: dict) -> None:
    for load in loaders():
        assert load(text) == expected, (load, text)


def document(value: str) -> dict:
    return {"name": value, "channels": [value], "dependencies": [value, f"{value}=1.10=0", {"pip": [value]}]}


@pytest.mark.parametrize("without_conda", [False, True], ids=["conda-emitter", "ruamel-fallback"])
@pytest.mark.parametrize("value", TRICKY, ids=range(len(TRICKY)))
def test_every_string_reads_back_exactly(value, without_conda, monkeypatch) -> None:
    from conda_prune.env_prune.export import dump_yaml

    if not without_conda and not HAVE_CONDA:
        pytest.skip("needs conda: not importable in this interpreter")
    with monkeypatch.context() as patch:
        if without_conda:
            patch.setitem(sys.modules, "conda.common.serialize.yaml", None)  # the import fails, as without conda
        text = dump_yaml(document(value))
    assert_reads_back(text, document(value))


# -- whole exports ----------------------------------------------------------------------------------


def tricky_installation(inst: Installation) -> Installation:
    """Versions and builds that a YAML reader or a fuzzy conda spec gets wrong, and beside two
    installed packages one the solver prefers: ``tool=1.10`` takes 1.10.5, ``lib=2.0`` the build
    ``1e5`` (both checked to happen with the old pins)."""
    p = inst.package
    p("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    p("pip", "24.0", "pyh0", depends=["python"], python_modules=["pip"])
    p("tool", "1.10", "py311_0", depends=["python"], python_modules=["tool"])
    p("tool", "1.10.5", "py311_0", depends=["python"], python_modules=["tool"])
    p("lib", "2.0", "1e5", depends=["python"], python_modules=["lib"])
    p("lib", "2.0", "h2", depends=["python"], python_modules=["lib"])  # installed
    p("sci", "1e5", "1e5", depends=["python"], python_modules=["sci"])
    p("on", "1.0", "0", depends=["python"], python_modules=["on_"])
    return inst


INSTALLED = ["python", "pip", "tool-1.10-py311_0", "lib-2.0-h2", "sci", "on"]
APP = "import tool\nimport lib\nimport sci\nimport on_\nimport oldlib\n"


def make_env(inst: Installation, name: str) -> Path:
    prefix = inst.create_env(name, INSTALLED)
    inst.pip_install(prefix, "oldlib", "1.10", ["oldlib"])
    return prefix


def export(prefix: Path, app: Path, requested_from: Path | None = None) -> str:
    env = read_environment(prefix)
    graph = DependencyGraph.build(env)
    file = read_requested_file(requested_from) if requested_from else None
    roots = find_roots(prefix, env, graph, requested_file=file, apps=[app])
    return lean_environment(plan_env_prune(env, scan_app([app], cache_dir=None), graph=graph, roots=roots), env)


def conda_records(inst: Installation) -> list:
    """The channel's packages as conda's own records, for conda's own MatchSpec."""
    from conda.models.records import PackageRecord

    found = []
    for repodata in inst.channel.glob("*/repodata.json"):
        data = json.loads(repodata.read_text())
        for fn, info in {**data.get("packages", {}), **data.get("packages.conda", {})}.items():
            found.append(PackageRecord(**{**info, "fn": fn, "channel": inst.channel.as_uri()}))
    return found


@pytest.fixture(scope="module")
def tricky(tmp_path_factory) -> tuple[Installation, Path]:
    inst = tricky_installation(Installation(tmp_path_factory.mktemp("export") / "inst"))
    app = inst.root / "app"
    app.mkdir()
    (app / "main.py").write_text(APP)
    return inst, app


EXPECTED_DEPENDENCIES = ["lib=2.0=h2", "on=1.0=0", "pip=24.0=pyh0", "python=3.11.9=h0", "sci=1e5=1e5",
                         "tool=1.10=py311_0", {"pip": ["oldlib==1.10"]}]


@pytest.mark.parametrize("name", ["yes", "no", "on", "1.10", "null", "a: b", "x #y", "#x", "*x", "&x", "!x", "ünï"])
def test_an_export_reads_back_exactly_whatever_the_environment_is_called(tricky, name) -> None:
    inst, app = tricky
    prefix = make_env(inst, name)
    text = export(prefix, app)
    assert_reads_back(text, {"name": name, "channels": [inst.channel.as_uri()], "dependencies": EXPECTED_DEPENDENCIES})


def test_pins_are_exact_and_match_only_the_installed_build(tricky) -> None:
    import rattler

    inst, app = tricky
    prefix = make_env(inst, "pins")
    loaded = loaders()[0](export(prefix, app))
    conda_specs = [d for d in loaded["dependencies"] if isinstance(d, str)]
    assert loaded["dependencies"][-1] == {"pip": ["oldlib==1.10"]}
    installed = {r.name: r for r in read_environment(prefix).records}
    offered = inst._records()
    for spec in conda_specs:
        mine = (installed[spec.split("=")[0]].version, installed[spec.split("=")[0]].build)
        matching = [r for r in offered if rattler.MatchSpec(spec).matches(r)]
        assert [(str(r.version), str(r.build)) for r in matching] == [mine], spec
        if HAVE_CONDA:
            from conda.models.match_spec import MatchSpec

            assert [(r.version, r.build) for r in conda_records(inst) if MatchSpec(spec).match(r)] == [mine], spec


def test_a_comment_cannot_end_early_however_the_paths_are_named(tricky) -> None:
    inst, _ = tricky
    prefix = make_env(inst, "plain")
    odd_app = inst.root / "odd\nname: x\u2028#"
    odd_app.mkdir()
    (odd_app / "main.py").write_text(APP)
    text = export(prefix, odd_app)
    assert_reads_back(text, {"name": "plain", "channels": [inst.channel.as_uri()],
                             "dependencies": EXPECTED_DEPENDENCIES})
    head = text.split("\nname: ")[0].splitlines()
    assert len(head) == 3 and all(line.startswith("# ") for line in head)


def test_the_users_own_specs_are_kept_verbatim_and_quoted(tricky, tmp_path) -> None:
    inst, app = tricky
    prefix = make_env(inst, "own")
    env_file = tmp_path / "environment.yml"
    env_file.write_text("dependencies:\n  - 'on'\n  - tool >=1.10,<2\n  - pip:\n    - oldlib>=1.10\n")
    text = export(prefix, app, env_file)
    expected = ["lib=2.0=h2", "on", "pip=24.0=pyh0", "python=3.11.9=h0", "sci=1e5=1e5", "tool >=1.10,<2",
                {"pip": ["oldlib>=1.10"]}]
    assert_reads_back(text, {"name": "own", "channels": [inst.channel.as_uri()], "dependencies": expected})
    assert "where environment.yml gives no spec" in text


# -- a real conda -----------------------------------------------------------------------------------


@needs_conda
@pytest.mark.conda
def test_conda_solves_the_export_to_the_installed_versions_and_builds(tricky) -> None:
    inst, app = tricky
    prefix = make_env(inst, "yes")
    lean = inst.root / "lean.yml"
    lean.write_text(export(prefix, app))
    command = ["env", "create", "--dry-run", "--json", "--offline", "--solver", "classic", "-f", str(lean), "-n", "x"]
    proc = subprocess.run([sys.executable, "-m", "conda", *command], env=inst.environ(), capture_output=True,
                          text=True, cwd=inst.root, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    linked = {r["name"]: (r["version"], r["build_string"]) for r in data["actions"]["LINK"]}
    installed = {r.name: (r.version, r.build) for r in read_environment(prefix).records}
    assert linked == {name: installed[name] for name in ("lib", "on", "pip", "python", "sci", "tool")}
