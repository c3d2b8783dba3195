"""Summary of a dataset: counts, image size, splits, spot statistics, depth range, config and versions."""

from __future__ import annotations

from typing import Any

import numpy as np

from tofsim.frame import SpotStatus

__all__ = ["summarize", "format_summary"]


def summarize(dataset, *, max_samples: int | None = None) -> dict[str, Any]:
    """Statistics of a `TofDataset`, over every sample or the first `max_samples`.

    Reads only the spot tables and the ground-truth depth.

    Returns:
        A JSON-serialisable dict: ``path``, ``count``, ``scanned``, ``image_size`` [H, W], ``splits``
        (name -> count), ``spots_per_frame`` {mean, min, max}, ``valid_spots_per_frame`` {mean, min, max},
        ``valid_spot_fraction`` (VALID / all spots), ``status_counts`` (status name -> count),
        ``depth_range_m`` [min, max] of valid ground truth, ``valid_depth_fraction``, ``preset``, ``seed``,
        ``config_hash``, ``config``, ``versions``.
    """
    n = len(dataset)
    scanned = n if max_samples is None else min(n, int(max_samples))
    reader = getattr(dataset, "read", None)
    per_frame, valid_per_frame = [], []
    status_counts = {s.name.lower(): 0 for s in SpotStatus}
    dmin, dmax, valid_px, total_px = np.inf, -np.inf, 0, 0
    image_size = None
    for i in range(scanned):
        s = reader(i, ("depth_m", "spots")) if reader is not None else dataset[i]
        status = np.asarray(s.spots["status"])
        per_frame.append(len(status))
        valid_per_frame.append(int(np.count_nonzero(status == SpotStatus.VALID)))
        codes, counts = np.unique(status, return_counts=True)
        for code, count in zip(codes, counts, strict=True):
            name = SpotStatus(int(code)).name.lower() if int(code) in SpotStatus._value2member_map_ else str(code)
            status_counts[name] = status_counts.get(name, 0) + int(count)
        depth = np.asarray(s.depth_m)
        image_size = list(depth.shape)
        valid = depth[np.isfinite(depth) & (depth > 0)]
        valid_px += valid.size
        total_px += depth.size
        if valid.size:
            dmin, dmax = min(dmin, float(valid.min())), max(dmax, float(valid.max()))
    manifest = getattr(dataset, "manifest", {}) or {}
    splits = manifest.get("splits") or {}

    def stats(values: list[int]) -> dict[str, float]:
        if not values:
            return {"mean": 0.0, "min": 0, "max": 0}
        return {"mean": float(np.mean(values)), "min": int(np.min(values)), "max": int(np.max(values))}

    total_spots = int(sum(per_frame))
    return {
        "path": str(getattr(dataset, "path", "")),
        "split": getattr(dataset, "split", None),
        "count": n,
        "scanned": scanned,
        "image_size": image_size,
        "splits": {k: len(v) for k, v in sorted(splits.items())},
        "spots_per_frame": stats(per_frame),
        "valid_spots_per_frame": stats(valid_per_frame),
        "valid_spot_fraction": float(sum(valid_per_frame) / total_spots) if total_spots else 0.0,
        "status_counts": status_counts,
        "depth_range_m": [dmin, dmax] if np.isfinite(dmin) else None,
        "valid_depth_fraction": float(valid_px / total_px) if total_px else 0.0,
        "preset": manifest.get("preset"),
        "seed": manifest.get("seed"),
        "config_hash": manifest.get("config_hash"),
        "config": manifest.get("config"),
        "versions": manifest.get("versions"),
    }


def format_summary(d: dict[str, Any]) -> str:
    """Human-readable lines for a `summarize` result (about 12 lines)."""
    size = "x".join(str(v) for v in reversed(d["image_size"])) if d.get("image_size") else "?"
    sp, vs = d["spots_per_frame"], d["valid_spots_per_frame"]
    lines = [
        f"dataset      {d.get('path', '')}" + (f"  (split {d['split']})" if d.get("split") else ""),
        f"samples      {d['count']}"
        + (f"  (statistics over the first {d['scanned']})" if d["scanned"] != d["count"] else ""),
        f"image size   {size} (W x H)",
        "splits       " + (", ".join(f"{k} {v}" for k, v in d["splits"].items()) or "none"),
        f"spots/frame  mean {sp['mean']:.1f}, min {sp['min']}, max {sp['max']}",
        f"valid/frame  mean {vs['mean']:.1f}, min {vs['min']}, max {vs['max']}  "
        f"(valid fraction {d['valid_spot_fraction']:.3f})",
        "status       " + ", ".join(f"{k} {v}" for k, v in d["status_counts"].items()),
    ]
    if d.get("depth_range_m"):
        lo, hi = d["depth_range_m"]
        lines.append(f"GT depth     {lo:.3f} - {hi:.3f} m (valid pixels {d['valid_depth_fraction']:.1%})")
    else:
        lines.append("GT depth     no valid pixel")
    lines.append(f"preset       {d.get('preset')}  seed {d.get('seed')}  config {str(d.get('config_hash'))[:12]}")
    versions = d.get("versions") or {}
    lines.append("versions     " + (", ".join(f"{k} {v}" for k, v in sorted(versions.items())) or "unknown"))
    return "\n".join(lines)
