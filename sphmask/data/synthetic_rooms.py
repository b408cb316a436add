"""Room layouts of the ``realistic`` synthetic preset: what stands where in each ScanNet scene type.

Each layout furnishes a :class:`sphmask.data.synthetic._Room`-like room (walls 0-3 clockwise from
``y = 0``) with the objects and contacts typical of its type in ScanNet: chairs pushed under
tables and desks, runs of cabinets and counters touching each other and the wall, beds with
nightstands and pillows, things resting on tables and shelves, doors, windows and pictures on the
walls. Object shapes come from :mod:`sphmask.data.synthetic`'s part builders.
"""
import math

import numpy as np

from sphmask.data.synthetic import (
    _BUILDERS, _box, _curtain, _legs, _next_to, _on_top, _pillows, _place_group, _rot, _sheet, _sink, _table,
)



def _office_chair(rng, sp, kind):
    """Swivel chair whose parts touch (the builders' version has a floating back): star base,
    column, closed seat, a bar and the back."""
    w, d, hs = rng.uniform(0.45, 0.52), rng.uniform(0.45, 0.5), rng.uniform(0.44, 0.5)
    top = hs + rng.uniform(0.4, 0.55)
    parts = [
        _box(-0.3, 0.3, -0.03, 0.03, 0, 0.05, sp), _box(-0.03, 0.03, -0.3, 0.3, 0, 0.05, sp),
        _box(-0.03, 0.03, -0.03, 0.03, 0.05, hs - 0.07, sp, skip=()),
        _box(-w / 2, w / 2, -d / 2, d / 2, hs - 0.07, hs, sp, skip=()),
        _box(-0.03, 0.03, d / 2 - 0.06, d / 2 - 0.02, hs, hs + 0.12, sp, skip=()),
        _box(-w / 2 + 0.02, w / 2 - 0.02, d / 2 - 0.07, d / 2, hs + 0.12, top, sp, skip=()),
    ]
    return parts, max(w, 0.6), max(d, 0.6)


_BUILD = dict(_BUILDERS, **{"office chair": _office_chair})

# ----------------------------------------------------------------------------------------------
# Placement


def _free(room, label, clearance=0.1, yaw=None):
    """A floor object anywhere (random or given yaw), ``clearance`` from everything else. Returns
    ``(x, y, yaw, w, d, rect index, height)`` or None."""
    parts, w, d = _BUILD[label](room.rng, room.sp, label)
    yaw = room.rng.uniform(0, 2 * math.pi) if yaw is None else yaw
    spot = room.free_spot(w, d, yaw, clearance=clearance)
    if spot is None:
        return None
    room.add(parts, label, (spot[0], spot[1], 0.0, yaw))
    return spot[0], spot[1], yaw, w, d, len(room.rects) - 1, max(float(v[:, 2].max()) for v, _ in parts)


def _tuck_chairs(room, table, per_side, sides=(0, 1), kind="chair"):
    """Chairs at a table or desk: 45% pushed under it until the backrest is 1.5-2.5 cm from the
    top's edge, the others anywhere from 35 cm out to almost as far in, turned more."""
    x, y, yaw, w, d, rect = table[:6]
    rng = room.rng
    for side in sides:
        for i in range(per_side):
            label = kind if isinstance(kind, str) else str(rng.choice(kind))
            parts, w2, d2 = _BUILD[label](rng, room.sp, label)
            r = rng.random()
            push = (d2 - 0.065 - rng.uniform(0, 0.01)) if r < 0.45 else rng.uniform(-0.35, d2 - 0.07)
            sign = -1.0 if side == 0 else 1.0
            local = np.array([-w / 2 + (i + 0.5) * w / per_side, sign * (d / 2 + d2 / 2 - push), 0.0])
            px, py = (_rot(yaw) @ local)[:2] + [x, y]
            yaw2 = yaw + (math.pi if side == 0 else 0.0) + rng.normal(0, 0.08 if r < 0.45 else 0.3)
            rc = room._rect(px, py, w2, d2, yaw2)
            if _rect_fits_except(room, rc, rect):
                room.rects.append(rc)
                room.add(parts, label, (px, py, 0.0, yaw2))


def _table_with_chairs(room, kind="table", chair="chair", sides=(0, 1), clearance=0.6, yaw=None):
    parts, w, d = _table(room.rng, room.sp, kind) if kind != "desk" else _BUILD["desk"](room.rng, room.sp, kind)
    yaw = float(room.rng.choice([0.0, math.pi / 2])) + room.rng.normal(0, 0.05) if yaw is None else yaw
    spot = room.free_spot(w, d, yaw, clearance=clearance)
    if spot is None:
        return None
    room.add(parts, kind, (spot[0], spot[1], 0.0, yaw))
    table = (spot[0], spot[1], yaw, w, d, len(room.rects) - 1)
    _tuck_chairs(room, table, max(1, int((w - 0.1) / 0.6)), sides, chair)
    return table


def _desk_at_wall(room, chair="office chair"):
    desk = _place_group(room, "desk")
    if desk is not None:
        x, y, yaw, w, d = desk[:5]
        _tuck_chairs(room, (x, y, yaw, w, d, len(room.rects) - 1), 1, (0,), chair)
        _clutter_on(room, desk, 0.74)
    return desk


def _clutter_on(room, anchor, z, n=None, label=None):
    """Small items resting on a surface (unannotated clutter, or ``label`` objects)."""
    rng = room.rng
    x, y, yaw, w, d = anchor[:5]
    for _ in range(int(rng.integers(0, 3)) if n is None else n):
        s = rng.uniform(0.08, 0.3)
        h = rng.uniform(0.05, 0.35)
        off = (rng.uniform(-w / 2 + s, w / 2 - s) if w > 2 * s else 0.0,
               rng.uniform(-d / 2 + s, d / 2 - s) if d > 2 * s else 0.0)
        _on_top(room, anchor, label, [_box(-s / 2, s / 2, -s / 2, s / 2, 0, h, room.sp)], z, offset=off)


def _row_against_wall(room, labels):
    """Objects side by side along one wall, touching (cabinets, a bookshelf wall, a kitchen run)."""
    first = _place_group(room, labels[0])
    prev = first
    for label in labels[1:]:
        if prev is None:
            break
        prev = _next_to(room, prev, label, 1)
    return first


def _wall_item(room, label):
    """Door, window or picture on a wall: flush (doors 1-3 cm, pictures 0.5-2 cm proud of it)."""
    sp, rng = room.sp, room.rng
    if label == "door":
        w, h, z0, t = rng.uniform(0.8, 1.0), rng.uniform(2.0, 2.15), 0.0, rng.uniform(0.01, 0.03)
    elif label == "window":
        w, h, z0, t = rng.uniform(0.8, 2.0), rng.uniform(1.0, 1.5), rng.uniform(0.8, 1.0), rng.uniform(0.04, 0.1)
    else:
        w, h, z0, t = rng.uniform(0.3, 1.2), rng.uniform(0.3, 0.9), rng.uniform(1.1, 1.6), rng.uniform(0.005, 0.02)
    span = room.wall_span(w + (0.5 if label == "window" else 0.0))
    if span is None:
        return None
    k, s = span
    x, y, yaw = room.wall_pose(k, s, 0.0)
    if label == "window":
        f = 0.06
        parts = [_box(-w / 2, w / 2, -t, 0, z0, z0 + f, sp, skip=("+y",)),
                 _box(-w / 2, w / 2, -t, 0, z0 + h - f, z0 + h, sp, skip=("+y",)),
                 _box(-w / 2, -w / 2 + f, -t, 0, z0 + f, z0 + h - f, sp, skip=("+y",)),
                 _box(w / 2 - f, w / 2, -t, 0, z0 + f, z0 + h - f, sp, skip=("+y",))]
    else:
        parts = [_box(-w / 2, w / 2, -t, 0.0, z0, z0 + h, sp, skip=("+y",))]
        if label == "door":
            parts.append(_box(w / 2 - 0.12, w / 2 - 0.08, -t - 0.05, -t, 1.0, 1.03, sp, skip=("+y",)))
            room.rects.append(room._rect(*room.wall_pose(k, s, 0.45)[:2], w, 0.9, yaw))
    room.add(parts, label, (x, y, 0.0, yaw))
    return x, y, yaw, w, h, z0, k, s


def _openings(room, doors=1, windows=(1, 3), pictures=(0, 3), curtains=0.6):
    rng = room.rng
    for _ in range(doors):
        _wall_item(room, "door")
    for _ in range(int(rng.integers(windows[0], windows[1] + 1))):
        win = _wall_item(room, "window")
        if win is not None and rng.random() < curtains:
            _curtain(room, win, str(rng.choice(["curtain", "curtains"])))
    for _ in range(int(rng.integers(pictures[0], pictures[1] + 1))):
        _wall_item(room, str(rng.choice(["picture", "poster", "painting"])))


def _floor_clutter(room, n):
    for _ in range(n):
        s = room.rng.uniform(0.1, 0.35)
        yaw = room.rng.uniform(0, 2 * math.pi)
        spot = room.free_spot(s, s, yaw)
        if spot is not None:
            room.add([_box(-s / 2, s / 2, -s / 2, s / 2, 0, room.rng.uniform(0.1, 0.5), room.sp)], None,
                     (spot[0], spot[1], 0.0, yaw))


def _rect_fits_except(room, r, skip: int) -> bool:
    """``room._fits(r)`` ignoring rectangle ``skip`` (the table a chair is pushed under)."""
    saved = room.rects
    room.rects = saved[:skip] + saved[skip + 1:]
    try:
        return room._fits(r, margin=0.003)
    finally:
        room.rects = saved


def _long_table(room, length, depth):
    """A conference or library table: top and legs (builders' tables stop at 1.8 m)."""
    h = room.rng.uniform(0.72, 0.76)
    parts = [_box(-length / 2, length / 2, -depth / 2, depth / 2, h - 0.04, h, room.sp, skip=())]
    parts += _legs(length, depth, h - 0.04, 0.06, room.sp, inset=0.1)
    return parts


def _bathtub_corner(room):
    tub = _place_group(room, "bathtub", walls=[int(room.rng.integers(0, 4))])
    if tub is not None:
        x, y, yaw, w, d = tub[:5]
        parts = [_sheet(-d / 2, d / 2, 0.0, 0.6, 2.0, room.sp, 0.03, 0.2, room.rng.uniform(0, 6))]
        px, py = (_rot(yaw) @ np.array([-w / 2 - 0.02, 0.0, 0.0]))[:2] + [x, y]
        room.add(parts, "shower curtain", (px, py, 0.0, yaw - math.pi / 2))


def _sofa_corner(room):
    sofa = _place_group(room, str(room.rng.choice(["couch", "sofa"])))
    if sofa is None:
        return
    x, y, yaw, w, d = sofa[:5]
    parts, w2, d2 = _table(room.rng, room.sp, "coffee table")
    local = np.array([0.0, -d / 2 - room.rng.uniform(0.25, 0.45) - d2 / 2, 0.0])
    px, py = (_rot(yaw) @ local)[:2] + [x, y]
    if room.try_place(px, py, w2, d2, yaw):
        room.add(parts, "coffee table", (px, py, 0.0, yaw))
        _clutter_on(room, (px, py, yaw, w2, d2), 0.42)
    end = _next_to(room, sofa, "end table", int(room.rng.choice([-1, 1])))
    if end is not None:
        _clutter_on(room, end, 0.55, n=1)
    for _ in range(int(room.rng.integers(0, 3))):
        _on_top(room, sofa, "pillow", [_box(-0.2, 0.2, -0.08, 0.08, 0, 0.35, room.sp, skip=())], 0.42,
                offset=(room.rng.uniform(-w / 3, w / 3), d / 2 - 0.3))


def _bedroom(room):
    rng = room.rng
    _openings(room, windows=(1, 2), pictures=(0, 3))
    bed = _place_group(room, "bed")
    if bed is not None:
        _pillows(room, bed)
        for side in ([-1, 1] if rng.random() < 0.5 else [int(rng.choice([-1, 1]))]):
            _next_to(room, bed, "cabinet", side)
    _desk_at_wall(room, str(rng.choice(["chair", "office chair"])))
    _row_against_wall(room, ["cabinet"] * int(rng.integers(1, 3)))
    if rng.random() < 0.4:
        _free(room, "armchair")
    _place_group(room, str(rng.choice(["trash can", "box", "ottoman"])))
    _floor_clutter(room, int(rng.integers(1, 4)))


def _bathroom(room):
    rng = room.rng
    _openings(room, windows=(0, 1), pictures=(0, 1), curtains=0.3)
    _bathtub_corner(room)
    _place_group(room, "toilet")
    counter = _place_group(room, str(rng.choice(["bathroom counter", "counter"])))
    if counter is not None:
        _sink(room, counter)
        _next_to(room, counter, "bathroom cabinet", int(rng.choice([-1, 1])))
    else:
        _place_group(room, "bathroom cabinet")
    _place_group(room, str(rng.choice(["trash bin", "trash can"])))
    _floor_clutter(room, int(rng.integers(0, 3)))


def _living(room):
    rng = room.rng
    _openings(room, windows=(1, 3), pictures=(1, 3))
    _sofa_corner(room)
    for _ in range(int(rng.integers(1, 3))):
        _free(room, "armchair", clearance=0.2)
    stand = _place_group(room, "tv stand")
    if stand is not None:
        _on_top(room, stand, "tv", [_box(-0.5, 0.5, -0.04, 0.04, 0, 0.6, room.sp)], 0.5, offset=(0.0, 0.05))
    _row_against_wall(room, ["bookshelf"] * int(rng.integers(1, 3)))
    _place_group(room, "ottoman")
    if rng.random() < 0.5:
        _table_with_chairs(room, "table", "chair", sides=(0, 1))
    _floor_clutter(room, int(rng.integers(1, 4)))


def _office(room):
    rng = room.rng
    _openings(room, windows=(1, 3), pictures=(0, 2))
    for _ in range(int(rng.integers(1, 4))):
        desk = _desk_at_wall(room, "office chair")
        if desk is not None and rng.random() < 0.6:
            desk2 = _next_to(room, desk, "desk", int(rng.choice([-1, 1])))
            if desk2 is not None:
                x, y, yaw, w, d = desk2[:5]
                _tuck_chairs(room, (x, y, yaw, w, d, len(room.rects) - 1), 1, (0,), "office chair")
    _row_against_wall(room, ["file cabinet"] * int(rng.integers(1, 4)))
    _row_against_wall(room, ["bookshelf", "cabinet"][: int(rng.integers(1, 3))])
    if room.W * room.D > 30:
        _table_with_chairs(room, "table", ["chair", "office chair"])
    _place_group(room, str(rng.choice(["trash can", "recycling bin"])))
    _place_group(room, "box")
    _floor_clutter(room, int(rng.integers(1, 4)))


def _kitchen(room):
    rng = room.rng
    _openings(room, windows=(1, 2), pictures=(0, 1), curtains=0.4)
    counter = _place_group(room, "kitchen counter")
    if counter is not None:
        _sink(room, counter, offset=rng.uniform(-0.3, 0.3))
        _clutter_on(room, counter, 0.9)
        _next_to(room, counter, str(rng.choice(["refrigerator", "mini fridge"])), 1)
        prev = counter
        for _ in range(int(rng.integers(1, 3))):
            prev = _next_to(room, prev, "kitchen cabinet", -1) if prev is not None else None
    else:
        _place_group(room, "refrigerator")
    _table_with_chairs(room, "dining table", "chair")
    _place_group(room, "trash can")
    _floor_clutter(room, int(rng.integers(0, 3)))


def _conference(room):
    rng = room.rng
    _openings(room, windows=(1, 3), pictures=(0, 2))
    length = min(rng.uniform(2.4, 4.5), max(room.W, room.D) - 2.0)
    depth = rng.uniform(1.0, 1.4)
    yaw = 0.0 if room.W >= room.D else math.pi / 2
    spot = room.free_spot(length, depth, yaw, clearance=0.7)
    if spot is not None:
        room.add(_long_table(room, length, depth), "table", (spot[0], spot[1], 0.0, yaw))
        table = (spot[0], spot[1], yaw, length, depth, len(room.rects) - 1)
        _tuck_chairs(room, table, max(1, int(length / 0.7)), (0, 1), str(rng.choice(["chair", "office chair"])))
        _clutter_on(room, table, 0.74)
    stand = _place_group(room, str(rng.choice(["tv stand", "cabinet"])))
    if stand is not None and rng.random() < 0.6:
        _on_top(room, stand, "tv", [_box(-0.6, 0.6, -0.04, 0.04, 0, 0.7, room.sp)], 0.5, offset=(0.0, 0.05))
    _place_group(room, str(rng.choice(["trash can", "recycling bin"])))
    _floor_clutter(room, int(rng.integers(0, 2)))


def _apartment(room):
    rng = room.rng
    _openings(room, doors=2, windows=(2, 4), pictures=(1, 4))
    bed = _place_group(room, "bed")
    if bed is not None:
        _pillows(room, bed)
        _next_to(room, bed, "cabinet", int(rng.choice([-1, 1])))
    _sofa_corner(room)
    counter = _place_group(room, "kitchen counter")
    if counter is not None:
        _sink(room, counter, offset=rng.uniform(-0.3, 0.3))
        _next_to(room, counter, "refrigerator", int(rng.choice([-1, 1])))
    _table_with_chairs(room, "dining table", "chair")
    _place_group(room, "bookshelf")
    _desk_at_wall(room, "office chair")
    _place_group(room, "trash can")
    _floor_clutter(room, int(rng.integers(1, 4)))


def _classroom(room):
    rng = room.rng
    _openings(room, doors=2, windows=(2, 4), pictures=(0, 3))
    kind = str(rng.choice(["desk", "table"]))
    cols, rows = min(4, int((room.W - 1.5) / 1.8)), min(4, int((room.D - 2.5) / 1.6))
    yaw = float(rng.choice([0.0, math.pi]))
    for i in range(max(cols, 1)):
        for j in range(max(rows, 1)):
            parts, w, d = _BUILD[kind](rng, room.sp, kind)
            x = 0.8 + (i + 0.5) * (room.W - 1.6) / max(cols, 1) + rng.normal(0, 0.05)
            y = 1.8 + (j + 0.5) * (room.D - 2.6) / max(rows, 1) + rng.normal(0, 0.05)
            if room.try_place(x, y, w, d, yaw):
                room.add(parts, kind, (x, y, 0.0, yaw))
                _tuck_chairs(room, (x, y, yaw, w, d, len(room.rects) - 1), 1 if w < 1.2 else 2, (0,),
                             ["chair", "office chair"])
    _desk_at_wall(room, "office chair")
    _row_against_wall(room, ["bookshelf", "cabinet", "cabinet"][: int(rng.integers(1, 4))])
    _place_group(room, "trash can")


def _library(room):
    rng = room.rng
    _openings(room, windows=(1, 3), pictures=(0, 1))
    for _ in range(int(rng.integers(2, 4))):
        _row_against_wall(room, ["bookshelf"] * int(rng.integers(2, 5)))
    for _ in range(int(rng.integers(1, 4))):
        _free(room, "bookshelf", clearance=0.5, yaw=float(rng.choice([0.0, math.pi / 2])))
    for _ in range(int(rng.integers(1, 3))):
        table = _table_with_chairs(room, "table", "chair")
        if table is not None:
            _clutter_on(room, table, 0.74, label="box" if rng.random() < 0.3 else None)
    _place_group(room, "trash can")


def _dining(room):
    rng = room.rng
    _openings(room, windows=(1, 3), pictures=(1, 3))
    _table_with_chairs(room, "dining table", "chair")
    if room.W * room.D > 35:
        _table_with_chairs(room, "dining table", "chair")
    _row_against_wall(room, ["cabinet", "cabinet"][: int(rng.integers(1, 3))])
    _place_group(room, "end table")
    _floor_clutter(room, int(rng.integers(0, 3)))


def _lobby(room):
    rng = room.rng
    _openings(room, doors=2, windows=(1, 4), pictures=(1, 3))
    for _ in range(int(rng.integers(1, 3))):
        _sofa_corner(room)
    for _ in range(int(rng.integers(2, 5))):
        _free(room, "armchair", clearance=0.15)
    _free(room, "ottoman", clearance=0.2)
    _place_group(room, "counter")
    for _ in range(int(rng.integers(1, 3))):
        _place_group(room, str(rng.choice(["trash can", "recycling bin"])))
    _floor_clutter(room, int(rng.integers(1, 4)))


def _storage(room):
    rng = room.rng
    _openings(room, windows=(0, 1), pictures=(0, 0), curtains=0.0)
    _row_against_wall(room, ["bookshelf"] * int(rng.integers(1, 4)))
    _row_against_wall(room, ["cabinet", "file cabinet", "cabinet"][: int(rng.integers(1, 4))])
    for _ in range(int(rng.integers(3, 8))):
        box = _free(room, "box", clearance=0.0, yaw=float(rng.choice([0.0, math.pi / 2])) + rng.normal(0, 0.1))
        if box is not None and rng.random() < 0.5:
            s = box[3] * rng.uniform(0.6, 0.95)
            _on_top(room, box, "box", [_box(-s / 2, s / 2, -s / 2, s / 2, 0, s * rng.uniform(0.5, 0.9), room.sp)],
                    box[6])
    if rng.random() < 0.5:
        _place_group(room, "mini fridge")
    _place_group(room, "trash can")
    _floor_clutter(room, int(rng.integers(2, 6)))


_LAYOUTS = {"bedroom": _bedroom, "bathroom": _bathroom, "living": _living, "office": _office,
            "kitchen": _kitchen, "conference": _conference, "apartment": _apartment, "classroom": _classroom,
            "library": _library, "dining": _dining, "lobby": _lobby, "storage": _storage}


def furnish(room, kind: str) -> None:
    """Furnish ``room`` as a ``kind`` room (a key of :data:`_LAYOUTS`)."""
    _LAYOUTS[kind](room)
