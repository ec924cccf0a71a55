"""Just enough of conda's match-spec syntax to name the package a spec is about."""

from __future__ import annotations

import re

_NAME_END = re.compile(r"[\s=<>!~\[(,;]")


def spec_name(spec: str) -> str:
    """The package name of a conda match spec.

    ``conda-forge::numpy >=1.22`` -> ``numpy``; ``python_abi 3.11.* *_cp311`` -> ``python_abi``;
    ``pkgs/main/linux-64::zlib==1.3`` -> ``zlib``; ``numpy[version='>=1']`` -> ``numpy``.
    """
    spec = spec.strip()
    if "::" in spec:
        spec = spec.rsplit("::", 1)[1]
    match = _NAME_END.search(spec)
    name = spec[: match.start()] if match else spec
    return name.strip().lower()
