"""docs/ARCHITECTURE.md matches the tree, and the seams it describes hold."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "conda_prune"


def _modules() -> set[str]:
    return {str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent.name in
            ("appscan", "env_prune", "trace")} - {"conda_prune/cli/__init__.py", "conda_prune/render/__init__.py"}


def _imports(path: Path) -> set[str]:
    """Absolute names of the project modules ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    if path.name == "__init__.py":
        package = ".".join(path.relative_to(REPO).parts[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.startswith("conda_prune")}


def test_the_architecture_page_lists_every_module_and_only_those() -> None:
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    listed = set(re.findall(r"`(conda_prune/[\w/]+\.py)`", text))
    assert listed == _modules()


def test_the_plan_never_imports_removal_and_render_never_imports_cli() -> None:
    readers = ["cache_plan.py", "caches.py", "envs.py", "records.py", "record_skim.py", "environment.py", "why.py", "roots.py",
               "graph.py", "history.py", "locations.py", "safeio.py", *(f"env_prune/{p.name}" for p in (PACKAGE / "env_prune").glob("*.py"))]
    for rel in readers:
        assert "conda_prune.removal" not in _imports(PACKAGE / rel), rel
    for path in (PACKAGE / "render").glob("*.py"):
        assert not any(m.startswith("conda_prune.cli") for m in _imports(path)), path.name


def test_no_module_is_over_600_lines_unless_it_says_why() -> None:
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        if text.count("\n") > 600:
            assert "that is why it is" in text, f"{path.relative_to(REPO)} has {text.count(chr(10))} lines"
