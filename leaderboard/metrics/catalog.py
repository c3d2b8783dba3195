"""Every metric column declared once: name, unit, direction, the sums it needs and how it finishes from them.

A frame is reduced to sums (`SUM_KEYS`: pixel counts and sums of per-pixel terms) by either scoring engine
(`frame_numpy`, `frame_fused`); every metric then follows from sums with its ``finish`` (`finalize`), per image
or pooled over many images. The tables (`leaderboard.tables`: header, display scale and format, best = min or
max), the report (unit and direction) and the score folder's columns (`METRIC_KEYS`, in declaration order)
all read these declarations. To add a metric: declare it here (its ``finish`` and ``sums``) and make both
engines produce any new sum; a test fails until they do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from leaderboard.metrics.base import METRICS, Finish, MetricInfo

__all__ = [
    "THRESHOLDS",
    "DECLARED",
    "METRIC_INFO",
    "METRIC_KEYS",
    "FINISH",
    "SUM_KEYS",
    "finalize",
    "register_metric",
    "mipi_score",
    "mipi_full_score",
    "MIPI_SCORE_COLUMN",
    "MIPI_FULL_SCORE_COLUMN",
    "MIPI_RTSD_WEIGHT",
]

#: Threshold accuracy name -> threshold on max(p/g, g/p) (NLSPN / KITTI: 1.25^k; indoor ToF: 1.02 .. 1.10).
THRESHOLDS: dict[str, float] = {
    "d1": 1.25,
    "d2": 1.25**2,
    "d3": 1.25**3,
    "d102": 1.02,
    "d105": 1.05,
    "d110": 1.10,
}


def _mean(key: str):
    def finish(sums: Mapping[str, float], done: Mapping[str, float]) -> float:
        return sums[key] / sums["n"] if sums["n"] > 0 else math.nan

    return finish


def _root_mean(key: str):
    def finish(sums: Mapping[str, float], done: Mapping[str, float]) -> float:
        return math.sqrt(sums[key] / sums["n"]) if sums["n"] > 0 else math.nan

    return finish


def _ratio(num: str, den: str):
    def finish(sums: Mapping[str, float], done: Mapping[str, float]) -> float:
        return sums[num] / sums[den] if sums[den] > 0 else math.nan

    return finish


#: The MIPI score column: the challenge's score **without RTSD** (its temporal-stability term needs video
#: sequences, which single-frame scoring does not have), so it is not the challenge's full score; the column name
#: and the table label say so wherever the number is printed.
MIPI_SCORE_COLUMN = "mipi_score_no_rtsd"
#: The challenge's full score, RTSD included: only computed when sequences are scored (`leaderboard.temporal`).
MIPI_FULL_SCORE_COLUMN = "mipi_score"
#: Weight of RTSD in the challenge's score (its scoring code's ``metric_weights = [1.8, 0.6, 3, 4.6]``).
MIPI_RTSD_WEIGHT = 4.6


def mipi_score(rmae_value: float, ewmae_value: float, rds_value: float) -> float:
    """MIPI 2022 score without RTSD: 1 - 1.8 RMAE - 0.6 EWMAE - 3 RDS (NaN if any part is NaN).

    The challenge's full score also subtracts a weighted RTSD (relative temporal standard deviation over a
    static video sequence); it is left out here, so this is not the challenge's full score.
    """
    return 1.0 - 1.8 * rmae_value - 0.6 * ewmae_value - 3.0 * rds_value


def mipi_full_score(rmae_value: float, ewmae_value: float, rds_value: float, rtsd_value: float) -> float:
    """MIPI 2022 score with RTSD: 1 - 1.8 RMAE - 0.6 EWMAE - 3 RDS - 4.6 RTSD (NaN if any part is NaN).

    As the challenge's scoring code: RMAE, EWMAE and RDS are means over frames, RTSD the mean over its static
    sequences.
    """
    return mipi_score(rmae_value, ewmae_value, rds_value) - MIPI_RTSD_WEIGHT * rtsd_value


def _mipi(sums: Mapping[str, float], done: Mapping[str, float]) -> float:
    return mipi_score(done["rmae"], done["ewmae"], done["rds"])


def _m(name: str, unit: str, higher: bool, description: str, sums: tuple[str, ...], finish, label, scale, fmt):
    return MetricInfo(
        name=name,
        unit=unit,
        higher_is_better=higher,
        description=description,
        sums=sums,
        finish=finish,
        label=label,
        display_scale=scale,
        display_format=fmt,
    )


#: Every column a table can show, in the order of the score folder's columns (``density`` has no ``finish``:
#: it is a count, not a sum). Units: ``m``, ``1/m``, ``fraction``, ``score``.
DECLARED: tuple[MetricInfo, ...] = (
    _m("rmse", "m", False, "root mean squared error", ("n", "sq"), _root_mean("sq"), "RMSE [mm]", 1e3, "{:.1f}"),
    _m("mae", "m", False, "mean absolute error", ("n", "abs"), _mean("abs"), "MAE [mm]", 1e3, "{:.1f}"),
    _m("irmse", "1/m", False, "RMSE of inverse depth", ("n", "isq"), _root_mean("isq"), "iRMSE [1/km]", 1e3, "{:.2f}"),
    _m("imae", "1/m", False, "MAE of inverse depth", ("n", "iabs"), _mean("iabs"), "iMAE [1/km]", 1e3, "{:.2f}"),
    _m("rel", "fraction", False, "mean absolute relative error |p-g|/g", ("n", "rel"), _mean("rel"), "REL", 1.0,
       "{:.4f}"),
    _m("sqrel", "m", False, "mean squared relative error (p-g)^2/g", ("n", "sqrel"), _mean("sqrel"), "SqRel [mm]",
       1e3, "{:.2f}"),
    *(
        _m(name, "fraction", True, f"fraction with max(p/g, g/p) < {t:g}", ("n", f"c_{name}"), _mean(f"c_{name}"),
           label, 1.0, "{:.4f}")
        for (name, t), label in zip(
            THRESHOLDS.items(), ("δ<1.25", "δ<1.25²", "δ<1.25³", "δ<1.02", "δ<1.05", "δ<1.10"), strict=True
        )
    ),
    _m("rmae", "fraction", False, "MIPI relative MAE |p-g|/g", ("n", "rmae_sum"), _mean("rmae_sum"), "RMAE", 1.0,
       "{:.4f}"),
    _m("ewmae", "fraction", False, "MIPI edge-weighted MAE / max depth", ("ew_num", "ew_den"),
       _ratio("ew_num", "ew_den"), "EWMAE", 1.0, "{:.5f}"),
    _m("rds", "fraction", False, "MIPI relative depth shift at the input spots", ("rds_sum", "rds_n"),
       _ratio("rds_sum", "rds_n"), "RDS", 1.0, "{:.4f}"),
    _m(MIPI_SCORE_COLUMN, "score", True, "MIPI 2022 score without RTSD (temporal stability), not the challenge's "
       "full score: 1 - 1.8 RMAE - 0.6 EWMAE - 3 RDS", (), _mipi, "MIPI score (no RTSD)", 1.0, "{:.4f}"),
    _m("density", "fraction", True, "fraction of valid GT pixels with a prediction", (), None, "density", 1.0,
       "{:.3f}"),
    # Temporal columns: not per-frame sums (no finish); `leaderboard.temporal` computes them over the frames of
    # each sequence when the ground truth holds sequences (`leaderboard.metrics.temporal` has the definitions).
    _m("rtsd", "fraction", False, "MIPI relative temporal standard deviation (static sequences)", (), None, "RTSD",
       1.0, "{:.4f}"),
    _m("rtsd_warp", "fraction", False, "RTSD of consecutive frames after warping the previous prediction with the "
       "poses", (), None, "RTSD-warp", 1.0, "{:.4f}"),
    _m(MIPI_FULL_SCORE_COLUMN, "score", True, "MIPI 2022 score with RTSD: 1 - 1.8 RMAE - 0.6 EWMAE - 3 RDS - 4.6 "
       "RTSD", (), None, "MIPI score", 1.0, "{:.4f}"),
)  # fmt: skip

#: name -> declaration, for every column a table can show.
METRIC_INFO: dict[str, MetricInfo] = {m.name: m for m in DECLARED}
#: name -> how the metric finishes from sums, for every metric computed from sums (in declaration order).
FINISH: dict[str, Finish] = {m.name: m.finish for m in DECLARED if m.finish is not None}
#: The metric columns computed from sums, per image and pooled, in declaration order.
METRIC_KEYS: tuple[str, ...] = tuple(FINISH)
#: Every sum a frame contributes, in order of first use ("n" is the number of scored pixels).
SUM_KEYS: tuple[str, ...] = tuple(dict.fromkeys(k for name in METRIC_KEYS for k in METRIC_INFO[name].sums))


def register_metric(name: str):
    """Decorator: register a stand-alone metric function under `name` in `METRICS`, with its declaration as ``info``.

    Raises:
        KeyError: `name` is not declared in `DECLARED`.
    """
    info = METRIC_INFO[name]

    def deco(fn):
        fn.info = info
        METRICS.register(name)(fn)
        return fn

    return deco


def finalize(sums: Mapping[str, float]) -> dict[str, float]:
    """All metrics (`METRIC_KEYS`) from one set of sums (`SUM_KEYS`), per image or pooled; NaN where empty."""
    out: dict[str, float] = {}
    for name, finish in FINISH.items():
        out[name] = finish(sums, out)
    return out
