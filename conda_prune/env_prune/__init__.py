"""Which packages of an environment an application needs, and why; everything else is unused.

The decision for one package is made in :func:`plan_env_prune`, in this order:

1. **Evidence.** Each use the application scan found (:mod:`conda_prune.appscan`) is mapped to
   the packages that provide it, from the environment's own files, never from names: a module
   to the packages whose files hold it (``tables`` -> pytables, ``skimage`` -> scikit-image, a
   namespace package such as ``google.cloud`` to every package with a part of it, the longest
   dotted prefix deciding), a program to the package owning ``bin/<name>``, an R package to the
   one owning ``lib/R/library/<name>``, a notebook kernel to the one owning
   ``share/jupyter/kernels/<name>``, a quoted module name (``"rest_framework"``) like an import.
2. **Always kept**: python and everything it needs; conda and its dependencies in the base
   environment (and in the environment running this command); ``--keep`` and the keep-list
   (``prune_keep`` in ``.condarc``); variant mutexes (``_openmp_mutex``); editable pip installs;
   a conda package pip installed over (its files in a pip ``RECORD``: conda's transaction would
   delete them).
3. **Needed**: the closure of 1 and 2 over conda ``depends`` and pip ``Requires-Dist``
   (:class:`~conda_prune.graph.DependencyGraph`), then the plugins the needed packages load by
   name (entry points such as ``pytest11``, Jupyter server and lab extensions), what the
   application's imports load through installed code at import time
   (:mod:`~conda_prune.env_prune.closure`: "pandas imports it when present"), the extras of
   needed distributions something asks for (:mod:`.extras`), file-less metapackages whose
   dependencies are used, kept with what they bring (:mod:`.metapackages`), and the native
   libraries needed binaries load (:mod:`.native`), to a fixed point.
4. Whatever stays anyway (a pip-installed package conda cannot remove) keeps what it needs.
5. Everything else is **unused**: "no import, no executable use, not needed by any used
   package". An unused package that a needed one may load on demand (an import inside one of
   its functions, a lazy submodule, its ``constrains`` or an extra of its ``Requires-Dist``)
   names how, with the chain; ``keep_optional`` (``--keep-optional``) keeps those.

Doubt stops removal: files of the application or records of the environment that could not be
read, or an application in which nothing was found to read.

What the user asked for (:func:`conda_prune.why.find_roots`: the history's real requests, or the
file named by ``--requested-from``, or the packages nothing depends on after a lockfile install)
decides nothing here; it is reported beside each verdict, and ``--export`` keeps the user's own
spec for a package whose request came from a file.
"""

from __future__ import annotations

from .evidence import collect_evidence
from .export import lean_environment
from .plan import check_removal, keep_patterns_unmatched, plan_env_prune, unsatisfied
from .results import (
    KEPT,
    NEEDED,
    UNUSED,
    UNUSED_REASON,
    USED,
    EnvPrunePlan,
    EnvPruneReport,
    Evidence,
    Loads,
    MissingModule,
    Unsatisfied,
    Verdict,
)

__all__ = [
    "KEPT", "NEEDED", "UNUSED", "UNUSED_REASON", "USED", "EnvPrunePlan", "Status", "EnvPruneReport", "Evidence", "Loads", "MissingModule",
    "Unsatisfied", "Verdict", "check_removal", "collect_evidence", "keep_patterns_unmatched", "lean_environment",
    "plan_env_prune", "unsatisfied",
]
