"""Per-pixel patterns: colour edges without depth edges, references, determinism, NIR albedo, seeded materials."""

from __future__ import annotations

import numpy as np
import pytest

from tofsim.camera import Intrinsics
from tofsim.errors import ShapeError
from tofsim.render import AMBIENT, Renderer
from tofsim.rng import sample_rng
from tofsim.scene import Material, Scene, generate_room
from tofsim.scene.materials import PATTERN_OF_NAME, make_material, make_pattern
from tofsim.scene.types import PATTERN_KINDS, Pattern
from tofsim.textures import surface_uv, texel

K = Intrinsics(fx_px=300.0, fy_px=300.0, cx_px=160.0, cy_px=120.0, width_px=320, height_px=240)
BASE = (180, 140, 100)
ACCENT = (40, 60, 150)


def plane(pattern: Pattern, *, z_m: float = 2.0, half_m: float = 20.0, albedo: float = 0.5) -> Scene:
    """A square at z = z_m facing a camera at the origin that looks along +z (the identity pose)."""
    v = np.array([[-half_m, -half_m, z_m], [half_m, -half_m, z_m], [half_m, half_m, z_m], [-half_m, half_m, z_m]])
    return Scene(
        vertices=v,
        triangles=np.array([[0, 2, 1], [0, 3, 2]], np.int32),
        material_id=np.zeros(2, np.int32),
        materials=(Material(name="p", albedo=albedo, color_rgb=BASE, pattern=pattern),),
    )


def colour_edges(rgb: np.ndarray, step: int = 1, threshold: int = 30) -> float:
    """Fraction of pixels whose colour differs from the pixel `step` to the right or below by > threshold."""
    a = rgb.astype(int)
    dx = np.abs(a[:, step:] - a[:, :-step]).max(-1)[:-step] > threshold
    dy = np.abs(a[step:] - a[:-step]).max(-1)[:, :-step] > threshold
    return float((dx | dy).mean())


def depth_edges(depth: np.ndarray) -> float:
    """Fraction of pixels with a relative depth jump > 5 % over 2 px (the realism tool's definition)."""
    jx = np.abs(depth[:, 2:] - depth[:, :-2]) / depth[:, 1:-1] > 0.05
    jy = np.abs(depth[2:] - depth[:-2]) / depth[1:-1] > 0.05
    return float(jx[1:-1].mean() + jy[:, 1:-1].mean())


STRONG = {
    "wood": Pattern(kind="wood", scale_m=0.15, contrast=0.15, line_m=0.004, seed=3),
    "tiles": Pattern(kind="tiles", scale_m=0.2, accent_rgb=ACCENT, line_m=0.01, seed=3),
    "fabric": Pattern(kind="fabric", scale_m=0.08, accent_rgb=ACCENT, variant=1, seed=3),
    "poster": Pattern(kind="poster", scale_m=0.1, seed=3),
    "stripes": Pattern(kind="stripes", scale_m=0.1, accent_rgb=ACCENT, seed=3),
    "books": Pattern(kind="books", scale_m=0.03, accent_rgb=ACCENT, seed=3),
}


@pytest.mark.parametrize("kind", sorted(STRONG))
def test_a_patterned_plane_has_many_colour_edges_and_no_depth_edge(kind):
    frame = Renderer(plane(STRONG[kind])).render(K, np.eye(4))
    assert depth_edges(frame.depth_m) == 0.0
    assert colour_edges(frame.rgb) > 0.02, kind
    flat = Renderer(plane(Pattern())).render(K, np.eye(4))
    assert colour_edges(flat.rgb) == 0.0


@pytest.mark.parametrize("kind", [k for k in PATTERN_KINDS if k != "none"])
def test_every_pattern_kind_varies_the_colour_and_mildly_the_albedo(kind):
    pattern = STRONG.get(kind, Pattern(kind=kind, scale_m=0.05, contrast=0.3, accent_rgb=ACCENT, seed=5))
    frame = Renderer(plane(pattern, albedo=0.5)).render(K, np.eye(4))
    lum = frame.rgb.astype(float) @ [0.3, 0.59, 0.11]
    assert lum.std() > 1.0
    assert frame.albedo.std() > 0.0
    # Mild: the NIR albedo stays within a factor 0.3-2 of the material's and is at most 1.
    assert 0.15 <= frame.albedo.min() and frame.albedo.max() <= 1.0
    assert abs(float(np.median(frame.albedo)) - 0.5) < 0.2


def test_kernel_matches_a_numpy_reference_for_stripes_and_tiles():
    """Independent float64 reference: hit point from the pixel grid, the stripe or grout rule, the headlight."""
    v, u = np.mgrid[0 : K.height_px, 0 : K.width_px].astype(np.float64)
    x, y = (u - K.cx_px) / K.fx_px * 2.0, (v - K.cy_px) / K.fy_px * 2.0  # hit point on the plane z = 2
    ray_norm = np.sqrt(((u - K.cx_px) / K.fx_px) ** 2 + ((v - K.cy_px) / K.fy_px) ** 2 + 1.0)
    shade = (1.0 / ray_norm) * (1 - AMBIENT) + AMBIENT
    s, line = 0.1, 0.01
    for pattern, accent_where, near_edge in [
        (Pattern(kind="stripes", scale_m=s, contrast=0.0, line_m=line, accent_rgb=ACCENT), None, None),
        (Pattern(kind="tiles", scale_m=s, contrast=0.0, line_m=line, accent_rgb=ACCENT), None, None),
    ]:
        fu, fv = x / s - np.floor(x / s), y / s - np.floor(y / s)
        if pattern.kind == "stripes":
            accent_where = fu < 0.5
            near_edge = np.minimum.reduce([np.abs(fu), np.abs(fu - 0.5), np.abs(fu - 0.5 - line / s), np.abs(1 - fu)])
        else:
            accent_where = (fu * s < line) | (fv * s < line)
            near_edge = np.minimum.reduce([fu, np.abs(fu - line / s), 1 - fu, fv, np.abs(fv - line / s), 1 - fv])
        colour = np.where(accent_where[..., None], ACCENT, BASE).astype(float)
        expected = np.floor(colour * shade[..., None])
        rgb = Renderer(plane(pattern)).render(K, np.eye(4)).rgb.astype(float)
        ok = near_edge > 1e-4  # float32 hit points may fall on the other side of an edge
        assert ok.mean() > 0.8  # (every 15th column lies on a stripe edge here)
        assert np.abs(rgb[ok] - expected[ok]).max() <= 1.0, pattern.kind


@pytest.mark.parametrize("kind", [k for k in PATTERN_KINDS if k != "none"])
def test_render_matches_texel_called_per_pixel_in_python(kind):
    """The kernel plumbing (hit point, surface coordinates, tables, shading) against the Python function."""
    pattern = Pattern(kind=kind, scale_m=0.0713, contrast=0.25, accent_rgb=ACCENT, variant=1, seed=11)
    scene = plane(pattern, z_m=1.5)
    frame = Renderer(scene).render(K, np.eye(4))
    par = np.array([0.0713, 0.25, *ACCENT, pattern.line_m, 1, pattern.nir_gain])
    kind_i = PATTERN_KINDS.index(kind)
    pick = np.random.default_rng(0).integers(0, [K.height_px, K.width_px], size=(300, 2))
    mismatches = 0
    for v, u in pick:
        d = np.array([(u - K.cx_px) / K.fx_px, (v - K.cy_px) / K.fy_px, 1.0], np.float32)
        p = d.astype(np.float64) * np.float64(frame.depth_m[v, u])
        uu, vv = surface_uv.py_func(0.0, 0.0, -1.0, *p)
        r, g, b, gain = texel.py_func(kind_i, 11, *par[:6], 1, par[7], uu, vv, *map(float, BASE))
        s = (1.5 / float(frame.range_m[v, u])) * (1 - AMBIENT) + AMBIENT
        expected = np.floor(np.minimum([r, g, b], 255.0) * s)
        mismatches += np.abs(frame.rgb[v, u] - expected).max() > 1
        assert frame.albedo[v, u] == pytest.approx(min(0.5 * gain, 1.0), abs=0.02) or mismatches
    assert mismatches <= 3  # a pixel on a pattern edge may fall on the other side in float32


def test_same_seed_same_image_and_pattern_seed_changes_it():
    a = Renderer(plane(Pattern(kind="poster", scale_m=0.1, seed=1))).render(K, np.eye(4))
    b = Renderer(plane(Pattern(kind="poster", scale_m=0.1, seed=1))).render(K, np.eye(4))
    c = Renderer(plane(Pattern(kind="poster", scale_m=0.1, seed=2))).render(K, np.eye(4))
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.albedo, b.albedo)
    assert (a.rgb != c.rgb).any(axis=-1).mean() > 0.5


def test_rooms_of_one_seed_render_identically_and_have_patterns():
    rooms = [generate_room(rng=sample_rng(4, 0, "scene")) for _ in range(2)]
    kinds = {m.pattern.kind for m in rooms[0].materials}
    assert len(kinds - {"none"}) >= 4
    assert [m.pattern for m in rooms[0].materials] == [m.pattern for m in rooms[1].materials]
    pose = np.eye(4)
    pose[:3, :3] = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]  # looking along +y, level
    pose[:3, 3] = [0.0, 0.0, 1.4]
    a, b = (Renderer(r).render(K, pose) for r in rooms)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.albedo, b.albedo)


def test_make_material_leaves_the_generator_stream_unchanged():
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    make_material(rng_a, "wood-floor", (0.2, 0.5), "wood", "stripes", 0.15, 0.1)
    rng_b.uniform(0.2, 0.5)
    rng_b.integers(5)
    assert rng_a.random() == rng_b.random()


def test_every_named_pattern_is_a_known_kind():
    rng = np.random.default_rng(0)
    seen = set()
    for name in PATTERN_OF_NAME:
        for _ in range(20):
            p = make_pattern(rng, name, BASE, 0.2)
            assert p.kind in PATTERN_KINDS and p.kind != "none"
            seen.add(p.kind)
    assert seen == set(PATTERN_KINDS) - {"none"}
    assert make_pattern(rng, "ceramic", BASE, 0.2).kind == "none"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "marble"}, "pattern kind must be one of"),
        ({"scale_m": 0.0}, "scale_m must be > 0"),
        ({"contrast": 1.5}, "contrast and nir_gain"),
        ({"accent_rgb": (0, 0, 300)}, "accent_rgb"),
        ({"seed": -1}, "seed must be in"),
    ],
)
def test_bad_pattern_raises(kwargs, match):
    with pytest.raises(ShapeError, match=match):
        Pattern(**kwargs)


def test_a_glossy_plane_returns_strongly_head_on_and_its_diffuse_albedo_at_an_angle():
    from tofsim.scene.types import GLOSS_EXPONENT

    v = np.array([[-20, -20, 2.0], [20, -20, 2.0], [20, 20, 2.0], [-20, 20, 2.0]])
    scene = Scene(
        vertices=v,
        triangles=np.array([[0, 2, 1], [0, 3, 2]], np.int32),
        material_id=np.zeros(2, np.int32),
        materials=(Material(name="screen", albedo=0.05, color_rgb=(20, 20, 20), gloss=0.5),),
    )
    fast, slow = Renderer(scene), Renderer(scene)
    slow._per_triangle_max = 0  # the per-pixel path of huge meshes
    for renderer in (fast, slow):
        frame = renderer.render(K, np.eye(4))
        cos = frame.depth_m / frame.range_m  # a plane facing the camera: cos(incidence) = z / range
        np.testing.assert_allclose(frame.albedo, 0.05 + 0.5 * cos**GLOSS_EXPONENT, atol=1e-5)
        assert frame.albedo[K.height_px // 2, K.width_px // 2] == pytest.approx(0.55, abs=1e-5)
        assert frame.albedo[0, 0] < 0.25  # 33 deg off the normal: mostly the dark diffuse albedo
    with pytest.raises(ShapeError, match="gloss must be in"):
        Material(name="m", albedo=0.5, color_rgb=(1, 2, 3), gloss=1.5)
