"""An environment created (linked from the cache) while a prune runs.

There is no global lock on package caches, so the prune re-checks after moving entries out of
conda's sight and puts back what came into use. These cases create a real environment with
the builder at every point of a prune (deterministically, by wrapping the prune's own steps)
and concurrently with a prune in a subprocess (at random times, many trials). Whatever the
timing, the new environment must verify and every cache entry it was linked from (by
hardlink or symlink) must be in the cache, whole, after the prune and after a rerun.

Trials: ``CONDA_PRUNE_SAFETY_RACE_TRIALS`` (default 20), seeded by ``CONDA_PRUNE_SAFETY_SEED``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from builder import Installation
from conda_prune import removal
from conda_prune.cache_prune import execute_plan, plan_cache_prune
from conda_prune.caches import TRASH_DIR

from .installs import many_files
from .support import (
    ME, RACE_TRIALS, SEED, User, chown_tree, env_fingerprint, incomplete_entries, popen, record, run, trash_items,
)

pytestmark = pytest.mark.safety

LINKS = ("hardlink", "symlink", "copy")


def linked_from(prefix: Path) -> dict[str, str]:
    """dist -> the cache folder each record of the environment says it was linked from, for
    records linked by hardlink or symlink (a copy needs no cache)."""
    out = {}
    for meta in (prefix / "conda-meta").glob("*.json"):
        data = json.loads(meta.read_text())
        link = data.get("link") or {}
        if link.get("type") in (1, 2):
            out[meta.stem] = link.get("source") or data.get("extracted_package_dir")
    return out


def check_new_env(inst: Installation, prefix: Path) -> list[str]:
    """The environment verifies and the entries it was linked from are whole in the cache."""
    problems = [f"{prefix}: {rel} {v}" for rel, v in env_fingerprint(prefix).items() if v.startswith("MISSING")]
    for dist, source in linked_from(prefix).items():
        if not source or not (Path(source) / "info" / "index.json").is_file():
            problems.append(f"{dist}: the entry it was linked from ({source}) is gone")
    problems += incomplete_entries(inst.pkgs)
    return problems


def race_installation(root: Path, n: int = 12, files: int = 60) -> Installation:
    inst = Installation(root)
    for i in range(n):
        inst.package(f"pkg{i:02d}", files=many_files(f"pkg{i:02d}", files))
    inst.package("base-lib", files=many_files("base-lib", files))
    inst.create_env("existing", ["base-lib"])
    for i in range(n):
        inst.extract_to_cache(inst.packages[f"pkg{i:02d}-1.0-0"])
    inst.add_conda_cache_files()
    shutil.rmtree(inst.root / "stage")
    return inst


# -- deterministic: the environment appears at each step of the prune ---------------------------

MOMENTS = {
    "after the plan, before any change": None,
    "after the move to the trash, before the re-check": "_current_users",
    "after the re-check, before deleting": "_delete_trashed",
    "in the middle of deleting": "_delete_trashed:2",
}


@pytest.mark.parametrize("link", LINKS)
@pytest.mark.parametrize("moment", list(MOMENTS))
def test_environment_created_at_each_step_of_a_prune(request, workdir: Path, monkeypatch, moment: str, link: str) -> None:
    inst = race_installation(workdir / "inst", n=4, files=10)
    # the newcomer stands for conda, which takes no lock on package caches: without rattler's
    # .cache.lock the prune takes none either, and the installer (rattler, in this process) is
    # not made to wait for it. What a held lock does is test_an_installer_holding_its_lock_...
    (inst.pkgs / ".cache.lock").unlink(missing_ok=True)
    targets = ["pkg00", "pkg01"]
    plan = plan_cache_prune(inst.locations())
    assert {"pkg00-1.0-0", "pkg01-1.0-0"} <= {d.entry.dist for d in plan.removals}
    created: list[Path] = []

    def create() -> None:
        if not created:
            created.append(inst.create_env("newcomer", targets, link=link))

    where = MOMENTS[moment]
    if where is None:
        create()
    else:
        name, _, nth = where.partition(":")
        original = getattr(removal, name)
        calls = [0]

        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls[0] += 1
            if calls[0] >= int(nth or 1):
                create()
            return original(*args, **kwargs)

        monkeypatch.setattr(removal, name, wrapper)
    result = execute_plan(plan, inst.locations())
    monkeypatch.undo()
    assert created, "the environment was never created"
    problems = check_new_env(inst, created[0])
    # a rerun finishes whatever is left and still keeps what the newcomer uses
    code = run(inst, ME, "--yes").code
    problems += check_new_env(inst, created[0])
    if trash_items(inst.pkgs):
        problems.append(f"trash left after the rerun: {trash_items(inst.pkgs)}")
    if result.restored:
        what = "its entries put back"
    elif link == "copy":
        what = "its entries removed (a copy needs none)"
    else:
        what = "linked from a fresh extraction"
    failed = f", {len(result.failed)} failed" if result.failed else ""
    record(request, f"environment created {moment}", 1, f"{link}: {what}{failed}, rerun exit {code}")
    assert not problems, problems
    assert code == 0


# -- concurrent: a prune in a subprocess, an environment created at a random moment ------------


def _classify(doc: dict, mine: set[str], link: str, retried: bool) -> str:
    if retried:
        return "the install stopped with an error (its source vanished mid-link); a retry worked"
    planned = {r["entry"] for r in doc.get("remove", [])} & mine
    if not planned:
        return "created before the plan: none of its entries planned for removal"
    if {r["entry"] for r in doc.get("restored", [])} & mine:
        return "created during the prune: its entries put back"
    if link == "copy":
        return "installed by copy: its entries removed, as it needs none"
    return "created while or after its entries went: extracted again"


def test_environment_created_while_a_prune_runs(request, workdir: Path) -> None:
    inst = race_installation(workdir / "inst")
    pristine = workdir / "pristine"
    subprocess.run(["cp", "-a", str(inst.root), str(pristine)], check=True)
    existing = env_fingerprint(inst.envs_dir / "existing")
    # when a prune here makes its first change (the trash folder) and how long it takes, to
    # start most creations around that moment and the rest anywhere
    t0 = time.monotonic()
    proc = popen(inst, ME, "--yes")
    first_change = None
    while proc.poll() is None:
        if first_change is None and os.path.lexists(inst.pkgs / TRASH_DIR):
            first_change = time.monotonic() - t0
        time.sleep(0.0005)
    span = time.monotonic() - t0
    assert proc.returncode == 0 and first_change is not None
    # and how long creating an environment takes: it reaches the cache near its end
    t0 = time.monotonic()
    inst.create_env("probe", ["pkg00", "pkg01", "pkg02"])
    creating = time.monotonic() - t0
    rng = random.Random(SEED)
    outcomes: Counter = Counter()
    failures: list[str] = []
    for trial in range(RACE_TRIALS):
        shutil.rmtree(inst.root)
        subprocess.run(["cp", "-a", str(pristine), str(inst.root)], check=True)
        specs = rng.sample([f"pkg{i:02d}" for i in range(12)], 3) + (["base-lib"] if rng.random() < 0.3 else [])
        link = rng.choice(LINKS)
        proc = popen(inst, ME, "--yes", "--json", stdout=subprocess.PIPE)
        if rng.random() < 0.7:
            time.sleep(max(0.0, first_change - rng.uniform(0, 1.5 * creating)))
        else:
            time.sleep(rng.uniform(0, span))
        prefix = inst.prefix_of(f"new{trial}")
        retried = False
        try:
            inst.create_env(prefix, specs, link=link)
        except Exception as exc:
            # the prune moved an entry the installer had already chosen: the install stops with
            # an error naming the file (conda's transaction does the same); what it finished
            # linking must verify, and a retry must work and be protected
            if "No such file" not in str(exc):
                failures.append(f"trial {trial}: install failed: {exc}")
            if (prefix / "conda-meta").is_dir():
                broken = [f"{rel} {v}" for rel, v in env_fingerprint(prefix).items() if v.startswith("MISSING")]
                if broken:
                    failures.append(f"trial {trial}: the failed install left broken records: {broken[:3]}")
            proc.communicate(timeout=300)
            prefix = inst.create_env(inst.prefix_of(f"new{trial}-retry"), specs, link=link)
            retried = True
        out, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            failures.append(f"trial {trial}: prune exit {proc.returncode}: {err.decode()[-300:]}")
            continue
        mine = {f"{s}-1.0-0" for s in specs}
        outcomes[_classify(json.loads(out), mine, link, retried)] += 1
        problems = check_new_env(inst, prefix)
        rerun = run(inst, ME, "--yes")
        problems += check_new_env(inst, prefix)
        if rerun.code != 0 or trash_items(inst.pkgs):
            problems.append(f"rerun exit {rerun.code}, trash {trash_items(inst.pkgs)}")
        if env_fingerprint(inst.envs_dir / "existing") != existing:
            problems.append("the existing environment changed")
        if problems:
            failures.append(f"trial {trial} ({link}, {sorted(mine)}): {problems[:3]}")
    happened = "; ".join(f"{n} {what}" for what, n in outcomes.most_common())
    record(request, "environment created while `prune --yes` runs (random moment)", RACE_TRIALS, happened)
    print(happened)
    assert not failures, "\n".join(failures)


# -- another installer holding rattler's lock (pixi, rattler-build, py-rattler) ---------------------

_HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("lock", [".cache.lock", "pkg00-1.0-0.lock"])
def test_an_installer_holding_its_lock_keeps_what_it_locks(request, workdir: Path, who: User, lock: str) -> None:
    """An installer (another process, as rattler's do) holds the lock of the whole cache or of one
    entry while a real ``prune --yes`` runs: what it locks stays whole, the rest goes; once it
    lets go, a rerun removes the rest and each removed entry's lock file with it."""
    inst = race_installation(workdir / "inst", n=3, files=10)
    for i in range(3):
        (inst.pkgs / f"pkg{i:02d}-1.0-0.lock").write_bytes(b"\0" * 40)
    (inst.pkgs / ".cache.lock").write_bytes(b"")
    if who.uid != 0:
        chown_tree(workdir, who)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(inst.pkgs / lock)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        during = run(inst, who, "--yes", timeout=120)
    finally:
        holder.communicate(b"", timeout=30)
    assert during.code == 0, during.err
    assert "in use by another installer right now" in during.out, during.out
    problems = incomplete_entries(inst.pkgs)
    kept = [f"pkg{i:02d}-1.0-0" for i in range(3)] if lock == ".cache.lock" else ["pkg00-1.0-0"]
    problems += [f"{d} was removed while its lock was held" for d in kept if not (inst.pkgs / d).is_dir()]
    if lock != ".cache.lock":
        problems += [f"pkg0{i}-1.0-0 stayed" for i in (1, 2) if (inst.pkgs / f"pkg0{i}-1.0-0").exists()]
    after = run(inst, who, "--yes", timeout=120)
    problems += [] if after.code == 0 else [f"rerun exit {after.code}: {after.err[-300:]}"]
    problems += [f"{d} stayed after the lock was let go" for d in kept if (inst.pkgs / d).exists()]
    problems += [f"{p.name} stayed behind" for p in inst.pkgs.glob("pkg*.lock")]
    record(request, f"an installer holding `{lock}` during `prune --yes`", 1,
           "what it locks kept whole, the rest removed; after it lets go the rerun removes the rest and their "
           "lock files; exit 0 both times", who.label)
    assert not problems, problems
