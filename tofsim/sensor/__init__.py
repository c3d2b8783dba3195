"""Spot ToF sensor model: dense frame (depth, albedo, normals, intrinsics) -> spot table + sparse depth map.

Public API: `SensorConfig`, `SENSOR_PRESETS`, `get_sensor_preset`, `simulate`, `Sensor`, `SensorOutput`, and
`register_spots` (the spots moved into a colour camera's frame).
Equations: ``docs/sensor-model.md``.
"""

from __future__ import annotations

from tofsim.sensor.config import SensorConfig
from tofsim.sensor.model import Sensor, SensorOutput, simulate
from tofsim.sensor.presets import SENSOR_PRESETS, get_sensor_preset
from tofsim.sensor.registration import register_spots

__all__ = [
    "SENSOR_PRESETS",
    "Sensor",
    "SensorConfig",
    "SensorOutput",
    "get_sensor_preset",
    "register_spots",
    "simulate",
]
