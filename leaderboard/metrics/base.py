"""What every metric shares: its declaration type, the metric registry, and NLSPN's selection of valid pixels.

A metric is a plain numpy function ``f(pred_m, gt_m, valid=None, ...) -> float`` registered in `METRICS` with
its `MetricInfo` (declared once in `leaderboard.metrics.catalog`: unit, direction, sums, how it finishes). The
streaming `MetricAccumulator` computes the same per-pixel terms through the same functions
(`errors.pixel_terms`, `thresholds.delta_ratio`, ...), so the function and the accumulator cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from leaderboard.errors import ShapeError
from tofsim.registry import Registry

__all__ = [
    "MetricInfo",
    "METRICS",
    "EPS",
    "NLSPN_T_VALID_M",
    "prepare",
    "Finish",
    "Workspace",
    "scratch",
]

#: NLSPN's guard added to every denominator (``1 / (x + 1e-8)``).
EPS = 1e-8
#: NLSPN's ``t_valid``: GT pixels at or below 0.1 mm are invalid; predictions at or below it have inverse depth 0.
NLSPN_T_VALID_M = 1e-4


#: How a metric finishes: ``finish(sums, finished)`` -> value, from the frame's (or pooled) sums and the metrics
#: declared before it (MIPI's score combines three of them).
Finish = Callable[[Mapping[str, float], Mapping[str, float]], float]


@dataclass(frozen=True, kw_only=True)
class MetricInfo:
    """The declaration of one metric column (`leaderboard.metrics.catalog` holds them all).

    Attributes:
        name: column name (``rmse``, ``d1``, ...).
        unit: ``m``, ``1/m``, ``fraction`` or ``score``.
        higher_is_better: True for accuracies (delta thresholds, MIPI score).
        description: one line for tables and the guide.
        sums: the per-frame sums it needs (keys of `catalog.SUM_KEYS`).
        finish: how it follows from those sums; None for a column that is not a sum (``density``).
        label: table header (Markdown / LaTeX), with the display unit.
        display_scale: factor from the unit to the displayed unit (1000: m -> mm).
        display_format: format of the displayed value.
    """

    name: str
    unit: str
    higher_is_better: bool
    description: str
    sums: tuple[str, ...] = ()
    finish: Finish | None = None
    label: str = ""
    display_scale: float = 1.0
    display_format: str = "{:.4f}"


#: name -> metric function ``f(pred_m, gt_m, valid=None, **kw) -> float``; each function has an ``info`` attribute.
METRICS: Registry = Registry("metric")


def prepare(
    pred_m: np.ndarray, gt_m: np.ndarray, valid: np.ndarray | None = None, *, valid_min_m: float = NLSPN_T_VALID_M
) -> tuple[np.ndarray, np.ndarray]:
    """Select the scored pixels as 1-D float64 arrays, the way NLSPN does.

    Args:
        pred_m: (H, W) predicted z-depth in metres; NaN, inf and values <= 0 count as a prediction of 0 m
            (NLSPN clamps its network output at 0 and its metric then scores the 0).
        gt_m: (H, W) ground-truth z-depth in metres, 0 (or NaN) where invalid.
        valid: optional (H, W) bool of pixels to score; default ``gt_m > valid_min_m`` and finite.
        valid_min_m: NLSPN's ``t_valid``.

    Returns:
        ``(pred, gt)``: (N,) float64 each, the scored pixels.

    Raises:
        ShapeError: if the shapes differ.
    """
    pred_m = np.asarray(pred_m)
    gt_m = np.asarray(gt_m)
    if pred_m.shape != gt_m.shape:
        raise ShapeError(f"pred_m has shape {pred_m.shape} but gt_m has shape {gt_m.shape}; they must match")
    if valid is None:
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(gt_m) & (gt_m > valid_min_m)
    elif np.shape(valid) != gt_m.shape:
        raise ShapeError(f"valid has shape {np.shape(valid)} but gt_m has shape {gt_m.shape}; they must match")
    p = pred_m[valid].astype(np.float64)
    g = gt_m[valid].astype(np.float64)
    bad = ~np.isfinite(p) | (p < 0)
    if bad.any():
        p[bad] = 0.0
    return p, g


class Workspace:
    """Reusable scratch buffers so scoring a stream of frames does not allocate (and page-fault) per frame.

    Not thread-safe: use one per thread. ``Workspace.get`` returns an uninitialised view of the asked shape.
    """

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, np.dtype], np.ndarray] = {}

    def get(self, key: str, shape: tuple[int, ...] | int, dtype=np.float64) -> np.ndarray:
        """An uninitialised array of `shape` and `dtype`, reused across calls with the same `key`."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        size = int(np.prod(shape))
        dt = np.dtype(dtype)
        buf = self._buffers.get((key, dt))
        if buf is None or buf.size < size:
            buf = np.empty(size, dt)
            self._buffers[(key, dt)] = buf
        return buf[:size].reshape(shape)


def scratch(work: Workspace | None, key: str, shape, dtype=np.float64) -> np.ndarray:
    """`work.get(...)`, or a fresh array when `work` is None."""
    return np.empty(shape, dtype) if work is None else work.get(key, shape, dtype)
