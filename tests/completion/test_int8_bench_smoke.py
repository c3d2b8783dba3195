"""Smoke test of benchmarks/int8_runtime.py at a tiny size: its JSON holds figures recomputable from its raw times."""

import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from completion.data import toy_samples
from tofsim.dataset import make_manifest, shard_filename, write_manifest, write_shard

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_int8_runtime_benchmark_tiny_run(tmp_path):
    data = tmp_path / "ds"
    data.mkdir()
    record = write_shard(data / shard_filename(0), toy_samples(2, height_px=32, width_px=48,
                                                                rng=np.random.default_rng(1)), attrs={})  # fmt: skip
    write_manifest(data, make_manifest([record], config={}, splits={"test": [0, 1]}, image_size=(32, 48)))
    out = tmp_path / "bench.json"
    work = str(tmp_path / "work")
    cmd = [sys.executable, str(ROOT / "benchmarks" / "int8_runtime.py"), "--sizes", "32x48", "16x32", "--rounds",
           "2", "--data", str(data), "--split", "test", "--out", work, "--json", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    f = json.loads(out.read_text())
    for size in ("32x48", "16x32"):
        lat = f["latency"][size]
        times = lat["times_s"]
        # the faster float engine of each round over int8 onnxruntime, median over rounds
        want = statistics.median(
            min(statistics.median(times["torch_fp32"][r]), statistics.median(times["ort_fp32"][r]))
            / statistics.median(times["ort_int8"][r])
            for r in range(2)
        )
        assert lat["int8_speedup_vs_fp32"] == pytest.approx(want)
        assert lat["int8_speedup_vs_fp32"] >= min(
            lat["int8_speedup_vs_torch_fp32"], lat["int8_speedup_vs_onnxruntime_fp32"]
        )
    assert f["int8_speedup_vs_fp32"] == f["latency"]["32x48"]["int8_speedup_vs_fp32"]
    auto = {"torch-int8": "torch_int8_speedup_vs_fp32", "onnx-int8": "int8_speedup_vs_fp32"}[f["auto_runtime"]]
    assert f["auto_int8_speedup_vs_fp32"] == f["latency"]["32x48"][auto]
    for engine in ("torch_fp32", "ort_fp32", "ort_int8", "torch_int8"):
        mem = f["memory"][engine]
        assert mem["peak_rss_bytes"] > mem["baseline_rss_bytes"] > 0
    fid = f["fidelity"]
    assert fid["frames"] == 2 and fid["pixels"] > 0
    for k in ("ort_int8", "torch_int8"):
        assert abs(fid["rmse_change_pct_vs_fake_quant"][k]) < 0.5
        assert fid["max_abs_diff_vs_fake_quant_m"][k] < 0.01
    assert f["machine"]["cpu_simd_flags"] is not None
