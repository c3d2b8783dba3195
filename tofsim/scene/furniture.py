"""The furniture catalogue: pieces and furniture groups built from primitives, in a piece's local `Frame`.

Local frame: x along the width, y along the depth (a piece against a wall has its back at -y), z up, origin at
the footprint centre on the floor. Every builder takes ``(mb, frame, size_m, mat_i, rng, room_h)`` and returns support
surfaces ``(frame at the surface's top centre, width, depth, free height)`` that `procedural` covers with
clutter. Sizes come from ``SIZES[kind](rng, room_height_m)``.
"""

from __future__ import annotations

import numpy as np

from tofsim.scene.builder import Frame, MeshBuilder, rotations
from tofsim.scene.clutter import _mat, fill_shelf, plant

__all__ = ["CATALOGUE", "WALL_PROBABILITY", "chair", "piece_size"]

Surface = tuple[Frame, float, float, float]


def _legs(mb, f: Frame, w, d, h, inset, r, mat_i, round_=True) -> None:
    xs, ys = (w / 2 - inset) * np.array([-1, 1, -1, 1]), (d / 2 - inset) * np.array([-1, -1, 1, 1])
    if round_:
        p0 = f.pt(np.column_stack([xs, ys, np.zeros(4)]))
        mb.rods(p0, p0 + [0, 0, h], r, mat_i, n_seg=6)
    else:
        mb.local_boxes(f, np.column_stack([xs, ys, np.zeros(4)]), np.tile([2 * r, 2 * r, h], (4, 1)), mat_i)


def chair(mb: MeshBuilder, f: Frame, mat_i: int, rng) -> None:
    """A chair facing +y (its back at -y): thin legs, seat, and a backrest of slats or a panel."""
    w, d = float(rng.uniform(0.38, 0.5)), float(rng.uniform(0.38, 0.48))
    seat_z, back_h = float(rng.uniform(0.42, 0.48)), float(rng.uniform(0.3, 0.5))
    r = float(rng.uniform(0.01, 0.02))
    _legs(mb, f, w, d, seat_z - 0.03, 0.03, r, mat_i, round_=rng.random() < 0.6)
    mb.local_boxes(f, [[0, 0, seat_z - 0.03]], [[w, d, 0.03]], mat_i)
    posts = f.pt([[-(w / 2 - 0.03), -(d / 2 - 0.03), seat_z], [w / 2 - 0.03, -(d / 2 - 0.03), seat_z]])
    lean = f.pt([0, -0.06, 0]) - f.pt([0, 0, 0])
    mb.rods(posts, posts + [0, 0, back_h] + lean, r, mat_i)
    if rng.random() < 0.5:  # slats
        n = int(rng.integers(2, 6))
        xs = np.linspace(-(w / 2 - 0.03), w / 2 - 0.03, n + 2)[1:-1]
        p0 = f.pt(np.column_stack([xs, np.full(n, -(d / 2 - 0.03)), np.full(n, seat_z)]))
        mb.rods(p0, p0 + [0, 0, back_h] + lean, 0.6 * r, mat_i, n_seg=4)
    top = f.sub(0, -(d / 2 - 0.03) - 0.06 * 0.8, seat_z + back_h * 0.8)
    mb.local_boxes(top, [[0, 0, -back_h * 0.25]], [[w - 0.02, 0.02, back_h * 0.35]], mat_i)


def _office_chair(mb: MeshBuilder, f: Frame, mat_i: int, rng) -> None:
    legs = f.pt([0, 0, 0.06])
    ang = np.arange(5) * 2 * np.pi / 5 + rng.uniform(0, 1)
    ends = legs + 0.3 * np.column_stack([np.cos(ang), np.sin(ang), np.zeros(5)]) - [0, 0, 0.03]
    metal = _mat(mb, rng, "chair-metal", "metal")
    mb.rods(np.tile(legs, (5, 1)), ends, 0.015, metal, n_seg=4)
    mb.rods(ends, ends - [0, 0, 0.03], 0.025, _mat(mb, rng, "castor", "dark"), n_seg=6)
    mb.rods([legs], [legs + [0, 0, 0.4]], 0.025, metal)
    mb.local_boxes(f, [[0, 0, 0.45]], [[0.48, 0.46, 0.08]], mat_i)
    back = f.sub(0, -0.22, 0.55)
    mb.boxes([back.origin], [[0.44, 0.05, float(rng.uniform(0.4, 0.6))]], rotations(back.yaw, 0.15, 0.0), mat_i)


def _table(mb, f, size, mat_i, rng, room_h) -> list[Surface]:
    """A dining table (within the footprint's inner part) with chairs on its sides."""
    w, d, h = size
    tw, td = w - 1.0, d - 1.0  # the footprint includes 0.5 m of chair space on every side
    mb.box(f.origin[:2], h - 0.04, (tw, td, 0.04), f.yaw, mat_i)
    if rng.random() < 0.75:
        _legs(mb, f, tw, td, h - 0.04, 0.06, float(rng.uniform(0.015, 0.035)), mat_i, round_=rng.random() < 0.5)
    else:  # pedestal
        mb.rods([f.origin], [f.origin + [0, 0, h - 0.04]], 0.05, mat_i, n_seg=10)
        mb.rods([f.origin], [f.origin + [0, 0, 0.03]], min(tw, td) * 0.35, mat_i, n_seg=12)
    chair_i = mb.shared_material("chair", lambda: mb.materials[mat_i])
    for side, (lx, ly, dyaw, along) in enumerate(
        [(0, -td / 2 - 0.15, 0.0, tw), (0, td / 2 + 0.15, np.pi, tw), (-tw / 2 - 0.15, 0, -np.pi / 2, td),
         (tw / 2 + 0.15, 0, np.pi / 2, td)]
    ):  # fmt: skip
        n = int(along // 0.6) if side < 2 else int(along // 0.7)
        for k in range(n):
            if rng.random() < 0.3:
                continue
            off = (k + 0.5) * along / n - along / 2
            ox, oy = (off, 0.0) if side < 2 else (0.0, off)
            pull = float(rng.uniform(-0.05, 0.25))
            chair(mb, f.sub(lx + ox, ly + oy, 0, dyaw + float(rng.normal(0, 0.15))).sub(0, -pull), chair_i, rng)
    return [(f.sub(0, 0, h), tw - 0.1, td - 0.1, 1.0)]


def _desk(mb, f, size, mat_i, rng, room_h) -> list[Surface]:
    """A desk against the wall with a monitor, keyboard, lamp, cables and an office chair in front."""
    w, d, h = size
    dd = d - 0.6  # chair space in front
    top = f.sub(0, -d / 2 + dd / 2, 0)
    mb.box(top.origin[:2], h - 0.03, (w, dd, 0.03), f.yaw, mat_i)
    if rng.random() < 0.5:
        _legs(mb, top, w, dd, h - 0.03, 0.04, 0.018, _mat(mb, rng, "desk-metal", "metal"), round_=False)
    else:
        mb.local_boxes(top, [[-w / 2 + 0.02, 0, 0], [w / 2 - 0.02, 0, 0]], [[0.03, dd, h - 0.03]] * 2, mat_i)
    dark = _mat(mb, rng, "screen", "dark")
    for k in range(1 if rng.random() < 0.7 else 2):
        mx = (k - 0.5) * 0.6 if k or rng.random() < 0.5 else float(rng.uniform(-0.2, 0.2))
        mon = top.sub(mx, -dd / 2 + 0.2, h, float(rng.normal(0, 0.15)))
        sw, sh = float(rng.uniform(0.45, 0.7)), float(rng.uniform(0.28, 0.42))
        mb.local_boxes(mon, [[0, 0, 0], [0, -0.02, 0.01], [0, 0.0, 0.1]], [[0.22, 0.18, 0.01], [0.04, 0.02, 0.12],
                       [sw, float(rng.uniform(0.015, 0.05)), sh]], dark)  # fmt: skip
        cx = mx * 0.5
        cable = np.array([mon.pt([0, -0.05, 0.05]), top.pt([cx, -dd / 2 + 0.03, h]),
                          top.pt([cx, -dd / 2 + 0.03, 0.02]), top.pt([cx + 0.3, -dd / 2 + 0.05, 0.005])])  # fmt: skip
        mb.rods(cable[:-1], cable[1:], 0.004, dark, n_seg=4)
    mb.local_boxes(top, [[0, 0.05, h], [0.3, 0.08, h]], [[0.44, 0.14, 0.02], [0.06, 0.1, 0.03]], dark)
    if rng.random() < 0.6:  # desk lamp: base, two arms, head
        base = top.pt([-w / 2 + 0.15, -dd / 2 + 0.12, h])
        elbow = base + [0.05, 0.05, float(rng.uniform(0.25, 0.4))]
        head = elbow + top.pt([0.15, 0.2, 0]) - top.pt([0, 0, 0]) - [0, 0, 0.05]
        lamp_i = _mat(mb, rng, "lamp", "plastic")
        mb.rods([base, base, elbow], [base + [0, 0, 0.02], elbow, head], [0.08, 0.01, 0.01], lamp_i, n_seg=8)
        mb.rods([head], [head - [0, 0, 0.1]], 0.06, lamp_i, n_seg=8)
    _office_chair(mb, f.sub(float(rng.uniform(-0.2, 0.2)), d / 2 - 0.3, 0, np.pi + float(rng.normal(0, 0.4))),
                  _mat(mb, rng, "office-chair", "dark"), rng)  # fmt: skip
    return [(top.sub(0, 0.1, h), w - 0.2, dd - 0.3, 0.6)]


def _shelf(mb, f, size, mat_i, rng, room_h) -> list[Surface]:
    """An open bookshelf: sides, boards, optional back; books, boxes and objects in the compartments."""
    w, d, h = size
    t = 0.02
    if rng.random() < 0.7:
        mb.local_boxes(f, [[0, -d / 2 + t / 2, 0]], [[w, t, h]], mat_i)
    mb.local_boxes(f, [[-w / 2 + t / 2, 0, 0], [w / 2 - t / 2, 0, 0]], [[t, d, h]] * 2, mat_i)
    n_boards = int(rng.integers(3, 7))
    zs = np.linspace(0.04, h - t, n_boards)
    mb.local_boxes(f, np.column_stack([np.zeros(n_boards), np.zeros(n_boards), zs]), np.tile([w - 2 * t, d, t],
                   (n_boards, 1)), mat_i)  # fmt: skip
    if w > 1.0 and rng.random() < 0.6:
        mb.local_boxes(f, [[0, 0, 0]], [[t, d, h]], mat_i)
    surfaces = []
    for z0, z1 in zip(zs[:-1] + t, zs[1:], strict=True):
        if rng.random() < 0.75:
            fill_shelf(mb, f.sub(0, 0, z0), w - 2 * t, d, z1 - z0, rng)
        else:
            surfaces.append((f.sub(0, 0, z0), w - 2 * t, d, z1 - z0 - 0.02))
    surfaces.append((f.sub(0, 0, h), w, d, 0.4))
    return surfaces


def _front_doors(mb, f: Frame, w, y_front, z0, h, rng, mat_i, ajar_probability=0.0) -> None:
    """Doors (with 3 mm gaps and bar handles) on the front plane y = y_front of a cabinet; some stand ajar."""
    n = max(1, int(round(w / float(rng.uniform(0.4, 0.6)))))
    dw = w / n
    handle_i = _mat(mb, rng, "handle", "metal")
    for k in range(n):
        x0 = -w / 2 + k * dw
        hinge_left = k % 2 == 0
        hx = x0 if hinge_left else x0 + dw
        angle = float(rng.uniform(0.2, 1.4)) if rng.random() < ajar_probability else 0.0
        sign = -1.0 if hinge_left else 1.0
        door = f.sub(hx, y_front, z0, sign * angle)
        cx = (dw / 2 - 0.0015) * (1 if hinge_left else -1)
        mb.local_boxes(door, [[cx, 0.01, 0.002]], [[dw - 0.003, 0.02, h - 0.004]], mat_i)
        hz = h * (0.85 if z0 < 1.0 and h < 1.0 else 0.5)
        hxl = cx + (dw / 2 - 0.05) * (1 if hinge_left else -1)
        p = door.pt([[hxl, 0.05, hz - 0.08], [hxl, 0.05, hz + 0.08]])
        mb.rods(p[:1], p[1:], 0.006, handle_i, n_seg=4)


def _wardrobe(mb, f, size, mat_i, rng, room_h) -> list[Surface]:
    w, d, h = size
    mb.local_boxes(f, [[0, -0.01, 0]], [[w, d - 0.02, h]], mat_i)
    _front_doors(mb, f, w, d / 2 - 0.02, 0.0, h, rng, mat_i, ajar_probability=0.25)
    return [(f.sub(0, 0, h), w, d, 0.3)]


def _counter(mb, f, size, mat_i, rng, room_h) -> list[Surface]:
    """A kitchen run: plinth, base cabinets with doors, worktop, wall cabinets (some open) above."""
    w, d, h = size
    mb.local_boxes(f, [[0, -0.05, 0], [0, -0.01, 0.1]], [[w, d - 0.1, 0.1], [w, d - 0.04, h - 0.14]], mat_i)
    _front_doors(mb, f, w, d / 2 - 0.05, 0.1, h - 0.14, rng, mat_i, ajar_probability=0.1)
    top_i = _mat(mb, rng, "worktop", "tile" if rng.random() < 0.5 else "dark")
    mb.local_boxes(f, [[0, 0.005, h - 0.04]], [[w + 0.01, d + 0.01, 0.04]], top_i)
    surfaces = [(f.sub(0, 0, h), w, d - 0.05, 0.5)]
    z_wall = float(rng.uniform(1.4, 1.55))
    hw, dw = float(rng.uniform(0.5, 0.75)), float(rng.uniform(0.3, 0.36))
    if rng.random() < 0.8 and z_wall + hw < room_h - 0.05:
        back = f.sub(0, -d / 2 + dw / 2, z_wall)
        mb.local_boxes(back, [[0, -0.01, 0]], [[w, dw - 0.02, hw]], mat_i)
        _front_doors(mb, back, w, dw / 2 - 0.02, 0.0, hw, rng, mat_i, ajar_probability=0.1)
    return surfaces


def _bed(mb, f, size, mat_i, rng, room_h) -> list[Surface]:
    """A bed with its head at the wall: frame on legs, mattress, blanket, pillows, headboard, nightstands."""
    w, d, h = size
    bw = w - 1.0  # nightstands of 0.45 m on both sides
    fab = _mat(mb, rng, "bedding", "fabric")
    frame_z = float(rng.uniform(0.08, 0.2))
    _legs(mb, f, bw, d, frame_z, 0.05, 0.025, mat_i)
    mb.local_boxes(f, [[0, 0, frame_z]], [[bw, d, 0.18]], mat_i)
    mz = frame_z + 0.18
    mh = float(rng.uniform(0.15, 0.25))
    mb.local_boxes(f, [[0, 0.02, mz]], [[bw - 0.04, d - 0.08, mh]], _mat(mb, rng, "mattress", "bright"))
    cover = float(rng.uniform(0.5, 0.8)) * d
    mb.local_boxes(f, [[0, d / 2 - cover / 2 + 0.02, mz + mh - 0.1]], [[bw + 0.06, cover + 0.04, 0.13]], fab)
    for k in range(1 if bw < 1.2 else 2):
        px = 0.0 if bw < 1.2 else (k - 0.5) * bw / 2
        pil = f.sub(px, -d / 2 + 0.25, mz + mh)
        mb.boxes([pil.origin], [[min(0.6, bw / 2 - 0.05), 0.35, 0.14]], rotations(pil.yaw, -0.35, 0.0), fab)
    mb.local_boxes(f, [[0, -d / 2 + 0.03, 0]], [[bw + 0.04, 0.05, float(rng.uniform(0.8, 1.2))]], mat_i)
    surfaces = []
    for sx in (-1, 1):
        ns = f.sub(sx * (bw / 2 + 0.27), -d / 2 + 0.23, 0)
        nh = float(rng.uniform(0.45, 0.6))
        mb.local_boxes(ns, [[0, 0, 0]], [[0.42, 0.4, nh]], mat_i)
        surfaces.append((ns.sub(0, 0, nh), 0.38, 0.36, 0.6))
    return surfaces


def _sofa(mb, f, size, mat_i, rng, room_h) -> list[Surface]:
    w, d, h = size
    lift = float(rng.uniform(0.0, 0.15))
    if lift > 0.04:
        _legs(mb, f, w, d, lift, 0.06, 0.02, _mat(mb, rng, "sofa-legs", "wood"))
    seat = 0.42
    mb.local_boxes(f, [[0, 0.1, lift], [0, -d / 2 + 0.1, lift]], [[w - 0.4, d - 0.2, seat - lift], [w, 0.2, h - lift]],
                   mat_i)  # fmt: skip
    mb.local_boxes(f, [[-w / 2 + 0.1, 0.1, lift], [w / 2 - 0.1, 0.1, lift]], [[0.2, d - 0.2, 0.6 - lift]] * 2, mat_i)
    n = int(rng.integers(0, 4))
    fab = _mat(mb, rng, "cushion", "fabric")
    for k in range(n):
        c = f.sub((k + 0.5) * (w - 0.5) / max(n, 1) - (w - 0.5) / 2, -d / 2 + 0.32, seat)
        mb.boxes([c.origin], [[0.4, 0.12, 0.38]], rotations(c.yaw + float(rng.normal(0, 0.2)), -0.3, 0.0), fab)
    return [(f.sub(0, 0.1, seat), w - 0.6, d - 0.4, 0.2)]


def _low_table(mb, f, size, mat_i, rng, room_h) -> list[Surface]:
    w, d, h = size
    mb.box(f.origin[:2], h - 0.03, (w, d, 0.03), f.yaw, mat_i)
    _legs(mb, f, w, d, h - 0.03, 0.04, float(rng.uniform(0.012, 0.03)), mat_i, round_=rng.random() < 0.5)
    if rng.random() < 0.5:
        mb.local_boxes(f, [[0, 0, 0.1]], [[w - 0.08, d - 0.08, 0.02]], mat_i)
    return [(f.sub(0, 0, h), w, d, 0.6)]


def _tv_unit(mb, f, size, mat_i, rng, room_h) -> list[Surface]:
    w, d, h = size
    mb.local_boxes(f, [[0, 0, 0]], [[w, d, h]], mat_i)
    tw = min(w - 0.1, float(rng.uniform(0.8, 1.5)))
    th = tw * 0.58
    dark = _mat(mb, rng, "screen", "dark")
    mb.local_boxes(f, [[0, -0.05, h], [0, -0.06, h + 0.05]], [[0.3, 0.2, 0.02], [tw, 0.04, th]], dark)
    return [(f.sub(0.0, 0.1, h), w, d - 0.25, 0.4)]


def _floor_lamp(mb, f, size, mat_i, rng, room_h) -> list[Surface]:
    _w, _d, h = size
    lamp_i = _mat(mb, rng, "lamp", "metal")
    base = f.origin
    mb.rods([base, base], [base + [0, 0, 0.025], base + [0, 0, h - 0.25]], [0.15, 0.012], lamp_i, n_seg=10)
    shade_i = _mat(mb, rng, "lamp-shade", "bright")
    mb.rods([base + [0, 0, h - 0.3]], [base + [0, 0, h]], float(rng.uniform(0.13, 0.22)), shade_i, n_seg=12)
    return []


def _floor_plant(mb, f, size, mat_i, rng, room_h) -> list[Surface]:
    plant(mb, f.origin, size[2], rng)
    return []


def _box(mb, f, size, mat_i, rng, room_h) -> list[Surface]:
    mb.box(f.origin[:2], 0.0, size, f.yaw, mat_i)
    return [(f.sub(0, 0, size[2]), size[0], size[1], 0.5)]


def _cylinder(mb, f, size, mat_i, rng, room_h) -> list[Surface]:
    mb.cylinder(f.origin[:2], 0.0, size[0] / 2, size[2], mat_i)
    return []


def _stack(mb, f, size, mat_i, rng, room_h) -> list[Surface]:
    z, bw, bd = 0.0, size[0], size[1]
    for _level in range(int(rng.integers(2, 5))):
        bh = float(rng.uniform(0.2, 0.5))
        off = rng.uniform(-0.05, 0.05, size=2)
        mb.box(f.pt([off[0], off[1], 0])[:2], z, (bw, bd, bh), f.yaw + float(rng.uniform(-0.2, 0.2)), mat_i)
        z += bh
        bw, bd = bw * rng.uniform(0.6, 0.95), bd * rng.uniform(0.6, 0.95)
    return []


CATALOGUE = {
    "table": _table, "desk": _desk, "shelf": _shelf, "wardrobe": _wardrobe, "counter": _counter, "bed": _bed,
    "sofa": _sofa, "low_table": _low_table, "tv_unit": _tv_unit, "floor_lamp": _floor_lamp, "plant": _floor_plant,
    "box": _box, "cylinder": _cylinder, "stack": _stack,
}  # fmt: skip
#: Chance that a piece of each kind stands against a wall (its back, local -y, touching it).
WALL_PROBABILITY = {
    "table": 0.0, "desk": 1.0, "shelf": 1.0, "wardrobe": 1.0, "counter": 1.0, "bed": 1.0, "sofa": 0.8,
    "low_table": 0.1, "tv_unit": 1.0, "floor_lamp": 0.5, "plant": 0.5, "box": 0.4, "cylinder": 0.3, "stack": 0.5,
}  # fmt: skip


def piece_size(kind: str, rng, height: float) -> np.ndarray:
    """(3,) footprint width (local x), depth (local y, towards the wall is -y) and height in metres."""
    u = rng.uniform
    sizes = {
        "table": lambda: [u(0.8, 1.8) + 1.0, u(0.7, 1.0) + 1.0, u(0.72, 0.78)],
        "desk": lambda: [u(1.0, 1.8), u(0.6, 0.8) + 0.6, u(0.72, 0.76)],
        "shelf": lambda: [u(0.6, 1.8), u(0.28, 0.42), min(u(1.0, 2.2), height - 0.2)],
        "wardrobe": lambda: [u(0.8, 2.2), u(0.5, 0.65), min(u(1.8, 2.3), height - 0.1)],
        "counter": lambda: [u(1.2, 3.6), u(0.58, 0.65), u(0.86, 0.92)],
        "bed": lambda: [u(0.9, 1.8) + 1.0, u(1.95, 2.15), 0.6],
        "sofa": lambda: [u(1.4, 2.4), u(0.8, 1.0), u(0.75, 0.9)],
        "low_table": lambda: [u(0.5, 1.2), u(0.4, 0.7), u(0.35, 0.5)],
        "tv_unit": lambda: [u(1.0, 2.0), u(0.35, 0.45), u(0.4, 0.55)],
        "floor_lamp": lambda: [0.4, 0.4, u(1.3, 1.8)],
        "plant": lambda: [0.5, 0.5, min(u(0.5, 1.6), height - 0.7)],
        "box": lambda: [u(0.3, 1.0), u(0.3, 1.0), u(0.3, 1.0)],
        "cylinder": lambda: [2 * (r := u(0.12, 0.3)), 2 * r, u(0.3, 0.9)],
        "stack": lambda: [u(0.4, 0.8), u(0.4, 0.8), 0.0],
    }
    return np.array(sizes[kind](), float)
