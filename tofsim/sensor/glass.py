"""Glass panes in a spot footprint: a weak specular return of the pane plus the attenuated return behind it.

A rendered frame with glass (`tofsim.glass`) carries a glass layer: ``glass_depth_m`` and ``glass_normals_cam``
of the pane in front of the visible surface. Each sub-ray that crosses a pane (found on that layer as on the depth
map, `tofsim.sensor.geometry.fixed_point`) gets

```
S_glass,k = power / R * rho_g * cos(theta_k) ** m * cos(theta_k) / r_g,k**2     [specular pane return]
S_k      <- T**2 * S_k                                                       [the surface behind, through it]
```

with ``rho_g = glass_reflectance`` (the albedo of a Lambertian surface that returns as much head-on),
``m = glass_lobe_exponent``, ``T = glass_transmittance`` (one way) and ``theta_k`` the incidence on the pane.
Lobe values below `LOBE_CUTOFF` are 0, so a pane seen at an angle returns nothing and does not count as a
second surface. The pane returns join the footprint's sub-ray returns, and the sensor's mixing (iToF phasor sum,
dToF histogram) combines them: head-on a pane biases or splits the spot (MIXED), at an angle the spot measures
what lies behind. Equations and numbers: ``docs/sensor-model.md`` ("Glass").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tofsim.frame import DenseFrame
from tofsim.sensor import geometry, signal
from tofsim.sensor.config import SensorConfig

__all__ = ["PaneReturns", "LOBE_CUTOFF", "pane_returns"]

#: Specular lobe values ``cos**m`` below this are cut to 0 (21 deg off normal for m = 100).
LOBE_CUTOFF = 1e-3


@dataclass
class PaneReturns:
    """The panes' part of each footprint, each (N, R).

    Attributes:
        range_m: float64 range from the camera to the pane along each sub-ray, 0 where no pane.
        signal_e: float64 specular return of the pane, 0 where none (or cut off).
        through: bool, the sub-ray crosses a pane (the surface behind it returns ``T**2`` of its signal).
    """

    range_m: np.ndarray
    signal_e: np.ndarray
    through: np.ndarray


def pane_returns(
    frame: DenseFrame, config: SensorConfig, origin: np.ndarray, dirs: np.ndarray, s_start: np.ndarray, shape, *,
    iterations: int,
) -> PaneReturns | None:  # fmt: skip
    """Pane returns of every sub-ray; None for a frame without a glass layer or without a pane in it.

    Args:
        frame: the dense frame (``glass_depth_m``, ``glass_normals_cam``, intrinsics).
        config: the sensor (``power``, ``glass_*``; dtof: ``max_range_m`` ends the histogram window).
        origin: (3,) projector position in the camera frame, metres.
        dirs: (N * R, 3) unit sub-ray directions.
        s_start: (N * R,) starting inverse depth of each sub-ray (its spot centre's), 1/m.
        shape: (N, R).
        iterations: depth look-ups of `geometry.fixed_point` (2 with a baseline, else 1).
    """
    if frame.glass_depth_m is None or not np.any(frame.glass_depth_m > 0):
        return None
    hits = geometry.fixed_point(
        origin, dirs, frame.glass_depth_m, frame.intrinsics, s_start, frame.glass_normals_cam, iterations=iterations
    )
    p, n = hits.points, hits.normals
    range_g = np.sqrt(np.sum(p * p, axis=1))
    lit = p - origin
    cos_g = -np.sum(n * lit, axis=1) / np.sqrt(np.sum(lit * lit, axis=1))
    cos_g = np.clip(np.nan_to_num(cos_g), 0.0, 1.0)
    lobe = cos_g**config.glass_lobe_exponent
    lobe = np.where(lobe >= LOBE_CUTOFF, lobe, 0.0)
    through = hits.visible
    if config.mode == "dtof":
        through = through & (range_g <= config.max_range_m)
    rays_per_spot = shape[1]
    s_g = signal.subray_signal_e(config.power, config.glass_reflectance * lobe, cos_g, range_g, rays_per_spot)
    s_g = np.where(through, s_g, 0.0)
    return PaneReturns(
        range_m=np.where(hits.visible, range_g, 0.0).reshape(shape),
        signal_e=s_g.reshape(shape),
        through=hits.visible.reshape(shape),
    )
