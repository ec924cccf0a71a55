"""Metapackages: a conda package with no files of its own, which only brings its dependencies.

conda-forge's ``matplotlib`` is one: ``matplotlib-base`` holds the code, ``pyqt`` the GUI backend
it loads by name at ``plt.show()``. An application imports ``matplotlib`` (the module of
``matplotlib-base``), so the metapackage and pyqt look unused; removing them turns ``plt.show()``
silently non-interactive. A metapackage one of whose dependencies is used (not merely needed by
python or another always-kept package) therefore stays, with everything it brings:
"you asked for matplotlib; it brings pyqt, the GUI backend, and tornado (matplotlib-base is used)".

:class:`Metapackages` is an expander of the plan; its evidence has the kind :data:`METAPACKAGE`,
which the plan turns into a *kept* verdict.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..graph import DEPENDS, DependencyGraph
from ..roots import RootSet
from .results import Evidence, Loads

METAPACKAGE = "metapackage"

#: what a dependency is for, where its name alone does not say it
_ROLES = {name: "the GUI backend" for name in ("pyqt", "pyqt5", "pyqt6", "pyside2", "pyside6", "qt", "tk")}


def _listed(names: list[str]) -> str:
    items = [f"{n}, {_ROLES[n]}" if n in _ROLES else n for n in names]
    if len(items) == 1:
        return items[0]
    if len(items) == 2 and not any(n in _ROLES for n in names):
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + ", and " + items[-1]


class Metapackages:
    """Keeps file-less conda packages whose dependencies are used. ``baseline``: what is needed
    whatever the application does (python and its closure, the always-kept packages): a
    dependency there is not a sign that the metapackage is in use. ``asked_for``: what the user
    asked for, to say so."""

    def __init__(self, graph: DependencyGraph, baseline: Iterable[str], asked_for: RootSet | None) -> None:
        self.graph = graph
        self.baseline = set(baseline)
        self.asked_for = asked_for
        self.candidates = [
            key for key, node in graph.nodes.items()
            if node.kind == "conda" and node.record is not None and not node.record.files
            and not node.name.startswith("_")  # a variant mutex: kept by its own rule
            and any(e.kind == DEPENDS for e in graph.children.get(key, ()))
        ]

    def __call__(self, needed: frozenset[str]) -> Loads:
        loads = Loads()
        for key in self.candidates:
            if key in needed:
                continue
            children = sorted({e.child for e in self.graph.children.get(key, ()) if e.kind == DEPENDS})
            used = [c for c in children if c in needed and c not in self.baseline]
            if not used:
                continue
            name = self.graph.nodes[key].name
            used_names = [self.graph.nodes[c].name for c in used]
            brings = [self.graph.nodes[c].name for c in children if c not in needed]
            is_are = "is" if len(used) == 1 else "are"
            asked = self.asked_for is not None and any(r.asked for r in self.asked_for.of(key))
            if asked and brings:
                reason = f"you asked for {name}; it brings {_listed(brings)} ({_listed(used_names)} {is_are} used)"
            elif asked:
                reason = f"you asked for {name}, a metapackage of {_listed(used_names)}, which {is_are} used"
            elif brings:
                reason = (f"a metapackage (no files of its own) for {_listed(used_names)}, which {is_are} used: "
                          f"it brings {_listed(brings)}")
            else:
                reason = f"a metapackage (no files of its own) for {_listed(used_names)}, which {is_are} used"
            loads.needed[key] = [Evidence(METAPACKAGE, reason)]
        return loads
