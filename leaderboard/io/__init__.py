"""Reading depth: file readers (npy, npz, 16-bit PNG, OpenEXR, HDF5), GT and prediction sources, frame matching."""

from leaderboard.io.readers import KNOWN_SCALES_PER_M, READERS, SUFFIX_FORMATS, format_of, read_depth
from leaderboard.io.sources import (
    NUMBERINGS,
    PRED_FORMATS,
    GroundTruth,
    GtFrame,
    PredictionSource,
    ResolvedPredictions,
    frame_key,
    open_ground_truth,
)

__all__ = [
    "KNOWN_SCALES_PER_M",
    "NUMBERINGS",
    "PRED_FORMATS",
    "READERS",
    "SUFFIX_FORMATS",
    "GroundTruth",
    "GtFrame",
    "PredictionSource",
    "ResolvedPredictions",
    "format_of",
    "frame_key",
    "open_ground_truth",
    "read_depth",
]
