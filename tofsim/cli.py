"""The ``tofsim`` command line: generate, convert, preview, info, export.

Each command parses its options, builds a config, calls one library function and prints a short summary.
Progress bars live here (the library takes a callback). Any `TofsimError` becomes one line on stderr and exit
code 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from tofsim.errors import ConfigError, TofsimError

app = typer.Typer(
    name="tofsim",
    help="Simulate sparse-spot time-of-flight datasets from procedural rooms, meshes or real RGB-D frames.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn a `TofsimError` into one line on stderr and exit code 2."""
    try:
        yield
    except TofsimError as err:
        typer.echo(f"tofsim: error: {err}", err=True)
        raise typer.Exit(code=2) from None


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Print a `DepthScaleWarning`, `TrajectoryWarning` or `RasterFallbackWarning` as one ``warning: ...`` line on
    stderr; others as usual.
    """  # noqa: D205
    import warnings

    from tofsim.errors import RasterFallbackWarning
    from tofsim.sequence import TrajectoryWarning
    from tofsim.sources.base import DepthScaleWarning

    show = warnings.showwarning

    def showwarning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, (DepthScaleWarning, TrajectoryWarning, RasterFallbackWarning)):
            typer.echo(f"warning: {message}", err=True)
        else:
            show(message, category, *args, **kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter("always", DepthScaleWarning)
        warnings.simplefilter("always", TrajectoryWarning)
        warnings.simplefilter("always", RasterFallbackWarning)
        warnings.showwarning = showwarning
        yield


class _ProgressBar:
    """A tqdm bar driven by the library's ``progress(done, total)`` callback."""

    def __init__(self, desc: str, enabled: bool) -> None:
        self.desc = desc
        self.enabled = enabled
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.desc, unit="frame", initial=done, dynamic_ncols=True)
        else:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _parse_indices(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise ConfigError(f"--indices: expected comma-separated integers like 0,5,9, got {text!r}") from None


def _print_dataset_summary(out: Path, seconds: float) -> None:
    from tofsim.dataset.manifest import read_manifest

    manifest = read_manifest(out)
    n = int(manifest["count"])
    shards = manifest.get("shards", [])
    rate = n / max(seconds, 1e-9)
    typer.echo(f"wrote {n} samples in {len(shards)} shard(s) to {out}  ({seconds:.1f} s, {rate:.1f} frames/s)")
    hash_, seed, sensor = manifest.get("config_hash", "")[:16], manifest.get("seed"), manifest.get("preset")
    typer.echo(f"config hash {hash_}, seed {seed}, sensor {sensor}")
    splits = manifest.get("splits") or {}
    if splits:
        typer.echo("splits (by scene): " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    typer.echo(f"next: tofsim info {out}   |   tofsim preview {out} --out preview.png")


# Options shared by generate and convert.
ShardSizeOpt = Annotated[int | None, typer.Option("--shard-size", help="Samples per HDF5 shard.")]
WorkersOpt = Annotated[int | None, typer.Option("--workers", "-w", help="Start a local Dask cluster of N processes.")]
SchedulerOpt = Annotated[str | None, typer.Option("--scheduler", help="Address of an existing Dask scheduler.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def _config_dict(config: Path | None, preset: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """The TOML file (if any), then ``--preset``, then the other options (those given) on top."""
    from tofsim.config import load_toml

    d: dict[str, Any] = load_toml(config) if config is not None else {}
    if preset is not None:
        d["preset"] = preset
    d.update({k: v for k, v in overrides.items() if v is not None})
    return d


def _run_with_bar(desc: str, quiet: bool, run: Any) -> None:
    """Call ``run(progress)`` with a progress bar, then print the dataset summary."""
    bar = _ProgressBar(desc, enabled=not quiet)
    start = time.perf_counter()
    try:
        path = run(bar)
    finally:
        bar.close()
    _print_dataset_summary(path, time.perf_counter() - start)


def _camera_options(cfg: Any, width: int | None, height: int | None, fov_deg: float | None) -> Any:
    """`cfg` with ``--width/--height/--fov-deg`` applied to its camera (principal point centred).

    Raises:
        ConfigError: when more than half of the sensor's spots would fall off the image.
    """
    from tofsim.config import camera_override, spots_on_image

    if width is None and height is None and fov_deg is None:
        return cfg
    camera = camera_override(cfg.camera, width_px=width, height_px=height, fov_deg=fov_deg)
    on, n = spots_on_image(cfg.sensor, camera)
    fov = 2.0 * math.degrees(math.atan((camera.width_px / 2.0) / camera.fx_px))
    if 2 * on < n:
        given = " ".join(
            f"{flag} {value:g}" for flag, value in (("--width", width), ("--height", height), ("--fov-deg", fov_deg))
            if value is not None
        )  # fmt: skip
        raise ConfigError(
            f"{given}: only {on} of {n} spots ({on / n:.0%}) of sensor {cfg.sensor.name!r} land on the "
            f"{camera.width_px}x{camera.height_px} image with a {fov:.1f} deg horizontal field of view; at least "
            "half must, so widen --fov-deg or change --width/--height"
        )
    typer.echo(
        f"camera {camera.width_px}x{camera.height_px}, fx {camera.fx_px:.2f} px, {fov:.1f} deg horizontal field of "
        f"view: {on} of {n} spots ({on / n:.0%}) on the image"
    )
    return cfg.replace(camera=camera)


def _echo_rgb_camera(cfg: Any, error_given: bool) -> None:
    """Say where the colour camera is; refuse a calibration error without one (it would change nothing)."""
    rig = cfg.rgb_camera
    if not rig.enabled:
        if error_given:
            raise ConfigError(
                "--rgb-calibration-error-deg: there is no colour camera to misregister; add --rgb-baseline-m "
                "(or [rgb_camera] enabled = true in the config)"
            )
        return
    b_cm = ", ".join(f"{100 * x:g}" for x in rig.baseline_m)
    typer.echo(
        f"colour camera at ({b_cm}) cm from the ToF camera, spots registered into its frame; calibration error "
        f"{1000 * rig.calibration_error_m:g} mm, {rig.calibration_error_deg:g} deg per axis, one per "
        f"{rig.calibration_error_per}"
    )


def _sequence_options(
    d: dict[str, Any], sequence: int | None, motion: str | None, fps: float | None, frames_per_scene: int | None
) -> None:
    """Put ``--sequence N`` / ``--motion`` / ``--fps`` into the config dict `d` (in place).

    Raises:
        ConfigError: ``--motion`` or ``--fps`` without sequences, or ``--frames-per-scene`` other than N.
    """
    table = dict(d.get("sequence", {}))
    if sequence is not None:
        if frames_per_scene is not None and frames_per_scene != sequence:
            raise ConfigError(
                f"--sequence {sequence} renders {sequence} frames per room; drop --frames-per-scene {frames_per_scene}"
            )
        table["enabled"] = True
        d["frames_per_scene"] = sequence
    if motion is not None:
        table["motion"] = motion
    if fps is not None:
        table["fps_hz"] = fps
    if (motion is not None or fps is not None) and not table.get("enabled", False):
        raise ConfigError("--motion and --fps set the motion of sequences; add --sequence N")
    if table:
        d["sequence"] = table


def _mesh_options(d: dict[str, Any], pose_options: dict[str, float | None]) -> None:
    """Put ``--min-enclosed-fraction`` / ``--min-clearance-m`` into the ``poses`` table of the config dict `d`, and
    with a pose file (``--poses`` or ``pose_file``) and no frame count given, take the count from the file (in place).
    """  # noqa: D205
    given = {k: v for k, v in pose_options.items() if v is not None}
    if given:
        d["poses"] = {**d.get("poses", {}), **given}
    if d.get("pose_file") is not None and "n_frames" not in d:
        from tofsim.scene.pose_file import read_pose_file

        read = read_pose_file(d["pose_file"])
        d["n_frames"] = len(read.poses)
        typer.echo(f"camera poses from {d['pose_file']} ({read.kind}): {len(read.poses)} frames, one per pose")


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created; an unfinished run there resumes).")],
    preset: Annotated[
        str | None,
        typer.Option("--preset", "-p", help="Named config: sds, sds-qvga, dtof-24x24, zones-8x8 (default sds)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML config file (keys of GenerateConfig).")
    ] = None,
    frames: Annotated[
        int | None, typer.Option("--frames", "-n", help="Number of frames (overrides the config).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", "-s", help="Global seed (overrides the config; 0 is a seed).")
    ] = None,
    frames_per_scene: Annotated[
        int | None, typer.Option("--frames-per-scene", help="Frames that share one room.")
    ] = None,
    shard_size: ShardSizeOpt = None,
    mesh: Annotated[
        Path | None,
        typer.Option("--mesh", help="Render this mesh file (PLY/OBJ/OFF/STL/GLB/glTF) instead of procedural rooms."),
    ] = None,
    up_axis: Annotated[
        str | None,
        typer.Option(
            "--up-axis",
            help="The mesh file's axis that points up: z (default), y (glTF, Blender exports), -y (7-Scenes and "
            "KinectFusion scans), -z, x, -x.",
        ),
    ] = None,
    mesh_scale_per_m: Annotated[
        float | None,
        typer.Option("--mesh-scale-per-m", help="The mesh file's units per metre (default 1; 1000 for mm)."),
    ] = None,
    poses: Annotated[
        Path | None,
        typer.Option(
            "--poses",
            help="Camera-to-world poses for the mesh from a file: TUM (timestamp tx ty tz qx qy qz qw) or one 4x4 "
            "row-major matrix of 16 numbers per line, in the mesh file's coordinates. Frame i uses pose i; the "
            "file sets the frame count (--frames must match it).",
        ),
    ] = None,
    min_enclosed_fraction: Annotated[
        float | None,
        typer.Option(
            "--min-enclosed-fraction",
            help="Sampled poses: fraction of rays in all directions that must hit the scene (default 0.75); lower it "
            "for open meshes and partial scans.",
        ),
    ] = None,
    min_clearance_m: Annotated[
        float | None,
        typer.Option("--min-clearance-m", help="Sampled poses: free radius around the camera (m, default 0.3)."),
    ] = None,
    width: Annotated[
        int | None, typer.Option("--width", min=1, help="Image width in pixels (overrides the config's camera).")
    ] = None,
    height: Annotated[
        int | None, typer.Option("--height", min=1, help="Image height in pixels (default: keeps the aspect).")
    ] = None,
    fov_deg: Annotated[
        float | None,
        typer.Option("--fov-deg", help="Horizontal field of view in degrees (default: the config camera's)."),
    ] = None,
    rgb_baseline_m: Annotated[
        float | None,
        typer.Option(
            "--rgb-baseline-m",
            help="Colour from a second camera this far to the right of the ToF camera (m, e.g. 0.025); the spots "
            "are registered into its frame ([rgb_camera] in the config).",
        ),
    ] = None,
    rgb_calibration_error_deg: Annotated[
        float | None,
        typer.Option(
            "--rgb-calibration-error-deg",
            help="1-sigma rotation error per axis of the ToF-to-RGB extrinsics the registration believes (deg).",
        ),
    ] = None,
    sequence: Annotated[
        int | None,
        typer.Option(
            "--sequence",
            min=1,
            help="Render each room as one sequence of N frames along a smooth camera trajectory (sets "
            "--frames-per-scene N; poses and timestamps stored per frame).",
        ),
    ] = None,
    motion: Annotated[
        str | None, typer.Option("--motion", help="Sequence motion: handheld (default), robot or static.")
    ] = None,
    fps: Annotated[float | None, typer.Option("--fps", help="Sequence frame rate in Hz (default 30).")] = None,
    renderer: Annotated[
        str | None,
        typer.Option("--renderer", help="Dense maps by raycast (default; Open3D) or raster (z-buffer, faster)."),
    ] = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Generate a dataset of procedural rooms (or a mesh) seen by a sparse ToF sensor."""
    from tofsim.config import GenerateConfig
    from tofsim.pipeline import generate as run_generate

    with _user_errors():
        if preset is None and config is None:
            preset = "sds"
        overrides = {
            "n_frames": frames, "seed": seed, "frames_per_scene": frames_per_scene, "shard_size": shard_size,
            "mesh_path": None if mesh is None else str(mesh), "mesh_up_axis": up_axis,
            "mesh_scale_per_m": mesh_scale_per_m, "pose_file": None if poses is None else str(poses),
            "renderer": renderer,
        }  # fmt: skip
        d = _config_dict(config, preset, overrides)
        _mesh_options(d, {"min_enclosed_fraction": min_enclosed_fraction, "min_clearance_m": min_clearance_m})
        rgb = {} if rgb_baseline_m is None else {"enabled": True, "baseline_m": [rgb_baseline_m, 0.0, 0.0]}
        if rgb_calibration_error_deg is not None:
            rgb["calibration_error_deg"] = rgb_calibration_error_deg
        if rgb:
            d["rgb_camera"] = {**d.get("rgb_camera", {}), **rgb}
        _sequence_options(d, sequence, motion, fps, frames_per_scene)
        cfg = GenerateConfig.from_dict(d)
        cfg = _camera_options(cfg, width, height, fov_deg)
        _echo_rgb_camera(cfg, rgb_calibration_error_deg is not None)

        def run(bar: Any) -> Path:
            return run_generate(cfg, out, workers=workers, scheduler=scheduler, progress=bar)

        with _one_line_warnings():
            _run_with_bar("generate", quiet, run)


@app.command()
def convert(
    src: Annotated[
        Path, typer.Argument(help="RGB-D source: a folder of PNG16 depth (+ colour), NYUv2 .h5 files, Hypersim.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    preset: Annotated[
        str | None, typer.Option("--preset", "-p", help="Sensor preset (as for generate; default sds).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML config file (keys of ConvertConfig).")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Source reader (default: detected).")] = None,
    depth_scale_per_m: Annotated[
        float | None, typer.Option("--depth-scale-per-m", help="PNG units per metre: 1000 for mm, 5000 for TUM.")
    ] = None,
    intrinsics: Annotated[
        Path | None, typer.Option("--intrinsics", help="Text file with the 3x3 K (or fx fy cx cy).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", "-s", help="Global seed for the sensor noise.")] = None,
    max_frames: Annotated[int | None, typer.Option("--max-frames", help="Convert at most this many frames.")] = None,
    stride: Annotated[int | None, typer.Option("--stride", help="Take every n-th source frame.")] = None,
    shard_size: ShardSizeOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Convert real RGB-D frames into a sparse ToF dataset (the real depth is the ground truth)."""
    from tofsim.config import ConvertConfig
    from tofsim.pipeline import convert as run_convert

    with _user_errors():
        overrides = {
            "kind": kind, "depth_scale_per_m": depth_scale_per_m, "seed": seed, "max_frames": max_frames,
            "frame_stride": stride, "shard_size": shard_size,
            "intrinsics_path": None if intrinsics is None else str(intrinsics),
        }  # fmt: skip
        cfg = ConvertConfig.from_dict(_config_dict(config, preset, overrides))
        with _one_line_warnings():
            _run_with_bar(
                "convert",
                quiet,
                lambda bar: run_convert(src, out, config=cfg, workers=workers, scheduler=scheduler, progress=bar),
            )


@app.command()
def preview(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")],
    indices: Annotated[
        str | None, typer.Option("--indices", help="Comma-separated sample indices (default: a few).")
    ] = None,
) -> None:
    """Write a PNG contact sheet: RGB, GT depth, spots over RGB, sparse depth."""
    from tofsim.dataset.reader import open_dataset
    from tofsim.preview import contact_sheet

    with _user_errors():
        ds = open_dataset(dataset)
        result = contact_sheet(ds, out, indices=_parse_indices(indices))
        typer.echo(f"wrote {result if result is not None else out}")


@app.command()
def info(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Print a summary of a dataset (counts, splits, sensor, valid spots, depth range)."""
    from tofsim.dataset.reader import open_dataset
    from tofsim.info import format_summary, summarize

    with _user_errors():
        summary = summarize(open_dataset(dataset))
        typer.echo(json.dumps(summary, indent=1, default=str) if as_json else format_summary(summary))


@app.command()
def export(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created; must not exist or be empty).")],
    split: Annotated[
        str | None, typer.Option("--split", help="Export only this split (train, val, test); default: every sample.")
    ] = None,
    layout: Annotated[
        str,
        typer.Option(
            "--layout",
            help="png: flat folders, 16-bit PNG depth in mm, named by dataset index; nlspn-nyu: NYU-style .h5 + "
            "nyu.json (NLSPN, CompletionFormer); kitti: KITTI depth-completion PNG folders (x256) + kitti_dc.json. "
            "nlspn-nyu and kitti number files by position within each split (docs/bridges.md).",
        ),
    ] = "png",
) -> None:
    """Export a dataset, spots included, in a layout other tools read (png, nlspn-nyu, kitti)."""
    from tofsim.dataset.export import EXPORT_LAYOUTS, export_dataset
    from tofsim.dataset.reader import open_dataset

    with _user_errors():
        if layout not in EXPORT_LAYOUTS:
            raise ConfigError(f"unknown --layout {layout!r}; valid: {', '.join(EXPORT_LAYOUTS.names())}")
        ds = open_dataset(dataset, split=split)
        if split is not None and len(ds) == 0:
            full = open_dataset(dataset)
            valid = ", ".join(f"{k} ({len(v)})" for k, v in full.splits.items() if v) or "none"
            raise ConfigError(f"{dataset}: split {split!r} is empty; non-empty splits: {valid}")
        result = export_dataset(ds, out, layout=layout)
        what = f"{len(ds)} samples" + (f" of split {split!r}" if split is not None else "")
        typer.echo(f"exported {what} to {result} (layout {layout})")


if __name__ == "__main__":  # pragma: no cover
    app()
