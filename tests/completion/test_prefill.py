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
