"""``conda prune -n ENV --app PATH``: not available yet."""

from __future__ import annotations

from ..exceptions import UsageError


def execute_env_prune(args, options, output, locations) -> int:
    raise UsageError("conda prune --app is not available in this version; only the package-cache prune is")
