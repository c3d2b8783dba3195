"""Dense frame -> sparse spot ToF measurement: `simulate` (the work) and its object twin `Sensor`.

Stages (``docs/sensor-model.md`` has the equations): project the pattern's rays from the projector and find where
they meet the surface seen by the camera (`geometry`), sample each beam footprint with sub-rays, compute each
sub-ray's signal (`signal`), combine the footprint as a phasor (iToF) or histogram peak (dToF) (`mixing`), add
shot/read noise from the passed generator, detect, quantize, and write the spot table and the sparse map.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from tofsim.camera import Intrinsics, ray_norm
from tofsim.errors import ConfigError
from tofsim.frame import DenseFrame, SpotStatus, empty_spots
from tofsim.sensor import geometry, glass, mixing, multipath, signal
from tofsim.sensor.config import SensorConfig
from tofsim.sensor.zones import zone_maps, zone_statistics
from tofsim.spots import SpotPattern, create_pattern

__all__ = ["SensorOutput", "simulate", "Sensor"]


@dataclass
class SensorOutput:
    """What one sensor frame reports.

    Attributes:
        spots: (N,) structured array of `tofsim.frame.SPOT_DTYPE`, one record per pattern spot (fixed N).
        sparse_m: (H, W) float32 measured z-depth at the rounded pixel of each VALID or MIXED spot, 0 elsewhere.
        mask: (H, W) bool, ``sparse_m > 0``.
        saturated: None without ``config.saturation_e``; else (N,) bool, the spots reported DROPOUT because their
            return saturated the pixel.
        zones: None, or for zone sensors a dict of (rows, cols) arrays ``distance_m`` (float32 range),
            ``sigma_m`` (float32) and ``status`` (uint8 `SpotStatus`); with ``zone_statistics`` also the true-range
            statistics of `tofsim.sensor.zones.zone_statistics` and ``zone_map``, (H, W) int16 zone index of each
            pixel (row-major, -1 outside every zone).
    """

    spots: np.ndarray
    sparse_m: np.ndarray
    mask: np.ndarray
    zones: dict[str, np.ndarray] | None = None
    saturated: np.ndarray | None = None


@dataclass(frozen=True)
class _Prepared:
    """Per-config constants: the pattern and its sub-rays."""

    config: SensorConfig
    pattern: SpotPattern
    subdirs: np.ndarray  # (N * R, 3)
    rays_per_spot: int
    baseline_m: np.ndarray  # (3,)


def _prepare(config: SensorConfig) -> _Prepared:
    pattern = create_pattern(config.pattern, **config.pattern_kwargs)
    if config.zone_statistics and pattern.zone_size_deg is None:
        raise ConfigError(f"zone_statistics needs a zone pattern (e.g. 'zones-8x8'), got pattern {config.pattern!r}")
    if pattern.zone_size_deg is not None:
        sub = geometry.zone_subray_directions(pattern.directions, pattern.zone_size_deg, config.rays_per_spot)
    else:
        offsets = geometry.cone_offsets(config.rays_per_spot, config.divergence_deg)
        sub = geometry.subray_directions(pattern.directions, offsets)
    n, r, _ = sub.shape
    return _Prepared(
        config=config, pattern=pattern, subdirs=sub.reshape(n * r, 3), rays_per_spot=r,
        baseline_m=np.asarray(config.baseline_m, dtype=np.float64),
    )  # fmt: skip


_CACHE: OrderedDict[str, _Prepared] = OrderedDict()
_CACHE_LOCK = threading.Lock()  # Dask may run samples in threads


def _prepared_for(config: SensorConfig) -> _Prepared:
    """The prepared pattern of `config`, built once per distinct config (a small LRU cache)."""
    key = json.dumps(config.to_dict(), sort_keys=True, default=str)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is None:
        hit = _prepare(config)
        with _CACHE_LOCK:
            _CACHE[key] = hit
            while len(_CACHE) > 16:
                _CACHE.popitem(last=False)
    return hit


def _resolve(config: SensorConfig | str) -> SensorConfig:
    if isinstance(config, str):
        from tofsim.sensor.presets import get_sensor_preset

        return get_sensor_preset(config)
    if not isinstance(config, SensorConfig):
        raise ConfigError(f"config must be a SensorConfig or a preset name, got {type(config).__name__}")
    return config


def _depth_stats(depth_m: np.ndarray) -> tuple[float, float, float] | None:
    """(nearest, median, farthest) valid depth: extremes from a 2x-, median from an 8x-subsampled map; None when
    nothing is valid.
    """  # noqa: D205
    sub = depth_m[::2, ::2]
    with np.errstate(invalid="ignore"):
        near = float(np.min(np.where(sub > 0, sub, np.inf)))
        far = float(np.max(np.where((sub > 0) & np.isfinite(sub), sub, 0.0)))
    if not np.isfinite(near) or far <= 0:
        return None
    coarse = depth_m[::8, ::8]
    coarse = coarse[np.isfinite(coarse) & (coarse > 0)]
    return near, float(np.median(coarse)) if coarse.size else near, far


def _receiver_sr(prep: _Prepared) -> float:
    """Solid angle integrated by each spot for the multipath term (`SensorConfig.multipath_receiver_deg`)."""
    cfg, zone = prep.config, prep.pattern.zone_size_deg
    if cfg.multipath_receiver_deg > 0:
        return multipath.cone_solid_angle_sr(cfg.multipath_receiver_deg)
    if zone is not None:
        return multipath.rectangle_solid_angle_sr(*zone)
    return multipath.cone_solid_angle_sr(cfg.divergence_deg)


def _indirect(frame, prep, centre, lit_fraction, visibility):
    """Multipath phasor and signal of every spot (`tofsim.sensor.multipath.indirect_phasor`)."""
    cfg, w = prep.config, frame.shape[1]
    points = np.where(centre.visible[:, None], centre.points, np.nan)
    albedo = np.ravel(frame.albedo).take(centre.vi * w + centre.ui).astype(np.float64)
    albedo = np.where(centre.visible, np.clip(np.nan_to_num(albedo), 0.0, 1.0), 0.0)
    if visibility is None:
        visibility = multipath.depth_map_visibility(frame.depth_m, frame.intrinsics)
    return multipath.indirect_phasor(
        points, centre.normals, albedo, lit_fraction, baseline_m=prep.baseline_m, power=cfg.power,
        receiver_sr=_receiver_sr(prep), modulation_frequency_hz=cfg.modulation_frequency_hz,
        contrast=cfg.demodulation_contrast, visible=visibility,
    )  # fmt: skip


def _run(
    frame: DenseFrame, prep: _Prepared, rng: np.random.Generator, visibility: multipath.Visibility | None = None
) -> SensorOutput:
    cfg, intr = prep.config, frame.intrinsics
    depth, normals = np.ascontiguousarray(frame.depth_m), frame.normals_cam
    b = prep.baseline_m
    dirs = prep.pattern.directions
    n, r = dirs.shape[0], prep.rays_per_spot
    h, w = depth.shape
    has_baseline = bool(np.any(b != 0))

    # 1. where the rays land: epipolar search between the nearest and farthest depth for the centre rays (a single
    #    look-up without baseline), then the sub-rays from their centre's depth
    s_ref = 1.0
    if has_baseline:
        stats = _depth_stats(depth)
        z_near, z_med, z_far = stats if stats is not None else (1.0, 1.0, 1.0)
        s_near, s_far, s_ref = 1.0 / (0.95 * z_near), 1.0 / (1.05 * z_far), 1.0 / z_med
    else:
        s_near = s_far = 1.0
    centre = geometry.march(b, dirs, depth, intr, s_near, s_far, normals)
    s_start = np.where(centre.visible, 1.0 / np.where(centre.visible, centre.points[:, 2], 1.0), s_ref)
    sub = geometry.fixed_point(
        b, prep.subdirs, depth, intr, np.repeat(s_start, r), normals, iterations=2 if has_baseline else 1
    )

    # 2. sub-ray signals
    p = sub.points
    px, py, pz = p[:, 0], p[:, 1], p[:, 2]
    range_k = np.sqrt(px * px + py * py + pz * pz)
    lx, ly, lz = px - b[0], py - b[1], pz - b[2]  # illumination direction, projector -> surface
    nrm = sub.normals
    cos_k = -(nrm[:, 0] * lx + nrm[:, 1] * ly + nrm[:, 2] * lz) / np.sqrt(lx * lx + ly * ly + lz * lz)
    cos_k = np.clip(np.nan_to_num(cos_k), 0.0, 1.0)
    albedo_k = np.ravel(frame.albedo).take(sub.vi * w + sub.ui).astype(np.float64)
    albedo_k = np.clip(np.nan_to_num(albedo_k), 0.0, 1.0)
    vis = sub.visible
    if cfg.mode == "dtof":
        in_window = vis & (range_k <= cfg.max_range_m)
    else:
        in_window = vis
    s_k = np.where(in_window, signal.subray_signal_e(cfg.power, albedo_k, cos_k, range_k, r), 0.0)
    range_k, s_k, albedo_k = range_k.reshape(n, r), s_k.reshape(n, r), albedo_k.reshape(n, r)
    vis, in_window, shadow = vis.reshape(n, r), in_window.reshape(n, r), sub.shadowed.reshape(n, r)
    range_k = np.where(vis, range_k, 0.0)
    reached = vis.any(axis=1), in_window.any(axis=1)  # some sub-ray meets a surface (in the dtof window)
    panes = glass.pane_returns(frame, cfg, b, prep.subdirs, np.repeat(s_start, r), (n, r),
                               iterations=2 if has_baseline else 1)  # fmt: skip
    if panes is not None:  # glass: the pane's own returns join the footprint, the light behind it is attenuated
        s_k = np.where(panes.through, s_k * cfg.glass_transmittance**2, s_k)
        range_k, s_k = np.concatenate([range_k, panes.range_m], axis=1), np.concatenate([s_k, panes.signal_e], axis=1)
        pane_hit = panes.signal_e.any(axis=1)
        reached = reached[0] | pane_hit, reached[1] | pane_hit
    n_vis = vis.sum(axis=1)
    mean_albedo = np.where(n_vis > 0, np.sum(np.where(vis, albedo_k, 0.0), axis=1) / np.maximum(n_vis, 1), 0.0)
    amb = signal.ambient_e(cfg.ambient, mean_albedo)

    # 3. mix the footprint, add noise, detect
    if cfg.mode == "itof":
        phasor = mixing.itof_phasor(range_k, s_k, cfg.modulation_frequency_hz, cfg.demodulation_contrast)
        total_e = s_k.sum(axis=1)
        if cfg.multipath:
            indirect, indirect_e = _indirect(frame, prep, centre, n_vis / r, visibility)
            phasor, total_e = phasor + indirect, total_e + indirect_e
        noise = signal.noise_e(total_e, amb, cfg.read_noise_e)
        clean_amp = np.abs(phasor)
        sigma = signal.itof_sigma_m(clean_amp, noise, cfg.modulation_frequency_hz)
        if cfg.add_noise:
            draws = rng.standard_normal((2, n))
            phasor = phasor + noise * (draws[0] + 1j * draws[1])
        amplitude = np.abs(phasor)
        phase = np.mod(np.angle(phasor), 2.0 * np.pi)
        meas = phase * signal.itof_metres_per_rad(cfg.modulation_frequency_hz)
    else:
        peak_r, peak_s, n_peaks = mixing.dtof_strongest_peak(range_k, s_k, cfg.peak_separation_m)
        noise = signal.noise_e(peak_s, amb, cfg.read_noise_e)
        sigma = signal.dtof_sigma_m(peak_s, noise, cfg.pulse_sigma_m)
        meas, amplitude = peak_r, peak_s
        if cfg.add_noise:
            draws = rng.standard_normal((2, n))
            meas = peak_r + sigma * draws[0]
            amplitude = peak_s + noise * draws[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        detected = (amplitude > 0) & (amplitude >= cfg.detection_threshold * noise)
    if cfg.range_quantization_m > 0:
        meas = np.round(meas / cfg.range_quantization_m) * cfg.range_quantization_m

    # 4. spot position on the image: the centre ray's hit, else the signal-weighted centroid of the sub-ray hits,
    #    else where the centre ray would land at the frame's median depth
    u_inf, v_inf, bu, bv = geometry.epipolar_params(b, dirs, intr)
    cen_u, cen_v, _ = _project(centre.points, intr)
    u = np.where(centre.visible, cen_u, u_inf + bu * s_ref)
    v = np.where(centre.visible, cen_v, v_inf + bv * s_ref)
    need = ~centre.visible & vis.any(axis=1)
    if need.any():
        rows = np.flatnonzero(need)
        sub_u, sub_v, _ = _project(p.reshape(n, r, 3)[rows].reshape(-1, 3), intr)
        wts = np.where(vis[rows], np.maximum(s_k[rows, :r], 1e-30), 0.0)
        wsum = wts.sum(axis=1)
        u[rows] = np.sum(wts * np.nan_to_num(sub_u.reshape(-1, r)), axis=1) / wsum
        v[rows] = np.sum(wts * np.nan_to_num(sub_v.reshape(-1, r)), axis=1) / wsum

    # 5. status
    any_vis, any_window = reached
    status = np.full(n, SpotStatus.NO_HIT, dtype=np.uint8)
    status[~any_vis & shadow.any(axis=1)] = SpotStatus.DROPOUT
    status[any_vis] = SpotStatus.DROPOUT
    if cfg.mode == "dtof":
        status[any_vis & ~any_window] = SpotStatus.OUT_OF_RANGE
    good = any_vis & any_window & detected
    status[good] = SpotStatus.VALID
    mixed = mixing.range_spread_m(range_k, s_k > 0) > cfg.mixed_threshold_m
    if cfg.mode == "dtof":  # a histogram separates a slanted surface (one wide peak) from a split footprint
        mixed &= n_peaks > 1
    status[good & mixed] = SpotStatus.MIXED
    status[good & (meas > cfg.max_range_m)] = SpotStatus.OUT_OF_RANGE
    if cfg.mode == "itof" and cfg.min_return_albedo > 0:  # too weak for its range: a wrapped far echo
        with np.errstate(divide="ignore", invalid="ignore"):
            weakest_e = cfg.demodulation_contrast * cfg.power * cfg.min_return_albedo / (meas * meas)
        status[good & (amplitude < weakest_e)] = SpotStatus.OUT_OF_RANGE
    saturated = None
    if cfg.saturation_e is not None:  # full well: iToF collects signal + ambient, dToF piles up on its peak
        charge_e = total_e + amb if cfg.mode == "itof" else peak_s
        saturated = good & (charge_e >= cfg.saturation_e)
        status[saturated] = SpotStatus.DROPOUT
    ui, vi = np.floor(u + 0.5), np.floor(v + 0.5)
    inside = (ui >= 0) & (ui < w) & (vi >= 0) & (vi < h)
    status[~inside] = SpotStatus.OUT_OF_RANGE
    if saturated is not None:
        saturated &= inside

    # 6. tables and maps
    ok = (status == SpotStatus.VALID) | (status == SpotStatus.MIXED)
    z = np.where(ok, meas / ray_norm(intr, u, v), 0.0)
    spots = empty_spots(n)
    spots["u"], spots["v"] = u, v
    spots["range_m"] = np.where(ok, meas, 0.0)
    spots["z_m"] = z
    spots["amplitude"] = np.where(ok, amplitude, 0.0)
    spots["sigma_m"] = np.where(ok, sigma, 0.0)
    spots["status"] = status
    idx = (vi[ok] * w + ui[ok]).astype(np.int64)
    z_ok = spots["z_m"][ok]
    order = np.lexsort((z_ok, idx))  # by pixel, then nearest first
    pix, first = np.unique(idx[order], return_index=True)
    sparse = np.zeros(h * w, dtype=np.float32)
    sparse[pix] = z_ok[order][first]
    sparse = sparse.reshape(h, w)
    zones = zone_maps(spots, prep.pattern.grid_shape) if prep.pattern.zone_size_deg is not None else None
    if zones is not None and cfg.zone_statistics:
        zones |= zone_statistics(frame, prep.pattern, b)
    return SensorOutput(spots=spots, sparse_m=sparse, mask=sparse > 0, zones=zones, saturated=saturated)


def _project(points: np.ndarray, intr: Intrinsics):
    with np.errstate(divide="ignore", invalid="ignore"):
        u = intr.cx_px + intr.fx_px * points[:, 0] / points[:, 2]
        v = intr.cy_px + intr.fy_px * points[:, 1] / points[:, 2]
    return u, v, points[:, 2]


def _check_frame(frame: Any) -> None:
    if not isinstance(frame, DenseFrame):
        raise ConfigError(f"frame must be a tofsim.frame.DenseFrame, got {type(frame).__name__}")


def simulate(
    frame: DenseFrame,
    config: SensorConfig | str,
    *,
    rng: np.random.Generator,
    visibility: multipath.Visibility | None = None,
) -> SensorOutput:
    """Simulate one frame of a spot ToF sensor from a dense frame (rendered or real).

    Args:
        frame: the dense frame; only depth_m, albedo, normals_cam (or depth-estimated normals) and intrinsics
            are used. Invalid depth (0 or NaN) makes the rays that land there return nothing.
        config: a `SensorConfig` or a preset name (`get_sensor_preset`).
        rng: the only source of randomness (noise); unused when ``config.add_noise`` is False.
        visibility: for ``config.multipath`` only: which segments between surface points are free
            (`tofsim.sensor.multipath.renderer_visibility` for shadow rays through a mesh); None tests them
            against the frame's depth map (`depth_map_visibility`).

    Returns:
        `SensorOutput` with the spot table (one record per pattern spot), the sparse z-depth map and its mask.

    Raises:
        ConfigError: for a config that is neither a `SensorConfig` nor a preset name, or a non-`DenseFrame` frame.
        RegistryError: for an unknown preset name.

    Example:
        >>> out = simulate(frame, "sds", rng=np.random.default_rng(0))  # doctest: +SKIP
    """
    _check_frame(frame)
    return _run(frame, _prepared_for(_resolve(config)), rng, visibility)


class Sensor:
    """Object twin of `simulate`: holds a resolved config and its prepared pattern.

    Example:
        >>> sensor = Sensor("sds")
        >>> sensor.config.mode
        'itof'
    """

    def __init__(self, config: SensorConfig | str) -> None:
        self.config = _resolve(config)
        self._prepared = _prepared_for(self.config)

    @property
    def pattern(self) -> SpotPattern:
        """The sensor's spot pattern."""
        return self._prepared.pattern

    def __call__(
        self, frame: DenseFrame, *, rng: np.random.Generator, visibility: multipath.Visibility | None = None
    ) -> SensorOutput:
        """Same as ``simulate(frame, self.config, rng=rng, visibility=visibility)``."""
        _check_frame(frame)
        return _run(frame, self._prepared, rng, visibility)

    def __repr__(self) -> str:
        return f"Sensor({self.config.name!r}, pattern={self.config.pattern!r}, n_spots={self.pattern.n})"
