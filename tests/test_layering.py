"""Layering: tofsim <- completion <- leaderboard; importing tofsim or leaderboard loads neither torch nor open3d."""

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


LIGHT_MODULES = ["tofsim", "leaderboard", "tofsim.cli", "leaderboard.metrics", "leaderboard.score", "leaderboard.cli"]


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
