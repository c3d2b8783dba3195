"""Spot patterns: counts derived independently from the pattern angles, registry-wide invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tofsim.errors import ConfigError, RegistryError
from tofsim.spots import PATTERNS, SpotPattern, angles_from_directions, create_pattern


def _visible(directions: np.ndarray, w: int, h: int, f: float) -> int:
    """Spots whose pixel (rounded) lies inside a w x h image with focal f and centred principal point."""
    u = (w - 1) / 2 + f * directions[:, 0] / directions[:, 2]
    v = (h - 1) / 2 + f * directions[:, 1] / directions[:, 2]
    ui, vi = np.floor(u + 0.5), np.floor(v + 0.5)
    return int(np.sum((ui >= 0) & (ui < w) & (vi >= 0) & (vi < h)))


@pytest.mark.parametrize("name", PATTERNS.names())
def test_every_pattern_is_unit_forward_float64(name):
    p = create_pattern(name)
    assert isinstance(p, SpotPattern)
    assert p.directions.dtype == np.float64 and p.directions.shape == (p.n, 3)
    assert np.allclose(np.linalg.norm(p.directions, axis=1), 1.0, atol=1e-12)
    assert np.all(p.directions[:, 2] > 0)
    assert p.n > 0


def test_sds_count_and_pitch_from_angles():
    p = create_pattern("sds")
    # independent derivation: spot centres span at most 57 x 43 deg at a 1.7 x 1.4 deg pitch
    n_rows = math.floor(43.0 / 1.4) + 1
    n_long = math.floor(57.0 / 1.7) + 1
    assert (n_rows, n_long) == (31, 34)
    expected = sum(n_long if i % 2 == 0 else n_long - 1 for i in range(n_rows))
    assert p.n == expected == 1039
    ang = p.angles_deg()
    rows = np.unique(np.round(ang[:, 1], 9))
    assert len(rows) == n_rows
    assert np.allclose(np.diff(rows), 1.4)
    row0 = np.sort(ang[np.isclose(ang[:, 1], rows[0]), 0])
    row1 = np.sort(ang[np.isclose(ang[:, 1], rows[1]), 0])
    assert len(row0) == 34 and len(row1) == 33
    assert np.allclose(np.diff(row0), 1.7) and np.allclose(row1 - row0[:-1], 0.85)  # staggered by half a pitch
    assert np.isclose(row0[-1] - row0[0], 33 * 1.7)


@pytest.mark.parametrize(("w", "h", "f"), [(640, 480, 585.0), (320, 240, 292.5)])
def test_sds_all_spots_visible_in_kinect_like_images(w, h, f):
    p = create_pattern("sds")
    assert _visible(p.directions, w, h, f) == 1039
    # pixel pitch grows towards the edges as a uniform angular grid does through a pinhole
    u = f * np.tan(np.deg2rad(np.arange(17) * 1.7))
    assert np.all(np.diff(np.diff(u)) > 0)


def test_dtof_grid_covers_60_by_48_deg():
    p = create_pattern("dtof-24x24")
    assert p.n == 576 and p.grid_shape == (24, 24)
    ang = p.angles_deg()
    assert np.isclose(ang[:, 0].max(), 30 - 1.25) and np.isclose(ang[:, 1].max(), 24 - 1.0)
    # at 640x480 f=585 (57.4 x 44.6 deg) the outer ring falls outside: 22 x 22 visible
    expected = sum(
        1
        for ax in (np.arange(24) - 11.5) * 2.5
        for ay in (np.arange(24) - 11.5) * 2.0
        if abs(585 * math.tan(math.radians(ax))) <= 319.5 and abs(585 * math.tan(math.radians(ay))) <= 239.5
    )
    assert _visible(p.directions, 640, 480, 585.0) == expected == 484


def test_zones_pattern_is_row_major_with_zone_size():
    p = create_pattern("zones-8x8")
    assert p.n == 64 and p.grid_shape == (8, 8) and p.zone_size_deg == (45 / 8, 45 / 8)
    ang = p.angles_deg().reshape(8, 8, 2)
    assert np.all(np.diff(ang[..., 0], axis=1) > 0) and np.all(np.diff(ang[..., 1], axis=0) > 0)


def test_grid_row_major_order():
    p = create_pattern("grid", rows=3, cols=4, fov_x_deg=40.0, fov_y_deg=30.0)
    ang = p.angles_deg().reshape(3, 4, 2)
    assert np.allclose(ang[0, :, 0], [-15, -5, 5, 15]) and np.allclose(ang[:, 0, 1], [-10, 0, 10])


def test_random_is_fixed_by_seed_and_inside_fov():
    a = create_pattern("random", n=300, seed=3)
    b = create_pattern("random", n=300, seed=3)
    c = create_pattern("random", n=300, seed=4)
    d = create_pattern("random", n=300, rng=np.random.default_rng(3))
    assert a.n == 300
    assert np.array_equal(a.directions, b.directions) and np.array_equal(a.directions, d.directions)
    assert not np.array_equal(a.directions, c.directions)
    ang = a.angles_deg()
    assert np.all(np.abs(ang[:, 0]) <= 28) and np.all(np.abs(ang[:, 1]) <= 21)


def test_radial_distortion_follows_k1_k2():
    k1, k2 = 0.1, -0.02
    base = create_pattern("sds")
    dist = create_pattern("sds", distortion_k=(k1, k2))
    x, y = base.directions[:, 0] / base.directions[:, 2], base.directions[:, 1] / base.directions[:, 2]
    r2 = x * x + y * y
    xd, yd = dist.directions[:, 0] / dist.directions[:, 2], dist.directions[:, 1] / dist.directions[:, 2]
    assert np.allclose(xd, x * (1 + k1 * r2 + k2 * r2 * r2)) and np.allclose(yd, y * (1 + k1 * r2 + k2 * r2 * r2))


def test_jitter_is_gaussian_and_deterministic():
    base = angles_from_directions(create_pattern("sds").directions)
    j1 = create_pattern("sds", jitter_deg=0.2, seed=7)
    j2 = create_pattern("sds", jitter_deg=0.2, seed=7)
    assert np.array_equal(j1.directions, j2.directions)
    delta = np.rad2deg(angles_from_directions(j1.directions) - base)
    assert abs(delta.std() - 0.2) < 0.02 and abs(delta.mean()) < 0.02


def test_bad_names_and_arguments():
    with pytest.raises(RegistryError, match="valid names: .*sds"):
        create_pattern("sdss")
    with pytest.raises(ConfigError, match="unexpected keyword"):
        create_pattern("sds", pitch_deg=1.0)
    with pytest.raises(ConfigError, match="n must be a positive integer"):
        create_pattern("random", n=0)
    with pytest.raises(ConfigError, match="pitch_x_deg must be a positive"):
        create_pattern("sds", pitch_x_deg=-1.0)
    with pytest.raises(ConfigError, match="jitter_deg"):
        create_pattern("grid", jitter_deg=-1.0)


def test_finer_pitch_reproduces_the_reference_mask_geometry():
    # design.md: the reference VGA mask has 1,070 spots in 31 rows of 35/34 at x 5..635, y 9..471
    p = create_pattern("sds", pitch_x_deg=1.667, pitch_y_deg=1.44, fov_x_deg=56.7, fov_y_deg=43.2)
    assert p.n == 16 * 35 + 15 * 34 == 1070
    u = 319.5 + 585.0 * p.directions[:, 0] / p.directions[:, 2]
    v = 239.5 + 585.0 * p.directions[:, 1] / p.directions[:, 2]
    assert abs(u.min() - 5) < 1.5 and abs(u.max() - 635) < 1.5
    assert abs(v.min() - 9) < 1.5 and abs(v.max() - 471) < 1.5
