"""Checks of the predictions a method hands in, reported as warnings beside the scores (never as silent changes).

- **Fewer frames than the ground truth**: how many files the prediction source holds, how many GT frames have
  none and the first few of their names (`missing_frames_message`).
- **Units**: the median ratio prediction / GT over the first `N_RATIO_FRAMES` frames; a ratio near one of
  `SUSPECT_RATIOS` (1000: millimetres read as metres, 256: KITTI/NLSPN PNG values, 5000: TUM), or near its
  inverse, is reported as a likely scale error naming the method and the ``scale=`` option that fixes it
  (`scale_message`).
- **NaN and negative predictions**: counted per method (`n_nan_pixels`, `n_negative_pixels` over all pixels of
  the prediction) and reported; they are scored as *missing pixels* under the protocol's ``missing`` policy
  (`leaderboard.protocol.MISSING_POLICIES`: penalise as 0 m, fill from the nearest predicted pixel, or exclude).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FrameInputStats",
    "frame_input_stats",
    "scale_message",
    "invalid_values_message",
    "missing_frames_message",
    "N_RATIO_FRAMES",
    "SUSPECT_RATIOS",
]

#: Frames (by position in the ground truth) whose prediction / GT ratio is measured.
N_RATIO_FRAMES = 8
#: Ratios prediction / GT that point at a unit slip: 256 (KITTI/NLSPN PNG), 1000 (millimetres), 5000 (TUM).
SUSPECT_RATIOS = (256.0, 1000.0, 5000.0)
#: A median ratio within this factor of a suspect ratio (or of its inverse) is reported.
RATIO_TOLERANCE = 1.25
#: At most this many pixels of a frame enter its median ratio (an even stride over the frame).
_RATIO_PIXELS = 20000
#: Names of missing frames shown in a message.
SHOW_NAMES = 5


@dataclass(frozen=True)
class FrameInputStats:
    """What one frame's prediction says about the input.

    Attributes:
        n_nan: NaN pixels in the prediction.
        n_negative: negative pixels in the prediction.
        median_ratio: median of prediction / GT over pixels where both are positive and finite (NaN when none
            or when the frame was not measured).
    """

    n_nan: int
    n_negative: int
    median_ratio: float


def frame_input_stats(pred_m: np.ndarray, gt_m: np.ndarray, *, valid_min_m: float, ratio: bool) -> FrameInputStats:
    """Count NaN and negative prediction pixels and (when `ratio`) the median prediction / GT ratio.

    Args:
        pred_m: (H, W) float predicted depth in metres.
        gt_m: (H, W) float GT depth in metres, 0 where invalid.
        valid_min_m: GT pixels at or below this are invalid.
        ratio: measure the median ratio (only the first `N_RATIO_FRAMES` frames are measured).
    """
    n_nan = int(np.count_nonzero(np.isnan(pred_m)))
    with np.errstate(invalid="ignore"):
        n_negative = int(np.count_nonzero(pred_m < 0))
    median = math.nan
    if ratio:
        step = max(1, gt_m.size // _RATIO_PIXELS)
        p = np.asarray(pred_m, dtype=np.float64).ravel()[::step]
        g = np.asarray(gt_m, dtype=np.float64).ravel()[::step]
        with np.errstate(invalid="ignore"):
            both = (g > valid_min_m) & np.isfinite(g) & (p > 0) & np.isfinite(p)
        if both.any():
            median = float(np.median(p[both] / g[both]))
    return FrameInputStats(n_nan, n_negative, median)


def _snap(ratio: float) -> float | None:
    """The suspect ratio (or inverse) that `ratio` is near, or None."""
    if not (math.isfinite(ratio) and ratio > 0):
        return None
    for r in SUSPECT_RATIOS:
        for target in (r, 1.0 / r):
            if abs(math.log(ratio / target)) <= math.log(RATIO_TOLERANCE):
                return target
    return None


def scale_message(method: str, median_ratio: float, *, fmt: str, scale_per_m: float | None) -> str | None:
    """A warning when `median_ratio` (prediction / GT) is near a unit slip, naming the ``scale=`` fix.

    Args:
        method: the method's name.
        median_ratio: median over the measured frames of the per-frame median ratio.
        fmt: the resolved format (``png16`` divides by `scale_per_m`; float formats by theirs, 1 when unset).
        scale_per_m: the scale the files were read with (None: metres).

    Returns:
        The message, or None when the ratio is plausible.
    """
    target = _snap(median_ratio)
    if target is None:
        return None
    current = 1.0 if scale_per_m is None else float(scale_per_m)
    fix = current * target
    what = f"{target:g}x" if target >= 1 else f"1/{1 / target:g} of"
    fix_text = f"{fix:g}" if fix >= 1 else f"{fix:.6g}"
    return (
        f"method {method!r}: predictions are about {what} the ground truth (median ratio {median_ratio:.4g}), "
        f"likely a scale error ({fmt} read at {current:g} per metre); pass --pred {method}=PATH:scale={fix_text}"
    )


def invalid_values_message(method: str, n_nan: int, n_negative: int, frames: list[str], *, policy: str) -> str | None:
    """A warning that counts NaN and negative prediction pixels and says how they are scored (None if none)."""
    if not (n_nan or n_negative):
        return None
    how = {"penalise": "scored as 0 m", "fill": "filled from the nearest predicted pixel", "exclude": "left out"}
    shown = ", ".join(frames[:SHOW_NAMES]) + (" ..." if len(frames) > SHOW_NAMES else "")
    return (
        f"method {method!r}: {n_nan} NaN and {n_negative} negative prediction pixel(s) in {len(frames)} frame(s) "
        f"({shown}); counted as missing pixels (missing={policy}: {how.get(policy, policy)})"
    )


def missing_frames_message(
    method: str, where: str, *, n_files: int, n_gt: int, missing: list[str], policy: str
) -> str | None:
    """How many GT frames a prediction source lacks and which (first few), and what the policy does with them."""
    if not missing:
        return None
    shown = ", ".join(missing[:SHOW_NAMES]) + (" ..." if len(missing) > SHOW_NAMES else "")
    head = (
        f"method {method!r}: {len(missing)} of {n_gt} GT frames have no prediction in {where}, which holds "
        f"{n_files} prediction(s) for {n_gt} GT frames (missing: {shown})"
    )
    if policy == "error":
        return head + "; match by file stem or a list file, or set missing_files=penalise|exclude"
    done = "scored as all-zero predictions" if policy == "penalise" else "left out of this method's scores"
    return f"{head}; {done} (missing_files={policy})"
