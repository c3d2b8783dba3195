import pytest
import torch

from completion import runtimes
from completion.errors import CompletionError, ConfigError, InputFileError
from completion.quant.int8_torch import default_engine
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


def _close_to_fake_quant(loaded):
    from completion.checkpoint import load_model

    batch = _batch()
    with torch.no_grad():
        want = load_model(QUANTIZED)(batch)
    diff = (loaded.model(batch) - want).abs().flatten()
    # integer and fake-quant rounding may differ by a step in intermediate layers (on this random input: median
    # 0.08 mm, max 7.7 mm with the shipped v2 weights); a wrong conversion moves every pixel by centimetres.
    # docs/quantization.md has the RMSE change on generated frames (<= 0.005 %).
    assert float(diff.median()) < 5e-4 and float(diff.quantile(0.99)) < 1e-2 and float(diff.max()) < 2e-2


@pytest.fixture
def with_fbgemm(monkeypatch):
    """A CPU and torch build where torch-int8 can run (whatever this machine is)."""
    monkeypatch.setattr(runtimes, "torch_int8_engine", lambda: (default_engine(), None))
    if default_engine() is None:
        pytest.skip("this torch has no quantized engine")


def test_auto_runs_a_quantized_model_on_torch_int8_like_the_fake_quant_model(with_fbgemm):
    loaded = load_for_runtime(QUANTIZED)
    assert loaded.runtime == "torch-int8"
    _close_to_fake_quant(loaded)


def test_auto_falls_back_to_onnxruntime_int8_with_one_line_naming_why(monkeypatch):
    why = "this CPU lacks AVX2, which fbgemm's int8 kernels need"
    monkeypatch.setattr(runtimes, "torch_int8_engine", lambda: (None, why))
    monkeypatch.setattr(runtimes, "cpu_has_vnni", lambda: True)
    loaded = load_for_runtime(QUANTIZED)
    assert loaded.runtime == "onnx-int8"
    assert loaded.note == f"torch-int8 unavailable ({why}): using onnxruntime int8"
    _close_to_fake_quant(loaded)


def test_auto_falls_back_to_onnxruntime_when_the_conversion_fails(monkeypatch, with_fbgemm):
    from completion.quant import int8_torch

    def refuse(*_args, **_kwargs):
        raise CompletionError("cannot convert")

    monkeypatch.setattr(int8_torch, "convert_int8", refuse)
    monkeypatch.setattr(runtimes, "cpu_has_vnni", lambda: True)
    loaded = load_for_runtime(QUANTIZED)
    assert (loaded.runtime, loaded.note) == (
        "onnx-int8",
        "torch-int8 unavailable (cannot convert): using onnxruntime int8",
    )


def test_auto_falls_back_to_the_fake_quant_model_when_no_integer_path_is_left(monkeypatch):
    def missing(*_args):
        raise ImportError("No module named 'onnxruntime'")

    monkeypatch.setattr(runtimes, "torch_int8_engine", lambda: (None, "torch has no fbgemm/x86 quantized engine"))
    monkeypatch.setattr(runtimes, "_onnx_int8", missing)
    loaded = load_for_runtime(QUANTIZED)
    assert loaded.runtime == "torch"
    assert loaded.note == (
        "torch-int8 unavailable (torch has no fbgemm/x86 quantized engine); onnxruntime int8 unavailable "
        "(No module named 'onnxruntime'): running the fake-quant model in torch"
    )
    assert "\n" not in loaded.note


@pytest.mark.parametrize(
    ("flags", "engines", "want"),
    [
        (["sse4_2", "avx2", "fma"], ["qnnpack", "x86", "fbgemm", "onednn"], ("x86", None)),
        (["sse4_2", "avx2"], ["qnnpack", "fbgemm"], ("fbgemm", None)),
        (["sse4_2", "avx"], ["qnnpack", "onednn"], (None, "this CPU lacks AVX2, which fbgemm's int8 kernels need")),
        (None, ["qnnpack"], (None, "torch has no fbgemm/x86 quantized engine here (it has qnnpack)")),
    ],
)
def test_torch_int8_engine_needs_fbgemm_and_avx2(monkeypatch, flags, engines, want):
    monkeypatch.setattr(runtimes, "cpu_flags", lambda: flags)
    monkeypatch.setattr(runtimes.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(runtimes, "_supported_engines", lambda: engines)
    assert runtimes.torch_int8_engine() == want


def test_auto_int8_runtime_names_the_path_auto_takes(monkeypatch):
    monkeypatch.setattr(runtimes, "torch_int8_engine", lambda: ("x86", None))
    assert runtimes.auto_int8_runtime() == ("torch-int8", None)
    monkeypatch.setattr(runtimes, "torch_int8_engine", lambda: (None, "no AVX2"))
    assert runtimes.auto_int8_runtime() == ("onnx-int8", "torch-int8 unavailable (no AVX2)")


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


def test_torch_model_for_the_onnx_runtime_is_refused_naming_both(tmp_path):
    with pytest.raises(
        CompletionError, match="is a torch model .for --runtime torch, torch-int8 or auto.; --runtime onnx"
    ):
        load_for_runtime(QUANTIZED, "onnx")
    ckpt = tmp_path / "m.pt"
    torch.save({"model_state": {}}, ckpt)
    with pytest.raises(CompletionError, match="m.pt is a torch model"):
        load_for_runtime(ckpt, "onnx")


def test_torch_checkpoint_given_to_the_onnx_runner_is_refused_naming_both(tmp_path):
    from completion.runtime_onnx import OnnxRunner

    ckpt = tmp_path / "renamed.onnx"  # a torch checkpoint with the wrong suffix
    torch.save({"model_state": {}}, ckpt)
    with pytest.raises(
        InputFileError, match="is a torch checkpoint .for the torch and torch-int8 runtimes., not an ONNX"
    ):
        OnnxRunner(ckpt)


def test_onnx_file_given_to_load_model_is_refused_naming_both(tmp_path):
    from completion.checkpoint import load_model

    path = tmp_path / "m.onnx"
    path.write_bytes(b"")
    with pytest.raises(CompletionError, match="m.onnx is an ONNX file for onnxruntime; this needs a torch model"):
        load_model(path)


def test_missing_onnx_file_is_named_as_missing(tmp_path):
    from completion.cli_quant import onnx_model_path

    with pytest.raises(CompletionError, match=r"missing\.onnx: no such ONNX file"):
        onnx_model_path(str(tmp_path / "missing.onnx"))
