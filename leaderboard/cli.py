"""``leaderboard`` command line: ``leaderboard score --gt GT --out DIR (--pred NAME=PATH ... | --methods FILE)``.

Each command parses its options, calls one library function and prints where the output went. Any
`LeaderboardError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from leaderboard.cli_figures import figure_command, report_command
from leaderboard.cli_reproduce import reproduce_command
from leaderboard.errors import ConfigError, LeaderboardError
from tofsim.errors import TofsimError

app = typer.Typer(
    name="leaderboard",
    help="Score depth-completion predictions: metric tables, error maps, figures and reports.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """Score depth-completion predictions: metric tables, error maps, figures and reports."""


def _fail(e: Exception) -> None:
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code=2)


@app.command("score")
def score_cmd(
    gt: Annotated[Path, typer.Option("--gt", help="tofsim dataset folder, or a folder of GT depth files.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (metrics.csv, .md, .tex, .json, ...).")],
    pred: Annotated[
        list[str] | None,
        typer.Option(
            "--pred",
            help="NAME=PATH of a method's predictions (repeatable); per-method options after the path: "
            "NAME=PATH:scale=256:format=png (also key=, list=, pattern=).",
        ),
    ] = None,
    methods: Annotated[Path | None, typer.Option("--methods", help="Methods file (TOML or YAML).")] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="Default format of --pred: auto, npy, npz, png16, exr, h5, nlspn.")
    ] = "auto",
    png_scale_per_m: Annotated[
        float | None,
        typer.Option("--png-scale-per-m", help="Default scale of --pred PNGs: 256 KITTI/NLSPN, 1000 mm, 5000 TUM."),
    ] = None,
    gt_scale_per_m: Annotated[
        float | None, typer.Option("--gt-scale-per-m", help="Scale of GT PNGs (folder GT only).")
    ] = None,
    gt_pattern: Annotated[
        str | None, typer.Option("--gt-pattern", help="Glob on GT file names, e.g. '*.depth.png'.")
    ] = None,
    sparse: Annotated[
        Path | None, typer.Option("--sparse", help="Folder of sparse inputs matching a GT folder (for RDS).")
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Score only this split of a tofsim dataset (e.g. test).")
    ] = None,
    numbering: Annotated[
        str,
        typer.Option(
            "--numbering",
            help="How prediction files are keyed: index (dataset index or GT file name) or split (position "
            "0, 1, ... in the scored frames: NLSPN/CompletionFormer outputs, tofsim export --layout nlspn-nyu|kitti).",
        ),
    ] = "index",
    missing: Annotated[
        str | None,
        typer.Option("--missing", help="Missing prediction pixels: penalise (default) | fill | exclude."),
    ] = None,
    missing_files: Annotated[
        str | None,
        typer.Option("--missing-files", help="GT frames without a prediction: error (default) | penalise | exclude."),
    ] = None,
    cap_m: Annotated[
        float | None, typer.Option("--cap-m", help="Depth cap: GT beyond this many metres is not scored.")
    ] = None,
    aggregation: Annotated[
        str | None, typer.Option("--aggregation", help="Headline columns: per_image (default) or pooled.")
    ] = None,
    protocol_file: Annotated[
        Path | None, typer.Option("--protocol", help="Protocol TOML file (options above override it).")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Threads (or processes) reading and scoring frames.")] = 2,
    processes: Annotated[
        bool, typer.Option("--processes", help="Use worker processes instead of threads (no GIL; same numbers).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Score predictions against ground truth and write metric tables into OUT."""
    from leaderboard.io.sources import FORMAT_ALIASES, PRED_FORMATS, PredictionSource, open_ground_truth
    from leaderboard.methods import load_methods, parse_pred_option
    from leaderboard.protocol import Protocol, load_protocol
    from leaderboard.score import score

    try:
        if bool(pred) == (methods is not None):
            raise ConfigError("give either --pred NAME=PATH (repeatable) or --methods FILE, not both or neither")
        fmt = FORMAT_ALIASES.get(fmt, fmt)
        if fmt not in PRED_FORMATS:
            raise ConfigError(f"unknown --format {fmt!r}; valid: {', '.join(PRED_FORMATS)}")
        protocol = load_protocol(protocol_file) if protocol_file is not None else Protocol()
        overrides = {
            "missing": missing,
            "missing_files": missing_files,
            "aggregation": aggregation,
            "max_depth_m": cap_m,
        }
        protocol = protocol.replace(**{k: v for k, v in overrides.items() if v is not None})
        specs = (
            [parse_pred_option(p, fmt=fmt, scale_per_m=png_scale_per_m) for p in pred]
            if pred
            else load_methods(methods)
        )
        gt_src = gt
        if split is not None:
            gt_src = open_ground_truth(gt, split=split, numbering=numbering)
        elif gt.is_dir() and not (gt / "manifest.json").is_file():
            sparse_src = None if sparse is None else PredictionSource(path=sparse, scale_per_m=gt_scale_per_m)
            gt_src = open_ground_truth(
                gt, scale_per_m=gt_scale_per_m, pattern=gt_pattern, sparse=sparse_src, numbering=numbering
            )
        elif numbering != "index":
            gt_src = open_ground_truth(gt, numbering=numbering)
        bar = None

        def progress(done: int, total: int) -> None:
            # the bar appears with the first scored frame, so that an input error is not preceded by an empty bar
            nonlocal bar
            if quiet:
                return
            if bar is None:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="frame", desc="scoring", file=sys.stderr, leave=False)
            bar.total = total
            bar.update(done - bar.n)

        try:
            result = score(
                gt_src,
                specs,
                out,
                protocol=protocol,
                progress=progress,
                workers=workers,
                executor="process" if processes else "thread",
            )
        finally:
            if bar is not None:
                bar.close()
    except (LeaderboardError, TofsimError) as e:
        _fail(e)
        return
    for line in result.warnings:
        typer.echo(f"warning: {line}", err=True)
    n = len(next(iter(result.results.values())).names) if result.results else 0
    typer.echo(
        f"scored {len(result.rows)} method(s) on {n} frame(s) "
        f"({protocol.aggregation}, missing pixels: {protocol.missing}, missing files: {protocol.missing_files})"
    )
    for row in result.rows:
        typer.echo(
            f"  {row['method']:<20} RMSE {row['rmse'] * 1000:8.1f} mm  MAE {row['mae'] * 1000:8.1f} mm  "
            f"d1 {row['d1']:.4f}  density {row['density']:.3f}"
        )
        if "rtsd_warp" in row:  # sequences were scored (temporal.csv)
            typer.echo(
                f"  {'':<20} {row['n_sequences']} sequence(s): RTSD {row['rtsd']:.4f} ({row['n_static_sequences']} "
                f"static)  RTSD-warp {row['rtsd_warp']:.4f}  MIPI score {row['mipi_score']:.4f}"
            )
    typer.echo(f"wrote {result.out_dir}/metrics.csv (+ .md, .tex, .json, per_image.csv, bins.csv, regions.csv)")


# figures, report and the whole study live in their own modules; registered here so there is one app
app.command("figure")(figure_command)
app.command("report")(report_command)
app.command("reproduce")(reproduce_command)


if __name__ == "__main__":  # pragma: no cover
    app()
