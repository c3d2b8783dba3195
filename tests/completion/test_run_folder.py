"""completion.run_folder: a run folder's files by name, through provenance."""

from __future__ import annotations

import pytest

from completion.errors import InputFileError
from completion.run_folder import RunFolder
from tofsim.provenance import write_json


def test_checkpoint_order_and_files(tmp_path):
    run = RunFolder.at(tmp_path)
    assert run.checkpoint() is None
    run.last.write_bytes(b"x")
    assert run.checkpoint() == tmp_path / "last.pt"
    run.best.write_bytes(b"y")
    assert run.checkpoint() == tmp_path / "best.pt"  # best.pt first
    assert run.onnx == tmp_path / "model.onnx"


def test_json_files_round_trip(tmp_path):
    run = RunFolder.at(tmp_path)
    write_json(tmp_path / "config.json", {"train_config": {"epochs": 3}, "torch_version": "x"})
    assert run.train_config() == {"epochs": 3}
    run.write_memory({"weights": {"bytes": 10}})
    assert run.memory() == {"weights": {"bytes": 10}}


def test_missing_files_are_one_clear_error(tmp_path):
    run = RunFolder.at(tmp_path)
    with pytest.raises(InputFileError, match="is not a training run \\(no config.json\\)"):
        run.train_config()
    with pytest.raises(InputFileError, match="memory.json: memory report not found"):
        run.memory()
    with pytest.raises(InputFileError, match="quantization.json: quantization record not found"):
        run.quantization()
