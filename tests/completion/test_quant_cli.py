import json

import numpy as np
import pytest
from typer.testing import CliRunner

from completion.cli import app
from completion.data import toy_samples
from tofsim.dataset import make_manifest, shard_filename, write_manifest, write_shard

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
runner = CliRunner()


@pytest.fixture
def float_run(tmp_path):
    samples = toy_samples(6, height_px=32, width_px=48, rng=np.random.default_rng(5))
    data = tmp_path / "ds"
    data.mkdir()
    record = write_shard(data / shard_filename(0), samples, attrs={})
    write_manifest(data, make_manifest([record], config={}, splits={"train": [0, 1, 2, 3], "val": [4], "test": [5]},
                                       image_size=(32, 48)))  # fmt: skip
    toml = tmp_path / "tiny.toml"
    toml.write_text('batch_size = 2\ndevice = "cpu"\ncpu_threads = 1\n[model_cfg]\nbase_width = 4\nnum_scales = 2\n')
    run = tmp_path / "float"
    result = runner.invoke(app, ["train", "--data", str(data), "--model", "tofnet", "--out", str(run), "--config",
                                 str(toml), "--epochs", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return run, data


def test_quantize_memory_export_and_onnx_predict(float_run, tmp_path):
    from completion.runtimes import auto_int8_runtime

    run, data = float_run
    qrun = tmp_path / "w8a8"
    result = runner.invoke(app, ["quantize", "--from", str(run), "--bits", "w8a8", "--out", str(qrun), "--epochs", "1",
                                 "--threads", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "total weights" in result.output and (qrun / "memory.json").is_file()
    assert json.loads((qrun / "config.json").read_text())["train_config"]["cpu_threads"] == 1

    result = runner.invoke(
        app, ["memory", str(qrun), "--height", "32", "--width", "48", "--json", str(tmp_path / "m.json")]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["activations"]["bits"] == 8 and 3.5 < report["weights"]["ratio_vs_fp32"] < 4.1

    onnx_file = qrun / "model.onnx"
    result = runner.invoke(app, ["export", str(qrun), "--out", str(onnx_file), "--height", "32", "--width", "48",
                                 "--weights", "int8"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "weights INT8" in result.output

    preds = {}
    for runtime in ("torch", "onnx", "torch-int8", None):  # None: the default, auto
        out = tmp_path / f"p_{runtime}"
        args = ["predict", "--model", str(qrun), "--data", str(data), "--out", str(out)]
        result = runner.invoke(app, args + (["--runtime", runtime] if runtime else []))
        assert result.exit_code == 0, result.output
        preds[runtime] = [np.load(out / f"{i:06d}.npy") for i in range(6)]
    # auto runs a quantized model on its fastest integer path here: torch-int8 where fbgemm runs, else onnxruntime
    assert f"({auto_int8_runtime()[0]}," in result.output
    for runtime in ("onnx", "torch-int8", None):
        for a, b in zip(preds["torch"], preds[runtime], strict=True):
            assert np.abs(a - b).max() < 5e-3  # the fake-quant model, to a few quantization steps of the output

    result = runner.invoke(app, ["predict", "--model", str(onnx_file), "--data", str(data), "--out",
                                 str(tmp_path / "p_bad"), "--runtime", "torch"])  # fmt: skip
    assert result.exit_code == 2
    assert "is an ONNX file for onnxruntime; --runtime torch runs torch checkpoints" in result.output


def test_onnx_runtime_without_export_is_a_clear_error(float_run, tmp_path):
    run, data = float_run
    result = runner.invoke(app, ["predict", "--model", str(run), "--data", str(data), "--out", str(tmp_path / "p"),
                                 "--runtime", "onnx"])  # fmt: skip
    assert result.exit_code == 2
    assert "is a torch model (for --runtime torch, torch-int8 or auto); --runtime onnx runs ONNX files" in result.output
    assert "completion export" in result.output


def test_unknown_bits_preset_is_a_clear_error(float_run, tmp_path):
    run, _ = float_run
    result = runner.invoke(app, ["quantize", "--from", str(run), "--bits", "w3a3", "--out", str(tmp_path / "q")])
    assert result.exit_code == 2
    assert "unknown bit-width preset 'w3a3'" in result.output
