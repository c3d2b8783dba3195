"""A separate colour camera: its config, the ToF-to-RGB extrinsics, and the spots registered into its frame.

Expectations are computed here from the pattern angles, the intrinsics and hand-written rigid transforms (explicit
matrices, not `tofsim.rgb_camera`'s), on analytic dense frames built in numpy: a fronto-parallel plane and a tilted
plane whose depth in the colour frame has a closed form.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from tofsim.camera import Intrinsics, z_to_range
from tofsim.config import GenerateConfig, config_hash
from tofsim.errors import ConfigError, ShapeError
from tofsim.frame import SPOT_DTYPE, DenseFrame, SpotStatus
from tofsim.rgb_camera import RgbCameraConfig, believed_extrinsics, extrinsics, rgb_pose, rotation_from_vector_deg
from tofsim.sensor import SensorOutput, get_sensor_preset, register_spots, simulate
from tofsim.sensor.registration import nominal_depth_m
from tofsim.spots import create_pattern

F_PX, W, H = 585.0, 640, 480
OK = (SpotStatus.VALID, SpotStatus.MIXED)


def intrinsics(f_px: float = F_PX, w: int = W, h: int = H) -> Intrinsics:
    return Intrinsics(fx_px=f_px, fy_px=f_px, cx_px=(w - 1) / 2, cy_px=(h - 1) / 2, width_px=w, height_px=h)


def make_frame(depth_m) -> DenseFrame:
    depth_m = np.asarray(depth_m, dtype=np.float32)
    intr = intrinsics(w=depth_m.shape[1], h=depth_m.shape[0])
    h, w = depth_m.shape
    return DenseFrame(
        rgb=np.zeros((h, w, 3), np.uint8), depth_m=depth_m, range_m=z_to_range(depth_m, intr), intrinsics=intr,
        pose=np.eye(4), albedo=np.full((h, w), 0.5, np.float32),
    )  # fmt: skip


def exact_sensor(**changes):
    """The sds sensor without noise, quantization, footprint or projector baseline."""
    base = dict(add_noise=False, range_quantization_m=0.0, divergence_deg=0.0, baseline_m=(0.0, 0.0, 0.0))
    return dataclasses.replace(get_sensor_preset("sds"), **{**base, **changes})


def rig(R_tof_from_rgb: np.ndarray, centre_m) -> np.ndarray:  # noqa: N803
    """T_rgb_from_tof of an RGB camera at `centre_m` with axes R_tof_from_rgb, written out by hand."""
    T = np.eye(4)  # noqa: N806
    T[:3, :3] = R_tof_from_rgb.T
    T[:3, 3] = -R_tof_from_rgb.T @ np.asarray(centre_m, dtype=np.float64)
    return T


def rot_y(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def on_image(u, v, w=W, h=H):
    ui, vi = np.floor(u + 0.5), np.floor(v + 0.5)
    return np.isfinite(u) & (ui >= 0) & (ui < w) & (vi >= 0) & (vi < h)


# ------------------------------------------------------------------------------------------------ config


def test_config_defaults_off_with_a_few_cm_baseline_and_strict_keys():
    cfg = GenerateConfig()
    assert cfg.rgb_camera == RgbCameraConfig() and not cfg.rgb_camera.enabled
    assert cfg.rgb_camera.baseline_m == (0.025, 0.0, 0.0) and cfg.rgb_camera.calibration_error_per == "scene"
    on = GenerateConfig.from_dict({"rgb_camera": {"enabled": True, "baseline_m": [0.05, 0, 0], "fx_px": 500}})
    assert on.rgb_camera.baseline_m == (0.05, 0.0, 0.0) and on.rgb_camera.fx_px == 500
    assert on.to_dict()["rgb_camera"]["baseline_m"] == [0.05, 0.0, 0.0]
    assert GenerateConfig.from_dict(on.to_dict()) == on
    with pytest.raises(ConfigError, match=r"rgb_camera: unknown key\(s\) translation_m; valid keys: enabled"):
        GenerateConfig.from_dict({"rgb_camera": {"translation_m": [0.02, 0, 0]}})


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"baseline_m": [0.02, 0.0]}, "baseline_m: expected three finite numbers"),
        ({"rotation_deg": [0.0, float("nan"), 0.0]}, "rotation_deg: expected three finite numbers"),
        ({"calibration_error_m": -0.001}, "calibration_error_m: expected a standard deviation >= 0"),
        ({"calibration_error_deg": float("inf")}, "calibration_error_deg: expected a standard deviation >= 0"),
        ({"calibration_error_per": "shard"}, "calibration_error_per: expected one of scene, frame"),
        ({"fx_px": 0.0}, "fx_px: expected a positive focal length"),
        ({"cy_px": float("nan")}, "cy_px: expected a finite principal point"),
        ({"enabled": "yes"}, "rgb_camera.enabled: expected"),
    ],
)
def test_config_rejects_bad_values(table, match):
    with pytest.raises(ConfigError, match=match):
        GenerateConfig.from_dict({"rgb_camera": table})


def test_disabled_table_leaves_the_resolved_config_and_its_hash_unchanged():
    plain = GenerateConfig()
    off = GenerateConfig.from_dict({"rgb_camera": {"enabled": False, "baseline_m": [0.1, 0, 0]}})
    assert "rgb_camera" not in off.to_dict() and off.to_dict() == plain.to_dict()
    assert config_hash(off) == config_hash(plain)
    on = plain.replace(rgb_camera=RgbCameraConfig(enabled=True))
    assert config_hash(on) != config_hash(plain)


def test_intrinsics_take_the_tof_values_unless_given():
    tof = Intrinsics(fx_px=500.0, fy_px=510.0, cx_px=300.0, cy_px=200.0, width_px=640, height_px=480)
    assert RgbCameraConfig().intrinsics(tof) == tof
    got = RgbCameraConfig(fx_px=400.0, cy_px=250.0).intrinsics(tof)
    assert (got.fx_px, got.fy_px, got.cx_px, got.cy_px, got.shape) == (400.0, 510.0, 300.0, 250.0, (480, 640))


# ------------------------------------------------------------------------------------------------ extrinsics


def test_rotation_vector_and_extrinsics_match_hand_written_matrices():
    np.testing.assert_allclose(rotation_from_vector_deg([0.0, 7.0, 0.0]), rot_y(7.0), atol=1e-12)
    np.testing.assert_allclose(rotation_from_vector_deg([0, 0, 90]) @ [1.0, 0, 0], [0.0, 1.0, 0.0], atol=1e-12)
    rot = rotation_from_vector_deg([3.0, -2.0, 1.0])
    np.testing.assert_allclose(rot.T @ rot, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    T = extrinsics((0.02, -0.01, 0.005), (0.0, 4.0, 0.0))  # noqa: N806
    np.testing.assert_allclose(T, rig(rot_y(4.0), (0.02, -0.01, 0.005)), atol=1e-12)
    np.testing.assert_allclose(T @ [0.02, -0.01, 0.005, 1.0], [0, 0, 0, 1.0], atol=1e-12)  # RGB centre -> origin
    pose_tof = np.eye(4)
    pose_tof[:3, 3] = (1.0, 2.0, 0.5)
    np.testing.assert_allclose(rgb_pose(pose_tof, T)[:3, 3], (1.02, 1.99, 0.505), atol=1e-12)


def test_believed_extrinsics_without_error_are_the_true_ones_and_errors_have_the_configured_std():
    cfg = RgbCameraConfig(enabled=True, baseline_m=(0.03, 0.0, 0.0), rotation_deg=(0.0, 1.0, 0.0))
    np.testing.assert_array_equal(believed_extrinsics(cfg, rng=np.random.default_rng(3)), cfg.extrinsics())
    noisy = dataclasses.replace(cfg, calibration_error_m=0.002, calibration_error_deg=0.5)
    rng = np.random.default_rng(11)
    d_centre, d_angle = [], []
    for _ in range(2000):
        T = believed_extrinsics(noisy, rng=rng)  # noqa: N806
        R = T[:3, :3].T  # noqa: N806 - R_tof_from_rgb believed
        d_centre.append(R @ -T[:3, 3] - np.array(cfg.baseline_m))  # believed centre - true centre
        err = rot_y(1.0).T @ R  # the error rotation, in the RGB camera's axes
        d_angle.append(np.degrees([err[2, 1] - err[1, 2], err[0, 2] - err[2, 0], err[1, 0] - err[0, 1]]) / 2)
    # std of 2000 normal draws lies within +-7 % of sigma with probability > 0.998
    np.testing.assert_allclose(np.std(d_centre, axis=0), 0.002, rtol=0.07)
    np.testing.assert_allclose(np.std(d_angle, axis=0), 0.5, rtol=0.07)
    assert np.all(np.abs(np.mean(d_centre, axis=0)) < 4 * 0.002 / math.sqrt(2000))


# ------------------------------------------------------------------------------------------------ registration


@pytest.mark.parametrize("baseline_x_m", [0.025, -0.08])
def test_plane_pure_x_baseline_shifts_each_spot_by_the_disparity(baseline_x_m):
    z = 2.0
    out = simulate(make_frame(np.full((H, W), z)), exact_sensor(), rng=np.random.default_rng(0))
    T = rig(np.eye(3), (baseline_x_m, 0.0, 0.0))  # noqa: N806
    reg = register_spots(out, intrinsics(), intrinsics(), T)
    d = create_pattern("sds").directions
    u_tof, v_tof = 319.5 + F_PX * d[:, 0] / d[:, 2], 239.5 + F_PX * d[:, 1] / d[:, 2]
    u_rgb = u_tof - F_PX * baseline_x_m / z  # disparity f b / z
    valid_tof = out.spots["status"] == SpotStatus.VALID
    expect_valid = valid_tof & on_image(u_rgb, v_tof)
    st = reg.spots["status"]
    assert np.array_equal(st == SpotStatus.VALID, expect_valid)
    assert np.all(st[valid_tof & ~expect_valid] == SpotStatus.OUT_OF_RANGE)
    assert (valid_tof & ~expect_valid).any() == (abs(F_PX * baseline_x_m / z) > 20)  # the -8 cm one leaves the image
    s = reg.spots[expect_valid]
    np.testing.assert_allclose(s["u"], u_rgb[expect_valid], atol=2e-3)
    np.testing.assert_allclose(s["v"], v_tof[expect_valid], atol=2e-3)
    np.testing.assert_allclose(s["z_m"], z, atol=1e-6)  # the RGB-frame ground truth of a fronto-parallel plane
    ray = np.sqrt(((u_rgb[expect_valid] - 319.5) / F_PX) ** 2 + ((v_tof[expect_valid] - 239.5) / F_PX) ** 2 + 1)
    np.testing.assert_allclose(s["range_m"], z * ray, atol=2e-6)  # range from the RGB camera's centre
    np.testing.assert_array_equal(s["amplitude"], out.spots["amplitude"][expect_valid])
    ui, vi = np.floor(u_rgb[expect_valid] + 0.5).astype(int), np.floor(v_tof[expect_valid] + 0.5).astype(int)
    assert reg.mask.sum() == expect_valid.sum() and np.array_equal(reg.mask, reg.sparse_m > 0)
    np.testing.assert_allclose(reg.sparse_m[vi, ui], z, atol=1e-6)
    gone = ~(st == SpotStatus.VALID)
    assert np.all(reg.spots["z_m"][gone] == 0) and np.all(reg.spots["range_m"][gone] == 0)


def test_tilted_plane_registered_z_equals_the_colour_frame_ground_truth():
    # plane z = z0 + a x in the ToF frame: n . X = z0 with n = (-a, 0, 1); the RGB camera sits at c with axes R,
    # so in its frame n' = R^T n, d' = z0 - n . c and the ground-truth depth at pixel ray r is d' / (n' . r)
    z0, a = 2.0, 0.4
    xn = (np.arange(W) - (W - 1) / 2) / F_PX
    out = simulate(make_frame(np.broadcast_to(z0 / (1 - a * xn), (H, W))), exact_sensor(), rng=np.random.default_rng(0))
    c, R = np.array([0.04, 0.01, -0.005]), rot_y(2.0)  # noqa: N806
    rgb = Intrinsics(fx_px=520.0, fy_px=525.0, cx_px=330.0, cy_px=236.0, width_px=W, height_px=H)
    reg = register_spots(out, intrinsics(), rgb, rig(R, c))
    ok = reg.spots["status"] == SpotStatus.VALID
    assert ok.sum() > 900
    n = np.array([-a, 0.0, 1.0])
    n_rgb, d_rgb = R.T @ n, z0 - n @ c
    s = reg.spots[ok].astype([(k, "f8") for k in SPOT_DTYPE.names])
    r = np.stack([(s["u"] - 330.0) / 520.0, (s["v"] - 236.0) / 525.0, np.ones(len(s))], axis=1)
    z_gt = d_rgb / (r @ n_rgb)
    np.testing.assert_allclose(s["z_m"], z_gt, atol=2e-5)
    ui, vi = np.floor(s["u"] + 0.5).astype(int), np.floor(s["v"] + 0.5).astype(int)
    np.testing.assert_allclose(reg.sparse_m[vi, ui], s["z_m"], atol=1e-6)


def test_calibration_error_moves_the_spots_by_the_predicted_amount():
    z, b = 2.5, 0.03
    out = simulate(make_frame(np.full((H, W), z)), exact_sensor(), rng=np.random.default_rng(0))
    true = register_spots(out, intrinsics(), intrinsics(), rig(np.eye(3), (b, 0, 0)))
    # a baseline believed 4 mm too long (x) and 2 mm off in y: u off by -f dx / z, v by -f dy / z
    shifted = register_spots(out, intrinsics(), intrinsics(), rig(np.eye(3), (b + 0.004, 0.002, 0)))
    both = (true.spots["status"] == SpotStatus.VALID) & (shifted.spots["status"] == SpotStatus.VALID)
    np.testing.assert_allclose(shifted.spots["u"][both] - true.spots["u"][both], -F_PX * 0.004 / z, atol=1e-3)
    np.testing.assert_allclose(shifted.spots["v"][both] - true.spots["v"][both], -F_PX * 0.002 / z, atol=1e-3)
    # a rotation believed 0.3 deg about y: a spot at normalised x moves to f tan(atan(x') - 0.3 deg) (ray turned)
    turned = register_spots(out, intrinsics(), intrinsics(), rig(rot_y(0.3), (b, 0, 0)))
    both = (true.spots["status"] == SpotStatus.VALID) & (turned.spots["status"] == SpotStatus.VALID)
    d = create_pattern("sds").directions[both]
    x_rgb = d[:, 0] / d[:, 2] - b / z  # the true RGB-frame point (z, x_rgb z, y z)
    ang = np.arctan(x_rgb) - math.radians(0.3)
    np.testing.assert_allclose(turned.spots["u"][both], 319.5 + F_PX * np.tan(ang), atol=2e-3)
    assert np.all(np.abs(turned.spots["u"][both] - true.spots["u"][both]) > F_PX * math.radians(0.3) * 0.99)


def test_two_spots_on_one_pixel_keep_the_nearer_and_off_image_or_behind_become_out_of_range():
    tof = intrinsics(w=8, h=6)
    spots = np.zeros(5, dtype=SPOT_DTYPE)
    # spots 0 and 1 land on one RGB pixel (different depths, same ray); 2 off the image; 3 behind the RGB camera
    spots["u"] = [3.0, 3.0, 7.4, 3.0, 2.0]
    spots["v"] = [2.0, 2.0, 2.5, 2.0, 1.0]
    spots["z_m"] = [2.0, 1.0, 2.0, 0.05, 0.0]
    spots["range_m"] = spots["z_m"]
    spots["amplitude"] = [5.0, 6.0, 7.0, 8.0, 0.0]
    spots["status"] = [SpotStatus.VALID, SpotStatus.MIXED, SpotStatus.VALID, SpotStatus.VALID, SpotStatus.DROPOUT]
    out = SensorOutput(spots=spots, sparse_m=np.zeros((6, 8), np.float32), mask=np.zeros((6, 8), bool))
    reg = register_spots(out, tof, tof, rig(np.eye(3), (0.0, 0.0, 0.1)))  # RGB camera 10 cm in front
    st = reg.spots["status"]
    assert st.tolist() == [SpotStatus.VALID, SpotStatus.MIXED, SpotStatus.OUT_OF_RANGE, SpotStatus.OUT_OF_RANGE,
                           SpotStatus.DROPOUT]  # fmt: skip
    np.testing.assert_allclose(reg.spots["z_m"][:2], [1.9, 0.9], atol=1e-6)
    assert np.isnan(reg.spots["u"][3]) and reg.spots["z_m"][3] == 0 and reg.spots["amplitude"][3] == 0
    assert reg.sparse_m[2, 3] == pytest.approx(0.9) and reg.mask.sum() == 1
    # the unmeasured spot moves as if at the nominal depth: the median measured z (2, 1, 2, 0.05 -> 1.5)
    assert nominal_depth_m(spots) == pytest.approx(1.5)
    x = (2.0 - 3.5) / F_PX * 1.5
    assert reg.spots["u"][4] == pytest.approx(F_PX * x / 1.4 + 3.5, abs=1e-4)


def test_nothing_measured_moves_spots_by_the_rotation_only_and_bad_inputs_raise():
    spots = np.zeros(1, dtype=SPOT_DTYPE)
    spots["u"], spots["v"], spots["status"] = 319.5, 239.5, SpotStatus.NO_HIT
    out = SensorOutput(spots=spots, sparse_m=np.zeros((H, W), np.float32), mask=np.zeros((H, W), bool))
    reg = register_spots(out, intrinsics(), intrinsics(), rig(rot_y(1.0), (0.5, 0.0, 0.0)))
    assert reg.spots["u"][0] == pytest.approx(319.5 - F_PX * math.tan(math.radians(1.0)), abs=1e-3)
    assert reg.spots["status"][0] == SpotStatus.NO_HIT and not reg.mask.any()
    with pytest.raises(ShapeError, match="T_rgb_from_tof: expected shape"):
        register_spots(out, intrinsics(), intrinsics(), np.eye(3))
    with pytest.raises(ShapeError, match="T_rgb_from_tof"):
        register_spots(out, intrinsics(), intrinsics(), np.full((4, 4), np.nan))
    bad = SensorOutput(spots=np.zeros(3, dtype=[("u", "f4")]), sparse_m=out.sparse_m, mask=out.mask)
    with pytest.raises(ShapeError, match="SPOT_DTYPE"):
        register_spots(bad, intrinsics(), intrinsics(), np.eye(4))
