"""Zone-sensor output (VL53L5-like): one distance, sigma and status per zone, as (rows, cols) maps.

Each zone is one "spot" whose footprint is the whole zone cell; its sub-ray returns form the zone's histogram
(`tofsim.sensor.mixing.dtof_strongest_peak`), so a zone that sees two surfaces reports the strongest one and is
flagged MIXED.
"""

from __future__ import annotations

import numpy as np

__all__ = ["zone_maps"]


def zone_maps(spots: np.ndarray, grid_shape: tuple[int, int] | None) -> dict[str, np.ndarray]:
    """Reshape a zone sensor's spot table (row-major zones) into (rows, cols) maps.

    Args:
        spots: (rows * cols,) `SPOT_DTYPE` records in row-major zone order.
        grid_shape: (rows, cols).

    Returns:
        ``{"distance_m": float32 range (0 = none), "sigma_m": float32, "status": uint8}``, each (rows, cols).
    """
    if grid_shape is None:
        raise ValueError("zone output needs a pattern with a grid shape")
    rows, cols = grid_shape
    return {
        "distance_m": spots["range_m"].reshape(rows, cols).astype(np.float32),
        "sigma_m": spots["sigma_m"].reshape(rows, cols).astype(np.float32),
        "status": spots["status"].reshape(rows, cols).astype(np.uint8),
    }
