"""The two data types every stage passes around: a dense frame (whatever its source) and a ToF sample.

See ``docs/dataset-format.md`` for how a `Sample` is stored.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tofsim.camera import Intrinsics
from tofsim.checks import check_dtype, check_finite, check_shape
from tofsim.errors import ShapeError

__all__ = ["DenseFrame", "Sample", "SpotStatus", "SPOT_DTYPE", "empty_spots", "spot_pixels"]


class SpotStatus(enum.IntEnum):
    """Per-spot status code stored in the spot table (uint8)."""

    VALID = 0  # a measurement, written into the sparse map
    DROPOUT = 1  # too little signal (dark, far, grazing surface) or the ground truth is invalid
    MIXED = 2  # footprint straddles a depth edge; reported (biased or split) and written into the sparse map
    OUT_OF_RANGE = 3  # beyond the sensor's maximum range (or unambiguous range) or outside the image
    NO_HIT = 4  # the ray hit nothing (open window, outside the mesh)


#: One record per projected spot. u, v: pixel position of the spot centre (float px, column/row);
#: range_m: measured range along the ray; z_m: measured z-depth; amplitude: returned signal (photo-electrons);
#: sigma_m: 1-sigma range noise predicted by the sensor model; status: `SpotStatus`.
#: Measurements of invalid spots are 0.
SPOT_DTYPE = np.dtype(
    [
        ("u", "<f4"),
        ("v", "<f4"),
        ("range_m", "<f4"),
        ("z_m", "<f4"),
        ("amplitude", "<f4"),
        ("sigma_m", "<f4"),
        ("status", "u1"),
    ]
)


def empty_spots(n: int) -> np.ndarray:
    """A zeroed spot table of `n` records (`SPOT_DTYPE`)."""
    return np.zeros(n, dtype=SPOT_DTYPE)


def spot_pixels(spots: np.ndarray, shape_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pixel the sensor model writes each spot to: ``(floor(v + 0.5), floor(u + 0.5))``.

    (``np.rint`` would round halves to even and miss the sparse map's pixel.)

    Args:
        spots: (N,) spot table with ``u``, ``v`` in pixels (`SPOT_DTYPE` or any table with those fields).
        shape_hw: (H, W) of the image the spots are in (after any crop or flip).

    Returns:
        (row, col, inside): (N,) int64 pixel indices, clipped into the image, and (N,) bool, True where the
        rounded pixel lies on the image (False for NaN coordinates).
    """
    h, w = shape_hw
    col = np.floor(np.asarray(spots["u"], dtype=np.float64) + 0.5)
    row = np.floor(np.asarray(spots["v"], dtype=np.float64) + 0.5)
    inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
    row = np.clip(np.nan_to_num(row), 0, h - 1).astype(np.int64)
    col = np.clip(np.nan_to_num(col), 0, w - 1).astype(np.int64)
    return row, col, inside


@dataclass(kw_only=True)
class DenseFrame:
    """A dense frame from a renderer or a real RGB-D source.

    Attributes:
        rgb: (H, W, 3) uint8 colour in the sample's camera frame (see ``docs/dataset-format.md``).
        depth_m: (H, W) float32 z-depth in metres, 0 where invalid.
        range_m: (H, W) float32 range along each pixel's ray in metres, 0 where invalid.
        intrinsics: the depth camera's pinhole intrinsics.
        pose: (4, 4) float64 camera-to-world transform ``T_world_from_cam`` in metres.
        albedo: (H, W) float32 NIR reflectance in [0, 1] (a proxy from RGB for real frames).
        normals_cam: (H, W, 3) float32 unit surface normals in the camera frame (pointing towards the
            camera), or None when the source has none (then estimated from depth where needed).
        glass_depth_m: (H, W) float32 z-depth in metres of a glass pane in front of the visible surface (the
            ground truth sees through glass, `tofsim.glass`), 0 where none; None for frames without glass.
        glass_normals_cam: (H, W, 3) float32 unit normals of those panes facing the camera (0 where none); given
            with `glass_depth_m`.
        meta: free-form provenance (scene id, source file, ...).
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    range_m: np.ndarray
    intrinsics: Intrinsics
    pose: np.ndarray
    albedo: np.ndarray
    normals_cam: np.ndarray | None = None
    glass_depth_m: np.ndarray | None = None
    glass_normals_cam: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        hw = (self.intrinsics.height_px, self.intrinsics.width_px)
        check_shape(self.rgb, (*hw, 3), name="rgb")
        check_dtype(self.rgb, [np.uint8], name="rgb")
        check_shape(self.depth_m, hw, name="depth_m")
        check_shape(self.range_m, hw, name="range_m")
        check_shape(self.albedo, hw, name="albedo")
        check_shape(self.pose, (4, 4), name="pose")
        check_finite(self.pose, name="pose")
        if self.normals_cam is not None:
            check_shape(self.normals_cam, (*hw, 3), name="normals_cam")
        if self.glass_depth_m is not None:
            check_shape(self.glass_depth_m, hw, name="glass_depth_m")
            if self.glass_normals_cam is None:
                raise ShapeError("glass_normals_cam: give the panes' normals with glass_depth_m")
            check_shape(self.glass_normals_cam, (*hw, 3), name="glass_normals_cam")

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W)."""
        return self.depth_m.shape

    @property
    def valid(self) -> np.ndarray:
        """(H, W) bool: pixels with a finite, positive ground-truth depth."""
        return np.isfinite(self.depth_m) & (self.depth_m > 0)


#: Image fields of a `Sample`: name, shape (``"H"``, ``"W"`` shared by all of them) and dtype.
_IMAGE_FIELDS: tuple[tuple[str, tuple[str | int, ...], np.dtype], ...] = (
    ("rgb", ("H", "W", 3), np.dtype(np.uint8)),
    ("depth_m", ("H", "W"), np.dtype(np.float32)),
    ("sparse_m", ("H", "W"), np.dtype(np.float32)),
    ("spot_mask", ("H", "W"), np.dtype(bool)),
)


@dataclass(kw_only=True)
class Sample:
    """One dataset sample: the contract shared by tofsim, completion and leaderboard.

    Validated when it is made (`__post_init__`): shapes, dtypes and finite intrinsics, so readers trust it.
    A field is None only when it was not read (`tofsim.dataset.TofDataset.read` with ``fields``) or does not
    exist (``depth_m`` of an input without ground truth); None fields are not checked.
    On disk (`docs/dataset-format.md`) ``depth_m``, ``sparse_m`` and ``spot_mask`` are the HDF5 datasets
    ``depth``, ``sparse`` and ``mask`` (`tofsim.dataset.schema.SAMPLE_FIELDS`).

    Attributes:
        rgb: (H, W, 3) uint8 colour in the sample's camera frame (see ``docs/dataset-format.md``).
        depth_m: (H, W) float32 ground-truth z-depth in metres, 0 where invalid.
        sparse_m: (H, W) float32 simulated ToF z-depth in metres at spot pixels, 0 where no measurement.
        spot_mask: (H, W) bool, True at measured spots (``sparse_m > 0``).
        spots: (N,) structured array of `SPOT_DTYPE`.
        K: (3, 3) float64 intrinsics in pixels, finite.
        pose: (4, 4) float64 camera-to-world ``T_world_from_cam``, metres.
        meta: scene id, split, seed, sensor preset, source file, tofsim version.
        zones: None, or for a zone sensor with ``zone_statistics`` the true-range statistics per zone
            (``range_mean_m``, ``range_std_m``, ``range_min_m``, ``range_max_m``: (rows, cols) float32 metres;
            ``pixel_count``: (rows, cols) int32) and ``zone_map``: (H, W) int16 zone index per pixel, -1 = none
            (`tofsim.sensor.zones.zone_statistics`).

    Raises:
        ShapeError: a field of the wrong shape or dtype (the message names it), image fields whose (H, W)
            disagree, or non-finite intrinsics.
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    sparse_m: np.ndarray
    spot_mask: np.ndarray
    spots: np.ndarray
    K: np.ndarray  # noqa: N815
    pose: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    zones: dict[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        hw: tuple[int, int] | None = None
        first = ""
        for name, dims, dtype in _IMAGE_FIELDS:
            x = getattr(self, name)
            if x is None:
                continue
            sizes = check_shape(x, dims, name=f"Sample.{name}")
            check_dtype(x, [dtype], name=f"Sample.{name}")
            if hw is None:
                hw, first = (sizes["H"], sizes["W"]), name
            elif (sizes["H"], sizes["W"]) != hw:
                raise ShapeError(
                    f"Sample.{name}: expected shape {hw} (the H, W of {first}), got {tuple(np.shape(x))}; "
                    "every image field of a sample must have the same size"
                )
        if self.K is not None:
            check_shape(self.K, (3, 3), name="Sample.K")
            check_finite(self.K, name="Sample.K")
        if self.pose is not None:
            check_shape(self.pose, (4, 4), name="Sample.pose")
        if self.zones is not None and hw is not None and "zone_map" in self.zones:
            check_shape(self.zones["zone_map"], hw, name="Sample.zones['zone_map']")
