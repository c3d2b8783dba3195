"""The raster renderer (`tofsim.raster`): agreement with the raycast, analytic scenes, determinism, fallback."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import tofsim.raster
from tofsim.camera import Intrinsics
from tofsim.cli import app
from tofsim.config import GenerateConfig, get_generate_preset
from tofsim.errors import ConfigError, RasterFallbackWarning
from tofsim.render import Renderer
from tofsim.rng import sample_rng
from tofsim.scene import Material, Scene, camera_pose, generate_room, sample_camera_poses

K_VGA = Intrinsics(fx_px=585.0, fy_px=585.0, cx_px=320.0, cy_px=240.0, width_px=640, height_px=480)
MAPS = ("depth_m", "range_m", "normals_cam", "albedo", "rgb")


def quad_scene(corners: list[list[float]]) -> Scene:
    return Scene(
        vertices=np.asarray(corners, np.float32),
        triangles=np.array([[0, 1, 2], [0, 2, 3]], np.int32),
        material_id=np.zeros(2, np.int32),
        materials=(Material(name="plane", albedo=0.4, color_rgb=(200, 120, 40)),),
        meta={"scene_id": "plane"},
    )


def box_room(size_m: tuple[float, float, float] = (4.0, 3.0, 2.5)) -> Scene:
    """Closed box [0, sx] x [0, sy] x [0, sz] (12 triangles): a camera inside sees faces reaching behind it."""
    sx, sy, sz = size_m
    v = np.array([[x, y, z] for x in (0, sx) for y in (0, sy) for z in (0, sz)], np.float32)
    quads = [(0, 4, 6, 2), (1, 3, 7, 5), (0, 1, 5, 4), (2, 6, 7, 3), (0, 2, 3, 1), (4, 5, 7, 6)]
    tri = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))], np.int32)
    mats = tuple(Material(name=f"face{i}", albedo=0.1 + 0.1 * i, color_rgb=(40 * i, 100, 200)) for i in range(6))
    return Scene(vertices=v, triangles=tri, material_id=np.repeat(np.arange(6), 2).astype(np.int32), materials=mats)


def silhouette(depth_m: np.ndarray, jump_m: float = 0.05) -> np.ndarray:
    """(H, W) bool: pixels whose 3 x 3 neighbourhood holds a hit and a miss, or a depth jump over `jump_m`."""
    pad = np.pad(depth_m, 1, mode="edge")
    h, w = depth_m.shape
    near = np.stack([pad[i : i + h, j : j + w] for i in range(3) for j in range(3)])
    hit = near > 0
    mixed = hit.any(0) & ~hit.all(0)
    return mixed | (np.where(hit, near, np.inf).min(0) < np.where(hit, near, -np.inf).max(0) - jump_m)


def agreement(scene: Scene, intr: Intrinsics, poses: np.ndarray) -> dict[str, int]:
    """Pixel counts of raster vs raycast over `poses` (one raycast and one raster Renderer)."""
    ray, ras = Renderer(scene), Renderer(scene, dense="raster")
    assert ras.dense == "raster"
    counts = dict.fromkeys(("pixels", "both_hit", "depth_off_1mm", "validity_differs", "validity_off_silhouette"), 0)
    for pose in poses:
        a, b = ray.render(intr, pose), ras.render(intr, pose)
        hit_a, hit_b = a.depth_m > 0, b.depth_m > 0
        both = hit_a & hit_b
        differs = hit_a != hit_b
        counts["pixels"] += hit_a.size
        counts["both_hit"] += int(both.sum())
        counts["depth_off_1mm"] += int((np.abs(a.depth_m - b.depth_m)[both] > 1e-3).sum())
        counts["validity_differs"] += int(differs.sum())
        counts["validity_off_silhouette"] += int((differs & ~silhouette(a.depth_m)).sum())
    return counts


def assert_agrees(counts: dict[str, int]) -> None:
    assert counts["depth_off_1mm"] <= 1e-3 * counts["pixels"], f"depth off by > 1 mm: {counts}"
    assert counts["validity_off_silhouette"] == 0, f"validity differs away from silhouettes: {counts}"
    assert counts["validity_differs"] <= 1e-3 * counts["pixels"], f"validity differs: {counts}"


# ------------------------------------------------------------------------------------------------ agreement


@pytest.mark.parametrize("seed", [0, 1])
def test_procedural_rooms_agree_with_the_raycast(seed):
    cfg = get_generate_preset("sds")
    intr = cfg.camera.intrinsics()
    scene = generate_room(cfg.room, rng=sample_rng(seed, 0, "scene"))
    poses = sample_camera_poses(scene, intr, 3, rng=sample_rng(seed, 0, "camera"))
    assert_agrees(agreement(scene, intr, poses))


def test_plane_depth_is_exact_and_matches_the_raycast():
    scene = quad_scene([[-50, -50, 3.0], [50, -50, 3.0], [50, 50, 3.0], [-50, 50, 3.0]])
    frame = Renderer(scene, dense="raster").render(K_VGA, np.eye(4))
    np.testing.assert_allclose(frame.depth_m, 3.0, atol=1e-6)
    assert_agrees(agreement(scene, K_VGA, np.eye(4)[None]))


def test_plane_edge_and_tilted_plane_agree():
    """A silhouette through the image (x >= 0.5 m) and a plane slanted 60 deg from the view direction."""
    edge = quad_scene([[0.5, -50, 3.0], [50, -50, 3.0], [50, 50, 3.0], [0.5, 50, 3.0]])
    counts = agreement(edge, K_VGA, np.eye(4)[None])
    assert counts["both_hit"] > 0.3 * counts["pixels"]
    assert_agrees(counts)
    tilted = quad_scene([[-50, -5, -25.0], [50, -5, -25.0], [50, 5, 35.0], [-50, 5, 35.0]])
    assert_agrees(agreement(tilted, K_VGA, np.eye(4)[None]))


def test_inside_a_box_room_faces_behind_the_camera_are_clipped_right():
    scene = box_room()
    centre = np.array([2.0, 1.5, 1.2])
    poses = np.stack([camera_pose(centre, yaw_deg=y, pitch_deg=p) for y, p in ((0, 0), (37, -30), (200, 60))])
    counts = agreement(scene, K_VGA, poses)
    assert counts["both_hit"] == counts["pixels"], counts  # a closed room: every pixel hits in both
    assert_agrees(counts)


# ------------------------------------------------------------------------------------------------ determinism


def shard_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.h5"))}


def test_generate_with_raster_is_bit_identical_and_differs_from_raycast_only_in_rounding(tmp_path):
    args = ["generate", "--preset", "sds", "--frames", "4", "--frames-per-scene", "2", "--shard-size", "2",
            "--seed", "11", "--width", "160", "--height", "120", "--quiet"]  # fmt: skip
    runner = CliRunner()
    for name in ("a", "b"):
        result = runner.invoke(app, [*args, "--renderer", "raster", "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    assert shard_hashes(tmp_path / "a") == shard_hashes(tmp_path / "b") != {}
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "raycast")])
    assert result.exit_code == 0, result.output
    import json

    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["config"]["renderer"] == "raster"
    assert "renderer" not in json.loads((tmp_path / "raycast" / "manifest.json").read_text())["config"]


@pytest.mark.slow
def test_raster_dataset_is_the_same_with_two_dask_workers(tmp_path):
    from tofsim.pipeline import generate

    cfg = get_generate_preset("sds").replace(n_frames=4, frames_per_scene=2, shard_size=2, seed=5, renderer="raster")
    cfg = cfg.replace(camera=cfg.camera.__class__(width_px=160, height_px=120, fx_px=146.25, fy_px=146.25))
    assert shard_hashes(generate(cfg, tmp_path / "w2", workers=2)) == shard_hashes(generate(cfg, tmp_path / "local"))


# ------------------------------------------------------------------------------------------------ config, fallback


def test_config_key_and_bad_name():
    assert "renderer" not in GenerateConfig().to_dict()  # old datasets keep their config hash
    assert GenerateConfig(renderer="raster").to_dict()["renderer"] == "raster"
    with pytest.raises(ConfigError, match="renderer"):
        GenerateConfig(renderer="opengl")
    with pytest.raises(ConfigError, match="renderer"):
        Renderer(box_room(), dense="opengl")


def test_too_many_triangles_falls_back_to_raycast_with_one_warning(monkeypatch):
    monkeypatch.setattr(tofsim.raster, "MAX_TRIANGLES", 11)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        renderer = Renderer(box_room(), dense="raster")
    fallback = [w for w in caught if issubclass(w.category, RasterFallbackWarning)]
    assert len(fallback) == 1 and "12 triangles" in str(fallback[0].message)
    assert "\n" not in str(fallback[0].message)
    assert renderer.dense == "raycast"
    frame = renderer.render(K_VGA, camera_pose(np.array([2.0, 1.5, 1.2]), yaw_deg=10.0))
    assert (frame.depth_m > 0).all()


def test_huge_coordinates_fall_back():
    far = quad_scene([[-1e6, -50, 3.0], [50, -50, 3.0], [50, 50, 3.0], [-50, 50, 3.0]])
    with pytest.warns(RasterFallbackWarning, match="coordinates"):
        assert Renderer(far, dense="raster").dense == "raycast"


def test_cli_prints_the_fallback_as_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(tofsim.raster, "MAX_TRIANGLES", 10)
    result = CliRunner().invoke(app, [
        "generate", "--preset", "sds", "--frames", "1", "--width", "80", "--height", "60", "--renderer", "raster",
        "--quiet", "--out", str(tmp_path / "ds"),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "raycasting instead of rasterising" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: "), result.output
