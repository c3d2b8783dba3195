"""Speed of the depth-completion networks on this CPU: parameters, MACs, training-step time, inference latency.

For tofnet, nlspn-small and nlspn at 240x320 and 480x640 (batch 1, torch threads = --threads):
- MACs counted with forward hooks on Conv2d, ConvTranspose2d and Linear (NLSPN's grid_sample propagation,
  BN, activations and resizes are not counted);
- training step = forward + L1 loss + backward + SGD step, median over --train-runs after one warm-up;
- inference latency = median (and min) over at least --runs forward passes under `torch.inference_mode()` after one
  warm-up, repeated until --min-time-s is spent (the CPU may be shared: the fastest run is the least disturbed);
Models over 50 GMACs (full nlspn, seconds to tens of seconds a pass) get one timed inference, half the training
steps and no extra warm-up (the MAC-counting forward pass warms them up; their first training step is timed), to
keep the run at a few minutes. `tofnet_vs_nlspn_speedup` at 480x640 is the median over --pairs back-to-back
measurements (tofnet, nlspn, tofnet), so a load that changes during the run on a shared CPU cancels out; the
ratios from the table's medians and fastest runs are written beside it (--json PATH), with the load averages.

    .venv/bin/python benchmarks/completion_speed.py --json bench-completion.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from completion import models

SIZES = [(240, 320), (480, 640)]
MODELS = ["tofnet", "nlspn-small", "nlspn"]
BIG_MACS = 50e9  # models above this (full nlspn: 107 G at 240x320, 430 G at 480x640) get fewer timed runs


def make_batch(h: int, w: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A synthetic batch of one: spots on a staggered grid of ~18 px pitch, the model interface's keys."""
    g = torch.Generator().manual_seed(seed)
    sparse = torch.zeros(1, 1, h, w)
    sparse[:, :, 9::15, 5::18] = 1.0 + 4.0 * torch.rand(sparse[:, :, 9::15, 5::18].shape, generator=g)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    dist = torch.minimum((yy - 9) % 15, 15 - (yy - 9) % 15).float().hypot(torch.minimum(xx % 18, 18 - xx % 18).float())
    return {
        "rgb": torch.rand(1, 3, h, w, generator=g),
        "sparse": sparse,
        "mask": (sparse > 0).float(),
        "prefill": 1.0 + 4.0 * torch.rand(1, 1, h, w, generator=g),
        "nearest": 1.0 + 4.0 * torch.rand(1, 1, h, w, generator=g),
        "dist": dist[None, None],
        "spot_status": torch.zeros(1, 2, h, w),
        "K": torch.tensor([[[585.0 * w / 640, 0, w / 2], [0, 585.0 * h / 480, h / 2], [0, 0, 1]]]),
    }


def count_macs(model: nn.Module, batch: dict[str, torch.Tensor]) -> int:
    """Multiply-accumulates of one forward pass in Conv2d, ConvTranspose2d and Linear layers."""
    total = 0

    def hook(mod: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            total += out.numel() * k
        elif isinstance(mod, nn.ConvTranspose2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.out_channels // mod.groups
            total += inputs[0].numel() * k
        elif isinstance(mod, nn.Linear):
            total += out.numel() * mod.in_features

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)
    ]
    with torch.inference_mode():
        model(batch)
    for h in handles:
        h.remove()
    return total


def time_inference(
    model: nn.Module, batch: dict[str, torch.Tensor], runs: int, warmup: bool = True, min_time_s: float = 0.0
) -> list[float]:
    """Seconds per forward pass: `runs` passes, more (up to 100) until `min_time_s` is spent; one warm-up first."""
    model.eval()
    times: list[float] = []
    with torch.inference_mode():
        if warmup:
            model(batch)
        while len(times) < runs or (sum(times) < min_time_s and len(times) < 100):
            t0 = time.perf_counter()
            model(batch)
            times.append(time.perf_counter() - t0)
    return times


def time_train_step(model: nn.Module, batch: dict[str, torch.Tensor], runs: int, warmup: bool = True) -> list[float]:
    """Seconds per forward + L1 loss + backward + SGD step (after one warm-up step unless `warmup` is False)."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-5, momentum=0.9)
    target = batch["prefill"] + 0.1
    times = []
    for i in range(runs + int(warmup)):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = (model(batch) - target).abs().mean()
        loss.backward()
        opt.step()
        if i or not warmup:
            times.append(time.perf_counter() - t0)
    return times


def paired_speedup(fast: nn.Module, slow: nn.Module, batch: dict[str, torch.Tensor], pairs: int) -> list[float]:
    """Latency ratios slow / fast measured back to back, robust to a load that drifts on a shared CPU.

    Each pair: median of 5 fast passes, one slow pass, median of 5 fast passes; ratio = slow / mean of the two.
    """
    ratios = []
    time_inference(fast, batch, 1)
    time_inference(slow, batch, 0)  # eval mode + one warm-up pass
    for _ in range(pairs):
        before = statistics.median(time_inference(fast, batch, 5, warmup=False))
        slow_s = time_inference(slow, batch, 1, warmup=False)[0]
        after = statistics.median(time_inference(fast, batch, 5, warmup=False))
        ratios.append(slow_s / (0.5 * (before + after)))
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--runs", type=int, default=5, help="timed inference runs per model and size")
    parser.add_argument("--min-time-s", type=float, default=3.0, help="time fast models for at least this long")
    parser.add_argument("--train-runs", type=int, default=3, help="timed training steps per model and size")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated registry names")
    parser.add_argument("--pairs", type=int, default=2, help="back-to-back tofnet/nlspn pairs at 480x640")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    names = args.models.split(",")
    results: dict = {
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_avg_1min_start": os.getloadavg()[0],
        "models": {},
    }
    t_start = time.perf_counter()
    print(f"threads={args.threads}  torch {torch.__version__}  load avg {os.getloadavg()[0]:.2f}")
    print(f"{'model':12} {'size':8} {'params':>10} {'GMACs':>8} {'train step s':>13} {'infer ms':>10} {'min ms':>8}")
    for name in names:
        model = models.create(name)
        n_params = sum(p.numel() for p in model.parameters())
        entry = {"params": n_params, "config": model.config, "sizes": {}}
        for h, w in SIZES:
            batch = make_batch(h, w)
            macs = count_macs(model, batch)
            big = macs > BIG_MACS
            runs = 1 if big else args.runs
            train_runs = max(1, args.train_runs // 2) if big else args.train_runs
            # full NLSPN takes seconds to tens of seconds a pass: the MAC-counting pass is its inference warm-up
            inf = time_inference(model, batch, runs, warmup=not big, min_time_s=args.min_time_s)
            train = time_train_step(model, batch, train_runs, warmup=not big)
            key = f"{h}x{w}"
            entry["sizes"][key] = {
                "macs": macs,
                "gmacs": round(macs / 1e9, 3),
                "infer_median_s": statistics.median(inf),
                "infer_min_s": min(inf),
                "infer_runs": len(inf),
                "train_step_median_s": statistics.median(train),
                "train_runs": len(train),
            }
            print(
                f"{name:12} {key:8} {n_params:>10,} {macs / 1e9:>8.2f} {statistics.median(train):>13.3f} "
                f"{1e3 * statistics.median(inf):>10.1f} {1e3 * min(inf):>8.1f}",
                flush=True,
            )
        results["models"][name] = entry
    if "tofnet" in results["models"] and "nlspn" in results["models"]:
        tof = results["models"]["tofnet"]["sizes"]["480x640"]
        nl = results["models"]["nlspn"]["sizes"]["480x640"]
        paired = paired_speedup(models.create("tofnet"), models.create("nlspn"), make_batch(480, 640), args.pairs)
        results["tofnet_vs_nlspn_speedup"] = statistics.median(paired)
        results["tofnet_vs_nlspn_speedup_pairs"] = paired
        results["tofnet_vs_nlspn_speedup_from_medians"] = nl["infer_median_s"] / tof["infer_median_s"]
        results["tofnet_vs_nlspn_speedup_from_min"] = nl["infer_min_s"] / tof["infer_min_s"]
        results["tofnet_vs_nlspn_mac_ratio"] = nl["macs"] / tof["macs"]
        print(
            f"tofnet vs nlspn at 480x640: {results['tofnet_vs_nlspn_speedup']:.1f}x faster in back-to-back pairs "
            f"({', '.join(f'{r:.1f}' for r in paired)}); {results['tofnet_vs_nlspn_speedup_from_medians']:.1f}x from "
            f"the table's medians, {results['tofnet_vs_nlspn_speedup_from_min']:.1f}x from the fastest runs; "
            f"{results['tofnet_vs_nlspn_mac_ratio']:.0f}x fewer MACs; target >= 20x"
        )
    results["load_avg_1min_end"] = os.getloadavg()[0]
    results["total_s"] = time.perf_counter() - t_start
    print(f"total {results['total_s']:.0f} s, load avg at the end {results['load_avg_1min_end']:.2f}")
    if args.json:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(results, indent=2) + "\n")
        os.replace(tmp, args.json)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
