"""Pre-filled dense depth from sparse spots: nearest-neighbour and linear fills, and the spot distance transform.

A fill and the distance map are what the paper's network sees besides RGB (design.md, "Network input"). The
paper corrects the nearest-neighbour fill; tofnet corrects the linear (Delaunay) fill by default, so its residual
starts at the strongest classical baseline (docs/results.md, ablation). The nearest and linear baselines are the
fills themselves. numpy/scipy only, so they run in data-loading workers.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy import ndimage
from scipy.spatial import Delaunay, QhullError

from completion.errors import ConfigError, ShapeError
from tofsim.frame import spot_pixels

__all__ = [
    "PREFILL_KINDS",
    "SPOT_STATUS_CHANNELS",
    "check_sparse",
    "linear_fill",
    "make_prefill",
    "nearest_fill",
    "nearest_spot_status",
    "spot_status_maps",
]

#: The fills a network can be trained to correct (`make_prefill`).
PREFILL_KINDS = ("linear", "nearest")

#: The channels of `spot_status_maps`: which spot statuses (``tofsim.frame.SpotStatus`` codes) light each one.
#: OUT_OF_RANGE (3) says "farther than the sensor reaches"; DROPOUT (1) says "too little signal". NO_HIT (4) lights
#: none: in generated rooms it is a ray through a window, with no ground truth around it to learn from, and in
#: converted real frames it is a hole of the RGB-D sensor (Kinect: 8 % of spots) beside valid pixels; read as "far"
#: there, it cost the first status-channel model its real-frame gain (a synthetic proxy with 8 % of spots turned
#: NO_HIT: 0.975x linear RMSE against 0.906x with NO_HIT left out; docs/results.md).
SPOT_STATUS_CHANNELS = (("far", (3,)), ("dropout", (1,)))


def check_sparse(sparse_m: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate a sparse map and its mask: (H, W) float32 and (H, W) bool (default ``sparse_m > 0``, finite).

    Raises:
        ShapeError: if the arrays are not 2-D or their shapes differ.
    """
    sparse_m = np.asarray(sparse_m, dtype=np.float32)
    if sparse_m.ndim != 2:
        raise ShapeError(f"sparse_m: expected shape (H, W), got {sparse_m.shape}")
    if mask is None:
        mask = np.isfinite(sparse_m) & (sparse_m > 0)
    elif np.shape(mask) != sparse_m.shape:
        raise ShapeError(f"mask has shape {np.shape(mask)} but sparse_m has shape {sparse_m.shape}; they must match")
    return sparse_m, np.asarray(mask, dtype=bool)


def nearest_fill(sparse_m: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fill every pixel with the depth of the nearest valid spot and give the distance to it.

    Args:
        sparse_m: (H, W) float32 sparse z-depth in metres, 0 where there is no measurement.
        mask: (H, W) bool validity; default ``sparse_m > 0``.

    Returns:
        fill_m: (H, W) float32 nearest-neighbour filled depth in metres (all zeros if there is no spot).
        dist_px: (H, W) float32 Euclidean distance in pixels to the nearest valid spot (0 at spots;
            ``hypot(H, W)`` everywhere if there is no spot).

    Raises:
        ShapeError: if the arrays are not 2-D or their shapes differ.
    """
    sparse_m, mask = check_sparse(sparse_m, mask)
    if not mask.any():
        h, w = sparse_m.shape
        return np.zeros_like(sparse_m), np.full(sparse_m.shape, np.hypot(h, w), dtype=np.float32)
    dist, (iy, ix) = ndimage.distance_transform_edt(~mask, return_indices=True)
    return sparse_m[iy, ix].astype(np.float32), dist.astype(np.float32)


def linear_fill(sparse_m: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Piecewise-linear interpolation over the Delaunay triangulation of the spot pixels (x = column, y = row).

    Pixels outside the convex hull of the spots, or every pixel when fewer than 3 non-collinear spots exist,
    take the nearest-neighbour fill. Inside the hull the values are those of scipy's `LinearNDInterpolator` on the
    same triangulation (tested against it); the triangles are rasterized directly because scipy's point location
    falls back to a search over every triangle for each pixel outside the hull (26 s for a 640 x 480 frame whose
    border spots dropped out, against 30 ms here).

    Args:
        sparse_m: (H, W) float32 sparse z-depth in metres, 0 where there is no measurement.
        mask: (H, W) bool validity; default ``sparse_m > 0``.

    Returns:
        (H, W) float32 metres (all zeros if there is no spot).

    Raises:
        ShapeError: if the arrays are not 2-D or their shapes differ.
    """
    sparse_m, mask = check_sparse(sparse_m, mask)
    fill = nearest_fill(sparse_m, mask)[0]
    ys, xs = np.nonzero(mask)
    if ys.size < 3:
        return fill
    points = np.stack([xs, ys], axis=1).astype(np.float64)
    try:
        tri = Delaunay(points)
    except QhullError:  # all spots on one line: no triangle
        return fill
    out = fill.astype(np.float64)
    _rasterize_triangles(tri.simplices.astype(np.int64), points, sparse_m[ys, xs].astype(np.float64), out)
    return out.astype(np.float32)


@numba.njit(cache=True, nogil=True)
def _rasterize_triangles(simplices, points, values, out):  # pragma: no cover - compiled
    """Write the barycentric interpolation of `values` into every pixel centre inside each triangle of `out`."""
    h, w = out.shape
    eps = 1e-10
    for t in range(simplices.shape[0]):
        a, b, c = simplices[t, 0], simplices[t, 1], simplices[t, 2]
        xa, ya, xb, yb, xc, yc = points[a, 0], points[a, 1], points[b, 0], points[b, 1], points[c, 0], points[c, 1]
        det = (yb - yc) * (xa - xc) + (xc - xb) * (ya - yc)
        if det == 0.0:
            continue
        x0 = max(int(np.ceil(min(xa, xb, xc))), 0)
        x1 = min(int(np.floor(max(xa, xb, xc))), w - 1)
        y0 = max(int(np.ceil(min(ya, yb, yc))), 0)
        y1 = min(int(np.floor(max(ya, yb, yc))), h - 1)
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                l1 = ((yb - yc) * (x - xc) + (xc - xb) * (y - yc)) / det
                l2 = ((yc - ya) * (x - xc) + (xa - xc) * (y - yc)) / det
                l3 = 1.0 - l1 - l2
                if l1 >= -eps and l2 >= -eps and l3 >= -eps:
                    out[y, x] = l1 * values[a] + l2 * values[b] + l3 * values[c]


def make_prefill(sparse_m: np.ndarray, mask: np.ndarray | None = None, kind: str = "linear") -> np.ndarray:
    """The fill of `kind` ("linear" or "nearest", `PREFILL_KINDS`): (H, W) float32 metres.

    Raises:
        ConfigError: for an unknown kind.
        ShapeError: if the arrays are not 2-D or their shapes differ.
    """
    if kind == "linear":
        return linear_fill(sparse_m, mask)
    if kind == "nearest":
        return nearest_fill(sparse_m, mask)[0]
    raise ConfigError(f"prefill must be one of {', '.join(PREFILL_KINDS)}, got {kind!r}")


def nearest_spot_status(spots: np.ndarray | None, shape_hw: tuple[int, int]) -> np.ndarray | None:
    """The status of each pixel's nearest on-image spot (of any status), or None without spots on the image.

    Args:
        spots: (N,) structured spot table with ``u``, ``v`` (pixels) and ``status`` (`tofsim.frame.SpotStatus`
            codes), or None.
        shape_hw: (H, W) of the image the spots are in (after any crop or flip).

    Returns:
        (H, W) uint8 status codes (Euclidean nearest spot, at the pixel the sensor model writes a spot to), or None
        when there is no spot table or no spot on the image.
    """
    if spots is None or spots.dtype.names is None or not {"u", "v", "status"} <= set(spots.dtype.names):
        return None
    row, col, on = spot_pixels(spots, shape_hw)
    if not on.any():
        return None
    status = np.asarray(spots["status"])[on]
    label = np.zeros(shape_hw, dtype=np.int64)
    label[row[on], col[on]] = np.arange(1, int(on.sum()) + 1)
    iy, ix = ndimage.distance_transform_edt(label == 0, return_distances=False, return_indices=True)
    return status[label[iy, ix] - 1]


def spot_status_maps(spots: np.ndarray | None, shape_hw: tuple[int, int]) -> np.ndarray:
    """Voronoi maps of what the nearest spot (of any status) reported: the sensor's "no valid return" flags.

    Linear and nearest fills only see valid spots, so a pixel beside a spot that reported OUT_OF_RANGE is filled
    from valid spots farther away; on the `sds` sensor these pixels (about 2 % of them) carry half of the linear
    fill's squared error. Every pixel takes the flags of its nearest on-image spot (`nearest_spot_status`).

    Args:
        spots: (N,) structured spot table with ``u``, ``v`` (pixels) and ``status`` (`tofsim.frame.SpotStatus`
            codes), or None (no table: every map is 0, as if every spot were valid).
        shape_hw: (H, W) of the image the spots are in (after any crop or flip).

    Returns:
        (len(SPOT_STATUS_CHANNELS), H, W) float32 of 0 / 1: channel c is 1 where the nearest spot's status is one
        of ``SPOT_STATUS_CHANNELS[c][1]``. All zeros when no spot table or no spot on the image.
    """
    h, w = shape_hw
    out = np.zeros((len(SPOT_STATUS_CHANNELS), h, w), dtype=np.float32)
    nearest = nearest_spot_status(spots, shape_hw)
    if nearest is None:
        return out
    for c, (_, codes) in enumerate(SPOT_STATUS_CHANNELS):
        out[c] = np.isin(nearest, codes)
    return out
