"""The cache prune's ``--json`` document. It imports nothing of rich: a ``--json`` run loads
no text renderer."""

from __future__ import annotations

from typing import Any

from ..cache_plan import CachePlan, Decision
from ..removal import PruneResult


def _decision_json(d: Decision) -> dict[str, Any]:
    return {
        "cache": str(d.entry.cache),
        "entry": d.entry.dist,
        "name": d.entry.name,
        "version": d.entry.version,
        "build": d.entry.build,
        "action": d.action,
        "reason_code": d.code,
        "reason": d.reason,
        "evidence": d.evidence,
        "paths": sorted(str(p) for p in d.paths),
        "bytes": d.freed_bytes,
        "apparent_bytes": d.apparent_bytes,
        "used_by": sorted({str(u.prefix) for u in d.users}),
    }


def plan_json(plan: CachePlan, *, dry_run: bool, result: PruneResult | None = None, verbose: int = 0) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "dry_run": dry_run,
        "success": result is None or not result.failed,
        "reclaimable_bytes": plan.freed_bytes,
        "apparent_bytes": plan.apparent_bytes,
        "remove": [_decision_json(d) for d in plan.removals],
        "kept": [_decision_json(d) for d in plan.kept_unreferenced()],
        "in_use_count": len(plan.in_use()),
        "caches": [
            {
                "path": str(c.path),
                "real_path": str(c.real),
                "exists": c.exists,
                "read_only": c.read_only,
                "entries": len(c.entries),
            }
            for c in plan.caches
        ],
        "environments": [{"prefix": str(e.prefix), "found": e.how} for e in plan.discovery.environments],
        "missing_environments": [
            {"prefix": str(m.prefix), "registry": str(m.registry), "unreachable": m.unreachable}
            for m in plan.discovery.missing
        ],
        "interrupted_leftovers": [str(item) for _, item, _ in plan.leftovers],
        "interrupted_leftovers_kept": [
            {"path": str(item), "dist": d.entry.dist, "code": str(d.code), "reason": d.reason}
            for _, item, d in plan.leftovers_kept
        ],
        "problems": [{"path": str(p.path), "message": p.message} for p in plan.problems],
        "blocked_by": plan.blockers,
    }
    if verbose:
        doc["in_use"] = [_decision_json(d) for d in plan.in_use()]
    if result is not None:
        doc["removed"] = sorted(d.entry.dist for d in result.removed)
        doc["restored"] = [{"entry": d.entry.dist, "reason": why} for d, why in result.restored]
        doc["failed"] = [{"entry": d.entry.dist, "reason": why} for d, why in result.failed]
        doc["finished_leftovers"] = [str(item) for item in result.finished_leftovers]
        doc["restored_leftovers"] = [{"path": str(item), "reason": why} for item, why in result.restored_leftovers]
        doc["freed_bytes"] = result.freed_bytes
    return doc
