"""``conda prune --app APP --trace COMMAND``: a real environment whose Python runs (``bin/python``
is this interpreter, made the environment's own by a ``pyvenv.cfg``), real packages with real
code, and commands that load them the ways a program does: in a child process, in a forked
worker that leaves through ``os._exit``, across ``exec``, through a program of ``bin/``, through
the environment's own ``sitecustomize``, through ``ctypes``. The application's files never name
those packages, so only the trace can find them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
from accuracy.wheels import SITE, python_package
from builder import SUBDIR, Installation
from conftest import HAVE_CONDA, needs_conda

#: a real removal needs conda; without it, the dry run (which refuses the same way) stands in
REAL_RUN = "--yes" if HAVE_CONDA else "--dry-run"
# Debian's python3 keeps a sitecustomize of its own in its standard library, which is found
# before the environment's (in site-packages): under it the environment's never runs, traced
# or not, so what these tests say of the environment's own sitecustomize cannot be shown
_STDLIB = {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
_SHADOWED = any((Path(d) / "sitecustomize.py").exists() for d in _STDLIB)
needs_env_sitecustomize = pytest.mark.skipif(
    _SHADOWED, reason="this interpreter's standard library has its own sitecustomize (Debian's python3)")

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="--trace tests build a linux-64 environment whose bin/python is this interpreter",
)

#: the test driver: outside the application, so only the trace sees what it loads
RUN = '''\
import builtins, ctypes, os, subprocess, sys
print("env sitecustomize ran:", getattr(builtins, "ENV_SITECUSTOMIZE_RAN", False))
subprocess.run([sys.executable, "-c", "import runtimeonly"], check=True)
pid = os.fork()
if pid == 0:
    import forkonly
    os._exit(0)
os.waitpid(pid, 0)
subprocess.run(["sometool"], check=True, stdout=subprocess.DEVNULL)
ctypes.CDLL(os.path.join(os.environ["CONDA_PREFIX"], "lib", "libtracelib.so.1"))
code = "import os, sys, execbefore; os.execv(sys.executable, [sys.executable, '-c', 'import execafter'])"
subprocess.run([sys.executable, "-c", code], check=True)
'''
FAIL = "import failingdep\nraise SystemExit(3)\n"
PACKAGES = ("usedstatic", "runtimeonly", "forkonly", "execbefore", "execafter", "customdep", "failingdep",
            "neverused")


def _library() -> Path:
    """A real shared library of this system that Python has not loaded already."""
    for name in ("libbz2.so.1.0", "liblzma.so.5", "libz.so.1"):
        for folder in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/usr/lib"):
            if os.path.isfile(os.path.join(folder, name)):
                return Path(folder, name)
    pytest.skip("no shared library (libbz2, liblzma, libz) on this system to load")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("trace")
    inst = Installation(root / "inst")
    python_package(inst.channel / SUBDIR, root / "stage")
    for name in PACKAGES:
        inst.package(name, depends=["python"], files={f"{SITE}/{name}/__init__.py": f"VALUE = {name!r}\n"})
    inst.package("envcustom", depends=["python", "customdep"], files={
        f"{SITE}/sitecustomize.py": "import builtins, customdep\nbuiltins.ENV_SITECUSTOMIZE_RAN = True\n"})
    inst.package("toolpkg", depends=["python"], executables=["sometool"])
    inst.package("libpkg", files={"lib/libtracelib.so.1": _library().read_bytes()})
    prefix = inst.create_env("traced", ["python", *PACKAGES, "envcustom", "toolpkg", "libpkg"])
    inst.add_conda_cache_files()
    app = root / "app"
    app.mkdir()
    (app / "main.py").write_text("import usedstatic\n")
    driver = root / "driver"
    driver.mkdir()
    (driver / "run.py").write_text(RUN)
    (driver / "fail.py").write_text(FAIL)
    return {"inst": inst, "prefix": prefix, "app": app, "root": root}


def prune(world: dict, *args: str, tmp: Path | None = None, **popen) -> subprocess.Popen:
    env = world["inst"].environ(CONDA_PRUNE_CACHE_DIR=str(world["root"] / "scan-cache"), COLUMNS="200",
                                PYTHONDONTWRITEBYTECODE="1")  # the traced program's own bytecode, not ours
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    return subprocess.Popen([sys.executable, "-m", "conda_prune", "prune", "-p", str(world["prefix"]),
                             "--app", str(world["app"]), *args], env=env, cwd=world["root"], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def run(world: dict, *args: str, tmp: Path | None = None) -> tuple[int, str, str]:
    proc = prune(world, *args, tmp=tmp)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def snapshot(prefix: Path) -> dict[str, tuple]:
    return {str(p.relative_to(prefix)): (p.lstat().st_size, p.lstat().st_mtime_ns, p.lstat().st_ino)
            for p in sorted(prefix.rglob("*"))}


@pytest.fixture(scope="module")
def traced(world: dict, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("tmpdir")
    before = snapshot(world["prefix"])
    code, out, err = run(world, "--trace", "python driver/run.py", "--dry-run", "--json", tmp=tmp)
    return {"code": code, "doc": json.loads(out), "err": err, "before": before,
            "after": snapshot(world["prefix"]), "tmp": tmp}


def verdict(doc: dict, name: str) -> dict:
    return next(p for p in doc["packages"] if p["name"] == name)


def trace_evidence(doc: dict, name: str) -> list[dict]:
    return [e for e in verdict(doc, name)["evidence"] if e["kind"] == "trace"]


@pytest.mark.parametrize(("package", "location"), [
    ("runtimeonly", "runtimeonly/__init__.py"),  # a child process of the command
    ("forkonly", "forkonly/__init__.py"),  # a forked worker that leaves through os._exit
    ("execbefore", "execbefore/__init__.py"),  # recorded before exec
    ("execafter", "execafter/__init__.py"),  # the program exec started
    # the environment's own sitecustomize imports it
    pytest.param("customdep", "customdep/__init__.py", marks=needs_env_sitecustomize),
    ("toolpkg", "bin/sometool"),  # a program of bin/ the command runs
    ("libpkg", "lib/libtracelib.so.1"),  # a shared library mapped into the process
])
def test_a_package_only_the_traced_run_loads_is_used_with_trace_evidence(traced, package, location) -> None:
    assert traced["code"] == 0, traced["err"]
    v = verdict(traced["doc"], package)
    assert v["status"] == "used", v
    assert trace_evidence(traced["doc"], package) == [
        {"kind": "trace", "detail": "loaded by `python driver/run.py` (trace)", "location": location}
    ]


def test_without_the_trace_those_packages_are_unused(world) -> None:
    code, out, err = run(world, "--dry-run", "--json")
    assert code == 0, err
    unused = set(json.loads(out)["unused"])
    assert {"runtimeonly", "forkonly", "execbefore", "execafter", "toolpkg", "libpkg", "neverused"} <= unused
    assert "usedstatic" not in unused


@needs_env_sitecustomize
def test_what_neither_the_app_nor_the_run_loads_stays_unused_and_static_evidence_stays(traced) -> None:
    doc = traced["doc"]
    assert doc["unused"] == ["failingdep", "neverused"]
    assert verdict(doc, "usedstatic")["evidence"][0]["location"].endswith("main.py:1")
    assert not doc["doubts"]


@needs_env_sitecustomize
def test_the_environments_own_sitecustomize_still_runs(traced) -> None:
    assert "env sitecustomize ran: True" in traced["err"]  # under --json the command's stdout goes to stderr


@needs_env_sitecustomize
def test_json_lists_each_trace_and_the_command_output_stays_off_stdout(traced) -> None:
    (run_,) = traced["doc"]["traces"]
    assert run_["command"] == "python driver/run.py" and run_["exit_code"] == 0
    # run.py, the child, the forked worker, the process before exec and the one after it
    assert run_["processes"] == 5 and run_["processes_without_record"] == 0
    assert {"runtimeonly", "forkonly", "execbefore", "execafter", "customdep", "toolpkg", "libpkg"} <= set(
        run_["packages"])
    assert run_["files_mapped"] >= 7
    assert "tracing: python driver/run.py" in traced["err"]


def test_nothing_is_written_into_the_environment_and_the_trace_folder_is_removed(traced) -> None:
    assert traced["after"] == traced["before"]
    assert not list(traced["tmp"].iterdir())


@needs_env_sitecustomize
def test_the_text_report_names_the_trace_and_the_command_output_passes_through(world) -> None:
    code, out, err = run(world, "--trace", "python driver/run.py", "--dry-run")
    assert code == 0, err
    assert "env sitecustomize ran: True" in out
    assert "Traced: `python driver/run.py` (exit 0, 5 Python processes," in out


def test_a_failing_command_is_reported_with_its_exit_code_and_its_evidence_still_counts(world) -> None:
    code, out, err = run(world, "--trace", "python driver/fail.py", "--dry-run", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["traces"][0]["exit_code"] == 3
    assert "warning: --trace 'python driver/fail.py' exited 3: what it loaded until then counts as evidence" in err
    assert trace_evidence(doc, "failingdep")[0]["location"] == "failingdep/__init__.py"
    assert "failingdep" not in doc["unused"]


def test_traces_add_up_over_several_commands(world) -> None:
    code, out, err = run(world, "--trace", "python driver/fail.py", "--trace", "python -c 'import neverused'",
                         "--dry-run", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [t["command"] for t in doc["traces"]] == ["python driver/fail.py", "python -c 'import neverused'"]
    assert "failingdep" not in doc["unused"] and "neverused" not in doc["unused"]


@pytest.mark.parametrize(("command", "says"), [
    # a record the trace cannot parse (here: the command itself overwrites one)
    ("python -c \"import os; open(os.environ['CONDA_PRUNE_TRACE_DIR'] + '/x.json', 'w').write('{')\"",
     "the trace record x.json is not valid JSON"),
    # one nested too deeply for the JSON parser
    ("python -c \"import os; open(os.environ['CONDA_PRUNE_TRACE_DIR'] + '/x.json', 'w').write('[' * 100000)\"",
     "the trace record x.json is not valid JSON (nested too deeply)"),
    # no Python process recorded anything
    ("true", "no Python process recorded what it loaded"),
    ("python -I -B -c 'import neverused'", "no Python process recorded what it loaded"),
])
def test_a_trace_that_cannot_be_read_refuses_removal(world, command, says) -> None:
    before = snapshot(world["prefix"])
    code, out, err = run(world, "--trace", command, REAL_RUN)
    assert code == 3, (out, err)
    refusal = [line for line in err.splitlines() if line.startswith("conda-prune: error: nothing was removed")]
    assert len(refusal) == 1 and says in refusal[0], err
    assert snapshot(world["prefix"]) == before
    code, out, err = run(world, "--trace", command, "--dry-run", "--json")
    assert code == 3 and any(says in d for d in json.loads(out)["doubts"])


def test_trace_needs_app_one_line_exit_2(world) -> None:
    env = world["inst"].environ()
    proc = subprocess.run([sys.executable, "-m", "conda_prune", "prune", "-p", str(world["prefix"]), "--trace",
                           "true"], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "conda-prune: error: --trace needs --app PATH: a traced run only shows what that run loaded, so the "
        "application's files are read too"
    ]


def test_ctrl_c_during_the_trace_stops_it_and_removes_nothing(world, tmp_path) -> None:
    before = snapshot(world["prefix"])
    marker = tmp_path / "started"
    command = f"python -c \"import pathlib, time; pathlib.Path('{marker}').touch(); time.sleep(120)\""
    # A shell's background job starts with SIGINT ignored, and a Python started so never turns
    # Ctrl-C into KeyboardInterrupt: give the command the default, as a terminal's foreground does.
    proc = prune(world, "--trace", command, REAL_RUN, tmp=tmp_path, start_new_session=True,
                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    if not marker.exists():
        proc.kill()
        pytest.fail(f"the traced command did not start: {proc.communicate()}")
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C does: the whole foreground group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err and "Removed" not in out
    assert snapshot(world["prefix"]) == before
    assert [p.name for p in tmp_path.iterdir()] == ["started"]


@needs_env_sitecustomize
def test_the_hook_changes_neither_exit_code_nor_output_of_a_traced_python(world, tmp_path) -> None:
    """The recorder runs inside the user's program: the program must behave as without it."""
    from conda_prune.trace import trace_environ

    python = str(world["prefix"] / "bin" / "python")
    # what the program finds imported (atexit aside: the recorder needs it), its sitecustomize, its exit code
    code = ("import builtins, sys; print(sorted(set(sys.modules) - {'atexit'}), builtins.ENV_SITECUSTOMIZE_RAN); "
            "sys.stderr.write('err'); sys.exit(7)")
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    plain = subprocess.run([python, "-c", code], capture_output=True, text=True, env=base)
    traced = subprocess.run([python, "-c", code], capture_output=True, text=True,
                            env=trace_environ(world["prefix"], tmp_path, base))
    assert (traced.returncode, traced.stdout, traced.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert traced.returncode == 7 and "'customdep'" in traced.stdout and "'json'" not in traced.stdout
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    assert record["complete"] is True and record["ended"] == "exit"


def test_a_killed_process_is_reported_and_the_others_still_count(world, tmp_path) -> None:
    from conda_prune.trace import TraceRun, read_records, trace_environ

    python = str(world["prefix"] / "bin" / "python")
    env = trace_environ(world["prefix"], tmp_path, {k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    odd = 'quote " backslash \\ tab \t é 😀 \udcff'  # the start-up record escapes by hand
    subprocess.run([python, "-c", "import os, signal, forkonly; os.kill(os.getpid(), signal.SIGKILL)",
                    odd.encode("utf-8", "surrogateescape")], env=env)
    subprocess.run([python, "-c", "import runtimeonly"], env=env, check=True)
    run_ = TraceRun("two", 0)
    read_records(tmp_path, run_)
    assert len(run_.records) == 2 and len(run_.incomplete) == 1 and not run_.doubts
    assert run_.incomplete[0].argv[-1] == odd
    assert "1 Python process(es) ended without recording what they loaded" in run_.warnings[0]


def test_a_deeply_nested_record_is_a_doubt_like_any_record_that_does_not_parse(tmp_path) -> None:
    from conda_prune.trace import TraceRun, read_records

    (tmp_path / "1.json").write_text("[" * 100_000 + "]" * 100_000)  # no record: what a hostile process may leave
    run_ = TraceRun("deep", 0)
    read_records(tmp_path, run_)
    assert run_.records == []
    assert run_.doubts == ["--trace 'deep': the trace record 1.json is not valid JSON (nested too deeply): "
                           "what that process loaded is unknown"]


def test_the_hook_is_shipped_as_package_data() -> None:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    from conda_prune.trace import HOOK

    assert (HOOK / "sitecustomize.py").is_file() and not (HOOK / "__init__.py").exists()
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert "hook/sitecustomize.py" in pyproject["tool"]["setuptools"]["package-data"]["conda_prune.trace"]
    assert shutil.which("sh") is not None


@needs_conda
def test_through_a_real_conda_trace_is_ours_not_condas_trace_logging(world) -> None:
    """conda gives every subcommand a hidden ``--trace`` (trace-level logging); ``conda prune``'s
    takes its place."""
    env = world["inst"].environ(CONDA_PRUNE_CACHE_DIR=str(world["root"] / "scan-cache"), PYTHONDONTWRITEBYTECODE="1")
    def conda(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "conda", "prune", "-p", str(world["prefix"]), "--app",
                               str(world["app"]), "--trace", "python driver/fail.py", "--dry-run", *args],
                              env=env, cwd=world["root"], capture_output=True, text=True)

    proc = conda("--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["traces"][0]["exit_code"] == 3 and "failingdep" not in doc["unused"]
    # conda logs one line at trace level before the subcommand runs; after that, its level is back
    assert [line for line in proc.stderr.splitlines() if "DEBUG" in line or "TRACE" in line] == [
        "DEBUG conda.gateways.logging:set_log_level(207): log_level set to 5"]
    text, verbose = conda(), conda("-v")
    assert "Traced: `python driver/fail.py` (exit 3" in text.stdout
    assert "failingdep" in verbose.stdout and "failingdep" not in text.stdout  # not -vvvv: no table of all


def _mapped(prefix: Path, **recorded) -> dict[str, list]:
    from conda_prune.records import read_environment
    from conda_prune.trace import ProcessRecord, TraceRun, trace_evidence

    run_ = TraceRun("cmd", 0, [ProcessRecord(pid=1, argv=(), complete=True, ended="exit", **recorded)])
    return {k: [e.location for e in v] for k, v in trace_evidence(read_environment(prefix), [run_]).evidence.items()}


def test_bytecode_maps_to_its_source_and_metadata_reads_do_not_count(world) -> None:
    site = world["prefix"] / SITE
    tag = sys.implementation.cache_tag
    assert _mapped(world["prefix"], modules=(
        str(site / "forkonly" / "__pycache__" / f"__init__.{tag}.pyc"),  # a module imported, then dropped
        str(site / "neverused-1.0.dist-info" / "METADATA"),  # how importlib.metadata lists distributions
        str(world["prefix"] / "conda-meta" / "history"),
        "/usr/lib/python3/dist-packages/neverused/__init__.py",  # outside the environment
    )) == {"conda:forkonly": ["forkonly/__init__.py"]}


def test_a_library_mapped_from_the_package_cache_of_a_softlinked_environment_is_its_package(world) -> None:
    """Under always_softlink the environment's libraries are symlinks into the package cache, and
    /proc/self/maps names the cache's file."""
    inst = world["inst"]
    prefix = inst.create_env("softlinked", ["python", "libpkg"], link="symlink")
    library = prefix / "lib" / "libtracelib.so.1"
    assert library.is_symlink()
    real = os.path.realpath(library)
    assert not real.startswith(str(prefix))
    assert _mapped(prefix, libraries=(real,)) == {"conda:libpkg": ["lib/libtracelib.so.1"]}
    assert _mapped(prefix, modules=(real,)) == {}  # only a library is looked for there


def test_a_module_imported_then_dropped_counts_with_bytecode_kept_elsewhere(world, tmp_path) -> None:
    """With PYTHONPYCACHEPREFIX the import reads only the bytecode, outside the environment: the
    recorder names its source."""
    from conda_prune.trace import TraceRun, read_records, trace_environ

    python = str(world["prefix"] / "bin" / "python")
    base = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    base["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    code = "import sys, runtimeonly; del sys.modules['runtimeonly']"
    subprocess.run([python, "-c", code], env=base, check=True)  # the bytecode is written once
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run([python, "-c", code], env=trace_environ(world["prefix"], out, base), check=True)
    run_ = TraceRun("drop", 0)
    read_records(out, run_)
    (record,) = run_.records
    assert str(world["prefix"] / SITE / "runtimeonly" / "__init__.py") in record.modules
