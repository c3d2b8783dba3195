"""How `completion predict` runs a model: torch, torch's int8 engine, or onnxruntime (float or int8).

``auto`` (the default) runs a quantized tofnet on its fastest integer path, **torch-int8** (torch's quantized
``x86`` engine: fbgemm's int8 kernels, oneDNN for some shapes; 2.24x the fastest float32 path at 480 x 640 on an
AVX-512 VNNI CPU, against 1.84x for onnxruntime int8: docs/benchmarks.md). fbgemm needs AVX2; where torch has no
``x86``/``fbgemm`` engine, the CPU lacks AVX2, or the conversion fails, ``auto`` falls back to onnxruntime int8
(QLinearConv, exported in memory with INT8 weights) and then to the fake-quant torch model, with one line saying
why. Float models, and anything on a GPU, run in torch; an ``.onnx`` file runs in onnxruntime.
"""

from __future__ import annotations

import dataclasses
import platform
import tempfile
from pathlib import Path

import torch
from torch import nn

from completion.errors import CompletionError, ConfigError

__all__ = [
    "RUNTIMES", "LoadedModel", "load_for_runtime", "is_quantized", "cpu_flags", "cpu_has_vnni",
    "torch_int8_engine", "auto_int8_runtime",
]  # fmt: skip

RUNTIMES = ("auto", "torch", "torch-int8", "onnx")
#: torch quantized engines `auto` runs torch-int8 on (fbgemm's int8 kernels; ``x86`` adds oneDNN for some shapes)
AUTO_TORCH_ENGINES = ("x86", "fbgemm")


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


def cpu_flags() -> list[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (None where it is unreadable: not Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return None


def cpu_has_vnni() -> bool | None:
    """Whether the CPU has an int8 dot-product instruction (VNNI or AMX); None where /proc/cpuinfo is unreadable."""
    flags = cpu_flags()
    return None if flags is None else any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


def _supported_engines() -> list[str]:
    return list(torch.backends.quantized.supported_engines)


def torch_int8_engine() -> tuple[str | None, str | None]:
    """(engine, None) when `auto` can run torch-int8 here, else (None, why not, in a few words).

    The engine is the first of `AUTO_TORCH_ENGINES` that torch supports on this CPU (torch lists fbgemm and x86
    only where the CPU has AVX2); the CPU's own flags name the missing instruction set where they can be read.
    """
    supported = _supported_engines()
    engine = next((e for e in AUTO_TORCH_ENGINES if e in supported), None)
    flags = cpu_flags()
    x86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
    if x86 and flags is not None and "avx2" not in flags:
        return None, "this CPU lacks AVX2, which fbgemm's int8 kernels need"
    if engine is None:
        return None, f"torch has no fbgemm/x86 quantized engine here (it has {', '.join(supported) or 'none'})"
    return engine, None


def auto_int8_runtime() -> tuple[str, str | None]:
    """The integer runtime `auto` tries first for a quantized model on this machine, and why, when not torch-int8.

    Returns:
        (``torch-int8``, None), or (``onnx-int8``, the reason torch-int8 was passed over) when onnxruntime is
        installed, else (``torch``, both reasons): the fake-quant float model.
    """
    engine, why = torch_int8_engine()
    if engine is not None:
        return "torch-int8", None
    try:
        import onnxruntime  # noqa: F401
    except ImportError as err:
        return "torch", f"torch-int8 unavailable ({why}); onnxruntime int8 unavailable ({err})"
    return "onnx-int8", f"torch-int8 unavailable ({why})"


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
    """torch-int8 -> onnxruntime int8 -> fake-quant torch; `note` is one line saying why a path was passed over."""
    from completion.quant.int8_torch import convert_int8

    reasons = []
    engine, why = torch_int8_engine()
    if engine is not None:
        try:
            return LoadedModel(convert_int8(model, engine=engine), "torch-int8", _vnni_note())
        except CompletionError as err:
            why = str(err)
    reasons.append(f"torch-int8 unavailable ({why})")
    try:
        onnx = _onnx_int8(model, threads)
    except (CompletionError, ImportError) as err:
        reasons.append(f"onnxruntime int8 unavailable ({err})")
        return LoadedModel(model, "torch", "; ".join(reasons) + ": running the fake-quant model in torch")
    note = "; ".join(reasons) + ": using onnxruntime int8"
    vnni = _vnni_note()
    return LoadedModel(onnx, "onnx-int8", note + (f"; {vnni}" if vnni else ""))


def _vnni_note() -> str | None:
    if cpu_has_vnni() is False:
        return (
            "this CPU has no VNNI: int8 convolutions add u8 x s8 pairs in int16, which can saturate (a few mm) "
            "and run slower than with VNNI"
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
