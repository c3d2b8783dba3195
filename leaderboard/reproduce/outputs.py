"""Study outputs: scores with per-method metadata, the comparison figure, error maps, the HTML report, results.md.

Every function here is a step (``fn(study) -> summary``, see `leaderboard.reproduce.runner`) and uses only
`leaderboard`'s public functions: `leaderboard.score.score`, `leaderboard.figures`, `leaderboard.report`.
A step whose inputs are incomplete (a method without predictions) still writes what it can and marks its summary
``partial``: a later run redoes it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from leaderboard.reproduce.presets import QUANT_PRESETS, SHIPPED_MODELS, study_methods
from leaderboard.reproduce.runner import StepSkipped, Study, read_marker
from leaderboard.reproduce.steps import DISPLAY
from tofsim.provenance import write_text_atomic

__all__ = [
    "PAPER_FIGURE_METHODS",
    "available_methods",
    "method_specs",
    "score_methods",
    "step_score",
    "step_figures",
    "step_report",
    "step_results",
    "write_methods_toml",
]

#: Rows of the paper's comparison figure (besides Color and GT), in its order; CSPN as in its supplementary images.
PAPER_FIGURE_METHODS = ("float32", *QUANT_PRESETS, "nlspn", "cspn")
#: Metadata columns added to ``metrics.csv`` for every method.
META_COLUMNS = ("params", "bits", "weight_bytes", "weight_mb", "weight_ratio_vs_fp32", "act_bits", "act_peak_bytes",
                "act_sum_bytes", "act_peak_mb", "latency_ms")  # fmt: skip


def available_methods(study: Study, prefix: str = "predict") -> dict[str, dict[str, Any]]:
    """Method -> summary of its finished prediction step (``{prefix}-{method}``), in `METHODS` order."""
    out = {}
    for m in study_methods(study.preset):
        record = read_marker(study, f"{prefix}-{m}")
        if record is not None:
            out[m] = record["summary"]
    return out


def method_specs(done: dict[str, dict[str, Any]]) -> list[Any]:
    """`MethodSpec`s (prediction folder + metadata columns) of finished prediction steps."""
    from leaderboard.io.sources import PredictionSource
    from leaderboard.methods import MethodSpec

    specs = []
    for m, summary in done.items():
        meta = {k: summary["metadata"].get(k) for k in META_COLUMNS}
        specs.append(MethodSpec(name=m, source=PredictionSource(path=Path(summary["preds"]), fmt="npy"), metadata=meta))
    return specs


def write_methods_toml(path: Path, specs: list[Any]) -> Path:
    """Write a ``leaderboard score --methods`` file for `specs` (paths relative to the file)."""
    lines = ["# written by `leaderboard reproduce`; score again with: leaderboard score --methods THIS --gt ...", ""]
    for s in specs:
        lines += ["[[method]]", f"name = {json.dumps(s.name)}"]
        rel = Path(os.path.relpath(s.source.path, path.parent))
        lines.append(f"path = {json.dumps(str(rel))}")
        for k, v in s.metadata.items():
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                continue
            lines.append(f"{k} = {json.dumps(v)}")
        lines.append("")
    return write_text_atomic(path, "\n".join(lines), what="methods file")


def score_methods(study: Study, gt: Any, done: dict[str, dict[str, Any]], out_dir: Path) -> dict[str, Any]:
    """Score the finished methods against `gt` into `out_dir` (a fresh folder) and return the step summary."""
    from leaderboard.score import score

    if not done:
        raise StepSkipped("no method has predictions yet")
    specs = method_specs(done)
    shutil.rmtree(out_dir, ignore_errors=True)
    result = score(gt, specs, out_dir, progress=lambda d, t: study.emit("step-progress", done=d, total=t))
    write_methods_toml(out_dir / "methods.toml", specs)
    missing = [m for m in study_methods(study.preset) if m not in done]
    rows = [{k: r.get(k) for k in ("method", "rmse", "mae", "irmse", "rel", "d1", *META_COLUMNS)} for r in result.rows]
    return {"scores": str(out_dir), "methods": list(done), "missing": missing, "partial": bool(missing), "rows": rows}


def step_score(study: Study) -> dict[str, Any]:
    """Score the test predictions of every method (``scores/``: metrics.csv with the metadata columns, ...)."""
    from leaderboard.io.sources import PredictionSource, open_ground_truth

    gt = open_ground_truth(study.gt_dir, sparse=PredictionSource(path=study.sparse_dir, fmt="npy"))
    return score_methods(study, gt, available_methods(study), study.out_dir / "scores")


def _figure_positions(study: Study, n_test: int) -> list[int]:
    positions = [i for i in study.preset.figure_frames if 0 <= i < n_test]
    return positions or [0]


def step_figures(study: Study) -> dict[str, Any]:
    """The paper-layout comparison figure and per-method error maps of the chosen test frames."""
    import tofsim
    from leaderboard.figures import comparison_figure, depth_png, error_map_png, load_frame_panels, rgb_png

    done = available_methods(study)
    shown = [m for m in PAPER_FIGURE_METHODS if m in done]
    if not shown:
        raise StepSkipped("none of the figure's methods has predictions yet")
    test = read_marker(study, "dataset")["summary"]["test_indices"]
    positions = _figure_positions(study, len(test))
    fig_dir = study.out_dir / "figures"
    preds = {m: study.preds_dir(m) for m in done}
    panels = load_frame_panels(study.gt_dir, preds, positions)
    with tofsim.open_dataset(study.dataset_dir) as ds:
        rgbs = [np.asarray(ds[test[i]].rgb, np.uint8) for i in positions]
    panels = [
        dataclasses.replace(fr, rgb=rgb, label=f"test frame {test[i]}")
        for fr, rgb, i in zip(panels, rgbs, positions, strict=True)
    ]
    order = list(done)
    paper_panels = [dataclasses.replace(fr, preds_m=tuple(fr.preds_m[order.index(m)] for m in shown)) for fr in panels]
    ncols = math.ceil((2 + len(shown)) / 2)  # two rows: 4 panels each for the paper's six methods, 5 with CSPN
    figure = comparison_figure(paper_panels, [DISPLAY[m] for m in shown], fig_dir / "comparison.png", ncols=ncols)
    figure_all = comparison_figure(panels, [DISPLAY[m] for m in order], fig_dir / "comparison_all_methods.png")
    written = [str(figure), str(figure_all)]
    for fr, i in zip(panels, positions, strict=True):
        name = f"{test[i]:06d}.png"
        valid = fr.gt_m[fr.gt_m > 0]
        depth_range = (float(valid.min()), float(valid.max())) if valid.size else (0.0, 1.0)
        written.append(str(rgb_png(fr.rgb, fig_dir / "color" / name)))
        written.append(str(depth_png(fr.gt_m, fig_dir / "depth" / "gt" / name, range_m=depth_range)))
        for m, pred in zip(order, fr.preds_m, strict=True):
            written.append(str(error_map_png(pred, fr.gt_m, fig_dir / "error_maps" / m / name)))
            written.append(str(depth_png(pred, fig_dir / "depth" / m / name, range_m=depth_range)))
    missing = [m for m in study_methods(study.preset) if m not in done]
    return {"figure": str(figure), "frames": [test[i] for i in positions], "methods": shown, "files": len(written),
            "missing": missing, "partial": bool(missing)}  # fmt: skip


#: Heading of the real-frame scores in the report and in ``results.md``.
REAL_LABEL = "Real frames (7-Scenes redkitchen, Kinect v1 depth as ground truth, simulated spots)"


def _real_reason(study: Study, *steps: str) -> str:
    """Why the real-data study has no result here (the first skipped step's reason, or that it is disabled)."""
    if study.realdata_path is None or study.preset.realdata_frames == 0:
        return "real-data study disabled (--no-realdata or realdata_frames = 0)"
    return next((study.skipped[s] for s in steps if s in study.skipped), "not run")


def step_report(study: Study) -> dict[str, Any]:
    """The static HTML report of ``scores/`` and, when scored, ``realdata/scores`` (charts, figures, tables)."""
    from leaderboard.report import write_report

    score_record = read_marker(study, "score")
    if score_record is None:
        raise StepSkipped("the score step has not finished")
    real = read_marker(study, "realdata-score")
    extra = {REAL_LABEL: study.out_dir / "realdata" / "scores"} if real is not None else {}
    notes = [] if real is not None else [f"Real frames: {_real_reason(study, 'realdata-score', 'realdata-convert')}."]
    test = read_marker(study, "dataset")["summary"]["test_indices"]
    index = write_report(
        study.out_dir / "scores", study.out_dir / "report", title=f"tofbench reproduce: {study.preset.name}",
        frames=_figure_positions(study, len(test)), label="Synthetic test split", extra=extra, notes=notes,
    )  # fmt: skip
    # no real-frame scores yet is not "partial": once `realdata-score` finishes, its newer marker redoes this step
    partial = bool(score_record["summary"].get("partial"))
    return {"report": str(index), "real_frames": real is not None, "partial": partial}


def _fmt(value: Any, scale: float = 1.0, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, str):
        return value
    return f"{value * scale:,.{digits}f}"


def headline_table(rows: list[dict[str, Any]], *, with_meta: bool = True) -> list[str]:
    """Markdown lines of the headline table (errors in mm, memory in MB = 10^6 bytes, latency in ms)."""
    head = "| method | RMSE mm | MAE mm | iRMSE 1/km | REL | d1 |"
    rule = "|---|---:|---:|---:|---:|---:|"
    if with_meta:
        head += " params | bits | weights MB | x smaller | act. peak MB | CPU latency ms |"
        rule += "---:|---|---:|---:|---:|---:|"
    lines = [head, rule]
    for r in rows:
        line = (
            f"| {DISPLAY.get(r['method'], r['method'])} | {_fmt(r['rmse'], 1000)} | {_fmt(r['mae'], 1000)} | "
            f"{_fmt(r['irmse'], 1000, 2)} | {_fmt(r['rel'], 1, 4)} | {_fmt(r['d1'], 1, 4)} |"
        )
        if with_meta:
            params = r.get("params")
            line += (
                f" {_fmt(params, 1, 0) if params else '0'} | {r.get('bits') or '-'} | {_fmt(r.get('weight_mb'), 1, 3)}"
                f" | {_fmt(r.get('weight_ratio_vs_fp32'), 1, 1)} | {_fmt(r.get('act_peak_mb'), 1, 2)} |"
                f" {_fmt(r.get('latency_ms'), 1, 1)} |"
            )
        lines.append(line)
    return lines


def _training_note(p: Any) -> str:
    if p.pretrained:
        names = ", ".join(f"`{n}`" for n in SHIPPED_MODELS.values())
        return (f"No training: the shipped pretrained models ({names}; model cards in `completion/pretrained/`), "
                "never trained on these frames.")  # fmt: skip
    return (f"tofnet {p.tofnet_epochs} epoch(s), QAT {p.qat_epochs} epoch(s) per preset, `{p.nlspn_model}` and "
            f"`{p.cspn_model}` {p.nlspn_epochs} epoch(s) each.")  # fmt: skip


def step_results(study: Study) -> dict[str, Any]:
    """``results.md``: the headline tables (synthetic, real frames, mesh check) and the command that made them."""
    p = study.preset
    lines = [
        f"# tofbench reproduce: `{p.name}` preset",
        "",
        f"Produced by: `{study.command}`",
        "",
        f"Synthetic data: {p.n_frames} procedural frames at {p.height_px} x {p.width_px} (f = {p.focal_px:g} px, "
        f"sensor `{p.sensor}`, seed {p.seed}); scored on the test split. {_training_note(p)} Expected time of this "
        f"preset: {p.expected_time or 'not documented'}. Latency: median per-sample CPU forward time of "
        "`completion.predict` (after a warm-up), on the machine that ran the study. Activation memory: liveness "
        "peak at the method's activation bits (computed, not measured, below 8 bits); weights count biases "
        "and per-channel scales.",
        "",
        "## Synthetic test split",
        "",
    ]
    score_record = read_marker(study, "score")
    partial = False
    if score_record is None:
        lines += ["Not scored yet (the score step has not run).", ""]
        partial = True
    else:
        lines += headline_table(score_record["summary"]["rows"])
        missing = score_record["summary"].get("missing") or []
        partial = bool(missing)
        lines += ["", *([f"Methods without results: {', '.join(missing)}.", ""] if missing else [])]
        lines += ["![comparison](figures/comparison.png)", "", "Full tables: `scores/metrics.csv`, report: "
                  "`report/index.html`.", ""]  # fmt: skip
    lines += [f"## {REAL_LABEL}", ""]
    real = read_marker(study, "realdata-score")
    if real is not None:
        lines += headline_table(real["summary"]["rows"], with_meta=False) + [""]
    else:
        lines += [f"Skipped: {_real_reason(study, 'realdata-score', 'realdata-convert')}.", ""]
    mesh = read_marker(study, "realdata-mesh")
    lines += ["## TSDF mesh of the real frames, rendered at held-out poses", ""]
    if mesh is not None:
        s = mesh["summary"]
        lines += [
            f"Fused {s['fused_frames']} frames (voxel {s['voxel_m'] * 100:g} cm) into a mesh of {s['triangles']:,} "
            f"triangles; rendered at {s['heldout_frames']} held-out poses: median |dz| = "
            f"**{s['median_abs_dz_m'] * 1000:.1f} mm** between rendered and real depth (over "
            f"{s['compared_pixels']:,} pixels valid in both; {s['coverage']:.1%} of the real valid pixels rendered).",
            "",
        ]
    else:
        mesh_reason = study.skipped.get("realdata-mesh", "not run")
        if study.realdata_path is None or p.realdata_frames == 0:
            mesh_reason = "real-data study disabled (--no-realdata or realdata_frames = 0)"
        lines += [f"Skipped: {mesh_reason}.", ""]
    path = study.out_dir / "results.md"
    tmp = path.with_name(".results.md.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)
    wants_real = study.realdata_path is not None and study.preset.realdata_frames > 0
    return {"results": str(path), "partial": partial or (wants_real and (real is None or mesh is None))}
