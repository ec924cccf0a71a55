"""Native libraries as evidence: what the ELF files of needed packages load (DT_NEEDED, RPATH,
RUNPATH), on real shared libraries compiled here and shipped in real conda packages."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from builder import SITE, Installation
from conftest import in_time
from conda_prune.appscan import scan_app
from conda_prune.env_prune import NEEDED, UNUSED, plan_env_prune
from conda_prune.env_prune.native import NativeLibraries, read_elf_links
from conda_prune.graph import DependencyGraph
from conda_prune.records import read_environment

CC = shutil.which("cc") or shutil.which("gcc")
needs_cc = pytest.mark.skipif(CC is None, reason="needs a C compiler (cc) to build shared libraries")


def compile_library(out: Path, source: str, *args: str) -> bytes:
    """A real shared library from C ``source``; ``args`` go to the linker (-l, -rpath...)."""
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run([CC, "-shared", "-fPIC", "-o", str(out), str(src), *args], check=True, capture_output=True)
    return out.read_bytes()


@pytest.fixture(scope="module")
def libs(tmp_path_factory) -> dict[str, bytes]:
    """libpq.so.5; an extension module needing it; libbar.so.1; libfoo.so.1 needing libbar
    through DT_RUNPATH $ORIGIN/bar, and the same through DT_RPATH."""
    d = tmp_path_factory.mktemp("cc")
    out = {
        "libpq": compile_library(d / "libpq.so.5", "int pq_version(void) { return 5; }\n", "-Wl,-soname,libpq.so.5"),
        "libbar": compile_library(d / "libbar.so.1", "int bar(void) { return 1; }\n", "-Wl,-soname,libbar.so.1"),
    }
    out["psycopg"] = compile_library(
        d / "_psycopg.so", "int pq_version(void);\nint init(void) { return pq_version(); }\n",
        f"-L{d}", "-l:libpq.so.5",
    )
    foo = "int bar(void);\nint foo(void) { return bar(); }\n"
    out["foo_runpath"] = compile_library(d / "libfoo_r.so.1", foo, f"-L{d}", "-l:libbar.so.1",
                                         "-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN/bar")
    out["foo_rpath"] = compile_library(d / "libfoo_p.so.1", foo, f"-L{d}", "-l:libbar.so.1",
                                       "-Wl,--disable-new-dtags", "-Wl,-rpath,$ORIGIN/bar")
    return out


def plan_with_native(inst: Installation, prefix: Path, app_files: dict[str, str], tmp_path: Path):
    app = tmp_path / "app"
    for rel, text in app_files.items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(text)
    env = read_environment(prefix)
    graph = DependencyGraph.build(env)
    native = NativeLibraries(env, graph)
    plan = plan_env_prune(env, scan_app([app], cache_dir=None), graph=graph, expanders=[native])
    return plan, native


@needs_cc
def test_the_reader_finds_needed_libraries_and_search_paths(libs, tmp_path) -> None:
    (tmp_path / "a.so").write_bytes(libs["foo_runpath"])
    (tmp_path / "b.so").write_bytes(libs["foo_rpath"])
    runpath, rpath = read_elf_links(tmp_path / "a.so"), read_elf_links(tmp_path / "b.so")
    assert "libbar.so.1" in runpath.needed and runpath.runpath == ("$ORIGIN/bar",) and not runpath.rpath
    assert "libbar.so.1" in rpath.needed and rpath.rpath == ("$ORIGIN/bar",) and not rpath.runpath


@needs_cc
def test_a_library_only_a_pip_extension_module_loads_is_needed(inst: Installation, libs, tmp_path) -> None:
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    inst.package("libpq", "16.4", "h0", files={"lib/libpq.so.5": libs["libpq"], "include/libpq-fe.h": "/* */\n"})
    prefix = inst.create_env("e", ["python", "libpq"])
    inst.pip_install(prefix, "psycopg2", "2.9.9", ["psycopg2"],
                     files={"psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so": libs["psycopg"]})
    plan, native = plan_with_native(inst, prefix, {"a.py": "import psycopg2\n"}, tmp_path)
    libpq = plan.verdict("libpq")
    assert libpq.status == NEEDED and not libpq.removable
    assert libpq.reason == "libpq.so.5 <- psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so"
    assert not native.problems
    # without the expander (as before): conda's libpq was called unused, and conda would remove it
    env = read_environment(prefix)
    before = plan_env_prune(env, scan_app([tmp_path / "app"], cache_dir=None))
    assert before.verdict("libpq").removable


@needs_cc
@pytest.mark.parametrize("variant", ["foo_runpath", "foo_rpath"])
def test_origin_search_paths_come_before_lib(inst: Installation, libs, tmp_path, variant) -> None:
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    inst.package("barlib", "1.0", "h0", files={"lib/bar/libbar.so.1": libs["libbar"]})
    inst.package("decoy", "1.0", "h0", files={"lib/libbar.so.1": libs["libbar"]})  # found only without $ORIGIN
    inst.package("foo", "1.0", "h0", files={"lib/libfoo.so.1": libs[variant]})
    prefix = inst.create_env("e", ["python", "barlib", "decoy", "foo"])
    plan, _ = plan_with_native(inst, prefix, {"a.py": "import ctypes\nctypes.CDLL('libfoo.so.1')\n"}, tmp_path)
    assert plan.verdict("foo").status == "used"
    assert plan.verdict("barlib").status == NEEDED and plan.verdict("barlib").reason == "libbar.so.1 <- lib/libfoo.so.1"
    assert plan.verdict("decoy").status == UNUSED


@needs_cc
def test_what_a_needed_library_loads_is_needed_in_turn(inst: Installation, libs, tmp_path) -> None:
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    inst.package("barlib", "1.0", "h0", files={"lib/bar/libbar.so.1": libs["libbar"]})
    inst.package("foo", "1.0", "h0", files={"lib/libfoo.so.1": libs["foo_runpath"]})
    inst.package("libpq", "16.4", "h0", files={"lib/libpq.so.5": libs["libpq"]})
    prefix = inst.create_env("e", ["python", "barlib", "foo", "libpq"])
    inst.pip_install(prefix, "psycopg2", "2.9.9", ["psycopg2"], files={"psycopg2/_psycopg.so": libs["psycopg"]})
    plan, _ = plan_with_native(inst, prefix, {"a.py": "import psycopg2\n"}, tmp_path)
    assert plan.verdict("libpq").status == NEEDED
    assert plan.verdict("foo").status == UNUSED and plan.verdict("barlib").status == UNUSED


@needs_cc
def test_an_unreadable_elf_file_is_a_problem_and_what_it_may_load_stays(inst: Installation, libs, tmp_path) -> None:
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    inst.package("libpq", "16.4", "h0", files={"lib/libpq.so.5": libs["libpq"]})
    inst.package("broken", "1.0", "h0", files={"lib/libbroken.so.1": b"\x7fELF\x02\x01\x01" + b"\xff" * 40})
    prefix = inst.create_env("e", ["python", "libpq", "broken"])
    plan, native = plan_with_native(inst, prefix, {"a.py": "import ctypes\nctypes.CDLL('libbroken.so.1')\n"}, tmp_path)
    assert len(native.problems) == 1
    assert str(prefix / "lib/libbroken.so.1") in native.problems[0] and "reinstall broken" in native.problems[0]
    libpq = plan.verdict("libpq")
    assert libpq.status == NEEDED and not libpq.removable
    assert "lib/libbroken.so.1 may load it" in libpq.reason


@needs_cc
def test_results_are_cached_per_file_until_it_changes(inst: Installation, libs, tmp_path) -> None:
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    inst.package("libpq", "16.4", "h0", files={"lib/libpq.so.5": libs["libpq"]})
    prefix = inst.create_env("e", ["python", "libpq"])
    ext = "psycopg2/_psycopg.so"
    inst.pip_install(prefix, "psycopg2", "2.9.9", ["psycopg2"], files={ext: libs["psycopg"]})
    env = read_environment(prefix)
    graph = DependencyGraph.build(env)
    every = frozenset(graph.nodes)
    first = NativeLibraries(env, graph, cache_dir=tmp_path / "cache")
    assert "conda:libpq" in first(every - {"conda:libpq"}).needed and first.files_read >= 2
    second = NativeLibraries(env, graph, cache_dir=tmp_path / "cache")
    assert "conda:libpq" in second(every - {"conda:libpq"}).needed
    assert second.files_read == 0 and second.files_cached == first.files_read
    (prefix / SITE / ext).write_bytes(libs["libbar"])  # now it needs nothing of libpq
    third = NativeLibraries(env, graph, cache_dir=tmp_path / "cache")
    assert "conda:libpq" not in third(every - {"conda:libpq"}).needed and third.files_read == 1


@needs_cc
def test_the_command_counts_native_libraries_and_warns_of_unreadable_elf_files(inst: Installation, libs, tmp_path,
                                                                            monkeypatch, capsys) -> None:
    import json
    import os

    from conda_prune.cli.standalone import main

    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    inst.package("libpq", "16.4", "h0", files={"lib/libpq.so.5": libs["libpq"]})
    inst.package("broken", "1.0", "h0", files={"bin/tool": b"\x7fELF" + b"\x00" * 60})
    prefix = inst.create_env("e", ["python", "libpq", "broken"])
    inst.pip_install(prefix, "psycopg2", "2.9.9", ["psycopg2"], files={"psycopg2/_psycopg.so": libs["psycopg"]})
    app = tmp_path / "app"
    app.mkdir()
    (app / "a.py").write_text("import psycopg2\n")
    (app / "Makefile").write_text("run:\n\ttool --help\n")
    for key in [k for k in os.environ if k.startswith(("CONDA", "MAMBA"))]:
        monkeypatch.delenv(key)
    for key, value in inst.environ(CONDA_PRUNE_CACHE_DIR=str(tmp_path / "cache")).items():
        monkeypatch.setenv(key, value)
    code = main(["prune", "-p", str(prefix), "--app", str(app), "--dry-run", "--json"])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    verdicts = {v["name"]: v for v in doc["packages"]} if "packages" in doc else None
    assert code == 0, err
    assert verdicts is not None, sorted(doc)
    assert verdicts["libpq"]["status"] == "needed"
    assert verdicts["libpq"]["reason"] == "libpq.so.5 <- psycopg2/_psycopg.so"
    assert verdicts["broken"]["status"] == "used"
    problem = f"{prefix}/bin/tool: looks like a program or library (ELF or Mach-O) but cannot be read"
    assert problem in err and any(p.startswith(problem) for p in doc["problems"])
    assert (tmp_path / "cache" / "native").is_dir()


def test_without_pyelftools_it_says_so_once_and_keeps_every_library(inst: Installation, tmp_path, monkeypatch) -> None:
    import sys

    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    inst.package("libpq", "16.4", "h0", files={"lib/libpq.so.5": b"\x7fELF"})
    prefix = inst.create_env("e", ["python", "libpq"])
    monkeypatch.setitem(sys.modules, "elftools.elf.elffile", None)  # as if not installed
    plan, native = plan_with_native(inst, prefix, {"a.py": "import os\n"}, tmp_path)
    assert len(native.problems) == 1 and "pyelftools is not installed" in native.problems[0]
    assert plan.verdict("libpq").status == NEEDED


@needs_cc
def test_a_library_an_unused_pip_package_loads_stays_with_it(inst: Installation, libs, tmp_path) -> None:
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    inst.package("libpq", "16.4", "h0", files={"lib/libpq.so.5": libs["libpq"]})
    prefix = inst.create_env("e", ["python", "libpq"])
    inst.pip_install(prefix, "psycopg2", "2.9.9", ["psycopg2"], files={"psycopg2/_psycopg.so": libs["psycopg"]})
    plan, _ = plan_with_native(inst, prefix, {"a.py": "import os\n"}, tmp_path)  # psycopg2 unused, but pip's
    assert plan.verdict("psycopg2").status == UNUSED and not plan.verdict("psycopg2").removable
    libpq = plan.verdict("libpq")
    assert libpq.status == NEEDED and libpq.reason == "libpq.so.5 <- psycopg2/_psycopg.so"


def macho_dylib(install_names: list[str], rpaths: list[str]) -> bytes:
    """A 64-bit Mach-O dylib header with the given LC_LOAD_DYLIB and LC_RPATH commands, built
    from macholib's own structures (no Mach-O linker runs here)."""
    mach_o = pytest.importorskip("macholib.mach_o")

    def padded(text: str) -> bytes:
        raw = text.encode() + b"\0"
        return raw + b"\0" * (-len(raw) % 8)

    commands = b""
    for name in install_names:
        body = mach_o.dylib_command(name=8 + 16, timestamp=2, current_version=0x10000,
                                    compatibility_version=0x10000).to_str() + padded(name)
        commands += mach_o.load_command(cmd=mach_o.LC_LOAD_DYLIB, cmdsize=8 + len(body)).to_str() + body
    for path in rpaths:
        body = mach_o.rpath_command(path=8 + 4).to_str() + padded(path)
        commands += mach_o.load_command(cmd=mach_o.LC_RPATH, cmdsize=8 + len(body)).to_str() + body
    header = mach_o.mach_header_64(magic=mach_o.MH_MAGIC_64, cputype=0x0100000C, cpusubtype=0,
                                   filetype=mach_o.MH_DYLIB, ncmds=len(install_names) + len(rpaths),
                                   sizeofcmds=len(commands), flags=0, reserved=0)
    return header.to_str() + commands


def test_mach_o_install_names_resolve_through_rpath_and_loader_path(inst: Installation, tmp_path) -> None:
    ext = macho_dylib(["@rpath/libpq.5.dylib", "@loader_path/../../../libz.1.dylib", "/usr/lib/libSystem.B.dylib"],
                      ["@loader_path/../../../pq"])
    (tmp_path / "ext.so").write_bytes(ext)
    links = read_elf_links(tmp_path / "ext.so")
    assert links.needed[:2] == ("@rpath/libpq.5.dylib", "@loader_path/../../../libz.1.dylib")
    assert links.rpath == ("@loader_path/../../../pq",)
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    inst.package("libpq", "16.4", "h0", files={"lib/pq/libpq.5.dylib": macho_dylib([], [])})
    inst.package("libpq-decoy", "16.4", "h0", files={"lib/libpq.5.dylib": macho_dylib([], [])})
    inst.package("zlib", "1.3.1", "h0", files={"lib/libz.1.dylib": macho_dylib([], [])})
    prefix = inst.create_env("e", ["python", "libpq", "libpq-decoy", "zlib"])
    inst.pip_install(prefix, "psycopg2", "2.9.9", ["psycopg2"], files={"psycopg2/_psycopg.so": ext})
    plan, native = plan_with_native(inst, prefix, {"a.py": "import psycopg2\n"}, tmp_path)
    assert not native.problems
    assert plan.verdict("libpq").reason == "@rpath/libpq.5.dylib <- psycopg2/_psycopg.so"
    assert plan.verdict("zlib").status == NEEDED
    assert plan.verdict("libpq-decoy").status == UNUSED


@pytest.mark.parametrize("swapped_for", ["another", "fifo"])
def test_a_mach_o_file_is_read_from_the_checked_descriptor_not_opened_again(tmp_path, monkeypatch,
                                                                           swapped_for: str) -> None:
    """The path is swapped right after the checked open: what is read is still what was checked."""
    from conda_prune.env_prune import native as native_module

    path = tmp_path / "ext.so"
    path.write_bytes(macho_dylib(["@rpath/libchecked.dylib"], []))
    other = tmp_path / "other.so"
    other.write_bytes(macho_dylib(["@rpath/libswapped.dylib"], []))
    checked_open = native_module.open_regular

    def open_then_swap(target, **kwargs):
        fd = checked_open(target, **kwargs)
        if swapped_for == "fifo":
            os.unlink(target)
            os.mkfifo(target)
        else:
            os.replace(other, target)
        return fd

    monkeypatch.setattr(native_module, "open_regular", open_then_swap)
    links = in_time(lambda: read_elf_links(path))
    assert links.needed == ("@rpath/libchecked.dylib",)


def test_a_native_cache_file_that_is_a_fifo_is_no_cache_not_a_hang(inst: Installation, tmp_path) -> None:
    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    inst.package("libpq", "16.4", "h0", files={"lib/libpq.5.dylib": macho_dylib([], [])})
    prefix = inst.create_env("e", ["python", "libpq"])
    inst.pip_install(prefix, "psycopg2", "2.9.9", ["psycopg2"],
                     files={"psycopg2/_psycopg.so": macho_dylib(["@rpath/libpq.5.dylib"], ["@loader_path/../../.."])})
    env = read_environment(prefix)
    graph = DependencyGraph.build(env)
    every = frozenset(graph.nodes) - {"conda:libpq"}
    NativeLibraries(env, graph, cache_dir=tmp_path / "cache")(every)
    (cache_path,) = (tmp_path / "cache" / "native").glob("*.json")
    cache_path.unlink()
    os.mkfifo(cache_path)
    again = in_time(lambda: NativeLibraries(env, graph, cache_dir=tmp_path / "cache"))
    assert "conda:libpq" in again(every).needed and again.files_cached == 0


@needs_cc
def test_a_library_of_a_needed_package_that_cannot_be_opened_is_a_problem(inst: Installation, libs, tmp_path,
                                                                           monkeypatch) -> None:
    import errno

    from conda_prune.env_prune import native as native_module

    inst.package("python", "3.11.9", "h0", files={"lib/python3.11/os.py": ""}, executables=["python"])
    inst.package("libpq", "16.4", "h0", files={"lib/libpq.so.5": libs["libpq"]})
    inst.package("foo", "1.0", "h0", files={"lib/libfoo.so.1": libs["foo_runpath"]})
    prefix = inst.create_env("e", ["python", "libpq", "foo"])
    real_open = native_module.open_regular

    def refusing(path, **kwargs):  # as a file of another user, mode 0600, is for anyone but root
        if str(path).endswith("libfoo.so.1"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, **kwargs)

    monkeypatch.setattr(native_module, "open_regular", refusing)
    plan, native = plan_with_native(inst, prefix, {"a.py": "import ctypes\nctypes.CDLL('libfoo.so.1')\n"}, tmp_path)
    assert any("libfoo.so.1" in p and "cannot be opened: Permission denied" in p for p in native.problems)
    assert plan.verdict("libpq").status == NEEDED
