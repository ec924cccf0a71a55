"""Reading ``conda-meta/history``: lockfile installs set apart, hostile lines bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import in_time

from conda_prune.history import MAX_SPEC_LINE, is_exact_spec, read_requested_specs
from conda_prune.safeio import TEXT_LIMIT


def history(prefix: Path, *blocks: str) -> Path:
    (prefix / "conda-meta").mkdir(parents=True, exist_ok=True)
    (prefix / "conda-meta" / "history").write_text("".join(blocks))
    return prefix


LOCK = (
    "==> 2024-01-01 00:00:00 <==\n# cmd: conda create -p /e --file explicit.txt\n# conda version: 26.7.1\n"
    "+file:///ch/linux-64::numpy-1.26.4-py311_0\n+file:///ch/linux-64::python-3.11.8-h0\n"
    "+file:///ch/noarch::tzdata-2024a-h0\n"
    "# update specs: ['file:///ch/linux-64::python==3.11.8=h0', 'file:///ch/linux-64::numpy==1.26.4=py311_0', "
    "'file:///ch/noarch::tzdata==2024a=h0']\n"
)
INSTALL_TORCH = (
    "==> 2024-01-02 00:00:00 <==\n# cmd: conda install torch\n# conda version: 26.7.1\n"
    "+file:///ch::torch-2.3.0-py311_0\n# update specs: ['torch']\n"
)
INSTALLED = ["numpy", "python", "tzdata", "torch"]


@pytest.mark.parametrize(
    "spec, exact",
    [
        ("file:///ch/noarch::numpy==1.26.4=py311h64a7726_0", True),
        ("https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.4-py311h64a7726_0.conda", True),
        ("numpy==1.26.4=py311h64a7726_0", True),
        ("conda-forge::numpy=1.26.4=py311h64a7726_0", True),
        ("numpy 1.26.4 py311h64a7726_0", True),
        ("numpy==1.26.4=py311h64a7726_0[md5=0123abcd]", True),
        ("numpy==1.26.4=py311h64a7726_0[license=BSD]", False),
        ("numpy==1.26.4", False),
        ("numpy=1.26.4=*_0", False),
        ("numpy 1.26.* py311*", False),
        ("numpy >=1.26,<2", False),
        ("numpy", False),
        ("numpy-1.26.4-py311_0", False),
    ],
)
def test_an_exact_spec_names_one_build_or_a_url(spec, exact):
    assert is_exact_spec(spec) is exact


def test_a_lockfile_install_is_no_request(tmp_path):
    specs = read_requested_specs(history(tmp_path, LOCK), INSTALLED[:3])
    assert specs.lockfile and specs.lockfile_specs
    assert specs.specs == {}
    assert set(specs.lockfile_specs) == {"numpy", "python", "tzdata"}


def test_a_later_install_on_a_lockfile_environment_is_a_request(tmp_path):
    specs = read_requested_specs(history(tmp_path, LOCK, INSTALL_TORCH), INSTALLED)
    assert specs.lockfile
    assert specs.specs == {"torch": "torch"}


def test_url_lines_without_specs_are_a_lockfile_install(tmp_path):
    urls_only = "".join(line + "\n" for line in LOCK.splitlines() if not line.startswith("# update specs"))
    specs = read_requested_specs(history(tmp_path, urls_only), INSTALLED[:3])
    assert specs.lockfile and specs.specs == {}


def test_one_pinned_spec_or_pinned_specs_naming_only_some_packages_are_requests(tmp_path):
    one = (
        "==> 2024-01-02 00:00:00 <==\n# cmd: conda install numpy==1.26.4=py311_0\n# conda version: 26.7.1\n"
        "+file:///ch::numpy-1.26.4-py311_0\n# update specs: ['numpy==1.26.4=py311_0']\n"
    )
    assert read_requested_specs(history(tmp_path / "one", one), INSTALLED).specs == {"numpy": "numpy==1.26.4=py311_0"}
    some = (
        "==> 2024-01-02 00:00:00 <==\n# cmd: conda install a b\n# conda version: 26.7.1\n"
        "+ch::a-1-0\n+ch::b-1-0\n+ch::libc-1-0\n# update specs: ['a==1=0', 'b==1=0']\n"
    )
    specs = read_requested_specs(history(tmp_path / "some", some), ["a", "b", "libc"])
    assert not specs.lockfile and set(specs.specs) == {"a", "b"}


def test_a_line_of_minus_signs_does_not_exhaust_the_parser(tmp_path):
    hostile = f"==> 2024-01-01 00:00:00 <==\n# cmd: conda install x\n# update specs: [{'-' * 200_000}1]\n"
    specs = read_requested_specs(history(tmp_path, hostile, INSTALL_TORCH), INSTALLED)
    assert specs.specs == {"torch": "torch"}


def test_a_spec_line_over_the_cap_is_skipped_and_reported(tmp_path):
    hostile = f"==> 2024-01-01 00:00:00 <==\n# cmd: conda install x\n# update specs: [{'-' * MAX_SPEC_LINE}1]\n"
    specs = read_requested_specs(history(tmp_path, INSTALL_TORCH, hostile), INSTALLED)
    assert specs.specs == {"torch": "torch"}
    assert len(specs.problems) == 1
    problem = str(specs.problems[0])
    assert str(tmp_path / "conda-meta" / "history") in problem and "delete that line" in problem


# -- files that are not regular files: named, never a hang -----------------------------------------


def _env(inst):
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""})
    inst.package("numpy", "1.26.4", "py311h0", depends=["python"], python_modules=["numpy"])
    return inst.create_env("e", ["numpy"])


@pytest.mark.parametrize("name", ["history", "pinned"])
def test_a_fifo_history_or_pinned_is_named_unreadable_not_a_hang(inst, name):
    prefix = _env(inst)
    path = prefix / "conda-meta" / name
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    specs = in_time(lambda: read_requested_specs(prefix, ["numpy", "python"]))
    (problem,) = specs.unreadable
    assert problem.path == path and "FIFO" in problem.message and "regular file" in problem.message
    if name == "pinned":
        assert specs.specs == {"numpy": "numpy"}  # the history was still read


def test_a_history_over_the_size_cap_or_a_link_to_a_device_is_not_read(inst):
    prefix = _env(inst)
    history_file = prefix / "conda-meta" / "history"
    with open(history_file, "ab") as fh:
        fh.truncate(TEXT_LIMIT + 1)  # sparse: no disk used
    pinned = prefix / "conda-meta" / "pinned"
    pinned.symlink_to("/dev/null")  # a device; were it read, the test fails (/dev/zero would exhaust memory)
    specs = in_time(lambda: read_requested_specs(prefix, ["numpy", "python"]))
    said = {p.path.name: p.message for p in specs.unreadable}
    assert "read limit" in said["history"] and "character device" in said["pinned"]
    assert specs.specs == {}


def test_no_history_and_no_pinned_file_is_no_problem(inst):
    prefix = _env(inst)
    (prefix / "conda-meta" / "history").unlink()
    specs = read_requested_specs(prefix, ["numpy", "python"])
    assert specs.unreadable == [] and specs.problems == []
