"""Renderer: analytic planes and box rooms, pixel convention, misses, normals, twins, a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest

from tofsim.camera import Intrinsics, ray_norm
from tofsim.errors import ShapeError
from tofsim.frame import DenseFrame
from tofsim.glass import split_glass
from tofsim.render import AMBIENT, Renderer, render
from tofsim.scene import Material, Scene, camera_pose, generate_room, sample_camera_poses

K_VGA = Intrinsics(fx_px=585.0, fy_px=585.0, cx_px=320.0, cy_px=240.0, width_px=640, height_px=480)
COLOUR = (200, 120, 40)


def quad_scene(corners, *, albedo=0.4, flip=False) -> Scene:
    """Two triangles over 4 corners (counter-clockwise seen from the side the normal points to)."""
    tri = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
    if flip:
        tri = tri[:, ::-1].copy()
    return Scene(
        vertices=np.asarray(corners, np.float32),
        triangles=tri,
        material_id=np.zeros(2, np.int32),
        materials=(Material(name="plane", albedo=albedo, color_rgb=COLOUR),),
        meta={"scene_id": "plane"},
    )


def plane_at_z(z_m: float, *, half_m: float = 50.0, flip=False, x_min_m: float | None = None) -> Scene:
    x0 = -half_m if x_min_m is None else x_min_m
    return quad_scene([[x0, -half_m, z_m], [half_m, -half_m, z_m], [half_m, half_m, z_m], [x0, half_m, z_m]], flip=flip)


def box_room(size_m=(4.0, 3.0, 2.5)) -> Scene:
    """Closed axis-aligned box [0, sx] x [0, sy] x [0, sz] with inward normals (6 faces, 12 triangles)."""
    sx, sy, sz = size_m
    v = np.array([[x, y, z] for x in (0, sx) for y in (0, sy) for z in (0, sz)], np.float32)  # index 4x + 2y + z
    quads = [(0, 4, 6, 2), (1, 3, 7, 5), (0, 1, 5, 4), (2, 6, 7, 3), (0, 2, 3, 1), (4, 5, 7, 6)]  # inward normals
    tri = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))], np.int32)
    mats = tuple(Material(name=f"face{i}", albedo=0.1 + 0.1 * i, color_rgb=(40 * i, 100, 200)) for i in range(6))
    return Scene(vertices=v, triangles=tri, material_id=np.repeat(np.arange(6), 2).astype(np.int32), materials=mats)


def test_plane_depth_is_z_and_range_is_z_times_ray_norm():
    frame = render(plane_at_z(3.0), K_VGA, np.eye(4))
    assert isinstance(frame, DenseFrame)
    assert frame.depth_m.dtype == np.float32 and frame.range_m.dtype == np.float32
    np.testing.assert_allclose(frame.depth_m, 3.0, atol=1e-5)
    np.testing.assert_allclose(frame.range_m, 3.0 * ray_norm(K_VGA), atol=1e-5)
    # Hand-computed corner: pixel (0, 0) is 320 px left and 240 px above the principal point.
    corner_norm = np.sqrt(1.0 + (320 / 585) ** 2 + (240 / 585) ** 2)
    assert frame.range_m[0, 0] - frame.depth_m[0, 0] == pytest.approx(3.0 * (corner_norm - 1.0), abs=1e-5)
    assert 0.6 < frame.range_m[0, 0] - frame.depth_m[0, 0] < 0.66  # z and range differ by ~0.6 m here
    assert frame.range_m[240, 320] == pytest.approx(3.0, abs=1e-6)  # the principal ray
    np.testing.assert_allclose(frame.albedo, 0.4, atol=1e-7)
    assert frame.meta["scene_id"] == "plane"


@pytest.mark.parametrize("flip", [False, True])
def test_plane_normals_face_the_camera_whatever_the_winding(flip):
    frame = render(plane_at_z(2.0, flip=flip), K_VGA, np.eye(4))
    np.testing.assert_allclose(frame.normals_cam, np.broadcast_to([0.0, 0.0, -1.0], (480, 640, 3)), atol=1e-6)


def test_lambertian_rgb_on_a_plane():
    frame = render(plane_at_z(2.0), K_VGA, np.eye(4))
    for v, u in [(240, 320), (0, 0), (479, 639), (100, 500)]:
        cos_incidence = 1.0 / np.sqrt(1.0 + ((u - 320) / 585) ** 2 + ((v - 240) / 585) ** 2)
        expected = np.array(COLOUR) * (AMBIENT + (1 - AMBIENT) * cos_incidence)
        np.testing.assert_allclose(frame.rgb[v, u].astype(float), expected, atol=1.0)
    assert frame.rgb[240, 320].tolist() == list(COLOUR)


def test_rotated_camera_against_analytic_plane():
    # A tilted plane n . X = d seen from a rotated, translated camera; t = (d - n . c) / (n . R d_cam) is z-depth.
    normal = np.array([0.2, -0.3, 1.0])
    normal /= np.linalg.norm(normal)
    offset = 4.0
    u_ax = np.cross(normal, [1.0, 0.0, 0.0])
    u_ax /= np.linalg.norm(u_ax)
    v_ax = np.cross(normal, u_ax)
    centre = normal * offset
    big = 100.0
    corners = [centre + big * (a * u_ax + b * v_ax) for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    pose = camera_pose([0.3, -0.2, 0.5], yaw_deg=80.0, pitch_deg=70.0, roll_deg=10.0)
    frame = render(quad_scene(corners), K_VGA, pose)
    v, u = np.mgrid[0:480, 0:640].astype(np.float64)
    d_cam = np.stack([(u - 320) / 585, (v - 240) / 585, np.ones_like(u)], -1)
    d_world = d_cam @ pose[:3, :3].T
    t = (offset - normal @ pose[:3, 3]) / (d_world @ normal)
    expected = np.where(t > 0, t, 0.0)
    assert (expected > 0).mean() > 0.5  # the plane fills most of the view
    np.testing.assert_allclose(frame.depth_m, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(frame.range_m, expected * np.linalg.norm(d_cam, axis=-1), rtol=1e-5, atol=1e-5)
    n_cam = pose[:3, :3].T @ (-normal if normal @ pose[:3, 3] < offset else normal)
    np.testing.assert_allclose(frame.normals_cam[expected > 0], np.broadcast_to(n_cam, (int((expected > 0).sum()), 3)),
                               atol=1e-5)  # fmt: skip


def test_misses_are_zero_everywhere():
    # Every ray points downwards (pitch -60 deg, half vertical field of view 22 deg); the plane is above.
    frame = render(plane_at_z(2.0), K_VGA, camera_pose([0, 0, 0], yaw_deg=0.0, pitch_deg=-60.0))
    for arr in (frame.depth_m, frame.range_m, frame.albedo, frame.rgb, frame.normals_cam):
        assert not arr.any()


def test_pixel_centres_are_at_integer_coordinates():
    # The plane starts at x = 1 mm at z = 2 m. Column 320 (ray x = 0) misses; column 321 (x = 3.4 mm) hits.
    # With half-integer pixel centres (Open3D's create_rays_pinhole) column 320 would hit (x = 1.7 mm).
    frame = render(plane_at_z(2.0, x_min_m=0.001), K_VGA, np.eye(4))
    assert not frame.depth_m[:, :321].any()
    assert frame.depth_m[:, 321:].all()


def test_box_room_wall_distances_and_cast_rays():
    room = box_room()
    r = Renderer(room)
    origin = np.array([1.0, 1.0, 1.2])
    dirs = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1], [2, 0, 0]], np.float32)
    ans = r.cast_rays(np.tile(origin, (len(dirs), 1)), dirs)
    np.testing.assert_allclose(ans["t_hit"], [3.0, 1.0, 2.0, 1.0, 1.3, 1.2, 1.5], atol=1e-5)
    np.testing.assert_allclose(ans["normals"], -dirs / np.linalg.norm(dirs, axis=1, keepdims=True), atol=1e-6)
    assert ans["hit"].all() and ans["front_face"].all()  # inward-wound walls seen from inside
    assert ans["material_id"].tolist() == [5, 4, 3, 2, 1, 0, 5]
    np.testing.assert_allclose(ans["albedo"], [room.materials[m].albedo for m in ans["material_id"]], atol=1e-7)
    out = r.cast_rays([[10.0, 10.0, 10.0]], [[1.0, 0.0, 0.0]])  # outside, pointing away
    assert np.isinf(out["t_hit"][0]) and not out["hit"][0]
    assert out["triangle_id"][0] == -1 and out["material_id"][0] == -1 and out["albedo"][0] == 0
    assert not out["normals"].any() and not out["rgb"].any()
    back = r.cast_rays([[-1.0, 1.0, 1.0]], [[1.0, 0.0, 0.0]])  # from outside the -x wall: its back face
    assert back["hit"][0] and not back["front_face"][0] and back["t_hit"][0] == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(r.distance_m(origin[None]), [1.0], atol=1e-5)


def test_box_room_frame_fully_hit():
    frame = render(box_room(), K_VGA, camera_pose([2.0, 1.5, 1.2], yaw_deg=0.0))
    assert frame.valid.all()
    # Looking along +x from x = 2 at the far wall x = 4: the principal pixel's z-depth is 2 m.
    assert frame.depth_m[240, 320] == pytest.approx(2.0, abs=1e-5)
    # Every pixel's hit point lies on the box.
    pts = frame.pose[:3, :3] @ (np.stack([(np.arange(640) - 320) / 585.0, np.zeros(640), np.ones(640)]) *
                                frame.depth_m[240]) + frame.pose[:3, 3:4]  # fmt: skip
    on_face = (
        np.isclose(pts[0], 4.0, atol=1e-4) | np.isclose(pts[1], 0.0, atol=1e-4) | np.isclose(pts[1], 3.0, atol=1e-4)
    )
    assert on_face.all()


def test_function_and_object_twins_agree(rng):
    room = generate_room(rng=rng)
    pose = sample_camera_poses(room, K_VGA, 1, rng=rng)[0]
    a = render(room, K_VGA, pose)
    b = Renderer(room).render(K_VGA, pose)
    for name in ("rgb", "depth_m", "range_m", "albedo", "normals_cam"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_per_triangle_and_per_pixel_shading_paths_agree(rng):
    room = generate_room(rng=rng)
    fast = Renderer(room)
    slow = Renderer(room)
    slow._per_triangle_max = 0  # force the per-pixel path used for huge meshes
    for pose in sample_camera_poses(room, K_VGA, 2, rng=rng, renderer=fast):
        a, b = fast.render(K_VGA, pose), slow.render(K_VGA, pose)
        np.testing.assert_array_equal(a.depth_m, b.depth_m)
        # float32 normals of mm-thin triangles (cables, stems, leaves) differ by a few 1e-5 between the paths
        np.testing.assert_allclose(a.normals_cam, b.normals_cam, atol=2e-4)
        assert np.abs(a.rgb.astype(int) - b.rgb.astype(int)).max() <= 1


def test_concurrent_renders_match_serial_ones(rng):
    from concurrent.futures import ThreadPoolExecutor

    room = generate_room(rng=rng)
    renderer = Renderer(room)
    poses = sample_camera_poses(room, K_VGA, 4, rng=rng, renderer=renderer)
    serial = [renderer.render(K_VGA, p) for p in poses]
    with ThreadPoolExecutor(2) as pool:
        parallel = list(pool.map(lambda p: renderer.render(K_VGA, p), list(poses) * 2))
    for i, frame in enumerate(parallel):
        ref = serial[i % 4]
        for name in ("rgb", "depth_m", "range_m", "albedo", "normals_cam"):
            np.testing.assert_array_equal(getattr(frame, name), getattr(ref, name))


def _brute_force_t(origin, dirs, tris):
    """Moeller-Trumbore over every triangle in float64: nearest t per ray (inf on a miss)."""
    v0, e1, e2 = tris[:, 0], tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]
    best = np.full(len(dirs), np.inf)
    for i, d in enumerate(dirs):
        p = np.cross(d, e2)
        det = np.einsum("ij,ij->i", e1, p)
        ok = np.abs(det) > 1e-12
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        s = origin - v0
        u = np.einsum("ij,ij->i", s, p) * inv
        q = np.cross(s, e1)
        v = (q @ d) * inv
        t = np.einsum("ij,ij->i", e2, q) * inv
        hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-9)
        if hit.any():
            best[i] = t[hit].min()
    return best


def test_room_depth_matches_brute_force_intersection():
    room = generate_room(rng=np.random.default_rng(3))
    rng = np.random.default_rng(5)
    pose = sample_camera_poses(room, K_VGA, 1, rng=rng)[0]
    frame = render(room, K_VGA, pose)
    us, vs = rng.integers(0, 640, 40), rng.integers(0, 480, 40)
    d_cam = np.stack([(us - 320) / 585.0, (vs - 240) / 585.0, np.ones(40)], 1)
    opaque, _ = split_glass(room)  # the ground truth sees through window panes
    t = _brute_force_t(pose[:3, 3], d_cam @ pose[:3, :3].T, opaque.vertices[opaque.triangles].astype(np.float64))
    np.testing.assert_allclose(frame.depth_m[vs, us], np.where(np.isfinite(t), t, 0.0), rtol=1e-5, atol=1e-5)


def test_bad_poses_and_empty_scene_raise():
    r = Renderer(plane_at_z(2.0))
    with pytest.raises(ShapeError, match="pose"):
        r.render(K_VGA, np.full((4, 4), np.nan))
    with pytest.raises(ShapeError, match="rotation"):
        r.render(K_VGA, np.diag([2.0, 1.0, 1.0, 1.0]))
    with pytest.raises(ShapeError, match=r"pose: expected shape \(4, 4\)"):
        r.render(K_VGA, np.eye(3))
    with pytest.raises(ShapeError, match="origins_world"):
        r.cast_rays(np.zeros((2, 2)), np.zeros((2, 3)))
    material = Material(name="m", albedo=0.5, color_rgb=(1, 2, 3))
    empty = Scene(
        vertices=np.zeros((0, 3)),
        triangles=np.zeros((0, 3), np.int32),
        material_id=np.zeros(0, np.int32),
        materials=(material,),
    )
    with pytest.raises(ShapeError, match="no triangles"):
        Renderer(empty)


def test_scene_validation():
    with pytest.raises(ShapeError, match="triangles"):
        Scene(vertices=np.zeros((3, 3)), triangles=np.array([[0, 1, 3]], np.int32), material_id=np.zeros(1, np.int32),
              materials=(Material(name="m", albedo=0.5, color_rgb=(1, 2, 3)),))  # fmt: skip
    with pytest.raises(ShapeError, match="albedo"):
        Material(name="m", albedo=1.5, color_rgb=(1, 2, 3))
    with pytest.raises(ShapeError, match="texture"):
        Material(name="m", albedo=0.5, color_rgb=(1, 2, 3), texture="marble")


def test_render_kernels_match_numpy_expressions(rng):
    """The numba ray and shading kernels against the NumPy expressions they replace."""
    from tofsim.render_kernels import in_halves, make_rays, shade_pixels

    n, n_tri = 1001, 7
    dirs = np.column_stack([rng.uniform(-0.6, 0.6, (n, 2)), np.ones(n)]).astype(np.float32)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rot_t, centre = q.T.astype(np.float32), rng.normal(size=3).astype(np.float32)
    rays = np.empty((n, 6), np.float32)
    in_halves(lambda a, b: make_rays(dirs[a:b], rot_t, centre, rays[a:b]), n)
    np.testing.assert_array_equal(rays[:, :3], np.broadcast_to(centre, (n, 3)))
    np.testing.assert_allclose(rays[:, 3:], dirs.astype(np.float64) @ rot_t.astype(np.float64), atol=1e-6)

    tri = rng.integers(0, n_tri + 1, n).astype(np.uint32)  # n_tri = a miss
    t_hit = np.where(tri < n_tri, rng.uniform(0.2, 8.0, n), np.inf).astype(np.float32)
    ray_norm = np.linalg.norm(dirs, axis=1).astype(np.float32)

    def table(cols, scale=1.0):  # one row per triangle plus the all-zero row misses use
        return np.vstack([scale * rng.uniform(0, 1, (n_tri, cols)), np.zeros((1, cols))]).astype(np.float32)

    normals_tab, rgb_tab = table(3), table(3, 255.0)
    cos_tab, albedo_tab = table(1, 3.0).ravel(), table(1).ravel()
    ambient = np.float32(0.25)
    out = [np.empty(n, np.float32), np.empty(n, np.float32), np.empty((n, 3), np.float32)]
    out += [np.empty((n, 3), np.uint8), np.empty(n, np.float32)]
    no_patterns = (np.zeros((n, 6), np.float32), normals_tab, np.zeros(n_tri + 1, np.int32), np.zeros(1, np.int32),
                   np.zeros(1, np.int64), np.zeros((1, 8)), np.zeros(n_tri + 1, np.float32))  # fmt: skip
    shade_pixels(t_hit, tri, n_tri, ray_norm, normals_tab, cos_tab, rgb_tab, albedo_tab, ambient,
                 np.float32(1 - ambient), no_patterns, *out)  # fmt: skip
    depth, range_, normals, rgb, albedo = out
    hit = tri < n_tri
    np.testing.assert_array_equal(depth, np.where(hit, t_hit, 0))
    np.testing.assert_array_equal(range_, depth * ray_norm)
    with np.errstate(divide="ignore", invalid="ignore"):
        shade = np.where(hit, cos_tab[tri] / range_, 0).astype(np.float32)
    shade = np.minimum(shade, np.float32(1)) * np.float32(1 - ambient) + ambient
    np.testing.assert_array_equal(rgb, (rgb_tab[tri] * shade[:, None]).astype(np.uint8))
    np.testing.assert_array_equal(normals, normals_tab[tri])
    np.testing.assert_array_equal(albedo, albedo_tab[tri])
    assert (rgb[~hit] == 0).all() and (depth[~hit] == 0).all()
