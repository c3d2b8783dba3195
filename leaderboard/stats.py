"""Uncertainty over images: bootstrap confidence intervals, paired tests between two methods, Holm's correction.

Both resample images (the unit a test set is drawn in), never pixels. Randomness comes from an explicit
``numpy.random.Generator``, so a seed gives the same interval every time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from leaderboard.errors import ConfigError, ShapeError

__all__ = ["bootstrap_ci", "paired_test", "PairedTestResult", "holm_adjust"]


def bootstrap_ci(
    values: np.ndarray, *, rng: np.random.Generator, n_boot: int = 1000, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over images.

    Args:
        values: (N,) per-image values (NaNs are left out).
        rng: random generator (seeded by the caller).
        n_boot: number of resamples.
        confidence: interval level in (0, 1).

    Returns:
        ``(lo, hi)``; ``(nan, nan)`` without finite values; ``(v, v)`` for one value.

    Raises:
        ConfigError: for ``n_boot < 1`` or a confidence outside (0, 1).
    """
    if n_boot < 1 or not 0 < confidence < 1:
        raise ConfigError(f"bootstrap_ci: need n_boot >= 1 and 0 < confidence < 1, got {n_boot}, {confidence}")
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan
    if v.size == 1:
        return float(v[0]), float(v[0])
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // v.size)  # bound the index matrix to ~16 MB
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, v.size, size=(stop - start, v.size))
        means[start:stop] = v[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


@dataclass(frozen=True)
class PairedTestResult:
    """Result of a paired test of method A against method B over the same images.

    Attributes:
        method: ``permutation`` or ``wilcoxon``.
        n: number of image pairs used (both finite).
        mean_diff: mean of A - B.
        p_value: two-sided p-value of "no difference".
    """

    method: str
    n: int
    mean_diff: float
    p_value: float


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    *,
    method: str = "permutation",
    rng: np.random.Generator | None = None,
    n_perm: int = 10000,
) -> PairedTestResult:
    """Two-sided paired test of per-image values of two methods on the same images.

    ``permutation`` flips the sign of each per-image difference at random (exact for N <= 16, otherwise
    `n_perm` random flips; needs `rng`) and compares |mean|; ``wilcoxon`` runs scipy's signed-rank test.

    Args:
        a, b: (N,) per-image values of methods A and B, aligned by image; pairs with a NaN are left out.
        method: ``permutation`` or ``wilcoxon``.
        rng: generator for the random permutation test.
        n_perm: random sign flips.

    Returns:
        A `PairedTestResult` (p = 1 when every difference is 0, NaN without pairs).

    Raises:
        ShapeError: if `a` and `b` differ in length.
        ConfigError: unknown method, or a random permutation test without `rng`.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ShapeError(f"paired_test: a has {a.size} values but b has {b.size}; they must be aligned by image")
    if method not in ("permutation", "wilcoxon"):
        raise ConfigError(f"paired_test: unknown method {method!r}; valid: permutation, wilcoxon")
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    n = int(d.size)
    if n == 0:
        return PairedTestResult(method, 0, math.nan, math.nan)
    mean_diff = float(d.mean())
    if not np.any(d != 0):
        return PairedTestResult(method, n, mean_diff, 1.0)
    if method == "wilcoxon":
        from scipy.stats import wilcoxon

        return PairedTestResult(method, n, mean_diff, float(wilcoxon(d).pvalue))
    observed = abs(d.sum())
    tol = 1e-12 * np.abs(d).sum()
    if n <= 16:
        signs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1
        sums = np.abs(signs @ d)
        p = float(np.mean(sums >= observed - tol))
    else:
        if rng is None:
            raise ConfigError("paired_test: the random permutation test needs rng=np.random.default_rng(seed)")
        hits = 0
        done = 0
        while done < n_perm:
            m = min(n_perm - done, max(1, 4_000_000 // n))
            signs = rng.integers(0, 2, size=(m, n), dtype=np.int8) * 2 - 1
            hits += int(np.count_nonzero(np.abs(signs @ d) >= observed - tol))
            done += m
        p = (hits + 1) / (n_perm + 1)
    return PairedTestResult(method, n, mean_diff, p)


def holm_adjust(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values of one family of tests (step-down; controls the family-wise error rate).

    With the m finite p-values sorted ascending, p_(1) <= ... <= p_(m), the adjusted value of the k-th is
    ``min(1, max_{j <= k} (m - j + 1) p_(j))``; a test is rejected at level alpha when its adjusted p-value is
    <= alpha, which is Holm's procedure. NaN p-values (no image pairs) are not part of the family and stay NaN.

    Args:
        p_values: (m,) p-values of the family, in any order.

    Returns:
        (m,) float64 adjusted p-values in the same order.

    Example:
        >>> holm_adjust(np.array([0.01, 0.04, 0.03, 0.005])).round(6).tolist()
        [0.03, 0.06, 0.06, 0.02]
    """
    p = np.asarray(p_values, dtype=np.float64).ravel()
    out = np.full(p.shape, math.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = idx.size
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out
