"""The temporal pass of ``leaderboard score``: stability metrics over the frames of each sequence.

Per-frame scoring is untouched; this pass runs only when the ground truth is a tofsim dataset whose samples carry
``meta["sequence_id"]`` (``tofsim generate --sequence N``, or ``tofsim convert`` of 7-Scenes / TUM / SUN3D
folders). Frames are grouped by sequence id and taken in dataset order, which must be time order: timestamps
(``meta["timestamp_s"]``, else ``meta["sequence_frame"]``) must increase strictly, or the whole scoring is refused
with one line (`SequenceOrderError`) before any metric is computed.

Per sequence (``temporal.csv``): MIPI's RTSD and the pose-warped RTSD-warp (`leaderboard.metrics.temporal`), and
whether the camera is static (every pose equal). Per method (columns added to ``metrics.csv`` only when sequences
are scored): ``rtsd`` = mean over the *static* sequences (as the challenge, which computes RTSD on static scenes
only; NaN when there is none), ``rtsd_warp`` = mean over all sequences, and ``mipi_score`` =
1 - 1.8 RMAE - 0.6 EWMAE - 3 RDS - 4.6 RTSD with the method's headline RMAE, EWMAE and RDS.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leaderboard.errors import LeaderboardError
from leaderboard.metrics.catalog import MIPI_FULL_SCORE_COLUMN, mipi_full_score
from leaderboard.metrics.temporal import rtsd_warp_sums
from leaderboard.tables import write_csv

__all__ = [
    "SequenceOrderError",
    "Sequences",
    "find_sequences",
    "check_time_order",
    "score_sequence",
    "score_sequences",
    "temporal_pass",
    "TEMPORAL_NOTE",
    "TEMPORAL_COLUMNS",
    "SEQUENCE_COLUMNS",
]

#: Columns the pass adds to ``metrics.csv`` (only when sequences are scored).
TEMPORAL_COLUMNS = ("rtsd", "rtsd_warp", MIPI_FULL_SCORE_COLUMN, "n_sequences", "n_static_sequences")
#: How ``metrics.json`` describes the temporal columns.
TEMPORAL_NOTE = (
    "rtsd: MIPI RTSD, mean over static sequences of mean_u(std_t p / mean_t p); rtsd_warp: mean over sequences of "
    "|a - b| / (a + b) between the pose-warped previous and the current prediction; mipi_score: 1 - 1.8 RMAE - "
    "0.6 EWMAE - 3 RDS - 4.6 RTSD"
)
#: Columns of ``temporal.csv``.
SEQUENCE_COLUMNS = ("method", "sequence", "n_frames", "static", "rtsd", "rtsd_warp", "n_warp_pixels")


class SequenceOrderError(LeaderboardError, ValueError):
    """The frames of a sequence are not in time order (shuffled, or timestamps that go back)."""


@dataclass(frozen=True)
class Sequences:
    """The sequences of a ground truth.

    Attributes:
        frames: sequence id -> GT positions (0-based, dataset order = time order), in order of first appearance.
        K: (N, 3, 3) float64 intrinsics per GT position.
        poses: (N, 4, 4) float64 camera-to-world poses per GT position.
    """

    frames: dict[str, list[int]]
    K: np.ndarray
    poses: np.ndarray


def check_time_order(seq_id: str, names: list[str], times: list[float]) -> None:
    """Raise `SequenceOrderError` (one line) unless `times` increase strictly along the frames."""
    for k in range(1, len(times)):
        if not times[k] > times[k - 1]:
            raise SequenceOrderError(
                f"sequence {seq_id!r}: frame {names[k]} (t = {times[k]:g}) does not come after frame {names[k - 1]} "
                f"(t = {times[k - 1]:g}); the frames are shuffled or their timestamps go back; keep each sequence's "
                "frames in recording order"
            )


def find_sequences(gt: Any) -> Sequences | None:
    """The sequences of `gt` (a `leaderboard.io.sources.GroundTruth`), checked for time order; None without any.

    Raises:
        SequenceOrderError: a sequence's timestamps (or frame numbers) do not increase with the frame order.
    """
    ds = getattr(gt, "_dataset", None)  # only a tofsim dataset (or a dataset object) carries meta and poses
    if ds is None or len(gt) == 0:
        return None
    read = getattr(ds, "read", None)
    metas, Ks, poses = [], [], []  # noqa: N806
    for i in range(len(gt)):
        s = read(i, fields=("K", "pose", "meta")) if read is not None else ds[i]
        meta = s.meta or {}
        if i == 0 and "sequence_id" not in meta:
            return None
        metas.append(meta)
        Ks.append(np.asarray(s.K, dtype=np.float64))
        poses.append(np.asarray(s.pose, dtype=np.float64))
    frames: dict[str, list[int]] = {}
    for i, meta in enumerate(metas):
        frames.setdefault(str(meta.get("sequence_id")), []).append(i)
    for seq_id, idx in frames.items():
        stamps = [metas[i].get("timestamp_s") for i in idx]
        if any(t is None for t in stamps):
            stamps = [metas[i].get("sequence_frame", i) for i in idx]
        check_time_order(seq_id, [gt.names[i] for i in idx], [float(t) for t in stamps])
    return Sequences(frames=frames, K=np.stack(Ks), poses=np.stack(poses))


def score_sequence(preds: Callable[[int], np.ndarray], idx: list[int], K: np.ndarray, poses: np.ndarray) -> dict:  # noqa: N803
    """RTSD and RTSD-warp of one sequence, streaming over its frames (two frames in memory).

    Args:
        preds: position -> (H, W) predicted z-depth in metres.
        idx: the sequence's GT positions in time order.
        K: (N, 3, 3) intrinsics and poses: (N, 4, 4) camera-to-world poses, indexed by GT position.

    Returns:
        ``n_frames``, ``static``, ``rtsd`` (NaN for fewer than 2 frames or no pixel valid in every frame),
        ``rtsd_warp`` and ``n_warp_pixels``.
    """
    s1 = s2 = None
    every = None
    warp_sum, warp_n, prev = 0.0, 0, None
    for k, i in enumerate(idx):
        p = np.asarray(preds(i), dtype=np.float64)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(p) & (p > 0)
        x = np.where(ok, p, 0.0)
        s1, s2, every = (x, x * x, ok) if s1 is None else (s1 + x, s2 + x * x, every & ok)
        if prev is not None:
            j = idx[k - 1]
            ds, dn = rtsd_warp_sums(prev, p, K[i], poses[j], poses[i])
            warp_sum, warp_n = warp_sum + ds, warp_n + dn
        prev = p
    n = len(idx)
    value = math.nan
    if n >= 2 and every is not None and every.any():
        mean = s1[every] / n
        std = np.sqrt(np.maximum(s2[every] / n - mean * mean, 0.0))
        value = float(np.mean(std / mean))
    static = bool(np.allclose(poses[idx], poses[idx[0]], rtol=0.0, atol=1e-9))
    return {
        "n_frames": n,
        "static": static,
        "rtsd": value,
        "rtsd_warp": warp_sum / warp_n if warp_n else math.nan,
        "n_warp_pixels": warp_n,
    }


def score_sequences(
    sequences: Sequences, preds: Callable[[int], np.ndarray], method_row: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every sequence of one method, and the method's temporal columns (`TEMPORAL_COLUMNS`).

    Args:
        sequences: from `find_sequences`.
        preds: position -> the method's (H, W) prediction in metres.
        method_row: the method's row of ``metrics.csv`` (its ``rmae``, ``ewmae``, ``rds`` enter the MIPI score).

    Returns:
        (rows of ``temporal.csv`` without the method column, columns for ``metrics.csv``).
    """
    rows = [
        {"sequence": sid, **score_sequence(preds, idx, sequences.K, sequences.poses)}
        for sid, idx in sequences.frames.items()
    ]
    static = [r["rtsd"] for r in rows if r["static"] and math.isfinite(r["rtsd"])]
    warps = [r["rtsd_warp"] for r in rows if math.isfinite(r["rtsd_warp"])]
    rtsd_value = float(np.mean(static)) if static else math.nan
    summary = {
        "rtsd": rtsd_value,
        "rtsd_warp": float(np.mean(warps)) if warps else math.nan,
        MIPI_FULL_SCORE_COLUMN: mipi_full_score(method_row["rmae"], method_row["ewmae"], method_row["rds"], rtsd_value),
        "n_sequences": len(rows),
        "n_static_sequences": sum(r["static"] for r in rows),
    }
    return rows, summary


def temporal_pass(
    out_dir: Path,
    sequences: Sequences,
    readers: dict[str, Callable[[int], np.ndarray]],
    heads: dict[str, dict[str, Any]],
    warnings: list[str],
) -> dict[str, dict[str, Any]]:
    """Score every method's sequences, write ``OUT/temporal.csv`` and return method -> its temporal columns.

    Args:
        out_dir: the score folder (created).
        sequences: from `find_sequences`.
        readers: method -> (position -> prediction in metres).
        heads: method -> its ``metrics.csv`` row (headline RMAE, EWMAE, RDS).
        warnings: appended to when no sequence is static (RTSD and the MIPI score are then NaN).
    """
    summary, table = {}, []
    for name, read in readers.items():
        rows, summary[name] = score_sequences(sequences, read, heads[name])
        table += [{"method": name, **r} for r in rows]
    if not any(r["static"] for r in table):
        warnings.append(
            "no static sequence: rtsd and mipi_score are NaN (the MIPI challenge computes RTSD with a static camera; "
            "tofsim generate --sequence N --motion static makes some); rtsd_warp scores the moving ones"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / "temporal.csv", table, SEQUENCE_COLUMNS)
    return summary
