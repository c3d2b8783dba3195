"""Smoke test of benchmarks/quantization.py at a tiny size: it runs end to end and its JSON holds true figures."""

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

from completion.checkpoint import create_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quantization_benchmark_tiny_run(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "quantization.py"), "--out", str(tmp_path / "work"),
        "--json", str(out), "--float-model", "train", "--frames", "6", "--frames-per-scene", "2", "--height", "32",
        "--width", "48",
        "--crop", "32", "48", "--epochs", "1", "--qat-epochs", "1", "--batch-size", "2", "--base-width", "4",
        "--presets", "w8a8", "--step-runs", "1", "--latency-runs", "1", "--latency-height", "32",
        "--latency-width", "48", "--latency-extra-sizes", "16x32", "--fidelity-models", "tofnet-sds-w8a8",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    f = json.loads(out.read_text())

    # weight bytes against a naive count over the convolutions of the same network
    convs = [m for m in create_model("tofnet", {"base_width": 4}).modules() if isinstance(m, nn.Conv2d)]
    fp32 = sum(4 * (m.weight.numel() + m.out_channels) for m in convs)
    w8 = sum(m.weight.numel() + 8 * m.out_channels for m in convs)  # int8 + float32 scale + float32 bias
    assert f["fp32"]["weight_bytes"] == fp32
    assert f["w8a8"]["weight_bytes"] == w8
    assert f["w8a8"]["weight_ratio_vs_fp32"] == pytest.approx(fp32 / w8)
    assert f["fp32"]["weight_ratio_vs_fp32"] == pytest.approx(1.0)
    # 8-bit activations: a quarter of the float32 liveness peak (same graph, same schedule)
    assert f["w8a8"]["peak_activation_bytes"] * 4 == pytest.approx(f["fp32"]["peak_activation_bytes"], rel=0.01)
    for name in ("fp32", "w8a8"):
        r = f[name]
        assert r["rmse_m"] > 0 and math.isfinite(r["rmse_m"])
        assert r["rmse_change_pct"] == pytest.approx(100 * (r["rmse_m"] / f["fp32"]["rmse_m"] - 1))
    assert f["qat_step_ratio"] == pytest.approx(f["w8a8"]["train_step_s"] / f["fp32"]["train_step_s"])
    assert f["int8_speedup_vs_fp32"] > 0
    # the exported int8 model computes what the fake-quant torch model computes (a few quantization steps at most)
    assert f["w8a8"]["onnx_vs_torch_max_abs_diff_m"] < 0.05
    assert set(f["targets"]) == {"w8a8_rmse_change_pct<=+1", "int8_speedup>=2", "qat_step_ratio<=1.3",
                                 "int8_peak_rss<fp32", "int8_vs_fake_quant_rmse_change_pct<=0.5"}  # fmt: skip
    assert all(isinstance(t["pass"], bool) for t in f["targets"].values())
    assert f["machine"]["cpu_count"] >= 1 and len(f["machine"]["loadavg_start"]) == 3
    assert "quantization.py" in f["command"]
    _check_int8_figures(f)


def _check_int8_figures(f):
    """Issue 19's figures: both sizes, both float and both int8 engines, the auto path, memory, fidelity, flags."""
    from completion.runtimes import auto_int8_runtime

    int8 = f["int8"]
    assert int8["auto_runtime"] == f["int8_auto_runtime"] == auto_int8_runtime()[0]
    engine = {"torch-int8": "torch_int8_w8a8", "onnx-int8": "ort_w8a8"}[int8["auto_runtime"]]
    for size in ("32x48", "16x32"):
        v = f["int8_speedup_by_size"][size]
        times = f["latency"]["by_size"][size]["times_s"]
        rounds = len(times["torch_fp32"])
        want = statistics.median(
            min(statistics.median(times["torch_fp32"][r]), statistics.median(times["ort_fp32"][r]))
            / statistics.median(times[engine][r])
            for r in range(rounds)
        )
        assert v["int8_speedup_vs_fp32"] == pytest.approx(want)
        assert v["fp32_reference_ms"] == min(v["fp32_torch_ms"], v["fp32_onnxruntime_ms"])
        assert v["int8_torch_ms"] > 0 and v["int8_onnxruntime_ms"] > 0
        assert {v["int8_speedup_vs_fp32_torch_int8"], v["int8_speedup_vs_fp32_onnxruntime_int8"]} >= {
            v["int8_speedup_vs_fp32"]
        }
    assert f["int8_speedup_vs_fp32"] == f["int8_speedup_by_size"]["32x48"]["int8_speedup_vs_fp32"]
    for e in ("torch_fp32", "ort_fp32", "torch_int8", "ort_int8"):
        assert int8["peak_rss"][e]["peak_rss_bytes"] > int8["peak_rss"][e]["baseline_rss_bytes"] > 0
    fid = int8["fidelity"]["tofnet-sds-w8a8"]
    assert fid["split"] == "test" and fid["frames"] >= 1 and fid["pixels"] > 0
    for k in ("torch_int8", "ort_int8"):
        assert abs(fid["rmse_change_pct_vs_fake_quant"][k]) < 0.5
        assert 0 <= fid["max_abs_diff_vs_fake_quant_m"][k] < 0.05
    assert f["machine"]["cpu_simd_flags"] is not None and f["machine"]["torch_quantized_engines"]
