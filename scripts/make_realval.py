#!/usr/bin/env python3
"""Extract a small REAL RGB-D validation set from Open3D's old test data into ``tofsim convert`` folders.

Usage: .venv/bin/python scripts/make_realval.py /work/.mirror/isl-org+Open3D/repo [--out work/realval/src]

These frames are a VALIDATION set for choosing models on real sensor depth. They are never the test set
(``../shared/data``), which is neither read nor written here.

Provenance: github.com/isl-org/Open3D, commit ed30e3b61fbe031e106fa64030bec3f698b316b4 (2022-02-19, the parent of
6e0924e98 "Removing Test Data, replaced by Datasets Module (#4749)"), files ``examples/test_data/RGBD/other_formats/``
(added in 3f5ffc078, 2017, "adding examples for other datasets"). Open3D is MIT-licensed (LICENSE at that commit);
the frames come from the public TUM RGB-D, SUN3D and NYU Depth v2 datasets, each under its own terms. One frame
per set; each set is written as ``<out>/<set>/depth/<stem>.png`` (PNG16, millimetres, 0 = no depth),
``rgb/<stem>.png`` and ``intrinsics.txt`` (``fx fy cx cy`` of the depth image, pixels):

* ``tum``: TUM_depth.png (5000 per metre, registered to colour by the OpenNI driver) + TUM_color.png; TUM's
  recommended ROS-default intrinsics 525 525 319.5 239.5 (the frame's sequence, hence its calibration, is unknown).
* ``sun3d``: SUN_depth.png (SUN3D's 3-bit-rotated millimetres, `decode_sun3d_depth`, registered to colour) +
  SUN_color.jpg; SUN3D's Kinect intrinsics 570.342205 570.342205 320 240.
* ``nyu``: NYU_depth.pgm (raw Kinect disparity, 640x480, little-endian uint16 despite the PGM header, as Open3D's
  ``CreateFromNYUFormat`` byte swap shows) -> depth_m = 351.3 / (1092.5 - raw) (NYU toolbox); raw >= 2047 and depth
  outside (0, 10] m are no depth. The raw depth is NOT registered to colour: depth stays in the depth camera
  (NYU toolbox intrinsics 582.624 582.691 313.045 238.444, its lens distortion ignored) and NYU_color.ppm is
  resampled into it through the toolbox's depth-to-colour extrinsics and colour intrinsics + distortion (the sign
  convention was chosen by the best colour-edge / depth-edge agreement, whose peak is at zero extra shift).

Skipped: ``examples/test_data/RGBD/color|depth/0000N`` (POV-Ray renders of ICL-NUIM, synthetic: see the JPEG
comment), ``reconstruction_system/livingroom1_clean_micro`` (synthetic), ``test_data/depth.png`` (no colour).
"""

from __future__ import annotations

import argparse
import io
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from tofsim.depth_png import decode_png16, read_png16, write_png16
from tofsim.sources.sun3d import decode_sun3d_depth

COMMIT = "ed30e3b61fbe031e106fa64030bec3f698b316b4"
FOLDER = "examples/test_data/RGBD/other_formats"
DEPTH_SCALE_PER_M = 1000.0  # written PNGs are millimetres
TUM_SCALE_PER_M = 5000.0
#: (fx, fy, cx, cy) in pixels.
TUM_INTRINSICS_PX = (525.0, 525.0, 319.5, 239.5)
SUN3D_INTRINSICS_PX = (570.342205, 570.342205, 320.0, 240.0)
NYU_DEPTH_INTRINSICS_PX = (5.8262448167737955e02, 5.8269103270988637e02, 3.1304475870804731e02, 2.3844389626620386e02)
NYU_RGB_INTRINSICS_PX = (5.1885790117450188e02, 5.1946961112127485e02, 3.2558244941119034e02, 2.5373616633400465e02)
#: NYU colour lens distortion (k1, k2, p1, p2, k3).
NYU_RGB_DISTORTION = (2.0796615318809061e-01, -5.8613825163911781e-01, 7.2231363135888329e-04,
                      1.0479627195765181e-03, 4.9856986684705107e-01)  # fmt: skip
#: NYU toolbox rotation (row-major as printed in camera_params.m) and translation (t_x, t_y, t_z) in metres.
NYU_R = np.array([[9.9997798940829263e-01, 5.0518419386157446e-03, 4.3011152014118693e-03],
                  [-5.0359919480810989e-03, 9.9998051861143999e-01, -3.6879781309514218e-03],
                  [-4.3196624923060242e-03, 3.6662365748484798e-03, 9.9998394948385538e-01]])  # fmt: skip
NYU_T_M = np.array([2.5031875059141302e-02, 6.6238747008330102e-04, -2.9342312935846411e-04])
NYU_MAX_DEPTH_M = 10.0
NYU_INVALID_RAW = 2047


def git_show(git_dir: Path, path: str) -> bytes:
    """The bytes of `path` at `COMMIT` in the bare repository `git_dir`."""
    return subprocess.run(["git", "-C", str(git_dir), "show", f"{COMMIT}:{path}"], check=True,
                          capture_output=True).stdout  # fmt: skip


def rgb_from_bytes(data: bytes) -> np.ndarray:
    """(H, W, 3) uint8 RGB from JPEG/PNG/PPM bytes."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def nyu_depth_m(pgm: bytes, width_px: int = 640, height_px: int = 480) -> np.ndarray:
    """NYU raw Kinect disparity PGM -> (H, W) float64 depth in metres, 0 where invalid."""
    raw = np.frombuffer(pgm[-width_px * height_px * 2 :], dtype="<u2").reshape(height_px, width_px).astype(np.float64)
    with np.errstate(divide="ignore"):
        depth_m = np.where(raw < NYU_INVALID_RAW, 351.3 / (1092.5 - raw), 0.0)
    depth_m[(depth_m <= 0) | (depth_m > NYU_MAX_DEPTH_M)] = 0.0
    return depth_m


def nyu_colour_in_depth_frame(rgb: np.ndarray, depth_m: np.ndarray) -> np.ndarray:
    """Resample the NYU colour image into the depth camera (holes take the nearest valid depth)."""
    nearest = ndimage.distance_transform_edt(depth_m == 0, return_distances=False, return_indices=True)
    z_m = depth_m[nearest[0], nearest[1]]
    fx, fy, cx, cy = NYU_DEPTH_INTRINSICS_PX
    v_px, u_px = np.mgrid[: depth_m.shape[0], : depth_m.shape[1]].astype(np.float64)
    points_m = np.stack([z_m * (u_px - cx) / fx, z_m * (v_px - cy) / fy, z_m])
    p_m = np.einsum("ij,jhw->ihw", NYU_R.T, points_m) - NYU_T_M[:, None, None]
    x, y = p_m[0] / p_m[2], p_m[1] / p_m[2]
    k1, k2, p1, p2, k3 = NYU_RGB_DISTORTION
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    xd, yd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x), y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    fxc, fyc, cxc, cyc = NYU_RGB_INTRINSICS_PX
    coords = [fyc * yd + cyc, fxc * xd + cxc]
    out = [ndimage.map_coordinates(rgb[..., c].astype(np.float64), coords, order=1, mode="nearest") for c in range(3)]
    return np.clip(np.rint(np.stack(out, axis=-1)), 0, 255).astype(np.uint8)


def write_set(out_dir: Path, stem: str, depth_m: np.ndarray, rgb: np.ndarray, intrinsics_px: tuple[float, ...]) -> None:
    """Write one frame as ``depth/<stem>.png`` (mm), ``rgb/<stem>.png`` and ``intrinsics.txt``."""
    if depth_m.shape != rgb.shape[:2]:
        raise ValueError(f"{out_dir}: depth {depth_m.shape} and colour {rgb.shape[:2]} differ in size")
    (out_dir / "depth").mkdir(parents=True, exist_ok=True)
    (out_dir / "rgb").mkdir(parents=True, exist_ok=True)
    write_png16(out_dir / "depth" / f"{stem}.png", depth_m, scale_per_m=DEPTH_SCALE_PER_M)
    Image.fromarray(rgb).save(out_dir / "rgb" / f"{stem}.png")
    (out_dir / "intrinsics.txt").write_text(" ".join(f"{v:.10g}" for v in intrinsics_px) + "\n")
    valid = depth_m[depth_m > 0]
    p5_m, med_m, p95_m = np.percentile(valid, [5, 50, 95])
    print(f"{out_dir.name}/{stem}: {depth_m.shape[1]}x{depth_m.shape[0]} valid {100 * valid.size / depth_m.size:.1f} % "
          f"median {med_m:.3f} m p5 {p5_m:.3f} p95 {p95_m:.3f}")  # fmt: skip


def main() -> None:
    """Extract, decode and write the three sets."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("git_dir", type=Path, help="bare git dir of github.com/isl-org/Open3D (fetched)")
    ap.add_argument("--out", type=Path, default=Path("work/realval/src"))
    args = ap.parse_args()
    show = lambda name: git_show(args.git_dir, f"{FOLDER}/{name}")  # noqa: E731

    tum_depth_m = decode_png16(read_png16("TUM_depth.png", data=show("TUM_depth.png")), scale_per_m=TUM_SCALE_PER_M)
    write_set(args.out / "tum", "tum_0000", tum_depth_m, rgb_from_bytes(show("TUM_color.png")), TUM_INTRINSICS_PX)

    sun_depth_m = decode_sun3d_depth(read_png16("SUN_depth.png", data=show("SUN_depth.png")))
    write_set(args.out / "sun3d", "sun3d_0000", sun_depth_m, rgb_from_bytes(show("SUN_color.jpg")), SUN3D_INTRINSICS_PX)

    nyu_m = nyu_depth_m(show("NYU_depth.pgm"))
    nyu_rgb = nyu_colour_in_depth_frame(rgb_from_bytes(show("NYU_color.ppm")), nyu_m)
    write_set(args.out / "nyu", "nyu_0000", nyu_m, nyu_rgb, NYU_DEPTH_INTRINSICS_PX)


if __name__ == "__main__":
    main()
