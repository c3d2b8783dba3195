import numpy as np
import pytest
import torch
from scipy.spatial import Delaunay

from completion import models
from completion.baselines import IpBasicConfig, diamond_kernel, ipbasic_depth, linear_depth, nearest_depth
from completion.errors import ConfigError, ShapeError
from completion.prefill import nearest_fill

FILLERS = [nearest_depth, linear_depth, ipbasic_depth]


def random_spots(rng, h, w, n, lo=0.5, hi=6.0):
    sparse = np.zeros((h, w), np.float32)
    ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
    sparse[ys, xs] = rng.uniform(lo, hi, n).astype(np.float32)
    return sparse


@pytest.mark.parametrize("fn", FILLERS)
def test_constant_input_gives_constant_output(fn, rng):
    sparse = np.zeros((48, 64), np.float32)
    sparse[rng.integers(0, 48, 30), rng.integers(0, 64, 30)] = 2.75
    out = fn(sparse)
    assert out.shape == (48, 64) and out.dtype == np.float32
    np.testing.assert_allclose(out, 2.75, rtol=1e-6)


@pytest.mark.parametrize("name", ["nearest", "linear", "ipbasic"])
def test_registry_baselines_constant(name):
    sparse = torch.zeros(2, 1, 33, 47)
    sparse[0, 0, ::5, ::6] = 1.5
    sparse[1, 0, 2::7, 1::4] = 3.0
    batch = {"sparse": sparse, "mask": (sparse > 0).float()}
    out = models.create(name)(batch)
    assert out.shape == (2, 1, 33, 47) and out.dtype == torch.float32
    torch.testing.assert_close(out[0], torch.full((1, 33, 47), 1.5))
    torch.testing.assert_close(out[1], torch.full((1, 33, 47), 3.0))


def test_nearest_is_the_prefill(rng):
    sparse = random_spots(rng, 30, 40, 25)
    np.testing.assert_array_equal(nearest_depth(sparse), nearest_fill(sparse)[0])


def test_linear_reproduces_a_tilted_plane(rng):
    h, w = 60, 80
    gy, gx = np.mgrid[0:h, 0:w]
    plane = (2.0 + 0.013 * gx - 0.007 * gy).astype(np.float64)
    sparse = np.zeros((h, w), np.float32)
    ys, xs = rng.integers(0, h, 40), rng.integers(0, w, 40)
    sparse[ys, xs] = plane[ys, xs]
    out = linear_depth(sparse)
    pts = np.argwhere(sparse > 0)[:, ::-1].astype(float)  # (x, y)
    inside = (Delaunay(pts).find_simplex(np.stack([gx.ravel(), gy.ravel()], 1)) >= 0).reshape(h, w)
    assert inside.mean() > 0.5
    np.testing.assert_allclose(out[inside], plane[inside], atol=2e-6)
    np.testing.assert_array_equal(out[~inside], nearest_fill(sparse)[0][~inside])


@pytest.mark.parametrize("layout", ["random", "grid-with-holes"])
def test_linear_matches_scipy_linear_nd_interpolator(rng, layout):
    # scipy's interpolator on the same triangulation is the reference inside the hull; outside, the nearest fill
    from scipy.interpolate import LinearNDInterpolator

    h, w = 48, 64
    if layout == "random":
        sparse = random_spots(rng, h, w, 70)
    else:  # a regular spot grid (cocircular points: many equivalent triangulations) with a missing border
        sparse = np.zeros((h, w), np.float32)
        sparse[3::6, 2::7] = rng.uniform(0.5, 6.0, sparse[3::6, 2::7].shape)
        sparse[:, :16] = 0
    pts = np.argwhere(sparse > 0)[:, ::-1].astype(float)  # (x, y)
    tri = Delaunay(pts)
    ref = LinearNDInterpolator(tri, sparse[pts[:, 1].astype(int), pts[:, 0].astype(int)].astype(float))
    gy, gx = np.mgrid[0:h, 0:w]
    expected = ref(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(h, w)
    inside = np.isfinite(expected)
    out = linear_depth(sparse)
    assert 0.3 < inside.mean() < 1.0
    np.testing.assert_allclose(out[inside], expected[inside], rtol=1e-6)
    np.testing.assert_array_equal(out[~inside], nearest_fill(sparse)[0][~inside])


def test_linear_with_collinear_or_few_spots_falls_back_to_nearest():
    sparse = np.zeros((10, 12), np.float32)
    sparse[4, 1], sparse[4, 5], sparse[4, 9] = 1.0, 2.0, 3.0  # one row: no triangle
    np.testing.assert_array_equal(linear_depth(sparse), nearest_fill(sparse)[0])
    sparse2 = np.zeros((10, 12), np.float32)
    sparse2[1, 1], sparse2[8, 8] = 1.0, 2.0
    np.testing.assert_array_equal(linear_depth(sparse2), nearest_fill(sparse2)[0])


def test_ipbasic_keeps_input_and_stays_within_range(rng):
    sparse = random_spots(rng, 60, 90, 120)
    mask = sparse > 0
    out = ipbasic_depth(sparse)
    np.testing.assert_array_equal(out[mask], sparse[mask])
    # every step is a max/min/median/convex blur of the spot depths: output within their range, no hole left
    assert out.min() >= sparse[mask].min() - 1e-5 and out.max() <= sparse[mask].max() + 1e-5
    free = ipbasic_depth(sparse, cfg=IpBasicConfig(keep_input=False))
    assert not np.array_equal(free[mask], sparse[mask])


def test_ipbasic_prefers_the_near_surface():
    # a near spot next to a far spot: the dilation of the inverted depth spreads the near depth first
    sparse = np.zeros((21, 21), np.float32)
    sparse[10, 8], sparse[10, 12] = 1.0, 5.0
    out = ipbasic_depth(sparse, cfg=IpBasicConfig(blur_sigma_px=0.0, median_px=1))
    assert out[10, 10] == pytest.approx(1.0)  # equidistant pixel takes the near depth


def test_diamond_kernel():
    k = diamond_kernel(5)
    assert k.sum() == 13 and k[2].all() and k[:, 2].all() and not k[0, 0]


@pytest.mark.parametrize("fn", FILLERS)
def test_no_spots_and_bad_shapes(fn):
    np.testing.assert_array_equal(fn(np.zeros((4, 5), np.float32)), np.zeros((4, 5), np.float32))
    with pytest.raises(ShapeError, match="sparse_m"):
        fn(np.zeros(5, np.float32))
    with pytest.raises(ShapeError, match="mask"):
        fn(np.zeros((4, 5), np.float32), np.zeros((5, 4), bool))


def test_ipbasic_config_validation():
    with pytest.raises(ConfigError, match="large_fill_px"):
        IpBasicConfig(large_fill_px=30)
    with pytest.raises(ConfigError, match="unknown config key"):
        models.create("ipbasic", blur=3)


@pytest.mark.parametrize("name", ["nearest", "linear", "ipbasic"])
def test_registry_baselines_pickle(name):
    import pickle

    model = models.create(name)
    clone = pickle.loads(pickle.dumps(model))
    sparse = torch.zeros(1, 1, 12, 15)
    sparse[0, 0, 2::4, 1::5] = torch.arange(1, 10, dtype=torch.float32).view(3, 3)
    torch.testing.assert_close(clone({"sparse": sparse}), model({"sparse": sparse}))
