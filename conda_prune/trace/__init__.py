"""``--trace COMMAND``: run a command inside the environment and take what its Python processes
loaded as evidence.

The command runs through ``/bin/sh -c`` in the current folder, inside the environment as
``conda run`` puts it there: the environment's ``bin`` first on ``PATH`` (the previously
active environment's ``bin`` taken off), ``CONDA_PREFIX`` and ``CONDA_DEFAULT_ENV`` set, its
``etc/conda/activate.d/*.sh`` scripts sourced first. ``PYTHONPATH`` gains one folder,
``hook/``, whose ``sitecustomize`` records every Python process that inherits that environment
(see ``hook/sitecustomize.py`` for what and how) into a private folder made for this run, then
runs the environment's own ``sitecustomize``. Nothing is written into the environment.

The records are read back and their files mapped to packages through conda's ``files`` and
pip's ``RECORD``: each package with a file loaded gets one piece of evidence per command,
"loaded by `pytest -q` (trace)". Programs count when they are the environment's (``bin/``):
started by a traced process, or named by the command or a shell command a traced process ran.

What cannot be trusted is a *doubt* (removal refused): a command that could not be started, a
trace in which no Python process recorded anything, a record that does not parse or was cut at
its size limit. A command that fails still counts, with a warning naming its exit code; so
does one whose processes partly ended without recording (killed by a signal), with a warning.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..env_prune.results import Evidence
    from ..records import EnvironmentData

#: the folder put first on PYTHONPATH: it holds only ``sitecustomize.py``
HOOK = Path(__file__).resolve().parent / "hook"
TRACE_DIR_VAR = "CONDA_PRUNE_TRACE_DIR"
PREFIX_VAR = "CONDA_PRUNE_TRACE_PREFIX"
FORMAT = "conda-prune-trace/1"
#: records read from one run at the most, and bytes of one record
MAX_RECORDS = 100_000
RECORD_LIMIT = 64 << 20
#: how long a command interrupted with Ctrl-C gets to end by itself, then after each signal
GRACE_SECONDS = 5.0
#: characters of a command shown in evidence and messages
SHOWN = 48

_PYC = re.compile(r"^(?P<folder>(?:.*/)?)__pycache__/(?P<stem>[^/.]+)\.[^/]*\.pyc$")
#: evidence is chosen from these kinds of file, in this order
KINDS = ("module", "program", "library", "pth")


def shown(command: str) -> str:
    """A command as messages show it: one line, at most :data:`SHOWN` characters."""
    line = " ".join(command.split())
    return line if len(line) <= SHOWN else line[: SHOWN - 1] + "…"


@dataclass(frozen=True)
class ProcessRecord:
    """What one Python process of the traced command recorded."""

    pid: int
    argv: tuple[str, ...]
    complete: bool  # False: only its start-up record (it ended without running exit handlers)
    ended: str  # "exit", "os._exit", "exec" or "start"
    modules: tuple[str, ...] = ()  # absolute paths: module files and files opened for reading
    libraries: tuple[str, ...] = ()
    pth: tuple[str, ...] = ()
    programs: tuple[str, ...] = ()  # as started: an absolute path or a bare name
    commands: tuple[str, ...] = ()  # shell commands it ran (os.system, sh -c)
    truncated: bool = False
    proc_maps: bool = False  # libraries come from /proc/self/maps (else only extension modules)


@dataclass
class TraceRun:
    """One ``--trace`` command: how it ended and what its processes recorded."""

    command: str
    exit_code: int | None  # None: it could not be started
    records: list[ProcessRecord] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)  # each forbids removal
    warnings: list[str] = field(default_factory=list)
    files_mapped: int = 0  # distinct recorded files that belong to a package (set by trace_evidence)
    packages: tuple[str, ...] = ()  # graph keys with evidence from this run (set by trace_evidence)

    @property
    def incomplete(self) -> list[ProcessRecord]:
        return [r for r in self.records if not r.complete]

    def as_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "exit_code": self.exit_code,
            "processes": len(self.records),
            "processes_without_record": len(self.incomplete),
            "files_mapped": self.files_mapped,
            "packages": sorted(k.split(":", 1)[1] for k in self.packages),
            "doubts": list(self.doubts),
        }


@dataclass
class TraceEvidence:
    """What every run says, by graph key, for ``plan_env_prune(evidence_from=...)``."""

    evidence: dict[str, list[Evidence]] = field(default_factory=dict)
    doubts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# -- running ---------------------------------------------------------------------------------------


def trace_environ(prefix: Path, out: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The traced command's environment: ``base`` (this process's) inside ``prefix``, plus the hook."""
    env = dict(os.environ if base is None else base)
    old = env.get("CONDA_PREFIX")
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    if old:
        path = [p for p in path if os.path.normpath(p) != os.path.normpath(os.path.join(old, "bin"))]
    env["PATH"] = os.pathsep.join([str(prefix / "bin"), *path])
    env["CONDA_PREFIX"] = str(prefix)
    env["CONDA_DEFAULT_ENV"] = prefix.name if prefix.parent.name == "envs" else str(prefix)
    env["CONDA_SHLVL"] = env.get("CONDA_SHLVL") or "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOOK), env.get("PYTHONPATH", "")) if p)
    env[TRACE_DIR_VAR] = str(out)
    env[PREFIX_VAR] = os.pathsep.join(dict.fromkeys((os.path.normpath(os.path.abspath(prefix)),
                                                     os.path.realpath(prefix))))
    return env


def _script(prefix: Path, command: str) -> str:
    """The command after the environment's activation scripts, as ``conda activate`` sources them."""
    folder = prefix / "etc" / "conda" / "activate.d"
    try:
        scripts = sorted(p for p in folder.iterdir() if p.suffix == ".sh" and p.is_file())
    except OSError:
        scripts = []
    return "".join(f". {shlex.quote(str(s))}\n" for s in scripts) + command


def _stop(proc: subprocess.Popen) -> None:
    """After Ctrl-C: the command got the same interrupt (it is in our process group); give it
    time to end, then ask again, then stop it."""
    for send in (None, signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if send is not None:
            try:
                proc.send_signal(send)
            except OSError:
                pass
        try:
            proc.wait(timeout=GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


def run_trace(prefix: Path, command: str, *, stdout: IO[str] | int | None = None,
              cwd: Path | None = None) -> TraceRun:
    """Run ``command`` traced inside ``prefix`` and read what it recorded. ``stdout``: where the
    command's output goes (None: this process's stdout; under ``--json``, stderr). Ctrl-C stops
    the command and propagates: nothing is planned, nothing removed."""
    out = Path(tempfile.mkdtemp(prefix="conda-prune-trace-"))
    try:
        try:
            proc = subprocess.Popen(["/bin/sh", "-c", _script(prefix, command)], cwd=cwd, stdout=stdout,
                                    env=trace_environ(prefix, out))
        except OSError as exc:
            return TraceRun(command, None, doubts=[
                f"--trace {shown(command)!r} could not be started ({exc.strerror or exc}): what it loads is unknown"
            ])
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            try:
                _stop(proc)
            except KeyboardInterrupt:
                proc.kill()
            raise
        run = TraceRun(command, code)
        read_records(out, run)
        return run
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _strings(value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(value)


def _parse(data: object) -> ProcessRecord | str:
    """A record, or what is wrong with it."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return "not a trace record"
    lists = {k: _strings(data.get(k, [])) for k in ("argv", "modules", "libraries", "pth", "programs", "commands")}
    bad = [k for k, v in lists.items() if v is None]
    if bad or not isinstance(data.get("pid"), int) or not isinstance(data.get("complete"), bool):
        return f"unexpected content ({', '.join(bad) or 'pid, complete'})"
    return ProcessRecord(
        pid=data["pid"], argv=lists["argv"] or (), complete=data["complete"], ended=str(data.get("ended", "")),
        modules=lists["modules"] or (), libraries=lists["libraries"] or (), pth=lists["pth"] or (),
        programs=lists["programs"] or (), commands=lists["commands"] or (),
        truncated=data.get("truncated") is True, proc_maps=data.get("proc_maps") is True,
    )


def read_records(folder: Path, run: TraceRun) -> None:
    """Read every record the run's processes wrote into ``folder`` (``*.tmp`` are writes a
    process did not finish: its previous record stands) and say what is doubtful."""
    from ..safeio import read_bytes

    name = f"--trace {shown(run.command)!r}"
    try:
        files = sorted(p for p in os.listdir(folder) if p.endswith(".json"))
    except OSError as exc:
        run.doubts.append(f"{name}: its trace folder {folder} could not be read ({exc.strerror}): "
                          "what it loaded is unknown")
        return
    if len(files) > MAX_RECORDS:
        run.doubts.append(f"{name} started {len(files):,} Python processes, more than the {MAX_RECORDS:,} "
                          "a trace reads: what the others loaded is unknown")
        files = files[:MAX_RECORDS]
    for file_name in files:
        try:
            parsed: ProcessRecord | str = _parse(json.loads(read_bytes(folder / file_name, limit=RECORD_LIMIT)))
        except OSError as exc:
            parsed = f"cannot be read ({exc.strerror or exc})"
        except ValueError as exc:
            parsed = f"is not valid JSON ({exc})"
        except RecursionError:  # ``[[[[...`` thousands deep: not a record the hook writes
            parsed = "is not valid JSON (nested too deeply)"
        if isinstance(parsed, str):
            run.doubts.append(f"{name}: the trace record {file_name} {parsed}: what that process loaded is unknown")
            continue
        run.records.append(parsed)
        if parsed.truncated:
            run.doubts.append(f"{name}: process {parsed.pid} loaded more files than a record holds: "
                              "what else it loaded is unknown")
    if run.exit_code is not None and run.exit_code != 0:
        how = f"was ended by signal {-run.exit_code}" if run.exit_code < 0 else f"exited {run.exit_code}"
        run.warnings.append(f"{name} {how}: what it loaded until then counts as evidence")
    if not run.records and not run.doubts:
        run.doubts.append(
            f"{name}: no Python process recorded what it loaded (the command runs no Python of the "
            "environment, or runs it with -I, -E or -S, or with a cleaned environment): what it loads is unknown"
        )
    cut = run.incomplete
    if cut:
        argv = " ".join(cut[0].argv) or f"process {cut[0].pid}"
        run.warnings.append(
            f"{name}: {len(cut)} Python process(es) ended without recording what they loaded (killed by a "
            f"signal, or crashed), e.g. {shown(argv)!r}: what only those loaded does not count"
        )


# -- mapping to packages ---------------------------------------------------------------------------


class _Files:
    """Recorded paths -> (prefix-relative path, owners), through conda's ``files`` and pip's RECORD."""

    def __init__(self, prefix: Path, owners: Mapping[str, set[str]]) -> None:
        self.owners = owners
        self.roots = tuple(dict.fromkeys((os.path.normpath(os.path.abspath(prefix)), os.path.realpath(prefix))))
        self.prefix = prefix
        self._resolved: dict[str, str] | None = None

    def relative(self, path: str) -> str | None:
        path = os.path.normpath(path)
        for root in self.roots:
            if path.startswith(root + os.sep):
                return path[len(root) + 1:].replace(os.sep, "/")
        return None

    def resolved(self) -> dict[str, str]:
        """Where the environment's libraries that are symlinks point (an environment linked with
        ``always_softlink`` maps its libraries from the package cache): real path -> relative."""
        if self._resolved is None:
            self._resolved = {}
            for rel in self.owners:
                if (".so" in rel or rel.endswith(".dylib")) and os.path.islink(self.prefix / rel):
                    self._resolved[os.path.realpath(self.prefix / rel)] = rel
        return self._resolved

    def owner(self, path: str, *, library: bool = False) -> tuple[str, set[str]] | None:
        rel = self.relative(path)
        if rel is None and library:
            rel = self.resolved().get(os.path.realpath(path))
        if rel is None or any(p.endswith((".dist-info", ".egg-info")) for p in rel.split("/")[:-1]):
            return None  # reading metadata is how every distribution is listed: not a use
        if rel.startswith("conda-meta/"):
            return None
        owners = self.owners.get(rel)
        if not owners:
            match = _PYC.match(rel)  # bytecode written beside the source: the source's package
            if match:
                rel = f"{match['folder']}{match['stem']}.py"
                owners = self.owners.get(rel)
        return (rel, owners) if owners else None


def _programs_of(command: str) -> list[str]:
    """Programs a shell command runs, as the application scan reads shell code."""
    from ..appscan import EXECUTABLE
    from ..appscan.shell import shell_uses

    try:
        return [u.name for u in shell_uses(command, "--trace", "trace") if u.kind == EXECUTABLE]
    except Exception:  # the scan reads any text; a command it cannot read names no program
        return []


def _candidates(run: TraceRun, files: _Files) -> Iterable[tuple[str, str, set[str]]]:
    """(kind, relative path, owners) for everything the run recorded that belongs to a package."""
    names = set(_programs_of(run.command))
    for record in run.records:
        for path in record.modules:
            found = files.owner(path)
            if found:
                yield "module", *found
        for path in record.libraries:
            found = files.owner(path, library=True)
            if found:
                yield "library", *found
        for path in record.pth:
            found = files.owner(path)
            if found:
                yield "pth", *found
        for program in record.programs:
            if os.path.isabs(program):
                found = files.owner(program)
                if found:
                    yield "program", *found
            elif "/" not in program:
                names.add(program)
        for command in record.commands:
            names.update(_programs_of(command))
    for name in sorted(names):
        owners = files.owners.get(f"bin/{name}")
        if owners:
            yield "program", f"bin/{name}", set(owners)


def trace_evidence(env: EnvironmentData, runs: Sequence[TraceRun]) -> TraceEvidence:
    """Evidence by graph key from every run; fills each run's ``files_mapped`` and ``packages``."""
    from ..env_prune.results import Evidence
    from ..environment import file_owners, site_relative

    files = _Files(env.prefix, file_owners(env))
    result = TraceEvidence()
    for run in runs:
        best: dict[str, tuple[int, int, str, str]] = {}  # key -> (kind rank, length, path, kind)
        mapped: set[str] = set()
        for kind, rel, owners in _candidates(run, files):
            mapped.add(rel)
            rank = (KINDS.index(kind), len(rel), rel, kind)
            for key in owners:
                if key not in best or rank < best[key]:
                    best[key] = rank
        run.files_mapped, run.packages = len(mapped), tuple(sorted(best))
        detail = f"loaded by `{shown(run.command)}` (trace)"
        for key, (_, _, rel, _kind) in sorted(best.items()):
            result.evidence.setdefault(key, []).append(Evidence("trace", detail, site_relative(rel)))
        result.doubts += run.doubts
        result.warnings += run.warnings
    return result


def run_traces(prefix: Path, commands: Sequence[str], *, to_stderr: bool = False,
               progress: Callable[[str], None] | None = None) -> list[TraceRun]:
    """Each command in turn (``progress(command)`` before each). ``to_stderr``: the commands'
    output goes to stderr, so that stdout holds only the JSON document."""
    stdout: int | None = None
    if to_stderr:
        try:
            stdout = sys.stderr.fileno()
        except (AttributeError, ValueError, OSError):
            stdout = 2
    runs = []
    for command in commands:
        if progress is not None:
            progress(command)
        sys.stdout.flush()
        sys.stderr.flush()
        runs.append(run_trace(prefix, command, stdout=stdout))
    return runs


__all__ = ["HOOK", "ProcessRecord", "TraceEvidence", "TraceRun", "read_records", "run_trace", "run_traces",
           "shown", "trace_environ", "trace_evidence"]
