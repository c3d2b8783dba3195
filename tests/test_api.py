"""The package roots' public surface (kornia's API-surface test): the exact `__all__` of each root, its verbs,
and the worked example that uses them (docs/examples/api_quickstart.py)."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = REPO_ROOT / "docs" / "examples" / "api_quickstart.py"

#: Exactly what each package root exports; a change here is a change of the public API.
ROOT_ALL = {
    "tofsim": [
        "DenseFrame",
        "Intrinsics",
        "SPOT_DTYPE",
        "Sample",
        "SpotStatus",
        "TofsimError",
        "convert",
        "generate",
        "open_dataset",
        "range_to_z",
        "z_to_range",
        "__version__",
    ],
    "completion": ["predict", "train"],
    "leaderboard": ["report", "score"],
}

#: (root, verb, module that defines it, its name there).
VERBS = [
    ("tofsim", "generate", "tofsim.pipeline", "generate"),
    ("tofsim", "convert", "tofsim.pipeline", "convert"),
    ("completion", "train", "completion.train", "train"),
    ("completion", "predict", "completion.predict", "predict"),
    ("leaderboard", "score", "leaderboard.score", "score"),
    ("leaderboard", "report", "leaderboard.report", "write_report"),
]


@pytest.mark.parametrize("package", sorted(ROOT_ALL))
def test_root_all_is_exactly_the_public_api(package):
    if package == "completion":
        pytest.importorskip("torch")
    module = importlib.import_module(package)
    assert list(module.__all__) == ROOT_ALL[package]
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    assert set(module.__all__) <= set(dir(module))


_CHECK_VERBS = """
import importlib, sys
verbs = {verbs!r}
def check():
    for root, verb, module, name in verbs:
        got = getattr(importlib.import_module(root), verb)
        assert got is getattr(sys.modules[module], name), (root, verb, got)
if {submodules_first}:
    for _, _, module, _ in verbs:
        importlib.import_module(module)  # binds e.g. the module completion.train to completion's attribute `train`
check()
for _, _, module, _ in verbs:
    importlib.import_module(module)
check()
"""


@pytest.mark.parametrize("submodules_first", [True, False], ids=["submodules-first", "verbs-first"])
def test_verbs_are_the_functions_whatever_was_imported_first(submodules_first):
    """`completion.train` is the function even after ``import completion.train`` (which binds the module)."""
    pytest.importorskip("torch")
    code = _CHECK_VERBS.format(verbs=VERBS, submodules_first=submodules_first)
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, capture_output=True, text=True)


def test_unknown_root_attribute_raises_attribute_error():
    import completion
    import tofsim

    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        tofsim.nope  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        completion.nope  # noqa: B018


def test_quickstart_example_runs(tmp_path):
    """The worked example: generate -> train -> predict -> score -> report, on eight 160 x 120 frames."""
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("api_quickstart", QUICKSTART)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    index = example.main(tmp_path)
    assert index == tmp_path / "scores" / "report" / "index.html"
    assert index.is_file()
    metrics = (tmp_path / "scores" / "metrics.csv").read_text()
    assert "tofnet-tiny" in metrics and "nearest" in metrics
