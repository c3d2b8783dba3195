"""Scoring speed: frames/s of the full metric set at 640x480, speed-up over a naive NumPy scorer, memory vs N.

The full metric set is what ``leaderboard score`` computes per frame: RMSE, MAE, iRMSE, iMAE, REL, SqRel,
six delta thresholds, RMAE, EWMAE, RDS, five depth bins and the at-spot / away / edge / flat regions, plus the
per-image row and the pooled sums. Frames are synthetic (a room-like depth map with edges, invalid pixels,
1,070 spots) and made once; file reading is not timed.

    python benchmarks/scoring_speed.py                 # N = 200 frames
    python benchmarks/scoring_speed.py --frames 400 --json bench.json

Keys of ``--json``: frames_per_s (2 worker threads, as ``leaderboard score`` runs), frames_per_s_1thread,
frames_per_cpu_s (frames per CPU-second of the one-thread run: less sensitive to other processes),
frames_per_s_processes (the same work split over worker processes, free of the GIL),
naive_frames_per_s, speedup_vs_naive, peak_mem_n_bytes, peak_mem_4n_bytes, peak_mem_ratio_4n_vs_n,
state_bytes_per_frame (the accumulator's per-image row), cpu_count, load_avg (other processes on the machine slow
every number down).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leaderboard.metrics import MetricAccumulator, frame_stats  # noqa: E402
from leaderboard.metrics.base import Workspace  # noqa: E402
from leaderboard.protocol import Protocol  # noqa: E402

H, W = 480, 640


def make_frames(k: int, seed: int = 0) -> list[tuple[np.ndarray, ...]]:
    """`k` synthetic frames: (pred, gt, spot_mask, sparse), float32 metres."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    frames = []
    for _ in range(k):
        gt = 2.0 + 1.5 * (xx / W) + 0.5 * (yy / H)  # a slanted wall
        for _ in range(4):  # boxes in front of it
            y0, x0 = rng.integers(0, H - 100), rng.integers(0, W - 100)
            gt[y0 : y0 + rng.integers(40, 100), x0 : x0 + rng.integers(40, 100)] = rng.uniform(0.6, 1.8)
        gt = gt.astype(np.float32)
        gt[rng.random((H, W)) < 0.02] = 0.0  # invalid GT pixels
        pred = (gt + rng.normal(0, 0.02, gt.shape) * (gt > 0)).astype(np.float32)
        pred[rng.random((H, W)) < 0.001] = 0.0  # a few missing predictions
        mask = np.zeros((H, W), bool)
        mask[9:472:15, 5:636:18] = True  # about 1,100 spots
        sparse = np.where(mask, gt, 0).astype(np.float32)
        frames.append((pred, gt, mask & (gt > 0), sparse))
    return frames


# ---------------------------------------------------------------------------------------------------------------
# The straightforward per-image NumPy version: the same numbers, written the obvious way.


def naive_scores(pred, gt, spot_mask, sparse, bins=(0, 1, 2, 3, 5, 10), kappa=0.5, rel_jump=0.05):
    valid = gt > 1e-4
    p = pred.astype(np.float64).copy()
    p[~np.isfinite(p) | (p < 0)] = 0.0
    p, g = p[valid], gt[valid].astype(np.float64)
    d = p - g
    ip = 1.0 / (p + 1e-8)
    ip[p <= 1e-4] = 0.0
    ig = 1.0 / (g + 1e-8)
    ratio = np.maximum(g / (p + 1e-8), p / (g + 1e-8))
    out = {
        "rmse": np.sqrt(np.mean(d**2)),
        "mae": np.mean(np.abs(d)),
        "irmse": np.sqrt(np.mean((ip - ig) ** 2)),
        "imae": np.mean(np.abs(ip - ig)),
        "rel": np.mean(np.abs(d) / (g + 1e-8)),
        "sqrel": np.mean(d**2 / (g + 1e-8)),
        "rmae": np.mean(np.abs(d) / g),
    }
    for name, t in (("d1", 1.25), ("d2", 1.25**2), ("d3", 1.25**3), ("d102", 1.02), ("d105", 1.05), ("d110", 1.1)):
        out[name] = np.mean(ratio < t)
    # EWMAE (MIPI 2022, gradients to invalid pixels zeroed)
    ref = gt.astype(np.float32) / gt[valid].max()
    gs = np.zeros_like(ref)
    ge = np.zeros_like(ref)
    gs[:-1] = np.diff(ref, axis=0) * (valid[1:] & valid[:-1])
    ge[:, :-1] = np.diff(ref, axis=1) * (valid[:, 1:] & valid[:, :-1])
    cs, ce = np.exp(-((gs / kappa) ** 2)), np.exp(-((ge / kappa) ** 2))
    cn, cw = np.ones_like(ref), np.ones_like(ref)
    cn[1:] = cs[:-1]
    cw[:, 1:] = ce[:, :-1]
    big_g = (1 - (cn + cs + cw + ce) / 4)[valid].astype(np.float64)
    out["ewmae"] = np.sum(big_g * np.abs(d)) / gt[valid].max() / big_g.sum()
    spots = sparse > 0
    out["rds"] = np.mean(np.abs(pred[spots] - sparse[spots]) / sparse[spots])
    # regions
    gv = gt.astype(np.float32)
    edge = np.zeros_like(valid)
    js = (np.abs(np.diff(gv, axis=0)) > rel_jump * np.minimum(gv[1:], gv[:-1])) & valid[1:] & valid[:-1]
    je = (np.abs(np.diff(gv, axis=1)) > rel_jump * np.minimum(gv[:, 1:], gv[:, :-1])) & valid[:, 1:] & valid[:, :-1]
    edge[:-1] |= js
    edge[1:] |= js
    edge[:, :-1] |= je
    edge[:, 1:] |= je
    regions = {"edge": edge[valid], "flat": ~edge[valid], "at_spot": spot_mask[valid], "away": ~spot_mask[valid]}
    for lo, hi in zip(bins[:-1], bins[1:], strict=True):
        regions[f"{lo}-{hi}"] = (g >= lo) & (g < hi)
    for name, sel in regions.items():
        if sel.any():
            out[f"{name}_rmse"] = np.sqrt(np.mean(d[sel] ** 2))
            out[f"{name}_mae"] = np.mean(np.abs(d[sel]))
            out[f"{name}_rel"] = np.mean(np.abs(d[sel]) / g[sel])
            out[f"{name}_d1"] = np.mean(ratio[sel] < 1.25)
    return out


# ---------------------------------------------------------------------------------------------------------------


def run_streaming(frames, n: int, protocol: Protocol, cpu: list | None = None) -> float:
    """Wall seconds to score `n` frames through one `MetricAccumulator` (one thread); CPU seconds go to `cpu`."""
    acc = MetricAccumulator(protocol)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        pred, gt, mask, sparse = frames[i % len(frames)]
        acc.update(pred, gt, spot_mask=mask, sparse_m=sparse)
    acc.compute()
    if cpu is not None:
        cpu.append(time.process_time() - c0)
    return time.perf_counter() - t0


def run_threaded(frames, n: int, protocol: Protocol, workers: int) -> float:
    """Seconds to score `n` frames with `workers` threads feeding one accumulator (as `score` does)."""
    import threading

    local = threading.local()
    acc = MetricAccumulator(protocol)

    def job(i):
        work = getattr(local, "work", None)
        if work is None:
            work = local.work = Workspace()
        pred, gt, mask, sparse = frames[i % len(frames)]
        return frame_stats(pred, gt, protocol=protocol, spot_mask=mask, sparse_m=sparse, work=work)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for st in pool.map(job, range(n), chunksize=4):
            acc.add(st)
    acc.compute()
    return time.perf_counter() - t0


def _process_worker(args) -> float:
    """Make frames, then return the seconds this process needs to score `n` of them."""
    seed, n, protocol = args
    frames = make_frames(4, seed=seed)
    run_streaming(frames, 4, protocol)  # warm-up
    return run_streaming(frames, n, protocol)


def run_processes(n: int, protocol: Protocol, workers: int) -> float:
    """Seconds for `workers` processes to score `n` frames together (slowest worker's scoring time).

    Shows what the cores can do without the GIL (``np.bincount`` and the Python glue hold it in threads).
    """
    import multiprocessing as mp

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    per = [n // workers + (1 if w < n % workers else 0) for w in range(workers)]
    with ctx.Pool(workers) as pool:
        return max(pool.map(_process_worker, [(w, k, protocol) for w, k in enumerate(per)]))


def run_naive(frames, n: int) -> float:
    t0 = time.perf_counter()
    rows = []
    for i in range(n):
        rows.append(naive_scores(*frames[i % len(frames)]))
    return time.perf_counter() - t0


class _Loaded:
    """Frames as a reader hands them over: a fresh copy of each frame per access (as decoding a file gives)."""

    def __init__(self, frames) -> None:
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i):
        return tuple(None if a is None else a.copy() for a in self.frames[i])


def peak_memory(frames, n: int, protocol: Protocol) -> int:
    """Peak traced bytes while streaming `n` frames, each loaded (copied) inside the traced window as from disk.

    The accumulator's own state grows by one row per image (`state_bytes_per_frame` in the output): it is what
    per-image means, bootstrap intervals and paired tests need; everything else is fixed.
    """
    tracemalloc.start()
    tracemalloc.reset_peak()
    run_streaming(_Loaded(frames), n, protocol)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def check_agreement(frames, protocol: Protocol) -> float:
    """Largest relative difference between the naive scorer and the accumulator on the headline metrics."""
    acc = MetricAccumulator(protocol)
    worst = 0.0
    for pred, gt, mask, sparse in frames[:2]:
        acc.reset()
        acc.update(pred, gt, spot_mask=mask, sparse_m=sparse)
        res = acc.compute()
        ref = naive_scores(pred, gt, mask, sparse)
        for k in ("rmse", "mae", "irmse", "imae", "rel", "d1", "d105", "rmae", "ewmae", "rds"):
            a, b = res.per_image[k], float(ref[k])
            worst = max(worst, abs(a - b) / max(abs(b), 1e-12))
        regions = {r["region"]: r for r in res.regions}
        for name, key in (("edge", "edge"), ("at_spot", "at_spot"), ("flat", "flat")):
            a, b = regions[name]["mae"], float(ref[f"{key}_mae"])
            worst = max(worst, abs(a - b) / max(abs(b), 1e-12))
    return worst


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200, help="N (memory is also measured at 4N)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    args = ap.parse_args(argv)
    protocol = Protocol()
    frames = make_frames(8)
    n = args.frames
    agreement = check_agreement(frames, protocol)
    run_streaming(frames, 8, protocol)  # warm-up (buffers, caches)
    cpu: list[float] = []
    t1 = min(run_streaming(frames, n, protocol, cpu) for _ in range(2))
    tw = min(run_threaded(frames, n, protocol, args.workers) for _ in range(2))
    tp = run_processes(n, protocol, args.workers)
    n_naive = max(20, n // 5)
    tn = run_naive(frames, n_naive)
    mem_n = peak_memory(frames, n, protocol)
    mem_4n = peak_memory(frames, 4 * n, protocol)
    fps_1, fps_w, fps_naive = n / t1, n / tw, n_naive / tn
    result = {
        "frames_per_s": fps_w,
        "frames_per_s_1thread": fps_1,
        "frames_per_cpu_s": n / min(cpu),
        "frames_per_s_processes": n / tp,
        "workers": args.workers,
        "naive_frames_per_s": fps_naive,
        "speedup_vs_naive": fps_w / fps_naive,
        "speedup_vs_naive_1thread": fps_1 / fps_naive,
        "peak_mem_n_bytes": mem_n,
        "peak_mem_4n_bytes": mem_4n,
        "peak_mem_ratio_4n_vs_n": mem_4n / mem_n,
        "state_bytes_per_frame": (mem_4n - mem_n) / (3 * n),
        "n_frames": n,
        "resolution": [W, H],
        "max_rel_diff_vs_naive": agreement,
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    print(f"full metric set at {W}x{H}, N = {n} frames")
    print(f"  {fps_w:8.1f} frames/s with {args.workers} threads   ({fps_1:.1f} frames/s on one thread)")
    print(f"  {n / tp:8.1f} frames/s with {args.workers} processes (no GIL)")
    print(f"  {n / min(cpu):8.1f} frames per CPU-second (one thread; less sensitive to other load on the machine)")
    print(f"  {fps_naive:8.1f} frames/s naive per-image NumPy   -> speed-up x{result['speedup_vs_naive']:.2f}")
    print(f"  peak memory {mem_n / 1e6:.2f} MB at N, {mem_4n / 1e6:.2f} MB at 4N (ratio {mem_4n / mem_n:.3f}),")
    print(f"  of which the per-image rows: {result['state_bytes_per_frame']:.0f} B per frame")
    print(f"  max relative difference to the naive scorer: {agreement:.2e}")
    print(f"  cpus {result['cpu_count']} (affinity {result['affinity_cpus']}), load average {result['load_avg']}")
    if not math.isfinite(agreement) or agreement > 1e-6:
        print("WARNING: the fast and naive scorers disagree", file=sys.stderr)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
