"""Depth errors with NLSPN's exact definitions (``src/metric/nlspnmetric.py``), plus SqRel.

On the scored pixels (GT > ``t_valid`` = 1e-4 m), with p the prediction and g the GT in metres:

- RMSE = sqrt(mean((p - g)^2))                   [m]
- MAE  = mean(|p - g|)                           [m]
- iRMSE = sqrt(mean((1/p - 1/g)^2))              [1/m]  (NLSPN works in metres, so 1/m; the KITTI devkit
  prints 1/km = 1000 x these values)
- iMAE = mean(|1/p - 1/g|)                       [1/m]
- REL  = mean(|p - g| / g)                       [fraction]
- SqRel = mean((p - g)^2 / g)                    [m] (Eigen et al.; not in NLSPN)

NLSPN's details, reproduced: inverses are ``1 / (x + 1e-8)`` and the inverse of a prediction <= t_valid is set to
0 (so a missing, zero prediction adds ``1/g`` to iMAE rather than infinity); REL divides by ``g + 1e-8``.
NLSPN divides sums by ``n + 1e-8``; we divide by n and report an image without a valid pixel as NaN (counted
in ``n_empty``) where NLSPN would report 0: the difference is below 1e-8 relative otherwise.
"""

from __future__ import annotations

import numpy as np

from leaderboard.metrics.base import EPS, NLSPN_T_VALID_M, Workspace, prepare, scratch
from leaderboard.metrics.catalog import FINISH, register_metric

__all__ = ["pixel_terms", "ERROR_SUM_KEYS", "rmse", "mae", "irmse", "imae", "rel", "sqrel"]

#: The sums `pixel_terms` gives for the error metrics ("n" is the pixel count); units and finishing: `catalog`.
ERROR_SUM_KEYS = ("n", "sq", "abs", "isq", "iabs", "rel", "sqrel")


def pixel_terms(
    p: np.ndarray, g: np.ndarray, *, valid_min_m: float = NLSPN_T_VALID_M, work: Workspace | None = None
) -> dict[str, np.ndarray]:
    """Per-pixel error terms of the scored pixels.

    Args:
        p: (N,) float64 predictions in metres, >= 0.
        g: (N,) float64 GT in metres, > valid_min_m.
        valid_min_m: predictions at or below it get inverse depth 0 (NLSPN).
        work: optional scratch buffers (the returned arrays are views into them until the next call).

    Returns:
        Dict of (N,) float64 arrays: ``sq`` (m^2), ``abs`` (m), ``isq`` ((1/m)^2), ``iabs`` (1/m),
        ``rel`` and ``sqrel`` (m), plus ``inv_g`` = 1 / (g + 1e-8) for reuse.
    """
    n = p.size
    d = np.subtract(p, g, out=scratch(work, "d", n))
    ad = np.abs(d, out=scratch(work, "abs", n))
    sq = np.multiply(d, d, out=scratch(work, "sq", n))
    inv_p = np.add(p, EPS, out=scratch(work, "inv_p", n))
    np.divide(1.0, inv_p, out=inv_p)
    np.putmask(inv_p, p <= valid_min_m, 0.0)
    inv_g = np.add(g, EPS, out=scratch(work, "inv_g", n))
    np.divide(1.0, inv_g, out=inv_g)
    di = np.subtract(inv_p, inv_g, out=d)
    isq = np.multiply(di, di, out=inv_p)
    iabs = np.abs(di, out=di)
    return {
        "sq": sq,
        "abs": ad,
        "isq": isq,
        "iabs": iabs,
        "rel": np.multiply(ad, inv_g, out=scratch(work, "rel", n)),
        "sqrel": np.multiply(sq, inv_g, out=scratch(work, "sqrel", n)),
        "inv_g": inv_g,
    }


def _metric(name: str, pred_m, gt_m, valid, valid_min_m) -> float:
    p, g = prepare(pred_m, gt_m, valid, valid_min_m=valid_min_m)
    terms = pixel_terms(p, g, valid_min_m=valid_min_m)
    sums = {k: float(terms[k].sum()) for k in ERROR_SUM_KEYS[1:]}
    sums["n"] = p.size
    return FINISH[name](sums, {})


@register_metric("rmse")
def rmse(pred_m, gt_m, valid=None, *, valid_min_m: float = NLSPN_T_VALID_M) -> float:
    """RMSE in metres of one image (see the module docstring; `prepare` for the arguments)."""
    return _metric("rmse", pred_m, gt_m, valid, valid_min_m)


@register_metric("mae")
def mae(pred_m, gt_m, valid=None, *, valid_min_m: float = NLSPN_T_VALID_M) -> float:
    """MAE in metres of one image."""
    return _metric("mae", pred_m, gt_m, valid, valid_min_m)


@register_metric("irmse")
def irmse(pred_m, gt_m, valid=None, *, valid_min_m: float = NLSPN_T_VALID_M) -> float:
    """IRMSE in 1/m of one image (inverse of a prediction <= valid_min_m is 0)."""
    return _metric("irmse", pred_m, gt_m, valid, valid_min_m)


@register_metric("imae")
def imae(pred_m, gt_m, valid=None, *, valid_min_m: float = NLSPN_T_VALID_M) -> float:
    """IMAE in 1/m of one image."""
    return _metric("imae", pred_m, gt_m, valid, valid_min_m)


@register_metric("rel")
def rel(pred_m, gt_m, valid=None, *, valid_min_m: float = NLSPN_T_VALID_M) -> float:
    """REL (absolute relative error, a fraction) of one image."""
    return _metric("rel", pred_m, gt_m, valid, valid_min_m)


@register_metric("sqrel")
def sqrel(pred_m, gt_m, valid=None, *, valid_min_m: float = NLSPN_T_VALID_M) -> float:
    """SqRel in metres of one image."""
    return _metric("sqrel", pred_m, gt_m, valid, valid_min_m)
