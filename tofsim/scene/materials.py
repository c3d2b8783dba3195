"""Seeded materials of procedural rooms: palettes (RGB) and NIR albedo ranges per kind of surface.

NIR albedo is what the ToF sensor sees: dark fabric, black plastic and screens return little (0.03-0.1),
white paint and laminate a lot (0.6-0.9). Every draw comes from the ``rng`` argument.

Each material also gets a per-pixel `Pattern` (wood grain, tiles, fabric, posters, book spines, ...) chosen by
its name (`PATTERN_OF_NAME`). Its parameters are drawn from a child generator spawned off ``rng``
(``rng.spawn``), which leaves ``rng``'s own stream untouched: a seed's room geometry is the same with or without
patterns.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tofsim.scene.types import Material, Pattern

__all__ = [
    "PALETTES",
    "PATTERN_OF_NAME",
    "GLOSS_OF_NAME",
    "make_material",
    "make_pattern",
    "furniture_material",
    "pick",
    "colours",
]

PALETTES: dict[str, list[tuple[int, int, int]]] = {
    "paint": [(235, 232, 222), (214, 222, 230), (238, 226, 200), (200, 214, 196), (230, 210, 205), (245, 245, 245)],
    "wood": [(150, 104, 62), (120, 80, 50), (185, 140, 95), (96, 64, 40), (205, 170, 125)],
    "tile": [(210, 205, 195), (170, 170, 175), (225, 215, 190), (120, 125, 130)],
    "dark": [(30, 30, 32), (45, 35, 30), (25, 30, 45), (50, 50, 50)],
    "bright": [(240, 240, 236), (230, 235, 240), (250, 246, 235)],
    "plastic": [(200, 60, 50), (50, 110, 190), (60, 160, 90), (230, 190, 60), (150, 150, 155), (235, 235, 235)],
    "cardboard": [(190, 150, 100), (170, 130, 85)],
    "metal": [(160, 162, 168), (120, 122, 128), (200, 200, 205)],
    "fabric": [(120, 60, 60), (70, 90, 120), (150, 140, 120), (90, 110, 80), (180, 170, 160), (60, 60, 70)],
    "book": [
        (160, 30, 30),
        (30, 60, 130),
        (220, 200, 160),
        (40, 100, 60),
        (230, 230, 220),
        (20, 20, 25),
        (200, 120, 40),
        (110, 40, 110),
        (240, 200, 40),
    ],  # fmt: skip
    "leaf": [(50, 110, 40), (70, 130, 50), (40, 90, 45), (90, 140, 60)],
    "ceramic": [(245, 245, 240), (220, 80, 60), (60, 90, 160), (230, 220, 200), (40, 40, 45)],
}

#: NIR albedo range per palette (dark-ish things low, paper and paint high).
ALBEDO_RANGES: dict[str, tuple[float, float]] = {
    "paint": (0.55, 0.9), "wood": (0.2, 0.5), "tile": (0.4, 0.8), "dark": (0.03, 0.1), "bright": (0.6, 0.9),
    "plastic": (0.15, 0.7), "cardboard": (0.4, 0.6), "metal": (0.3, 0.6), "fabric": (0.1, 0.5), "book": (0.1, 0.7),
    "leaf": (0.3, 0.6), "ceramic": (0.3, 0.8),
}  # fmt: skip


#: Pattern kind of each material name (names not listed get none: plastic, ceramic, screens, bottles, ...).
PATTERN_OF_NAME: dict[str, str] = {
    "wood-floor": "wood", "wood": "wood", "wall-shelf": "wood", "sofa-legs": "wood", "picture-frame": "wood",
    "tile-floor": "tiles", "carpet": "speckle", "worktop": "speckle",
    "wall-paint": "wall", "accent-paint": "wall", "ceiling": "plaster", "trim": "plaster", "radiator": "plaster",
    "white-laminate": "plaster", "mattress": "plaster", "lamp-shade": "plaster", "small-box": "plaster",
    "leaf": "plaster",
    "dark-fabric": "fabric", "fabric": "fabric", "curtain": "fabric", "bedding": "fabric", "cushion": "fabric",
    "office-chair": "fabric", "poster": "poster", "book": "books",
    "metal": "brushed", "chair-metal": "brushed", "desk-metal": "brushed", "handle": "brushed",
}  # fmt: skip

#: NIR gloss of each material name (`Material.gloss`; others are matte): screens, glazed ceramic, plastic,
#: lacquered and metal surfaces return strongly head-on and little at an angle.
GLOSS_OF_NAME: dict[str, float] = {
    "screen": 0.5, "laptop": 0.4, "ceramic": 0.3, "pot": 0.2, "bottle": 0.35, "plastic": 0.15, "lamp": 0.2,
    "white-laminate": 0.15, "metal": 0.35, "chair-metal": 0.35, "desk-metal": 0.35, "handle": 0.4,
    "tile-floor": 0.15, "worktop": 0.25, "radiator": 0.1,
}  # fmt: skip

_GROUT = [(228, 226, 220), (160, 158, 152), (75, 74, 72)]
_ACCENTS = PALETTES["fabric"] + PALETTES["plastic"] + PALETTES["paint"] + PALETTES["wood"]


def make_pattern(rng: np.random.Generator, name: str, rgb: tuple[int, int, int], scale_m: float) -> Pattern:
    """The `Pattern` of material `name` (see `PATTERN_OF_NAME`) with base colour `rgb`, drawn from `rng`.

    ``scale_m`` (the material's baked texture scale) sets the plank width of wood floors and the tile size of tile
    floors, so the pattern's gaps and grout lie on the baked planks' and tiles' edges.
    """
    kind = PATTERN_OF_NAME.get(name, "none")
    seed = int(rng.integers(2**31))
    accent = tuple(int(c) for c in pick(rng, _ACCENTS))
    if kind == "wall":  # mostly paint; some wallpaper (stripes or prints)
        kind = str(pick(rng, ["plaster"] * 6 + ["stripes", "stripes", "fabric", "fabric"]))
        shade = rng.uniform(0.7, 0.9)  # wallpaper mostly in shades of the wall colour, sometimes a second colour
        accent = tuple(int(c * shade) for c in rgb) if rng.random() < 0.75 else accent
        if kind == "stripes":
            return Pattern(kind="stripes", scale_m=rng.uniform(0.08, 0.3), contrast=0.3, accent_rgb=accent,
                           line_m=rng.uniform(0.004, 0.012), seed=seed)  # fmt: skip
        if kind == "fabric":
            return Pattern(kind="fabric", scale_m=rng.uniform(0.06, 0.15), variant=2, accent_rgb=accent, seed=seed)
        return Pattern(kind="plaster", scale_m=rng.uniform(0.2, 0.6), contrast=rng.uniform(0.03, 0.08), seed=seed)
    if kind == "plaster":
        contrast = 0.03 if name in ("ceiling", "trim") else rng.uniform(0.04, 0.12)
        return Pattern(kind=kind, scale_m=rng.uniform(0.1, 0.5), contrast=contrast, seed=seed, nir_gain=0.5)
    if kind == "wood":
        floor = name == "wood-floor"
        return Pattern(kind=kind, scale_m=scale_m if floor else rng.uniform(0.06, 0.2), contrast=rng.uniform(0.08, 0.2),
                       line_m=0.003 if floor else 0.0015, seed=seed)  # fmt: skip
    if kind == "tiles":
        return Pattern(kind=kind, scale_m=scale_m, contrast=0.06, accent_rgb=pick(rng, _GROUT),
                       line_m=rng.uniform(0.003, 0.008), seed=seed)  # fmt: skip
    if kind == "speckle":
        return Pattern(kind=kind, scale_m=rng.uniform(0.005, 0.015), contrast=rng.uniform(0.12, 0.3), seed=seed)
    if kind == "fabric":
        variant = 0 if name == "dark-fabric" else int(pick(rng, [0, 0, 1, 2]))  # dark bodies: tables, too
        scale = rng.uniform(0.01, 0.03) if variant == 0 else rng.uniform(0.04, 0.12)
        return Pattern(kind=kind, scale_m=scale, contrast=rng.uniform(0.12, 0.3), accent_rgb=accent,
                       variant=variant, seed=seed)  # fmt: skip
    if kind == "poster":
        return Pattern(kind=kind, scale_m=rng.uniform(0.06, 0.2), contrast=0.0, seed=seed)
    if kind == "books":
        return Pattern(kind=kind, scale_m=rng.uniform(0.02, 0.04), contrast=0.12, accent_rgb=(210, 180, 90), seed=seed)
    if kind == "brushed":
        return Pattern(kind=kind, scale_m=rng.uniform(0.002, 0.005), contrast=rng.uniform(0.04, 0.1), seed=seed)
    return Pattern(seed=seed)


def pick(rng: np.random.Generator, options: list) -> Any:
    """One element of `options`, uniformly."""
    return options[int(rng.integers(len(options)))]


def make_material(rng, name, albedo_range, palette, texture="flat", scale_m=0.25, contrast=0.1) -> Material:
    """A `Material` with albedo uniform in `albedo_range` and a colour from `palette` (a name or a list).

    Its `Pattern` (`make_pattern`) comes from a child of `rng` (``rng.spawn``), so `rng`'s stream is the same
    as without patterns.
    """
    colours_ = PALETTES[palette] if isinstance(palette, str) else palette
    albedo = float(rng.uniform(*albedo_range))
    rgb = tuple(int(c) for c in pick(rng, colours_))
    return Material(
        name=name,
        albedo=albedo,
        color_rgb=rgb,
        texture=texture,
        texture_scale_m=float(scale_m),
        texture_contrast=float(contrast),
        pattern=make_pattern(rng.spawn(1)[0], name, rgb, float(scale_m)),
        gloss=GLOSS_OF_NAME.get(name, 0.0),
    )


def colours(rng: np.random.Generator, palette: str, n: int, jitter: float = 0.12) -> tuple[np.ndarray, np.ndarray]:
    """Per-object colours (n, 3) float and NIR albedos (n,) from a palette, each shade-jittered by +-`jitter`."""
    table = np.asarray(PALETTES[palette], float)
    shade = 1.0 + rng.uniform(-jitter, jitter, size=(n, 1))
    rgb = np.clip(table[rng.integers(len(table), size=n)] * shade, 0, 255)
    lo, hi = ALBEDO_RANGES[palette]
    return rgb, rng.uniform(lo, hi, size=n)


def furniture_material(rng, dark_albedo_range, bright_albedo_range, dark: bool) -> Material:
    """Material of a furniture body: dark fabric when `dark`, else wood, laminate, plastic, cardboard or metal."""
    if dark:
        return make_material(rng, "dark-fabric", dark_albedo_range, "dark", "noise", 0.2, 0.06)
    kind = int(rng.integers(6))
    if kind in (0, 5):
        return make_material(rng, "wood", ALBEDO_RANGES["wood"], "wood", "stripes", rng.uniform(0.08, 0.15), 0.12)
    if kind == 1:
        return make_material(rng, "white-laminate", bright_albedo_range, "bright", "flat", 0.5, 0.0)
    if kind == 2:
        return make_material(rng, "plastic", ALBEDO_RANGES["plastic"], "plastic", "flat", 0.5, 0.0)
    if kind == 3:
        return make_material(rng, "fabric", ALBEDO_RANGES["fabric"], "fabric", "noise", 0.1, 0.08)
    return make_material(rng, "metal", ALBEDO_RANGES["metal"], "metal", "checker", 0.5, 0.03)
