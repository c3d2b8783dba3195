#!/usr/bin/env python3
"""Choose between candidate models on validation frames only: per-image RMSE / MAE against the classical fills.

Usage: .venv/bin/python scripts/compare_candidates.py --models v3=tofnet-sds v4=work/ship4/tofnet-sds/best.pt
       --sets val4=work/ship4/data:val:48 lit=work/test-lights::48 tum=work/realval/tum:: [--out FILE.json]

A set is ``NAME=FOLDER:SPLIT:N``: the first N frames (empty: all) of SPLIT (empty: every frame) of a tofsim
dataset, scored at full size. Each model runs in float32 on the CPU; linear (Delaunay) and nearest fills of the same
spots are scored beside it. Prints one table per set (per-image mean RMSE and MAE in mm, and the ratio to linear)
and, with --out, writes them as JSON. The real test frames (../shared/data) must never be a set here: choosing on
them would be choosing on the test set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from completion.checkpoint import load_model
from completion.data import make_inputs, to_batch
from leaderboard.metrics.errors import mae, rmse
from tofsim.dataset.reader import open_dataset


def _frames(spec: str) -> tuple[object, int]:
    """(dataset, number of frames to score) of a ``FOLDER:SPLIT:N`` set."""
    folder, split, count = (spec.split(":") + ["", ""])[:3]
    if "shared/data" in str(Path(folder).resolve()):
        raise SystemExit(f"{folder}: the real frames in ../shared/data are a test set; never choose on them")
    ds = open_dataset(folder, split or None)
    return ds, min(int(count), len(ds)) if count else len(ds)


def _score(pred_m: np.ndarray, gt_m: np.ndarray) -> tuple[float, float]:
    valid = gt_m > 0
    return 1000 * float(rmse(pred_m[valid], gt_m[valid])), 1000 * float(mae(pred_m[valid], gt_m[valid]))


def compare(models: dict[str, str], sets: dict[str, str]) -> dict[str, dict[str, list[float]]]:
    """{set: {method: [mean RMSE mm, mean MAE mm]}} over the frames of each set."""
    nets = {name: load_model(src).eval() for name, src in models.items()}
    out: dict[str, dict[str, list[float]]] = {}
    for set_name, spec in sets.items():
        ds, n_frames = _frames(spec)
        rows: dict[str, list[tuple[float, float]]] = {"linear": [], "nearest": [], **{n: [] for n in nets}}
        for i in range(n_frames):
            sample = ds[i]
            inputs = make_inputs(sample, prefill="linear")
            gt = inputs["depth"][0]
            rows["linear"].append(_score(inputs["prefill"][0], gt))
            rows["nearest"].append(_score(inputs["nearest"][0], gt))
            for name, net in nets.items():
                with torch.inference_mode():
                    pred = net(to_batch(sample, prefill=getattr(net, "prefill", "linear")))[0, 0].float().numpy()
                rows[name].append(_score(pred, gt))
        out[set_name] = {k: np.mean(np.array(v), axis=0).round(2).tolist() for k, v in rows.items()}
        lin = out[set_name]["linear"][0]
        print(f"\n{set_name} ({n_frames} frames)  method | RMSE mm | MAE mm | RMSE / linear")
        for k, (r, m) in out[set_name].items():
            print(f"  {k:>12} | {r:8.1f} | {m:7.1f} | {r / lin:.3f}")
    return out


def main() -> None:
    """Parse the command line, compare, print (and write --out)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True, help="NAME=SOURCE (run folder, .pt, pretrained name)")
    parser.add_argument("--sets", nargs="+", required=True, help="NAME=FOLDER:SPLIT:N")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = compare(dict(a.split("=", 1) for a in args.models), dict(a.split("=", 1) for a in args.sets))
    if args.out is not None:
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
