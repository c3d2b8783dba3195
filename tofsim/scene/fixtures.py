"""Things on and behind the walls, and the spaces behind doors.

Skirting, pictures, switches, radiators, wall shelves, curtains, door leaves standing ajar, and the corridor or
neighbouring room behind a door or passage (so depth reaches beyond the room).

A wall is given as ``(p0, p1, length_m, openings)`` with the room inside on its left (counter-clockwise
footprint); wall coordinates are u along the wall from p0 and v up from the floor.
"""

from __future__ import annotations

import numpy as np

from tofsim.scene.builder import Frame, MeshBuilder, grid_edges, rot_z
from tofsim.scene.clutter import _mat, fill_shelf
from tofsim.scene.furniture import CATALOGUE, piece_size
from tofsim.scene.materials import furniture_material
from tofsim.scene.types import Material

__all__ = ["WINDOW_GLASS", "WINDOW_RECESS_M", "annex", "decorate_wall", "door_leaf", "window_pane"]

#: The material of window panes (`tofsim.glass`: transparent to the ground truth and RGB, a weak ToF return).
WINDOW_GLASS = Material(name="window-glass", albedo=0.0, color_rgb=(200, 215, 225), glass=True)

#: How far a pane sits outside the wall plane (the window's recess), metres.
WINDOW_RECESS_M = 0.05


def _free_spans(length: float, ops, margin: float = 0.1) -> list[tuple[float, float]]:
    """Intervals of u on a wall not covered by an opening (plus `margin`)."""
    spans, u = [], 0.0
    for o in sorted(ops, key=lambda o: o["u_m"][0]):
        if o["u_m"][0] - margin > u:
            spans.append((u, o["u_m"][0] - margin))
        u = o["u_m"][1] + margin
    if u < length:
        spans.append((u, length))
    return spans


def decorate_wall(mb: MeshBuilder, wall, height: float, rng, mats: dict[str, int]) -> list[list[float]]:
    """Skirting, pictures, switches, a radiator under a window, wall shelves and curtains on one wall.

    Returns close-up targets (world points).
    """
    p0, p1, length, ops = wall
    along = (p1 - p0) / length
    yaw = float(np.arctan2(along[1], along[0]))

    def frame(u: float, z: float = 0.0, off: float = 0.0) -> Frame:
        inward = np.array([-along[1], along[0]])
        return Frame(p0 + u * along + off * inward, yaw, z)  # local +y points into the room

    targets = []
    skirt_h, skirt_d = float(rng.uniform(0.05, 0.12)), float(rng.uniform(0.01, 0.02))
    for u0, u1 in _free_spans(length, [o for o in ops if o["kind"] != "window"], 0.0):
        if u1 - u0 > 0.05:
            mb.local_boxes(frame((u0 + u1) / 2), [[0, skirt_d / 2, 0]], [[u1 - u0, skirt_d, skirt_h]], mats["trim"])
    for o in ops:
        (u0, u1), (v0, v1) = o["u_m"], o["v_m"]
        if o["kind"] != "window":  # frame around the door or passage and a switch beside it
            mb.local_boxes(frame(u0 - 0.03), [[0, 0.01, 0]], [[0.06, 0.02, v1 + 0.06]], mats["trim"])
            mb.local_boxes(frame(u1 + 0.03), [[0, 0.01, 0]], [[0.06, 0.02, v1 + 0.06]], mats["trim"])
            mb.local_boxes(frame((u0 + u1) / 2, v1), [[0, 0.01, 0]], [[u1 - u0 + 0.12, 0.02, 0.06]], mats["trim"])
            side = u1 + 0.2 if u1 + 0.3 < length else u0 - 0.2
            mb.local_boxes(frame(side, 1.05), [[0, 0.006, 0]], [[0.08, 0.012, 0.08]], mats["trim"])
            continue
        if v0 >= 0.1:  # window sill
            mb.local_boxes(frame((u0 + u1) / 2, v0 - 0.04), [[0, 0.05, 0]], [[u1 - u0 + 0.1, 0.1, 0.04]], mats["trim"])
        if v0 > 0.5 and rng.random() < 0.6:  # radiator with fins under the window
            rw, rh = min(u1 - u0, float(rng.uniform(0.6, 1.2))), min(v0 - 0.25, float(rng.uniform(0.35, 0.6)))
            n = max(2, int(rw / 0.05))
            xs = np.linspace(-rw / 2, rw / 2, n)
            f = frame((u0 + u1) / 2, 0.12, 0.05)
            mb.local_boxes(f, np.column_stack([xs, np.zeros(n), np.zeros(n)]), np.tile([0.02, 0.08, rh], (n, 1)),
                           mats["radiator"])  # fmt: skip
            mb.rods([f.pt([-rw / 2, 0, 0.03])], [f.pt([-rw / 2, 0, -0.12])], 0.01, mats["radiator"])
        if rng.random() < 0.5:  # curtains: zigzag panels beside the window, floor to above the window
            fab = _mat(mb, rng, "curtain", "fabric")
            for side in (-1, 1):
                cw = float(rng.uniform(0.3, 0.7))
                n = max(3, int(cw / 0.08))
                us = (u0 if side < 0 else u1) + side * np.linspace(-0.1, cw - 0.1, n)
                zig = np.where(np.arange(n) % 2 == 0, 0.6, -0.6)
                centres = [frame(u, 0.0, 0.12).origin for u in us]
                top = min(height - 0.05, v1 + 0.2)
                mb.boxes(np.array(centres), np.tile([0.1, 0.01, top], (n, 1)), rot_z(yaw + zig), fab)
    for u0, u1 in _free_spans(length, ops, 0.2):
        span = u1 - u0
        if span < 0.6:
            continue
        r = rng.random()
        if r < 0.45:  # pictures and posters
            pw, ph = min(span - 0.2, float(rng.uniform(0.25, 1.0))), float(rng.uniform(0.25, 0.8))
            u = float(rng.uniform(u0 + pw / 2 + 0.1, u1 - pw / 2 - 0.1)) if span > pw + 0.2 else (u0 + u1) / 2
            z = min(height - ph - 0.1, float(rng.uniform(1.1, 1.6)))
            th = float(rng.uniform(0.015, 0.05))
            mb.local_boxes(frame(u, z), [[0, th / 2, 0]], [[pw, th, ph]], mats["frame"])
            mb.local_boxes(frame(u, z + 0.03), [[0, th + 0.001, 0]], [[pw - 0.06, 0.004, ph - 0.06]], mats["poster"])
            targets.append(frame(u, z + ph / 2, 0.05).origin.tolist())
        elif r < 0.7 and span > 0.9:  # a wall shelf on brackets, with books
            sw = min(span - 0.2, float(rng.uniform(0.6, 1.4)))
            u = (u0 + u1) / 2
            z = min(height - 0.5, float(rng.uniform(1.2, 1.8)))
            sd = float(rng.uniform(0.18, 0.28))
            f = frame(u, z, 0.0)
            mb.local_boxes(f, [[0, sd / 2, 0]], [[sw, sd, 0.02]], mats["shelf"])
            mb.local_boxes(f, [[-sw / 3, 0.1, -0.15], [sw / 3, 0.1, -0.15]], [[0.02, 0.2, 0.15]] * 2, mats["radiator"])
            fill_shelf(mb, f.sub(0, sd / 2, 0.02), sw, sd, 0.35, rng)
            targets.append(f.sub(0, sd / 2, 0.15).origin.tolist())
        if rng.random() < 0.5:  # sockets
            u = float(rng.uniform(u0, u1))
            mb.local_boxes(frame(u, 0.3), [[0, 0.006, 0]], [[0.08, 0.012, 0.08]], mats["trim"])
    return targets


def window_pane(mb: MeshBuilder, wall, opening, mat_i: int, recess_m: float = WINDOW_RECESS_M) -> None:
    """A glass pane filling a window opening, `recess_m` outside the wall plane (no random draws)."""
    p0, p1, length, _ = wall
    along = (p1 - p0) / length
    outward = np.array([along[1], -along[0], 0.0])  # the room is on the left of a CCW footprint
    (u0, u1), (v0, v1) = opening["u_m"], opening["v_m"]
    origin = np.array([*(p0 + u0 * along), v0]) + recess_m * outward
    mb.grid(origin, np.append(along, 0.0), [0.0, 0.0, 1.0], [0.0, u1 - u0], [0.0, v1 - v0], mat_i)


def door_leaf(mb: MeshBuilder, wall, opening, rng, mat_i: int, handle_i: int) -> float:
    """A door leaf hinged at one side of a door opening, standing ajar (into the room or out of it) or wide open.

    Returns its opening angle in radians (positive: swung into the room).
    """
    p0, p1, length, _ = wall
    along = (p1 - p0) / length
    yaw = float(np.arctan2(along[1], along[0]))
    (u0, u1), (_v0, v1) = opening["u_m"], opening["v_m"]
    left = rng.random() < 0.5
    hinge = p0 + (u0 if left else u1) * along
    angle = float(rng.uniform(0.15, 1.6)) * (1 if rng.random() < 0.6 else -1)  # positive: into the room
    dw = u1 - u0 - 0.01
    f = Frame(hinge, yaw + (angle if left else -angle), 0.0)
    sign = 1.0 if left else -1.0
    mb.local_boxes(f, [[sign * dw / 2, 0.02 * sign * np.sign(angle), 0.005]], [[dw, 0.04, v1 - 0.01]], mat_i)
    hx = sign * (dw - 0.08)
    p = f.pt([[hx, 0.0, 1.0], [hx, 0.09, 1.0], [hx, -0.09, 1.0]])
    mb.rods(p[:1], p[1:2], 0.01, handle_i)
    mb.rods(p[:1], p[2:3], 0.01, handle_i)
    return angle


def _quad(mb: MeshBuilder, origin, u, v, lu: float, lv: float, mat_i: int, normal) -> None:
    """A tessellated rectangle whose normal points along `normal`."""
    step = mb.materials[mat_i].texture_scale_m
    flip = float(np.dot(np.cross(u, v), normal)) < 0
    mb.grid(origin, u, v, grid_edges(0.0, lu, step), grid_edges(0.0, lv, step), mat_i, flip=flip)


def annex(mb: MeshBuilder, wall, opening, height: float, rng, mats: dict[str, int], cfg) -> dict:
    """A corridor or a neighbouring room behind a door: floor, ceiling and walls facing inwards, some furniture.

    Returns its description (kind, depth and width in metres).
    """
    p0, p1, length, _ = wall
    ea = np.append((p1 - p0) / length, 0.0)
    eo = np.array([ea[1], -ea[0], 0.0])  # outwards (the room is on the left of a CCW footprint)
    (u0, u1), _ = opening["u_m"], opening["v_m"]
    corridor = rng.random() < (0.2 if opening["kind"] == "passage" else 0.5)
    if corridor:
        depth = float(rng.uniform(1.1, 2.2))
        a0, a1 = -float(rng.uniform(1.0, 6.0)), float(rng.uniform(1.0, 6.0))
    else:
        depth = float(rng.uniform(2.5, 6.0))
        a0, a1 = -float(rng.uniform(0.5, 3.0)), float(rng.uniform(0.5, 3.0))
    uc = 0.5 * (u0 + u1)
    a0, a1 = min(a0, u0 - uc - 0.1), max(a1, u1 - uc + 0.1)
    c = np.append(p0 + uc * ea[:2], 0.0)
    wid = a1 - a0
    corner = c + a0 * ea
    z = np.array([0.0, 0.0, 1.0])
    _quad(mb, corner, ea, eo, wid, depth, mats["floor"], z)
    _quad(mb, corner + height * z, ea, eo, wid, depth, mats["ceiling"], -z)
    _quad(mb, corner + depth * eo, ea, z, wid, height, mats["wall"], -eo)
    _quad(mb, corner, eo, z, depth, height, mats["wall"], ea)
    _quad(mb, corner + wid * ea, eo, z, depth, height, mats["wall"], -ea)
    # A few pieces against the far or side walls: boxes, shelves, wardrobes, plants (edges far away).
    for _ in range(int(rng.integers(1, 4))):
        kind = ["box", "shelf", "wardrobe", "plant", "stack", "cylinder"][int(rng.integers(6))]
        size = piece_size(kind, rng, height)
        if size[0] > wid - 0.2 or size[1] > depth - 0.3:
            continue
        t = float(rng.uniform(a0 + size[0] / 2 + 0.05, a1 - size[0] / 2 - 0.05))
        if abs(t) < 0.5 * (u1 - u0) + size[0] / 2 + 0.1 and depth < 2.5:
            continue  # keep the doorway of a corridor clear
        centre = c + t * ea + (depth - size[1] / 2 - 0.02) * eo
        f = Frame(centre[:2], float(np.arctan2(ea[1], ea[0])), 0.0)  # local -y (its back) to the far wall
        mat_i = mb.material(furniture_material(rng, cfg.dark_albedo_range, cfg.bright_albedo_range, False))
        CATALOGUE[kind](mb, f, size, mat_i, rng, height)
    return {"kind": "corridor" if corridor else "room", "depth_m": depth, "width_m": wid}
