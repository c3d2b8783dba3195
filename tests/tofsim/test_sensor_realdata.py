"""The sensor on real Kinect frames (7-Scenes redkitchen): spot depths agree with the real depth within sigma."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tofsim.camera import Intrinsics, z_to_range
from tofsim.frame import DenseFrame, SpotStatus
from tofsim.sensor import simulate

pytestmark = pytest.mark.realdata


def _frame(root, name: str) -> DenseFrame:
    png = np.asarray(Image.open(root / f"{name}.depth.png"))
    depth = np.where((png == 0) | (png == 65535), 0, png).astype(np.float32) / 1000.0
    rgb = np.asarray(Image.open(root / f"{name}.color.jpg").convert("RGB"))
    intr = Intrinsics.from_K(np.loadtxt(root / "camera-intrinsics.txt"), 640, 480)
    albedo = (rgb.astype(np.float32).mean(axis=-1) / 255.0).astype(np.float32)  # a crude proxy, enough here
    return DenseFrame(
        rgb=rgb, depth_m=depth, range_m=z_to_range(depth, intr), intrinsics=intr, pose=np.eye(4), albedo=albedo
    )


@pytest.mark.parametrize("name", ["frame-000000", "frame-000250", "frame-000495"])
def test_real_frame_spots_agree_with_depth_within_sigma(redkitchen, name):
    frame = _frame(redkitchen, name)
    out = simulate(frame, "sds", rng=np.random.default_rng(0))
    sp = out.spots
    st = sp["status"]
    valid = st == SpotStatus.VALID
    assert valid.mean() > 0.6
    ui = np.floor(sp["u"] + 0.5).astype(int)
    vi = np.floor(sp["v"] + 0.5).astype(int)
    gt_all = np.zeros(len(sp), np.float32)
    inside = (ui >= 0) & (ui < 640) & (vi >= 0) & (vi < 480)
    gt_all[inside] = frame.depth_m[vi[inside], ui[inside]]
    # a footprint (0.5 deg, ~5 px) can measure around a small hole under its centre: rare
    assert np.mean(gt_all[valid] == 0) < 0.03
    both = valid & (gt_all > 0)
    sigma_z = sp["sigma_m"][both] * sp["z_m"][both] / sp["range_m"][both]
    t = (sp["z_m"][both] - gt_all[both]) / sigma_z
    robust_std = 1.4826 * np.median(np.abs(t - np.median(t)))
    assert 0.8 < robust_std < 1.3 and abs(np.median(t)) < 0.2
    # spots that return nothing sit in Kinect holes
    no_hit = st == SpotStatus.NO_HIT
    assert no_hit.sum() > 0 and np.mean(gt_all[no_hit] == 0) > 0.8
    assert np.array_equal(out.mask, out.sparse_m > 0)
    assert out.mask.sum() == np.isin(st, (SpotStatus.VALID, SpotStatus.MIXED)).sum()
