"""leaderboard.stats: bootstrap intervals and paired tests between methods."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leaderboard.errors import ConfigError, ShapeError
from leaderboard.stats import bootstrap_ci, holm_adjust, paired_test


def test_bootstrap_ci_contains_mean_and_is_deterministic(rng):
    values = rng.normal(0.05, 0.01, 200)
    lo, hi = bootstrap_ci(values, rng=np.random.default_rng(3), n_boot=2000)
    assert lo < values.mean() < hi
    # width close to the normal-theory 95 % interval 2 * 1.96 * sd / sqrt(n)
    expected = 2 * 1.96 * values.std(ddof=1) / math.sqrt(values.size)
    assert hi - lo == pytest.approx(expected, rel=0.15)
    assert bootstrap_ci(values, rng=np.random.default_rng(3), n_boot=2000) == (lo, hi)
    assert bootstrap_ci(values, rng=np.random.default_rng(4), n_boot=2000) != (lo, hi)


def test_bootstrap_ci_edge_cases():
    r = np.random.default_rng(0)
    assert bootstrap_ci([2.5], rng=r) == (2.5, 2.5)
    lo, hi = bootstrap_ci([np.nan, np.nan], rng=r)
    assert math.isnan(lo) and math.isnan(hi)
    lo, hi = bootstrap_ci([1.0, np.nan, 3.0], rng=r, n_boot=500)  # NaNs left out
    assert 1.0 <= lo <= hi <= 3.0
    with pytest.raises(ConfigError, match="confidence"):
        bootstrap_ci([1.0, 2.0], rng=r, confidence=1.5)


@pytest.mark.parametrize("method", ["permutation", "wilcoxon"])
def test_paired_test_detects_real_difference_not_null(method, rng):
    base = rng.uniform(0.02, 0.08, 60)  # per-image RMSE of method B
    better = base - 0.004 + rng.normal(0, 0.002, 60)  # A is 4 mm better on every image, small noise
    t = paired_test(better, base, method=method, rng=np.random.default_rng(1), n_perm=4000)
    assert t.n == 60 and t.mean_diff < 0 and t.p_value < 0.001
    null = base + rng.normal(0, 0.002, 60)  # same method plus noise: no systematic difference
    t0 = paired_test(null, base, method=method, rng=np.random.default_rng(1), n_perm=4000)
    assert t0.p_value > 0.05


def test_exact_permutation_test_small_n():
    # 5 positive differences: of the 32 sign patterns only all-plus and all-minus reach |sum| -> p = 2/32
    t = paired_test([2, 3, 4, 5, 6], [1, 2, 3, 4, 5])
    assert t.p_value == pytest.approx(2 / 32)
    assert paired_test([1, 2, 3], [1, 2, 3]).p_value == 1.0


def test_paired_test_errors():
    with pytest.raises(ShapeError, match="aligned by image"):
        paired_test([1, 2], [1, 2, 3])
    with pytest.raises(ConfigError, match="unknown method 'ttest'"):
        paired_test([1, 2], [2, 3], method="ttest")
    with pytest.raises(ConfigError, match="needs rng"):
        paired_test(np.arange(20.0), np.arange(20.0) + 1)


def test_holm_adjust_hand_computed():
    # sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> running max 0.06)
    got = holm_adjust(np.array([0.01, 0.04, 0.03, 0.005]))
    np.testing.assert_allclose(got, [0.03, 0.06, 0.06, 0.02], rtol=1e-12)
    # at alpha 0.05 Holm rejects 0.005 and 0.01 only; plain Bonferroni (x4) would reject 0.005 only
    assert (got <= 0.05).tolist() == [True, False, False, True]
    # NaN (no image pairs) is not in the family and stays NaN; values are capped at 1
    np.testing.assert_allclose(holm_adjust(np.array([0.5, np.nan, 0.6])), [1.0, np.nan, 1.0])
    assert holm_adjust(np.array([0.2, 0.2])).tolist() == [0.4, 0.4]  # ties: the running max keeps them equal
    assert holm_adjust(np.array([])).size == 0 and holm_adjust(np.array([0.03])).tolist() == [0.03]
