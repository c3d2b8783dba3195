"""How the sub-ray returns of one footprint combine into one measurement (mixed returns at depth edges).

- iToF: the pixel integrates the modulated light of every sub-ray, so the returns add as phasors
  ``sum_k S_k exp(i 4 pi f r_k / c)``; across a depth edge the phase lies between the two surfaces (a biased
  in-between range) and the amplitude drops.
- dToF: the returns form a histogram over time of flight; sub-ray returns closer than `peak_separation_m` form
  one peak, and the strongest peak (largest summed signal) is reported (a split footprint reports one side);
  a footprint is MIXED only when its returns form more than one peak (a slanted surface is one wide peak).
"""

from __future__ import annotations

import numpy as np

from tofsim.sensor.config import SPEED_OF_LIGHT_M_PER_S

__all__ = ["itof_phasor", "dtof_strongest_peak", "range_spread_m"]


def itof_phasor(range_m: np.ndarray, signal_e: np.ndarray, modulation_frequency_hz: float, contrast: float):
    """Phasor sum of sub-ray returns.

    Args:
        range_m: (N, R) sub-ray ranges (any finite value where the signal is 0).
        signal_e: (N, R) sub-ray signals, 0 for no return.
        modulation_frequency_hz: f_mod.
        contrast: demodulation contrast C.

    Returns:
        (N,) complex128 ``C * sum_k S_k exp(i 4 pi f r_k / c)``.
    """
    phase = (4.0 * np.pi * modulation_frequency_hz / SPEED_OF_LIGHT_M_PER_S) * np.where(signal_e > 0, range_m, 0.0)
    re = np.sum(signal_e * np.cos(phase), axis=1)
    im = np.sum(signal_e * np.sin(phase), axis=1)
    return contrast * (re + 1j * im)


def dtof_strongest_peak(range_m: np.ndarray, signal_e: np.ndarray, peak_separation_m: float):
    """Strongest histogram peak of each spot's sub-ray returns.

    Sub-ray returns sorted by range are split into peaks wherever consecutive ranges differ by more than
    `peak_separation_m`; the peak with the largest summed signal wins.

    Args:
        range_m: (N, R) sub-ray ranges.
        signal_e: (N, R) sub-ray signals, 0 for no return.
        peak_separation_m: peaks closer than this merge.

    Returns:
        (range_m (N,) signal-weighted mean range of the strongest peak, signal_e (N,) its summed signal,
        n_peaks (N,) int number of peaks with signal); range and signal are 0 for spots without a return.
    """
    n, r = range_m.shape
    key = np.where(signal_e > 0, range_m, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    rs = np.take_along_axis(key, order, axis=1)
    ss = np.take_along_axis(signal_e, order, axis=1)
    gap = np.zeros((n, r), dtype=bool)
    with np.errstate(invalid="ignore"):
        gap[:, 1:] = np.diff(rs, axis=1) > peak_separation_m
    gap[:, 1:] |= ~np.isfinite(rs[:, 1:])  # each missing return is its own zero-signal "peak"
    peak = np.cumsum(gap, axis=1)
    flat = (np.arange(n)[:, None] * r + peak).ravel()
    s_sum = np.bincount(flat, weights=ss.ravel(), minlength=n * r).reshape(n, r)
    rs_fin = np.where(np.isfinite(rs), rs, 0.0)
    sr_sum = np.bincount(flat, weights=(ss * rs_fin).ravel(), minlength=n * r).reshape(n, r)
    best = np.argmax(s_sum, axis=1)
    s_peak = s_sum[np.arange(n), best]
    with np.errstate(divide="ignore", invalid="ignore"):
        r_peak = np.where(s_peak > 0, sr_sum[np.arange(n), best] / s_peak, 0.0)
    n_peaks = np.count_nonzero(s_sum > 0, axis=1)
    return r_peak, s_peak, n_peaks


def range_spread_m(range_m: np.ndarray, has_return: np.ndarray) -> np.ndarray:
    """(N,) max - min of the sub-ray ranges that returned signal (0 with fewer than two returns)."""
    hi = np.max(np.where(has_return, range_m, -np.inf), axis=1)
    lo = np.min(np.where(has_return, range_m, np.inf), axis=1)
    return np.where(np.isfinite(hi) & np.isfinite(lo), hi - lo, 0.0)
