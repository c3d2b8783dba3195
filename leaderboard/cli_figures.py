"""The ``leaderboard figure`` and ``leaderboard report`` commands (registered on the app in `leaderboard.cli`).

Each parses its options, calls one library function (`leaderboard.figures.comparison_figure`,
`leaderboard.report.write_report`) and prints where the output went. A `LeaderboardError` becomes one line on
stderr and exit code 2.

Register them with::

    app.command("figure")(figure_command)
    app.command("report")(report_command)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from leaderboard.errors import ConfigError, InputFileError, LeaderboardError

__all__ = ["figure_command", "report_command", "parse_frames", "parse_pred_options", "read_methods_file"]


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


def parse_pred_options(items: list[str]) -> dict[str, Path]:
    """Parse repeated ``NAME=PATH`` options into an ordered dict.

    Raises:
        ConfigError: if an item has no ``=``, an empty name, or a name repeats.
    """
    out: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"--pred: expected NAME=PATH (e.g. --pred float32=preds/float32), got {item!r}")
        if name.strip() in out:
            raise ConfigError(f"--pred: method name {name.strip()!r} is given twice")
        out[name.strip()] = Path(path.strip())
    return out


def _entries(raw: Any) -> list[tuple[str, Mapping[str, Any]]]:
    """Method entries from ``{name: {path: ...}}``, ``{methods: [...]}``, ``{methods: {name: ...}}`` or a list."""
    if isinstance(raw, Mapping) and "methods" in raw:
        raw = raw["methods"]
    if isinstance(raw, list):
        out = []
        for i, m in enumerate(raw):
            if not isinstance(m, Mapping) or "name" not in m:
                raise ConfigError(f"methods file: entry {i} needs a 'name' and a 'path', got {m!r}")
            out.append((str(m["name"]), m))
        return out
    if isinstance(raw, Mapping):
        return [(str(k), v if isinstance(v, Mapping) else {"path": v}) for k, v in raw.items()]
    raise ConfigError("methods file: expected a table of methods (name -> {path = ...}) or a list of them")


def read_methods_file(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Method name -> its entry (``path``, ``format``, ``scale_per_m``, ``key``, metadata) from a TOML or YAML file.

    Accepts ``[name] path = ...`` tables, a ``methods = [{name = ..., path = ...}]`` list, or the YAML
    equivalents. Relative paths are taken relative to the file's folder.

    Raises:
        InputFileError: if the file is missing or cannot be parsed.
        ConfigError: if an entry has no ``path`` or the suffix is not .toml/.yaml/.yml.
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p}: methods file not found")
    try:
        if p.suffix == ".toml":
            import tomllib  # Python >= 3.11

            raw = tomllib.loads(p.read_text())
        elif p.suffix in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(p.read_text())
        else:
            raise ConfigError(f"{p}: methods file must be .toml, .yaml or .yml")
    except LeaderboardError:
        raise
    except Exception as exc:  # TOMLDecodeError, yaml.YAMLError, OSError, UnicodeDecodeError
        raise InputFileError(f"{p}: cannot parse methods file ({exc})") from exc
    specs: dict[str, dict[str, Any]] = {}
    for name, m in _entries(raw):
        if "path" not in m:
            raise ConfigError(f"{p}: method {name!r} has no 'path'")
        mp = Path(str(m["path"]))
        specs[name] = {**m, "path": mp if mp.is_absolute() else p.parent / mp}
        if m.get("list_file") and not Path(str(m["list_file"])).is_absolute():
            specs[name]["list_file"] = p.parent / str(m["list_file"])
    if not specs:
        raise ConfigError(f"{p}: no methods listed")
    return specs


def _parse_range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lo, hi = (float(t) for t in text.split(","))
    except ValueError as exc:
        raise ConfigError(f"--depth-range-m: expected NEAR,FAR in metres like 0.5,5, got {text!r}") from exc
    return lo, hi


def _fail(exc: LeaderboardError) -> typer.Exit:
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
        float | None, typer.Option("--png-scale", help="scale_per_m of 16-bit PNG predictions (256 NLSPN)")
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
        if pred:
            preds = parse_pred_options(pred)
        elif methods is not None:
            preds = read_methods_file(methods)
        else:
            from leaderboard.report import read_score_dir

            sf = read_score_dir(scores)
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
    except LeaderboardError as exc:
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
    except LeaderboardError as exc:
        raise _fail(exc) from exc
    n_png = len(list(index.parent.rglob("*.png")))
    typer.echo(f"report: {index} ({n_png} images); open it in a browser, no network needed")
