"""Every README console block marked for it runs, and prints what the README shows.

A block is checked when the line before its opening fence is ``<!-- readme-test: NAME -->``
(``<!-- readme-test: NAME, needs conda -->`` for one that only conda can run). Its ``$ ...``
lines run in order in one bash shell, against the installations ``python bench/demo.py FOLDER``
builds (built once per test session), with ``conda`` meaning ``python -m conda`` where conda is
importable and the ``conda-prune`` script elsewhere (its "conda-prune prune" read as "conda
prune"). Output is compared line by line after the
build folder is written as the README's ``/tmp/prune-demo`` (the build folder has as many
characters, so lines wrap as in the README); a line ``...`` stands for any number of lines.
Regenerate a block by running its commands with ``COLUMNS=80`` and pasting what they print.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import HAVE_CONDA

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DEMO_ROOT = "/tmp/prune-demo"  # the folder the README's examples name
MARKER = re.compile(r"<!--\s*readme-test:\s*([\w-]+)\s*(,\s*needs conda\s*)?-->")


@dataclass
class Block:
    name: str
    needs_conda: bool
    line: int  # of the opening fence, 1-based
    steps: list[tuple[str, list[str]]]  # (command, expected output lines)


def readme_blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks = []
    for n, line in enumerate(lines):
        match = MARKER.fullmatch(line.strip())
        if not match:
            continue
        fence = n + 1
        assert lines[fence].strip() == "```console", f"README.md:{fence + 1}: a marked block must be ```console"
        end = next(i for i in range(fence + 1, len(lines)) if lines[i].strip() == "```")
        steps: list[tuple[str, list[str]]] = []
        for body in lines[fence + 1:end]:
            if body.startswith("$ "):
                steps.append((body[2:], []))
            else:
                assert steps, f"README.md:{fence + 2}: a checked block starts with a $ command"
                steps[-1][1].append(body)
        blocks.append(Block(match.group(1), bool(match.group(2)), fence + 1, steps))
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def lines_match(expected: list[str], actual: list[str]) -> bool:
    """``expected`` equals ``actual``, where a line ``...`` in ``expected`` matches any run of lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(lines_match(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and lines_match(expected[1:], actual[1:])


def trimmed(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


# -- the demo installations, built once ----------------------------------------------------------


@dataclass
class Demo:
    root: Path  # as long as DEMO_ROOT, so output wraps at the same places
    shim: Path  # python and conda, first on PATH
    home: Path  # an empty home: a newcomer without conda configuration of their own
    build_output: str

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "MAMBA", "_CE_", "_CONDA"))}
        env.update(
            PATH=f"{self.shim}{os.pathsep}{env.get('PATH', '')}",
            HOME=str(self.home),
            COLUMNS="80",
            PYTHONUNBUFFERED="1",
            PYTHONIOENCODING="utf-8",
        )
        for key in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
            env.pop(key, None)
        # this checkout's conda_prune, not whichever one is installed (an editable install of another
        # checkout would make the README pass or fail on code other than this)
        env["PYTHONPATH"] = str(ROOT)
        return env

    def normalised(self, text: str) -> str:
        text = text.replace(str(self.root), DEMO_ROOT)
        if not HAVE_CONDA:  # the script names itself where conda would say "conda prune"
            text = text.replace("conda-prune prune", "conda prune").replace("conda-prune why-used", "conda why-used")
        return text


def _shim(folder: Path) -> None:
    folder.mkdir()
    python = shlex.quote(sys.executable)
    conda = f"{python} -m conda" if HAVE_CONDA else f"{python} -m conda_prune"
    for name, command in (("python", python), ("conda", conda)):
        (folder / name).write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        (folder / name).chmod(0o755)


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Demo:
    pytest.importorskip("rattler_build", reason="the README installations need py-rattler-build")
    pytest.importorskip("rattler", reason="the README installations need py-rattler")
    if not Path("/tmp").is_dir() or not os.access("/tmp", os.W_OK):
        pytest.skip("the README installations are built under /tmp, which is not writable here")
    # "/tmp/" + "pd" + 8 random characters: as long as "/tmp/prune-demo"
    root = Path(tempfile.mkdtemp(prefix="pd", dir="/tmp"))
    assert len(str(root)) == len(DEMO_ROOT)
    root.rmdir()  # bench/demo.py refuses a folder it did not build
    work = tmp_path_factory.mktemp("readme")
    demo = Demo(root, work / "bin", work / "home", "")
    _shim(demo.shim)
    demo.home.mkdir()
    proc = subprocess.run(
        [sys.executable, "bench/demo.py", str(root)], cwd=ROOT, env=demo.environ(),
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    demo.build_output = proc.stdout
    yield demo
    import shutil

    shutil.rmtree(root, ignore_errors=True)


def run_block(demo: Demo, block: Block) -> list[list[str]]:
    """Run the block's commands in one bash shell, from the checkout; each command's output
    (stdout and stderr, in order), normalised."""
    script = ["exec 2>&1", f"cd {shlex.quote(str(ROOT))}"]
    for n, (command, _) in enumerate(block.steps):
        script.append(f"printf '\\n@@readme-test-step {n}@@\\n'")
        script.append(command.replace(DEMO_ROOT, str(demo.root)))
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", "\n".join(script)], env=demo.environ(),
        capture_output=True, text=True, timeout=600,
    )
    parts = re.split(r"\n@@readme-test-step \d+@@\n", demo.normalised(proc.stdout))
    return [trimmed(part.splitlines()) for part in parts[1:]]


def test_the_readme_has_checked_blocks_for_every_installation() -> None:
    names = {block.name for block in BLOCKS}
    assert {"build", "cache", "doctor", "weather", "ml", "lockfile"} <= names


def test_every_console_block_of_the_readme_is_checked() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    unchecked = [n + 1 for n, line in enumerate(lines)
                 if line.strip() == "```console" and not (n and MARKER.fullmatch(lines[n - 1].strip()))]
    assert not unchecked, f"README.md lines {unchecked}: mark each with <!-- readme-test: NAME -->"


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.name}-line{b.line}" for b in BLOCKS])
def test_readme_block_prints_what_the_readme_shows(demo: Demo, block: Block) -> None:
    if block.needs_conda and not HAVE_CONDA:
        pytest.skip(f"README.md:{block.line} needs conda: not importable in this interpreter")
    if block.name == "build":  # the fixture ran it; its output is compared, not run again
        ((command, expected),) = block.steps
        assert command == f"python bench/demo.py {DEMO_ROOT}"
        outputs = [trimmed(demo.normalised(demo.build_output).splitlines())]
    else:
        outputs = run_block(demo, block)
    assert len(outputs) == len(block.steps)
    for (command, expected), actual in zip(block.steps, outputs, strict=True):
        assert lines_match(trimmed(expected), actual), (
            f"README.md:{block.line}: `$ {command}` printed:\n" + "\n".join(actual)
        )


# -- the checker itself --------------------------------------------------------------------------


def test_an_ellipsis_line_matches_any_run_of_lines() -> None:
    assert lines_match(["a", "...", "d"], ["a", "b", "c", "d"])
    assert lines_match(["a", "...", "d"], ["a", "d"])
    assert lines_match(["...", "z"], ["x", "y", "z"])
    assert not lines_match(["a", "...", "d"], ["a", "b", "c"])
    assert not lines_match(["a", "b"], ["a", "b", "c"])


def test_blocks_are_read_with_their_commands_and_outputs() -> None:
    text = "x\n<!-- readme-test: ml, needs conda -->\n```console\n$ one\nout 1\n\n$ two\n```\n"
    (block,) = readme_blocks(text)
    assert (block.name, block.needs_conda, block.line) == ("ml", True, 3)
    assert block.steps == [("one", ["out 1", ""]), ("two", [])]


# -- bench/demo.py itself --------------------------------------------------------------------------


def test_demo_without_the_test_extras_says_what_it_needs_in_one_line(tmp_path: Path) -> None:
    # -S: no site-packages, so neither py-rattler nor py-rattler-build can be imported
    proc = subprocess.run([sys.executable, "-S", "bench/demo.py", str(tmp_path / "d")], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert "needs Python 3.10 or newer with py-rattler and py-rattler-build" in line
    assert "pip install -e '.[test]'" in line
    assert not (tmp_path / "d").exists()


def test_demo_refuses_a_folder_it_did_not_build(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("keep")
    proc = subprocess.run([sys.executable, "bench/demo.py", str(tmp_path / "mine")], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "was not built by bench/demo.py" in proc.stderr
    assert (tmp_path / "mine" / "precious.txt").read_text() == "keep"


def test_demo_activation_sets_its_own_condarc_and_never_home(demo: Demo) -> None:
    assert "export HOME" not in demo.build_output and "HOME=" not in demo.build_output
    for name in ("cache", "weather", "ml", "lockfile"):
        activate = (demo.root / name / "activate").read_text()
        exports = [line for line in activate.splitlines() if line.startswith("export ")]
        assert [line.split("=")[0] for line in exports] == ["export CONDARC", "export CONDA_PRUNE_CACHE_DIR"]
        condarc = (demo.root / name / "condarc").read_text()
        assert "register_envs: false" in condarc and f"root_prefix: {demo.root / name / 'base'}" in condarc
    # conda registers an environment it changed (the weather example) unless told not to
    txt = demo.home / ".conda" / "environments.txt"
    assert not txt.exists() or str(demo.root) not in txt.read_text()


def test_demo_documents_no_flag_it_does_not_have() -> None:
    doc = (ROOT / "bench" / "demo.py").read_text().split('"""')[1]
    assert "--env" not in doc and "export HOME" not in doc
