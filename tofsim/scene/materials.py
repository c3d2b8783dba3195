"""Seeded materials of procedural rooms: palettes (RGB) and NIR albedo ranges per kind of surface.

NIR albedo is what the ToF sensor sees: dark fabric, black plastic and screens return little (0.03-0.1),
white paint and laminate a lot (0.6-0.9). Every draw comes from the ``rng`` argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tofsim.scene.types import Material

__all__ = ["PALETTES", "make_material", "furniture_material", "pick", "colours"]

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


def pick(rng: np.random.Generator, options: list) -> Any:
    """One element of `options`, uniformly."""
    return options[int(rng.integers(len(options)))]


def make_material(rng, name, albedo_range, palette, texture="flat", scale_m=0.25, contrast=0.1) -> Material:
    """A `Material` with albedo uniform in `albedo_range` and a colour from `palette` (a name or a list)."""
    colours_ = PALETTES[palette] if isinstance(palette, str) else palette
    return Material(
        name=name,
        albedo=float(rng.uniform(*albedo_range)),
        color_rgb=tuple(int(c) for c in pick(rng, colours_)),
        texture=texture,
        texture_scale_m=float(scale_m),
        texture_contrast=float(contrast),
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
