"""Small objects from primitives, on shelves and on any support surface.

Books on shelves, and cups, bottles, bowls, book piles, boxes, laptops and plants on surfaces. Each builder
draws from ``rng`` only; `scatter` returns the objects' centres (for close-up camera targets).
"""

from __future__ import annotations

import numpy as np

from tofsim.scene.builder import Frame, MeshBuilder, rotations
from tofsim.scene.materials import ALBEDO_RANGES, colours, make_material

__all__ = ["CLUTTER_KINDS", "fill_shelf", "plant", "scatter"]

#: Objects `scatter` puts on surfaces, with relative frequencies.
CLUTTER_KINDS = {"cup": 1.0, "bottle": 1.0, "bowl": 0.6, "book_pile": 0.8, "box": 0.8, "laptop": 0.3, "plant": 0.4,
                 "vase": 0.3}  # fmt: skip


def _mat(mb: MeshBuilder, rng, key: str, palette: str) -> int:
    return mb.shared_material(key, lambda: make_material(rng, key, ALBEDO_RANGES[palette], palette, "flat"))


def fill_shelf(mb: MeshBuilder, frame: Frame, w: float, d: float, h_avail: float, rng) -> list[list[float]]:
    """Upright books (with gaps, leaning ones and the odd box) along a shelf board of width w, depth d.

    `frame` sits at the board's top centre; books stand with their spines at the front (+y).
    """
    if h_avail < 0.1 or w < 0.1:
        return []
    book_i = _mat(mb, rng, "book", "book")
    x_end = -w / 2 + max(0.1, float(rng.uniform(0.4, 1.0)) * w)
    x = -w / 2 + float(rng.uniform(0.0, 0.1))
    centres, sizes, yaws = [], [], []
    while x < x_end - 0.03:
        if rng.random() < 0.08:  # a gap
            x += float(rng.uniform(0.05, 0.3))
            continue
        n_run = int(rng.integers(3, 15))
        h_run = float(rng.uniform(0.6, 0.95)) * min(h_avail - 0.02, 0.34)
        for _ in range(n_run):
            t = float(rng.uniform(0.012, 0.05))
            if x + t > x_end or x + t > w / 2 - 0.01:
                break
            bh = h_run * float(rng.uniform(0.8, 1.05))
            bd = min(d - 0.02, float(rng.uniform(0.12, 0.24)))
            centres.append([x + t / 2, d / 2 - bd / 2 - float(rng.uniform(0, 0.04)), 0.0])
            sizes.append([t, bd, min(bh, h_avail - 0.01)])
            yaws.append(0.0)
            x += t + float(rng.uniform(0.0, 0.004))
        x += float(rng.uniform(0.0, 0.15))
    if not centres:
        return []
    rgb, alb = colours(rng, "book", len(centres))
    mb.local_boxes(frame, np.array(centres), np.array(sizes), book_i, dyaw=np.array(yaws), rgb=rgb, albedo=alb)
    return [frame.pt([0.0, 0.0, 0.1]).tolist()]


def plant(mb: MeshBuilder, base_m, height_m: float, rng) -> None:
    """A pot with stems and thin leaves (tilted thin boxes) reaching `height_m` above `base_m` (3,)."""
    base = np.asarray(base_m, float)
    pot_r = float(rng.uniform(0.06, 0.18)) * max(0.5, min(1.5, height_m / 0.6))
    pot_h = min(0.35, 1.2 * pot_r + 0.05)
    pot_i = _mat(mb, rng, "pot", "ceramic")
    leaf_i = _mat(mb, rng, "leaf", "leaf")
    mb.rods([base], [base + [0, 0, pot_h]], pot_r, pot_i, n_seg=10)
    n = int(rng.integers(12, 40))
    top = base + [0, 0, pot_h]
    ang = rng.uniform(0, 2 * np.pi, n)
    reach = rng.uniform(0.2, 1.0, n) * max(0.1, height_m - pot_h)
    spread = rng.uniform(0.0, 0.8, n) * pot_r
    tips = top + np.column_stack([spread * np.cos(ang), spread * np.sin(ang), reach])
    roots = top + np.column_stack([0.3 * spread * np.cos(ang), 0.3 * spread * np.sin(ang), np.zeros(n)])
    rgb, alb = colours(rng, "leaf", n, 0.2)
    mb.rods(roots, tips, rng.uniform(0.003, 0.008, n), leaf_i, n_seg=4, rgb=0.7 * rgb, albedo=alb)
    length = rng.uniform(0.08, 0.25, n) * max(0.5, min(1.4, height_m / 0.6))
    width = length * rng.uniform(0.1, 0.3, n)
    tilt = rng.uniform(0.3, 1.3, n)
    rot = rotations(ang, tilt, np.pi / 2)  # leaves lean outwards, away from the stem
    size = np.column_stack([width, np.full(n, 0.003), length])
    mb.boxes(tips, size, rot, leaf_i, rgb=rgb, albedo=alb)


def _cup(mb, rng, f: Frame, r):
    h = float(rng.uniform(0.07, 0.12))
    rgb, alb = colours(rng, "ceramic", 1)
    base = f.pt([0, 0, 0])
    mb.rods([base], [base + [0, 0, h]], r, _mat(mb, rng, "ceramic", "ceramic"), n_seg=10, rgb=rgb, albedo=alb)
    mb.local_boxes(f, [[r + 0.012, 0, 0.02]], [[0.025, 0.008, h * 0.6]], _mat(mb, rng, "ceramic", "ceramic"), rgb=rgb,
                   albedo=alb)  # fmt: skip
    return h


def _bottle(mb, rng, f: Frame, r):
    h = float(rng.uniform(0.18, 0.32))
    rgb, alb = colours(rng, "plastic", 1)
    base = f.pt([0, 0, 0])
    m = _mat(mb, rng, "bottle", "plastic")
    mb.rods([base, base + [0, 0, 0.7 * h]], [base + [0, 0, 0.7 * h], base + [0, 0, h]], [r, 0.35 * r], m, n_seg=10,
            rgb=np.vstack([rgb, rgb]), albedo=np.concatenate([alb, alb]))  # fmt: skip
    return h


def _bowl(mb, rng, f: Frame, r):
    h = float(rng.uniform(0.02, 0.07))
    rgb, alb = colours(rng, "ceramic", 1)
    base = f.pt([0, 0, 0])
    mb.rods([base], [base + [0, 0, h]], r * 2.2, _mat(mb, rng, "ceramic", "ceramic"), n_seg=12, rgb=rgb, albedo=alb)
    return h


def _book_pile(mb, rng, f: Frame, r):
    n = int(rng.integers(1, 6))
    th = rng.uniform(0.015, 0.05, n)
    z = np.concatenate([[0.0], np.cumsum(th)[:-1]])
    w, d = float(rng.uniform(0.13, 0.25)), float(rng.uniform(0.18, 0.3))
    centres = np.column_stack([rng.uniform(-0.02, 0.02, n), rng.uniform(-0.02, 0.02, n), z])
    sizes = np.column_stack([w * rng.uniform(0.85, 1.1, n), d * rng.uniform(0.85, 1.1, n), th])
    rgb, alb = colours(rng, "book", n)
    mb.local_boxes(f, centres, sizes, _mat(mb, rng, "book", "book"), dyaw=rng.uniform(-0.3, 0.3, n), rgb=rgb,
                   albedo=alb)  # fmt: skip
    return float(th.sum())


def _box(mb, rng, f: Frame, r):
    size = rng.uniform(0.06, 0.3, size=3)
    rgb, alb = colours(rng, "cardboard" if rng.random() < 0.5 else "plastic", 1)
    mb.local_boxes(f, [[0, 0, 0]], [size], _mat(mb, rng, "small-box", "cardboard"), rgb=rgb, albedo=alb)
    return float(size[2])


def _laptop(mb, rng, f: Frame, r):
    w, d = float(rng.uniform(0.3, 0.38)), float(rng.uniform(0.21, 0.26))
    m = _mat(mb, rng, "laptop", "dark")
    mb.local_boxes(f, [[0, 0, 0]], [[w, d, 0.018]], m)
    tilt = float(rng.uniform(0.1, 0.5))
    hinge = f.pt([0, -d / 2, 0.018])
    mb.boxes([hinge], [[w, 0.006, d]], rotations(f.yaw, -tilt, 0.0), m)
    return d


def _vase(mb, rng, f: Frame, r):
    h = float(rng.uniform(0.15, 0.3))
    base = f.pt([0, 0, 0])
    rgb, alb = colours(rng, "ceramic", 1)
    mb.rods([base], [base + [0, 0, h]], r * 1.3, _mat(mb, rng, "ceramic", "ceramic"), n_seg=10, rgb=rgb, albedo=alb)
    n = int(rng.integers(3, 9))
    ang = rng.uniform(0, 2 * np.pi, n)
    lean = rng.uniform(0.02, 0.15, n)
    tips = base + np.column_stack([lean * np.cos(ang), lean * np.sin(ang), h + rng.uniform(0.1, 0.35, n)])
    mb.rods(np.tile(base + [0, 0, h], (n, 1)), tips, 0.003, _mat(mb, rng, "leaf", "leaf"), n_seg=4)
    return h


def _small_plant(mb, rng, f: Frame, r):
    h = float(rng.uniform(0.15, 0.45))
    plant(mb, f.pt([0, 0, 0]), h, rng)
    return h


_BUILDERS = {"cup": _cup, "bottle": _bottle, "bowl": _bowl, "book_pile": _book_pile, "box": _box,
             "laptop": _laptop, "plant": _small_plant, "vase": _vase}  # fmt: skip
#: Highest point of each kind above its surface (metres); kinds taller than the free height are skipped.
_MAX_H_M = {"cup": 0.13, "bottle": 0.33, "bowl": 0.08, "book_pile": 0.26, "box": 0.31, "laptop": 0.27, "plant": 0.9,
            "vase": 0.66}  # fmt: skip
_FOOT_M = {"cup": 0.06, "bottle": 0.05, "bowl": 0.12, "book_pile": 0.16, "box": 0.16, "laptop": 0.22, "plant": 0.15,
           "vase": 0.07}  # fmt: skip


def scatter(mb: MeshBuilder, frame: Frame, w: float, d: float, rng, *, density_per_m2: float,
            max_height_m: float = 1.0) -> list[list[float]]:  # fmt: skip
    """Put small objects on a w x d surface whose top centre is `frame`; returns their centres (world, m).

    Objects are drawn with `CLUTTER_KINDS` frequencies, about `density_per_m2` per square metre (at least one),
    kept apart by their footprint radius, and dropped when they do not fit.
    """
    if w < 0.1 or d < 0.1:
        return []
    names = list(CLUTTER_KINDS)
    p = np.array([CLUTTER_KINDS[k] for k in names])
    n = max(1, int(rng.poisson(density_per_m2 * w * d)))
    placed: list[tuple[float, float, float]] = []
    out = []
    for _ in range(n):
        kind = names[int(rng.choice(len(names), p=p / p.sum()))]
        rad = _FOOT_M[kind]
        if _MAX_H_M[kind] > max_height_m:
            continue
        if w < 2 * rad + 0.02 or d < 2 * rad + 0.02:
            continue
        lx, ly = float(rng.uniform(-w / 2 + rad, w / 2 - rad)), float(rng.uniform(-d / 2 + rad, d / 2 - rad))
        if any((lx - x) ** 2 + (ly - y) ** 2 < (rad + r) ** 2 for x, y, r in placed):
            continue
        placed.append((lx, ly, rad))
        sub = frame.sub(lx, ly, 0.0, float(rng.uniform(0, 2 * np.pi)))
        h = _BUILDERS[kind](mb, rng, sub, float(rng.uniform(0.03, 0.05)))
        out.append(sub.pt([0.0, 0.0, 0.5 * min(h, max_height_m)]).tolist())
    return out
