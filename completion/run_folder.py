"""A model's run folder: the one place its file names and their readers and writers live.

``completion train`` and ``completion quantize`` fill a run folder; everything that takes a run (``predict``,
``export``, ``memory``, ``quantize`` of a float run, ``leaderboard reproduce``) reads it through `RunFolder`::

    best.pt             the best model on the validation split (model part of a checkpoint)
    last.pt             the latest training state (model, optimizer, scheduler, RNG states): resumes training
    config.json         {"train_config": TrainConfig.to_dict(), ...} written when training starts
    metrics.jsonl/.csv  one row per epoch
    memory.json         weight and activation memory (`completion.quant.report.memory_report`)
    quantization.json   a quantized run's bit plan, calibration and W* search
    model.onnx          the ONNX export (`completion export RUN --out RUN/model.onnx`)

Every file is published through `tofsim.provenance` (JSON as `write_json` writes it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from completion.errors import InputFileError
from tofsim.errors import TofsimError
from tofsim.provenance import read_json, write_json

__all__ = ["RunFolder", "BEST", "LAST", "CONFIG", "MEMORY", "QUANTIZATION", "ONNX"]

BEST = "best.pt"
LAST = "last.pt"
CONFIG = "config.json"
MEMORY = "memory.json"
QUANTIZATION = "quantization.json"
ONNX = "model.onnx"


@dataclass(frozen=True)
class RunFolder:
    """The files of one run folder.

    Attributes:
        path: the folder.
    """

    path: Path

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> RunFolder:
        """The run folder `path` (it need not exist yet)."""
        return cls(Path(path))

    @property
    def best(self) -> Path:
        """``best.pt``."""
        return self.path / BEST

    @property
    def last(self) -> Path:
        """``last.pt``."""
        return self.path / LAST

    @property
    def onnx(self) -> Path:
        """``model.onnx``."""
        return self.path / ONNX

    def checkpoint(self) -> Path | None:
        """The checkpoint a model is loaded from: ``best.pt``, else ``last.pt``, else None."""
        return next((p for p in (self.best, self.last) if p.is_file()), None)

    def train_config(self) -> dict[str, Any]:
        """The ``train_config`` table of ``config.json`` (a `TrainConfig.to_dict()`).

        Raises:
            InputFileError: the folder is not a training run (no ``config.json``) or the file is unreadable.
        """
        path = self.path / CONFIG
        if not path.is_file():
            raise InputFileError(f"{self.path} is not a training run (no {CONFIG})")
        return dict(self._read(path, "run config")["train_config"])

    def memory(self) -> dict[str, Any]:
        """``memory.json``.

        Raises:
            InputFileError: the file is missing or unreadable.
        """
        return dict(self._read(self.path / MEMORY, "memory report"))

    def write_memory(self, report: dict[str, Any]) -> Path:
        """Publish ``memory.json``."""
        return write_json(self.path / MEMORY, report, what="memory report")

    def quantization(self) -> dict[str, Any]:
        """``quantization.json``.

        Raises:
            InputFileError: the file is missing or unreadable.
        """
        return dict(self._read(self.path / QUANTIZATION, "quantization record"))

    @staticmethod
    def _read(path: Path, what: str) -> Any:  # noqa: ANN401 - the file's JSON
        try:
            return read_json(path, what=what)
        except TofsimError as err:  # one error family per package
            raise InputFileError(str(err)) from None
