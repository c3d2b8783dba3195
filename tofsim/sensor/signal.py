"""Returned signal, ambient light and the range-noise (sigma) formulas of the sensor model.

Equations and their derivation: ``docs/sensor-model.md``. All quantities are photo-electrons (e-) per spot and
frame unless the name says otherwise.
"""

from __future__ import annotations

import numpy as np

from tofsim.sensor.config import SPEED_OF_LIGHT_M_PER_S

__all__ = ["subray_signal_e", "ambient_e", "noise_e", "itof_sigma_m", "dtof_sigma_m", "itof_metres_per_rad"]


def subray_signal_e(power: float, albedo, cos_incidence, range_m, rays_per_spot: int) -> np.ndarray:
    """Signal of each sub-ray: ``power / R * albedo * cos(incidence) / range_m**2`` (0 where any input is 0).

    Args:
        power: e- returned by a white surface facing the beam at 1 m (whole spot).
        albedo, cos_incidence, range_m: arrays of one shape; range_m > 0 where the sub-ray hits.
        rays_per_spot: R, the number of sub-rays that share the spot's power.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (power / rays_per_spot) * albedo * cos_incidence / (range_m * range_m)
    return np.where(np.isfinite(s) & (s > 0), s, 0.0)


def ambient_e(ambient: float, mean_albedo) -> np.ndarray:
    """Ambient e- collected with a spot: ``ambient * albedo`` (a white surface gives `ambient`)."""
    return ambient * np.asarray(mean_albedo, dtype=np.float64)


def noise_e(signal_e, ambient_e_, read_noise_e: float) -> np.ndarray:
    """Total noise in e- RMS: shot noise of signal and ambient plus read noise, ``sqrt(S + A + read**2)``."""
    return np.sqrt(np.asarray(signal_e) + np.asarray(ambient_e_) + read_noise_e * read_noise_e)


def itof_metres_per_rad(modulation_frequency_hz: float) -> float:
    """Range per radian of phase, ``c / (4 pi f_mod)``."""
    return SPEED_OF_LIGHT_M_PER_S / (4.0 * np.pi * modulation_frequency_hz)


def itof_sigma_m(amplitude_e, noise_e_, modulation_frequency_hz: float) -> np.ndarray:
    """Range sigma of iToF: ``c / (4 pi f) * noise / amplitude`` with amplitude = contrast * |sum of sub-ray phasors|
    (= contrast * S for a spot on one surface): ``sigma = c/(4 pi f) * sqrt(S + A + read²) / (C S)``.
    """  # noqa: D205
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(amplitude_e > 0, itof_metres_per_rad(modulation_frequency_hz) * noise_e_ / amplitude_e, 0.0)


def dtof_sigma_m(peak_signal_e, noise_e_, pulse_sigma_m: float) -> np.ndarray:
    """Range sigma of a dToF peak centroid: ``pulse_sigma_m * sqrt(S + A + read²) / S`` (-> pulse_sigma / sqrt(S))."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak_signal_e > 0, pulse_sigma_m * noise_e_ / peak_signal_e, 0.0)
