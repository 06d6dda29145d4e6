"""The layout rules of the code base, checked: no import cycle, no path tricks, UI code in its homes.

The import graph is read with ``ast`` from every module of ``fer_core`` and ``fer_ui`` — imports
inside functions included, so a cycle cannot hide in one — and searched for cycles.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from support.data import REPO

PACKAGES = ("fer_core", "fer_ui")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that ``path`` imports anywhere in its code (not only at the top)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            # "from fer_core.models import REGISTRY" depends on fer_core.models; "import fer_core.models.layers"
            # on that module. Keep the longest project module each name refers to.
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    found.discard(module_name(path))
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


class TestImportGraph:
    def test_the_cycle_finder_finds_cycles(self) -> None:
        assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
        assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None

    def test_no_import_cycle_in_the_project(self) -> None:
        modules = project_modules()
        # A package's __init__ re-exporting its submodules is not a dependency of those submodules.
        graph = {
            name: {m for m in imports_of(path, modules) if not (path.name == "__init__.py" and m.startswith(name))}
            for name, path in modules.items()
        }
        assert len(graph) > 20 and "fer_core.models.registry" in graph
        assert find_cycle(graph) is None

    def test_the_engine_never_imports_streamlit(self) -> None:
        for name, path in project_modules().items():
            if name.startswith("fer_core"):
                tree = ast.parse(path.read_text())
                imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
                imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
                assert not any(m.split(".")[0] in {"streamlit", "streamlit_webrtc", "plotly"} for m in imported), name

    def test_importing_the_registry_loads_no_heavy_library(self) -> None:
        code = (
            "import sys, fer_core.models, fer_core.artifacts, fer_core.cards\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'tensorflow', 'sklearn', 'streamlit'}))"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
        assert result.stdout.strip() == "[]"


def tracked_python_files() -> list[Path]:
    listing = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True)
    return [REPO / name for name in listing.stdout.split()]


def test_no_sys_path_edits_anywhere() -> None:
    """The project is installed (editable), so nothing needs to edit the import path."""
    offenders = []
    for path in tracked_python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys":
                offenders.append(str(path.relative_to(REPO)))
                break
    assert offenders == []


@pytest.mark.parametrize("script", ["benchmarks", "tools"])
def test_scripts_use_public_names_only(script: str) -> None:
    """Benchmarks and tools import no underscore name from the project."""
    private = []
    for path in sorted((REPO / script).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGES):
                private += [f"{path.name}: {a.name}" for a in node.names if a.name.startswith("_")]
    assert private == []


def test_pages_import_no_engine_internals_and_cache_nothing_themselves() -> None:
    """Pages lay out and call: cached singletons live in fer_ui.ui, never in a page."""
    for path in sorted((REPO / "pages").glob("*.py")):
        text = path.read_text()
        assert "@st.cache_resource" not in text and "@st.cache_data" not in text, path.name
        assert "sys.path" not in text
