"""How right ``conda prune -p ENV --app APP`` is about what an application never uses.

One case is an environment of real packages (:mod:`accuracy.wheels`) and a real application
with its own tests. The measurement:

1. **Ground truth.** The application's tests run with ``ENV/bin/python`` under the tracer
   (``tracer/sitecustomize.py``, which records every file each Python process loaded, children
   included). Each loaded file under the environment is mapped to the conda package whose record
   lists it (``files``; bytecode under ``PYTHONPYCACHEPREFIX`` to its source).

   - *loaded at run time*: ``python`` (the interpreter ran) and every package with a loaded
     file: an imported module, a file opened through Python, a shared object mapped into the
     process, a ``.pth`` file ``site`` ran at start-up, a program started from ``bin/``;
   - *needed*: the loaded packages and, transitively, their mandatory dependencies (the conda
     ``depends``, which are the ``Requires-Dist`` that apply without extras, plus ``pip``, which
     conda adds to every ``python``); the environment stays consistent only with all of them;
   - *truly unused*: every other installed package. None of its files was loaded while the
     application's tests ran, and no package that was loaded requires it.

2. **The verdicts under test**: ``conda-prune prune -p ENV --app APP --dry-run --json``, its
   ``unused`` list (the *static* row); and the same with ``--trace`` of the application's test
   command, run in the application's folder (the *traced* row: what the static scan misses, a
   run of the tests shows).

3. **The comparison**: recall (truly unused packages called unused / truly unused), packages
   loaded at run time yet called unused (each would change what the application does: must be
   0), packages called unused that a loaded package requires.

4. **After ``--yes``** (static row): on a copy of the environment, ``conda prune -p COPY --app APP --yes``
   (a real conda), then the application's tests again: do the same tests pass?
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .wheels import SITE, conda_name, fetch_wheels, python_package, wheel_to_package

HERE = Path(__file__).resolve().parent
#: every case measured in this process, for the summary table
RESULTS: list[Result] = []
TRACER = HERE / "tracer"
REPO = HERE.parents[1]


@dataclass(frozen=True)
class Case:
    name: str
    app: str  # the application's wheel (``name==version``): its source with its tests
    about: str  # one line for the table
    env: tuple[str, ...]  # every package of the environment (``name==version``, the closure)
    test_args: tuple[str, ...] = ()  # pytest arguments, run in the application's folder (run-tests.sh)
    timeout: int = 600
    #: the targets not met yet: test name -> reason (the current figure); those tests are xfail
    known_misses: dict[str, str] = field(default_factory=dict)
    #: the same for the traced row (``--trace`` of the application's tests)
    traced_known_misses: dict[str, str] = field(default_factory=dict)


@dataclass
class TestRun:
    returncode: int
    outcomes: dict[str, str]  # test id -> passed / failed / error / skipped
    seconds: float
    traces: list[dict]
    output: str

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes.values() if o == outcome)

    def summary(self) -> str:
        parts = [f"{self.count(o)} {o}" for o in ("passed", "failed", "error", "skipped") if self.count(o)]
        return ", ".join(parts) or "no tests"


@dataclass
class Built:
    case: Case
    root: Path
    inst: object  # builder.Installation
    prefix: Path
    app: Path
    seconds: float


@dataclass
class Result:
    case: Case
    built: Built
    installed: list[str]
    loaded: dict[str, list[str]]  # package -> a few of its loaded files
    needed: set[str]
    truly_unused: set[str]
    called_unused: set[str]
    verdict: dict  # the JSON document
    before: TestRun
    after: TestRun | None = None
    removed: list[str] = field(default_factory=list)
    removal_note: str = ""  # why the --yes check did not run, or what went wrong
    seconds: dict[str, float] = field(default_factory=dict)
    traced_verdict: dict | None = None  # the JSON document of the verdict with --trace
    mode: str = "static"  # or "traced": which verdict ``called_unused`` holds

    def traced(self) -> Result | None:
        """The same measurement seen through the traced verdict (its own row of the table)."""
        if self.traced_verdict is None:
            return None
        return replace(self, called_unused=set(self.traced_verdict["unused"]), verdict=self.traced_verdict,
                       mode="traced", after=None, removed=[],
                       removal_note="not run for this row (the row above prunes a copy)")

    @property
    def known_misses(self) -> dict[str, str]:
        return self.case.traced_known_misses if self.mode == "traced" else self.case.known_misses

    @property
    def correctly_unused(self) -> set[str]:
        return self.called_unused & self.truly_unused

    @property
    def recall(self) -> float:
        return len(self.correctly_unused) / len(self.truly_unused) if self.truly_unused else 1.0

    @property
    def loaded_called_unused(self) -> set[str]:
        return self.called_unused & set(self.loaded)

    @property
    def required_called_unused(self) -> set[str]:
        """Called unused though a loaded package requires it (not loaded itself)."""
        return (self.called_unused & self.needed) - set(self.loaded)

    @property
    def missed(self) -> set[str]:
        return self.truly_unused - self.called_unused

    @property
    def same_after(self) -> bool | None:
        if self.after is None:
            return None
        return self.after.outcomes == self.before.outcomes and self.after.count("passed") > 0


# -- building a case ---------------------------------------------------------------------------------


def build(case: Case, root: Path) -> Built:
    """The case's channel, a real environment installed from it, and the application's folder."""
    from builder import Installation

    started = time.monotonic()
    wheels = fetch_wheels([*case.env, case.app])
    inst = Installation(root / "inst")
    out = inst.channel / "linux-64"
    stage = root / "stage"
    available = {conda_name(p.split("==")[0]) for p in case.env} | {"python"}
    names = ["python"]
    for wheel in wheels[:-1]:
        pkg = wheel_to_package(wheel, out, stage, available)
        names.append(pkg.name)
    python_package(out, stage)
    prefix = inst.create_env(case.name, names)
    inst.add_conda_cache_files()
    app = root / "app"
    with zipfile.ZipFile(wheels[-1]) as zf:
        zf.extractall(app)
    write_test_script(case, app)
    return Built(case, root, inst, prefix, app, time.monotonic() - started)


# -- running the application's tests -----------------------------------------------------------------

TEST_SCRIPT = "run-tests.sh"


def write_test_script(case: Case, app: Path) -> Path:
    """How the application's tests run, as a checkout says it in its CI files (which a wheel does
    not ship): the harness runs this very script, and conda-prune reads it like any other."""
    script = app / TEST_SCRIPT
    args = " ".join(case.test_args)
    script.write_text(f"#!/bin/sh\n# run {case.app.split('==')[0]}'s tests\npython -m pytest \"$@\" {args}\n")
    script.chmod(0o755)
    return script



def app_environ(root: Path, prefix: Path, trace_dir: Path | None) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("PYTHON", "CONDA", "MAMBA", "VIRTUAL_ENV", "PYTEST", "MPL", "_CE_"))}
    home = root / "home-tests"
    home.mkdir(exist_ok=True)
    keep.update(
        PATH=f"{prefix / 'bin'}{os.pathsep}{keep.get('PATH', '/usr/bin:/bin')}",
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        MPLBACKEND="Agg",
        PYTHONPYCACHEPREFIX=str(pycache_of(prefix, root)),
        PYTHONHASHSEED="0",
    )
    if trace_dir is not None:
        keep.update(PYTHONPATH=str(TRACER), CONDA_PRUNE_ACCURACY_TRACE=str(trace_dir))
    return keep


def pycache_of(prefix: Path, root: Path) -> Path:
    """Bytecode goes here, so the environment holds only what its packages installed."""
    return root / "pycache" / prefix.name


def run_app_tests(built: Built, prefix: Path, label: str) -> TestRun:
    trace_dir = built.root / f"trace-{label}"
    shutil.rmtree(trace_dir, ignore_errors=True)
    trace_dir.mkdir(parents=True)
    junit = built.root / f"junit-{label}.xml"
    cmd = ["/bin/sh", TEST_SCRIPT, "-p", "no:cacheprovider", "-q", "-o", "addopts=", f"--junitxml={junit}"]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=built.app, env=app_environ(built.root, prefix, trace_dir),
                          capture_output=True, text=True, timeout=built.case.timeout)
    seconds = time.monotonic() - started
    outcomes: dict[str, str] = {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            key = f"{case.get('classname')}::{case.get('name')}"
            kinds = {child.tag for child in case}
            outcomes[key] = ("failed" if "failure" in kinds else "error" if "error" in kinds
                             else "skipped" if "skipped" in kinds else "passed")
    traces = [json.loads(p.read_text()) for p in sorted(trace_dir.glob("trace-*.json"))]
    return TestRun(proc.returncode, outcomes, seconds, traces, proc.stdout[-4000:] + proc.stderr[-4000:])


# -- ground truth ------------------------------------------------------------------------------------


def records(prefix: Path) -> dict[str, dict]:
    out = {}
    for meta in sorted((prefix / "conda-meta").glob("*.json")):
        data = json.loads(meta.read_text())
        out[data["name"]] = data
    return out


def _source_of_bytecode(path: str) -> str:
    """``.../__pycache__/mod.cpython-311.pyc`` -> ``.../mod.py``."""
    folder, name = os.path.split(path)
    if os.path.basename(folder) == "__pycache__":
        folder = os.path.dirname(folder)
    return os.path.join(folder, name.split(".")[0] + ".py")


def loaded_packages(prefix: Path, pycache: Path, traces: Iterable[dict]) -> dict[str, list[str]]:
    """Package -> the files of it that were loaded (python always: the interpreter ran)."""
    owner = {f: name for name, rec in records(prefix).items() for f in rec.get("files", ())}
    roots = {os.path.normpath(str(prefix)), os.path.realpath(prefix)}
    cache_roots = {os.path.normpath(str(pycache)), os.path.realpath(pycache)}
    loaded: dict[str, list[str]] = {"python": ["bin/python"]}

    def relative(path: str) -> str | None:
        path = os.path.normpath(path)
        for cache in cache_roots:
            if path.startswith(cache + os.sep) and path.endswith(".pyc"):
                path = _source_of_bytecode(path[len(cache):])
        for root in roots:
            if path.startswith(root + os.sep):
                rel = path[len(root) + 1:]
                if rel.endswith(".pyc") and rel not in owner:
                    rel = _source_of_bytecode(rel)
                return rel
        return None

    def counts(rel: str) -> bool:
        """Reading a distribution's metadata is how every distribution is listed (entry points,
        versions): it is not using the package."""
        return not any(part.endswith((".dist-info", ".egg-info")) for part in rel.split("/")[:-1])

    for trace in traces:
        paths = list(trace["files"])
        for program in trace["programs"]:
            paths.append(program if os.path.isabs(program) else str(prefix / "bin" / os.path.basename(program)))
        for path in paths:
            rel = relative(path)
            name = owner.get(rel) if rel is not None and counts(rel) else None
            if name is not None:
                files = loaded.setdefault(name, [])
                if len(files) < 3 and rel not in files:
                    files.append(rel)
    return loaded


def dependency_graph(prefix: Path) -> dict[str, set[str]]:
    from conda_prune.specs import spec_name

    recs = records(prefix)
    graph = {name: {spec_name(d) for d in rec.get("depends", ()) if not spec_name(d).startswith("__")}
             for name, rec in recs.items()}
    if "python" in graph and "pip" in graph:  # conda's add_pip_as_python_dependency
        graph["python"].add("pip")
    return graph


def closure(graph: dict[str, set[str]], start: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen or name not in graph:
            continue
        seen.add(name)
        todo += graph[name]
    return seen


# -- the verdict under test --------------------------------------------------------------------------


#: the application's tests as the traced verdict runs them (``--trace``), in the application's folder
TRACED_TESTS = f"sh {TEST_SCRIPT} -p no:cacheprovider -q -o addopts="
#: conda-prune from this checkout without PYTHONPATH, which a traced command would inherit
_STANDALONE = (f"import sys; sys.path.insert(0, {str(REPO)!r}); "
               "from conda_prune.cli.standalone import main; sys.exit(main())")


def verdict(built: Built, prefix: Path, *, traced: bool = False) -> dict:
    env = built.inst.environ(CONDA_PRUNE_CACHE_DIR=str(built.root / "scan-cache"))
    cmd = [sys.executable, "-m", "conda_prune", "prune", "-p", str(prefix), "--app", str(built.app),
           "--dry-run", "--json"]
    cwd = built.root
    if traced:  # the tests run as the ground truth runs them: same variables, same folder
        conda_vars = {k: v for k, v in env.items() if k.startswith("CONDA")}
        env = {**app_environ(built.root, prefix, None), **conda_vars}
        cmd = [sys.executable, "-c", _STANDALONE, *cmd[3:], "--trace", TRACED_TESTS]
        cwd = built.app
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=cwd, timeout=built.case.timeout * 2)
    if proc.returncode != 0:
        raise AssertionError(f"conda-prune exited {proc.returncode}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def prune_copy(built: Built) -> tuple[Path, list[str], str]:
    """``conda prune -p COPY --app APP --yes`` on a copy of the environment (a real conda)."""
    copy = built.prefix.with_name(built.prefix.name + "-pruned")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(built.prefix, copy, symlinks=True)
    env = built.inst.environ(CONDA_PRUNE_CACHE_DIR=str(built.root / "scan-cache"))
    proc = subprocess.run(
        [sys.executable, "-m", "conda", "prune", "-p", str(copy), "--app", str(built.app), "--yes", "--json"],
        env=env, capture_output=True, text=True, cwd=built.root,
    )
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        return copy, [], f"conda prune --yes exited {proc.returncode}: {(proc.stderr or proc.stdout)[-300:]}"
    note = "" if proc.returncode == 0 else f"conda prune --yes exited {proc.returncode}"
    return copy, list(doc.get("removed") or []), note


def have_conda() -> bool:
    try:
        import conda.base.context  # noqa: F401
    except ImportError:
        return False
    return True


def measure(case: Case, root: Path, *, removal: bool | None = None, traced: bool = True) -> Result:
    """Build the case, trace the application's tests, ask conda-prune (and, ``traced``, again
    with ``--trace`` of those tests), compare; then (with a real conda) prune a copy with
    ``--yes`` and run the tests again."""
    built = build(case, root)
    seconds = {"build": built.seconds}
    before = run_app_tests(built, built.prefix, "before")
    seconds["tests"] = before.seconds
    if before.count("passed") == 0:
        raise AssertionError(f"the application's tests did not run: {before.output}")
    loaded = loaded_packages(built.prefix, pycache_of(built.prefix, root), before.traces)
    graph = dependency_graph(built.prefix)
    needed = closure(graph, loaded)
    installed = sorted(graph)
    started = time.monotonic()
    doc = verdict(built, built.prefix)
    seconds["verdict"] = time.monotonic() - started
    result = Result(case, built, installed, loaded, needed, set(installed) - needed, set(doc["unused"]), doc, before,
                    seconds=seconds)
    if traced:
        started = time.monotonic()
        result.traced_verdict = verdict(built, built.prefix, traced=True)
        seconds["traced verdict"] = time.monotonic() - started
    if removal is None:
        removal = have_conda()
    if not removal:
        result.removal_note = "not run: needs a real conda (not importable here)"
        return result
    copy, removed, note = prune_copy(built)
    result.removed, result.removal_note = removed, note
    result.after = run_app_tests(built, copy, "after")
    return result


# -- the table ---------------------------------------------------------------------------------------

COLUMNS = ("case", "application", "packages installed", "loaded at run time", "truly unused",
           "called unused", "of which truly unused", "recall", "loaded at run time, called unused",
           "required by a loaded package, called unused", "app's tests after --yes")


def _names(names: Iterable[str], limit: int = 8) -> str:
    names = sorted(names)
    shown = ", ".join(names[:limit]) + (f", … {len(names) - limit} more" if len(names) > limit else "")
    return f" ({shown})" if names else ""


def row(result: Result) -> list[str]:
    if result.after is None:
        after = result.removal_note or "not run"
    else:
        same = "same" if result.same_after else "DIFFERENT"
        changed = sorted(k for k in result.before.outcomes if result.after.outcomes.get(k) != result.before.outcomes[k])
        after = (f"{same}: {result.after.summary()} (before: {result.before.summary()}); "
                 f"{len(result.removed)} packages removed")
        if changed:
            after += f"; changed: {', '.join(changed[:3])}" + (" …" if len(changed) > 3 else "")
        if result.removal_note:
            after += f"; {result.removal_note}"
    return [
        result.case.name + (" --trace" if result.mode == "traced" else ""),
        result.case.about if result.mode == "static" else "the same, with --trace of the application's tests",
        str(len(result.installed)),
        str(len(result.loaded)),
        str(len(result.truly_unused)),
        str(len(result.called_unused)),
        str(len(result.correctly_unused)),
        f"{result.recall:.0%}" + (f" (missed{_names(result.missed)[1:]}" if result.missed else ""),
        f"{len(result.loaded_called_unused)}{_names(result.loaded_called_unused)}",
        f"{len(result.required_called_unused)}{_names(result.required_called_unused)}",
        after,
    ]


def table(results: Iterable[Result]) -> str:
    """A static row per case, and its traced row beneath when there is one."""
    rows = [row(v) for r in results for v in (r, r.traced()) if v is not None]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |" for r in rows]
    return "\n".join(lines)


def details(result: Result) -> str:
    """What each run-time-loaded package called unused was loaded for (one line each)."""
    lines = [f"{result.case.name}: tests {result.before.summary()} in {result.before.seconds:.0f} s; "
             f"built in {result.seconds['build']:.0f} s"]
    for view in (result, result.traced()):
        if view is None:
            continue
        for name in sorted(view.loaded_called_unused):
            lines.append(f"  {name}: called unused ({view.mode}), loaded: {', '.join(view.loaded[name])}")
    if result.traced_verdict is not None:
        for run in result.traced_verdict.get("traces", []):
            lines.append(f"  traced: `{run['command']}` exit {run['exit_code']}, {run['processes']} Python "
                         f"process(es), {run['files_mapped']} files of {len(run['packages'])} packages")
        lines += [f"  traced verdict doubt: {d}" for d in result.traced_verdict["doubts"]]
    return "\n".join(lines)


__all__ = ["RESULTS", "SITE", "Case", "Result", "build", "details", "measure", "row", "table"]
