"""Layering: tofsim <- completion <- leaderboard; importing a package root loads neither torch nor open3d."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

ALLOWED = {
    "tofsim": {"tofsim"},
    "completion": {"tofsim", "completion"},
    "leaderboard": {"tofsim", "completion", "leaderboard"},
}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_upward_imports(package):
    bad = []
    for path in (REPO_ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                if top in ALLOWED and top not in ALLOWED[package]:
                    bad.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} imports {mod}")
    assert not bad, "upward imports:\n" + "\n".join(bad)


LIGHT_MODULES = [
    "tofsim",
    "leaderboard",
    "completion",
    "tofsim.cli",
    "leaderboard.metrics",
    "leaderboard.score",
    "leaderboard.cli",
]


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_import_does_not_load_heavy_modules(module):
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "heavy = [m for m in ('torch', 'open3d') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert out.stdout.strip() == "", f"importing {module} loaded {out.stdout.strip()}"


def _module_imports() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere (module level or inside functions; not TYPE_CHECKING)."""
    paths = {}
    for package in ALLOWED:
        for path in (REPO_ROOT / package).rglob("*.py"):
            rel = path.relative_to(REPO_ROOT).with_suffix("")
            paths[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = path
    graph = {}
    for name, path in paths.items():
        deps = set()
        stack: list[ast.AST] = [ast.parse(path.read_text(), filename=str(path))]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
                continue
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name in paths}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    deps.add(full if full in paths else node.module)
            stack.extend(ast.iter_child_nodes(node))
        graph[name] = {d for d in deps if d in paths and d != name}
    return graph


def test_no_import_cycles():
    graph = _module_imports()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*path[path.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*path, dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
