"""Error and depth map colours against matplotlib's own colormaps and hand-picked pixels."""

from __future__ import annotations

import doctest

import matplotlib
import numpy as np
import pytest

from leaderboard import error_maps
from leaderboard.error_maps import (
    INVALID_RGB,
    MISSING_RGB,
    abs_error_rgb,
    colormap_lut,
    depth_rgb,
    shared_depth_range,
    signed_error_mm,
    signed_error_rgb,
)
from leaderboard.errors import ConfigError, ShapeError


def mpl_rgb(name: str, t: float | np.ndarray) -> np.ndarray:
    """Reference colour straight from matplotlib, as uint8-scale floats."""
    return np.asarray(matplotlib.colormaps[name](t))[..., :3] * 255.0


def test_seismic_ends_are_documented_colours():
    # matplotlib's seismic: low end dark blue (0, 0, 0.3), high end dark red (0.5, 0, 0)
    np.testing.assert_allclose(mpl_rgb("seismic", 0.0), [0, 0, 0.3 * 255])
    np.testing.assert_allclose(mpl_rgb("seismic", 1.0), [0.5 * 255, 0, 0])
    lut = colormap_lut("seismic")
    assert lut.dtype == np.uint8 and lut.shape == (511, 3)
    assert lut[0].tolist() == [0, 0, 76]
    assert lut[-1].tolist() == [128, 0, 0]
    assert lut[255].tolist() == [255, 255, 255]  # odd length: an entry exactly at the centre


def test_signed_error_known_pixels():
    gt = np.full((2, 4), 2.0, np.float32)
    # errors: +500, +800, -500, -2000 mm | 0, +250, -250 mm, NaN prediction
    pred = gt + np.array([[0.5, 0.8, -0.5, -1.99], [0.0, 0.25, -0.25, np.nan]], np.float32)
    rgb = signed_error_rgb(pred, gt)
    assert rgb.shape == (2, 4, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [128, 0, 0]  # +500 mm: saturated dark red (predicted too far)
    assert rgb[0, 1].tolist() == [128, 0, 0]  # beyond +500 saturates
    assert rgb[0, 2].tolist() == [0, 0, 76]  # -500 mm: dark blue (predicted too near)
    assert rgb[0, 3].tolist() == [0, 0, 76]
    assert rgb[1, 0].tolist() == [255, 255, 255]  # exact: white
    np.testing.assert_allclose(rgb[1, 1], mpl_rgb("seismic", 0.75), atol=2)  # pure red (1, 0, 0)
    np.testing.assert_allclose(rgb[1, 2], mpl_rgb("seismic", 0.25), atol=2)  # pure blue (0, 0, 1)
    assert rgb[1, 1, 0] > 250 and rgb[1, 1, 2] < 5
    assert rgb[1, 3].tolist() == list(MISSING_RGB)


def test_invalid_gt_is_exactly_black_whatever_the_prediction():
    gt = np.array([[0.0, np.nan, -1.0, np.inf, 1.0]], np.float32)
    pred = np.array([[1.0, 1.0, 5.0, 1.0, 1.0]], np.float32)
    for fn in (signed_error_rgb, abs_error_rgb):
        rgb = fn(pred, gt)
        assert (rgb[0, :4] == INVALID_RGB).all()
        assert rgb[0, 4].tolist() == [255, 255, 255]


def test_signed_error_matches_matplotlib_on_random_errors(rng):
    gt = rng.uniform(1.0, 8.0, (40, 50)).astype(np.float32)
    err_mm = rng.uniform(-700, 700, gt.shape)
    pred = (gt.astype(np.float64) + err_mm / 1000.0).astype(np.float32)
    got = signed_error_rgb(pred, gt, range_mm=300.0).astype(float)
    actual_mm = (pred.astype(np.float64) - gt) * 1000.0
    ref = mpl_rgb("seismic", np.clip((actual_mm + 300.0) / 600.0, 0, 1))
    # matplotlib quantizes to 256 entries, we to 511: allow a few levels
    assert np.abs(got - ref).max() <= 4.0


def test_signed_error_mm_values_and_nans():
    gt = np.array([[1.0, 0.0, 2.0]], np.float32)
    pred = np.array([[1.25, 1.0, np.nan]], np.float32)
    e = signed_error_mm(pred, gt)
    assert e.dtype == np.float32
    assert e[0, 0] == pytest.approx(250.0, abs=1e-3)
    assert np.isnan(e[0, 1]) and np.isnan(e[0, 2])


def test_abs_error_is_symmetric_white_to_dark_red():
    gt = np.full((1, 4), 3.0, np.float32)
    pred = gt + np.array([[0.0, 0.5, -0.5, -0.25]], np.float32)
    rgb = abs_error_rgb(pred, gt)
    assert rgb[0, 0].tolist() == [255, 255, 255]
    assert rgb[0, 1].tolist() == [128, 0, 0] == rgb[0, 2].tolist()
    np.testing.assert_allclose(rgb[0, 3], mpl_rgb("seismic", 0.75), atol=2)  # half range = pure red


def test_depth_near_is_dark_far_is_light_and_saturates():
    d = np.array([[1.0, 5.0, 0.5, 9.0, 0.0, 3.0]], np.float32)
    rgb = depth_rgb(d, range_m=(1.0, 5.0))
    np.testing.assert_allclose(rgb[0, 0], mpl_rgb("magma", 0.0), atol=1)
    np.testing.assert_allclose(rgb[0, 1], mpl_rgb("magma", 1.0), atol=1)
    assert rgb[0, 2].tolist() == rgb[0, 0].tolist()  # nearer than the range: saturates dark
    assert rgb[0, 3].tolist() == rgb[0, 1].tolist()
    assert rgb[0, 4].tolist() == list(INVALID_RGB)
    np.testing.assert_allclose(rgb[0, 5], mpl_rgb("magma", 0.5), atol=3)
    assert rgb[0, 0].sum() < 20 < 600 < rgb[0, 1].astype(int).sum()  # dark = near


def test_shared_range_gives_identical_colours_across_methods(rng):
    gt = rng.uniform(1, 4, (20, 30)).astype(np.float32)
    gt[:3] = 0
    method_a = gt + rng.normal(0, 0.3, gt.shape).astype(np.float32)  # noisy, wider spread
    method_b = gt.copy()
    lo, hi = shared_depth_range([gt])
    valid = gt > 0
    assert (lo, hi) == (float(gt[valid].min()), float(gt[valid].max()))
    rgb_gt = depth_rgb(gt, range_m=(lo, hi))
    rgb_b = depth_rgb(method_b, range_m=(lo, hi))
    np.testing.assert_array_equal(rgb_gt, rgb_b)  # same depth -> same colour in every panel
    rgb_a = depth_rgb(method_a, range_m=(lo, hi))
    same = np.abs(method_a - gt) < 1e-7
    np.testing.assert_array_equal(rgb_a[same], rgb_gt[same])
    pooled = shared_depth_range([gt, method_a], percentiles=(5, 95))
    ref = np.percentile(np.concatenate([gt[valid], method_a[method_a > 0]]).astype(np.float64), [5, 95])
    np.testing.assert_allclose(pooled, ref)


def test_constant_depth_range_is_widened():
    lo, hi = shared_depth_range([np.full((3, 3), 2.0, np.float32)])
    assert lo < 2.0 < hi and hi - lo == pytest.approx(0.002)


def test_bad_inputs_raise_clear_errors():
    gt = np.ones((4, 5), np.float32)
    with pytest.raises(ShapeError, match="pred_m has shape"):
        signed_error_rgb(np.ones((4, 6), np.float32), gt)
    with pytest.raises(ShapeError, match=r"expected an \(H, W\) depth map"):
        signed_error_rgb(np.ones((4, 5, 1), np.float32), gt)
    with pytest.raises(ShapeError, match="expected a float depth map"):
        depth_rgb(np.ones((4, 5), bool), range_m=(0, 1))
    with pytest.raises(ConfigError, match="range_mm: must be a positive"):
        signed_error_rgb(gt, gt, range_mm=0)
    with pytest.raises(ConfigError, match="range_mm: must be a positive"):
        abs_error_rgb(gt, gt, range_mm=-3)
    with pytest.raises(ConfigError, match="unknown matplotlib colormap"):
        signed_error_rgb(gt, gt, cmap="no-such-map")
    with pytest.raises(ConfigError, match="at least 2 entries"):
        colormap_lut("seismic", 1)
    with pytest.raises(ConfigError, match="range_m: need finite"):
        depth_rgb(gt, range_m=(2.0, 1.0))
    with pytest.raises(ConfigError, match="no valid depth pixel"):
        shared_depth_range([np.zeros((2, 2), np.float32)])
    with pytest.raises(ConfigError, match="percentiles"):
        shared_depth_range([gt], percentiles=(50, 50))


def test_docstring_examples_run():
    res = doctest.testmod(error_maps, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted >= 2 and res.failed == 0
