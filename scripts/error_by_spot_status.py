#!/usr/bin/env python3
"""Where a model's squared error sits, by what the nearest spot reported (valid, dropout, mixed, far, no hit).

Usage: .venv/bin/python scripts/error_by_spot_status.py DATA SPLIT N [MODEL]
       (e.g. work/ship/data val 30 tofnet-sds; every 7th frame of the split, N frames)

Every valid ground-truth pixel is bucketed by the `tofsim.frame.SpotStatus` of its nearest on-image spot (any
status, the pixel a spot is written to: floor(x + 0.5)); per bucket it prints the share of pixels, and for the
linear fill and the model the share of the linear fill's total squared error and the bucket's RMSE in mm.
Never point it at real frames to choose anything: they are a test set.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from completion.checkpoint import load_model
from completion.data import make_inputs, to_batch
from completion.prefill import nearest_spot_status
from tofsim.dataset.reader import open_dataset


def main() -> None:
    """Accumulate squared errors per status bucket and print the table."""
    data, split, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(1)
    model = load_model(sys.argv[4] if len(sys.argv) > 4 else "tofnet-sds").eval()
    ds = open_dataset(data, split)
    acc: dict[tuple[str, int], list[float]] = {}
    for i in range(0, min(n * 7, len(ds)), 7):
        s = ds[i]
        gt = s.depth_m
        valid = np.isfinite(gt) & (gt > 0)
        status = nearest_spot_status(s.spots, gt.shape)
        if status is None:  # no spot on the image
            continue
        with torch.no_grad():
            pred = model(to_batch(s, prefill=model.prefill))[0, 0].numpy()
        for name, p in {"linear": make_inputs(s)["prefill"][0], "model": pred}.items():
            e2 = (p - gt) ** 2
            for code in np.unique(status):
                k = valid & (status == code)
                a = acc.setdefault((name, int(code)), [0.0, 0])
                a[0] += float(e2[k].sum())
                a[1] += int(k.sum())
    total = {m: sum(a[0] for (name, _), a in acc.items() if name == m) for m in ("linear", "model")}
    pixels = sum(a[1] for (name, _), a in acc.items() if name == "linear")
    print("status  pixels %  linear: sq-err % / RMSE mm  model: sq-err % / RMSE mm")
    for code in sorted({c for _, c in acc}):
        lin, mod = acc[("linear", code)], acc[("model", code)]
        print(f"{code:6d}  {100 * lin[1] / pixels:8.2f}  {100 * lin[0] / total['linear']:6.1f} / "
              f"{1000 * np.sqrt(lin[0] / lin[1]):6.0f}  {100 * mod[0] / total['linear']:6.1f} / "
              f"{1000 * np.sqrt(mod[0] / mod[1]):6.0f}")  # fmt: skip
    print("pooled RMSE mm: " + ", ".join(f"{m} {1000 * np.sqrt(t / pixels):.1f}" for m, t in total.items()))


if __name__ == "__main__":
    main()
