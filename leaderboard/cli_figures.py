"""The ``leaderboard figure`` and ``leaderboard report`` commands (registered on the app in `leaderboard.cli`).

Each parses its options, calls one library function (`leaderboard.figures.comparison_figure`,
`leaderboard.report.write_report`) and prints where the output went. A `LeaderboardError` becomes one line on
stderr and exit code 2.

Register them with::

    app.command("figure")(figure_command)
    app.command("report")(report_command)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from leaderboard.errors import ConfigError, InputFileError, LeaderboardError
from leaderboard.score_folder import ScoreFolder
from tofsim.errors import TofsimError

__all__ = ["figure_command", "report_command", "parse_frames"]


def parse_frames(text: str) -> list[int]:
    """Parse ``"0,3,7"`` into ``[0, 3, 7]``.

    Raises:
        ConfigError: if an entry is not a non-negative integer or the list is empty.
    """
    try:
        out = [int(t) for t in text.replace(" ", "").split(",") if t != ""]
    except ValueError as exc:
        raise ConfigError(f"--frames: expected comma-separated frame indices like 0,3,7, got {text!r}") from exc
    if not out or any(i < 0 for i in out):
        raise ConfigError(f"--frames: expected non-negative frame indices like 0,3,7, got {text!r}")
    return out


def _parse_range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lo, hi = (float(t) for t in text.split(","))
    except ValueError as exc:
        raise ConfigError(f"--depth-range-m: expected NEAR,FAR in metres like 0.5,5, got {text!r}") from exc
    return lo, hi


def _fail(exc: LeaderboardError | TofsimError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def figure_command(
    out: Annotated[Path, typer.Option("--out", help="figure to write (.png, .pdf or .svg)")],
    gt: Annotated[
        Path | None, typer.Option("--gt", help="tofsim dataset or folder of GT depth files (default: from --scores)")
    ] = None,
    pred: Annotated[
        list[str] | None, typer.Option("--pred", help="NAME=PATH prediction folder; repeat, in display order")
    ] = None,
    methods: Annotated[
        Path | None, typer.Option("--methods", help="methods file (TOML/YAML) instead of --pred")
    ] = None,
    scores: Annotated[
        Path | None, typer.Option("--scores", help="score folder: take GT and methods from what it records")
    ] = None,
    frames: Annotated[str, typer.Option("--frames", help="frame indices, comma-separated")] = "0",
    err_range_mm: Annotated[float, typer.Option("--err-range-mm", help="signed-error scale +- this, mm")] = 500.0,
    depth_range_m: Annotated[
        str | None, typer.Option("--depth-range-m", help="NEAR,FAR depth colour range in m (default: GT min-max)")
    ] = None,
    ncols: Annotated[int | None, typer.Option("--ncols", help="panels per row (4 = the paper's 2 rows of 4)")] = None,
    png_scale: Annotated[
        float | None,
        typer.Option("--png-scale-per-m", "--png-scale", help="scale_per_m of 16-bit PNG predictions (256 NLSPN)"),
    ] = None,
    gt_scale_per_m: Annotated[
        float | None, typer.Option("--gt-scale-per-m", help="scale_per_m of a 16-bit PNG ground-truth folder")
    ] = None,
) -> None:
    """Draw the paper-layout comparison figure: Color | GT | each method, then the error maps."""
    from leaderboard.figures import comparison_figure, load_frame_panels

    try:
        sources = sum(x is not None and x != [] for x in (pred, methods, scores))
        if sources != 1:
            raise ConfigError("give the methods exactly one way: --pred NAME=PATH ..., --methods FILE or --scores DIR")
        sf = None
        preds: dict[str, Any]
        if pred or methods is not None:
            from leaderboard.methods import load_methods, parse_pred_option

            specs = [parse_pred_option(t) for t in pred] if pred else load_methods(methods)
            names = [s.name for s in specs]
            if len(set(names)) != len(names):
                raise ConfigError(f"--pred: a method name is given twice in {names}")
            preds = {s.name: s.source for s in specs}
        else:
            sf = ScoreFolder.read(scores)
            preds, missing = sf.prediction_specs()
            if missing:
                raise InputFileError(f"{scores}: methods.json gives no prediction folder for {missing}")
            gt = gt if gt is not None else sf.gt_path
        if gt is None:
            raise ConfigError("--gt: give the ground truth (a tofsim dataset or a folder of depth files)")
        idx = parse_frames(frames)
        if gt_scale_per_m is None and sf is not None and gt == sf.gt_path:
            gt_scale_per_m = sf.gt_scale_per_m
        panels = load_frame_panels(gt, preds, idx, png_scale_per_m=png_scale, gt_scale_per_m=gt_scale_per_m)
        path = comparison_figure(
            panels,
            list(preds),
            out,
            err_range_mm=err_range_mm,
            depth_range_m=_parse_range(depth_range_m),
            ncols=ncols,
        )
    except (LeaderboardError, TofsimError) as exc:
        raise _fail(exc) from exc
    typer.echo(f"figure: {len(idx)} frame(s) x {len(preds)} method(s) ({', '.join(preds)}) -> {path}")


def report_command(
    score_dir: Annotated[Path, typer.Argument(help="score folder written by `leaderboard score --out`")],
    out: Annotated[Path | None, typer.Option("--out", help="report folder (default: SCORE_DIR/report)")] = None,
    title: Annotated[str, typer.Option("--title", help="page title")] = "tofbench leaderboard",
    frames: Annotated[str, typer.Option("--frames", help="frame indices shown, comma-separated")] = "0",
    err_range_mm: Annotated[float, typer.Option("--err-range-mm", help="signed-error scale +- this, mm")] = 500.0,
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="draw figures from GT + predictions")] = True,
) -> None:
    """Write a static HTML report (sortable tables, figures) that works offline."""
    from leaderboard.report import write_report

    try:
        index = write_report(
            score_dir, out, title=title, frames=parse_frames(frames), err_range_mm=err_range_mm, figures=figures
        )
    except (LeaderboardError, TofsimError) as exc:
        raise _fail(exc) from exc
    n_png = len(list(index.parent.rglob("*.png")))
    typer.echo(f"report: {index} ({n_png} images); open it in a browser, no network needed")
