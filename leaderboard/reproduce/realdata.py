"""The real-data study: the same methods on real Kinect v1 frames (7-Scenes), and a TSDF mesh check.

1. ``realdata-convert``: every n-th 7-Scenes frame, subsampled to the study's image size (depth by exact
   nearest subsampling with the intrinsics adjusted: pixel ``(u', v')`` is source pixel ``(s u' + o, s v' + o)``
   with ``o = s // 2``, so ``f' = f / s`` and ``c' = (c - o) / s``; colour by an ``s x s`` box average), goes
   through `tofsim.pipeline.convert`: real depth is the ground truth, the spots are simulated on it.
2. ``realdata-predict-<method>``: every method of the synthetic study predicts those frames (CPU).
3. ``realdata-score``: `leaderboard.score.score` against the real depth (``realdata/scores``).
4. ``realdata-mesh``: the full-size frames not held out are fused with Open3D's tensor ``VoxelBlockGrid`` TSDF
   (the legacy ``ScalableTSDFVolume`` returned an empty mesh with Open3D 0.20), the mesh is written as
   ``realdata/mesh.ply``, loaded with `tofsim.scene.mesh.load_mesh` and rendered with `tofsim.render.Renderer`
   at the held-out poses; ``realdata/mesh.json`` reports the median |dz| between rendered and real depth over
   pixels valid in both.

Every step raises `StepSkipped` (with the reason) when the frames are absent.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from leaderboard.reproduce.runner import StepFn, StepSkipped, Study, read_marker
from leaderboard.reproduce.steps import predict_method
from tofsim.depth_png import write_png16
from tofsim.provenance import atomic_folder, write_json

__all__ = [
    "DEFAULT_REALDATA",
    "REALDATA_ENV",
    "default_realdata_path",
    "subsample_frame",
    "write_subsampled_frames",
    "fuse_tsdf_mesh",
    "step_realdata_convert",
    "make_realdata_predict_step",
    "step_realdata_score",
    "step_realdata_mesh",
]

#: Environment variable naming the 7-Scenes frames folder.
REALDATA_ENV = "TOFBENCH_REALDATA"
#: Default location, relative to the repository root: the shared data beside the work tree.
DEFAULT_REALDATA = Path("..") / "shared" / "data" / "7scenes-redkitchen"
#: Real depth beyond this is not fused (Kinect v1 noise grows with the square of the depth).
TSDF_DEPTH_MAX_M = 4.0
#: Initial hash-map capacity of the TSDF block grid (16^3 voxels per block); it grows when needed.
TSDF_INITIAL_BLOCKS = 2000


def default_realdata_path() -> Path:
    """``$TOFBENCH_REALDATA``, else ``../shared/data/7scenes-redkitchen`` from the repository root."""
    env = os.environ.get(REALDATA_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / DEFAULT_REALDATA


def _source(study: Study) -> Any:
    from tofsim.sources import open_source

    path = study.realdata_path
    if path is None or study.preset.realdata_frames == 0:
        raise StepSkipped("real-data study disabled (no path, or realdata_frames = 0)")
    if not Path(path).is_dir() or not any(Path(path).glob("*.depth.png")):
        raise StepSkipped(f"no 7-Scenes frames (*.depth.png) at {path}; set {REALDATA_ENV} or --realdata")
    return open_source(path, kind="rgbd-folder")


def subsample_frame(rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray, factor: int) -> tuple:
    """Subsample one frame by an integer `factor`.

    Args:
        rgb: (H, W, 3) uint8 colour. depth_m: (H, W) float32 z-depth in metres, 0 where invalid.
        K: (3, 3) float64 intrinsics (pixel centres at integer coordinates).
        factor: integer subsampling factor ``s`` (H and W divisible by it).

    Returns:
        ``(rgb, depth_m, K)`` at (H / s, W / s): depth is source pixel ``(s u + o, s v + o)``, ``o = s // 2``
        (no mixing of depths across edges), colour the ``s x s`` block mean, ``K`` adjusted exactly for depth.
    """
    s, o = int(factor), int(factor) // 2
    h, w = depth_m.shape
    depth_small = np.ascontiguousarray(depth_m[o::s, o::s][: h // s, : w // s], dtype=np.float32)
    rgb_small = rgb[: h // s * s, : w // s * s].reshape(h // s, s, w // s, s, 3).mean(axis=(1, 3))
    K_small = np.array(K, dtype=np.float64)
    K_small[0, 0] /= s
    K_small[1, 1] /= s
    K_small[0, 2] = (K[0, 2] - o) / s
    K_small[1, 2] = (K[1, 2] - o) / s
    return np.round(rgb_small).astype(np.uint8), depth_small, K_small


def write_subsampled_frames(source: Any, indices: list[int], out_dir: Path, factor: int) -> Path:
    """Write frames `indices` of `source` subsampled by `factor` as a 7-Scenes folder (mm PNG16 depth).

    Returns:
        `out_dir` holding ``frame-*.depth.png``, ``frame-*.color.png``, ``frame-*.pose.txt`` and
        ``camera-intrinsics.txt``.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(out_dir, what="real frames", replace=True) as tmp:
        K_small = _write_frames(source, indices, factor, tmp)
        np.savetxt(tmp / "camera-intrinsics.txt", K_small)
    return out_dir


def _write_frames(source: Any, indices: list[int], factor: int, tmp: Path) -> np.ndarray | None:
    from PIL import Image

    K_small = None
    for i in indices:
        frame = source.load(i)
        rgb, depth_m, K_small = subsample_frame(frame.rgb, frame.depth_m, frame.intrinsics.K, factor)
        stem = source.name(i)
        write_png16(tmp / f"{stem}.depth.png", depth_m, scale_per_m=1000.0)
        Image.fromarray(rgb).save(tmp / f"{stem}.color.png")
        np.savetxt(tmp / f"{stem}.pose.txt", frame.pose)
    return K_small


def _real_dir(study: Study) -> Path:
    return study.out_dir / "realdata"


def step_realdata_convert(study: Study) -> dict[str, Any]:
    """Subsample every n-th real frame to the study's size and convert it (simulated spots on real depth)."""
    from tofsim.config import ConvertConfig, resolve_sensor
    from tofsim.pipeline import convert

    source = _source(study)
    p = study.preset
    n = min(p.realdata_frames, len(source))
    stride = max(1, len(source) // n)
    indices = list(range(0, len(source), stride))[:n]
    frames_dir = _real_dir(study) / "frames"
    write_subsampled_frames(source, indices, frames_dir, p.subsample)
    out = _real_dir(study) / "dataset"
    shutil.rmtree(out, ignore_errors=True)  # a fresh conversion (the frames may have changed)
    config = ConvertConfig(seed=p.seed, sensor=resolve_sensor(p.sensor), kind="rgbd-folder", depth_scale_per_m=1000.0)
    convert(frames_dir, out, config=config, progress=lambda d, t: study.emit("step-progress", done=d, total=t))
    return {"source": str(study.realdata_path), "frames": [source.name(i) for i in indices], "dataset": str(out),
            "size_hw": [p.height_px, p.width_px], "subsample": p.subsample}  # fmt: skip


def make_realdata_predict_step(method: str) -> StepFn:
    """The step that predicts every converted real frame with `method`."""

    def step(study: Study) -> dict[str, Any]:
        _source(study)
        if read_marker(study, "realdata-convert") is None:
            raise StepSkipped("the real frames have not been converted")
        out = _real_dir(study) / "preds" / method
        return predict_method(study, method, _real_dir(study) / "dataset", out, split=None)

    step.__doc__ = f"Predict the real frames with {method}."
    return step


def step_realdata_score(study: Study) -> dict[str, Any]:
    """Score every method on the real frames (``realdata/scores``)."""
    from leaderboard.reproduce.outputs import available_methods, score_methods

    _source(study)
    if read_marker(study, "realdata-convert") is None:
        raise StepSkipped("the real frames have not been converted")
    done = available_methods(study, prefix="realdata-predict")
    return score_methods(study, _real_dir(study) / "dataset", done, _real_dir(study) / "scores")


def fuse_tsdf_mesh(
    frames: list[Any], *, voxel_m: float, depth_max_m: float = TSDF_DEPTH_MAX_M, min_weight: float = 3.0
) -> Any:
    """Fuse dense frames into a triangle mesh with Open3D's tensor ``VoxelBlockGrid`` TSDF.

    Args:
        frames: `tofsim.frame.DenseFrame`s with camera-to-world poses (metres).
        voxel_m: voxel size in metres (truncation distance: Open3D's default of 8 voxels).
        depth_max_m: depth beyond this is not integrated.
        min_weight: surface only where at least this many observations were fused (Open3D's default, 3,
            filters single-frame noise; 1 keeps surfaces seen once).

    Returns:
        An ``open3d.geometry.TriangleMesh`` (legacy, geometry only) in world metres.
    """
    import open3d as o3d
    import open3d.core as o3c

    grid = o3d.t.geometry.VoxelBlockGrid(
        attr_names=("tsdf", "weight"),
        attr_dtypes=(o3c.float32, o3c.float32),
        attr_channels=((1), (1)),
        voxel_size=float(voxel_m),
        block_resolution=16,
        block_count=TSDF_INITIAL_BLOCKS,  # the hash map grows as needed; a large count only preallocates memory
        device=o3c.Device("CPU:0"),
    )
    for frame in frames:
        depth = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(frame.depth_m, dtype=np.float32)))
        intrinsic = o3c.Tensor(frame.intrinsics.K, o3c.float64)
        extrinsic = o3c.Tensor(np.linalg.inv(frame.pose), o3c.float64)  # world -> camera
        blocks = grid.compute_unique_block_coordinates(depth, intrinsic, extrinsic, 1.0, depth_max_m)
        grid.integrate(blocks, depth, intrinsic, extrinsic, 1.0, depth_max_m)
    return grid.extract_triangle_mesh(weight_threshold=float(min_weight)).to_legacy()


def step_realdata_mesh(study: Study) -> dict[str, Any]:
    """Fuse the real frames not held out into a mesh, render it at the held-out poses, compare depths."""
    import open3d as o3d

    from tofsim.render import Renderer
    from tofsim.scene.mesh import load_mesh

    source = _source(study)
    p = study.preset
    every = p.mesh_holdout_every
    held = [i for i in range(len(source)) if i % every == every // 2]
    fused = [i for i in range(len(source)) if i % every != every // 2][:: p.mesh_fuse_stride]
    frames = []
    for k, i in enumerate(fused):
        frames.append(source.load(i))
        study.emit("step-progress", done=k + 1, total=len(fused) + len(held), detail="reading frames")
    mesh = fuse_tsdf_mesh(frames, voxel_m=p.mesh_voxel_m)
    if len(mesh.triangles) == 0:
        raise StepSkipped("the TSDF fusion produced an empty mesh")
    real = _real_dir(study)
    real.mkdir(parents=True, exist_ok=True)
    ply, tmp = real / "mesh.ply", real / ".mesh.tmp.ply"
    o3d.io.write_triangle_mesh(str(tmp), mesh)
    os.replace(tmp, ply)
    renderer = Renderer(load_mesh(ply))
    per_frame, all_dz, n_real = [], [], 0
    for k, i in enumerate(held):
        frame = source.load(i)
        rendered = renderer.render(frame.intrinsics, frame.pose)
        real_valid = frame.depth_m > 0
        both = real_valid & (rendered.depth_m > 0)
        dz = np.abs(rendered.depth_m[both].astype(np.float64) - frame.depth_m[both])
        n_real += int(real_valid.sum())
        all_dz.append(dz)
        per_frame.append({"frame": source.name(i), "median_abs_dz_m": float(np.median(dz)) if dz.size else None,
                          "pixels": int(both.sum())})  # fmt: skip
        study.emit("step-progress", done=len(fused) + k + 1, total=len(fused) + len(held), detail="rendering")
    dz_all = np.concatenate(all_dz) if all_dz else np.zeros(0)
    summary = {
        "mesh": str(ply),
        "voxel_m": p.mesh_voxel_m,
        "fused_frames": len(fused),
        "heldout_frames": len(held),
        "triangles": len(mesh.triangles),
        "median_abs_dz_m": float(np.median(dz_all)) if dz_all.size else None,
        "mean_abs_dz_m": float(dz_all.mean()) if dz_all.size else None,
        "compared_pixels": int(dz_all.size),
        "coverage": dz_all.size / n_real if n_real else 0.0,
        "per_frame": per_frame,
    }
    write_json(real / "mesh.json", summary, sort_keys=True, what="mesh comparison")
    return summary
