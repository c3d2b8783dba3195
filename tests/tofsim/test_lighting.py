"""Lights with shadows: an analytic occluder, a per-pixel brute-force reference, threads, seeded placement."""

from __future__ import annotations

import numpy as np
import pytest

from tofsim.camera import Intrinsics
from tofsim.lighting import D_REF_M, MAX_LIGHT, SHADOW_OFFSET_M
from tofsim.render import AMBIENT, Renderer
from tofsim.rng import sample_rng
from tofsim.scene import Material, Scene, generate_room
from tofsim.scene.procedural import RoomConfig

K = Intrinsics(fx_px=300.0, fy_px=300.0, cx_px=160.0, cy_px=120.0, width_px=320, height_px=240)
COLOUR = (200, 160, 120)
LIGHT = (1.5, 0.0, 2.0)
LOOK_DOWN = np.eye(4)
LOOK_DOWN[:3, :3] = [[1, 0, 0], [0, -1, 0], [0, 0, -1]]  # OpenCV camera looking along world -z
LOOK_DOWN[:3, 3] = [0.0, 0.0, 3.0]


def floor_with_occluder(lights=(LIGHT,)) -> Scene:
    """Floor z = 0 (normal up) and a 0.4 m square at z = 1 (both sides) whose shadow falls on x in [-1.9, -1.1]."""
    f, o = 20.0, 0.2
    v = [[-f, -f, 0], [f, -f, 0], [f, f, 0], [-f, f, 0], [-o, -o, 1], [o, -o, 1], [o, o, 1], [-o, o, 1]]
    tri = [[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7], [4, 6, 5], [4, 7, 6]]
    return Scene(
        vertices=np.array(v, float),
        triangles=np.array(tri, np.int32),
        material_id=np.zeros(6, np.int32),
        materials=(Material(name="m", albedo=0.5, color_rgb=COLOUR),),
        meta={"lights": [{"kind": "ceiling", "position_m": list(LIGHT), "intensity": 1.0} for LIGHT in lights]},
    )


def pixel_of(x: float, y: float) -> tuple[int, int]:
    """(row, col) of floor point (x, y, 0) seen from LOOK_DOWN."""
    return int(round(K.cy_px - K.fy_px * y / 3.0)), int(round(K.cx_px + K.fx_px * x / 3.0))


def light_term(p, normal=(0.0, 0.0, 1.0), light=LIGHT) -> float:
    to = np.asarray(light) - p
    d2 = float(to @ to)
    return float(np.dot(normal, to) / np.sqrt(d2)) * D_REF_M**2 / (d2 + D_REF_M**2)


def test_a_point_in_shadow_is_darker_than_a_lit_one():
    frame = Renderer(floor_with_occluder()).render(K, LOOK_DOWN)
    shadowed, lit = pixel_of(-1.4, 0.0), pixel_of(1.4, 0.0)
    assert (frame.rgb[shadowed] < frame.rgb[lit]).all()
    # In the shadow only the ambient term is left; in the light the analytic term.
    np.testing.assert_allclose(frame.rgb[shadowed], np.array(COLOUR) * AMBIENT, atol=1.0)
    w = min(light_term(np.array([1.4, 0.0, 0.0])), MAX_LIGHT)
    np.testing.assert_allclose(frame.rgb[lit], np.array(COLOUR) * (AMBIENT + (1 - AMBIENT) * w), atol=1.5)
    # The same floor point without the occluder's shadow (light on the other side) is lit.
    mirrored = Renderer(floor_with_occluder(lights=((-1.5, 0.0, 2.0),))).render(K, LOOK_DOWN)
    assert (mirrored.rgb[shadowed] > frame.rgb[shadowed] + 20).all()
    # Depth and NIR albedo do not depend on the lights.
    headlight = Renderer(floor_with_occluder(), lights=False).render(K, LOOK_DOWN)
    np.testing.assert_array_equal(frame.depth_m, headlight.depth_m)
    np.testing.assert_array_equal(frame.albedo, headlight.albedo)


def brute_force_rgb(renderer: Renderer, frame, pose) -> np.ndarray:
    """Per-pixel float64 reference: one shadow ray per pixel and light through `Renderer.cast_rays`."""
    v, u = np.mgrid[0 : K.height_px, 0 : K.width_px]
    d_cam = np.stack([(u - K.cx_px) / K.fx_px, (v - K.cy_px) / K.fy_px, np.ones(u.shape)], -1).reshape(-1, 3)
    rot, centre = pose[:3, :3], pose[:3, 3]
    hit = frame.depth_m.ravel() > 0
    p = centre + (d_cam * frame.depth_m.reshape(-1, 1)) @ rot.T
    n = frame.normals_cam.reshape(-1, 3).astype(np.float64) @ rot.T
    total = np.zeros(len(p))
    for light in renderer.scene.meta["lights"]:
        pos, intensity = np.asarray(light["position_m"]), light["intensity"]
        to = pos - p
        d2 = np.einsum("ij,ij->i", to, to)
        cos = np.einsum("ij,ij->i", n, to) / np.sqrt(d2)
        origin = p + SHADOW_OFFSET_M * n
        t = renderer.cast_rays(origin[hit], (pos - origin)[hit])["t_hit"]
        visible = np.zeros(len(p), bool)
        visible[hit] = t >= 1.0
        total += np.where(hit & (cos > 0) & visible, intensity * cos * D_REF_M**2 / (d2 + D_REF_M**2), 0.0)
    base = frame.rgb.reshape(-1, 3) * 0.0 + np.asarray(renderer.scene.materials[0].color_rgb, float)
    shade = AMBIENT + (1 - AMBIENT) * np.minimum(total, MAX_LIGHT)
    return np.where(hit[:, None], np.floor(base * shade[:, None] + 0.5), 0).reshape(frame.rgb.shape)


@pytest.mark.parametrize("x_m", [0.0, -0.6])
def test_lit_render_matches_a_per_pixel_brute_force_reference(x_m):
    scene = floor_with_occluder(lights=(LIGHT, (-0.5, 1.0, 2.5)))
    renderer = Renderer(scene)
    pose = LOOK_DOWN.copy()
    pose[0, 3] = x_m
    frame = renderer.render(K, pose)
    expected = brute_force_rgb(renderer, frame, pose)
    close = np.abs(frame.rgb.astype(float) - expected).max(-1) <= 2
    # Shadow edges differ: the renderer interpolates the light term of every other pixel (a 2-pixel penumbra).
    assert close.mean() > 0.97
    assert (np.abs(frame.rgb.astype(float) - expected).max(-1) <= 2 + 255 * (1 - AMBIENT)).all()


def test_lit_rooms_render_the_same_on_one_thread_and_on_two(monkeypatch):
    cfg = RoomConfig(light_count_range=(2, 3))
    room = generate_room(cfg, rng=sample_rng(3, 0, "scene"))
    assert 2 <= len(room.meta["lights"]) <= 3
    pose = np.eye(4)
    pose[:3, :3] = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]  # looking along +y, level
    pose[:3, 3] = [0.0, 0.0, 1.4]
    two = Renderer(room).render(K, pose)
    import tofsim.render_kernels

    monkeypatch.setattr(tofsim.render_kernels, "thread_budget", lambda: 1)
    one = Renderer(room).render(K, pose)
    np.testing.assert_array_equal(one.rgb, two.rgb)
    unlit = Renderer(room, lights=False).render(K, pose)
    assert (one.rgb != unlit.rgb).any()


def test_lights_are_seeded_inside_the_room_and_leave_the_geometry_unchanged():
    lit = generate_room(RoomConfig(light_count_range=(1, 3)), rng=sample_rng(8, 0, "scene"))
    dark = generate_room(RoomConfig(light_count_range=(0, 0)), rng=sample_rng(8, 0, "scene"))
    again = generate_room(RoomConfig(light_count_range=(1, 3)), rng=sample_rng(8, 0, "scene"))
    np.testing.assert_array_equal(lit.vertices, dark.vertices)
    np.testing.assert_array_equal(lit.face_rgb, dark.face_rgb)
    assert dark.meta["lights"] == [] and lit.meta["lights"] == again.meta["lights"]
    assert 1 <= len(lit.meta["lights"]) <= 3
    for light in lit.meta["lights"]:
        if light["kind"] == "ceiling":
            assert 0 < light["position_m"][2] < lit.meta["height_m"]
    default = generate_room(rng=sample_rng(8, 0, "scene"))
    assert default.meta["lights"] == lit.meta["lights"]  # RoomConfig's default: 1-3 lights
