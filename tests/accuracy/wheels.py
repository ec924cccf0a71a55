"""Real packages for the accuracy suite: wheels from PyPI turned into conda packages.

Wheels are fetched once with ``pip download --only-binary=:all: --no-deps`` into a cache folder
(``$XDG_CACHE_HOME/conda-prune-accuracy``, else ``~/.cache/conda-prune-accuracy``; set
``CONDA_PRUNE_ACCURACY_CACHE`` to choose another). Each wheel becomes one conda package made with
py-rattler-build's ``assemble_package``, as conda-forge packages Python code:

- the wheel's files under ``lib/pythonX.Y/site-packages`` (``*.data/scripts`` under ``bin/``,
  ``*.data/data`` at the prefix, ``*.data/headers`` under ``include/``), its dist-info marked
  ``INSTALLER: conda``, and a ``bin/`` launcher for each console script;
- ``depends`` from ``Requires-Dist`` (markers evaluated for the test interpreter, extras left
  out), with conda-forge names where they differ from PyPI's.

A ``python`` package makes the prefix a working interpreter: ``bin/python`` is a symlink to the
test's own Python and ``pyvenv.cfg`` tells that Python the prefix is its environment, so
``ENV/bin/python -c "import pandas"`` imports the environment's pandas and nothing else.
"""

from __future__ import annotations

import email.parser
import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

PYVER = f"{sys.version_info.major}.{sys.version_info.minor}"
SITE = f"lib/python{PYVER}/site-packages"
SUBDIR = "linux-64"

#: PyPI name -> conda-forge name, where they differ
CONDA_NAMES = {
    "tables": "pytables",
    "msgpack": "msgpack-python",
    "matplotlib": "matplotlib-base",
    "typing-extensions": "typing_extensions",
    "torch": "pytorch",
}

_LAUNCHER = """#!/bin/sh
'''exec' "$(dirname -- "$0")/python" "$0" "$@"
' '''
import sys
from {module} import {attr}
if __name__ == "__main__":
    sys.exit({call}())
"""


class Offline(Exception):
    """The package registry cannot be reached: the accuracy cases skip."""


def cache_dir() -> Path:
    chosen = os.environ.get("CONDA_PRUNE_ACCURACY_CACHE")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "conda-prune-accuracy"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def conda_name(pypi_name: str) -> str:
    name = normalize(pypi_name)
    return CONDA_NAMES.get(name, name)


def _wheel_key(filename: str) -> tuple[str, str]:
    """(normalized name, version) of a wheel file name."""
    name, version = filename.split("-")[:2]
    return normalize(name), version


def fetch_wheels(pins: list[str], dest: Path | None = None) -> list[Path]:
    """The wheels of ``pins`` (``name==version``), from the cache or downloaded into it.

    Raises :class:`Offline` when pip cannot reach the registry."""
    dest = dest or cache_dir() / "wheels"
    dest.mkdir(parents=True, exist_ok=True)

    def present() -> dict[tuple[str, str], Path]:
        return {_wheel_key(p.name): p for p in dest.glob("*.whl")}

    wanted = [(normalize(p.split("==")[0]), p.split("==")[1]) for p in pins]
    missing = [pin for pin, key in zip(pins, wanted, strict=True) if key not in present()]
    if missing:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--only-binary=:all:", "--no-deps", "--dest", str(dest), *missing],
            capture_output=True, text=True,
        )
        have = present()
        still = [pin for pin, key in zip(pins, wanted, strict=True) if key not in have]
        if proc.returncode != 0 or still:
            lines = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
            raise Offline(lines[0] if lines else f"pip download failed for {', '.join(still[:3])}")
    have = present()
    return [have[key] for key in wanted]


# -- wheel -> conda package -------------------------------------------------------------------------


@dataclass
class WheelPackage:
    name: str  # the conda name
    pypi_name: str
    version: str
    depends: list[str]
    path: Path  # the .conda file


def _metadata(zf: zipfile.ZipFile) -> tuple[str, email.message.Message]:
    info = next(n.split("/")[0] for n in zf.namelist() if n.split("/")[0].endswith(".dist-info")
                and n.endswith("/METADATA"))
    return info, email.parser.Parser().parsestr(zf.read(f"{info}/METADATA").decode("utf-8", "replace"))


def mandatory_requirements(meta: email.message.Message) -> list[tuple[str, str]]:
    """(pypi name, specifier) of each ``Requires-Dist`` that applies without extras here."""
    from packaging.requirements import InvalidRequirement, Requirement

    out = []
    for line in meta.get_all("Requires-Dist") or []:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        out.append((req.name, str(req.specifier)))
    return out


def _conda_spec(name: str, specifier: str) -> str:
    import rattler

    if specifier:
        spec = f"{name} {specifier}"
        try:
            rattler.MatchSpec(spec)
            return spec
        except Exception:  # a PEP 440 form conda does not read: keep the name
            pass
    return name


def wheel_to_package(wheel: Path, output_dir: Path, stage_root: Path, available: set[str]) -> WheelPackage:
    """One wheel as a conda package in ``output_dir``. Requirements on packages not in
    ``available`` (conda names) are left out of ``depends``."""
    from rattler_build import assemble_package

    with zipfile.ZipFile(wheel) as zf:
        info, meta = _metadata(zf)
        stage = stage_root / wheel.stem
        if stage.exists():
            shutil.rmtree(stage)
        site = stage / SITE
        site.mkdir(parents=True)
        zf.extractall(site)
    data = next(site.glob("*.data"), None)
    if data is not None:
        for part in sorted(data.iterdir()):
            target = {"purelib": site, "platlib": site, "scripts": stage / "bin", "data": stage,
                      "headers": stage / "include" / f"python{PYVER}" / meta["Name"]}.get(part.name)
            if target is None:
                continue
            for src in sorted(part.rglob("*")):
                if src.is_file():
                    dst = target / src.relative_to(part)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(src, dst)
                    if part.name == "scripts":
                        dst.chmod(0o755)
        shutil.rmtree(data)
    dist_info = site / info
    (dist_info / "INSTALLER").write_text("conda\n")
    with open(dist_info / "RECORD", "a") as fh:
        fh.write(f"{info}/INSTALLER,,\n")
    entry_points = dist_info / "entry_points.txt"
    if entry_points.is_file():
        import configparser

        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(entry_points.read_text())
        if parser.has_section("console_scripts"):
            for script, target in parser["console_scripts"].items():
                module, _, attr = target.partition(":")
                attr = attr.split("[")[0].strip()
                path = stage / "bin" / script
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(_LAUNCHER.format(module=module.strip(), attr=attr.split(".")[0],
                                                 call=attr))
                path.chmod(0o755)
    name = conda_name(meta["Name"])
    depends = ["python"]
    for req_name, specifier in mandatory_requirements(meta):
        dep = conda_name(req_name)
        if dep in available and dep not in (d.split()[0] for d in depends):
            depends.append(_conda_spec(dep, specifier))
    out = assemble_package(
        name=name, version=meta["Version"], target_platform=SUBDIR,
        build_string=f"py{PYVER.replace('.', '')}_0", output_dir=output_dir, files_dir=stage,
        depends=depends, compression_level=1, detect_prefix=False,
    )
    shutil.rmtree(stage)
    return WheelPackage(name, meta["Name"], meta["Version"], depends, Path(out.path))


def python_package(output_dir: Path, stage_root: Path) -> Path:
    """``python``: ``bin/python`` -> the test's own interpreter, plus a ``pyvenv.cfg`` that makes
    the prefix that interpreter's environment (its own site-packages, no system ones)."""
    from rattler_build import assemble_package

    base = Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    stage = stage_root / "python"
    if stage.exists():
        shutil.rmtree(stage)
    (stage / "bin").mkdir(parents=True)
    (stage / "bin" / "python").symlink_to(base)
    for alias in ("python3", f"python{PYVER}"):
        (stage / "bin" / alias).symlink_to("python")
    (stage / "pyvenv.cfg").write_text(
        f"home = {base.parent}\ninclude-system-site-packages = false\nversion = {platform.python_version()}\n"
    )
    out = assemble_package(
        name="python", version=platform.python_version(), target_platform=SUBDIR, build_string="0",
        output_dir=output_dir, files_dir=stage, compression_level=1, detect_prefix=False,
    )
    shutil.rmtree(stage)
    return Path(out.path)
