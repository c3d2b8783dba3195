"""tofsim.provenance: atomic publication, the two JSON forms, hashes and version stamps."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tofsim.errors import InputFileError, OutputError
from tofsim.provenance import (
    atomic_folder,
    atomic_path,
    canonical_json,
    json_sha256,
    json_text,
    read_json,
    sha256_file,
    versions,
    write_json,
    write_text_atomic,
)


def test_atomic_path_publishes_whole_file_or_nothing(tmp_path):
    target = tmp_path / "a.txt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]  # no temporary left


def test_atomic_path_names_the_file_on_os_errors(tmp_path):
    with pytest.raises(OutputError, match=r"missing/a.json: cannot write manifest"):
        write_json(tmp_path / "missing" / "a.json", {}, what="manifest")


def test_atomic_folder_appears_whole_and_replaces_only_when_asked(tmp_path):
    out = tmp_path / "out"
    with atomic_folder(out) as tmp:
        (tmp / "x").write_text("1")
    assert (out / "x").read_text() == "1"
    with pytest.raises(OutputError, match="already exists and is not empty"), atomic_folder(out) as tmp:
        (tmp / "y").write_text("2")
    with atomic_folder(out, replace=True) as tmp:
        (tmp / "y").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["y"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_json_file_form_round_trips_and_nulls_non_finite(tmp_path):
    obj = {"b": np.float32(0.5), "a": [1.0, math.inf], "c": np.arange(2), "p": Path("x"), "n": math.nan}
    path = write_json(tmp_path / "t.json", obj)
    assert path.read_text() == json_text(obj)
    assert read_json(path) == {"b": 0.5, "a": [1.0, None], "c": [0, 1], "p": "x", "n": None}
    assert list(read_json(write_json(tmp_path / "s.json", obj, sort_keys=True))) == ["a", "b", "c", "n", "p"]
    assert path.read_text().endswith("}\n")


def test_write_json_rejects_values_json_cannot_hold(tmp_path):
    with pytest.raises(OutputError, match="not JSON-serialisable"):
        write_json(tmp_path / "t.json", {"x": object()})


def test_read_json_errors(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_json(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputFileError, match="invalid JSON"):
        read_json(tmp_path / "bad.json")


def test_canonical_json_and_hashes():
    a = {"z": 1, "a": {"y": np.int64(2), "b": (1, 2)}}
    assert canonical_json(a) == '{"a": {"b": [1, 2], "y": 2}, "z": 1}'
    assert json_sha256(a) == hashlib.sha256(canonical_json(a).encode()).hexdigest()
    assert json_sha256(a) == json_sha256(json.loads(canonical_json(a)))


def test_sha256_file(tmp_path):
    (tmp_path / "f").write_bytes(b"abc" * 1000)
    assert sha256_file(tmp_path / "f") == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_versions_in_order_asked_with_project_key():
    v = versions(["python", "tofbench", "numpy", "hdf5", "no-such-library-xyz"], project_key="tofsim")
    assert list(v) == ["python", "tofsim", "numpy", "hdf5", "no-such-library-xyz"]
    assert v["numpy"] == np.__version__
    assert v["no-such-library-xyz"] == "not installed"
