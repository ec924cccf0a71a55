"""The package-cache prune's public names, in one import: the plan (what goes and why, reading
only) is :mod:`.cache_plan`; the act (moving, restoring, deleting) is :mod:`.removal`."""

from __future__ import annotations

from .cache_plan import (  # noqa: F401
    COPY_ONLY,
    DOUBT,
    IN_USE,
    KEEP,
    KEEP_LATEST,
    KEEP_LIST,
    OTHER_OWNER,
    OUTSIDE_HARDLINK,
    OUTSIDE_SYMLINK,
    READ_ONLY,
    REMOVE,
    SYMLINKED_ENTRY,
    TARBALL,
    UNREADABLE,
    UNUSED,
    Action,
    CachePlan,
    Decision,
    Reason,
    Reference,
    judge,
    plan_cache_prune,
)
from .removal import PruneResult, execute_plan  # noqa: F401
