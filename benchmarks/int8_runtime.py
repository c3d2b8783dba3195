"""Integer inference against float: speed, peak memory and fidelity of the int8 runtimes (issue 19).

Engines, all on the CPU with --threads intra-op threads:

- ``torch_fp32``: the float model in torch (`torch.inference_mode`);
- ``ort_fp32``: the float model exported to ONNX, on onnxruntime;
- ``ort_int8``: the quantized model exported with INT8 weights, on onnxruntime (QLinearConv; what
  ``completion predict --runtime auto`` runs where torch has no fbgemm engine);
- ``torch_int8``: the quantized model on torch's quantized engine (`completion.quant.int8_torch`; what ``auto``
  runs where it has one: ``auto_runtime`` in the JSON, with ``auto_int8_speedup_vs_fp32``).

Measured:

1. latency at each --sizes (batch 1; one export per engine, the graphs take any size), engines timed in blocks of
   three calls after one untimed call, engine after engine, round after round; ``int8_speedup_vs_fp32`` is the
   median over rounds of (the faster float32 engine of the round) / (ort_int8 of the round);
2. peak resident memory (``VmHWM`` of /proc/self/status) of a fresh process per engine that imports torch,
   onnxruntime and completion, loads its model (the ONNX engines load a file exported beforehand) and runs three
   inferences at the first size; ``baseline_rss_bytes`` is its resident memory before loading the model;
3. with --data: pooled RMSE over the valid pixels of a split for the fake-quant model and both int8 engines, the
   RMSE change and the largest |int8 - fake-quant| per pixel.

    .venv/bin/python benchmarks/int8_runtime.py --json bench-out/int8_runtime.json --data /tmp/i8test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ENGINES = ("torch_fp32", "ort_fp32", "ort_int8", "torch_int8")
SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")


def cpu_simd_flags() -> list[str] | None:
    """The CPU's SIMD flags that decide int8 speed (None where /proc/cpuinfo is unreadable)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return None
    return [x for x in SIMD_FLAGS if x in flags]


def loadavg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where unavailable)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def latency_batch(h: int, w: int) -> dict[str, torch.Tensor]:
    """A synthetic batch of one at h x w (values do not change the timing)."""
    g = torch.Generator().manual_seed(0)
    prefill = 0.5 + 4.0 * torch.rand(1, 1, h, w, generator=g)
    return {
        "rgb": torch.rand(1, 3, h, w, generator=g),
        "sparse": prefill,
        "mask": torch.ones(1, 1, h, w),
        "prefill": prefill,
        "nearest": prefill,
        "dist": 10.0 * torch.rand(1, 1, h, w, generator=g),
        "spot_status": torch.zeros(1, 2, h, w),
        "K": torch.tensor([[[585.0 * w / 640, 0, (w - 1) / 2], [0, 585.0 * w / 640, (h - 1) / 2], [0, 0, 1]]]),
    }


def time_latency(fns: dict[str, Any], rounds: int, block: int = 3) -> dict[str, list[list[float]]]:
    """Seconds per call of each function: per round, each function in turn runs one untimed call and `block` timed.

    Timing in blocks keeps one engine's idle threads from disturbing the next: onnxruntime's intra-op threads spin
    for a while after each run, and a torch call right after an onnxruntime call on 2 cores measured 3x slower.

    Returns:
        name -> one list of `block` times per round.
    """
    times: dict[str, list[list[float]]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            fn()
            ts = []
            for _ in range(block):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            times[name].append(ts)
    return times


def export_pair(float_model: torch.nn.Module, quant_model: torch.nn.Module, folder: Path) -> dict[str, Path]:
    """The float32 and the INT8-weight ONNX files (dynamic size), written into `folder`."""
    from completion.export import export_onnx

    folder.mkdir(parents=True, exist_ok=True)
    stride = int(getattr(getattr(quant_model, "core", None), "stride", 1))
    size = 8 * stride
    paths = {"ort_fp32": folder / "fp32.onnx", "ort_int8": folder / "int8.onnx"}
    export_onnx(float_model, paths["ort_fp32"], height_px=size, width_px=size)
    export_onnx(quant_model, paths["ort_int8"], height_px=size, width_px=size, weight_storage="int8")
    return paths


def engines(float_model, quant_model, onnx_paths: dict[str, Path], threads: int) -> dict[str, Any]:
    """name -> callable(batch) -> (1, 1, H, W) array or tensor, for every engine of `ENGINES`."""
    from completion.quant.int8_torch import convert_int8
    from completion.runtime_onnx import OnnxRunner

    fp32, int8 = (
        OnnxRunner(onnx_paths["ort_fp32"], threads=threads),
        OnnxRunner(onnx_paths["ort_int8"], threads=threads),
    )
    torch_int8 = convert_int8(quant_model)
    float_model = float_model.eval()

    def torch_fp32(batch):
        with torch.inference_mode():
            return float_model(batch)

    def feed(runner, batch):
        return runner({k: batch[k].numpy() for k in runner.input_keys})

    return {"torch_fp32": torch_fp32, "ort_fp32": lambda b: feed(fp32, b), "ort_int8": lambda b: feed(int8, b),
            "torch_int8": torch_int8}  # fmt: skip


def _per_round(times: dict[str, list[list[float]]], num: list[str], den: str) -> float:
    """Median over rounds of min(median block of each `num` engine) / median block of `den`."""
    ratios = [
        min(statistics.median(times[n][r]) for n in num) / statistics.median(times[den][r])
        for r in range(len(times[den]))
    ]
    return statistics.median(ratios)


def measure_latency(fns: dict[str, Any], sizes: list[tuple[int, int]], rounds: int) -> dict[str, Any]:
    """Per size: median ms of each engine and the per-round speed-ups of the int8 engines (see module docstring)."""
    out = {}
    for h, w in sizes:
        batch = latency_batch(h, w)
        times = time_latency({k: (lambda f=f, b=batch: f(b)) for k, f in fns.items()}, rounds)
        med = {k: 1000 * statistics.median(t for block in v for t in block) for k, v in times.items()}
        floats = ["torch_fp32", "ort_fp32"]
        out[f"{h}x{w}"] = {
            "median_ms": med,
            "min_ms": {k: 1000 * min(t for block in v for t in block) for k, v in times.items()},
            "fastest_fp32": min(floats, key=lambda k: med[k]),
            "int8_speedup_vs_fp32": _per_round(times, floats, "ort_int8"),
            "int8_speedup_vs_torch_fp32": _per_round(times, ["torch_fp32"], "ort_int8"),
            "int8_speedup_vs_onnxruntime_fp32": _per_round(times, ["ort_fp32"], "ort_int8"),
            "torch_int8_speedup_vs_fp32": _per_round(times, floats, "torch_int8"),
            "times_s": times,
        }
    return out


def _status_bytes(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{key} not in /proc/self/status")


def _child(engine: str, model: str, onnx_path: str, h: int, w: int, threads: int) -> None:
    """One inference process: print its baseline and peak resident bytes as JSON."""
    import onnxruntime  # noqa: F401 - every engine's process carries the same libraries

    from completion.checkpoint import load_model
    from completion.quant.int8_torch import convert_int8
    from completion.runtime_onnx import OnnxRunner

    torch.set_num_threads(threads)
    batch = latency_batch(h, w)
    baseline = _status_bytes("VmRSS")
    if engine.startswith("ort"):
        runner = OnnxRunner(onnx_path, threads=threads)
        feed = {k: batch[k].numpy() for k in runner.input_keys}
        fn = lambda: runner(feed)  # noqa: E731
    else:
        m = load_model(model).eval()
        m = convert_int8(m) if engine == "torch_int8" else m
        fn = lambda: m(batch)  # noqa: E731
    with torch.inference_mode():
        for _ in range(3):
            fn()
    print(json.dumps({"baseline_rss_bytes": baseline, "peak_rss_bytes": _status_bytes("VmHWM")}))


def measure_peak_rss(models: dict[str, str], onnx_paths: dict[str, Path], hw: tuple[int, int], threads: int):
    """engine -> {baseline_rss_bytes, peak_rss_bytes} from one fresh process per engine (Linux /proc only)."""
    out = {}
    for engine in ENGINES:
        model = models["float" if engine.endswith("fp32") else "quantized"]
        cmd = [sys.executable, __file__, "--child", engine, model, str(onnx_paths.get(engine, "")), str(hw[0]),
               str(hw[1]), str(threads)]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[engine] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def fidelity(data: Path, quantized: str, fns: dict[str, Any], split: str | None) -> dict[str, Any]:
    """Pooled RMSE over the valid pixels of `split` (all frames if None) for the fake-quant model and int8 engines."""
    import tofsim
    from completion.checkpoint import load_model
    from completion.data import CompletionDataset, collate

    dataset = tofsim.open_dataset(data)
    fake = load_model(quantized).eval()
    indices = list(dataset.splits[split]) if split else list(range(len(dataset)))
    ds = CompletionDataset(dataset, indices=indices, augment=None, prefill=fake.prefill)
    names = ["fake_quant", "ort_int8", "torch_int8"]
    sq = dict.fromkeys(names, 0.0)
    max_diff = {"ort_int8": 0.0, "torch_int8": 0.0}
    pixels = 0
    for i in range(len(ds)):
        batch = collate([ds[i]])
        with torch.inference_mode():
            preds = {"fake_quant": fake(batch).double().numpy()}
        for k in ("ort_int8", "torch_int8"):
            preds[k] = np.asarray(fns[k](batch), dtype=np.float64)
            max_diff[k] = max(max_diff[k], float(np.abs(preds[k] - preds["fake_quant"]).max()))
        gt = batch["depth"].double().numpy()
        valid = gt > 0
        pixels += int(valid.sum())
        for k in names:
            sq[k] += float(((preds[k] - gt)[valid] ** 2).sum())
    rmse = {k: math.sqrt(v / pixels) for k, v in sq.items()}
    return {
        "data": str(data), "split": split, "frames": len(indices), "pixels": pixels, "rmse_m": rmse,
        "rmse_change_pct_vs_fake_quant": {k: 100 * (rmse[k] / rmse["fake_quant"] - 1) for k in max_diff},
        "max_abs_diff_vs_fake_quant_m": max_diff,
    }  # fmt: skip


def int8_engines(quant_model: torch.nn.Module, folder: Path, threads: int) -> dict[str, Any]:
    """``ort_int8`` and ``torch_int8`` callables(batch) for one quantized model (its INT8 ONNX file in `folder`)."""
    from completion.export import export_onnx
    from completion.quant.int8_torch import convert_int8
    from completion.runtime_onnx import OnnxRunner

    folder.mkdir(parents=True, exist_ok=True)
    size = 8 * int(getattr(getattr(quant_model, "core", None), "stride", 1))
    path = folder / "int8.onnx"
    export_onnx(quant_model, path, height_px=size, width_px=size, weight_storage="int8")
    runner = OnnxRunner(path, threads=threads)
    return {"ort_int8": lambda b: runner({k: b[k].numpy() for k in runner.input_keys}),
            "torch_int8": convert_int8(quant_model)}  # fmt: skip


def auto_figures(times: dict[str, list[list[float]]], keys: dict[str, str], auto: str) -> dict[str, Any]:
    """Issue 19's figures for one size from `time_latency` times.

    Args:
        times: engine key -> per-round blocks of seconds; the float engines are ``torch_fp32`` and ``ort_fp32``.
        keys: ``torch-int8`` and ``onnx-int8`` -> the engine key of that runtime in `times`.
        auto: the runtime ``completion predict --runtime auto`` takes on this machine (`auto_int8_runtime`).

    Returns:
        median ms of both float and both int8 engines, the faster float engine (the reference), the auto path and
        ``int8_speedup_vs_fp32`` for it (median over rounds of the round's faster float / the auto engine), with
        the same ratio for each int8 engine and against each float engine alone.
    """
    med = {k: 1000 * statistics.median(t for block in v for t in block) for k, v in times.items()}
    floats = ["torch_fp32", "ort_fp32"]
    auto_key = keys.get(auto)
    out = {
        "fp32_torch_ms": med["torch_fp32"], "fp32_onnxruntime_ms": med["ort_fp32"],
        "fp32_reference": "torch" if med["torch_fp32"] <= med["ort_fp32"] else "onnxruntime",
        "int8_torch_ms": med[keys["torch-int8"]], "int8_onnxruntime_ms": med[keys["onnx-int8"]],
        "auto_runtime": auto,
        "int8_speedup_vs_fp32": _per_round(times, floats, auto_key) if auto_key else None,
        "int8_speedup_vs_fp32_torch": _per_round(times, ["torch_fp32"], auto_key) if auto_key else None,
        "int8_speedup_vs_fp32_onnxruntime": _per_round(times, ["ort_fp32"], auto_key) if auto_key else None,
        "int8_speedup_vs_fp32_torch_int8": _per_round(times, floats, keys["torch-int8"]),
        "int8_speedup_vs_fp32_onnxruntime_int8": _per_round(times, floats, keys["onnx-int8"]),
    }  # fmt: skip
    out["fp32_reference_ms"] = min(med["torch_fp32"], med["ort_fp32"])
    return out


def shipped_fidelity(data: Path, names: list[str], split: str, threads: int, folder: Path) -> dict[str, Any]:
    """`fidelity` of each shipped (or any loadable) quantized model on `split` of the tofsim data set `data`."""
    from completion.checkpoint import load_model

    out = {}
    for name in names:
        fns = int8_engines(load_model(name).eval(), folder / name.replace("/", "_"), threads)
        out[name] = fidelity(data, name, fns, split)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement of the module docstring, as one JSON-able dict."""
    from completion.checkpoint import load_model

    torch.set_num_threads(args.threads)
    load_start = loadavg()
    float_model, quant_model = load_model(args.float_model).eval(), load_model(args.quantized_model).eval()
    paths = export_pair(float_model, quant_model, args.out)
    fns = engines(float_model, quant_model, paths, args.threads)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes]
    figures: dict[str, Any] = {"latency": measure_latency(fns, sizes, args.rounds)}
    first = figures["latency"][args.sizes[0]]
    figures["int8_speedup_vs_fp32"] = first["int8_speedup_vs_fp32"]
    from completion.runtimes import auto_int8_runtime

    figures["auto_runtime"] = auto_int8_runtime()[0]  # what `completion predict --runtime auto` takes here
    auto_key = {"torch-int8": "torch_int8_speedup_vs_fp32", "onnx-int8": "int8_speedup_vs_fp32"}.get(
        figures["auto_runtime"]
    )
    figures["auto_int8_speedup_vs_fp32"] = first[auto_key] if auto_key else None
    if not args.skip_memory:
        models = {"float": args.float_model, "quantized": args.quantized_model}
        figures["memory"] = {"hw": list(sizes[0]), **measure_peak_rss(models, paths, sizes[0], args.threads)}
    if args.data is not None:
        figures["fidelity"] = fidelity(args.data, args.quantized_model, fns, args.split)
    figures["setup"] = {"float_model": args.float_model, "quantized_model": args.quantized_model,
                        "threads": args.threads, "rounds": args.rounds, "sizes": args.sizes}  # fmt: skip
    figures["machine"] = machine(load_start)
    return figures


def machine(load_start: list[float] | None) -> dict[str, Any]:
    """CPU, versions and load of this run."""
    import onnxruntime

    return {"cpu_count": os.cpu_count(), "cpu_simd_flags": cpu_simd_flags(), "platform": platform.platform(),
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "torch_quantized_engine": torch.backends.quantized.engine, "loadavg_start": load_start,
            "loadavg_end": loadavg()}  # fmt: skip


def format_table(f: dict[str, Any]) -> str:
    """The printed summary."""
    lines = [f"{'size':<9}" + "".join(f"{e + ' ms':>15}" for e in ENGINES) + f"{'int8 x fp32':>13}"]
    for size, lat in f["latency"].items():
        ms = "".join(f"{lat['median_ms'][e]:>15.1f}" for e in ENGINES)
        lines.append(f"{size:<9}{ms}{lat['int8_speedup_vs_fp32']:>12.2f}x")
    if "memory" in f:
        mem = f["memory"]
        rows = []
        for e in ENGINES:
            peak, base = mem[e]["peak_rss_bytes"], mem[e]["baseline_rss_bytes"]
            rows.append(f"{e} {peak / 1e6:.0f} (+{(peak - base) / 1e6:.0f})")
        lines.append(
            f"peak RSS at {mem['hw'][0]}x{mem['hw'][1]}, MB (+ over the process before loading): " + ", ".join(rows)
        )
    if "fidelity" in f:
        fid = f["fidelity"]
        rows = [f"fake-quant {1000 * fid['rmse_m']['fake_quant']:.2f} mm"]
        for k in ("ort_int8", "torch_int8"):
            change, diff = fid["rmse_change_pct_vs_fake_quant"][k], fid["max_abs_diff_vs_fake_quant_m"][k]
            rows.append(f"{k} {change:+.4f} %, max |diff| {1000 * diff:.2f} mm")
        lines.append(f"RMSE on {fid['frames']} frames: " + "; ".join(rows))
    m = f["machine"]
    lines.append(f"machine: {m['cpu_count']} cores ({', '.join(m['cpu_simd_flags'] or ['?'])}), load average "
                 f"{m['loadavg_start']} -> {m['loadavg_end']}")  # fmt: skip
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--float-model", default="tofnet-sds", help="float run, checkpoint or pretrained name")
    p.add_argument("--quantized-model", default="tofnet-sds-w8a8", help="quantized run, checkpoint or name")
    p.add_argument("--sizes", nargs="+", default=["480x640", "240x320"], help="HxW; memory uses the first")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5, help="latency rounds (3 timed calls per engine each)")
    p.add_argument("--data", type=Path, default=None, help="tofsim data set for the fidelity check")
    p.add_argument("--split", default=None, help="split of --data (default: every frame)")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--out", type=Path, default=Path("bench-int8-work"), help="folder for the ONNX files")
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run, print the table, write --json."""
    args = parse_args(argv)
    figures = run(args)
    figures["command"] = " ".join([sys.executable, *sys.argv])
    print(format_table(figures))
    if args.json is not None:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(figures, indent=2) + "\n")
        os.replace(tmp, args.json)
    return figures


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]))
    else:
        main()
