"""SIGKILL a real ``conda-prune prune --yes`` at random points, mostly while it deletes.

Each trial restores the same generated installation (``cp -a`` of one tree keeps every
hardlink between environments and cache), starts the prune in a subprocess and kills it:
most trials wait until everything was moved into the trash folder and then until a random
number of the moved items is left in it (so the kill lands mid-deletion on any machine); the
rest kill at a random time from the start (calibrated by unkilled runs). After the kill, every environment must verify and no entry conda would link
from may be incomplete; a rerun (itself killed again in some trials) must finish the prune.

Trials and seed: ``CONDA_PRUNE_SAFETY_TRIALS`` (default 50, as root),
``CONDA_PRUNE_SAFETY_USER_TRIALS`` (as an unprivileged user; default a fifth of that) and
``CONDA_PRUNE_SAFETY_SEED``. The size of the installation: ``CONDA_PRUNE_SAFETY_ENTRIES``
unused entries of ``CONDA_PRUNE_SAFETY_FILES`` files each.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from conda_prune.cache_prune import IN_USE, OUTSIDE_HARDLINK, plan_cache_prune
from conda_prune.caches import TRASH_DIR
from conda_prune.removal import own_trash_folder

from .installs import crash_installation, many_files
from .support import (
    ME, SEED, TRIALS, USER_TRIALS, User, chown_tree, count_files, diff_snapshots, env_fingerprint,
    incomplete_entries, kill, popen, record, rmtree, run, snapshot, trash_items, verify_env,
)

pytestmark = pytest.mark.safety

ENTRIES = int(os.environ.get("CONDA_PRUNE_SAFETY_ENTRIES", "30"))
FILES = int(os.environ.get("CONDA_PRUNE_SAFETY_FILES", "200"))


class Template:
    """One generated installation, a pristine copy of it, and what a prune must do to it."""

    def __init__(self, work: Path, who: User) -> None:
        self.inst = crash_installation(work / "inst", unused=ENTRIES, files=FILES)
        shutil.rmtree(self.inst.root / "stage")  # build leftovers: nothing a prune looks at
        self.who = who
        plan = plan_cache_prune(self.inst.locations())
        self.remove = {d.entry.dist: [p.name for p in d.paths] for d in plan.removals}
        self.keep = {d.entry.dist: d.code for d in plan.decisions if d.action == "keep"}
        # the installation is what it claims to be
        assert self.keep == {
            "app-hard-1.0-0": IN_USE, "libh-1.0-0": IN_USE, "mutex-1.0-0": IN_USE,
            "app-soft-1.0-0": IN_USE, "proj-1.0-0": OUTSIDE_HARDLINK,
        }, self.keep
        assert {"app-copy-1.0-0", "gone-1.0-0", "junk00-1.0-0"} <= set(self.remove)
        # names (files, folders, the entries themselves) a prune moves into the trash
        self.removed_files = sum(count_files(self.inst.pkgs / n) + 1 for ps in self.remove.values() for n in ps)
        self.envs = [self.inst.envs_dir / "hard", self.inst.envs_dir / "soft", self.inst.envs_dir / "copied",
                     self.inst.root / "project" / ".env"]
        if who.uid != 0:
            chown_tree(self.inst.root, who)
        self.fingerprints = {env: env_fingerprint(env) for env in self.envs}
        assert all(self.fingerprints.values())
        self.outside = self._outside()
        self.pristine = work / "pristine"
        subprocess.run(["cp", "-a", str(self.inst.root), str(self.pristine)], check=True)

    def _outside(self) -> dict:
        return {k: v for part in ("base", "home", "project") for k, v in snapshot(self.inst.root / part).items()}

    def restore(self) -> None:
        rmtree(self.inst.root)
        subprocess.run(["cp", "-a", str(self.pristine), str(self.inst.root)], check=True)

    @property
    def trash(self) -> Path:
        return self.inst.pkgs / TRASH_DIR

    def in_place(self) -> int:
        """How many of the paths the prune removes are still where conda looks."""
        return sum(os.path.lexists(self.inst.pkgs / n) for ps in self.remove.values() for n in ps)

    def phase(self) -> str:
        """Where the kill landed, read from what it left."""
        total = sum(len(ps) for ps in self.remove.values())
        left = self.in_place()
        if not os.path.lexists(self.trash):
            return "before any change" if left == total else "after deletion"
        if left:
            return "while moving entries to the trash"
        items = trash_items(self.inst.pkgs)
        if sum(count_files(self.trash / i) + 1 for i in items) >= self.removed_files:
            return "after the move, before deleting"
        if items:
            return "mid-deletion"
        return "after deletion"

    def invariants(self) -> list[str]:
        broken = incomplete_entries(self.inst.pkgs)
        for env in self.envs:
            broken += verify_env(env, self.fingerprints[env])
        broken += diff_snapshots(self.outside, self._outside())
        for dist in self.keep:
            if not (self.inst.pkgs / dist / "info" / "index.json").is_file():
                broken.append(f"kept entry {dist} is gone")
        return broken

    def finished(self) -> list[str]:
        broken = []
        if os.path.lexists(self.trash):
            broken.append(f"{self.trash} still exists: {trash_items(self.inst.pkgs)[:3]}")
        left = [n for ps in self.remove.values() for n in ps if os.path.lexists(self.inst.pkgs / n)]
        if left:
            broken.append(f"unused entries left: {left[:5]}")
        return broken


def _wait_for_trash(template: Template, proc: subprocess.Popen, deadline: float) -> float | None:
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.lexists(template.trash):
            return time.monotonic()
        time.sleep(0.0003)
    return None


def _wait_until_deleting(template: Template, proc: subprocess.Popen, rng: random.Random, deadline: float) -> None:
    """Return when the trash holds a random number of the moved items: after the move (some
    trials: while the prune re-checks them) or while it deletes them, whatever the machine's speed."""
    total = sum(len(ps) for ps in template.remove.values())
    target = total if rng.random() < 0.15 else rng.randint(1, total - 1)
    while time.monotonic() < deadline and proc.poll() is None:
        if template.in_place() == 0:  # everything moved out of conda's sight
            if len(trash_items(template.inst.pkgs)) <= target:
                return
        time.sleep(0.0002)


def _calibrate(template: Template) -> tuple[float, float]:
    """Seconds from start to the first change, and how long the trash folder lived (moving
    entries into it, re-checking them, deleting them), in unkilled runs."""
    starts, windows = [], []
    for _ in range(3):
        template.restore()
        t0 = time.monotonic()
        proc = popen(template.inst, template.who, "--yes")
        seen = _wait_for_trash(template, proc, t0 + 120)
        assert seen is not None, "the prune never made a trash folder"
        while os.path.lexists(template.trash) and proc.poll() is None:
            time.sleep(0.0003)
        gone = time.monotonic()
        proc.wait()
        assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
        starts.append(seen - t0)
        windows.append(gone - seen)
        assert not template.finished() and not template.invariants()
    return sorted(starts)[1], sorted(windows)[1]


def crash_trials(template: Template, trials: int, seed: int) -> tuple[Counter, list[str], str]:
    rng = random.Random(seed)
    to_trash, window = _calibrate(template)
    print(f"calibration: first change after {to_trash:.3f}s, trash lived {window:.3f}s")
    phases: Counter = Counter()
    failures: list[str] = []
    left_counts: list[int] = []
    for trial in range(trials):
        template.restore()
        aimed = rng.random() < 0.8
        t0 = time.monotonic()
        proc = popen(template.inst, template.who, "--yes")
        if aimed:
            _wait_until_deleting(template, proc, rng, t0 + 120)
        else:
            time.sleep(rng.uniform(0, to_trash + window))
        landed = kill(proc)
        phase = template.phase() if landed else "after the run had finished"
        phases[phase] += 1
        if phase == "mid-deletion":
            left = sum(count_files(template.trash / i) + 1 for i in trash_items(template.inst.pkgs))
            left_counts.append(left)
        if not landed and proc.returncode != 0:
            failures.append(f"trial {trial}: the prune failed on its own ({proc.returncode})")
        broken = template.invariants()
        if broken:
            failures.append(f"trial {trial} ({phase}): after the kill {broken[:3]}")
        # some reruns are killed too, then a last one must finish
        if trial % 3 == 1 and (os.path.lexists(template.trash) or template.in_place()):
            again = popen(template.inst, template.who, "--yes")
            time.sleep(rng.uniform(0, to_trash + window))
            if kill(again):
                phases["rerun killed as well"] += 1
            broken = template.invariants()
            if broken:
                failures.append(f"trial {trial}: after killing the rerun {broken[:3]}")
        rerun = run(template.inst, template.who, "--yes", "--json")
        if rerun.code != 0 or rerun.json().get("failed"):
            failures.append(f"trial {trial}: rerun exit {rerun.code}: {rerun.err.strip()[:300]}")
        broken = template.invariants() + template.finished()
        if broken:
            failures.append(f"trial {trial} ({phase}): after the rerun {broken[:3]}")
    spread = ""
    if left_counts:
        spread = (f" ({min(left_counts)} to {max(left_counts)} of the {template.removed_files} "
                  "files and folders still to delete)")
    return phases, failures, spread


def _describe(phases: Counter, spread: str, trials: int) -> str:
    order = ["mid-deletion", "after the move, before deleting", "while moving entries to the trash",
             "before any change", "after deletion",
             "after the run had finished"]
    parts = [f"{phases[p]} {p}" + (spread if p == "mid-deletion" else "") for p in order if phases[p]]
    text = f"{trials} kills: " + ", ".join(parts)
    if phases["rerun killed as well"]:
        text += f"; {phases['rerun killed as well']} reruns killed as well"
    return text + f"; installation of {ENTRIES + 7} entries, {ENTRIES * FILES} files to delete"


def _crash(request: pytest.FixtureRequest, workdir: Path, who: User, trials: int) -> None:
    if trials <= 0:
        pytest.skip("no trials asked for")
    template = Template(workdir, who)
    phases, failures, spread = crash_trials(template, trials, SEED + who.uid)
    happened = _describe(phases, spread, trials)
    print(happened)
    record(request, "SIGKILL during `prune --yes`, then rerun", trials, happened, who.label)
    assert not failures, "\n".join(failures)
    # a kill that never lands mid-deletion proves little: the aim must work
    assert phases["mid-deletion"] >= trials // 3, phases


def test_sigkill_at_random_points_never_loses_data(request: pytest.FixtureRequest, workdir: Path) -> None:
    """As root when run as root, else as the current user."""
    _crash(request, workdir, ME, TRIALS)


def test_sigkill_as_unprivileged_user_never_loses_data(request: pytest.FixtureRequest, workdir: Path,
                                                       unprivileged: User) -> None:
    _crash(request, workdir, unprivileged, USER_TRIALS)


# -- what a kill leaves, finished by the next run (deterministic) ---------------------------------

LEFTOVERS = {
    # id: (link of the environment, part deleted before the "kill", refill the slot, exit, entry after)
    "used only by a copy-installed environment": ("copy", True, False, 0, "removed"),
    "partly deleted, now used, extracted again meanwhile": ("hardlink", True, True, 0, "the fresh copy"),
    "partly deleted, now used": ("hardlink", True, False, 4, "left in the trash, reported"),
    "whole, now used": ("hardlink", False, False, 0, "put back whole"),
}


@pytest.mark.parametrize("case", list(LEFTOVERS))
def test_trash_left_by_a_kill_is_finished_or_put_back_whole(request: pytest.FixtureRequest, workdir: Path, case: str) -> None:
    from builder import Installation

    link, partial, refill, code, after = LEFTOVERS[case]
    inst = Installation(workdir / "inst")
    inst.package("late", files=many_files("late", 40))
    prefix = inst.create_env("newcomer", ["late"], link=link)
    before = env_fingerprint(prefix)
    trash = inst.pkgs / TRASH_DIR
    own_trash_folder(inst.pkgs).mkdir(parents=True, mode=0o700)
    left = own_trash_folder(inst.pkgs) / "late-1.0-0~4242-1"
    os.rename(inst.pkgs / "late-1.0-0", left)  # what a prune killed after its move leaves
    if partial:  # ... or killed while deleting
        for f in sorted((left / "share" / "late").rglob("*.txt"))[::2]:
            f.unlink()
    if refill:  # conda extracted it again for the newcomer
        inst.extract_to_cache(inst.packages["late-1.0-0"])
    result = run(inst, ME, "--yes")
    assert result.code == code, result.err + result.out
    assert "Traceback" not in result.err
    problems = incomplete_entries(inst.pkgs) + verify_env(prefix, before)
    entry = inst.pkgs / "late-1.0-0"
    if after == "removed":
        problems += [f"{entry} still there"] if os.path.lexists(entry) else []
    elif after in ("the fresh copy", "put back whole"):
        problems += [] if (entry / "info" / "index.json").is_file() else [f"{entry} missing"]
    else:  # never put back incomplete: kept in the trash, and the user told what to do
        problems += [f"{entry} put back incomplete"] if os.path.lexists(entry) else []
        assert os.path.lexists(left)
        line = next((ln for ln in result.out.splitlines() if "late-1.0-0" in ln and "Reinstall" in ln), "")
        assert str(trash) in line, result.out
    if after != "left in the trash, reported" and os.path.lexists(trash):
        problems.append(f"{trash} still there")
    record(request, f"trash left by a kill: {case}", 1, f"exit {result.code}; the entry: {after}")
    assert not problems, problems
