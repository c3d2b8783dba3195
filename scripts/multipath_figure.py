#!/usr/bin/env python3
"""Figure for docs/sensor-model.md: what first-order multipath does to the spot errors of a concave corner.

Usage: .venv/bin/python scripts/multipath_figure.py [--out docs/figures/multipath-corner.png]

An analytic 90-degree corner (its edge 2 m ahead, both walls turned 45 deg towards the camera, albedo 0.5) seen by
the ``sds`` iToF sensor without noise, quantization or baseline, so every millimetre shown is multipath. Panels:
the ground-truth depth; the spot error (measured - true z, mm) with ``multipath`` on (receiver = the 0.5 deg beam);
the same with a 1.5 deg receiver; and the range bias along the middle row for both. Also prints the CPU time per
frame with and without multipath. Runs in a few seconds, offline.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tofsim.camera import Intrinsics, z_to_range  # noqa: E402
from tofsim.frame import DenseFrame, SpotStatus  # noqa: E402
from tofsim.sensor import get_sensor_preset, simulate  # noqa: E402

APEX_M = 2.0


def corner_frame(w: int = 640, h: int = 480, f_px: float = 585.0) -> DenseFrame:
    """Concave corner: z = APEX_M / (1 + |x / z|), normals (-sign x, 0, -1) / sqrt(2), albedo 0.5."""
    intr = Intrinsics(fx_px=f_px, fy_px=f_px, cx_px=(w - 1) / 2, cy_px=(h - 1) / 2, width_px=w, height_px=h)
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    x = (u - intr.cx_px) / f_px
    depth = (APEX_M / (1.0 + np.abs(x))).astype(np.float32)
    side = np.where(x < 0, -1.0, 1.0)
    normals = np.stack([-side, np.zeros_like(x), -np.ones_like(x)], axis=-1) / np.sqrt(2.0)
    return DenseFrame(
        rgb=np.zeros((h, w, 3), np.uint8), depth_m=depth, range_m=z_to_range(depth, intr), intrinsics=intr,
        pose=np.eye(4), albedo=np.full((h, w), 0.5, np.float32), normals_cam=normals.astype(np.float32),
    )  # fmt: skip


def cpu_s(frame: DenseFrame, cfg, repeats: int = 3) -> float:
    """Median CPU seconds (`time.process_time`) of one sensor frame."""
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        simulate(frame, cfg, rng=np.random.default_rng(0))
        times.append(time.process_time() - t0)
    return float(np.median(times))


def main() -> None:
    """Draw the figure and print the cost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/figures/multipath-corner.png"))
    args = parser.parse_args()
    frame = corner_frame()
    base = dataclasses.replace(
        get_sensor_preset("sds"), add_noise=False, range_quantization_m=0.0, baseline_m=(0.0, 0.0, 0.0)
    )
    configs = {
        "off": base,
        "beam 0.5 deg": dataclasses.replace(base, multipath=True),
        "receiver 1.5 deg": dataclasses.replace(base, multipath=True, multipath_receiver_deg=1.5),
    }
    spots = {k: simulate(frame, c, rng=np.random.default_rng(0)).spots for k, c in configs.items()}
    t_off, t_on = cpu_s(frame, base), cpu_s(frame, configs["beam 0.5 deg"])
    print(f"cpu per frame: off {t_off * 1e3:.1f} ms, multipath {t_on * 1e3:.1f} ms")
    ok = spots["off"]["status"] == SpotStatus.VALID
    u, v = spots["off"]["u"][ok], spots["off"]["v"][ok]
    true_z = frame.depth_m[np.floor(v + 0.5).astype(int), np.floor(u + 0.5).astype(int)]
    fig, ax = plt.subplots(1, 4, figsize=(17, 3.6), constrained_layout=True)
    im = ax[0].imshow(frame.depth_m, cmap="magma")
    ax[0].set_title("corner: ground-truth depth (m)")
    fig.colorbar(im, ax=ax[0], shrink=0.8)
    for a, key in zip(ax[1:3], ("beam 0.5 deg", "receiver 1.5 deg"), strict=True):
        err_mm = (spots[key]["z_m"][ok] - true_z) * 1e3
        lim = float(np.ceil(np.abs(err_mm).max()))
        sc = a.scatter(u, v, c=err_mm, s=6, cmap="seismic", vmin=-lim, vmax=lim)
        a.set_xlim(0, 640), a.set_ylim(480, 0), a.set_aspect("equal")
        a.set_title(f"spot error, multipath ({key}), mm")
        fig.colorbar(sc, ax=a, shrink=0.8)
    mid = ok & (np.abs(spots["off"]["v"] - frame.intrinsics.cy_px) < 3)
    for key in ("beam 0.5 deg", "receiver 1.5 deg"):
        bias = (spots[key]["range_m"] - spots["off"]["range_m"])[mid] * 1e3
        ax[3].plot(spots["off"]["u"][mid], bias, "o-", ms=3, label=key)
    ax[3].axvline(frame.intrinsics.cx_px, color="grey", lw=0.8, ls=":")
    ax[3].set_xlabel("u (px); the corner's edge at the dotted line")
    ax[3].set_ylabel("range bias (mm)")
    ax[3].set_title("middle row: multipath bias")
    ax[3].legend()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
