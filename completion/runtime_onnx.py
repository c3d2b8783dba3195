"""Run an exported model with onnxruntime on the CPU (or CUDA when onnxruntime-gpu is installed)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from completion.errors import CompletionError, InputFileError, ShapeError
from completion.prefill import SPOT_STATUS_CHANNELS

__all__ = ["OnnxRunner", "OnnxModel"]


class OnnxRunner:
    """An onnxruntime session over a model written by `completion.export.export_onnx`.

    Args:
        path: the .onnx file.
        threads: intra-op threads (None = onnxruntime's default).

    Files from `completion.export.export_onnx` take any height and width; the runner pads the inputs (replicate,
    as the torch model does) to a multiple of the network's stride and crops the output back. Files written
    before 2026-12-07 have a fixed size (metadata ``tofbench.input_hw``), and those that store INT2 weights
    without the INT8 ``Cast`` run with basic optimisations only: onnxruntime's optimiser turns
    DequantizeLinear(INT2) -> Conv into an invalid integer convolution.

    Raises:
        InputFileError: missing or unreadable file, or a torch checkpoint (named as such).
        CompletionError: when onnxruntime is not installed.
    """

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        try:
            import onnx
            import onnxruntime as ort
        except ImportError as e:
            raise CompletionError("the onnx runtime needs the onnx extra: pip install 'tofbench[onnx]'") from e
        self.path = Path(path)
        if not self.path.is_file():
            raise InputFileError(f"{self.path}: ONNX model not found")
        with open(self.path, "rb") as f:
            torch_zip = f.read(2) == b"PK"  # torch.save writes a zip archive; an ONNX file is a protobuf
        if torch_zip or self.path.suffix in (".pt", ".pth"):
            raise InputFileError(
                f"{self.path} is a torch checkpoint (for the torch and torch-int8 runtimes), not an ONNX file for "
                "onnxruntime: run it with --runtime auto or torch-int8, or export it with `completion export`"
            )
        try:
            model = onnx.load(str(self.path))
        except Exception as e:  # onnx raises several unrelated types for a bad file
            raise InputFileError(f"{self.path}: not a readable ONNX model ({e})") from e
        meta = {p.key: p.value for p in model.metadata_props}
        self.input_keys = tuple(meta.get("tofbench.input_keys", "rgb,prefill,dist").split(","))
        # files exported before the key existed corrected the nearest fill
        self.prefill = meta.get("tofbench.prefill", "nearest")
        hw = meta.get("tofbench.input_hw")
        self.input_hw = tuple(int(v) for v in hw.split(",")) if hw else None
        self.stride = int(meta.get("tofbench.stride", "1"))
        int2 = {t.name for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT2}
        has_int2 = any(n.op_type == "DequantizeLinear" and n.input[0] in int2 for n in model.graph.node)
        opts = ort.SessionOptions()
        # idle workers spinning after each call slow down whatever runs next on a small CPU (torch, scoring)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads is not None:
            opts.intra_op_num_threads = threads
        if has_int2:
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(str(self.path), opts, providers=providers)

    def __call__(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        """Depth (1, 1, H, W) float32 metres from a batch of (1, C, H, W) float32 arrays keyed like the export.

        Raises:
            ShapeError: when a fixed-size file (written before dynamic sizes) gets another input size.
        """
        batch = _with_default_status(batch, self.input_keys)
        feed = {k: np.ascontiguousarray(batch[k], dtype=np.float32) for k in self.input_keys}
        h, w = next(iter(feed.values())).shape[-2:]
        if self.input_hw is not None and (h, w) != self.input_hw:
            raise ShapeError(
                f"{self.path.name} was exported for {self.input_hw[0]}x{self.input_hw[1]} inputs, got "
                f"{h}x{w}; re-export it (exports are now size-independent)"
            )
        ph, pw = (-h) % self.stride, (-w) % self.stride
        if ph or pw:
            feed = {k: np.pad(v, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="edge") for k, v in feed.items()}
        return self.session.run(None, feed)[0][..., :h, :w]


class OnnxModel(torch.nn.Module):
    """`OnnxRunner` behind the model interface (`forward(batch) -> (B, 1, H, W)` metres), for `predict`.

    Batches are run one sample at a time (the graph has batch size 1).
    """

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        super().__init__()
        self.runner = OnnxRunner(path, threads=threads)
        self.name = f"onnx:{Path(path).name}"
        self.prefill = self.runner.prefill
        self.config = {"path": str(path), "input_keys": list(self.runner.input_keys), "prefill": self.prefill}

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Depth (B, 1, H, W) float32 metres."""
        outs = []
        for b in range(next(iter(batch.values())).shape[0]):
            feed = {k: batch[k][b : b + 1].detach().cpu().numpy() for k in self.runner.input_keys if k in batch}
            outs.append(torch.from_numpy(self.runner(feed)))
        return torch.cat(outs).to(batch[self.runner.input_keys[0]].device)


def _with_default_status(batch: Mapping[str, np.ndarray], keys: tuple[str, ...]) -> Mapping[str, np.ndarray]:
    """`batch`, with zero ``spot_status`` maps (every spot valid) where the graph reads them and it has none."""
    if "spot_status" not in keys or "spot_status" in batch:
        return batch
    prefill = np.asarray(batch["prefill"])
    status = np.zeros((prefill.shape[0], len(SPOT_STATUS_CHANNELS), *prefill.shape[-2:]), dtype=np.float32)
    return {**batch, "spot_status": status}
