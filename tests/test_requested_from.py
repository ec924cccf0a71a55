"""What the user really asked for in environments installed from a lockfile: the history's
lockfile specs set apart, ``--requested-from FILE``, a file found beside ``--app``, and the same
roots in ``conda prune --app`` and its ``--export``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import in_time, needs_conda, plant_unreadable

from conda_prune.cli.standalone import main
from conda_prune.requested_files import RequestedFileError, read_requested_file
from conda_prune.roots import FROM_FILE, LEAF, REQUESTED
from conda_prune.why import why_used

CUDA_CHAIN = ["pytorch", "cuda-runtime", "cuda-libraries", "libcublas"]


def ml_packages(inst) -> None:
    """python, numpy, pandas, and pytorch pulling a CUDA library three levels down."""
    if "python-3.11.8-h0" in inst.packages:
        return
    inst.package("python", "3.11.8", "h0", files={"lib/python3.11/os.py": "# os\n"})
    inst.package("numpy", "1.26.4", "py311_0", depends=["python >=3.11,<3.12"], python_modules=["numpy"])
    inst.package("pandas", "2.2.1", "py311_0", depends=["python", "numpy >=1.22.4"], python_modules=["pandas"])
    inst.package("libcublas", "12.1.3.1", "h0", files={"lib/libcublas.so.12": "elf"})
    inst.package("cuda-libraries", "12.1.0", "h0", depends=["libcublas >=12.1.3.1,<12.2"])
    inst.package("cuda-runtime", "12.1.0", "h0", depends=["cuda-libraries 12.1.0.*"])
    inst.package("pytorch", "2.3.0", "py311_0", depends=["python", "numpy >=1.23", "cuda-runtime >=12.1,<12.2"],
                 python_modules=["torch"], dist_name="torch")


def lockfile_env(inst, name: str = "ml", explicit: str = "update-specs") -> Path:
    """Every package installed from an explicit list, as ``conda create --file explicit.txt``."""
    ml_packages(inst)
    return inst.create_env(name, ["pandas", "pytorch"], explicit=explicit)


def lockfile_env_then_install(inst, name: str = "ml2") -> Path:
    """python, numpy, pandas from a lockfile; then ``conda install pytorch`` on top."""
    ml_packages(inst)
    prefix = inst.create_env(name, ["pandas"], explicit="update-specs")
    added = inst.install(prefix, ["pytorch"])
    assert sorted(r.name.normalized for r in added) == sorted(CUDA_CHAIN)
    return prefix


def chains(explanation) -> list[list[str]]:
    return [[p.links[0].parent, *(link.child for link in p.links)] if p.links else [explanation.package.name]
            for p in explanation.paths]


def by_name(report, name):
    return next(e for e in report.explanations if e.package.name == name)


@pytest.fixture
def run(inst, monkeypatch, capsys):
    """The standalone ``conda-prune`` against ``inst``; returns (code, out, err)."""
    for key in list(os.environ):
        if key.startswith(("CONDA", "MAMBA", "_CE_", "_CONDA")):
            monkeypatch.delenv(key)
    for key, value in inst.environ().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("XDG_CACHE_HOME", str(inst.root / "xdg"))

    def call(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


ENVIRONMENT_YML = """\
name: ml
channels: [conda-forge]
dependencies:
  - pytorch>=2
  - conda-forge::pandas
  - pip
  - pip:
      - torchinfo==1.8.0
      - --extra-index-url https://example.org/simple
"""


# -- lockfile installs in the history ----------------------------------------------------------


def test_a_lockfile_install_is_not_taken_as_what_was_asked_for(inst):
    prefix = lockfile_env(inst)
    history = (prefix / "conda-meta" / "history").read_text()
    assert "# update specs: ['file://" in history  # every package requested by URL, as conda writes it
    report = why_used(prefix, ["numpy", "libcublas"])
    roots = report.roots
    assert roots.source == "leaves" and roots.lockfile and roots.roots_from == "leaves"
    assert {(r.name, r.reason) for r in roots.roots} == {("pandas", LEAF), ("pytorch", LEAF)}
    numpy = by_name(report, "numpy")
    assert not numpy.requested and numpy.requested_as == ()
    assert chains(numpy) == [["pandas", "numpy"], ["pytorch", "numpy"]]
    assert chains(by_name(report, "libcublas")) == [CUDA_CHAIN]
    assert "lockfile" in roots.note and "--requested-from" in roots.note


def test_the_lockfile_notice_is_one_line_and_numpy_is_not_asked_for(inst, run):
    prefix = lockfile_env(inst)
    code, out, err = run("why-used", "numpy", "-p", str(prefix))
    assert code == 0 and err == ""
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "lockfile" in notes[0] and "(2 packages)" in notes[0]
    text = " ".join(out.split())
    assert "asked for no: needed by 2 of the 2 top-level packages (pandas, pytorch)" in text
    assert "requested: file" not in text
    code, out, _ = run("why-used", "numpy", "-p", str(prefix), "--json")
    data = json.loads(out)
    assert data["roots_from"] == "leaves" and data["roots"]["lockfile"] is True
    assert data["packages"][0]["requested"] is False


def test_url_lines_without_specs_are_a_lockfile_install_too(inst):
    prefix = lockfile_env(inst, "urls", explicit="urls-only")
    roots = why_used(prefix, ["numpy"]).roots
    assert roots.lockfile and roots.source == "leaves"
    assert {r.name for r in roots.roots} == {"pandas", "pytorch"}


def url_specs(inst, dists: list[str]) -> list[str]:
    """The specs conda writes for packages installed by URL (``conda install URL...``)."""
    from builder import SUBDIR

    out = []
    for dist in dists:
        pkg = inst.packages[dist]
        out.append(f"{inst.channel.as_uri()}/{SUBDIR}::{pkg.name}=={pkg.version}={pkg.build}")
    return out


CUDA_DISTS = ["pytorch-2.3.0-py311_0", "cuda-runtime-12.1.0-h0", "cuda-libraries-12.1.0-h0", "libcublas-12.1.3.1-h0"]


def test_a_few_exact_builds_installed_into_an_ordinary_environment_are_real_requests(inst):
    """Four URL specs, one command, naming everything that command added: but the environment
    holds python and numpy too, asked for before. That is no lockfile install."""
    ml_packages(inst)
    prefix = inst.create_env("norm", ["python", "numpy"])
    inst.install(prefix, ["pytorch"], requested=url_specs(inst, CUDA_DISTS))
    roots = why_used(prefix, ["libcublas"]).roots
    assert not roots.lockfile and roots.source == "history" and roots.note == ""
    assert {r.name for r in roots.roots if r.reason == REQUESTED} == {"python", "numpy", *CUDA_CHAIN}


def test_requests_before_a_lockfile_install_are_not_called_later(inst):
    """``conda create -n x python``, then ``conda install --file explicit.txt`` naming every
    package: python was asked for before the lockfile, pytorch after it."""
    ml_packages(inst)
    prefix = inst.create_env("before", ["python"])
    everything = ["python-3.11.8-h0", "numpy-1.26.4-py311_0", "pandas-2.2.1-py311_0"]
    inst.install(prefix, ["pandas"], requested=url_specs(inst, everything))
    inst.install(prefix, ["pytorch"])
    roots = why_used(prefix, ["libcublas"]).roots
    assert roots.lockfile and roots.source == "leaves"
    assert roots.later_requests == ("pytorch",) and roots.other_requests == ("python",)
    assert "python was requested before it" in roots.note and "pytorch was requested later" in roots.note


def test_a_later_install_on_a_lockfile_environment_is_a_real_request(inst, run):
    prefix = lockfile_env_then_install(inst)
    report = why_used(prefix, ["libcublas", "pytorch"])
    roots = report.roots
    assert roots.lockfile and roots.source == "leaves" and roots.later_requests == ("pytorch",)
    assert {(r.name, r.reason) for r in roots.roots} == {("pytorch", REQUESTED), ("pandas", LEAF), ("pytorch", LEAF)}
    cublas = by_name(report, "libcublas")
    assert chains(cublas) == [CUDA_CHAIN]
    assert [link.spec for link in cublas.paths[0].links] == [
        "cuda-runtime >=12.1,<12.2", "cuda-libraries 12.1.0.*", "libcublas >=12.1.3.1,<12.2",
    ]
    assert cublas.paths[0].root.description == "requested: pytorch"
    assert by_name(report, "pytorch").requested
    code, out, _ = run("why-used", "libcublas", "pytorch", "-p", str(prefix))
    assert code == 0
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "pytorch was requested later" in notes[0]
    assert "asked for               yes (requested: pytorch)\n" in out  # not also "nothing depends on it"
    text = " ".join(out.split())
    assert ("1. pytorch 2.3.0 → cuda-runtime >=12.1,<12.2 → cuda-libraries 12.1.0.* → libcublas "
            ">=12.1.3.1,<12.2 (requested: pytorch)") in text


@needs_conda
def test_a_real_conda_explicit_install_is_recognised(inst, tmp_path):
    """``conda create --file explicit.txt`` through a real conda writes the history the builder
    writes, and why-used sets its specs apart."""
    ml_packages(inst)
    inst.index()
    records = inst._select(["pandas", "pytorch"])
    explicit = write(tmp_path / "explicit.txt", "@EXPLICIT\n" + "".join(
        f"{inst.channel.as_uri()}/{r.subdir}/{r.file_name}\n" for r in records
    ))
    prefix = inst.envs_dir / "real"
    done = subprocess.run(
        [sys.executable, "-m", "conda", "create", "-y", "-q", "-p", str(prefix), "--file", str(explicit), "--offline"],
        capture_output=True, text=True, env=inst.environ(), timeout=300,
    )
    assert done.returncode == 0, done.stderr
    theirs = (prefix / "conda-meta" / "history").read_text().splitlines()[3:]
    built = tmp_path / "built"
    (built / "conda-meta").mkdir(parents=True)
    inst.write_explicit_history(built, records)
    ours = (built / "conda-meta" / "history").read_text().splitlines()[3:]
    assert theirs == ours
    roots = why_used(prefix, ["numpy"]).roots
    assert roots.lockfile and {r.name for r in roots.roots} == {"pandas", "pytorch"}


# -- --requested-from --------------------------------------------------------------------------


def test_environment_yml_names_conda_and_pip_specs_as_written(tmp_path):
    found = read_requested_file(write(tmp_path / "environment.yml", ENVIRONMENT_YML))
    assert found.conda == ("pytorch>=2", "conda-forge::pandas", "pip")
    assert found.pip == ("torchinfo==1.8.0",)


def test_pixi_and_pyproject_dependencies(tmp_path):
    pixi = write(tmp_path / "pixi.toml", '[project]\nname = "ml"\n[dependencies]\npytorch = ">=2"\n'
                 'pandas = "*"\nnumpy = { version = "1.26.*", channel = "conda-forge" }\n'
                 '[pypi-dependencies]\ntorchinfo = "==1.8.0"\n')
    found = read_requested_file(pixi)
    assert found.conda == ("pytorch >=2", "pandas", "conda-forge::numpy 1.26.*") and found.pip == ("torchinfo==1.8.0",)
    pyproject = write(tmp_path / "p" / "pyproject.toml", '[project]\nname = "ml"\ndependencies = ["pandas>=2", "torch"]\n'
                      '[tool.pixi.dependencies]\npytorch = ">=2"\n')
    found = read_requested_file(pyproject)
    assert found.conda == ("pytorch >=2",) and found.pip == ("pandas>=2", "torch")


def test_conda_lock_uses_its_sources_when_they_can_be_read_else_the_locked_top_level(tmp_path):
    lock = """\
version: 1
metadata:
  platforms: [linux-64]
  sources: [environment.yml]
package:
  - {name: pandas, version: 2.2.1, manager: conda, platform: linux-64, category: main,
     dependencies: {numpy: '>=1.22.4', python: ''}}
  - {name: numpy, version: 1.26.4, manager: conda, platform: linux-64, category: main, dependencies: {python: ''}}
  - {name: python, version: 3.11.8, manager: conda, platform: linux-64, category: main, dependencies: {}}
  - {name: pytest, version: 8.0.0, manager: conda, platform: linux-64, category: dev, dependencies: {python: ''}}
  - {name: torchinfo, version: 1.8.0, manager: pip, platform: linux-64, category: main, dependencies: {}}
"""
    path = write(tmp_path / "conda-lock.yml", lock)
    found = read_requested_file(path)
    assert found.conda == ("pandas", "pytest") and found.pip == ("torchinfo",)
    assert "environment.yml" in found.how and "category dev, main" in found.how
    write(tmp_path / "environment.yml", ENVIRONMENT_YML)
    found = read_requested_file(path)
    assert found.conda == ("pytorch>=2", "conda-forge::pandas", "pip") and "its sources" in found.how


def test_a_conda_lock_file_of_several_platforms_gives_the_environments_own(inst, tmp_path):
    """A lock for linux-64 and osx-arm64 whose sources are gone: only the environment's
    platform's top-level packages stand for what was asked for, so appnope (macOS only) is not
    reported as matching nothing."""
    from builder import SUBDIR

    prefix = lockfile_env(inst, "multi")
    other = "osx-arm64" if SUBDIR != "osx-arm64" else "linux-64"
    lock = f"""\
version: 1
metadata:
  platforms: [{SUBDIR}, {other}]
  sources: [environment.yml]
package:
  - {{name: pandas, version: 2.2.1, manager: conda, platform: {SUBDIR}, dependencies: {{numpy: '', python: ''}}}}
  - {{name: numpy, version: 1.26.4, manager: conda, platform: {SUBDIR}, dependencies: {{python: ''}}}}
  - {{name: python, version: 3.11.8, manager: conda, platform: {SUBDIR}, dependencies: {{}}}}
  - {{name: pandas, version: 2.2.1, manager: conda, platform: {other}, dependencies: {{python: ''}}}}
  - {{name: python, version: 3.11.8, manager: conda, platform: {other}, dependencies: {{}}}}
  - {{name: appnope, version: 0.1.4, manager: conda, platform: {other}, dependencies: {{}}}}
"""
    path = write(tmp_path / "conda-lock.yml", lock)
    assert read_requested_file(path).conda == ("appnope", "pandas")  # the file alone: every platform
    report = why_used(prefix, ["numpy"], requested_file=read_requested_file(path))
    assert [r.name for r in report.roots.roots if r.reason == FROM_FILE] == ["pandas"]
    assert not report.roots.problems, report.roots.problems


@pytest.mark.parametrize(
    "name, text, says",
    [
        ("environment.yml", "dependencies: [pandas\n  - : :", "is not valid YAML (line"),
        ("environment.yml", "name: ml\n", "has no 'dependencies' list"),
        ("pixi.toml", "[dependencies\npandas = 1", "is not valid TOML"),
        ("pyproject.toml", "[project]\nname = 'x'\n", "has no [project.dependencies]"),
        ("requirements.txt", "pandas\n", "by its name"),
    ],
)
def test_a_file_that_does_not_parse_is_one_line_naming_it(tmp_path, name, text, says):
    path = write(tmp_path / name, text)
    with pytest.raises(RequestedFileError) as caught:
        read_requested_file(path)
    message = str(caught.value)
    assert message.startswith(f"--requested-from {path}: ") and says in message and "\n" not in message


def test_requested_from_gives_the_roots_and_the_chains(inst, run, tmp_path):
    prefix = lockfile_env(inst)
    inst.pip_install(prefix, "torchinfo", "1.8.0", ["torchinfo"], requested=False)
    env_file = write(tmp_path / "project" / "environment.yml", ENVIRONMENT_YML.replace("  - pip\n", "  - zarr\n"))
    code, out, err = run("why-used", "libcublas", "numpy", "-p", str(prefix), "--requested-from", str(env_file), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["roots_from"] == str(env_file) and data["roots"]["source"] == "file"
    assert data["roots"]["names"] == ["pandas", "pytorch", "torchinfo"]
    cublas = data["packages"][0]
    assert cublas["paths"][0]["root"]["description"] == "environment.yml: pytorch>=2"
    assert [link["child"] for link in cublas["paths"][0]["links"]] == CUDA_CHAIN[1:]
    # zarr is not installed: one line says so, the rest of the file is used
    assert err.count("\n") == 1 and str(env_file) in err and "zarr" in err
    code, out, _ = run("why-used", "pandas", "-p", str(prefix), "--requested-from", str(env_file))
    text = " ".join(out.split())
    assert "asked for yes (environment.yml: conda-forge::pandas)" in text
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and str(env_file) in " ".join(out.split())


BAD_FILE_SAYS = {
    "missing": "no such file", "broken": "is not valid YAML", "fifo": "is a FIFO, not a regular file",
    "device": "is a character device, not a regular file", "huge": "over the 64 MiB read limit",
}


@pytest.mark.parametrize("problem", list(BAD_FILE_SAYS))
def test_a_bad_requested_from_file_is_exit_2_and_one_line(inst, run, tmp_path, problem):
    prefix = lockfile_env(inst)
    path = tmp_path / "environment.yml"
    if problem == "broken":
        write(path, "dependencies:\n  - pandas\n - : [\n")
    elif problem != "missing":
        plant_unreadable(path, problem, b"dependencies:\n  - pandas\n")
    for argv in (("why-used", "numpy", "-p", str(prefix)), ("prune", "-p", str(prefix), "--app", str(tmp_path), "--dry-run")):
        code, out, err = in_time(lambda argv=argv: run(*argv, "--requested-from", str(path)))
        assert code == 2 and out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in err
        assert BAD_FILE_SAYS[problem] in lines[0]


@needs_conda
def test_a_bad_requested_from_file_through_real_conda(inst, tmp_path):
    prefix = lockfile_env(inst)
    done = subprocess.run(
        [sys.executable, "-m", "conda", "why-used", "numpy", "-p", str(prefix), "--requested-from", str(tmp_path / "nope.yml")],
        capture_output=True, text=True, env=inst.environ(), timeout=120,
    )
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
    assert f"--requested-from {tmp_path / 'nope.yml'}: no such file" in done.stderr
    good = write(tmp_path / "environment.yml", ENVIRONMENT_YML)
    done = subprocess.run(
        [sys.executable, "-m", "conda", "why-used", "libcublas", "-p", str(prefix), "--requested-from", str(good), "--json"],
        capture_output=True, text=True, env=inst.environ(), timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["roots_from"] == str(good)


def test_a_file_beside_the_app_is_used_when_the_history_has_no_real_requests(inst, run, tmp_path):
    prefix = lockfile_env(inst)
    app = write(tmp_path / "proj" / "src" / "train.py", "import torch\n").parent
    env_file = write(tmp_path / "proj" / "environment.yml", "dependencies:\n  - pytorch\n")
    report = why_used(prefix, ["numpy"], apps=[app])
    assert report.roots.file == str(env_file) and report.roots.found_beside == str(app)
    assert [(r.name, r.reason) for r in report.roots.roots] == [("pytorch", FROM_FILE)]
    assert chains(by_name(report, "numpy")) == [["pytorch", "numpy"]]
    code, out, _ = run("why-used", "numpy", "-p", str(prefix), "--app", str(app))
    assert code == 0
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1
    assert f"{env_file}, found beside --app {app}, tells what was asked for" in " ".join(out.split())


def test_a_pyproject_pip_name_finds_the_conda_package_that_carries_it(inst, tmp_path):
    prefix = lockfile_env(inst)
    pyproject = write(tmp_path / "pyproject.toml", '[project]\nname = "app"\ndependencies = ["torch>=2"]\n')
    report = why_used(prefix, ["libcublas"], requested_file=read_requested_file(pyproject))
    assert [(r.name, r.spec) for r in report.roots.roots] == [("pytorch", "torch>=2")]
    assert chains(by_name(report, "libcublas")) == [CUDA_CHAIN]
    assert report.problems == ()


def test_no_file_is_looked_for_when_the_history_has_real_requests(inst, tmp_path):
    prefix = lockfile_env_then_install(inst)
    app = write(tmp_path / "proj" / "train.py", "import torch\n").parent
    write(app / "environment.yml", "dependencies:\n  - pandas\n")
    roots = why_used(prefix, ["numpy"], apps=[app]).roots
    assert roots.file == "" and roots.later_requests == ("pytorch",)


# -- conda prune --app -------------------------------------------------------------------------


def test_prune_reports_what_was_asked_for_from_the_same_roots(inst, run, tmp_path):
    prefix = lockfile_env_then_install(inst)
    app = write(tmp_path / "app" / "train.py", "import torch\n").parent
    code, out, _ = run("prune", "-p", str(prefix), "--app", str(app), "--dry-run", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["roots_from"] == "leaves" and data["asked_for"] == ["pytorch"]
    packages = {p["name"]: p for p in data["packages"]}
    assert packages["pytorch"]["asked_for"] == "requested: pytorch"
    assert packages["numpy"]["asked_for"] is None  # the lockfile's URL spec is no request
    assert data["unused"] == ["pandas"]
    code, out, _ = run("prune", "-p", str(prefix), "--app", str(app), "--dry-run")
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "pytorch was requested later" in notes[0]


def test_export_keeps_the_users_own_specs_from_the_file(inst, run, tmp_path):
    prefix = lockfile_env(inst)
    app = write(tmp_path / "app" / "train.py", "import torch\nimport pandas\n").parent
    env_file = write(tmp_path / "environment.yml", "dependencies:\n  - pytorch>=2\n  - pandas\n")
    lean = tmp_path / "lean.yml"
    code, out, err = run("prune", "-p", str(prefix), "--app", str(app), "--requested-from", str(env_file),
                         "--export", str(lean), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["roots_from"] == str(env_file) and data["asked_for"] == ["pandas", "pytorch"]
    text = lean.read_text()
    assert "  - pytorch>=2\n" in text and "  - pandas\n" in text
    assert "  - python=3.11.8=h0\n" in text  # kept by rule, not in the file: pinned exactly, as before
    assert "where environment.yml gives no spec" in text


def test_export_writes_a_pip_requirement_for_a_conda_package_as_a_conda_pin(inst, run, tmp_path):
    """pyproject's ``torch>=2`` found conda's pytorch, and an environment.yml's pip section
    ``pandas[performance]>=2`` conda's pandas: neither is a conda spec (conda has no ``torch``,
    and reads no extras or markers), so the conda section gets the exact pin."""
    prefix = lockfile_env(inst)
    app = write(tmp_path / "app" / "train.py", "import torch\nimport pandas\n").parent
    for name, text in (
        ("pyproject.toml", '[project]\nname = "x"\ndependencies = ["torch>=2", "pandas>=2"]\n'),
        ("environment.yml", "dependencies:\n  - pip:\n    - torch>=2 ; python_version>'3.8'\n"
                            "    - pandas[performance]>=2\n"),
    ):
        spec_file = write(tmp_path / "specs" / name, text)
        lean = tmp_path / f"lean-{name}.yml"
        code, _, err = run("prune", "-p", str(prefix), "--app", str(app), "--requested-from", str(spec_file),
                           "--export", str(lean), "--json")
        assert code == 0, err
        exported = lean.read_text()
        assert "  - pytorch=2.3.0=py311_0\n" in exported and "  - pandas=2.2.1=py311_0\n" in exported, exported
        assert "torch>=2" not in exported and "pandas[" not in exported and "pip:" not in exported


# -- hostile history -------------------------------------------------------------------------------


@pytest.mark.parametrize("minus_signs, warned", [(200_000, False), (1_100_000, True)])
def test_a_history_line_of_minus_signs_is_no_traceback(inst, run, minus_signs, warned):
    prefix = lockfile_env_then_install(inst)
    history = prefix / "conda-meta" / "history"
    with open(history, "a") as fh:
        fh.write(f"==> 2024-02-01 00:00:00 <==\n# cmd: conda install x\n# update specs: [{'-' * minus_signs}1]\n")
    code, out, err = run("why-used", "libcublas", "-p", str(prefix), "--json")
    assert code == 0 and "Traceback" not in err
    data = json.loads(out)
    assert data["roots"]["names"] == ["pandas", "pytorch"]
    assert [p["path"] for p in data["problems"]] == ([str(history)] if warned else [])
    assert len(err.splitlines()) == (1 if warned else 0)
