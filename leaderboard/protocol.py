"""The scoring protocol: every choice that changes a number in a table, in one frozen dataclass.

The resolved protocol is written beside every output (``protocol.json`` and inside ``metrics.json``) with its
hash, so two tables can be compared only when their protocols match.

Example TOML (``leaderboard score --protocol FILE``, every key optional)::

    valid_min_m = 0.0001      # NLSPN's t_valid: GT pixels with depth <= this are invalid
    max_depth_m = 10.0        # depth cap: GT pixels beyond it are left out (None = no cap)
    aggregation = "per_image" # headline numbers: mean over images (NLSPN/KITTI) or "pooled" over pixels
    bins_m = [0, 1, 2, 3, 5, 10]
    missing = "penalise"      # missing prediction pixels (0 or NaN): penalise | fill | exclude
    missing_files = "error"   # a GT frame without a prediction file: error | penalise | exclude
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leaderboard.errors import ConfigError, InputFileError
from tofsim.errors import TofsimError
from tofsim.strict import from_dict

__all__ = ["Protocol", "MISSING_POLICIES", "MISSING_FILE_POLICIES", "AGGREGATIONS", "load_protocol"]

#: How missing prediction pixels (0, negative, NaN or inf) are treated.
#: penalise: they count as a prediction of 0 m (NLSPN's own behaviour: its network clamps outputs at 0 and its
#: metric then scores a 0); fill: they take the value of the nearest predicted pixel (as the KITTI devkit
#: interpolates); exclude: they are left out of every metric (the density column says how many). NaN and
#: negative pixels are also counted on their own and reported (`leaderboard.input_checks`).
MISSING_POLICIES = ("penalise", "fill", "exclude")
#: What a GT frame without any prediction file does: error (default), penalise (an all-zero prediction),
#: exclude (the frame is skipped for that method and counted in ``n_missing_files``).
MISSING_FILE_POLICIES = ("error", "penalise", "exclude")
#: per_image: metric per image, then the mean over images (NLSPN, KITTI devkit); pooled: all pixels of all
#: images as one set. Both are always computed; this picks the headline columns.
AGGREGATIONS = ("per_image", "pooled")


@dataclass(frozen=True, kw_only=True)
class Protocol:
    """Scoring protocol (all depths in metres).

    Attributes:
        valid_min_m: GT pixels with depth <= this are invalid (NLSPN ``t_valid`` = 1e-4). Also the prediction
            value at or below which the inverse depth counts as 0 (NLSPN).
        min_depth_m: GT pixels below this are left out (depth cap; 0 = none).
        max_depth_m: GT pixels above this are left out (depth cap; None = none).
        clip_pred_to_caps: clip predictions into [min_depth_m, max_depth_m] before scoring (KITTI-style
            evaluations often do; NLSPN does not).
        aggregation: "per_image" or "pooled", which variant the headline columns hold.
        bins_m: edges of the per-depth bins (by GT depth), increasing.
        missing: policy for missing prediction pixels, one of `MISSING_POLICIES`.
        missing_files: policy for GT frames without a prediction file, one of `MISSING_FILE_POLICIES`.
        edge_rel_jump: a GT pixel is an edge pixel when the depth jump to a valid 4-neighbour exceeds this
            fraction of the nearer depth (0.05 = 5 %).
        ewmae_kappa: Perona-Malik conduction constant of MIPI 2022's EWMAE (0.5, on depth / max GT depth).
        bootstrap_samples: resamples for the confidence intervals (over images).
        confidence: confidence level of the intervals.
        seed: seed of the bootstrap and permutation tests.
        paired_test: "permutation" (sign flips of the per-image differences) or "wilcoxon" (scipy).
    """

    valid_min_m: float = 1e-4
    min_depth_m: float = 0.0
    max_depth_m: float | None = None
    clip_pred_to_caps: bool = False
    aggregation: str = "per_image"
    bins_m: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 5.0, 10.0)
    missing: str = "penalise"
    missing_files: str = "error"
    edge_rel_jump: float = 0.05
    ewmae_kappa: float = 0.5
    bootstrap_samples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    paired_test: str = "permutation"

    def __post_init__(self) -> None:
        object.__setattr__(self, "bins_m", tuple(float(b) for b in self.bins_m))
        checks = [
            (self.missing in MISSING_POLICIES, f"missing={self.missing!r}; valid: {', '.join(MISSING_POLICIES)}"),
            (
                self.missing_files in MISSING_FILE_POLICIES,
                f"missing_files={self.missing_files!r}; valid: {', '.join(MISSING_FILE_POLICIES)}",
            ),
            (self.aggregation in AGGREGATIONS, f"aggregation={self.aggregation!r}; valid: {', '.join(AGGREGATIONS)}"),
            (
                self.paired_test in ("permutation", "wilcoxon"),
                f"paired_test={self.paired_test!r}; valid: permutation, wilcoxon",
            ),
            (self.valid_min_m >= 0, f"valid_min_m={self.valid_min_m} must be >= 0"),
            (self.min_depth_m >= 0, f"min_depth_m={self.min_depth_m} must be >= 0"),
            (
                self.max_depth_m is None or self.max_depth_m > self.min_depth_m,
                f"max_depth_m={self.max_depth_m} must be above min_depth_m={self.min_depth_m}",
            ),
            (
                len(self.bins_m) >= 2 and all(a < b for a, b in zip(self.bins_m, self.bins_m[1:], strict=False)),
                f"bins_m={list(self.bins_m)} must hold at least two strictly increasing edges",
            ),
            (all(math.isfinite(b) for b in self.bins_m), f"bins_m={list(self.bins_m)} must be finite"),
            (self.edge_rel_jump > 0, f"edge_rel_jump={self.edge_rel_jump} must be > 0"),
            (self.ewmae_kappa > 0, f"ewmae_kappa={self.ewmae_kappa} must be > 0"),
            (self.bootstrap_samples >= 10, f"bootstrap_samples={self.bootstrap_samples} must be >= 10"),
            (0 < self.confidence < 1, f"confidence={self.confidence} must be in (0, 1)"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(f"protocol: {msg}")

    @property
    def bin_labels(self) -> list[str]:
        """Names of the depth bins, e.g. ``"0-1"``, ``"1-2"`` (GT depths outside the edges fall in no bin)."""
        fmt = "{:g}".format
        labels = [f"{fmt(a)}-{fmt(b)}" for a, b in zip(self.bins_m, self.bins_m[1:], strict=False)]
        return labels

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field."""
        d = dataclasses.asdict(self)
        d["bins_m"] = list(self.bins_m)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Protocol:
        """Build from a dict (`tofsim.strict.from_dict`); unknown keys raise `ConfigError` listing the valid ones."""
        try:
            return from_dict(cls, d, where="protocol")
        except TofsimError as e:  # one error family per package
            raise ConfigError(str(e)) from None

    def replace(self, **changes: Any) -> Protocol:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def hash(self) -> str:
        """sha256 of the canonical JSON of `to_dict()` (first 16 hex digits)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def load_protocol(path: str | Path) -> Protocol:
    """Read a protocol TOML file (see the module docstring).

    Raises:
        InputFileError: if the file is missing or not valid TOML.
        ConfigError: for an unknown key or an invalid value.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"protocol file not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise InputFileError(f"protocol file {path} is not valid TOML: {e}") from None
    return Protocol.from_dict(data)
