"""Seeded light sources of procedural rooms: ceiling lamps and daylight through a window.

The lights go into the room's ``meta["lights"]`` (``kind``, ``position_m``, ``intensity``); the renderer shades
the RGB image by them, with shadows (`tofsim.lighting`). They do not change the geometry or the NIR albedo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["place_lights"]


def place_lights(
    footprint_m: np.ndarray,
    height_m: float,
    openings: list[dict[str, Any]],
    count_range: tuple[int, int],
    inside: Callable[[np.ndarray], np.ndarray],
    *,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """1-3 lights of a room: one may be daylight 1.5 m outside a window (when it has one), the rest ceiling lamps.

    Args:
        footprint_m: (P, 2) counter-clockwise floor polygon in metres.
        height_m: floor-to-ceiling height in metres.
        openings: the room's openings (``kind``, ``corners_m`` (4, 3) world corners of the hole).
        count_range: inclusive range of the number of lights (``(0, 0)``: none, the renderer's headlight).
        inside: (N, 2) points -> (N,) bool, True inside the footprint.
        rng: the only source of randomness.

    Returns:
        ``[{"kind": "ceiling" | "window", "position_m": [x, y, z], "intensity": float}, ...]``.
    """
    n = int(rng.integers(count_range[0], count_range[1] + 1))
    lights: list[dict[str, Any]] = []
    windows = [o for o in openings if o["kind"] == "window"]
    if n > 0 and windows and rng.random() < 0.6:
        corners = np.asarray(windows[int(rng.integers(len(windows)))]["corners_m"], float)
        centre = corners.mean(0)
        along = corners[-1] - corners[0]
        out = np.array([along[1], -along[0], 0.0])  # CCW footprint: outwards is to the right of the wall
        out /= max(float(np.linalg.norm(out)), 1e-9)
        position = centre + out * rng.uniform(1.0, 2.0) + [0.0, 0.0, rng.uniform(0.3, 1.0)]
        lights.append({"kind": "window", "position_m": np.round(position, 4).tolist(),
                       "intensity": float(rng.uniform(1.2, 2.0))})  # fmt: skip
        n -= 1
    lo, hi = footprint_m.min(0), footprint_m.max(0)
    for _ in range(n):
        candidates = rng.uniform(lo + 0.3, hi - 0.3, size=(16, 2))
        ok = inside(candidates)
        xy = candidates[int(np.argmax(ok))] if ok.any() else footprint_m.mean(0)
        z = height_m - rng.uniform(0.1, 0.6)
        lights.append({"kind": "ceiling", "position_m": np.round([xy[0], xy[1], z], 4).tolist(),
                       "intensity": float(rng.uniform(0.6, 1.2))})  # fmt: skip
    return lights
