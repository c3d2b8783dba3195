"""Named sensor configs: ``sds``, ``dtof-24x24``, ``zones-8x8`` and the families ``random-N`` and ``grid-RxC``.

Parameter tables and the reasoning behind each value: ``docs/sensor-model.md``.
"""

from __future__ import annotations

import re

from tofsim.errors import RegistryError
from tofsim.registry import Registry
from tofsim.sensor.config import SensorConfig

__all__ = ["SENSOR_PRESETS", "get_sensor_preset"]

SENSOR_PRESETS: Registry[SensorConfig] = Registry("sensor preset")


@SENSOR_PRESETS.register("sds")
def sds() -> SensorConfig:
    """SDS-style spot iToF: 1,039 spots (31 rows, 1.7 x 1.4 deg), 20 MHz (7.49 m wrap), 1 cm baseline.

    Wrapped echoes too weak for their reported range are rejected (``min_return_albedo``). The pixel saturates at
    3e5 e- (``saturation_e``): a white surface facing the sensor closer than 0.41 m, an albedo-0.5 one closer than
    0.29 m.
    """
    return SensorConfig(
        name="sds", pattern="sds", mode="itof", baseline_m=(0.01, 0.0, 0.0), divergence_deg=0.5, rays_per_spot=12,
        power=5.0e4, ambient=500.0, read_noise_e=10.0, detection_threshold=6.0, max_range_m=7.0,
        modulation_frequency_hz=20.0e6, demodulation_contrast=0.8, mixed_threshold_m=0.1,
        range_quantization_m=0.001, min_return_albedo=0.015, saturation_e=3.0e5,
    )  # fmt: skip


@SENSOR_PRESETS.register("dtof-24x24")
def dtof_24x24() -> SensorConfig:
    """24 x 24 dot direct-ToF (576 dots over 60 x 48 deg), histogram peaks, 5 m window."""
    return SensorConfig(
        name="dtof-24x24", pattern="dtof-24x24", mode="dtof", baseline_m=(0.01, 0.0, 0.0), divergence_deg=1.0,
        rays_per_spot=12, power=5.0e3, ambient=200.0, read_noise_e=0.0, detection_threshold=5.0, max_range_m=5.0,
        pulse_sigma_m=0.1, peak_separation_m=0.15, mixed_threshold_m=0.1, range_quantization_m=0.001,
    )  # fmt: skip


@SENSOR_PRESETS.register("zones-8x8")
def zones_8x8() -> SensorConfig:
    """VL53L5-like 8 x 8 zone dToF over 45 x 45 deg, 4 m, one distance per zone from a 64-ray histogram."""
    return SensorConfig(
        name="zones-8x8", pattern="zones-8x8", mode="dtof", baseline_m=(0.0, 0.0, 0.0), rays_per_spot=64,
        power=2.0e4, ambient=2000.0, read_noise_e=0.0, detection_threshold=5.0, max_range_m=4.0,
        pulse_sigma_m=0.1, peak_separation_m=0.2, mixed_threshold_m=0.2, range_quantization_m=0.001,
    )  # fmt: skip


@SENSOR_PRESETS.register("random-N")
def random_n(n: int = 1000) -> SensorConfig:
    """The `sds` sensor with `n` spots at fixed random angles (seed 0) over 56 x 42 deg."""
    return _like_sds(f"random-{n}", "random", {"n": n, "seed": 0})


@SENSOR_PRESETS.register("grid-RxC")
def grid_rxc(rows: int = 15, cols: int = 20) -> SensorConfig:
    """The `sds` sensor with a regular ``rows x cols`` grid over 56 x 42 deg."""
    return _like_sds(f"grid-{rows}x{cols}", "grid", {"rows": rows, "cols": cols})


def _like_sds(name: str, pattern: str, kwargs: dict) -> SensorConfig:
    base = sds().to_dict()
    base.update(name=name, pattern=pattern, pattern_kwargs=kwargs)
    return SensorConfig.from_dict(base)


_FAMILIES = (
    (re.compile(r"random-(\d+)"), lambda m: SENSOR_PRESETS.create("random-N", n=int(m[1]))),
    (re.compile(r"grid-(\d+)x(\d+)"), lambda m: SENSOR_PRESETS.create("grid-RxC", rows=int(m[1]), cols=int(m[2]))),
)


def get_sensor_preset(name: str) -> SensorConfig:
    """The named sensor config: ``sds``, ``dtof-24x24``, ``zones-8x8``, ``random-N`` (e.g. ``random-500``) or
    ``grid-RxC`` (e.g. ``grid-20x15``: 20 rows, 15 columns).

    Raises:
        RegistryError: for an unknown name (the message lists the valid names).
    """  # noqa: D205
    if not isinstance(name, str):
        raise RegistryError(f"sensor preset name must be a string, got {name!r}")
    for pattern, build in _FAMILIES:
        m = pattern.fullmatch(name)
        if m and all(int(g) > 0 for g in m.groups()):
            return build(m)
    return SENSOR_PRESETS.create(name)
