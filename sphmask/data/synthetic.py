"""Procedurally generated indoor rooms, written in the raw ScanNet format.

Each room is a triangle mesh: a floor, four walls, and furniture of the 18 ScanNetV2 instance
classes built from parts (chairs with legs, seat and back; tables with a top and legs; beds with a
headboard and pillows; sinks sitting on counters; doors, windows, pictures and curtains on the
walls; ...), plus a few objects of non-benchmark classes (pillow, box, tv) and unannotated clutter.
Objects often touch (chairs pushed against a table, a nightstand beside the bed, cabinets side by
side), which is what makes instance segmentation hard. Rooms are posed like real scans (random yaw
and offset, with the inverse in ``axisAlignment``), vertex order is shuffled, and colours are noisy.

:func:`write_raw_scene` writes exactly the files ScanNet ships (binary PLY via plyfile, segs.json
from :func:`sphmask.ops.segment_mesh`, aggregation.json, labels.ply, ``<scene>.txt``), so synthetic
rooms go through the same preprocessing as real ScanNet. Generation is deterministic: scene ``k`` of
seed ``s`` depends only on ``(s, k)`` and the size preset.
"""
import dataclasses
import json
import math
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from sphmask.io.atomic import write_text
from sphmask.io.ply import write_ply

ROOM_TYPES = ("bedroom", "living", "office", "kitchen", "bathroom")

# name: (room width/depth range in m, wall height range in m, mesh spacing in m)
SIZES = {
    "default": ((4.0, 6.5), (2.6, 3.0), 0.035),
    "small": ((2.8, 3.4), (2.3, 2.5), 0.09),
}
# Scan-like rooms of sphmask.data.synthetic_realistic (their own sizes and spacings).
PRESET_REALISTIC = "realistic"
PRESETS = tuple(SIZES) + (PRESET_REALISTIC,)

# Header and rows of ScanNet's scannetv2-labels.combined.tsv for the raw categories the generator
# uses ('|' stands for the tab). Written as the LF copy with the 'refridgerator' spelling, or as the
# CRLF copy with the spelling fixed (the two versions in circulation).
_LABEL_MAP_ROWS = """\
id|raw_category|category|count|nyu40id|eigen13id|nyuClass|nyu40class|eigen13class|ModelNet40|ModelNet10|ShapeNetCore55|synsetoffset|wnsynsetid|wnsynsetkey|mpcat40|mpcat40index
1|wall|wall|8277|1|12|wall|wall|Wall|||||n04546855|wall.n.01|wall|1
2|chair|chair|4646|5|4|chair|chair|Chair|chair|chair|chair|3001627|n03001627|chair.n.01|chair|3
3|floor|floor|1553|2|5|floor|floor|Floor|||||n03365592|floor.n.01|floor|2
5|door|door|1483|8|12|door|door|Wall|door||||n03221720|door.n.01|door|4
16|window|window|1209|9|13|window|window|Window|||||n04587648|window.n.01|window|9
4|table|table|1170|7|10|table|table|Table|table|table|table|4379243|n04379243|table.n.02|table|5
56|trash can|trash can|1090|39|6|garbage bin|otherfurniture|Furniture|||trash_bin|2747177|n02747177|ashcan.n.01|objects|39
13|pillow|pillow|937|18|7|pillow|pillow|Objects|||pillow|3938244|n03938244|pillow.n.01|cushion|8
15|picture|picture|862|11|8|picture|picture|Picture|||||n03931044|picture.n.01|picture|6
26|box|box|775|29|7|box|box|Objects|||||n02883344|box.n.01|objects|39
7|cabinet|cabinet|731|3|6|cabinet|cabinet|Furniture|||cabinet|2933112|n02933112|cabinet.n.01|cabinet|7
9|desk|desk|680|14|10|desk|desk|Table|desk|desk|table|4379243|n03179701|desk.n.01|table|5
10|office chair|office chair|595|5|4|chair|chair|Chair|chair|chair|chair|3001627|n04373704|swivel_chair.n.01|chair|3
6|couch|couch|502|6|9|sofa|sofa|Sofa|sofa|sofa|sofa|4256520|n04256520|sofa.n.01|sofa|10
14|sink|sink|488|34|7|sink|sink|Objects|sink||||n04223580|sink.n.01|sink|15
11|bed|bed|370|4|1|bed|bed|Bed|bed|bed|bed|2818832|n02818832|bed.n.01|bed|11
18|bookshelf|bookshelf|360|10|6|bookshelf|bookshelf|Furniture|bookshelf||bookshelf|2871439|n02871439|bookshelf.n.01|shelving|31
21|curtain|curtain|347|16|13|curtain|curtain|Window|||||n03151077|curtain.n.01|curtain|12
29|kitchen cabinet|kitchen cabinet|310|3|6|cabinet|cabinet|Furniture|||||n02933112|cabinet.n.01|cabinet|7
23|armchair|armchair|281|5|4|chair|chair|Chair|chair|chair|chair|3001627|n02738535|armchair.n.01|chair|3
24|coffee table|coffee table|258|7|10|coffee table|table|Table|table|table|table|4379243|n03063968|coffee_table.n.01|table|5
17|toilet|toilet|256|33|7|toilet|toilet|Objects|toilet|toilet|||n04446276|toilet.n.01|toilet|18
97|recycling bin|recycling bin|225|39|6|garbage bin|otherfurniture|Furniture|||trash_bin|2747177|n02747177|ashcan.n.01|objects|39
33|tv|tv|219|25|11|television|television|TV|||||n03211616|display.n.06|tv_monitor|22
75|file cabinet|file cabinet|217|3|6|cabinet|cabinet|Furniture|||cabinet|2933112|n03337140|file.n.03|cabinet|7
27|refrigerator|refrigerator|154|24|6|refridgerator|refridgerator|Furniture|||||n04070727|refrigerator.n.01|appliances|37
44|end table|end table|147|7|10|table|table|Table|table|table|table|4379243|n03063968|coffee_table.n.01|table|5
55|shower curtain|shower curtain|144|28|7|shower curtain|shower curtain|Objects|||||n04209239|shower_curtain.n.01|curtain|12
42|bathtub|bathtub|144|36|7|bathtub|bathtub|Objects|bathtub|bathtub|tub|2808440|n02808440|bathtub.n.01|bathtub|25
159|kitchen counter|kitchen counter|140|12|6|counter|counter|Furniture|table|table|table|4379243|n03116530|counter.n.01|counter|26
67|ottoman|ottoman|111|39|6|ottoman|otherfurniture|Furniture|stool||||n03380724|footstool.n.01|stool|19
35|counter|counter|104|12|6|counter|counter|Furniture|table|table|table|4379243|n03116530|counter.n.01|counter|26
165|mini fridge|mini fridge|87|24|6|refridgerator|refridgerator|Furniture|||||n03273913|electric_refrigerator.n.01|appliances|37
51|tv stand|tv stand|61|39|6|tv stand|otherfurniture|Furniture|tv_stand||||n03290653|entertainment_center.n.01|furniture|36
1169|trash bin|trash bin|52|39|6|garbage bin|otherfurniture|Furniture|||trash_bin|2747177|n02747177|ashcan.n.01|objects|39
1173|bathroom cabinet|bathroom cabinet|39|3|6|cabinet|cabinet|Furniture|||cabinet|2933112|n02933112|cabinet.n.01|cabinet|7
1156|bathroom counter|bathroom counter|24|12|6|counter|counter|Furniture|table|table|table|4379243|n03116530|counter.n.01|counter|26
45|dining table|dining table|19|7|10|table|table|Table|table|table|table|4379243|n04379243|table.n.02|table|5
1188|poster|poster|13|11|8|picture|picture|Picture|||||n03931044|picture.n.01|picture|6
21|curtains|curtain|12|16|13|curtain|curtain|Window|||||n03151077|curtain.n.01|curtain|12
1218|painting|painting|5|11|8|picture|picture|Picture|||||n03931044|picture.n.01|picture|6
1313|sofa|sofa|1|6|9|sofa|sofa|Sofa|||||n04256520|sofa.n.01|sofa|10
"""

RAW_TO_NYU40: Dict[str, int] = {
    r.split("|")[1]: int(r.split("|")[4]) for r in _LABEL_MAP_ROWS.splitlines()[1:]
}

# Base colours (rgb) per raw category family; every object jitters its own copy.
_PALETTE = {
    "wall": (205, 200, 190), "floor": (150, 120, 90), "wood": (140, 95, 60), "dark": (60, 60, 65),
    "fabric": (90, 110, 150), "white": (225, 225, 220), "metal": (170, 170, 175), "art": (180, 70, 60),
    "pillow": (230, 220, 200), "curtain": (120, 150, 110), "clutter": (110, 90, 140), "box": (190, 160, 110),
}


def label_map_text(variant: str = "lf") -> str:
    """The label map the generator writes: ``"lf"`` (LF line ends, ``refridgerator``) or
    ``"crlf"`` (CRLF line ends, spelling fixed)."""
    text = _LABEL_MAP_ROWS.replace("|", "\t")
    if variant == "lf":
        return text
    if variant == "crlf":
        return text.replace("refridgerator", "refrigerator").replace("\n", "\r\n")
    raise ValueError(f"label map variant must be 'lf' or 'crlf', got {variant!r}")


@dataclasses.dataclass(frozen=True)
class SyntheticObject:
    """One annotated object: its raw ScanNet category and that category's NYU40 id."""

    raw_label: str
    nyu40: int


@dataclasses.dataclass
class SyntheticScene:
    """A generated room.

    Attributes:
        scene_id: e.g. ``synth0003_00``.
        vertices: float32[V, 3] mesh vertices as written (posed like a raw scan).
        colors: uint8[V, 3].
        faces: int64[F, 3] triangles.
        vertex_object: int64[V] index into ``objects`` of the object each vertex belongs to, -1 for
            unannotated clutter.
        objects: the annotated objects, in aggregation order (walls and floor included).
        axis_alignment: float64[4, 4] matrix taking the posed mesh to an axis-aligned, room-centred frame.
        room_type: one of :data:`ROOM_TYPES`.
    """

    scene_id: str
    vertices: np.ndarray
    colors: np.ndarray
    faces: np.ndarray
    vertex_object: np.ndarray
    objects: List[SyntheticObject]
    axis_alignment: np.ndarray
    room_type: str

    @property
    def vertex_nyu40(self) -> np.ndarray:
        """int64[V] NYU40 id per vertex (0 = unannotated), as written to the labels.ply."""
        ids = np.array([o.nyu40 for o in self.objects] + [0], dtype=np.int64)
        return ids[self.vertex_object]


# ----------------------------------------------------------------------------------------------
# Mesh primitives (local frames: x = width, y = depth with +y the object's back, z up)


def _patch(origin, u, v, spacing: float) -> Tuple[np.ndarray, np.ndarray]:
    """Grid over the parallelogram origin + [0,1]u + [0,1]v; triangles face u x v."""
    origin, u, v = (np.asarray(a, dtype=np.float64) for a in (origin, u, v))
    nu = max(1, int(math.ceil(np.linalg.norm(u) / spacing)))
    nv = max(1, int(math.ceil(np.linalg.norm(v) / spacing)))
    i, j = np.meshgrid(np.arange(nu + 1), np.arange(nv + 1), indexing="ij")
    verts = origin + (i.reshape(-1, 1) / nu) * u + (j.reshape(-1, 1) / nv) * v
    a = (i[:-1, :-1] * (nv + 1) + j[:-1, :-1]).reshape(-1)
    b, c = a + (nv + 1), a + 1
    d = b + 1
    faces = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)], 0)
    return verts, faces


def _weld(pieces: Sequence[Tuple[np.ndarray, np.ndarray]]) -> Tuple[np.ndarray, np.ndarray]:
    """Concatenate patches and merge coincident vertices (shared box edges)."""
    verts, faces, off = [], [], 0
    for v, f in pieces:
        verts.append(v)
        faces.append(f + off)
        off += v.shape[0]
    v = np.concatenate(verts)
    f = np.concatenate(faces)
    _, first, inverse = np.unique(np.round(v, 6), axis=0, return_index=True, return_inverse=True)
    return v[first], inverse.reshape(-1)[f]


def _box(x0, x1, y0, y1, z0, z1, spacing, skip=("bottom",)):
    """Closed (minus ``skip`` sides) axis-aligned box with outward-facing triangles."""
    sx, sy, sz = x1 - x0, y1 - y0, z1 - z0
    sides = {
        "top": ((x0, y0, z1), (sx, 0, 0), (0, sy, 0)),
        "bottom": ((x0, y0, z0), (0, sy, 0), (sx, 0, 0)),
        "+x": ((x1, y0, z0), (0, sy, 0), (0, 0, sz)),
        "-x": ((x0, y0, z0), (0, 0, sz), (0, sy, 0)),
        "+y": ((x0, y1, z0), (0, 0, sz), (sx, 0, 0)),
        "-y": ((x0, y0, z0), (sx, 0, 0), (0, 0, sz)),
    }
    return _weld([_patch(o, u, v, spacing) for k, (o, u, v) in sides.items() if k not in skip])


def _sheet(x0, x1, y, z0, z1, spacing, amplitude, wavelength, phase):
    """Vertical wavy sheet (curtains) facing -y, waving in y."""
    v, f = _patch((x0, y, z0), (x1 - x0, 0, 0), (0, 0, z1 - z0), spacing)
    v[:, 1] += amplitude * np.sin(2 * np.pi * (v[:, 0] - x0) / wavelength + phase)
    return v, f[:, ::-1]


def _shell(w, d, h, t, spacing):
    """Open-top container (bathtub, sink basin, trash can): bottom slab and four walls."""
    return [
        _box(-w / 2, w / 2, -d / 2, d / 2, 0, t, spacing, skip=()),
        _box(-w / 2, w / 2, -d / 2, -d / 2 + t, t, h, spacing),
        _box(-w / 2, w / 2, d / 2 - t, d / 2, t, h, spacing),
        _box(-w / 2, -w / 2 + t, -d / 2 + t, d / 2 - t, t, h, spacing),
        _box(w / 2 - t, w / 2, -d / 2 + t, d / 2 - t, t, h, spacing),
    ]


def _legs(w, d, h, leg, spacing, inset=0.02):
    xs = (-w / 2 + inset, w / 2 - inset - leg)
    ys = (-d / 2 + inset, d / 2 - inset - leg)
    return [_box(x, x + leg, y, y + leg, 0, h, spacing) for x in xs for y in ys]


# ----------------------------------------------------------------------------------------------
# Object builders: return (parts, width, depth). Parts are (verts, faces) in the local frame.


def _chair(rng, sp, kind):
    if kind == "armchair":
        w, d, hs = rng.uniform(0.7, 0.85), rng.uniform(0.7, 0.85), rng.uniform(0.4, 0.45)
        arm = 0.15
        parts = [
            _box(-w / 2 + arm, w / 2 - arm, -d / 2, d / 2 - 0.2, 0, hs, sp),
            _box(-w / 2, w / 2, d / 2 - 0.2, d / 2, 0, hs + 0.45, sp),
            _box(-w / 2, -w / 2 + arm, -d / 2, d / 2 - 0.2, 0, hs + 0.2, sp),
            _box(w / 2 - arm, w / 2, -d / 2, d / 2 - 0.2, 0, hs + 0.2, sp),
        ]
        return parts, w, d
    w, d, hs = rng.uniform(0.42, 0.5), rng.uniform(0.42, 0.5), rng.uniform(0.43, 0.48)
    if kind == "office chair":
        parts = [
            _box(-0.3, 0.3, -0.3, 0.3, 0, 0.05, sp),
            _box(-0.03, 0.03, -0.03, 0.03, 0.05, hs - 0.06, sp),
            _box(-w / 2, w / 2, -d / 2, d / 2, hs - 0.06, hs, sp),
            _box(-w / 2 + 0.03, w / 2 - 0.03, d / 2 - 0.06, d / 2, hs + 0.05, hs + 0.5, sp, skip=()),
        ]
        return parts, max(w, 0.6), max(d, 0.6)
    parts = _legs(w, d, hs - 0.05, 0.035, sp, inset=0.0)
    parts += [
        _box(-w / 2, w / 2, -d / 2, d / 2, hs - 0.05, hs, sp, skip=()),
        _box(-w / 2, w / 2, d / 2 - 0.05, d / 2, hs, hs + rng.uniform(0.38, 0.5), sp),
    ]
    return parts, w, d


def _table(rng, sp, kind):
    dims = {
        "table": ((1.1, 1.6), (0.7, 0.9), 0.74), "dining table": ((1.3, 1.8), (0.85, 1.0), 0.75),
        "coffee table": ((0.8, 1.2), (0.45, 0.6), 0.42), "end table": ((0.45, 0.55), (0.45, 0.55), 0.55),
    }[kind]
    w, d, h = rng.uniform(*dims[0]), rng.uniform(*dims[1]), dims[2]
    parts = [_box(-w / 2, w / 2, -d / 2, d / 2, h - 0.04, h, sp, skip=())] + _legs(w, d, h - 0.04, 0.05, sp)
    return parts, w, d


def _desk(rng, sp, kind):
    w, d, h = rng.uniform(1.1, 1.5), rng.uniform(0.6, 0.75), 0.74
    parts = [
        _box(-w / 2, w / 2, -d / 2, d / 2, h - 0.03, h, sp, skip=()),
        _box(-w / 2, -w / 2 + 0.03, -d / 2, d / 2, 0, h - 0.03, sp),
        _box(w / 2 - 0.03, w / 2, -d / 2, d / 2, 0, h - 0.03, sp),
        _box(-w / 2 + 0.03, w / 2 - 0.03, d / 2 - 0.03, d / 2, 0.3, h - 0.03, sp, skip=()),
    ]
    return parts, w, d


def _bed(rng, sp, kind):
    w = rng.choice([rng.uniform(0.9, 1.05), rng.uniform(1.4, 1.8)])
    d = rng.uniform(2.0, 2.1)
    parts = [
        _box(-w / 2, w / 2, -d / 2, d / 2 - 0.06, 0, 0.5, sp),
        _box(-w / 2, w / 2, d / 2 - 0.06, d / 2, 0, rng.uniform(0.9, 1.1), sp),
    ]
    return parts, w, d


def _sofa(rng, sp, kind):
    w, d = rng.uniform(1.6, 2.2), rng.uniform(0.85, 0.95)
    arm = 0.18
    parts = [
        _box(-w / 2 + arm, w / 2 - arm, -d / 2, d / 2 - 0.2, 0, 0.42, sp),
        _box(-w / 2, w / 2, d / 2 - 0.2, d / 2, 0, 0.82, sp),
        _box(-w / 2, -w / 2 + arm, -d / 2, d / 2 - 0.2, 0, 0.6, sp),
        _box(w / 2 - arm, w / 2, -d / 2, d / 2 - 0.2, 0, 0.6, sp),
    ]
    return parts, w, d


def _cabinet(rng, sp, kind):
    dims = {
        "cabinet": ((0.45, 1.1), (0.4, 0.6), (0.55, 1.9)), "kitchen cabinet": ((0.5, 0.9), (0.55, 0.6), (0.85, 0.9)),
        "file cabinet": ((0.4, 0.5), (0.55, 0.65), (0.7, 1.3)), "bathroom cabinet": ((0.4, 0.7), (0.3, 0.45), (0.6, 0.9)),
    }[kind]
    w, d, h = (rng.uniform(*r) for r in dims)
    parts = [
        _box(-w / 2, w / 2, -d / 2, d / 2, 0, h, sp),
        _box(-0.06, 0.06, -d / 2 - 0.025, -d / 2, h * 0.7, h * 0.7 + 0.03, sp, skip=("+y",)),
    ]
    return parts, w, d


def _bookshelf(rng, sp, kind):
    w, d, h = rng.uniform(0.8, 1.0), rng.uniform(0.3, 0.36), rng.uniform(1.6, 2.0)
    t = 0.025
    parts = [
        _box(-w / 2, -w / 2 + t, -d / 2, d / 2, 0, h, sp),
        _box(w / 2 - t, w / 2, -d / 2, d / 2, 0, h, sp),
        _box(-w / 2 + t, w / 2 - t, d / 2 - t, d / 2, 0, h, sp, skip=()),
    ]
    n = int(rng.integers(4, 6))
    for k in range(n + 1):
        z = k * (h - t) / n
        parts.append(_box(-w / 2 + t, w / 2 - t, -d / 2, d / 2 - t, z, z + t, sp, skip=()))
    return parts, w, d


def _counter(rng, sp, kind):
    w = rng.uniform(1.4, 2.2) if kind == "kitchen counter" else rng.uniform(0.9, 1.3)
    d, h = 0.6, 0.9
    parts = [_box(-w / 2, w / 2, -d / 2 + 0.03, d / 2, 0, h - 0.04, sp),
             _box(-w / 2, w / 2, -d / 2, d / 2, h - 0.04, h, sp)]
    return parts, w, d


def _refrigerator(rng, sp, kind):
    if kind == "mini fridge":
        w, d, h = 0.5, 0.5, rng.uniform(0.8, 0.9)
    else:
        w, d, h = rng.uniform(0.6, 0.85), rng.uniform(0.65, 0.75), rng.uniform(1.65, 1.85)
    parts = [
        _box(-w / 2, w / 2, -d / 2, d / 2, 0, h, sp),
        _box(w / 2 - 0.1, w / 2 - 0.07, -d / 2 - 0.04, -d / 2, h * 0.45, h * 0.8, sp, skip=("+y",)),
    ]
    return parts, w, d


def _toilet(rng, sp, kind):
    parts = [
        _box(-0.19, 0.19, -0.35, 0.15, 0, 0.4, sp),
        _box(-0.2, 0.2, 0.15, 0.35, 0, 0.78, sp),
    ]
    return parts, 0.4, 0.7


def _bathtub(rng, sp, kind):
    w, d = rng.uniform(0.7, 0.8), rng.uniform(1.55, 1.75)
    return _shell(w, d, 0.55, 0.07, sp), w, d


def _other(rng, sp, kind):
    if kind in ("trash can", "recycling bin", "trash bin"):
        s = rng.uniform(0.28, 0.38)
        return _shell(s, s, rng.uniform(0.4, 0.6), 0.02, sp), s, s
    if kind == "ottoman":
        s = rng.uniform(0.45, 0.6)
        return [_box(-s / 2, s / 2, -s / 2, s / 2, 0, 0.42, sp)], s, s
    if kind == "tv stand":
        w, d = rng.uniform(1.0, 1.5), rng.uniform(0.35, 0.45)
        return [_box(-w / 2, w / 2, -d / 2, d / 2, 0, 0.5, sp)], w, d
    if kind == "box":
        s = rng.uniform(0.25, 0.5)
        return [_box(-s / 2, s / 2, -s / 2, s / 2, 0, s * rng.uniform(0.6, 1.0), sp)], s, s
    raise ValueError(kind)


_BUILDERS: Dict[str, Callable] = {}
for _k in ("chair", "office chair", "armchair"):
    _BUILDERS[_k] = _chair
for _k in ("table", "dining table", "coffee table", "end table"):
    _BUILDERS[_k] = _table
for _k in ("cabinet", "kitchen cabinet", "file cabinet", "bathroom cabinet"):
    _BUILDERS[_k] = _cabinet
for _k in ("kitchen counter", "counter", "bathroom counter"):
    _BUILDERS[_k] = _counter
for _k in ("refrigerator", "mini fridge"):
    _BUILDERS[_k] = _refrigerator
for _k in ("trash can", "recycling bin", "trash bin", "ottoman", "tv stand", "box"):
    _BUILDERS[_k] = _other
_BUILDERS.update({"desk": _desk, "bed": _bed, "couch": _sofa, "sofa": _sofa, "bookshelf": _bookshelf,
                  "toilet": _toilet, "bathtub": _bathtub})

_COLOR_OF = {
    "chair": "wood", "office chair": "dark", "armchair": "fabric", "couch": "fabric", "sofa": "fabric",
    "bed": "fabric", "bookshelf": "wood", "desk": "wood", "cabinet": "wood", "kitchen cabinet": "white",
    "file cabinet": "metal", "bathroom cabinet": "white", "kitchen counter": "white", "counter": "white",
    "bathroom counter": "white", "refrigerator": "white", "mini fridge": "white", "toilet": "white",
    "bathtub": "white", "sink": "metal", "door": "wood", "window": "white", "picture": "art", "poster": "art",
    "painting": "art", "curtain": "curtain", "curtains": "curtain", "shower curtain": "curtain",
    "pillow": "pillow", "box": "box", "tv": "dark", "tv stand": "dark", "ottoman": "fabric",
    "trash can": "dark", "recycling bin": "metal", "trash bin": "dark", "table": "wood",
    "dining table": "wood", "coffee table": "wood", "end table": "wood", "wall": "wall", "floor": "floor",
}


# ----------------------------------------------------------------------------------------------
# Room layout


def pose_like_scan(rng, verts, width, depth):
    """Pose a room like a raw scan: random yaw about the room's centre, all coordinates positive.
    Returns the posed vertices and the 4x4 ``axisAlignment`` that undoes it."""
    R = _rot(rng.uniform(0, 2 * math.pi))
    posed = (verts - np.array([width / 2, depth / 2, 0.0])) @ R.T
    t = -posed.min(0) + rng.uniform(0.05, 0.5, 3) * [1, 1, 0]
    align = np.eye(4)
    align[:3, :3] = R.T
    align[:3, 3] = -R.T @ t
    return posed + t, align


def _rot(yaw):
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


class _Room:
    """Places objects without collisions and accumulates the mesh."""

    def __init__(self, rng, width, depth, height, spacing):
        self.rng, self.W, self.D, self.H, self.sp = rng, width, depth, height, spacing
        self.rects: List[Tuple[float, float, float, float]] = []
        self.wall_spans: Dict[int, List[Tuple[float, float]]] = {0: [], 1: [], 2: [], 3: []}
        self.verts: List[np.ndarray] = []
        self.faces: List[np.ndarray] = []
        self.owner: List[np.ndarray] = []
        self.cols: List[np.ndarray] = []
        self.objects: List[SyntheticObject] = []
        self.n = 0

    # -- mesh accumulation
    def add(self, parts, label: Optional[str], pose=(0.0, 0.0, 0.0, 0.0), color_key=None):
        """Add parts posed by (x, y, z, yaw); ``label`` None = unannotated clutter. Returns object index."""
        x, y, z, yaw = pose
        if label is None:
            idx = -1
        else:
            idx = len(self.objects)
            self.objects.append(SyntheticObject(label, RAW_TO_NYU40[label]))
        base = np.array(_PALETTE[color_key or _COLOR_OF.get(label, "clutter")], dtype=np.float64)
        base = base + self.rng.normal(0, 12, 3)
        R = _rot(yaw)
        for v, f in parts:
            w = v @ R.T + np.array([x, y, z])
            self.verts.append(w)
            self.faces.append(f + self.n)
            self.owner.append(np.full(v.shape[0], idx, dtype=np.int64))
            shade = 0.85 + 0.15 * (v[:, 2:3] - v[:, 2].min()) / max(np.ptp(v[:, 2]), 1e-6)
            self.cols.append(base * shade + self.rng.normal(0, 6, (v.shape[0], 3)))
            self.n += v.shape[0]
        return idx

    # -- placement
    def _fits(self, r, margin=0.0):
        x0, y0, x1, y1 = r
        if x0 < 0.01 or y0 < 0.01 or x1 > self.W - 0.01 or y1 > self.D - 0.01:
            return False
        for a in self.rects:
            if x0 < a[2] - margin and a[0] + margin < x1 and y0 < a[3] - margin and a[1] + margin < y1:
                return False
        return True

    @staticmethod
    def _rect(x, y, w, d, yaw):
        R = _rot(yaw)[:2, :2]
        corners = np.array([[-w / 2, -d / 2], [w / 2, -d / 2], [w / 2, d / 2], [-w / 2, d / 2]]) @ R.T + [x, y]
        return (corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max())

    def try_place(self, x, y, w, d, yaw, margin=0.005):
        r = self._rect(x, y, w, d, yaw)
        if self._fits(r, margin):
            self.rects.append(r)
            return True
        return False

    # wall k: 0 = y=0 (south), 1 = x=W (east), 2 = y=D (north), 3 = x=0 (west); yaw turns local +y
    # (the object's back) towards that wall.
    _WALL_YAW = {0: math.pi, 1: -math.pi / 2, 2: 0.0, 3: math.pi / 2}

    def wall_length(self, k):
        return self.W if k in (0, 2) else self.D

    def wall_pose(self, k, s, dist):
        """Point at arc position s along wall k, ``dist`` into the room; and the yaw facing out of it."""
        p = {0: (s, dist), 1: (self.W - dist, s), 2: (self.W - s, self.D - dist), 3: (dist, self.D - s)}[k]
        return p[0], p[1], self._WALL_YAW[k]

    def against_wall(self, w, d, walls=None, tries=60, gap=0.01):
        """Find a free spot with the object's back to a wall. Returns (x, y, yaw, wall, s) or None."""
        for _ in range(tries):
            k = int(self.rng.choice(walls if walls is not None else 4))
            L = self.wall_length(k)
            if L < w + 0.05:
                continue
            s = self.rng.uniform(w / 2 + 0.02, L - w / 2 - 0.02)
            x, y, yaw = self.wall_pose(k, s, d / 2 + gap)
            if self.try_place(x, y, w, d, yaw):
                return x, y, yaw, k, s
        return None

    def free_spot(self, w, d, yaw, tries=60, clearance=0.0):
        for _ in range(tries):
            x = self.rng.uniform(w / 2 + 0.3, self.W - w / 2 - 0.3) if self.W > w + 0.6 else self.W / 2
            y = self.rng.uniform(d / 2 + 0.3, self.D - d / 2 - 0.3) if self.D > d + 0.6 else self.D / 2
            r = self._rect(x, y, w + 2 * clearance, d + 2 * clearance, yaw)
            if self._fits(r):
                self.rects.append(self._rect(x, y, w, d, yaw))
                return x, y
        return None

    def wall_span(self, width, tries=40):
        """A free interval on a wall for a door/window/picture: (wall, s) or None."""
        for _ in range(tries):
            k = int(self.rng.integers(0, 4))
            L = self.wall_length(k)
            if L < width + 0.4:
                continue
            s = self.rng.uniform(width / 2 + 0.2, L - width / 2 - 0.2)
            lo, hi = s - width / 2 - 0.05, s + width / 2 + 0.05
            if all(hi <= a or lo >= b for a, b in self.wall_spans[k]):
                self.wall_spans[k].append((lo, hi))
                return k, s
        return None


def _place_group(room: _Room, label, walls=None):
    """Place one floor object against a wall; returns (x, y, yaw, w, d, wall, s) or None."""
    parts, w, d = _BUILDERS[label](room.rng, room.sp, label)
    spot = room.against_wall(w, d, walls)
    if spot is None:
        return None
    x, y, yaw, k, s = spot
    room.add(parts, label, (x, y, 0.0, yaw))
    return x, y, yaw, w, d, k, s


def _beside(room: _Room, anchor, label, side):
    """Put ``label`` against the same wall, touching ``anchor`` on ``side`` (-1 left, +1 right)."""
    x, y, yaw, w, d, k, s = anchor
    parts, w2, d2 = _BUILDERS[label](room.rng, room.sp, label)
    s2 = s + side * (w / 2 + w2 / 2 + 0.004)
    if not (w2 / 2 < s2 < room.wall_length(k) - w2 / 2):
        return None
    x2, y2, yaw2 = room.wall_pose(k, s2, d2 / 2 + 0.01)
    if not room.try_place(x2, y2, w2, d2, yaw2, margin=0.003):
        return None
    room.add(parts, label, (x2, y2, 0.0, yaw2))
    return x2, y2, yaw2, w2, d2, k, s2


def _next_to(room: _Room, anchor, label, side):
    """:func:`_beside` on ``side``, else on the other side, else anywhere against a wall."""
    if anchor is not None:
        for sd in (side, -side):
            placed = _beside(room, anchor, label, sd)
            if placed is not None:
                return placed
    return _place_group(room, label)


def _in_front(room: _Room, anchor, label, gap, facing_anchor=True, lateral=0.0):
    """Put ``label`` in front of ``anchor`` (a chair pushed against a desk, a coffee table)."""
    x, y, yaw, w, d = anchor[:5]
    parts, w2, d2 = _BUILDERS[label](room.rng, room.sp, label)
    R = _rot(yaw)
    local = np.array([lateral, -d / 2 - gap - d2 / 2, 0.0])
    px, py = (R @ local)[:2] + [x, y]
    yaw2 = yaw + math.pi if facing_anchor else yaw
    if not room.try_place(px, py, w2, d2, yaw2, margin=0.003):
        return None
    room.add(parts, label, (px, py, 0.0, yaw2))
    return px, py, yaw2, w2, d2


def _on_top(room: _Room, anchor, label, parts, z, offset=(0.0, 0.0)):
    """An object resting on another (sink on a counter, pillow on a bed, tv on its stand)."""
    x, y, yaw = anchor[:3]
    R = _rot(yaw)
    px, py = (R @ np.array([offset[0], offset[1], 0.0]))[:2] + [x, y]
    room.add(parts, label, (px, py, z, yaw))


def _wall_object(room: _Room, label):
    sp, rng = room.sp, room.rng
    if label == "door":
        w, h, z0 = rng.uniform(0.8, 0.95), rng.uniform(2.0, 2.1), 0.0
    elif label == "window":
        w, h, z0 = rng.uniform(0.8, 1.5), rng.uniform(1.0, 1.3), rng.uniform(0.85, 1.0)
    else:  # pictures
        w, h = rng.uniform(0.4, 1.0), rng.uniform(0.3, 0.75)
        z0 = rng.uniform(1.2, 1.6)
    span = room.wall_span(w + (0.5 if label == "window" else 0.0))
    if span is None:
        return None
    k, s = span
    x, y, yaw = room.wall_pose(k, s, 0.0)
    if label == "door":
        parts = [_box(-w / 2, w / 2, -0.045, 0.0, z0, z0 + h, sp, skip=("+y",)),
                 _box(w / 2 - 0.12, w / 2 - 0.08, -0.1, -0.045, 1.0, 1.04, sp, skip=("+y",))]
        room.rects.append(room._rect(*room.wall_pose(k, s, 0.45)[:2], w, 0.9, yaw))
    elif label == "window":
        f = 0.06
        parts = [_box(-w / 2, w / 2, -0.08, 0, z0, z0 + f, sp, skip=("+y",)),
                 _box(-w / 2, w / 2, -0.08, 0, z0 + h - f, z0 + h, sp, skip=("+y",)),
                 _box(-w / 2, -w / 2 + f, -0.08, 0, z0 + f, z0 + h - f, sp, skip=("+y",)),
                 _box(w / 2 - f, w / 2, -0.08, 0, z0 + f, z0 + h - f, sp, skip=("+y",))]
    else:
        parts = [_box(-w / 2, w / 2, -0.025, 0.0, z0, z0 + h, sp, skip=("+y",))]
    room.add(parts, label, (x, y, 0.0, yaw))
    return x, y, yaw, w, h, z0, k, s


def _curtain(room: _Room, window, label):
    x, y, yaw, w, h, z0, k, s = window
    rng, sp = room.rng, room.sp
    cw = w + 0.4
    top = min(z0 + h + 0.25, room.H - 0.05)
    parts = [_sheet(-cw / 2, cw / 2, -0.15, max(0.3, z0 - 0.5), top, sp, 0.04, rng.uniform(0.15, 0.25), rng.uniform(0, 6))]
    room.add(parts, label, (x, y, 0.0, yaw))


def _pillows(room: _Room, bed):
    x, y, yaw, w, d = bed[:5]
    n = 1 if w < 1.2 else 2
    for i in range(n):
        pw = min(0.6, w / n - 0.08)
        off = -w / 2 + (i + 0.5) * w / n
        parts = [_box(-pw / 2, pw / 2, -0.18, 0.18, 0, 0.12, room.sp, skip=())]
        _on_top(room, bed, "pillow", parts, 0.5, offset=(off, d / 2 - 0.06 - 0.19))


def _sink(room: _Room, counter, offset=0.0):
    sw, sd = room.rng.uniform(0.45, 0.6), room.rng.uniform(0.38, 0.45)
    _on_top(room, counter, "sink", _shell(sw, sd, 0.14, 0.02, room.sp), 0.9, offset=(offset, 0.0))


def _furnish(room: _Room, kind: str) -> None:
    rng = room.rng
    _wall_object(room, "door")
    for _ in range(int(rng.integers(1, 3)) if kind != "bathroom" else 1):
        win = _wall_object(room, "window")
        if win is not None and kind != "bathroom" and rng.random() < 0.7:
            _curtain(room, win, str(rng.choice(["curtain", "curtains"])))
    if kind == "bedroom":
        bed = _place_group(room, "bed")
        if bed is not None:
            _pillows(room, bed)
            _next_to(room, bed, "cabinet", int(rng.choice([-1, 1])))
        desk = _place_group(room, "desk")
        if desk is not None:
            _in_front(room, desk, str(rng.choice(["chair", "office chair"])), gap=0.0)
        _place_group(room, "cabinet")
        _place_group(room, str(rng.choice(["trash can", "box"])))
    elif kind == "living":
        sofa = _place_group(room, str(rng.choice(["couch", "sofa"])))
        if sofa is not None:
            _in_front(room, sofa, "coffee table", gap=rng.uniform(0.3, 0.45), facing_anchor=False)
            _next_to(room, sofa, "end table", int(rng.choice([-1, 1])))
        _place_group(room, "bookshelf")
        stand = _place_group(room, "tv stand")
        if stand is not None:
            tv = [_box(-0.5, 0.5, -0.04, 0.04, 0, 0.6, room.sp)]
            _on_top(room, stand, "tv", tv, 0.5, offset=(0.0, 0.05))
        for _ in range(int(rng.integers(1, 3))):
            parts, w, d = _chair(rng, room.sp, "armchair")
            yaw = rng.uniform(0, 2 * math.pi)
            spot = room.free_spot(w, d, yaw, clearance=0.05)
            if spot is not None:
                room.add(parts, "armchair", (spot[0], spot[1], 0.0, yaw))
        _place_group(room, "ottoman")
    elif kind == "office":
        desk = _place_group(room, "desk")
        if desk is not None:
            _in_front(room, desk, "office chair", gap=0.0)
            desk2 = _beside(room, desk, "desk", int(rng.choice([-1, 1])))
            if desk2 is not None:
                _in_front(room, desk2, "office chair", gap=0.0)
        fc = _place_group(room, "file cabinet")
        if fc is not None:
            _next_to(room, fc, "file cabinet", 1)
        _place_group(room, "bookshelf")
        _place_group(room, str(rng.choice(["trash can", "recycling bin"])))
        _place_group(room, "box")
    elif kind == "kitchen":
        counter = _place_group(room, "kitchen counter")
        if counter is not None:
            _sink(room, counter, offset=rng.uniform(-0.3, 0.3))
        _next_to(room, counter, str(rng.choice(["refrigerator", "mini fridge"])), 1)
        _next_to(room, counter, "kitchen cabinet", -1)
        parts, w, d = _table(rng, room.sp, "dining table")
        yaw = float(rng.choice([0.0, math.pi / 2]))
        spot = room.free_spot(w, d, yaw, clearance=0.5)
        if spot is not None:
            room.add(parts, "dining table", (spot[0], spot[1], 0.0, yaw))
            table = (spot[0], spot[1], yaw, w, d)
            for side, lat in ((0, -w / 4), (0, w / 4), (1, -w / 4), (1, w / 4))[: int(rng.integers(2, 5))]:
                anchor = table if side == 0 else (spot[0], spot[1], yaw + math.pi, w, d)
                _in_front(room, anchor, "chair", gap=0.0, lateral=lat)
        _place_group(room, "trash can")
    elif kind == "bathroom":
        corner_walls = [int(rng.integers(0, 4))]
        tub = _place_group(room, "bathtub", walls=corner_walls)
        if tub is not None:
            x, y, yaw, w, d = tub[:5]
            parts = [_sheet(-d / 2, d / 2, 0.0, 0.6, 2.0, room.sp, 0.03, 0.2, rng.uniform(0, 6))]
            R = _rot(yaw)
            px, py = (R @ np.array([-w / 2 - 0.02, 0.0, 0.0]))[:2] + [x, y]
            room.add(parts, "shower curtain", (px, py, 0.0, yaw - math.pi / 2))
        _place_group(room, "toilet")
        counter = _place_group(room, "bathroom counter")
        if counter is not None:
            _sink(room, counter)
        _place_group(room, "bathroom cabinet")
        _place_group(room, "trash bin")
    for _ in range(int(rng.integers(1, 3)) if kind != "bathroom" else 0):
        _wall_object(room, str(rng.choice(["picture", "poster", "painting"])))
    for _ in range(int(rng.integers(1, 4))):
        s = rng.uniform(0.1, 0.25)
        yaw = rng.uniform(0, 2 * math.pi)
        spot = room.free_spot(s, s, yaw)
        if spot is not None:
            room.add([_box(-s / 2, s / 2, -s / 2, s / 2, 0, s, room.sp)], None, (spot[0], spot[1], 0.0, yaw),
                     color_key="clutter")


def _shell_of_room(room: _Room) -> None:
    sp, W, D, H = room.sp, room.W, room.D, room.H
    room.add([_patch((0, 0, 0), (W, 0, 0), (0, D, 0), sp)], "floor")
    walls = [((0, 0, 0), (0, 0, H), (W, 0, 0)),   # y = 0, normal +y (into the room)
             ((W, 0, 0), (0, 0, H), (0, D, 0)),   # x = W, normal -x
             ((W, D, 0), (0, 0, H), (-W, 0, 0)),  # y = D, normal -y
             ((0, D, 0), (0, 0, H), (0, -D, 0))]  # x = 0, normal +x
    for o, u, v in walls:
        room.add([_patch(o, u, v, sp)], "wall")


def generate_scene(index: int, seed: int = 0, size: str = "default", room_type: Optional[str] = None,
                   noise: float = 0.004) -> SyntheticScene:
    """Generate room ``index`` of ``seed`` (deterministic in ``(seed, index, size, room_type, noise)``).

    Args:
        size: a key of :data:`SIZES` (``"small"`` rooms have ~10k vertices, ``"default"`` ~50-150k).
        room_type: one of :data:`ROOM_TYPES`; by default rooms cycle through them with ``index``.
        noise: standard deviation (m) of the Gaussian jitter added to every vertex, as in a scan.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    kind = room_type or ROOM_TYPES[index % len(ROOM_TYPES)]
    if kind not in ROOM_TYPES:
        raise ValueError(f"room_type must be one of {ROOM_TYPES}, got {room_type!r}")
    rng = np.random.default_rng([seed, index, ROOM_TYPES.index(kind)])
    (lo, hi), (hlo, hhi), spacing = SIZES[size]
    scale = 0.75 if kind == "bathroom" and size != "small" else 1.0
    room = _Room(rng, rng.uniform(lo, hi) * scale, rng.uniform(lo, hi) * scale, rng.uniform(hlo, hhi), spacing)
    _shell_of_room(room)
    _furnish(room, kind)

    verts = np.concatenate(room.verts)
    faces = np.concatenate(room.faces)
    owner = np.concatenate(room.owner)
    colors = np.clip(np.rint(np.concatenate(room.cols)), 0, 255).astype(np.uint8)
    verts = verts + rng.normal(0, noise, verts.shape)

    posed, align = pose_like_scan(rng, verts, room.W, room.D)

    perm = rng.permutation(verts.shape[0])
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.shape[0])
    return SyntheticScene(
        scene_id=f"synth{index:04d}_00",
        vertices=posed[perm].astype(np.float32),
        colors=colors[perm],
        faces=inv[faces].astype(np.int64),
        vertex_object=owner[perm],
        objects=room.objects,
        axis_alignment=align,
        room_type=kind,
    )


def canonical_segments(seg: np.ndarray) -> np.ndarray:
    """Relabel a segmentation so every segment's id is its smallest vertex index (ScanNet's segs.json
    uses representative vertex indices as ids)."""
    _, first, inverse = np.unique(seg, return_index=True, return_inverse=True)
    return first[inverse.reshape(-1)].astype(np.int64)


def segment_scene(scene: SyntheticScene, segment_mesh: Optional[Callable] = None) -> np.ndarray:
    """Superpoints of the mesh (int64[V], ScanNet-style ids) with :func:`sphmask.ops.segment_mesh`."""
    import torch

    if segment_mesh is None:
        from sphmask.ops import segment_mesh
    seg = segment_mesh(torch.from_numpy(scene.vertices), torch.from_numpy(scene.faces))
    return canonical_segments(np.asarray(seg.numpy() if hasattr(seg, "numpy") else seg))


def write_raw_scene(scene: SyntheticScene, scene_dir: str, labelled: bool = True,
                    segments: Optional[np.ndarray] = None, segment_mesh: Optional[Callable] = None) -> None:
    """Write the scene's files in ScanNet's layout into ``scene_dir``.

    Labelled scenes get the mesh, ``*_vh_clean_2.labels.ply``, ``*.segs.json``, ``*.aggregation.json``
    and ``<scene>.txt``; test scenes (``labelled=False``) only the mesh and ``<scene>.txt``.
    ``segments`` (from :func:`segment_scene`) is computed when not given.
    """
    sid = scene.scene_id
    base = os.path.join(scene_dir, sid)
    vx = {"x": scene.vertices[:, 0], "y": scene.vertices[:, 1], "z": scene.vertices[:, 2],
          "red": scene.colors[:, 0], "green": scene.colors[:, 1], "blue": scene.colors[:, 2],
          "alpha": np.full(scene.vertices.shape[0], 255, dtype=np.uint8)}
    write_ply(base + "_vh_clean_2.ply", vx, scene.faces)
    align = " ".join(f"{v:.9g}" for v in scene.axis_alignment.reshape(-1))
    write_text(f"axisAlignment = {align}\nsceneType = {scene.room_type}\n", base + ".txt")
    if not labelled:
        return
    if segments is None:
        segments = segment_scene(scene, segment_mesh)
    write_ply(base + "_vh_clean_2.labels.ply", {**vx, "label": scene.vertex_nyu40.astype(np.uint16)}, scene.faces)
    segs = {"params": {"kThresh": "0.01", "segMinVerts": "20"}, "sceneId": sid, "segIndices": segments.tolist()}
    write_text(json.dumps(segs), base + "_vh_clean_2.0.010000.segs.json")
    groups = []
    for i, obj in enumerate(scene.objects):
        segs_of = np.unique(segments[scene.vertex_object == i])
        groups.append({"id": i, "objectId": i, "segments": segs_of.tolist(), "label": obj.raw_label})
    agg = {"sceneId": f"scannet.{sid}", "appId": "sphmask.synthetic", "segGroups": groups,
           "segmentsFile": f"scannet.{sid}_vh_clean_2.0.010000.segs.json"}
    write_text(json.dumps(agg), base + ".aggregation.json")


def make_synthetic_dataset(out_dir: str, scenes: int, seed: int = 0, size: str = "default", test_scenes: int = 0,
                           label_map: str = "lf", segment_mesh: Optional[Callable] = None,
                           progress: bool = False, first_index: int = 0, split: str = "auto") -> List[str]:
    """Write ``scenes`` labelled rooms to ``<out>/scans`` and ``test_scenes`` unlabelled rooms to
    ``<out>/scans_test``, plus the label map and split files. Returns the scene ids.

    Args:
        size: a preset of :data:`PRESETS`: a key of :data:`SIZES`, or ``"realistic"``
            (:mod:`sphmask.data.synthetic_realistic`: scan-like rooms 4-10 m).
        first_index: index (and scene id number) of the first room, so that sets made with different
            seeds can also have different names.
        split: ``"auto"`` puts one room of every block of five in ``scannetv2_val.txt`` (index
            ``5b + b mod 5`` of block ``b``, so validation holds every room type) and the others in
            ``scannetv2_train.txt``; ``"train"`` or ``"val"`` puts all labelled rooms there.
    """
    if size not in PRESETS:
        raise ValueError(f"size must be one of {list(PRESETS)}, got {size!r}")
    if split not in ("auto", "train", "val"):
        raise ValueError(f"split must be 'auto', 'train' or 'val', got {split!r}")
    if first_index < 0:
        raise ValueError(f"first_index must be >= 0, got {first_index}")
    os.makedirs(out_dir, exist_ok=True)
    write_text(label_map_text(label_map), os.path.join(out_dir, "scannetv2-labels.combined.tsv"))
    splits: Dict[str, List[str]] = {"train": [], "val": [], "test": []}
    ids = []
    items = ([(first_index + i, True) for i in range(scenes)]
             + [(first_index + scenes + j, False) for j in range(test_scenes)])
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="synthetic rooms", unit="scene")
    for index, labelled in items:
        sub = "scans" if labelled else "scans_test"
        if size == PRESET_REALISTIC:
            from sphmask.data.synthetic_realistic import generate_realistic_scene, write_realistic_scene

            scene = generate_realistic_scene(index, seed)
            write_realistic_scene(scene, os.path.join(out_dir, sub, scene.scene_id), labelled, segment_mesh=segment_mesh)
        else:
            scene = generate_scene(index, seed, size)
            write_raw_scene(scene, os.path.join(out_dir, sub, scene.scene_id), labelled, segment_mesh=segment_mesh)
        if not labelled:
            name = "test"
        elif split == "auto":
            # One room of every five is validation, at a position that moves with each block of
            # five: room types cycle with the index, so a fixed position would put one room type
            # (and its classes, e.g. every toilet) only in validation.
            name = "val" if index % 5 == (index // 5) % 5 else "train"
        else:
            name = split
        splits[name].append(scene.scene_id)
        ids.append(scene.scene_id)
    for name, lst in splits.items():
        write_text("".join(s + "\n" for s in lst), os.path.join(out_dir, f"scannetv2_{name}.txt"))
    return ids
