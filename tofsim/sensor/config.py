"""`SensorConfig`: every parameter of the spot ToF sensor model, with units in the names.

The equations that use these fields are in ``docs/sensor-model.md``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tofsim.errors import ConfigError

__all__ = ["SensorConfig", "SPEED_OF_LIGHT_M_PER_S", "MODES"]

SPEED_OF_LIGHT_M_PER_S = 299_792_458.0
MODES = ("itof", "dtof")


@dataclass(frozen=True, kw_only=True)
class SensorConfig:
    """A spot ToF sensor.

    Attributes:
        name: preset name (provenance only; ``"custom"`` for hand-made configs).
        pattern: spot pattern name in `tofsim.spots.PATTERNS`.
        pattern_kwargs: keyword arguments of the pattern factory.
        mode: ``"itof"`` (phase of a single modulation frequency: wrap-around, phasor mixing) or ``"dtof"``
            (pulse histogram: strongest peak).
        baseline_m: (3,) projector position in the camera frame, metres (projector-from-camera offset).
        divergence_deg: full cone angle of each spot's beam (ignored for zone patterns, whose footprint is the
            zone cell).
        rays_per_spot: sub-rays sampling each footprint (zones use the next square number, a g x g grid).
        power: signal photo-electrons per spot returned by a white (albedo 1) Lambertian surface facing the beam at
            1 m; the signal is ``power * albedo * cos(incidence) / range_m**2``.
        ambient: ambient-light photo-electrons per spot for a white surface (scaled by the spot's albedo).
        read_noise_e: read noise per measurement, electrons RMS.
        detection_threshold: minimum signal-to-noise ratio (measured amplitude / noise) for a return.
        max_range_m: returns whose measured range exceeds this are OUT_OF_RANGE (dtof: the histogram window ends
            here, so farther surfaces return nothing).
        modulation_frequency_hz: itof modulation frequency; unambiguous range ``c / (2 f)``.
        demodulation_contrast: itof demodulation contrast in (0, 1].
        pulse_sigma_m: dtof RMS pulse width / timing jitter expressed in range (metres).
        peak_separation_m: dtof: sub-ray returns closer than this merge into one histogram peak.
        mixed_threshold_m: a detected spot is MIXED when the ranges of its sub-ray returns span more than this
            (dtof: and they form more than one histogram peak).
        range_quantization_m: reported ranges are rounded to multiples of this (0 = off).
        min_return_albedo: itof ambiguity check (0 = off): a detected return weaker than a surface of this
            effective albedo (albedo x cos(incidence)) would give at the *reported* range, i.e. amplitude below
            ``C * power * min_return_albedo / range**2``, is taken for a wrapped echo from beyond the unambiguous
            range and reported OUT_OF_RANGE (the amplitude-consistency check of iToF confidence filters).
        add_noise: False turns every random draw off (exact, noise-free measurements; sigma is still reported).
        multipath: itof only: add first-order global multipath, the light of every other lit spot scattered once
            onto the spot's surface (`tofsim.sensor.multipath`); off by default (outputs unchanged).
        multipath_receiver_deg: full cone angle of the surface patch whose light each spot's measurement
            integrates, for the multipath term; 0 = the spot's own beam (`divergence_deg`; the zone cell for zone
            patterns).
        zone_statistics: zone patterns only: also report, per zone, the mean, std, min and max of the true range
            over the zone's pixels and a zone-index-per-pixel map (`tofsim.sensor.zones`); off by default.
        saturation_e: full-well / ADC limit in e- (None = never saturates): an iToF spot whose collected charge
            (signal + ambient) or a dToF spot whose peak reaches it is reported DROPOUT, and counted as saturated.
        glass_reflectance: specular return of a glass pane at normal incidence, as the albedo of a Lambertian
            surface that returns as much (`tofsim.sensor.glass`).
        glass_lobe_exponent: the pane's return falls as ``cos(incidence) ** glass_lobe_exponent``.
        glass_transmittance: one-way transmittance of a pane (light behind it returns ``T**2`` of its signal).

    The options from `multipath` on are left out of `to_dict` while they keep their defaults, so the resolved
    config (and its hash) of every sensor without them is what it was before they existed.
    """

    name: str = "custom"
    pattern: str = "sds"
    pattern_kwargs: dict[str, Any] = field(default_factory=dict)
    mode: str = "itof"
    baseline_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    divergence_deg: float = 0.5
    rays_per_spot: int = 12
    power: float = 5.0e4
    ambient: float = 500.0
    read_noise_e: float = 10.0
    detection_threshold: float = 6.0
    max_range_m: float = 7.0
    modulation_frequency_hz: float = 20.0e6
    demodulation_contrast: float = 0.8
    pulse_sigma_m: float = 0.1
    peak_separation_m: float = 0.15
    mixed_threshold_m: float = 0.1
    range_quantization_m: float = 0.001
    min_return_albedo: float = 0.0
    add_noise: bool = True
    multipath: bool = False
    multipath_receiver_deg: float = 0.0
    zone_statistics: bool = False
    saturation_e: float | None = None
    glass_reflectance: float = 0.3
    glass_lobe_exponent: float = 100.0
    glass_transmittance: float = 0.9

    def __post_init__(self) -> None:
        from tofsim.spots import PATTERNS  # local: spots is light, but keep config import-cheap

        if not isinstance(self.pattern, str) or self.pattern not in PATTERNS:
            raise ConfigError(f"sensor pattern {self.pattern!r} is unknown; valid patterns: {PATTERNS.names()}")
        if not isinstance(self.pattern_kwargs, Mapping):
            raise ConfigError(f"pattern_kwargs must be a table of keyword arguments, got {self.pattern_kwargs!r}")
        object.__setattr__(self, "pattern_kwargs", dict(self.pattern_kwargs))
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {self.mode!r}")
        try:
            baseline = tuple(float(b) for b in self.baseline_m)
        except (TypeError, ValueError):
            raise ConfigError(f"baseline_m must be 3 numbers (metres), got {self.baseline_m!r}") from None
        if len(baseline) != 3 or not all(math.isfinite(b) for b in baseline):
            raise ConfigError(f"baseline_m must be 3 finite numbers (metres), got {self.baseline_m!r}")
        object.__setattr__(self, "baseline_m", baseline)
        if not isinstance(self.rays_per_spot, int) or isinstance(self.rays_per_spot, bool) or self.rays_per_spot < 1:
            raise ConfigError(f"rays_per_spot must be an integer >= 1, got {self.rays_per_spot!r}")
        for key in ("add_noise", "multipath", "zone_statistics"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"{key} must be true or false, got {getattr(self, key)!r}")
        if self.multipath and self.mode != "itof":
            raise ConfigError(
                f"multipath is modelled for mode 'itof' only, got mode {self.mode!r}; set multipath=false"
            )
        positive = (
            "power", "max_range_m", "modulation_frequency_hz", "pulse_sigma_m", "peak_separation_m",
            "glass_lobe_exponent",
        ) + (("saturation_e",) if self.saturation_e is not None else ())  # fmt: skip
        non_negative = (
            "divergence_deg", "ambient", "read_noise_e", "detection_threshold", "mixed_threshold_m",
            "range_quantization_m", "min_return_albedo", "multipath_receiver_deg", "glass_reflectance",
        )  # fmt: skip
        for key in positive + non_negative:
            value = getattr(self, key)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or value < 0 or (key in positive and value == 0):
                kind = "> 0" if key in positive else ">= 0"
                raise ConfigError(f"{key} must be a finite number {kind}, got {value!r}")
        if not (0 <= self.glass_transmittance <= 1):
            raise ConfigError(f"glass_transmittance must be in [0, 1], got {self.glass_transmittance!r}")
        if not (0 < self.demodulation_contrast <= 1):
            raise ConfigError(f"demodulation_contrast must be in (0, 1], got {self.demodulation_contrast!r}")
        for key in ("divergence_deg", "multipath_receiver_deg"):
            if getattr(self, key) >= 90:
                raise ConfigError(f"{key} must be below 90, got {getattr(self, key)}")

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))

    @property
    def unambiguous_range_m(self) -> float:
        """Unambiguous (wrap-around) iToF range ``c / (2 f_mod)`` in metres."""
        return SPEED_OF_LIGHT_M_PER_S / (2.0 * self.modulation_frequency_hz)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SensorConfig:
        """Strictly build a config from a plain dict (e.g. parsed TOML); missing keys keep their defaults.

        Raises:
            ConfigError: for an unknown key (the message lists the valid keys) or a bad value.
        """
        if not isinstance(d, Mapping):
            raise ConfigError(f"sensor config: expected a table of keys, got {type(d).__name__}")
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(valid))
        if unknown:
            raise ConfigError(f"sensor config: unknown key(s) {unknown}; valid keys: {', '.join(valid)}")
        try:
            return cls(**dict(d))
        except TypeError as err:
            raise ConfigError(f"sensor config: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/TOML-friendly dict; ``SensorConfig.from_dict(c.to_dict()) == c``."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["baseline_m"] = list(self.baseline_m)
        out["pattern_kwargs"] = dict(self.pattern_kwargs)
        for key in _OPTIONAL_KEYS:  # opt-in options: absent while at their defaults (unchanged config hashes)
            if out[key] == _DEFAULTS[key]:
                del out[key]
        return out


#: Options added after datasets existed; `to_dict` leaves them out while they keep these defaults.
_OPTIONAL_KEYS = (
    "multipath", "multipath_receiver_deg", "zone_statistics", "saturation_e", "glass_reflectance",
    "glass_lobe_exponent", "glass_transmittance",
)  # fmt: skip
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(SensorConfig) if f.name in _OPTIONAL_KEYS}
