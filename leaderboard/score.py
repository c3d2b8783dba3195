"""Score methods against ground truth and write the tables: the library behind ``leaderboard score``.

The output folder is a `leaderboard.score_folder.ScoreFolder` (its module docstring lists the files).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import pickle
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leaderboard.errors import ConfigError, InputFileError, ShapeError
from leaderboard.input_checks import (
    N_RATIO_FRAMES,
    frame_input_stats,
    invalid_values_message,
    missing_frames_message,
    scale_message,
)
from leaderboard.io.sources import GroundTruth, PredictionSource, ResolvedPredictions, open_ground_truth
from leaderboard.methods import MethodSpec, load_methods
from leaderboard.metrics import METRIC_INFO, METRIC_KEYS, ROW_KEYS, AccumulatorResult, MetricAccumulator, frame_stats
from leaderboard.metrics.base import Workspace
from leaderboard.metrics.regions import REGION_METRICS
from leaderboard.protocol import Protocol
from leaderboard.score_folder import ScoreFolder, Table
from leaderboard.stats import bootstrap_ci, holm_adjust, paired_test
from leaderboard.temporal import TEMPORAL_NOTE, find_sequences, temporal_pass
from tofsim.provenance import versions

__all__ = ["score", "ScoreResult", "resolve_methods", "VERSIONED_LIBRARIES"]

_CI_COLUMNS = ("rmse", "mae")
_REGION_COLUMNS = ("at_spot", "away_from_spot", "edge", "flat")
_PAIRED_METRICS = ("rmse", "mae")
#: Metrics whose units ``metrics.json`` spells out (the rest are in `leaderboard.metrics.METRIC_INFO`).
_UNIT_COLUMNS = ("rmse", "mae", "irmse", "imae", "rel", "d1")
PAIRED_COLUMNS = ("method_a", "method_b", "metric", "test", "n_images", "mean_diff", "p_value", "p_holm")
#: Software whose versions shape the numbers, stored in ``metrics.json`` as ``versions``.
VERSIONED_LIBRARIES = ("python", "tofbench", "numpy", "scipy", "pillow", "h5py")


@dataclass
class ScoreResult:
    """What `score` returns.

    Attributes:
        out_dir: the output folder.
        rows: one dict per method (the rows of ``metrics.csv``).
        results: method -> its `AccumulatorResult` (per-image rows, pooled values, bins, regions).
        protocol: the protocol used.
        paths: file name -> written path.
        paired: rows of ``paired.csv``.
        missing_files: method -> names of GT frames without a prediction file.
        warnings: one line per input problem that did not stop scoring (`leaderboard.input_checks`): missing
            frames under a lenient policy, a likely scale error, NaN or negative predictions.
    """

    out_dir: Path
    rows: list[dict[str, Any]]
    results: dict[str, AccumulatorResult]
    protocol: Protocol
    paths: dict[str, Path] = field(default_factory=dict)
    paired: list[dict[str, Any]] = field(default_factory=list)
    missing_files: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def resolve_methods(preds: Any) -> list[MethodSpec]:
    """Normalise `preds` (methods file path, list of `MethodSpec`, or ``{name: PredictionSource | path}``).

    Raises:
        ConfigError: empty or malformed input, duplicate names.
    """
    if isinstance(preds, (str, Path)):
        return load_methods(preds)
    if isinstance(preds, Mapping):
        specs = []
        for name, src in preds.items():
            if isinstance(src, MethodSpec):
                specs.append(src)
            elif isinstance(src, PredictionSource):
                specs.append(MethodSpec(name=str(name), source=src))
            elif isinstance(src, (str, Path)):
                specs.append(MethodSpec(name=str(name), source=PredictionSource(path=Path(src))))
            else:
                raise ConfigError(f"prediction source of {name!r} must be a PredictionSource or a path")
    elif isinstance(preds, Sequence):
        specs = list(preds)
        if not all(isinstance(s, MethodSpec) for s in specs):
            raise ConfigError("a list of predictions must hold MethodSpec objects")
    else:
        raise ConfigError(f"predictions must be a methods file, a dict or a list, got {type(preds).__name__}")
    if not specs:
        raise ConfigError("no methods to score")
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"duplicate method name(s): {', '.join(dup)}")
    return specs


def _match(gt: GroundTruth, name: str, res: ResolvedPredictions, protocol: Protocol) -> tuple[list, list[str]]:
    paths, missing = [], []
    for i, (key, gname) in enumerate(zip(gt.keys, gt.names, strict=True)):
        p = res.lookup(key, gname, i)
        paths.append(p)
        if p is None:
            missing.append(gname)
    if missing and protocol.missing_files == "error":
        raise InputFileError(
            missing_frames_message(
                name, str(res.source.path), n_files=res.n_files, n_gt=len(gt), missing=missing, policy="error"
            )
        )
    return paths, missing


class _FrameJob:
    """Reads one GT frame and every method's prediction of it and scores them (picklable for processes)."""

    def __init__(self, gt_obj, names, paths, resolved, protocol) -> None:
        self.gt_obj, self.names, self.paths, self.resolved, self.protocol = gt_obj, names, paths, resolved, protocol
        self._local = threading.local()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["_local"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def __call__(self, i: int):
        work = getattr(self._local, "work", None)
        if work is None:
            work = self._local.work = Workspace()
        frame = self.gt_obj.read(i)
        out: dict[str, Any] = {}
        for name in self.names:
            path = self.paths[name][i]
            if path is None:
                if self.protocol.missing_files == "exclude":
                    out[name] = None
                    continue
                pred, sha = np.zeros_like(frame.depth_m), ""
            else:
                pred, sha = self.resolved[name].read(path, frame.key)
                if pred.shape != frame.depth_m.shape:
                    raise ShapeError(
                        f"method {name!r}: prediction {path} has size {pred.shape} but GT frame {frame.name} "
                        f"has {frame.depth_m.shape}; predictions must be at the GT resolution"
                    )
            checks = frame_input_stats(
                pred,
                frame.depth_m,
                valid_min_m=self.protocol.valid_min_m,
                ratio=path is not None and i < N_RATIO_FRAMES,
            )
            stats = frame_stats(
                pred,
                frame.depth_m,
                protocol=self.protocol,
                spot_mask=frame.spot_mask,
                sparse_m=frame.sparse_m,
                work=work,
            )
            out[name] = (stats, sha, checks)
        return frame.name, frame.sha256, out


_WORKER_JOB: _FrameJob | None = None


def _init_worker(job: _FrameJob) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job


def _run_in_worker(i: int):
    return _WORKER_JOB(i)


def score(
    gt: Any,
    preds: Any,
    out_dir: str | Path,
    *,
    protocol: Protocol | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    executor: str = "thread",
) -> ScoreResult:
    """Score every method on every GT frame and write the output folder (see the module docstring).

    Args:
        gt: a tofsim dataset folder, a folder of depth files (PNG needs a scale: pass a `GroundTruth` from
            `open_ground_truth(..., scale_per_m=...)`), a dataset object, or a `GroundTruth`.
        preds: a methods file (TOML / YAML), ``{name: PredictionSource | path}``, or a list of `MethodSpec`.
        out_dir: output folder (created).
        protocol: scoring protocol (default `Protocol()`: NLSPN's, per image, missing pixels penalised).
        progress: optional callback ``progress(frames_done, frames_total)``.
        workers: threads or processes reading and scoring frames (default: up to 2).
        executor: ``thread`` (default; numpy releases the GIL in most of the work) or ``process`` (spawned
            worker processes: no GIL at all, needs picklable ground truth; same numbers either way).

    Returns:
        A `ScoreResult`.

    Raises:
        InputFileError: missing or unreadable files, missing predictions (with ``missing_files="error"``).
        ShapeError: a prediction whose size differs from its GT.
        ConfigError: bad methods or protocol.
    """
    protocol = protocol if protocol is not None else Protocol()
    gt_obj = gt if isinstance(gt, GroundTruth) else open_ground_truth(gt)
    if len(gt_obj) == 0:
        raise InputFileError("the ground truth holds no frames")
    sequences = find_sequences(gt_obj)  # refuses shuffled sequences before any metric is computed
    specs = resolve_methods(preds)
    resolved = {s.name: s.source.resolve() for s in specs}
    matched = {s.name: _match(gt_obj, s.name, resolved[s.name], protocol) for s in specs}
    accs = {s.name: MetricAccumulator(protocol) for s in specs}
    shas: dict[str, list[str]] = {s.name: [] for s in specs}
    penalised: dict[str, set[str]] = {s.name: set() for s in specs}
    checks: dict[str, list[tuple[str, Any]]] = {s.name: [] for s in specs}
    gt_digest = hashlib.sha256()
    n = len(gt_obj)
    job = _FrameJob(gt_obj, [s.name for s in specs], {k: v[0] for k, v in matched.items()}, resolved, protocol)
    n_workers = max(1, min(workers if workers is not None else 2, os.cpu_count() or 1))
    if executor not in ("thread", "process"):
        raise ConfigError(f"executor={executor!r}; valid: thread, process")
    if executor == "process" and n_workers > 1:
        try:
            pickle.dumps(job)
        except Exception as e:  # a user's dataset object that cannot travel to another process
            raise ConfigError(f"executor='process' needs picklable ground truth ({e}); use executor='thread'") from None
        import multiprocessing as mp

        pool = ProcessPoolExecutor(
            n_workers, mp_context=mp.get_context("spawn"), initializer=_init_worker, initargs=(job,)
        )
        call = _run_in_worker
    else:
        pool = ThreadPoolExecutor(max_workers=n_workers)
        call = job
    with pool:
        pending: deque = deque()
        nxt = 0
        for done in range(n):
            while nxt < n and len(pending) < 2 * n_workers:
                pending.append(pool.submit(call, nxt))
                nxt += 1
            frame_name, frame_sha, out = pending.popleft().result()
            gt_digest.update(f"{frame_name} {frame_sha}\n".encode())
            for name, item in out.items():
                if item is None:
                    continue
                stats, sha, frame_checks = item
                checks[name].append((frame_name, frame_checks))
                accs[name].add(stats, name=frame_name, index=done)
                shas[name].append(sha)
                if not sha:
                    penalised[name].add(frame_name)
            if progress is not None:
                progress(done + 1, n)

    results = {name: acc.compute() for name, acc in accs.items()}
    missing_files = {name: m for name, (_, m) in matched.items()}
    inputs, warnings = _input_report(specs, resolved, checks, missing_files, len(gt_obj), protocol)
    temporal = None if sequences is None else temporal_pass(
        Path(out_dir), sequences, {s.name: functools.partial(_read_prediction, job, s.name) for s in specs},
        {s.name: _method_row(s, results[s.name], 0, protocol, inputs[s.name]) for s in specs}, warnings)  # fmt: skip
    return _write_outputs(
        Path(out_dir), specs, resolved, results, shas, penalised, missing_files, gt_obj, gt_digest.hexdigest(),
        protocol, inputs, warnings, temporal,
    )  # fmt: skip


def _read_prediction(job: _FrameJob, name: str, i: int) -> np.ndarray:
    """Method `name`'s prediction of GT position `i` in metres (zeros for a missing file: no valid pixel)."""
    if (path := job.paths[name][i]) is None:
        return np.zeros_like(job.gt_obj.read(i).depth_m)
    return job.resolved[name].read(path, job.gt_obj.keys[i])[0]


def _input_report(
    specs: list[MethodSpec],
    resolved: dict[str, ResolvedPredictions],
    checks: dict[str, list[tuple[str, Any]]],
    missing_files: dict[str, list[str]],
    n_gt: int,
    protocol: Protocol,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Per method: NaN / negative pixel counts and the median prediction / GT ratio; and the warning lines."""
    inputs, warnings = {}, []
    for s in specs:
        res, frames = resolved[s.name], checks[s.name]
        n_nan = sum(c.n_nan for _, c in frames)
        n_neg = sum(c.n_negative for _, c in frames)
        bad_frames = [nm for nm, c in frames if c.n_nan or c.n_negative]
        ratios = [c.median_ratio for _, c in frames if np.isfinite(c.median_ratio)]
        ratio = float(np.median(ratios)) if ratios else float("nan")
        inputs[s.name] = {"n_nan_pixels": n_nan, "n_negative_pixels": n_neg, "median_ratio_to_gt": ratio}
        lines = [
            missing_frames_message(
                s.name, str(res.source.path), n_files=res.n_files, n_gt=n_gt, missing=missing_files[s.name],
                policy=protocol.missing_files,
            ),
            scale_message(s.name, ratio, fmt=res.fmt, scale_per_m=res.value_scale_per_m),
            invalid_values_message(s.name, n_nan, n_neg, bad_frames, policy=protocol.missing),
        ]  # fmt: skip
        warnings += [line for line in lines if line]
    return inputs, warnings


def _method_row(
    spec: MethodSpec, res: AccumulatorResult, n_missing_files: int, protocol: Protocol, inputs: dict[str, Any]
) -> dict:
    head = res.per_image if protocol.aggregation == "per_image" else res.pooled
    row: dict[str, Any] = {"method": spec.name}
    row.update({k: head[k] for k in METRIC_KEYS})
    row.update({f"pooled_{k}": res.pooled[k] for k in METRIC_KEYS})
    regions = {r["region"]: r for r in res.regions}
    for region in _REGION_COLUMNS:
        row[f"rmse_{region}"] = regions[region]["rmse"]
        row[f"mae_{region}"] = regions[region]["mae"]
    rng = np.random.default_rng(protocol.seed)
    for k in _CI_COLUMNS:
        lo, hi = bootstrap_ci(res.column(k), rng=rng, n_boot=protocol.bootstrap_samples, confidence=protocol.confidence)
        row[f"{k}_ci_lo"], row[f"{k}_ci_hi"] = lo, hi
    row.update(
        {
            "density": res.counts["density"],
            "mean_density": res.counts["mean_density"],
            "n_images": res.counts["n_images"],
            "n_empty": res.counts["n_empty"],
            "n_missing_files": n_missing_files,
            "n_missing_pixels": res.counts["n_missing_pixels"],
            "n_nan_pixels": inputs["n_nan_pixels"],
            "n_negative_pixels": inputs["n_negative_pixels"],
            "aggregation": protocol.aggregation,
            "missing_policy": protocol.missing,
            "missing_files_policy": protocol.missing_files,
        }
    )
    row.update(spec.metadata)
    return row


def _paired_rows(specs: list[MethodSpec], results: dict[str, AccumulatorResult], protocol: Protocol) -> list[dict]:
    rows = []
    rng = np.random.default_rng(protocol.seed)
    for a, b in itertools.combinations([s.name for s in specs], 2):
        ra, rb = results[a], results[b]
        common = sorted(set(ra.names) & set(rb.names))
        ia = {nm: i for i, nm in enumerate(ra.names)}
        ib = {nm: i for i, nm in enumerate(rb.names)}
        for metric in _PAIRED_METRICS:
            va = ra.column(metric)[[ia[c] for c in common]] if common else np.zeros(0)
            vb = rb.column(metric)[[ib[c] for c in common]] if common else np.zeros(0)
            t = paired_test(va, vb, method=protocol.paired_test, rng=rng)
            rows.append(
                {
                    "method_a": a,
                    "method_b": b,
                    "metric": metric,
                    "test": t.method,
                    "n_images": t.n,
                    "mean_diff": t.mean_diff,
                    "p_value": t.p_value,
                }
            )
    # Holm-Bonferroni over each metric's family: every pair of methods compared on that metric
    for metric in _PAIRED_METRICS:
        family = [r for r in rows if r["metric"] == metric]
        for r, p in zip(family, holm_adjust(np.array([r["p_value"] for r in family])), strict=True):
            r["p_holm"] = float(p)
    return rows


def _write_outputs(
    out_dir: Path,
    specs: list[MethodSpec],
    resolved: dict[str, ResolvedPredictions],
    results: dict[str, AccumulatorResult],
    shas: dict[str, list[str]],
    penalised: dict[str, set[str]],
    missing_files: dict[str, list[str]],
    gt_obj: GroundTruth,
    gt_sha: str,
    protocol: Protocol,
    inputs: dict[str, dict[str, Any]],
    warnings: list[str],
    temporal: dict[str, dict[str, Any]] | None = None,
) -> ScoreResult:
    rows = [_method_row(s, results[s.name], len(missing_files[s.name]), protocol, inputs[s.name]) for s in specs]
    for row in rows if temporal is not None else ():
        row.update(temporal[row["method"]])
    meta_cols: list[str] = []
    for s in specs:
        meta_cols += [k for k in s.metadata if k not in meta_cols]
    columns = [c for c in rows[0] if c not in meta_cols] + meta_cols

    per_image = []
    for s in specs:
        res = results[s.name]
        for j, (idx, nm) in enumerate(zip(res.indices, res.names, strict=True)):
            r = dict(zip(ROW_KEYS, res.rows[j].tolist(), strict=True))
            r.update(method=s.name, index=idx, name=nm, missing_file=int(nm in penalised[s.name]))
            r["sha256"] = shas[s.name][j]
            per_image.append(r)
    bins = [{"method": s.name, **b} for s in specs for b in results[s.name].bins]
    regions = [{"method": s.name, **r} for s in specs for r in results[s.name].regions]
    paired = _paired_rows(specs, results, protocol)

    proto = {**protocol.to_dict(), "hash": protocol.hash()}
    methods_json = {
        s.name: {**resolved[s.name].describe(), "metadata": s.metadata, "n_missing_files": len(missing_files[s.name])}
        for s in specs
    }

    cis = {}
    for s in specs:
        rng = np.random.default_rng(protocol.seed)
        res = results[s.name]
        cis[s.name] = {
            k: list(
                bootstrap_ci(res.column(k), rng=rng, n_boot=protocol.bootstrap_samples, confidence=protocol.confidence)
            )
            for k in METRIC_KEYS
        }
    checksums = {
        "gt_sha256": gt_sha,
        "predictions_sha256": {
            s.name: hashlib.sha256(
                "".join(f"{nm} {sh}\n" for nm, sh in zip(results[s.name].names, shas[s.name], strict=True)).encode()
            ).hexdigest()
            for s in specs
        },
        "note": "sha256 over 'name sha256(file bytes)' lines in GT order; per-file digests are in per_image.csv",
    }
    doc = {
        "columns": columns,
        "rows": rows,
        "protocol": proto,
        "confidence_intervals": {
            "level": protocol.confidence,
            "method": f"percentile bootstrap over images ({protocol.bootstrap_samples} resamples) of the per-image "
            "mean",
            "by_method": cis,
        },
        "paired_tests": paired,
        "paired_tests_correction": "p_holm: Holm-Bonferroni step-down adjustment within each metric's family "
        "(all method pairs tested on that metric); reject at level alpha where p_holm <= alpha",
        "counts": {s.name: results[s.name].counts for s in specs},
        "missing_files": missing_files,
        "inputs": inputs,
        "warnings": warnings,
        "ground_truth": gt_obj.describe(),
        "versions": versions(VERSIONED_LIBRARIES),
        "checksums": checksums,
        "units": {k: METRIC_INFO[k].unit for k in _UNIT_COLUMNS},
    }
    if temporal is not None:  # only with sequences: other score folders keep their bytes
        doc["temporal"] = {"by_method": temporal, "per_sequence": "temporal.csv", "definitions": TEMPORAL_NOTE}
    folder = ScoreFolder(
        path=out_dir,
        metrics=Table(tuple(columns), rows),
        per_image=Table(("method", "index", "name", *ROW_KEYS, "missing_file", "sha256"), per_image),
        bins=Table(("method", "bin", "lo_m", "hi_m", *REGION_METRICS), bins),
        regions=Table(("method", "region", *REGION_METRICS), regions),
        paired=Table(PAIRED_COLUMNS, paired),
        protocol=proto,
        methods=methods_json,
        summary=doc,
    )
    paths = folder.write()
    return ScoreResult(
        out_dir=out_dir,
        rows=rows,
        results=results,
        protocol=protocol,
        paths=paths,
        paired=paired,
        missing_files=missing_files,
        warnings=warnings,
    )
