import pytest
import torch

from completion import runtimes
from completion.errors import CompletionError, ConfigError
from completion.runtimes import load_for_runtime

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

QUANTIZED = "tofnet-sds-w8a8"  # any shipped quantized tofnet: only its architecture matters here


def _batch(h=40, w=56):
    g = torch.Generator().manual_seed(0)
    return {
        "rgb": torch.rand(1, 3, h, w, generator=g),
        "prefill": 1 + 2 * torch.rand(1, 1, h, w, generator=g),
        "nearest": 1 + 2 * torch.rand(1, 1, h, w, generator=g),
        "dist": 8 * torch.rand(1, 1, h, w, generator=g),
    }


def test_auto_runs_a_quantized_model_on_onnxruntime_int8_like_the_fake_quant_model():
    from completion.checkpoint import load_model

    loaded = load_for_runtime(QUANTIZED)
    assert loaded.runtime == "onnx-int8"
    batch = _batch()
    with torch.no_grad():
        want = load_model(QUANTIZED)(batch)
    diff = (loaded.model(batch) - want).abs().flatten()
    # integer and fake-quant rounding may differ by a step in intermediate layers (on this random input: median
    # 0.08 mm, max 7.7 mm with the shipped v2 weights); a wrong conversion moves every pixel by centimetres.
    # docs/quantization.md has the RMSE change on generated frames (<= 0.005 %).
    assert float(diff.median()) < 5e-4 and float(diff.quantile(0.99)) < 1e-2 and float(diff.max()) < 2e-2


def test_auto_falls_back_to_torch_int8_with_a_note(monkeypatch):
    def missing(*_args):
        raise ImportError("No module named 'onnxruntime'")

    monkeypatch.setattr(runtimes, "_onnx_int8", missing)
    loaded = load_for_runtime(QUANTIZED)
    assert loaded.runtime == "torch-int8"
    assert loaded.note == "onnxruntime int8 unavailable (No module named 'onnxruntime'): using torch-int8"


def test_auto_keeps_float_models_and_gpu_devices_on_torch():
    assert load_for_runtime("nearest").runtime == "torch"
    assert load_for_runtime(QUANTIZED, device="meta").runtime == "torch"


def test_unknown_runtime_is_refused():
    with pytest.raises(ConfigError, match="--runtime must be one of auto, torch, torch-int8, onnx, got 'tflite'"):
        load_for_runtime("nearest", "tflite")


def test_integer_runtime_on_a_gpu_is_refused():
    with pytest.raises(ConfigError, match="--runtime torch-int8 runs on the CPU only"):
        load_for_runtime(QUANTIZED, "torch-int8", device="cuda")


def test_onnx_file_for_a_torch_runtime_is_refused(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"")
    with pytest.raises(CompletionError, match="m.onnx is an ONNX file for onnxruntime; --runtime torch-int8 runs"):
        load_for_runtime(path, "torch-int8")


def test_torch_int8_refuses_a_float_model():
    with pytest.raises(CompletionError, match="supports tofnet only"):
        load_for_runtime("nearest", "torch-int8")
