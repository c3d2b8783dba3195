"""Quantization benchmark: float32 tofnet vs W8A8, W4A8, W4A4 and W* on one small simulated SDS data set.

In one run (all on the CPU, torch and onnxruntime limited to --threads threads):

1. generate (or reuse) a small SDS-style data set with tofsim (`sds-qvga` sensor set-up at --height x --width,
   procedural rooms, scene-wise train/val/test splits);
2. take the shipped float32 model (``--float-model tofnet-sds``, the default: a trained model, so the RMSE
   changes measure quantization, not noise around an untrained network; the data set is then 640 x 480 like its
   training data), or ``--float-model train``: train (or reuse) a float32 tofnet on it (random --crop crops);
3. fine-tune each preset with quantization-aware training (`completion.quant.api.quantize_run`, --qat-epochs);
4. measure, for float32 and each preset:
   - weight bytes as stored (packed sub-byte weights + float32 per-channel scales + float32 biases) and the ratio
     to float32 (`completion.quant.report.memory_report`);
   - peak activation bytes from tensor liveness at 480x640 (--latency-height x --latency-width) at the preset's
     activation bits; below 8 bits this is computed, not measured;
   - test-split RMSE (pooled over all valid pixels of the full test images) and its change vs float32;
   - training-step time: forward + geometry loss + backward + gradient clipping + AdamW step on the same training
     batch for the float model and each QAT model, interleaved step by step so that a changing load on a shared
     CPU hits all of them alike; the ratio to float is the median over --step-runs rounds of the per-round ratio;
   - CPU latency at 480x640 and 240x320 (--latency-extra-sizes), batch 1: float32 torch (`torch.inference_mode`),
     float32 onnxruntime, each preset exported with INT8 weights on onnxruntime (one dynamic-size export per
     model) and on torch's int8 engine (`convert_int8`), in blocks per engine, round by round; medians over
     --latency-runs rounds of one untimed and three timed calls per engine;
   - issue 19 (`quantization_int8.py`): peak RSS of one inference process per engine, and the int8 engines against
     the fake-quant model for --fidelity-models (the shipped ones) on the generated test split;
5. print a table, compare with the targets of issues 4 and 19, and write everything as JSON (--json PATH).

`qat_step_ratio` is the largest QAT/float step-time ratio over the presets; `int8_speedup_vs_fp32` is the latency
of the faster float32 engine (torch or onnxruntime, per round) / the latency of the W8A8 model on the runtime
``completion predict --runtime auto`` takes here (`int8_auto_runtime`: torch-int8 where fbgemm runs, else
onnxruntime int8) at 480x640, the median of the per-round ratios; `_torch` and `_onnxruntime` are the same against
one float engine; `int8_speedup_by_size` holds, per size, both float and both int8 times and every ratio.

    .venv/bin/python benchmarks/quantization.py --out /tmp/qbench --json bench-quantization.json

The work folder keeps the data set (``dataset/``) and the float run (``fp32/``) and reuses them when the options
that made them are unchanged; the QAT runs (``qat-<preset>/``) and the ONNX files are made afresh on every run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from completion.run_folder import RunFolder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from int8_runtime import cpu_simd_flags, latency_batch, loadavg, time_latency  # noqa: E402
from quantization_int8 import int8_lines, int8_section  # noqa: E402
from quantization_runs import epoch_logger, finetune_float, log, make_dataset, shipped_float, train_float  # noqa: E402

PRESETS = ["w8a8", "w4a8", "w4a4", "wstar"]
RMSE_TARGETS_PCT = {"w8a8": 1.0, "w4a8": 3.0, "w4a4": 8.0, "wstar": 10.0}
WSTAR_MIN_RATIO = 14.0
INT8_MIN_SPEEDUP = 2.0
QAT_MAX_STEP_RATIO = 1.3
FIDELITY_MAX_RMSE_CHANGE_PCT = 0.5
SHIPPED_QUANTIZED = ["tofnet-sds-w8a8", "tofnet-sds-w4a8", "tofnet-sds-w4a4", "tofnet-sds-wstar"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("bench-quantization-work"), help="work folder")
    p.add_argument("--json", type=Path, default=None, help="write the figures here as JSON")
    p.add_argument("--frames", type=int, default=64, help="frames in the generated data set")
    p.add_argument("--frames-per-scene", type=int, default=4)
    p.add_argument("--float-model", default="tofnet-sds", help="a shipped float model name, or 'train'")
    p.add_argument("--height", type=int, default=None, help="data set height (px; default 480 shipped, 240 train)")
    p.add_argument("--width", type=int, default=None, help="data set width (px; default 640 shipped, 320 train)")
    p.add_argument(
        "--crop",
        type=int,
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="training crop (px; default 192 256 shipped, 120 160 train)",
    )
    p.add_argument("--epochs", type=int, default=12, help="float32 training epochs")
    p.add_argument("--qat-epochs", type=int, default=2, help="QAT fine-tuning epochs per preset")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--base-width", type=int, default=8, help="tofnet base width n_f")
    p.add_argument("--presets", nargs="+", default=PRESETS, choices=PRESETS)
    p.add_argument("--threads", type=int, default=2, help="torch and onnxruntime intra-op threads")
    p.add_argument("--step-runs", type=int, default=12, help="timed training steps per model")
    p.add_argument("--latency-runs", type=int, default=5, help="latency rounds (3 timed calls per engine each)")
    p.add_argument("--latency-height", type=int, default=480)
    p.add_argument("--latency-width", type=int, default=640)
    p.add_argument("--latency-extra-sizes", nargs="*", default=["240x320"], help="more latency sizes, HxW")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-latency", action="store_true", help="skip the ONNX export and latency part")
    p.add_argument("--skip-memory", action="store_true", help="skip the peak-RSS processes (needs latency)")
    p.add_argument("--fidelity-models", nargs="*", default=SHIPPED_QUANTIZED,
                   help="quantized models whose int8 engines are compared with their fake-quant model on the test "
                        "split (default: the shipped ones; none to skip)")  # fmt: skip
    args = p.parse_args(argv)
    shipped = args.float_model != "train"
    args.height = args.height or (480 if shipped else 240)
    args.width = args.width or (640 if shipped else 320)
    args.crop = tuple(args.crop or ((192, 256) if shipped else (120, 160)))
    if args.frames < 3 * args.frames_per_scene:
        p.error("--frames must give at least 3 scenes (train, val, test): raise --frames or lower --frames-per-scene")
    if args.crop[0] > args.height or args.crop[1] > args.width:
        p.error("--crop must fit inside --height x --width")
    return args


# --------------------------------------------------------------------------------------------------------------
# measurements


def test_rmse_m(model: torch.nn.Module, dataset: Any) -> float:
    """Pooled RMSE (m) over all valid pixels of the full-size test images."""
    from completion.data import CompletionDataset, collate
    from completion.train import evaluate

    idx = list(dataset.splits["test"])
    ds = CompletionDataset(dataset, indices=idx, augment=None, prefill=getattr(model, "prefill", "linear"))
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate)
    return evaluate(model, loader, torch.device("cpu"))["rmse_m"]


def prefill_rmse_m(dataset: Any) -> float:
    """Pooled test RMSE (m) of the networks' own starting point, the linear fill of the spots."""

    class _Prefill(torch.nn.Module):
        def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            return batch["prefill"]

    return test_rmse_m(_Prefill(), dataset)


def training_batch(dataset: Any, config: Any) -> dict[str, torch.Tensor]:
    """The first training batch of the float run's pipeline (augmented crops)."""
    from completion.data import CompletionDataset, collate

    idx = list(dataset.splits["train"])[: config.batch_size]
    ds = CompletionDataset(dataset, indices=idx, augment=config.augment_config(), seed=config.seed)
    return collate([ds[i] for i in range(len(ds))])


def step_times(models: dict[str, torch.nn.Module], batch: dict[str, torch.Tensor], loss_cfg: Any, runs: int,
               grad_clip_norm: float) -> dict[str, list[float]]:  # fmt: skip
    """Seconds per training step (forward, geometry loss, backward, clip, AdamW step) of each model, interleaved.

    One untimed warm-up step per model first; then `runs` rounds, each timing one step of every model.
    """
    from completion.losses import geometry_loss

    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-6) for k, m in models.items()}

    def step(name: str) -> float:
        m, opt = models[name], opts[name]
        t0 = time.perf_counter()
        pred = m(batch)
        loss, _ = geometry_loss(pred, batch["depth"], batch["K"], loss_cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(m.parameters(), grad_clip_norm)
        opt.step()
        return time.perf_counter() - t0

    for m in models.values():
        m.train()
    for name in models:
        step(name)
    times: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(runs):
        for name in models:
            times[name].append(step(name))
    return times


def measure_latency(args: argparse.Namespace, models: dict[str, torch.nn.Module]) -> dict[str, Any]:
    """Export float32 and every preset once (dynamic size; INT8 weights, and packed for the file size), time them.

    Sizes: --latency-height x --latency-width, then each of --latency-extra-sizes. Per size and round, the speed-up
    of a preset is (the faster of float32 torch and float32 onnxruntime in that round) / (the preset on
    onnxruntime); the figure is the median over rounds.
    """
    from completion.export import export_onnx
    from completion.quant.int8_torch import convert_int8
    from completion.runtime_onnx import OnnxRunner

    onnx_dir = args.out / "onnx"
    if onnx_dir.exists():
        shutil.rmtree(onnx_dir)
    onnx_dir.mkdir(parents=True)
    trace = 4 * int(models["fp32"].core.stride)
    runners, files = {}, {}
    for name, model in models.items():
        storage = "int8" if name != "fp32" else "packed"
        info = export_onnx(model, onnx_dir / f"{name}-int8.onnx", height_px=trace, width_px=trace,
                           weight_storage=storage)  # fmt: skip
        files[name] = {"onnx_int8_bytes": info["bytes"]}
        if name != "fp32":
            packed = export_onnx(model, onnx_dir / f"{name}-packed.onnx", height_px=trace, width_px=trace)
            files[name].update(onnx_packed_bytes=packed["bytes"], onnx_packed_opset=packed["opset"])
        runners[name] = OnnxRunner(info["path"], threads=args.threads)
        files[name]["onnx_int8_path"] = info["path"]
        log(f"exported {name} ({info['bytes']:,} B)")
    torch_int8 = {name: convert_int8(m) for name, m in models.items() if name != "fp32"}
    sizes = [(args.latency_height, args.latency_width)]
    sizes += [tuple(int(v) for v in s.split("x")) for s in args.latency_extra_sizes]
    float_model = models["fp32"].eval()
    by_size = {}
    for h, w in sizes:
        batch = latency_batch(h, w)
        feed = {
            k: batch[k].numpy() for k in ("rgb", "prefill", "dist", "nearest", "spot_status")
        }  # each takes its keys
        if (h, w) == sizes[0]:  # parity of each exported model with the torch model it came from
            for name, model in models.items():
                with torch.inference_mode():
                    ref = model.eval()(batch).numpy()
                files[name]["onnx_vs_torch_max_abs_diff_m"] = float(np.abs(runners[name](feed) - ref).max())

        def torch_fp32(batch=batch) -> None:
            with torch.inference_mode():
                float_model(batch)

        fns = {"torch_fp32": torch_fp32}
        fns.update({f"ort_{name}": (lambda r=r, feed=feed: r(feed)) for name, r in runners.items()})
        fns.update({f"torch_int8_{name}": (lambda m=m, b=batch: m(b)) for name, m in torch_int8.items()})
        log(f"timing latency at {h}x{w}: {', '.join(fns)} x {args.latency_runs} rounds")
        by_size[f"{h}x{w}"] = _latency_figures(
            time_latency(fns, args.latency_runs), [k for k in fns if k != "torch_fp32"]
        )
    first = by_size[f"{sizes[0][0]}x{sizes[0][1]}"]
    return {"hw": list(sizes[0]), **first, "by_size": by_size, "files": files}


def _latency_figures(times: dict[str, list[list[float]]], keys: list[str]) -> dict[str, Any]:
    """Medians and per-round speed-ups (median over rounds) of every engine in `keys` against the float engines."""

    def speedup(refs: list[str], key: str) -> float:
        return statistics.median(
            min(statistics.median(times[r][i]) for r in refs) / statistics.median(times[key][i])
            for i in range(len(times[key]))
        )

    flat = {k: [t for block in v for t in block] for k, v in times.items()}
    return {
        "median_s": {k: statistics.median(v) for k, v in flat.items()},
        "min_s": {k: min(v) for k, v in flat.items()},
        "speedup_vs_fp32": {k: speedup(["torch_fp32", "ort_fp32"], k) for k in keys},
        "speedup_vs_torch_fp32": {k: speedup(["torch_fp32"], k) for k in keys},
        "speedup_vs_onnxruntime_fp32": {k: speedup(["ort_fp32"], k) for k in keys},
        "times_s": times,
    }


# --------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:  # noqa: C901, PLR0915
    """Run the benchmark; print the table; return (and with --json write) the figures."""
    args = parse_args(argv)
    import tofsim
    from completion.checkpoint import load_model
    from completion.quant.api import quantize_run
    from completion.quant.report import memory_report
    from completion.train import TrainConfig

    t_start = time.perf_counter()
    load_start = loadavg()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data_dir = make_dataset(args)
    dataset = tofsim.open_dataset(data_dir)
    float_dir = train_float(args, data_dir) if args.float_model == "train" else shipped_float(args, data_dir)
    config = TrainConfig.from_dict(RunFolder.at(float_dir).train_config())

    models: dict[str, torch.nn.Module] = {"fp32": load_model(float_dir).eval()}
    control_rmse_m = test_rmse_m(load_model(finetune_float(args, float_dir, dataset)).eval(), dataset)
    qat_seconds: dict[str, float] = {}
    wstar_info = None
    for preset in args.presets:
        out = args.out / f"qat-{preset}"
        if out.exists():
            shutil.rmtree(out)
        log(f"QAT {preset} for {args.qat_epochs} epochs into {out}")
        t0 = time.perf_counter()
        quantize_run(float_dir, preset, out, epochs=args.qat_epochs, dataset=dataset,
                     train_overrides={"cpu_threads": args.threads}, progress=epoch_logger(preset))  # fmt: skip
        qat_seconds[preset] = time.perf_counter() - t0
        models[preset] = load_model(out).eval()
        if preset == "wstar":
            wstar_info = RunFolder.at(out).quantization().get("wstar")

    results: dict[str, Any] = {}
    hw = (args.latency_height, args.latency_width)
    for name, model in models.items():
        rep = memory_report(model, height_px=hw[0], width_px=hw[1])
        results[name] = {
            "weight_bytes": rep["weights"]["bytes"] if name != "fp32" else rep["weights"]["fp32_bytes"],
            "peak_activation_bytes": rep["activations"]["peak_bytes"],
            "activation_bits": rep["activations"]["bits"],
            "activation_max_tensor_bytes": rep["activations"]["max_tensor_bytes"],
            "activation_sum_bytes": rep["activations"]["sum_bytes"],
            "activation_computed_not_measured": rep["activations"]["computed_not_measured"],
            "rmse_m": test_rmse_m(model, dataset),
        }
        if name != "fp32":
            results[name]["weight_bits_used"] = sorted({row["weight_bits"] for row in rep["layers"]})
            results[name]["qat_wall_s"] = qat_seconds[name]
    fp = results["fp32"]
    for r in results.values():
        r["weight_ratio_vs_fp32"] = fp["weight_bytes"] / r["weight_bytes"]
        r["rmse_change_pct"] = 100.0 * (r["rmse_m"] / fp["rmse_m"] - 1.0)
        r["rmse_change_pct_vs_fp32_finetuned"] = 100.0 * (r["rmse_m"] / control_rmse_m - 1.0)
    if wstar_info is not None:
        results["wstar"]["wstar_budget_bytes"] = wstar_info["budget_bytes"]
        results["wstar"]["wstar_note"] = wstar_info["note"]
        results["wstar"]["wstar_bits"] = wstar_info["bits"]

    # training-step time on the same batch, interleaved
    log("timing training steps")
    batch = training_batch(dataset, config)
    step_models = {"fp32": load_model(float_dir)}
    step_models.update({p: load_model(args.out / f"qat-{p}") for p in args.presets})
    steps = step_times(step_models, batch, config.loss, args.step_runs, config.grad_clip_norm)
    for name in models:
        # per round: this model's step / the float step of the same round; then the median over rounds (robust to
        # a load that drifts on a shared CPU); the ratio of the fastest steps is kept beside it
        ratios = [q / f for q, f in zip(steps[name], steps["fp32"], strict=True)]
        results[name]["train_step_s"] = statistics.median(steps[name])
        results[name]["train_step_min_s"] = min(steps[name])
        results[name]["train_step_ratio_vs_fp32"] = statistics.median(ratios)
        results[name]["train_step_min_ratio_vs_fp32"] = min(steps[name]) / min(steps["fp32"])
    qat_step_ratio = max(results[p]["train_step_ratio_vs_fp32"] for p in args.presets)

    latency = int8 = None
    int8_speedup = int8_speedup_ort = int8_speedup_torch = None
    if not args.skip_latency:
        latency = measure_latency(args, models)
        for name in models:
            results[name]["latency_ms_onnx"] = 1000 * latency["median_s"][f"ort_{name}"]
            results[name].update(latency["files"][name])
        results["fp32"]["latency_ms_torch"] = 1000 * latency["median_s"]["torch_fp32"]
        ref = "w8a8" if "w8a8" in models else args.presets[0]
        int8 = int8_section(args, latency, ref, {"fp32": float_dir, ref: args.out / f"qat-{ref}"}, data_dir)
        first = int8["by_size"][f"{hw[0]}x{hw[1]}"]
        int8_speedup = first["int8_speedup_vs_fp32"]
        int8_speedup_torch, int8_speedup_ort = (
            first["int8_speedup_vs_fp32_torch"],
            first["int8_speedup_vs_fp32_onnxruntime"],
        )

    targets: dict[str, Any] = {}
    for p in args.presets:
        lim = RMSE_TARGETS_PCT[p]
        targets[f"{p}_rmse_change_pct<=+{lim:g}"] = {"value": results[p]["rmse_change_pct"], "limit": lim,
                                                     "pass": results[p]["rmse_change_pct"] <= lim}  # fmt: skip
    if "wstar" in results:
        r = results["wstar"]["weight_ratio_vs_fp32"]
        targets[f"wstar_weight_ratio>={WSTAR_MIN_RATIO:g}"] = {"value": r, "limit": WSTAR_MIN_RATIO,
                                                               "pass": r >= WSTAR_MIN_RATIO}  # fmt: skip
    if int8_speedup is not None:
        targets[f"int8_speedup>={INT8_MIN_SPEEDUP:g}"] = {"value": int8_speedup, "limit": INT8_MIN_SPEEDUP,
                                                          "pass": int8_speedup >= INT8_MIN_SPEEDUP}  # fmt: skip
    if int8 is not None and int8.get("peak_rss", {}).get("auto_lower_than_fp32") is not None:
        targets["int8_peak_rss<fp32"] = {"value": int8["peak_rss"]["auto_lower_than_fp32"], "limit": True,
                                         "pass": int8["peak_rss"]["auto_lower_than_fp32"]}  # fmt: skip
    if int8 is not None and int8.get("fidelity"):
        worst = max(abs(v) for fid in int8["fidelity"].values() for v in fid["rmse_change_pct_vs_fake_quant"].values())
        lim = FIDELITY_MAX_RMSE_CHANGE_PCT
        targets[f"int8_vs_fake_quant_rmse_change_pct<={lim:g}"] = {"value": worst, "limit": lim,
                                                                   "pass": worst <= lim}  # fmt: skip
    targets[f"qat_step_ratio<={QAT_MAX_STEP_RATIO:g}"] = {"value": qat_step_ratio, "limit": QAT_MAX_STEP_RATIO,
                                                          "pass": qat_step_ratio <= QAT_MAX_STEP_RATIO}  # fmt: skip

    figures: dict[str, Any] = {
        **results,
        "int8_speedup_vs_fp32": int8_speedup,
        "int8_speedup_vs_fp32_torch": int8_speedup_torch,
        "int8_speedup_vs_fp32_onnxruntime": int8_speedup_ort,
        "int8_speedup_by_size": None if int8 is None else int8["by_size"],
        "int8_speedup_model": None if int8 is None else int8["model"],
        "int8_auto_runtime": None if int8 is None else int8["auto_runtime"],
        "int8": int8,
        "qat_step_ratio": qat_step_ratio,
        "fp32_finetuned_rmse_m": control_rmse_m,
        "prefill_rmse_m": prefill_rmse_m(dataset),
        "targets": targets,
        "latency": latency,
        "train_step_times_s": steps,
        "setup": {
            "dataset": str(data_dir),
            "frames": args.frames,
            "image_hw": [args.height, args.width],
            "splits": {k: len(v) for k, v in dataset.splits.items()},
            "train_crop_hw": list(args.crop),
            "float_model": args.float_model,
            "float_epochs": args.epochs if args.float_model == "train" else None,
            "qat_epochs": args.qat_epochs,
            "batch_size": args.batch_size,
            "model_cfg": dict(models["fp32"].config),
            "memory_hw": list(hw),
            "threads": args.threads,
            "step_batch_hw": list(batch["rgb"].shape[-2:]),
        },  # fmt: skip
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpu_simd_flags": cpu_simd_flags(),
            "torch_quantized_engines": list(torch.backends.quantized.supported_engines),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "onnxruntime": _ort_version(),
            "loadavg_start": load_start,
            "loadavg_end": loadavg(),
        },  # fmt: skip
        "wall_s": time.perf_counter() - t_start,
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
    }
    print(format_table(figures, list(models)))
    if args.json is not None:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(figures, indent=2, default=_json_default) + "\n")
        os.replace(tmp, args.json)
        print(f"figures written to {args.json}")
    return figures


def _ort_version() -> str | None:
    try:
        import onnxruntime

        return onnxruntime.__version__
    except ImportError:
        return None


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and math.isnan(x):
        return None
    return str(x)


def format_table(f: dict[str, Any], names: list[str]) -> str:
    """The printed summary."""
    head = (f"{'model':<6} {'weight B':>10} {'x fp32':>7} {'peak act B':>12} {'RMSE mm':>8} {'dRMSE %':>8} "
            f"{'vs ft %':>8} {'step s':>7} {'step x':>7} {'ORT ms':>8}")  # fmt: skip
    lines = [head]
    for n in names:
        r = f[n]
        ort = f"{r['latency_ms_onnx']:8.1f}" if "latency_ms_onnx" in r else f"{'-':>8}"
        lines.append(
            f"{n:<6} {r['weight_bytes']:>10,} {r['weight_ratio_vs_fp32']:>7.2f} {r['peak_activation_bytes']:>12,} "
            f"{1000 * r['rmse_m']:>8.1f} {r['rmse_change_pct']:>+8.2f} {r['rmse_change_pct_vs_fp32_finetuned']:>+8.2f} "
            f"{r['train_step_s']:>7.3f} "
            f"{r['train_step_ratio_vs_fp32']:>7.2f} {ort}"
        )
    if f["latency"] is not None:
        lat = f["latency"]
        lines.append(
            f"latency {lat['hw'][0]}x{lat['hw'][1]}, batch 1: "
            f"float32 torch {1000 * lat['median_s']['torch_fp32']:.1f} ms, "
            f"float32 onnxruntime {1000 * lat['median_s']['ort_fp32']:.1f} ms"
        )
        lines += int8_lines(f["int8"])
    lines.append(
        f"control: float32 fine-tuned like QAT (no quantizers): RMSE {1000 * f['fp32_finetuned_rmse_m']:.1f} mm "
        "(column 'vs ft %': change vs this control); linear fill of the spots (the networks' starting "
        f"point): {1000 * f['prefill_rmse_m']:.1f} mm"
    )
    lines.append(f"QAT step / float step (worst preset): {f['qat_step_ratio']:.2f}x")
    lines.append("targets: " + ", ".join(f"{k} {'PASS' if v['pass'] else 'FAIL'} ({v['value']:.3g})"
                                         for k, v in f["targets"].items()))  # fmt: skip
    m = f["machine"]
    simd = ", ".join(m["cpu_simd_flags"] or ["SIMD flags unknown"])
    lines.append(f"machine: {m['cpu_count']} cores ({simd}), load average start {m['loadavg_start']} "
                 f"end {m['loadavg_end']} (a shared CPU inflates and scatters times); "
                 f"wall {f['wall_s']:.0f} s")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
