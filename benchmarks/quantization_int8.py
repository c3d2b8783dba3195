"""Issue 19's integer-inference figures of `benchmarks/quantization.py`, from its latency times and models.

For the reference preset (W8A8 when run) at every latency size: float32 torch and float32 onnxruntime, the faster
of the two (the reference), int8 torch (`completion.quant.int8_torch`) and int8 onnxruntime, the runtime
``completion predict --runtime auto`` takes on this machine (`completion.runtimes.auto_int8_runtime`) and
``int8_speedup_vs_fp32`` for it; peak resident memory of one inference process per engine; and the int8 engines'
fidelity to the fake-quant model for the shipped quantized models on the test split of the generated data set.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from int8_runtime import auto_figures, measure_peak_rss, shipped_fidelity
from quantization_runs import log


def int8_section(args: argparse.Namespace, latency: dict[str, Any], ref: str, model_dirs: dict[str, Path],
                 data_dir: Path) -> dict[str, Any]:  # fmt: skip
    """The figures of the module docstring (memory and fidelity unless --skip-memory / no --fidelity-models).

    Args:
        args: the benchmark's options.
        latency: `measure_latency`'s result (times per size for ``torch_fp32``, ``ort_<name>``, ``torch_int8_<name>``).
        ref: the preset the speed-ups are of.
        model_dirs: ``fp32`` and `ref` -> a folder `load_model` takes (for the memory processes).
        data_dir: the generated data set (its ``test`` split is the fidelity split).
    """
    from completion.runtimes import auto_int8_runtime

    auto, why = auto_int8_runtime()
    keys = {"torch-int8": f"torch_int8_{ref}", "onnx-int8": f"ort_{ref}"}
    by_size = {size: auto_figures(v["times_s"], keys, auto) for size, v in latency["by_size"].items()}
    out: dict[str, Any] = {"model": ref, "auto_runtime": auto, "auto_note": why, "by_size": by_size}
    if not args.skip_memory:
        log("peak resident memory: one inference process per engine")
        onnx = {"ort_fp32": latency["files"]["fp32"]["onnx_int8_path"],
                "ort_int8": latency["files"][ref]["onnx_int8_path"]}  # fmt: skip
        dirs = {"float": str(model_dirs["fp32"]), "quantized": str(model_dirs[ref])}
        mem = measure_peak_rss(dirs, onnx, tuple(latency["hw"]), args.threads)
        auto_engine = {"torch-int8": "torch_int8", "onnx-int8": "ort_int8"}.get(auto)
        floor = min(mem["torch_fp32"]["peak_rss_bytes"], mem["ort_fp32"]["peak_rss_bytes"])
        out["peak_rss"] = {"hw": latency["hw"], **mem, "auto_engine": auto_engine,
                           "auto_lower_than_fp32": None if auto_engine is None
                           else mem[auto_engine]["peak_rss_bytes"] < floor}  # fmt: skip
    if args.fidelity_models:
        log(f"fidelity of {', '.join(args.fidelity_models)} on the test split of {data_dir}")
        torch.set_num_threads(args.threads)
        out["fidelity"] = shipped_fidelity(data_dir, args.fidelity_models, "test", args.threads, args.out / "fid")
    return out


def int8_lines(f: dict[str, Any]) -> list[str]:
    """The printed summary of `int8_section`."""
    lines = [f"integer inference ({f['model']}; auto takes {f['auto_runtime']}"
             + (f": {f['auto_note']}" if f["auto_note"] else "") + ")"]  # fmt: skip
    for size, v in f["by_size"].items():
        auto = v["int8_speedup_vs_fp32"]
        lines.append(
            f"  {size}: fp32 torch {v['fp32_torch_ms']:.1f} ms, fp32 onnxruntime {v['fp32_onnxruntime_ms']:.1f} ms, "
            f"int8 torch {v['int8_torch_ms']:.1f} ms ({v['int8_speedup_vs_fp32_torch_int8']:.2f}x), int8 "
            f"onnxruntime {v['int8_onnxruntime_ms']:.1f} ms ({v['int8_speedup_vs_fp32_onnxruntime_int8']:.2f}x); "
            f"auto {'-' if auto is None else f'{auto:.2f}x'} vs the faster float32 ({v['fp32_reference']})"
        )
    if "peak_rss" in f:
        m = f["peak_rss"]
        rows = ", ".join(f"{e} {m[e]['peak_rss_bytes'] / 1e6:.0f}" for e in ("torch_fp32", "ort_fp32", "torch_int8",
                                                                              "ort_int8"))  # fmt: skip
        lines.append(f"  peak RSS at {m['hw'][0]}x{m['hw'][1]}, MB: {rows}")
    for name, fid in f.get("fidelity", {}).items():
        change, diff = fid["rmse_change_pct_vs_fake_quant"], fid["max_abs_diff_vs_fake_quant_m"]
        rows = "; ".join(
            f"{k} {change[k]:+.4f} %, max |diff| {1000 * diff[k]:.2f} mm" for k in ("torch_int8", "ort_int8")
        )
        lines.append(f"  {name} vs its fake-quant model on {fid['frames']} test frames: {rows}")
    return lines
