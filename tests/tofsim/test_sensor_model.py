"""Sensor model on analytic dense frames built in numpy (planes, step edges, tilted planes).

Every expectation is computed here from the pattern angles, the intrinsics and the documented equations
(docs/sensor-model.md), independently of the sensor's code path.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tofsim.camera import Intrinsics, z_to_range
from tofsim.frame import SPOT_DTYPE, DenseFrame, SpotStatus
from tofsim.sensor import Sensor, SensorConfig, get_sensor_preset, simulate
from tofsim.spots import create_pattern

C_M_PER_S = 299_792_458.0
OK = (SpotStatus.VALID, SpotStatus.MIXED)


def make_frame(depth_m, *, albedo=0.5, normals_cam=None, f_px=585.0) -> DenseFrame:
    depth_m = np.asarray(depth_m, dtype=np.float32)
    h, w = depth_m.shape
    intr = Intrinsics(fx_px=f_px, fy_px=f_px, cx_px=(w - 1) / 2, cy_px=(h - 1) / 2, width_px=w, height_px=h)
    return DenseFrame(
        rgb=np.zeros((h, w, 3), np.uint8), depth_m=depth_m, range_m=z_to_range(depth_m, intr), intrinsics=intr,
        pose=np.eye(4), albedo=np.broadcast_to(np.float32(albedo), (h, w)).copy(), normals_cam=normals_cam,
    )  # fmt: skip


def plane(z_m, *, w=640, h=480, **kw) -> DenseFrame:
    return make_frame(np.full((h, w), z_m), **kw)


def exact(preset="sds", **changes) -> SensorConfig:
    """A preset without noise, quantization, footprint, baseline or saturation (unless asked)."""
    base = dict(add_noise=False, range_quantization_m=0.0, divergence_deg=0.0, baseline_m=(0.0, 0.0, 0.0),
                saturation_e=None)  # fmt: skip
    return dataclasses.replace(get_sensor_preset(preset), **{**base, **changes})


def pixels(directions, frame, baseline=(0.0, 0.0, 0.0), z_m=None):
    """Independent projection of rays from `baseline` meeting the plane z = z_m (or at infinity)."""
    intr = frame.intrinsics
    d = directions
    if z_m is None:
        x, y = d[:, 0] / d[:, 2], d[:, 1] / d[:, 2]
    else:
        t = (z_m - baseline[2]) / d[:, 2]
        x, y = (baseline[0] + t * d[:, 0]) / z_m, (baseline[1] + t * d[:, 1]) / z_m
    return intr.cx_px + intr.fx_px * x, intr.cy_px + intr.fy_px * y


def inside(u, v, frame):
    h, w = frame.shape
    ui, vi = np.floor(u + 0.5), np.floor(v + 0.5)
    return (ui >= 0) & (ui < w) & (vi >= 0) & (vi < h)


@pytest.mark.parametrize(("preset", "w", "h"), [("sds", 640, 480), ("sds", 400, 300), ("dtof-24x24", 640, 480)])
def test_plane_exact_count_z_and_range(preset, w, h):
    z = 2.0
    frame = plane(z, w=w, h=h)
    cfg = exact(preset)
    out = simulate(frame, cfg, rng=np.random.default_rng(0))
    d = create_pattern(cfg.pattern).directions
    u, v = pixels(d, frame)
    vis = inside(u, v, frame)
    assert out.spots.dtype == SPOT_DTYPE and len(out.spots) == len(d)
    st = out.spots["status"]
    assert np.array_equal(st == SpotStatus.VALID, vis)
    assert np.all(st[~vis] == SpotStatus.OUT_OF_RANGE)
    assert out.mask.sum() == vis.sum() and np.array_equal(out.mask, out.sparse_m > 0)
    s = out.spots[vis]
    assert np.allclose(s["u"], u[vis], atol=1e-3) and np.allclose(s["v"], v[vis], atol=1e-3)
    assert np.max(np.abs(s["z_m"] - z)) <= 1e-6
    range_true = z / d[vis, 2]  # |ray| to the plane
    assert np.max(np.abs(s["range_m"] - range_true)) <= 1e-6
    ui, vi = np.floor(u[vis] + 0.5).astype(int), np.floor(v[vis] + 0.5).astype(int)
    assert np.all(out.sparse_m[vi, ui] == s["z_m"])


def test_plane_with_footprint_stays_close_to_the_centre_ray():
    frame = plane(3.0)
    out = simulate(frame, exact(divergence_deg=1.0, rays_per_spot=16), rng=np.random.default_rng(0))
    ok = out.spots["status"] == SpotStatus.VALID
    assert ok.sum() == 1039
    # a 1 deg cone on a fronto-parallel plane mixes ranges within ~z tan(th) dth: z moves by far less than 1 mm
    assert np.max(np.abs(out.spots["z_m"][ok] - 3.0)) < 1e-3


def _sigma_itof(cfg, albedo, d, z):
    r = z / d[:, 2]
    s = cfg.power * albedo * d[:, 2] / r**2  # cos(incidence) = d_z on a fronto-parallel plane
    noise = np.sqrt(s + cfg.ambient * albedo + cfg.read_noise_e**2)
    return C_M_PER_S / (4 * np.pi * cfg.modulation_frequency_hz) * noise / (cfg.demodulation_contrast * s), r


def test_itof_noise_std_matches_sigma_formula():
    z, albedo = 2.5, 0.3
    cfg = exact(add_noise=True)
    frame = plane(z, albedo=albedo)
    d = create_pattern("sds").directions
    sigma, r_true = _sigma_itof(cfg, albedo, d, z)
    sensor = Sensor(cfg)
    errors = []
    for seed in range(15):
        out = sensor(frame, rng=np.random.default_rng(seed))
        assert np.all(out.spots["status"] == SpotStatus.VALID)
        assert np.allclose(out.spots["sigma_m"], sigma, rtol=1e-5)
        errors.append((out.spots["range_m"] - r_true) / sigma)
    e = np.concatenate(errors)
    assert abs(e.std() - 1.0) < 0.1 and abs(e.mean()) < 0.05


def test_dtof_noise_std_matches_sigma_formula():
    z, albedo = 2.0, 0.5
    cfg = exact("dtof-24x24", add_noise=True)
    frame = plane(z, albedo=albedo)
    d = create_pattern("dtof-24x24").directions
    r = z / d[:, 2]
    s = cfg.power * albedo * d[:, 2] / r**2
    sigma = cfg.pulse_sigma_m * np.sqrt(s + cfg.ambient * albedo + cfg.read_noise_e**2) / s
    vis = inside(*pixels(d, frame), frame)
    errors = []
    for seed in range(20):
        out = simulate(frame, cfg, rng=np.random.default_rng(seed))
        sp = out.spots[vis]
        assert np.all(sp["status"] == SpotStatus.VALID)
        assert np.allclose(sp["sigma_m"], sigma[vis], rtol=1e-5)
        errors.append((sp["range_m"] - r[vis]) / sigma[vis])
    e = np.concatenate(errors)
    assert abs(e.std() - 1.0) < 0.1 and abs(e.mean()) < 0.05


def _dropout_rate(z, albedo, cfg, seeds=3):
    frame = plane(z, albedo=albedo)
    sensor = Sensor(cfg)
    st = np.concatenate([sensor(frame, rng=np.random.default_rng(s)).spots["status"] for s in range(seeds)])
    assert np.all((st == SpotStatus.VALID) | (st == SpotStatus.DROPOUT))
    return float(np.mean(st == SpotStatus.DROPOUT))


def test_dropout_rises_with_distance_and_falls_with_albedo():
    cfg = exact(add_noise=True, max_range_m=25.0, modulation_frequency_hz=5e6)  # 30 m unambiguous range
    by_distance = [_dropout_rate(z, 0.2, cfg) for z in (2.0, 4.0, 6.0, 7.0, 8.0, 9.0, 11.0, 14.0)]
    assert by_distance[0] == 0.0 and by_distance[-1] > 0.95
    assert all(b >= a - 0.02 for a, b in zip(by_distance, by_distance[1:], strict=False))
    assert by_distance[4] > by_distance[2] + 0.2
    by_albedo = [_dropout_rate(8.0, a, cfg) for a in (0.05, 0.1, 0.2, 0.5, 1.0)]
    assert by_albedo[0] > 0.95 and by_albedo[-1] == 0.0
    assert all(b <= a + 0.02 for a, b in zip(by_albedo, by_albedo[1:], strict=False))


def test_grazing_incidence_drops_out_where_the_snr_says():
    # a fronto-parallel depth map with normals tilted 80 deg about y: cos(incidence) = sin(80) d_x + cos(80) d_z
    z, albedo, tilt = 4.0, 0.3, np.deg2rad(80.0)
    normals = np.zeros((480, 640, 3), np.float32)
    normals[..., 0], normals[..., 2] = -np.sin(tilt), -np.cos(tilt)
    frame = plane(z, albedo=albedo, normals_cam=normals)
    cfg = exact(add_noise=True)
    d = create_pattern("sds").directions
    cos_inc = np.sin(tilt) * d[:, 0] + np.cos(tilt) * d[:, 2]
    front = cos_inc > 0  # the sensor turns back-facing normals towards the camera, so test the front-facing part
    r = z / d[:, 2]
    s = cfg.power * albedo * np.clip(cos_inc, 0, None) / r**2
    snr = cfg.demodulation_contrast * s / np.sqrt(s + cfg.ambient * albedo + cfg.read_noise_e**2)
    st = simulate(frame, cfg, rng=np.random.default_rng(1)).spots["status"]
    dark, bright = front & (snr < cfg.detection_threshold / 2), front & (snr > cfg.detection_threshold * 2)
    assert dark.sum() > 50 and bright.sum() > 150
    assert np.all(st[dark] == SpotStatus.DROPOUT) and np.all(st[bright] == SpotStatus.VALID)


def _step(z_left, z_right, edge_u, w=640, h=480):
    depth = np.full((h, w), z_right, np.float32)
    depth[:, :edge_u] = z_left
    return make_frame(depth)


@pytest.mark.parametrize("mode_preset", ["sds", "dtof-24x24"])
def test_step_edge_mixed_only_where_footprint_straddles(mode_preset):
    z1, z2, edge_u, div = 1.5, 2.5, 300, 2.0
    frame = _step(z1, z2, edge_u)
    cfg = exact(mode_preset, divergence_deg=div, rays_per_spot=32, max_range_m=6.0)
    out = simulate(frame, cfg, rng=np.random.default_rng(0))
    d = create_pattern(cfg.pattern).directions
    intr = frame.intrinsics
    # angular distance from each spot axis to the edge plane through the camera centre and column u = edge - 0.5
    n_edge = np.array([1.0, 0.0, -(edge_u - 0.5 - intr.cx_px) / intr.fx_px])
    n_edge /= np.linalg.norm(n_edge)
    dist_deg = np.rad2deg(np.arcsin(np.abs(d @ n_edge)))
    u, v = pixels(d, frame)
    vis = inside(u, v, frame)
    st = out.spots["status"]
    mixed = st == SpotStatus.MIXED
    assert mixed.sum() >= 10
    assert np.all(dist_deg[mixed] < div / 2 + 0.1)  # only straddling footprints (+ one pixel of rounding)
    assert np.all(mixed[vis & (dist_deg < 0.4 * div / 2)])  # clear straddlers are all flagged
    clean = vis & (dist_deg > div / 2 + 0.1)
    assert np.all(st[clean] == SpotStatus.VALID)
    z_clean = np.where(u[clean] < edge_u - 0.5, z1, z2)
    assert np.max(np.abs(out.spots["z_m"][clean] - z_clean)) < 5e-3
    zm = out.spots["z_m"][mixed]
    if cfg.mode == "itof":  # phasor mixing: biased in between the two surfaces
        assert np.all((zm > z1 + 1e-3) & (zm < z2 - 1e-3))
    else:  # histogram: the strongest peak, one surface or the other
        near = np.abs(zm - z1) < 0.03
        far = np.abs(zm - z2) < 0.06
        assert np.all(near | far)


@pytest.mark.parametrize("baseline", [(0.05, 0.0, 0.0), (0.0, 0.03, 0.0), (0.02, -0.01, 0.015)])
def test_baseline_parallax_shifts_spots(baseline):
    z = 1.5
    frame = plane(z)
    d = create_pattern("sds").directions
    out0 = simulate(frame, exact(), rng=np.random.default_rng(0))
    out = simulate(frame, exact(baseline_m=baseline), rng=np.random.default_rng(0))
    u, v = pixels(d, frame, baseline, z)
    vis = inside(u, v, frame)
    st = out.spots["status"]
    assert np.array_equal(st == SpotStatus.VALID, vis) and np.all(st[~vis] == SpotStatus.OUT_OF_RANGE)
    assert np.allclose(out.spots["u"][vis], u[vis], atol=2e-3) and np.allclose(out.spots["v"][vis], v[vis], atol=2e-3)
    if baseline[2] == 0.0:  # pure lateral baseline: the shift is f b / z for every spot
        both = vis & (out0.spots["status"] == SpotStatus.VALID)
        du = out.spots["u"][both] - out0.spots["u"][both]
        dv = out.spots["v"][both] - out0.spots["v"][both]
        assert np.allclose(du, 585.0 * baseline[0] / z, atol=2e-3)
        assert np.allclose(dv, 585.0 * baseline[1] / z, atol=2e-3)
    assert np.max(np.abs(out.spots["z_m"][vis] - z)) <= 1e-6
    r_cam = z * np.sqrt(((u[vis] - 319.5) / 585) ** 2 + ((v[vis] - 239.5) / 585) ** 2 + 1)
    assert np.max(np.abs(out.spots["range_m"][vis] - r_cam)) <= 2e-6


def test_baseline_on_tilted_plane_matches_ray_plane_intersection():
    # plane z = z0 + a x  (camera frame), depth map from its analytic intersection with each pixel ray
    h, w, f, z0, a = 480, 640, 585.0, 2.0, 0.4
    xn = (np.arange(w) - (w - 1) / 2) / f
    depth = np.broadcast_to(z0 / (1 - a * xn), (h, w))
    frame = make_frame(depth)
    b = np.array([0.03, 0.01, 0.0])
    out = simulate(frame, exact(baseline_m=tuple(b)), rng=np.random.default_rng(0))
    d = create_pattern("sds").directions
    t = (z0 + a * b[0] - b[2]) / (d[:, 2] - a * d[:, 0])  # (b + t d)_z = z0 + a (b + t d)_x
    p = b + t[:, None] * d
    u, v = 319.5 + f * p[:, 0] / p[:, 2], 239.5 + f * p[:, 1] / p[:, 2]
    vis = inside(u, v, frame)
    ok = out.spots["status"] == SpotStatus.VALID
    assert ok.sum() >= vis.sum() - 2 and np.all(vis[ok])
    assert np.max(np.abs(out.spots["z_m"][ok] - p[ok, 2])) < 1e-5
    assert np.max(np.abs(out.spots["range_m"][ok] - np.linalg.norm(p[ok], axis=1))) < 1e-5
    assert np.allclose(out.spots["u"][ok], u[ok], atol=2e-3)


def test_estimated_normals_match_given_normals():
    h, w, f = 480, 640, 585.0
    yn = (np.arange(h) - (h - 1) / 2) / f
    depth = np.broadcast_to((3.0 / (1 + 0.5 * yn))[:, None], (h, w))  # plane tilted about x
    n = np.array([0.0, 0.5, 1.0]) / np.linalg.norm([0.0, 0.5, 1.0])  # plane z + 0.5 y = 3 -> normal ∝ (0, .5, 1)
    normals = np.broadcast_to(-n, (h, w, 3)).astype(np.float32)
    cfg = exact(add_noise=False, divergence_deg=0.5)
    a = simulate(make_frame(depth), cfg, rng=np.random.default_rng(0)).spots
    b = simulate(make_frame(depth, normals_cam=normals), cfg, rng=np.random.default_rng(0)).spots
    assert np.array_equal(a["status"], b["status"])
    assert np.allclose(a["range_m"], b["range_m"], atol=1e-5)
    assert np.allclose(a["amplitude"], b["amplitude"], rtol=1e-3)


def test_itof_wraps_beyond_unambiguous_range():
    z = 9.0
    cfg = exact(power=1e8, max_range_m=7.0, min_return_albedo=0.0)
    r_amb = C_M_PER_S / (2 * cfg.modulation_frequency_hz)
    out = simulate(plane(z), cfg, rng=np.random.default_rng(0))
    d = create_pattern("sds").directions
    r_true = z / d[:, 2]
    ok = out.spots["status"] == SpotStatus.VALID
    assert ok.all()
    assert np.max(np.abs(out.spots["range_m"] - (r_true - r_amb))) < 1e-5


@pytest.mark.parametrize(("z_m", "albedo", "rejected"), [(7.7, 0.3, True), (2.0, 0.5, False), (2.0, 0.01, True)])
def test_itof_ambiguity_check_rejects_returns_too_weak_for_their_range(z_m, albedo, rejected):
    # A plane facing the camera: amplitude = C * P * albedo * cos / r_true**2, with cos = d_z for the spot ray.
    # The check compares it with C * P * a_min / r_meas**2 at the *reported* (wrapped) range.
    cfg = exact(power=1e6, max_range_m=7.0, min_return_albedo=0.015)  # bright: every return is detected
    d = create_pattern("sds").directions
    r_true = z_m / d[:, 2]
    r_meas = np.mod(r_true, C_M_PER_S / (2 * cfg.modulation_frequency_hz))
    expect = albedo * d[:, 2] / r_true**2 < 0.015 / r_meas**2
    assert expect.all() == rejected and (~expect).all() == (not rejected)  # the chosen cases are clear-cut
    spots = simulate(plane(z_m, albedo=albedo), cfg, rng=np.random.default_rng(0)).spots
    assert np.all((spots["status"] == SpotStatus.OUT_OF_RANGE) == rejected)
    off = simulate(
        plane(z_m, albedo=albedo), dataclasses.replace(cfg, min_return_albedo=0.0), rng=np.random.default_rng(0)
    )
    assert np.all(off.spots["status"] == SpotStatus.VALID)


def test_max_range_and_dtof_window():
    far = plane(6.0)
    itof = simulate(far, exact(power=1e8, max_range_m=5.0), rng=np.random.default_rng(0)).spots
    assert np.all(itof["status"] == SpotStatus.OUT_OF_RANGE) and np.all(itof["range_m"] == 0)
    dtof = simulate(far, exact("dtof-24x24", power=1e8, max_range_m=5.0), rng=np.random.default_rng(0)).spots
    assert np.all(dtof["status"] == SpotStatus.OUT_OF_RANGE)


def test_range_quantization():
    q = 0.01
    out = simulate(plane(2.345), exact(range_quantization_m=q, add_noise=True), rng=np.random.default_rng(0))
    r = out.spots["range_m"][out.spots["status"] == SpotStatus.VALID].astype(np.float64)
    assert len(r) > 1000 and np.allclose(r / q, np.round(r / q), atol=1e-3)


def test_invalid_depth_gives_no_hit():
    depth = np.full((480, 640), 2.0, np.float32)
    depth[:, :300] = 0.0
    depth[:100, :] = np.nan
    frame = make_frame(depth)
    out = simulate(frame, exact(), rng=np.random.default_rng(0))
    d = create_pattern("sds").directions
    u, v = pixels(d, frame)
    ui, vi = np.floor(u + 0.5), np.floor(v + 0.5)
    bad = (ui < 300) | (vi < 100)
    assert np.all(out.spots["status"][bad] == SpotStatus.NO_HIT)
    assert np.all(out.spots["status"][~bad] == SpotStatus.VALID)
    assert not np.any(out.mask[:, :300]) and not np.any(out.mask[:100])


def test_shadowed_spots_drop_out():
    # a near box in front of a far wall; a projector to the right lights wall regions the camera cannot see
    depth = np.full((480, 640), 3.0, np.float32)
    depth[:, 250:390] = 1.0
    frame = make_frame(depth)
    out = simulate(frame, exact(baseline_m=(0.1, 0.0, 0.0)), rng=np.random.default_rng(0))
    st = out.spots["status"]
    assert np.any(st == SpotStatus.DROPOUT)
    ok = np.isin(st, OK)
    ui = np.floor(out.spots["u"][ok] + 0.5).astype(int)
    vi = np.floor(out.spots["v"][ok] + 0.5).astype(int)
    assert np.allclose(out.spots["z_m"][ok], depth[vi, ui], atol=1e-5)  # every reported spot is on a seen surface


def test_sparse_keeps_the_nearer_spot_when_two_land_on_one_pixel():
    # a 40 x 30 image (same field of view): many of the 1,039 spots share pixels
    h, w, f = 30, 40, 585.0 / 16
    xn = (np.arange(w) - (w - 1) / 2) / f
    depth = np.broadcast_to(2.0 / (1 - 0.5 * xn), (h, w))
    frame = make_frame(depth, f_px=f)
    out = simulate(frame, exact(), rng=np.random.default_rng(0))
    sp = out.spots[np.isin(out.spots["status"], OK)]
    best: dict[tuple[int, int], float] = {}
    for rec in sp:
        key = (int(np.floor(rec["v"] + 0.5)), int(np.floor(rec["u"] + 0.5)))
        best[key] = min(best.get(key, np.inf), float(rec["z_m"]))
    assert len(best) < len(sp)  # collisions happened
    assert out.mask.sum() == len(best)
    for (vi, ui), z in best.items():
        assert out.sparse_m[vi, ui] == np.float32(z)


def test_zone_sensor_reports_8x8_maps():
    frame = plane(2.0)
    cfg = exact("zones-8x8")
    out = simulate(frame, cfg, rng=np.random.default_rng(0))
    assert set(out.zones) == {"distance_m", "sigma_m", "status"}
    assert all(a.shape == (8, 8) for a in out.zones.values())
    assert np.all(out.zones["status"] == SpotStatus.VALID)
    d = create_pattern("zones-8x8").directions.reshape(8, 8, 3)
    r_centre = 2.0 / d[..., 2]
    # the zone's histogram averages its cell: within a few percent of the centre range, never below the plane
    assert np.all(np.abs(out.zones["distance_m"] / r_centre - 1) < 0.03)
    assert np.all(out.zones["distance_m"] >= 2.0)
    assert np.all(out.zones["sigma_m"] > 0)


def test_zone_straddling_a_step_is_mixed_and_reports_the_strongest_peak():
    edge_u = 400  # column 5 of the zone grid (5.6 .. 11.25 deg) contains the edge at 7.8 deg
    frame = _step(1.5, 2.5, edge_u)
    out = simulate(frame, exact("zones-8x8"), rng=np.random.default_rng(0))
    st = out.zones["status"]
    assert np.all(st[:, 5] == SpotStatus.MIXED)
    assert np.all(np.delete(st, 5, axis=1) == SpotStatus.VALID)
    d = create_pattern("zones-8x8").directions.reshape(8, 8, 3)
    near = 1.5 / d[:, 5, 2]
    assert np.all(np.abs(out.zones["distance_m"][:, 5] / near - 1) < 0.05)  # nearer surface returns more signal


@pytest.mark.parametrize("preset", ["sds", "dtof-24x24", "zones-8x8"])
def test_same_seed_same_output_and_twin_agrees(preset):
    xn = (np.arange(640) - 319.5) / 585
    depth = np.broadcast_to(2.5 / (1 - 0.3 * xn), (480, 640)).copy()
    depth[200:260, 100:300] = 1.2  # an object in front: edges, mixed returns, shadows
    frame = make_frame(depth, albedo=0.2)
    a = simulate(frame, preset, rng=np.random.default_rng(11))
    a2 = simulate(frame, preset, rng=np.random.default_rng(11))
    b = Sensor(preset)(frame, rng=np.random.default_rng(11))
    c = simulate(frame, get_sensor_preset(preset), rng=np.random.default_rng(12))
    for other in (a2, b):
        assert a.spots.tobytes() == other.spots.tobytes()
        assert np.array_equal(a.sparse_m, other.sparse_m) and np.array_equal(a.mask, other.mask)
    assert a.spots.tobytes() != c.spots.tobytes()
    assert (a.zones is None) == (preset != "zones-8x8")
    if a.zones is not None:
        assert all(np.array_equal(a.zones[k], b.zones[k]) for k in a.zones)


def test_bad_inputs():
    from tofsim.errors import ConfigError, RegistryError

    with pytest.raises(RegistryError, match="valid names"):
        simulate(plane(2.0), "no-such-sensor", rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="DenseFrame"):
        simulate(np.zeros((480, 640)), "sds", rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="SensorConfig or a preset name"):
        simulate(plane(2.0), {"mode": "itof"}, rng=np.random.default_rng(0))


def test_sds_frame_costs_a_few_ms_of_cpu():
    import time

    xn = (np.arange(640) - 319.5) / 585
    depth = np.broadcast_to(2.5 / (1 - 0.3 * xn), (480, 640)).copy()
    depth[200:260, 100:300] = 1.2
    frame = make_frame(depth, albedo=0.3)
    sensor = Sensor("sds")
    sensor(frame, rng=np.random.default_rng(0))
    t0 = time.process_time()
    for i in range(10):
        sensor(frame, rng=np.random.default_rng(i))
    ms = (time.process_time() - t0) / 10 * 1000
    assert ms < 40.0, f"sds sensor took {ms:.1f} ms of CPU per frame (about 5 ms expected)"
