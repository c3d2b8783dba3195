"""Spot projector patterns: unit ray directions in the projector frame, defined in angles.

A pattern does not know the camera: it is a set of directions (z forward, x right, y down, OpenCV axes), so the
same pattern serves any image size. Spot positions in an image come from the sensor (`tofsim.sensor`), which
intersects the rays with the scene and projects the hits through the camera intrinsics.

Angles: a direction is written with two angles ``(ax, ay)`` such that ``d ∝ (tan ax, tan ay, 1)``: ``ax`` is the
azimuth in the x-z plane and ``ay`` the elevation in the y-z plane. A grid that is uniform in these angles gives,
through a pinhole, straight rows and columns whose pixel pitch grows towards the image edges
(``u = cx + f tan ax``), as the reference SDS mask does.

Presets (``PATTERNS.names()``): ``sds``, ``dtof-24x24``, ``zones-8x8``, ``random``, ``grid``. Every factory also
takes ``distortion_k=(k1, k2)`` (radial lens distortion of the projector optics) and ``jitter_deg`` (per-spot
Gaussian angular jitter, drawn once from ``seed``/``rng``, so the pattern stays fixed).

Example:
    >>> p = create_pattern("sds")
    >>> p.n, p.grid_shape
    (1039, None)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tofsim.errors import ConfigError
from tofsim.registry import Registry

__all__ = ["SpotPattern", "PATTERNS", "create_pattern", "directions_from_angles", "angles_from_directions"]


@dataclass(frozen=True, kw_only=True, eq=False)
class SpotPattern:
    """A fixed set of projector rays.

    Attributes:
        name: the registry name that made it.
        directions: (N, 3) float64 unit directions in the projector frame (z forward, OpenCV axes).
        grid_shape: (rows, cols) when the spots are a full grid stored row-major (zone sensors), else None.
        zone_size_deg: (width, height) angular size of each zone for zone sensors (the footprint is that square
            instead of the beam divergence cone), else None.
        params: the keyword arguments of the factory (for provenance).
    """

    name: str
    directions: np.ndarray
    grid_shape: tuple[int, int] | None = None
    zone_size_deg: tuple[float, float] | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of spots N."""
        return int(self.directions.shape[0])

    def angles_deg(self) -> np.ndarray:
        """(N, 2) float64 angles ``(ax, ay)`` in degrees with ``d ∝ (tan ax, tan ay, 1)``."""
        return np.rad2deg(angles_from_directions(self.directions))


def directions_from_angles(ax_rad: np.ndarray, ay_rad: np.ndarray) -> np.ndarray:
    """Angles (radians, any matching shape S) -> (*S, 3) float64 unit directions ``∝ (tan ax, tan ay, 1)``."""
    d = np.stack([np.tan(ax_rad), np.tan(ay_rad), np.ones_like(np.asarray(ax_rad, dtype=np.float64))], axis=-1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def angles_from_directions(directions: np.ndarray) -> np.ndarray:
    """(N, 3) directions with z > 0 -> (N, 2) float64 angles ``(ax, ay)`` in radians."""
    d = np.asarray(directions, dtype=np.float64)
    return np.stack([np.arctan2(d[:, 0], d[:, 2]), np.arctan2(d[:, 1], d[:, 2])], axis=-1)


def _distort(directions: np.ndarray, k1: float, k2: float) -> np.ndarray:
    """Radial distortion of the projector optics on normalized coordinates: x' = x (1 + k1 r² + k2 r⁴)."""
    x = directions[:, 0] / directions[:, 2]
    y = directions[:, 1] / directions[:, 2]
    r2 = x * x + y * y
    s = 1.0 + k1 * r2 + k2 * r2 * r2
    d = np.stack([x * s, y * s, np.ones_like(x)], axis=-1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def _finish(
    name: str,
    ax_deg: np.ndarray,
    ay_deg: np.ndarray,
    *,
    distortion_k: tuple[float, float],
    jitter_deg: float,
    seed: int,
    rng: np.random.Generator | None,
    params: dict[str, Any],
    grid_shape: tuple[int, int] | None = None,
    zone_size_deg: tuple[float, float] | None = None,
) -> SpotPattern:
    """Apply jitter and distortion to angle lists and build the pattern."""
    ax = np.deg2rad(np.asarray(ax_deg, dtype=np.float64).ravel())
    ay = np.deg2rad(np.asarray(ay_deg, dtype=np.float64).ravel())
    if jitter_deg < 0:
        raise ConfigError(f"pattern {name}: jitter_deg must be >= 0, got {jitter_deg}")
    if jitter_deg > 0:
        gen = rng if rng is not None else np.random.default_rng(seed)
        ax = ax + np.deg2rad(jitter_deg) * gen.standard_normal(ax.shape)
        ay = ay + np.deg2rad(jitter_deg) * gen.standard_normal(ay.shape)
    if np.any(np.abs(ax) >= np.pi / 2 - 1e-6) or np.any(np.abs(ay) >= np.pi / 2 - 1e-6):
        raise ConfigError(f"pattern {name}: field of view must stay below 180 deg")
    d = directions_from_angles(ax, ay)
    k1, k2 = (float(k) for k in distortion_k)
    if k1 != 0.0 or k2 != 0.0:
        d = _distort(d, k1, k2)
    params = {**params, "distortion_k": [k1, k2], "jitter_deg": float(jitter_deg), "seed": int(seed)}
    return SpotPattern(name=name, directions=d, grid_shape=grid_shape, zone_size_deg=zone_size_deg, params=params)


def _positive(name: str, **values: float) -> None:
    for key, value in values.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ConfigError(f"pattern {name}: {key} must be a positive number, got {value!r}")


def staggered_rows(n_rows: int, n_cols: int, pitch_x_deg: float, pitch_y_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Angles of a staggered grid centred on the axis: even rows hold `n_cols` spots, odd rows `n_cols - 1` spots
    shifted by half a pitch.

    Returns:
        (ax_deg, ay_deg): two (N,) float64 arrays, row by row, left to right.
    """  # noqa: D205
    ax_list, ay_list = [], []
    for i in range(n_rows):
        n = n_cols if i % 2 == 0 else n_cols - 1
        ax_list.append((np.arange(n) - (n - 1) / 2.0) * pitch_x_deg)
        ay_list.append(np.full(n, (i - (n_rows - 1) / 2.0) * pitch_y_deg))
    return np.concatenate(ax_list), np.concatenate(ay_list)


def sds_counts(fov_x_deg: float, fov_y_deg: float, pitch_x_deg: float, pitch_y_deg: float) -> tuple[int, int]:
    """Rows and long-row columns of the SDS grid: the most spots at `pitch` whose centres span at most `fov`.

    ``n = floor(fov / pitch) + 1`` (a tiny tolerance absorbs float error when fov is an exact multiple).
    """
    n_cols = int(math.floor(fov_x_deg / pitch_x_deg + 1e-9)) + 1
    n_rows = int(math.floor(fov_y_deg / pitch_y_deg + 1e-9)) + 1
    return n_rows, n_cols


PATTERNS: Registry[SpotPattern] = Registry("spot pattern")


@PATTERNS.register("sds")
def sds(
    *,
    pitch_x_deg: float = 1.7,
    pitch_y_deg: float = 1.4,
    fov_x_deg: float = 57.0,
    fov_y_deg: float = 43.0,
    distortion_k: tuple[float, float] = (0.0, 0.0),
    jitter_deg: float = 0.0,
    seed: int = 0,
    rng: np.random.Generator | None = None,
) -> SpotPattern:
    """SDS-style staggered spot grid, uniform in projector angle.

    The spot centres span at most ``fov_x_deg x fov_y_deg``: ``n_rows = floor(fov_y / pitch_y) + 1`` rows,
    alternately ``n_cols = floor(fov_x / pitch_x) + 1`` and ``n_cols - 1`` spots (odd rows shifted by half a
    pitch). The defaults give 31 rows of 34/33 = 1,039 spots, all inside a 640x480, f = 585 image (57.4 x 44.6 deg).
    """
    _positive("sds", pitch_x_deg=pitch_x_deg, pitch_y_deg=pitch_y_deg, fov_x_deg=fov_x_deg, fov_y_deg=fov_y_deg)
    n_rows, n_cols = sds_counts(fov_x_deg, fov_y_deg, pitch_x_deg, pitch_y_deg)
    if n_cols < 2:
        raise ConfigError(f"pattern sds: fov_x_deg={fov_x_deg} must be at least one pitch ({pitch_x_deg})")
    ax, ay = staggered_rows(n_rows, n_cols, pitch_x_deg, pitch_y_deg)
    params = {"pitch_x_deg": pitch_x_deg, "pitch_y_deg": pitch_y_deg, "fov_x_deg": fov_x_deg, "fov_y_deg": fov_y_deg}
    return _finish("sds", ax, ay, distortion_k=distortion_k, jitter_deg=jitter_deg, seed=seed, rng=rng, params=params)


def _cell_centres(n: int, fov_deg: float) -> np.ndarray:
    """Centres of `n` equal cells covering `fov_deg`, in degrees (pitch ``fov / n``)."""
    return (np.arange(n) - (n - 1) / 2.0) * (fov_deg / n)


@PATTERNS.register("grid")
def grid(
    *,
    rows: int = 15,
    cols: int = 20,
    fov_x_deg: float = 56.0,
    fov_y_deg: float = 42.0,
    distortion_k: tuple[float, float] = (0.0, 0.0),
    jitter_deg: float = 0.0,
    seed: int = 0,
    rng: np.random.Generator | None = None,
) -> SpotPattern:
    """Regular ``rows x cols`` grid: the field ``fov_x_deg x fov_y_deg`` is cut into equal cells (pitch
    ``fov / cols`` and ``fov / rows``) with one spot at each cell centre; row-major order.
    """  # noqa: D205
    if not (isinstance(rows, int) and isinstance(cols, int) and rows >= 1 and cols >= 1):
        raise ConfigError(f"pattern grid: rows and cols must be positive integers, got {rows!r} x {cols!r}")
    _positive("grid", fov_x_deg=fov_x_deg, fov_y_deg=fov_y_deg)
    ay, ax = np.meshgrid(_cell_centres(rows, fov_y_deg), _cell_centres(cols, fov_x_deg), indexing="ij")
    params = {"rows": rows, "cols": cols, "fov_x_deg": fov_x_deg, "fov_y_deg": fov_y_deg}
    return _finish(
        "grid", ax, ay, distortion_k=distortion_k, jitter_deg=jitter_deg, seed=seed, rng=rng, params=params,
        grid_shape=(rows, cols),
    )  # fmt: skip


@PATTERNS.register("dtof-24x24")
def dtof_24x24(*, fov_x_deg: float = 60.0, fov_y_deg: float = 48.0, **kwargs: Any) -> SpotPattern:
    """576 dots (24 x 24 cells of 2.5 x 2.0 deg over 60 x 48 deg), as a direct-ToF dot projector."""
    p = grid(rows=24, cols=24, fov_x_deg=fov_x_deg, fov_y_deg=fov_y_deg, **kwargs)
    return SpotPattern(name="dtof-24x24", directions=p.directions, grid_shape=p.grid_shape, params=p.params)


@PATTERNS.register("zones-8x8")
def zones_8x8(
    *, rows: int = 8, cols: int = 8, fov_x_deg: float = 45.0, fov_y_deg: float = 45.0, **kwargs: Any
) -> SpotPattern:
    """VL53L5-like zone sensor: 8 x 8 square zones over 45 x 45 deg (63 deg diagonal), one direction per zone
    centre; each zone's footprint is its whole cell (`zone_size_deg`), not a beam cone.
    """  # noqa: D205
    p = grid(rows=rows, cols=cols, fov_x_deg=fov_x_deg, fov_y_deg=fov_y_deg, **kwargs)
    return SpotPattern(
        name="zones-8x8", directions=p.directions, grid_shape=p.grid_shape,
        zone_size_deg=(fov_x_deg / cols, fov_y_deg / rows), params=p.params,
    )  # fmt: skip


@PATTERNS.register("random")
def random(
    *,
    n: int = 1000,
    fov_x_deg: float = 56.0,
    fov_y_deg: float = 42.0,
    seed: int = 0,
    rng: np.random.Generator | None = None,
    distortion_k: tuple[float, float] = (0.0, 0.0),
    jitter_deg: float = 0.0,
) -> SpotPattern:
    """`n` directions uniform in angle over ``fov_x_deg x fov_y_deg``; fixed by `seed` (or drawn from `rng`)."""
    if not (isinstance(n, int) and n >= 1):
        raise ConfigError(f"pattern random: n must be a positive integer, got {n!r}")
    _positive("random", fov_x_deg=fov_x_deg, fov_y_deg=fov_y_deg)
    gen = rng if rng is not None else np.random.default_rng(seed)
    ax = (gen.random(n) - 0.5) * fov_x_deg
    ay = (gen.random(n) - 0.5) * fov_y_deg
    params = {"n": n, "fov_x_deg": fov_x_deg, "fov_y_deg": fov_y_deg}
    return _finish(
        "random", ax, ay, distortion_k=distortion_k, jitter_deg=jitter_deg, seed=seed, rng=gen, params=params
    )


def create_pattern(name: str, **kwargs: Any) -> SpotPattern:
    """Build the spot pattern `name` (one of ``PATTERNS.names()``) with keyword arguments.

    Raises:
        RegistryError: for an unknown name (the message lists the valid ones).
        ConfigError: for a bad or unknown keyword argument.
    """
    factory = PATTERNS.get(name)
    try:
        return factory(**kwargs)
    except TypeError as err:
        raise ConfigError(f"pattern {name}: {err}") from None
