#!/usr/bin/env python3
"""A non-test proxy for the holes of a real RGB-D sensor: validation frames with a share of spots turned NO_HIT.

Usage: .venv/bin/python scripts/spot_holes_proxy.py [--data work/ship/data] [--frames 48] [--share 0.08]
       [--models v2=V2.pt v3=tofnet-sds] [--far-codes 3 4]

Converted real frames mark a spot NO_HIT where the RGB-D ground truth has a hole (Kinect: ~8 % of spots, mostly
beside depth edges); generated rooms mark NO_HIT only for rays that hit nothing. On every 7th frame of the
generated *validation* split, this turns ``--share`` of the spots NO_HIT (valid spots beside a depth edge first,
their measurement removed, the ground truth kept) and prints per-image mean RMSE of linear interpolation and each
model, on the clean and the holed frames. ``--far-codes`` overrides which statuses light the "far" status channel
(`completion.prefill.SPOT_STATUS_CHANNELS`; 3 4 is the first v3 grouping). Real frames are never used.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch

import completion.prefill as prefill_module
from completion.checkpoint import load_model
from completion.data import make_inputs, to_batch
from leaderboard.metrics.errors import rmse
from tofsim.dataset.reader import open_dataset
from tofsim.frame import SpotStatus


def with_holes(sample, share: float, rng: np.random.Generator):
    """`sample` with ``share`` of its spots turned NO_HIT, valid spots beside a > 5 % depth jump first."""
    gt = sample.depth_m
    spots = sample.spots.copy()
    u, v = np.floor(spots["u"] + 0.5).astype(int), np.floor(spots["v"] + 0.5).astype(int)
    h, w = gt.shape
    ok = (u >= 2) & (u < w - 2) & (v >= 2) & (v < h - 2) & (spots["status"] == SpotStatus.VALID)
    idx = np.nonzero(ok)[0]
    edge = np.array([np.ptp(gt[v[j] - 2 : v[j] + 3, u[j] - 2 : u[j] + 3]) > 0.05 * gt[v[j], u[j]] for j in idx])
    pick = np.concatenate([rng.permutation(idx[edge]), rng.permutation(idx[~edge])])[: int(share * len(spots))]
    spots["status"][pick] = SpotStatus.NO_HIT
    sparse, mask = sample.sparse_m.copy(), sample.spot_mask.copy()
    sparse[v[pick], u[pick]] = 0.0
    mask[v[pick], u[pick]] = False
    return dataclasses.replace(sample, spots=spots, sparse_m=sparse, spot_mask=mask)


def main() -> None:
    """Score linear and the models on clean and holed validation frames."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="work/ship/data")
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--share", type=float, default=0.08)
    ap.add_argument("--models", nargs="*", default=["tofnet-sds=tofnet-sds"], help="NAME=MODEL")
    ap.add_argument("--far-codes", type=int, nargs="*", default=None)
    args = ap.parse_args()
    if args.far_codes is not None:
        prefill_module.SPOT_STATUS_CHANNELS = (("far", tuple(args.far_codes)), ("dropout", (SpotStatus.DROPOUT,)))
    torch.set_num_threads(2)
    models = {name: load_model(path).eval() for name, path in (m.split("=", 1) for m in args.models)}
    ds = open_dataset(args.data, "val")
    rng = np.random.default_rng(0)
    res: dict[str, dict[str, list[float]]] = {k: {"clean": [], "holes": []} for k in ("linear", *models)}
    for i in range(0, min(args.frames * 7, len(ds)), 7):
        clean = ds[i]
        for tag, s in (("clean", clean), ("holes", with_holes(clean, args.share, rng))):
            res["linear"][tag].append(rmse(make_inputs(s)["prefill"][0], s.depth_m))
            for name, m in models.items():
                with torch.no_grad():
                    res[name][tag].append(rmse(m(to_batch(s, prefill=m.prefill))[0, 0].numpy(), s.depth_m))
    for tag in ("clean", "holes"):
        lin = np.mean(res["linear"][tag])
        cells = [f"{k} {1000 * np.mean(r[tag]):.1f} mm ({np.mean(r[tag]) / lin:.3f}x)" for k, r in res.items()]
        print(f"{tag}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
