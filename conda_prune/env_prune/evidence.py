"""Evidence: what the application uses, mapped to the packages whose files provide it."""

from __future__ import annotations

import configparser
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..appscan import (
    DYNAMIC,
    EXECUTABLE,
    KERNEL,
    LIBRARY,
    MODULE,
    NAMED,
    R_PACKAGE,
    TYPING,
    AppScan,
    Use,
)
from ..appscan.python import DEFAULT_ENGINE
from ..appscan.shell import PYTHON_PROGRAM
from ..environment import (
    Providers,
    distribution_names,
    library_name,
    module_owners,
    owner_key,
)
from ..graph import DependencyGraph
from ..records import EnvironmentData, PipDistribution, normalize_pip_name
from ..safeio import TEXT_LIMIT, read_bytes
from .results import Evidence, MissingModule

_COMMON_WORDS = frozenset({
    "test", "tests", "testing", "doc", "docs", "example", "examples", "benchmark", "benchmarks", "script",
    "scripts", "data", "build", "setup", "conftest", "util", "utils", "common", "src", "lib", "bin", "tools",
    "main", "app", "config", "settings", "core", "api", "version", "_version", "demo", "samples", "tmp",
})


#: uses that name one of several modules, any of which will do (``%matplotlib qt``: PyQt6,
#: PySide6, PyQt5 or PySide2): each installed one is used, the others are not missing
_ANY_OF = ("%matplotlib ", "%pylab ")


#: what opens a notebook: the front-ends and servers (modules), each kept for an app with notebooks
_NOTEBOOK_SERVERS = ("jupyterlab", "notebook", "nbclassic", "jupyter_server", "voila")


_KNOWN_CONSUMERS = {
    "pytest11": "pytest",
    "console_scripts": "",
    "gui_scripts": "",
    "egg_info.writers": "setuptools",
    "distutils.commands": "setuptools",
    "distutils.setup_keywords": "setuptools",
    "jupyter_client.kernel_provisioners": "jupyter_client",
}




@dataclass
class _Evidence:
    by_key: dict[str, list[Evidence]] = field(default_factory=dict)
    optional: dict[str, bool] = field(default_factory=dict)  # key -> every use of it optional
    doubts: list[str] = field(default_factory=list)  # each forbids removal (a kernel.json that cannot be read)

    def add(self, keys: Iterable[str], evidence: Evidence, optional: bool = False) -> None:
        for key in keys:
            self.by_key.setdefault(key, []).append(evidence)
            self.optional[key] = self.optional.get(key, True) and optional


def _kernel_argv(prefix: Path, kernel_json: str, name: str, doubts: list[str]) -> list[str]:
    """The command a kernel runs. A kernel.json that is there but cannot be read (a FIFO, a
    device, over 1 MiB, nested too deeply) is a doubt: what the kernel runs is unknown."""
    path = prefix / kernel_json
    try:
        data = json.loads(read_bytes(path, limit=1 << 20))
    except FileNotFoundError:
        return []
    except (OSError, ValueError, RecursionError) as exc:
        why = f"cannot be read ({exc.strerror or exc})" if isinstance(exc, OSError) else "is not valid JSON"
        doubt = (f"{path} {why}: what the kernel {name} runs is unknown; replace it with a regular file "
                 "(reinstall the kernel)")
        if doubt not in doubts:
            doubts.append(doubt)
        return []
    argv = data.get("argv") if isinstance(data, dict) else None
    return [a for a in argv if isinstance(a, str)] if isinstance(argv, list) else []


def collect_evidence(
    env: EnvironmentData, scan: AppScan, providers: Providers, graph: DependencyGraph
) -> tuple[_Evidence, list[MissingModule], list[Use], list[Use]]:
    evidence = _Evidence()
    missing: dict[str, list[Use]] = {}
    dynamic: list[Use] = []
    typing_only: list[Use] = []
    conda_names = {node.name: key for key, node in graph.nodes.items() if node.kind == "conda"}

    def module_use(use: Use) -> None:
        owners = module_owners(providers.modules, use.name, use.subnames) & graph.nodes.keys()
        if owners:
            evidence.add(owners, Evidence(MODULE, use.describe(), use.location), use.optional)
            return
        top = use.name.split(".")[0]
        if top in providers.stdlib or top in scan.first_party or use.how.endswith(DEFAULT_ENGINE):
            return  # (a default engine that is not installed: the call takes another one)
        if use.how.startswith(_ANY_OF):
            return  # one binding of several a backend may pick: those not installed are not missing
        missing.setdefault(top, []).append(use)

    notebook: Use | None = None  # the first notebook's kernel use
    for use in scan.uses:
        if use.kind == MODULE:
            module_use(use)
        elif use.kind == TYPING:
            typing_only.append(use)
        elif use.kind == DYNAMIC:
            dynamic.append(use)
        elif use.kind == EXECUTABLE:
            owners = providers.executables.get(use.name, set())
            if not owners and PYTHON_PROGRAM.match(use.name) and not use.name.startswith("pypy") and "conda:python" in graph.nodes:
                owners = {"conda:python"}
            evidence.add(owners & graph.nodes.keys(), Evidence(EXECUTABLE, use.describe(), use.location), use.optional)
        elif use.kind == R_PACKAGE:
            owners = providers.r_packages.get(use.name, set())
            if not owners:
                lower = {k.lower(): v for k, v in providers.r_packages.items()}
                owners = lower.get(use.name.lower(), set())
            if not owners:
                guess = f"r-{use.name.lower()}"
                owners = {conda_names[guess]} if guess in conda_names else set()
            evidence.add(owners & graph.nodes.keys(), Evidence(R_PACKAGE, use.describe(), use.location), use.optional)
        elif use.kind == KERNEL:
            owners, kernel_json = providers.kernels.get(use.name) or providers.kernels.get(
                use.name.lower(), (set(), ""))  # Jupyter finds kernels by their lowercased name
            evidence.add(owners & graph.nodes.keys(), Evidence(KERNEL, use.describe(), use.location))
            if use.how in ("kernelspec", "default kernel") and notebook is None:
                notebook = use
            if kernel_json:
                argv = _kernel_argv(env.prefix, kernel_json, use.name, evidence.doubts)
                from ..appscan.shell import argv_uses

                for kernel_use in argv_uses(argv, use.path, use.line, f"kernel {use.name}"):
                    if kernel_use.kind == MODULE:  # python -m ipykernel_launcher
                        module_use(replace(kernel_use, how=f"kernel {use.name}: {kernel_use.how}"))
                    elif kernel_use.kind == EXECUTABLE:
                        exe = providers.executables.get(kernel_use.name, set())
                        evidence.add(exe & graph.nodes.keys(),
                                     Evidence(EXECUTABLE, f"runs {kernel_use.name} (kernel {use.name})", use.location))
        elif use.kind == LIBRARY:
            owners = providers.libraries.get(library_name(use.name), set())
            evidence.add(owners & graph.nodes.keys(), Evidence(LIBRARY, use.describe(), use.location), use.optional)
    if notebook is not None:  # conservative: every front-end or server installed may be the one in use
        for module in _NOTEBOOK_SERVERS:
            owners = set(providers.modules.get(module, ())) & graph.nodes.keys()
            evidence.add(owners, Evidence(KERNEL, "these notebooks are opened with it", notebook.file))
    distributions = distribution_names(env)
    tops_by_lower = _tops_by_lower(providers)
    for name, files in scan.names.items():
        if "-" in name:  # a distribution name: importlib.metadata.version("scikit-learn")
            owners = {distributions[normalize_pip_name(name)]} if normalize_pip_name(name) in distributions else set()
        else:
            name = _installed_spelling(name, providers, tops_by_lower)
            top = name.split(".")[0]
            if top in providers.stdlib or top in _COMMON_WORDS or top not in providers.modules:
                continue
            owners = module_owners(providers.modules, name)
        owners &= graph.nodes.keys()
        if owners:
            where = files[0] if files else ""
            evidence.add(owners, Evidence(NAMED, f"names {name!r}", where))
    missing_modules = [
        MissingModule(top, tuple(sorted({u.location for u in uses})), all(u.optional for u in uses))
        for top, uses in sorted(missing.items())
    ]
    return evidence, missing_modules, dynamic, typing_only


def _tops_by_lower(providers: Providers) -> dict[str, list[str]]:
    tops: dict[str, list[str]] = {}
    for module in providers.modules:
        if "." not in module:
            tops.setdefault(module.lower(), []).append(module)
    return tops


def _installed_spelling(name: str, providers: Providers, tops_by_lower: dict[str, list[str]]) -> str:
    """A name given as a string (``engine="netcdf4"``) in the spelling of the installed module
    (``netCDF4``). Python's import is exact about case, but such a string is no import: the
    library maps it to its module itself, whatever the case. An exact match wins."""
    top, dot, rest = name.partition(".")
    if top in providers.modules:
        return name
    spellings = tops_by_lower.get(top.lower(), ())
    return f"{spellings[0]}{dot}{rest}" if len(spellings) == 1 else name


def _entry_point_groups(dist: PipDistribution, doubts: list[str]) -> dict[str, list[str]]:
    """A distribution's entry points by group. An ``entry_points.txt`` that is there but cannot be
    read (a FIFO, a device, over the size cap) is a doubt: which plugins it provides is unknown."""
    path = dist.path / "entry_points.txt"
    try:
        text = read_bytes(path, limit=TEXT_LIMIT).decode("utf-8", "replace")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        doubts.append(f"{path} cannot be read ({exc.strerror or exc}): which plugins {dist.name} provides is "
                      f"unknown; replace it with a regular file (reinstall {dist.name})")
        return {}
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error:
        return {}
    return {group: list(parser[group]) for group in parser.sections()}


def _consumers(group: str) -> set[str]:
    """Names (modules or distributions) of the package that loads an entry-point group."""
    if group in _KNOWN_CONSUMERS:
        known = _KNOWN_CONSUMERS[group]
        return {known} if known else set()
    lower = group.lower()
    names = {re.split(r"[.:]", lower)[0], lower.split("_")[0], lower.split("-")[0], lower.rstrip("0123456789")}
    return {n for n in names if n}


@dataclass(frozen=True)
class _Plugin:
    provider: str  # graph key
    consumers: frozenset[str]
    what: str  # "entry point pytest11 'xdist'"


def plugins_of(env: EnvironmentData, providers: Providers, graph: DependencyGraph,
               doubts: list[str] | None = None) -> list[_Plugin]:
    """The plugins the environment's distributions and extension files provide. ``doubts`` gets
    a line for each ``entry_points.txt`` that cannot be read."""
    doubts = [] if doubts is None else doubts
    record_names = env.name_of_dist
    plugins: list[_Plugin] = []
    for dist in env.pip:
        key = owner_key(dist, record_names)
        if key not in graph.nodes:
            continue
        for group, names in _entry_point_groups(dist, doubts).items():
            consumers = _consumers(group)
            if consumers:
                shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
                plugins.append(_Plugin(key, frozenset(consumers), f"entry point {group}: {shown}"))
    for consumer, keys in providers.plugin_files.items():
        for key in keys:
            if key in graph.nodes:
                plugins.append(_Plugin(key, frozenset({consumer}), f"{consumer} extension files"))
    return plugins


def names_of(key: str, graph: DependencyGraph, providers: Providers) -> set[str]:
    node = graph.nodes[key]
    names = {node.name.lower(), normalize_pip_name(node.name), normalize_pip_name(node.name).replace("-", "_")}
    names |= {m.lower() for m in providers.top_modules.get(key, ())}
    return names
