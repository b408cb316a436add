"""Synthetic scenes in the raw layouts of S3DIS and STPLS3D, for end-to-end tests of their
preparation, training and evaluation (docs/synthetic.md).

* S3DIS (``Stanford3dDataset_v1.2_Aligned_Version``): the rooms of :mod:`sphmask.data.synthetic`
  as point clouds, axis-aligned, with a ceiling added, written as ``Area_<k>/<room>/<room>.txt``
  (``x y z r g b``) plus ``Annotations/<class>_<i>.txt`` per object, every point in exactly one
  annotation as in the release (unannotated clutter of the mesh is left out). ScanNet raw categories
  map to the 13 S3DIS classes by :data:`S3DIS_CLASS_OF_RAW`.
* STPLS3D (``Synthetic_v3_InstanceSegmentation``): outdoor tiles ``<k>_points_GTv3.txt``,
  comma-separated ``x, y, z, r, g, b, semantic, instance`` (ground has instance -100): a ground
  grid with buildings, trees, bushes, grass patches, vehicles, trucks, aircraft, military vehicles,
  bikes, motorcycles, light poles, street signs, clutter and fences sampled on their surfaces.

ScanNet200 needs no writer of its own: it is ScanNet's raw layout, and the rooms of
:func:`sphmask.data.synthetic.make_synthetic_dataset` carry rows copied from the real
``scannetv2-labels.combined.tsv``, whose ``id`` column is what the ScanNet200 preparation maps to
its 200 classes. Everything is deterministic in ``(seed, index)``.
"""
import math
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np

from sphmask.data.synthetic import SIZES, generate_scene
from sphmask.io.atomic import write_text

#: S3DIS class of each raw ScanNet category the generator uses (others are ``clutter``).
S3DIS_CLASS_OF_RAW: Dict[str, str] = {
    "wall": "wall", "floor": "floor", "door": "door", "window": "window",
    "chair": "chair", "office chair": "chair", "armchair": "chair",
    "table": "table", "desk": "table", "coffee table": "table", "end table": "table", "dining table": "table",
    "couch": "sofa", "sofa": "sofa", "bookshelf": "bookcase", "picture": "board", "poster": "board",
    "painting": "board",
}

#: S3DIS room names by synthetic room type.
_S3DIS_ROOM = {"bedroom": "lounge", "living": "lounge", "office": "office", "kitchen": "pantry", "bathroom": "WC"}


def s3dis_room(index: int, seed: int = 0, size: str = "small") -> Tuple[np.ndarray, np.ndarray, List[Tuple[str, np.ndarray]], str]:
    """Room ``index`` as S3DIS data: ``(xyz float64[N, 3] >= 0, rgb uint8[N, 3], objects, room_type)``
    where ``objects`` lists ``(s3dis_class, point indices)`` in annotation order."""
    scene = generate_scene(index, seed, size)
    rng = np.random.default_rng([seed, index, 7])
    align = scene.axis_alignment
    xyz = scene.vertices.astype(np.float64) @ align[:3, :3].T + align[:3, 3]
    keep = scene.vertex_object >= 0
    owner = scene.vertex_object[keep]
    xyz, rgb = xyz[keep], scene.colors[keep]
    # S3DIS rooms have a ceiling (a class of their own); the ScanNet-style meshes have none.
    floor_pts = xyz[np.isin(owner, [i for i, o in enumerate(scene.objects) if o.raw_label == "floor"])]
    wall_pts = xyz[np.isin(owner, [i for i, o in enumerate(scene.objects) if o.raw_label == "wall"])]
    spacing = SIZES[size][2]
    (x0, y0), (x1, y1) = floor_pts[:, :2].min(0), floor_pts[:, :2].max(0)
    gx, gy = np.meshgrid(np.arange(x0, x1, spacing), np.arange(y0, y1, spacing), indexing="ij")
    ceiling = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, wall_pts[:, 2].max())], 1)
    ceiling += rng.normal(0, 0.004, ceiling.shape)
    ceiling_rgb = np.clip(rng.normal(235, 6, ceiling.shape), 0, 255).astype(np.uint8)
    xyz = np.concatenate([xyz, ceiling])
    rgb = np.concatenate([rgb, ceiling_rgb])
    owner = np.concatenate([owner, np.full(len(ceiling), len(scene.objects))])
    objects = [("ceiling", np.flatnonzero(owner == len(scene.objects)))]
    for i, obj in enumerate(scene.objects):
        idx = np.flatnonzero(owner == i)
        if idx.size:
            objects.append((S3DIS_CLASS_OF_RAW.get(obj.raw_label, "clutter"), idx))
    xyz = xyz - xyz.min(0) + rng.uniform(1.0, 20.0, 3) * [1, 1, 0]
    return xyz, rgb, objects, scene.room_type


def _s3dis_lines(xyz: np.ndarray, rgb: np.ndarray) -> str:
    return "".join(f"{x:.3f} {y:.3f} {z:.3f} {r:d} {g:d} {b:d}\n"
                   for (x, y, z), (r, g, b) in zip(xyz.tolist(), rgb.astype(int).tolist()))


def write_s3dis_room(area_dir: str, room: str, xyz: np.ndarray, rgb: np.ndarray,
                     objects: Sequence[Tuple[str, np.ndarray]]) -> None:
    """``<area_dir>/<room>/<room>.txt`` and ``Annotations/<class>_<i>.txt`` (i from 1 per class)."""
    room_dir = os.path.join(area_dir, room)
    write_text(_s3dis_lines(xyz, rgb), os.path.join(room_dir, room + ".txt"))
    count: Dict[str, int] = {}
    for cls, idx in objects:
        count[cls] = count.get(cls, 0) + 1
        write_text(_s3dis_lines(xyz[idx], rgb[idx]), os.path.join(room_dir, "Annotations", f"{cls}_{count[cls]}.txt"))


def make_s3dis_dataset(out_dir: str, rooms_per_area: Dict[int, int], seed: int = 0, size: str = "default",
                       first_index: int = 0) -> List[str]:
    """Write synthetic rooms into ``<out>/Stanford3dDataset_v1.2_Aligned_Version/Area_<k>/``.

    Args:
        rooms_per_area: area number -> number of rooms (e.g. ``{1: 4, 5: 1}``).
    Returns:
        ``Area_<k>/<room>`` of every room written.
    """
    root = os.path.join(out_dir, "Stanford3dDataset_v1.2_Aligned_Version")
    written, index = [], first_index
    for area in sorted(rooms_per_area):
        if not 1 <= area <= 6:
            raise ValueError(f"S3DIS areas are 1..6, got {area}")
        per_name: Dict[str, int] = {}
        for _ in range(rooms_per_area[area]):
            xyz, rgb, objects, kind = s3dis_room(index, seed, size)
            base = _S3DIS_ROOM[kind]
            per_name[base] = per_name.get(base, 0) + 1
            room = f"{base}_{per_name[base]}"
            write_s3dis_room(os.path.join(root, f"Area_{area}"), room, xyz, rgb, objects)
            written.append(f"Area_{area}/{room}")
            index += 1
    return written


# -- STPLS3D ------------------------------------------------------------------------------------
#: (semantic id, size ranges (x, y, z) in m, colour) of the box-like STPLS3D object classes.
_STPLS3D_BOXES = {
    "building": (1, ((6, 12), (6, 12), (5, 12)), (170, 160, 150)),
    "vehicle": (5, ((4.0, 5.0), (1.7, 2.0), (1.3, 1.6)), (40, 60, 160)),
    "truck": (6, ((7, 9), (2.3, 2.6), (2.8, 3.4)), (200, 200, 60)),
    "militaryVehicle": (8, ((5.5, 6.5), (2.4, 2.8), (2.2, 2.6)), (90, 100, 60)),
    "bike": (9, ((1.6, 1.8), (0.4, 0.6), (0.9, 1.1)), (200, 40, 40)),
    "motorcycle": (10, ((1.9, 2.2), (0.7, 0.9), (1.1, 1.3)), (30, 30, 30)),
    "clutter": (13, ((0.6, 1.5), (0.6, 1.5), (0.5, 1.2)), (150, 100, 160)),
    "fence": (14, ((6, 10), (0.08, 0.12), (1.2, 1.8)), (120, 90, 60)),
}
#: Objects per tile, placed in this order (largest first): (class, count).
_STPLS3D_COUNTS = (("aircraft", 1), ("building", 2), ("fence", 2), ("truck", 1), ("militaryVehicle", 2),
                   ("vehicle", 3), ("high vegetation", 3), ("low vegetation", 3), ("med. vegetation", 3),
                   ("clutter", 3), ("motorcycle", 1), ("bike", 2), ("light pole", 2), ("street sign", 2))


def _box_surface(rng, lo, hi, spacing) -> np.ndarray:
    """Points on the faces of an axis-aligned box except its bottom, about ``spacing`` apart."""
    size = np.asarray(hi) - np.asarray(lo)
    faces = [(2, hi[2]), (0, lo[0]), (0, hi[0]), (1, lo[1]), (1, hi[1])]
    pts = []
    for axis, value in faces:
        other = [a for a in range(3) if a != axis]
        area = size[other[0]] * size[other[1]]
        n = max(4, int(area / spacing ** 2))
        p = np.empty((n, 3))
        p[:, axis] = value
        for a in other:
            p[:, a] = rng.uniform(lo[a], hi[a], n)
        pts.append(p)
    return np.concatenate(pts)


def _sphere(rng, centre, radius, spacing) -> np.ndarray:
    n = max(8, int(4 * math.pi * radius ** 2 / spacing ** 2))
    d = rng.normal(size=(n, 3))
    return np.asarray(centre) + radius * d / np.linalg.norm(d, axis=1, keepdims=True)


def stpls3d_tile(index: int, seed: int = 0, extent: float = 49.5, spacing: float = 0.45) -> np.ndarray:
    """One labelled tile as float64[N, 8] rows ``x, y, z, r, g, b, semantic, instance``."""
    rng = np.random.default_rng([seed, index, 11])
    rows = []
    gx, gy = np.meshgrid(np.arange(0, extent, spacing), np.arange(0, extent, spacing), indexing="ij")
    ground = np.stack([gx.ravel(), gy.ravel(), rng.normal(0, 0.03, gx.size)], 1)
    rows.append((ground, (110, 105, 95), 0, -100))
    placed: List[Tuple[float, float, float]] = []

    def spot(radius):
        for _ in range(500):
            x, y = rng.uniform(radius + 0.5, extent - radius - 0.5, 2)
            if all(math.hypot(x - a, y - b) > radius + r + 0.8 for a, b, r in placed):
                placed.append((x, y, radius))
                return x, y
        raise ValueError(f"cannot place {len(placed) + 1} objects on a {extent} m tile")

    inst = 0
    for name, count in _STPLS3D_COUNTS:
        for _ in range(count):
            if name in _STPLS3D_BOXES:
                sem, ranges, colour = _STPLS3D_BOXES[name]
                size = np.array([rng.uniform(*r) for r in ranges])
                x, y = spot(0.5 * math.hypot(size[0], size[1]))
                lo = np.array([x - size[0] / 2, y - size[1] / 2, 0.0])
                pts = _box_surface(rng, lo, lo + size, spacing * (0.5 if size.max() < 3 else 1.0))
            elif name == "high vegetation":
                sem, colour = 4, (40, 120, 40)
                x, y = spot(3.0)
                crown = _sphere(rng, (x, y, rng.uniform(5, 7)), rng.uniform(2.0, 3.0), spacing)
                trunk = np.stack([np.full(12, x), np.full(12, y), np.linspace(0.2, 4.5, 12)], 1)
                pts = np.concatenate([crown, trunk])
            elif name == "med. vegetation":
                sem, colour = 3, (70, 140, 50)
                x, y = spot(1.2)
                pts = _sphere(rng, (x, y, 1.0), rng.uniform(0.8, 1.1), spacing * 0.5)
            elif name == "low vegetation":
                sem, colour = 2, (100, 160, 60)
                x, y = spot(1.8)
                r = np.sqrt(rng.random(300)) * rng.uniform(1.2, 1.7)
                a = rng.uniform(0, 2 * math.pi, 300)
                pts = np.stack([x + r * np.cos(a), y + r * np.sin(a), rng.uniform(0.1, 0.4, 300)], 1)
            elif name in ("light pole", "street sign"):
                sem, colour = (11, (200, 200, 210)) if name == "light pole" else (12, (220, 50, 50))
                x, y = spot(0.6)
                h = 6.0 if name == "light pole" else 2.5
                pole = np.stack([x + rng.normal(0, 0.05, 40), y + rng.normal(0, 0.05, 40), np.linspace(0.1, h, 40)], 1)
                top = _box_surface(rng, (x - 0.4, y - 0.05, h - 0.6), (x + 0.4, y + 0.05, h), 0.15)
                pts = np.concatenate([pole, top])
            else:  # aircraft: fuselage and wings
                sem, colour = 7, (230, 230, 235)
                x, y = spot(6.0)
                body = _box_surface(rng, (x - 5, y - 1, 0.5), (x + 5, y + 1, 2.5), spacing * 0.6)
                wing = _box_surface(rng, (x - 1, y - 5.5, 1.2), (x + 1, y + 5.5, 1.5), spacing * 0.6)
                pts = np.concatenate([body, wing])
            rows.append((pts, colour, sem, inst))
            inst += 1
    table = []
    for pts, colour, sem, ins in rows:
        rgb = np.clip(np.asarray(colour) + rng.normal(0, 8, (len(pts), 3)), 0, 255).round()
        table.append(np.concatenate([pts, rgb, np.full((len(pts), 1), sem), np.full((len(pts), 1), ins)], 1))
    table = np.concatenate(table)
    return table[rng.permutation(len(table))]


def write_stpls3d_tile(path: str, table: np.ndarray) -> None:
    """Rows as in the release: comma-separated, coordinates with 3 decimals, integers otherwise."""
    write_text("".join(f"{r[0]:.3f},{r[1]:.3f},{r[2]:.3f},{int(r[3])},{int(r[4])},{int(r[5])},{int(r[6])},{int(r[7])}\n"
                       for r in table.tolist()), path)


def make_stpls3d_dataset(out_dir: str, tiles: Sequence[int], seed: int = 0, extent: float = 49.5,
                         spacing: float = 0.45) -> List[str]:
    """Write tiles ``<out>/Synthetic_v3_InstanceSegmentation/<k>_points_GTv3.txt`` for each ``k`` in
    ``tiles`` (the preparation puts multiples of 5 in validation). Returns the file names."""
    folder = os.path.join(out_dir, "Synthetic_v3_InstanceSegmentation")
    names = []
    for k in sorted(tiles, key=int):
        if int(k) < 1:
            raise ValueError(f"STPLS3D tile numbers start at 1, got {k}")
        name = f"{int(k)}_points_GTv3.txt"
        write_stpls3d_tile(os.path.join(folder, name), stpls3d_tile(int(k), seed, extent, spacing))
        names.append(name)
    return names
