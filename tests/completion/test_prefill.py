import numpy as np
import pytest

from completion.errors import ShapeError
from completion.prefill import nearest_fill


def test_nearest_fill_matches_brute_force(rng):
    sparse = np.zeros((12, 17), np.float32)
    ys, xs = rng.integers(0, 12, 6), rng.integers(0, 17, 6)
    sparse[ys, xs] = rng.uniform(0.5, 5, 6).astype(np.float32)
    fill, dist = nearest_fill(sparse)
    pts = np.argwhere(sparse > 0)
    for y in range(12):
        for x in range(17):
            d = np.hypot(pts[:, 0] - y, pts[:, 1] - x)
            assert dist[y, x] == pytest.approx(d.min(), abs=1e-5)
            # ties may pick either spot: the filled value must be one of the nearest spots' depths
            nearest = pts[np.isclose(d, d.min())]
            assert fill[y, x] in sparse[nearest[:, 0], nearest[:, 1]]


def test_nearest_fill_no_spots_and_bad_shape():
    fill, dist = nearest_fill(np.zeros((3, 4), np.float32))
    assert not fill.any() and np.allclose(dist, 5.0)
    with pytest.raises(ShapeError, match="sparse_m"):
        nearest_fill(np.zeros(5))


def test_spot_status_maps_voronoi_by_brute_force(rng):
    from completion.prefill import SPOT_STATUS_CHANNELS, spot_status_maps
    from tofsim.frame import SpotStatus, empty_spots

    h, w = 11, 16
    spots = empty_spots(9)
    spots["u"] = rng.uniform(-0.4, w - 0.6, 9)
    spots["v"] = rng.uniform(-0.4, h - 0.6, 9)
    spots["status"] = [0, 1, 2, 3, 4, 0, 3, 1, 2]
    spots["u"][5] = w + 3.0  # off the image: ignored
    spots["u"][0], spots["v"][0] = 2.5, 4.5  # halves go up, as the sensor model writes spots (np.rint would go to 2, 4)
    maps = spot_status_maps(spots, (h, w))
    assert maps.shape == (2, h, w) and maps.dtype == np.float32
    on = np.arange(9) != 5
    py, px, st = np.floor(spots["v"][on] + 0.5), np.floor(spots["u"][on] + 0.5), spots["status"][on]
    for y in range(h):
        for x in range(w):
            d = np.hypot(py - y, px - x)
            near = st[np.isclose(d, d.min())]  # ties may take either spot's flags
            for c, (_, codes) in enumerate(SPOT_STATUS_CHANNELS):
                assert maps[c, y, x] in {float(s in codes) for s in near}
    assert SpotStatus.OUT_OF_RANGE in SPOT_STATUS_CHANNELS[0][1] and SpotStatus.DROPOUT in SPOT_STATUS_CHANNELS[1][1]
    # NO_HIT (a window in a render, a hole of a real RGB-D sensor) is neither "far" nor "dropout"
    assert all(SpotStatus.NO_HIT not in codes for _, codes in SPOT_STATUS_CHANNELS)
    lone = spots[:1].copy()
    lone["status"] = SpotStatus.NO_HIT
    assert not spot_status_maps(lone, (h, w)).any()


def test_spot_status_maps_without_a_table_or_spots_are_zero():
    from completion.prefill import spot_status_maps
    from tofsim.frame import empty_spots

    assert not spot_status_maps(None, (4, 5)).any()
    off = empty_spots(2)
    off["u"] = [-5.0, 40.0]
    off["status"] = 3
    assert not spot_status_maps(off, (4, 5)).any()
