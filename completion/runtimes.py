"""How `completion predict` runs a model: torch, torch's int8 engine, or onnxruntime (float or int8).

``auto`` (the default) runs a quantized tofnet on its fastest integer path, onnxruntime with QLinearConv
(exported in memory with INT8 weights; docs/benchmarks.md has the measurements), and falls back to the next
path with a one-line note when a path is missing: onnxruntime -> torch's quantized engine -> the fake-quant torch
model. Float models, and anything on a GPU, run in torch; an ``.onnx`` file runs in onnxruntime.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import torch
from torch import nn

from completion.errors import CompletionError, ConfigError

__all__ = ["RUNTIMES", "LoadedModel", "load_for_runtime", "is_quantized", "cpu_has_vnni"]

RUNTIMES = ("auto", "torch", "torch-int8", "onnx")


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A model ready for `completion.predict.predict`.

    Attributes:
        model: ``forward(batch) -> (B, 1, H, W)`` metres.
        runtime: what runs it: ``torch``, ``torch-int8``, ``onnx`` or ``onnx-int8``.
        note: one line saying why a fallback was taken (None when none was).
    """

    model: nn.Module
    runtime: str
    note: str | None = None


def is_quantized(model: nn.Module) -> bool:
    """True for a model with LSQ quantized convolutions (`completion.quant.qat.QuantConv2d`)."""
    from completion.quant.qat import QuantConv2d

    return any(isinstance(m, QuantConv2d) for m in model.modules())


def cpu_has_vnni() -> bool | None:
    """Whether the CPU has an int8 dot-product instruction (VNNI or AMX); None where /proc/cpuinfo is unreadable."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return None
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


def _onnx_int8(model: nn.Module, threads: int | None) -> nn.Module:
    from completion.export import export_onnx
    from completion.runtime_onnx import OnnxModel

    stride = int(getattr(getattr(model, "core", None), "stride", 1))
    with tempfile.TemporaryDirectory(prefix="tofbench-int8-") as tmp:
        path = Path(tmp) / "model.onnx"
        # traced small (the graph takes any size); onnxruntime reads the file when the session is made
        export_onnx(model, path, height_px=8 * stride, width_px=8 * stride, weight_storage="int8")
        onnx_model = OnnxModel(path, threads=threads)
    onnx_model.name = f"onnx-int8:{getattr(model, 'name', type(model).__name__)}"
    return onnx_model


def _auto_quantized(model: nn.Module, threads: int | None) -> LoadedModel:
    from completion.quant.int8_torch import convert_int8

    notes = []
    try:
        return LoadedModel(_onnx_int8(model, threads), "onnx-int8", _vnni_note())
    except (CompletionError, ImportError) as err:
        notes.append(f"onnxruntime int8 unavailable ({err})")
    try:
        return LoadedModel(convert_int8(model), "torch-int8", "; ".join(notes) + ": using torch-int8")
    except CompletionError as err:
        notes.append(f"torch-int8 unavailable ({err})")
    return LoadedModel(model, "torch", "; ".join(notes) + ": running the fake-quant model in torch")


def _vnni_note() -> str | None:
    if cpu_has_vnni() is False:
        return (
            "this CPU has no VNNI: int8 convolutions add u8 x s8 pairs in int16, which can saturate (a few mm) "
            "and run slower than float"
        )
    return None


def load_for_runtime(
    model: str | Path, runtime: str = "auto", *, device: str | torch.device = "cpu", threads: int | None = None
) -> LoadedModel:
    """Load `model` to run on `runtime`.

    Args:
        model: an ``.onnx`` file, a run folder, a ``.pt`` checkpoint, a pretrained or a baseline name.
        runtime: one of `RUNTIMES`; ``onnx`` also takes a run folder holding ``model.onnx``.
        device: the torch device `predict` runs on; integer runtimes are CPU-only, so ``auto`` keeps torch on a GPU.
        threads: onnxruntime intra-op threads (None = its default).

    Returns:
        The model, the runtime that runs it, and a one-line note when ``auto`` fell back.

    Raises:
        ConfigError: an unknown runtime, or an integer runtime on a GPU device.
        CompletionError: an ``.onnx`` file for a torch runtime (or the reverse), or a model the runtime cannot run.
    """
    from completion.checkpoint import load_model

    if runtime not in RUNTIMES:
        raise ConfigError(f"--runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    on_cpu = torch.device(device).type == "cpu"
    if runtime in ("torch-int8", "onnx") and not on_cpu:
        raise ConfigError(f"--runtime {runtime} runs on the CPU only; use --device cpu or --runtime torch")
    path = Path(model)
    if path.suffix == ".onnx":
        if runtime in ("torch", "torch-int8"):
            raise CompletionError(
                f"{path} is an ONNX file for onnxruntime; --runtime {runtime} runs torch checkpoints: use "
                "--runtime onnx (or auto)"
            )
        runtime = "onnx"
    if runtime == "onnx":
        from completion.cli_quant import onnx_model_path
        from completion.runtime_onnx import OnnxModel

        return LoadedModel(OnnxModel(onnx_model_path(str(model)), threads=threads), "onnx")
    loaded = load_model(model)
    if runtime == "torch-int8":
        from completion.quant.int8_torch import convert_int8

        return LoadedModel(convert_int8(loaded), "torch-int8")
    if runtime == "auto" and on_cpu and is_quantized(loaded):
        return _auto_quantized(loaded, threads)
    return LoadedModel(loaded, "torch")
