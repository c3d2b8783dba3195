"""First-order global multipath of the iToF sensor (`tofsim.sensor.multipath`) on an analytic concave corner.

The Monte Carlo reference is written here from the equation in docs/sensor-model.md ("Global multipath"): it
intersects random rays inside every spot's beam and inside the receiving cone with the two planes analytically,
and never calls the sensor code (only the projector's spot directions come from `tofsim.spots`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tofsim.camera import Intrinsics, z_to_range
from tofsim.errors import ConfigError
from tofsim.frame import DenseFrame, SpotStatus
from tofsim.sensor import Sensor, SensorConfig, get_sensor_preset, simulate
from tofsim.sensor.multipath import depth_map_visibility
from tofsim.spots import create_pattern

C_M_PER_S = 299_792_458.0
APEX_M = 2.0  # the corner's vertical edge is 2 m straight ahead; both walls turn 45 deg towards the camera
ALBEDO = 0.5


def corner_frame(*, w=640, h=480, f_px=585.0) -> DenseFrame:
    """A concave 90-degree corner: z = APEX_M / (1 + |x / z|), normals (-sign x, 0, -1) / sqrt(2)."""
    intr = Intrinsics(fx_px=f_px, fy_px=f_px, cx_px=(w - 1) / 2, cy_px=(h - 1) / 2, width_px=w, height_px=h)
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    x = (u - intr.cx_px) / f_px
    depth = (APEX_M / (1.0 + np.abs(x))).astype(np.float32)
    side = np.where(x < 0, -1.0, 1.0)
    normals = np.stack([-side, np.zeros_like(x), -np.ones_like(x)], axis=-1) / np.sqrt(2.0)
    return DenseFrame(
        rgb=np.zeros((h, w, 3), np.uint8), depth_m=depth, range_m=z_to_range(depth, intr), intrinsics=intr,
        pose=np.eye(4), albedo=np.full((h, w), ALBEDO, np.float32), normals_cam=normals.astype(np.float32),
    )  # fmt: skip


def exact_itof(**changes) -> SensorConfig:
    base = dict(add_noise=False, range_quantization_m=0.0, baseline_m=(0.0, 0.0, 0.0))
    return dataclasses.replace(get_sensor_preset("sds"), **{**base, **changes})


def hit_corner(d: np.ndarray):
    """Analytic hit of rays from the camera centre with the corner: (points (M, 3), normals (M, 3))."""
    x = d[:, 0] / d[:, 2]
    z = APEX_M / (1.0 + np.abs(x))
    p = d / d[:, 2:3] * z[:, None]
    side = np.where(x < 0, -1.0, 1.0)
    n = np.stack([-side, np.zeros_like(x), -np.ones_like(x)], axis=-1) / np.sqrt(2.0)
    return p, n


def cone_samples(axes: np.ndarray, half_angle_rad: float, m: int, rng: np.random.Generator) -> np.ndarray:
    """(len(axes), m, 3) unit directions uniform in solid angle inside a cone around each axis."""
    cos_t = 1.0 - rng.random((len(axes), m)) * (1.0 - np.cos(half_angle_rad))
    sin_t = np.sqrt(1.0 - cos_t**2)
    phi = 2.0 * np.pi * rng.random((len(axes), m))
    e1 = np.cross(axes, [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(axes, e1)
    return (
        cos_t[..., None] * axes[:, None, :]
        + (sin_t * np.cos(phi))[..., None] * e1[:, None, :]
        + (sin_t * np.sin(phi))[..., None] * e2[:, None, :]
    )


def monte_carlo_bias_m(cfg: SensorConfig, receivers: np.ndarray, *, n_send=24, n_recv=12, seed=0) -> np.ndarray:
    """Range bias of each receiving spot from one bounce off every lit spot, by Monte Carlo (numpy only).

    Senders: `n_send` random rays per spot beam (each carries 1 / n_send of the spot's power); receivers:
    `n_recv` random points inside the receiving cone of the spot. Direct return: ``power rho cos / r^2`` at the
    spot's centre; one bounce: ``power / n_send * rho^2 * Omega * cos_q cos_p / (pi d^2)`` with path
    ``|Q| + d + |P|``; the concave corner hides nothing.
    """
    rng = np.random.default_rng(seed)
    dirs = create_pattern(cfg.pattern).directions
    half = np.deg2rad(cfg.divergence_deg) / 2.0
    omega = 2.0 * np.pi * (1.0 - np.cos(half))
    q, nq = hit_corner(cone_samples(dirs, half, n_send, rng).reshape(-1, 3))
    k = 4.0 * np.pi * cfg.modulation_frequency_hz / C_M_PER_S  # rad per metre of range
    bias = np.zeros(len(receivers))
    for row, i in enumerate(receivers):
        p0, n0 = hit_corner(dirs[i : i + 1])
        r0 = np.linalg.norm(p0)
        direct = cfg.power * ALBEDO * float(-(n0 @ (p0[0] / r0))[0]) / r0**2
        z_total = direct * np.exp(1j * k * r0)
        p, n_p = hit_corner(cone_samples(dirs[i : i + 1], half, n_recv, rng)[0])
        for pj, nj in zip(p, n_p, strict=True):
            seg = pj - q  # Q -> P
            d = np.linalg.norm(seg, axis=1)
            cos_q = np.einsum("sk,sk->s", seg, nq) / d
            cos_p = -(seg @ nj) / d
            use = (cos_q > 0) & (cos_p > 0)
            s = cfg.power / n_send * ALBEDO**2 * omega * cos_q * cos_p / (np.pi * d**2) / n_recv
            path = np.linalg.norm(q, axis=1) + d + np.linalg.norm(pj)
            z_total += np.sum(np.where(use, s * np.exp(0.5j * k * path), 0.0))
        bias[row] = np.angle(z_total * np.exp(-1j * k * r0)) / k
    return bias


def test_concave_corner_reads_long_by_the_monte_carlo_amount():
    frame = corner_frame()
    cfg = exact_itof(multipath=True)
    off = simulate(frame, exact_itof(), rng=np.random.default_rng(0)).spots
    on = simulate(frame, cfg, rng=np.random.default_rng(0)).spots
    true_range = np.linalg.norm(hit_corner(create_pattern(cfg.pattern).directions)[0], axis=1)
    ok = (off["status"] == SpotStatus.VALID) & (on["status"] == SpotStatus.VALID)
    ok &= np.abs(on["u"] - frame.intrinsics.cx_px) > 4  # beams on one wall only (not across the corner's edge)
    # the whole corner reads long: every spot on either wall is pushed away from the camera
    assert np.all(on["range_m"][ok] > off["range_m"][ok])
    assert np.all(np.abs(off["range_m"][ok] - true_range[ok]) < 5e-4)  # without multipath: the true range
    assert np.all(on["range_m"][ok] > true_range[ok]) and np.mean(on["range_m"][ok] - true_range[ok]) > 1e-3
    # the middle row, spots on one wall only (the beam does not cross the corner's edge)
    row = ok & (np.abs(on["v"] - frame.intrinsics.cy_px) < 3)
    idx = np.flatnonzero(row)
    sensor_bias = (on["range_m"] - off["range_m"])[idx]
    mc_bias = monte_carlo_bias_m(cfg, idx)
    print("u", np.round(on["u"][idx]).astype(int))
    print("sensor mm", np.round(sensor_bias * 1e3, 3))
    print("MC     mm", np.round(mc_bias * 1e3, 3))
    assert np.all(mc_bias > 0)
    np.testing.assert_allclose(sensor_bias, mc_bias, rtol=0.2)
    assert abs(sensor_bias.mean() / mc_bias.mean() - 1) < 0.1


def test_multipath_is_off_by_default_and_itof_only():
    for name in ("sds", "dtof-24x24", "zones-8x8", "random-500", "grid-20x15"):
        d = get_sensor_preset(name).to_dict()
        assert not {"multipath", "multipath_receiver_deg", "zone_statistics"} & set(d)  # config hashes unchanged
        assert get_sensor_preset(name).multipath is False
    on = exact_itof(multipath=True, multipath_receiver_deg=1.0)
    assert SensorConfig.from_dict(on.to_dict()) == on and on.to_dict()["multipath"] is True
    with pytest.raises(ConfigError, match="multipath is modelled for mode 'itof' only"):
        dataclasses.replace(get_sensor_preset("dtof-24x24"), multipath=True)
    with pytest.raises(ConfigError, match="multipath_receiver_deg must be a finite number >= 0"):
        exact_itof(multipath_receiver_deg=-1.0)


def test_a_plane_has_no_multipath_and_the_twin_agrees():
    h, w = 120, 160
    intr = Intrinsics(fx_px=146.25, fy_px=146.25, cx_px=79.5, cy_px=59.5, width_px=w, height_px=h)
    depth = np.full((h, w), 2.0, np.float32)
    plane = DenseFrame(
        rgb=np.zeros((h, w, 3), np.uint8), depth_m=depth, range_m=z_to_range(depth, intr), intrinsics=intr,
        pose=np.eye(4), albedo=np.full((h, w), 0.5, np.float32),
    )  # fmt: skip
    off = simulate(plane, exact_itof(), rng=np.random.default_rng(0)).spots
    on = simulate(plane, exact_itof(multipath=True), rng=np.random.default_rng(0)).spots
    np.testing.assert_allclose(on["range_m"], off["range_m"], atol=1e-6)  # coplanar spots never couple
    frame, cfg = corner_frame(w=160, h=120, f_px=146.25), exact_itof(multipath=True, add_noise=True)
    a = simulate(frame, cfg, rng=np.random.default_rng(3))
    b = Sensor(cfg)(frame, rng=np.random.default_rng(3))
    assert a.spots.tobytes() == b.spots.tobytes() and np.array_equal(a.sparse_m, b.sparse_m)


def test_a_wider_receiver_collects_proportionally_more_multipath():
    frame = corner_frame(w=160, h=120, f_px=146.25)
    off = simulate(frame, exact_itof(), rng=np.random.default_rng(0)).spots["range_m"]
    small = simulate(frame, exact_itof(multipath=True), rng=np.random.default_rng(0)).spots["range_m"] - off
    wide = exact_itof(multipath=True, multipath_receiver_deg=1.0)  # 4x the solid angle of the 0.5 deg beam
    large = simulate(frame, wide, rng=np.random.default_rng(0)).spots["range_m"] - off
    ok = small > 1e-4
    ratio = large[ok] / small[ok]
    assert np.all((ratio > 3.0) & (ratio < 4.0))  # 4x the indirect light; the phase bias saturates slightly


def test_depth_map_visibility_blocks_segments_behind_a_visible_surface():
    frame = corner_frame(w=160, h=120, f_px=146.25)
    visible = depth_map_visibility(frame.depth_m, frame.intrinsics)
    a = np.array([[-0.5, 0.0, 1.3], [-0.5, 0.0, 1.3], [-0.3, 0.0, 1.0]])
    b = np.array([[0.5, 0.0, 1.3], [0.5, 0.0, 2.6], [-0.3, 0.2, 1.0]])
    # in front of both walls | through the corner's edge behind the walls | in free space
    assert visible(a, b).tolist() == [True, False, True]


def test_renderer_shadow_rays_agree_with_the_depth_map_on_the_corner():
    pytest.importorskip("open3d")
    from tofsim.render import Renderer
    from tofsim.scene import Material, Scene
    from tofsim.sensor.multipath import renderer_visibility

    ymax, far, near = 5.0, (0.0, APEX_M), (-4.0, APEX_M - 4.0)  # wall L from the edge towards the camera
    v = [[near[0], -ymax, near[1]], [far[0], -ymax, far[1]], [far[0], ymax, far[1]], [near[0], ymax, near[1]]]
    v += [[-x, y, z] for x, y, z in v]  # wall R, mirrored
    tri = np.array([[0, 1, 2], [0, 2, 3], [4, 6, 5], [4, 7, 6]], np.int32)
    scene = Scene(
        vertices=np.array(v, np.float32), triangles=tri, material_id=np.zeros(4, np.int32),
        materials=(Material(name="wall", albedo=ALBEDO, color_rgb=(128, 128, 128)),),
    )  # fmt: skip
    renderer = Renderer(scene)
    frame = corner_frame(w=160, h=120, f_px=146.25)
    cfg = exact_itof(multipath=True)
    by_map = simulate(frame, cfg, rng=np.random.default_rng(0)).spots["range_m"]
    by_rays = simulate(frame, cfg, rng=np.random.default_rng(0), visibility=renderer_visibility(renderer, np.eye(4)))
    np.testing.assert_allclose(by_rays.spots["range_m"], by_map, atol=1e-6)
    shadow = renderer_visibility(renderer, np.eye(4))
    assert shadow(np.array([[-0.5, 0.0, 1.3]]), np.array([[0.5, 0.0, 2.6]])).tolist() == [False]
