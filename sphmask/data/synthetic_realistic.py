"""The ``realistic`` preset of the synthetic rooms: scan-like ScanNet rooms (docs/synthetic.md).

Compared with the ``default``/``small`` presets (:mod:`sphmask.data.synthetic`, whose objects are
separate, clean mesh components), a realistic room is built the way a reconstructed scan looks:

* rooms 4-10 m of twelve ScanNet scene types (bedroom, bathroom, living room, office, kitchen,
  conference room, apartment, classroom, library, dining room, lobby, storage) with their class mix;
* furniture meshed at 2-3 cm, walls and floor at 5-8 cm (ScanNet's decimated ``vh_clean_2``
  meshes are coarse on large flat areas);
* objects that touch: chairs pushed under tables and desks, cabinets side by side, furniture
  against walls and on the floor, things on tables and beds, pictures and doors flush with walls;
* walls and floor cut where furniture hides them and touching parts fused
  (:mod:`sphmask.data.synthetic_surface`), so a group of touching objects is one connected mesh;
* shaded, textured, noisy colour; Gaussian and low-frequency geometric noise; a random yaw and
  offset in the raw frame (the inverse in ``axisAlignment``).

Superpoints come from :func:`sphmask.ops.segment_mesh` on this fused mesh, so, as in real ScanNet
files, a superpoint may cross an object boundary; the annotation is superpoint-aligned (each
superpoint goes to the object holding most of its vertices, see :func:`annotate_by_segments`),
while :attr:`SyntheticScene.vertex_object` keeps the geometric truth per vertex.
"""
import math
from typing import Callable, Dict, Optional

import numpy as np

from sphmask.data import synthetic_surface as surf
from sphmask.data.synthetic import (
    RAW_TO_NYU40, SyntheticObject, SyntheticScene, _patch, _Room, _rot, canonical_segments, pose_like_scan,
    write_raw_scene,
)
from sphmask.data.synthetic_rooms import furnish

# key: (ScanNet sceneType, room width/depth range in m)
REALISTIC_ROOM_TYPES: Dict[str, tuple] = {
    "bedroom": ("Bedroom / Hotel", (4.0, 6.5)), "bathroom": ("Bathroom", (4.0, 5.0)),
    "living": ("Living room / Lounge", (4.5, 8.0)), "office": ("Office", (4.0, 8.0)),
    "kitchen": ("Kitchen", (4.0, 6.5)), "conference": ("Conference Room", (5.5, 10.0)),
    "apartment": ("Apartment", (7.0, 10.0)), "classroom": ("Classroom", (7.0, 10.0)),
    "library": ("Bookstore / Library", (6.0, 10.0)), "dining": ("Dining Room", (4.5, 8.0)),
    "lobby": ("Lobby", (6.0, 10.0)), "storage": ("Storage/Basement/Garage", (4.0, 8.0)),
}
# Room ``k`` has type _CYCLE[k % 8], the eighth slot rotating through the rarer types: any eight
# consecutive rooms hold every instance class (the first seven already do).
_CYCLE = ("bedroom", "bathroom", "living", "office", "kitchen", "conference", "apartment", None)
_RARE = ("classroom", "library", "dining", "lobby", "storage")

# Floor-standing objects with closed sides: the floor under them and the wall behind them are not
# scanned. Legged furniture (tables, chairs, desks) leaves both visible.
_SOLID = {"bed", "cabinet", "kitchen cabinet", "file cabinet", "bathroom cabinet", "couch", "sofa", "armchair",
          "bookshelf", "kitchen counter", "counter", "bathroom counter", "refrigerator", "mini fridge", "toilet",
          "bathtub", "ottoman", "tv stand", "box", "trash can", "recycling bin", "trash bin", None}
_ON_WALL = {"door", "window", "picture", "poster", "painting"}

# Material and colour choices (rgb) per raw category; each object draws one.
_WOODS = [(140, 95, 60), (180, 140, 95), (95, 65, 45), (200, 170, 130)]
_FABRICS = [(90, 110, 150), (150, 60, 55), (120, 120, 115), (70, 90, 70), (200, 190, 170), (60, 60, 70)]
_WHITES = [(225, 225, 220), (235, 230, 215), (200, 205, 210)]
_DARKS = [(55, 55, 60), (35, 35, 40), (80, 75, 70)]
_METALS = [(170, 170, 175), (130, 135, 140)]
_LOOK = {
    "chair": [(surf.WOOD, _WOODS), (surf.PLAIN, _DARKS + _WHITES), (surf.FABRIC, _FABRICS)],
    "office chair": [(surf.FABRIC, _DARKS + _FABRICS)], "armchair": [(surf.FABRIC, _FABRICS)],
    "couch": [(surf.FABRIC, _FABRICS)], "sofa": [(surf.FABRIC, _FABRICS)], "bed": [(surf.FABRIC, _FABRICS + _WHITES)],
    "ottoman": [(surf.FABRIC, _FABRICS)], "pillow": [(surf.FABRIC, _WHITES + _FABRICS)],
    "curtain": [(surf.FABRIC, _FABRICS + _WHITES)], "curtains": [(surf.FABRIC, _FABRICS + _WHITES)],
    "shower curtain": [(surf.FABRIC, _WHITES + _FABRICS)],
    "picture": [(surf.ART, [(128, 128, 128)])], "poster": [(surf.ART, [(128, 128, 128)])],
    "painting": [(surf.ART, [(128, 128, 128)])],
    "door": [(surf.WOOD, _WOODS), (surf.PLAIN, _WHITES)], "window": [(surf.PLAIN, _WHITES + _DARKS)],
    "refrigerator": [(surf.PLAIN, _WHITES), (surf.METAL, _METALS)], "mini fridge": [(surf.PLAIN, _WHITES + _DARKS)],
    "toilet": [(surf.PLAIN, _WHITES)], "bathtub": [(surf.PLAIN, _WHITES)], "sink": [(surf.METAL, _METALS + _WHITES)],
    "tv": [(surf.PLAIN, _DARKS)], "tv stand": [(surf.WOOD, _WOODS), (surf.PLAIN, _DARKS)],
    "trash can": [(surf.PLAIN, _DARKS + _METALS)], "recycling bin": [(surf.PLAIN, [(40, 90, 160)] + _METALS)],
    "trash bin": [(surf.PLAIN, _DARKS + _WHITES)], "box": [(surf.PLAIN, [(190, 160, 110), (170, 140, 95)])],
    "file cabinet": [(surf.METAL, _METALS + _DARKS)],
}
_DEFAULT_LOOK = [(surf.WOOD, _WOODS), (surf.PLAIN, _WHITES + _DARKS)]


class _ScanRoom(_Room):
    """A :class:`_Room` that keeps what the scan-like surface needs: part ids, looks, object poses."""

    def __init__(self, rng, width, depth, height, spacing):
        super().__init__(rng, width, depth, height, spacing)
        self.part, self.material, self.key = [], [], []
        self.poses = []  # per annotated or clutter object: (label, yaw, (x, y, z), parts' local lo/hi)

    def add(self, parts, label: Optional[str], pose=(0.0, 0.0, 0.0, 0.0), look=None):
        """Add parts posed by (x, y, z, yaw); ``label`` None = unannotated clutter; ``look`` =
        (material, colour choices), by default drawn for the label. Returns the object index."""
        x, y, z, yaw = pose
        idx = -1 if label is None else len(self.objects)
        if label is not None:
            self.objects.append(SyntheticObject(label, RAW_TO_NYU40[label]))
        material, colours = look or _pick(self.rng, _LOOK.get(label, _DEFAULT_LOOK))
        base = np.asarray(colours[int(self.rng.integers(len(colours)))], float) + self.rng.normal(0, 10, 3)
        R = _rot(yaw)
        key = len(self.poses)
        local = np.concatenate([v for v, _ in parts])
        self.poses.append((label, yaw, (x, y, z), local.min(0), local.max(0)))
        for v, f in parts:
            self.verts.append(v @ R.T + np.array([x, y, z]))
            self.faces.append(f + self.n)
            self.owner.append(np.full(v.shape[0], idx, dtype=np.int64))
            self.part.append(np.full(v.shape[0], len(self.part), dtype=np.int64))
            self.material.append(np.full(v.shape[0], material, dtype=np.int64))
            self.cols.append(np.broadcast_to(base, (v.shape[0], 3)))
            self.key.append(np.full(v.shape[0], key, dtype=np.int64))
            self.n += v.shape[0]
        return idx


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


# ----------------------------------------------------------------------------------------------
# Surface


def _shell(room, sp):
    W, D, H = room.W, room.D, room.H
    rng = room.rng
    floor_look = _pick(rng, [(surf.PLANKS, _WOODS), (surf.TILES, _WHITES + [(150, 140, 130)]),
                             (surf.FABRIC, [(120, 110, 100), (80, 85, 95), (140, 60, 60)])])
    room.add([_patch((0, 0, 0), (W, 0, 0), (0, D, 0), sp)], "floor", look=floor_look)
    wall_look = (surf.PAINT, [tuple(rng.uniform(170, 240, 3))])
    for o, u, v in (((0, 0, 0), (0, 0, H), (W, 0, 0)), ((W, 0, 0), (0, 0, H), (0, D, 0)),
                    ((W, D, 0), (0, 0, H), (-W, 0, 0)), ((0, D, 0), (0, 0, H), (0, -D, 0))):
        room.add([_patch(o, u, v, sp)], "wall", look=wall_look)


def _hidden_regions(room, verts, owner_key):
    """Regions of wall and floor that furniture hides (see :func:`surf.cut_hidden`)."""
    boxes, m = [], 0.015
    walls = ((1, 0.0), (0, room.W), (1, room.D), (0, 0.0))  # (axis normal to the wall, its plane)
    for key, (label, yaw, (x, y, z), lo, hi) in enumerate(room.poses):
        if label in ("wall", "floor") or z > 0.05:
            continue
        if label in _SOLID:
            boxes.append((_rot(yaw), np.array([x, y, 0.0]), np.array([lo[0] + m, lo[1] + m, -0.05]),
                          np.array([hi[0] - m, hi[1] - m, 0.05])))
        if label not in _SOLID and label not in _ON_WALL:
            continue
        v = verts[owner_key == key]
        for axis, plane in walls:
            near = v[np.abs(v[:, axis] - plane) < 0.1]
            if near.shape[0] == 0 or np.abs(v[:, axis] - plane).min() > 0.06:
                continue
            along = 1 - axis
            lo3, hi3 = np.full(3, -np.inf), np.full(3, np.inf)
            lo3[axis], hi3[axis] = plane - 0.05, plane + 0.05
            lo3[along], hi3[along] = near[:, along].min() + m, near[:, along].max() - m
            lo3[2], hi3[2] = near[:, 2].min() + m, near[:, 2].max() - m
            boxes.append((np.eye(3), np.zeros(3), lo3, hi3))
    return boxes


def generate_realistic_scene(index: int, seed: int = 0, room_type: Optional[str] = None,
                             noise: Optional[float] = None) -> SyntheticScene:
    """Realistic room ``index`` of ``seed`` (deterministic in ``(seed, index, room_type, noise)``).

    Args:
        room_type: a key of :data:`REALISTIC_ROOM_TYPES`; by default room ``k`` cycles through them.
        noise: standard deviation (m) of the per-vertex jitter; by default drawn in 2-5 mm per room.
    """
    if index < 0 or seed < 0:
        raise ValueError(f"index and seed must be >= 0, got index={index}, seed={seed}")
    if noise is not None and not (noise >= 0 and math.isfinite(noise)):
        raise ValueError(f"noise must be a finite standard deviation >= 0 (m), got {noise}")
    kind = room_type or _CYCLE[index % len(_CYCLE)] or _RARE[(index // len(_CYCLE)) % len(_RARE)]
    if kind not in REALISTIC_ROOM_TYPES:
        raise ValueError(f"room_type must be one of {sorted(REALISTIC_ROOM_TYPES)}, got {room_type!r}")
    rng = np.random.default_rng([seed, index, 1000 + sorted(REALISTIC_ROOM_TYPES).index(kind)])
    scene_type, (lo, hi) = REALISTIC_ROOM_TYPES[kind]
    sp_furniture, sp_shell = rng.uniform(0.022, 0.03), rng.uniform(0.055, 0.08)
    room = _ScanRoom(rng, rng.uniform(lo, hi), rng.uniform(lo, hi), rng.uniform(2.5, 3.2), sp_furniture)
    _shell(room, sp_shell)
    furnish(room, kind)

    verts = np.concatenate(room.verts)
    faces = np.concatenate(room.faces)
    owner, part = np.concatenate(room.owner), np.concatenate(room.part)
    material, key = np.concatenate(room.material), np.concatenate(room.key)
    base = np.concatenate(room.cols)
    # The floor and the four walls are the first five objects added.
    keep = surf.cut_hidden(verts, faces, (key < 5)[faces[:, 0]], _hidden_regions(room, verts, key))
    faces = faces[keep]
    used = np.zeros(verts.shape[0], dtype=bool)
    used[faces.reshape(-1)] = True
    remap = np.cumsum(used) - 1
    verts, owner, part, material, key, base = (a[used] for a in (verts, owner, part, material, key, base))
    faces = remap[faces]
    faces = np.concatenate([faces, surf.stitch(verts, faces, part, key < 5, contact=0.02, seam=1.05 * sp_shell)])

    sigma = rng.uniform(0.002, 0.005) if noise is None else noise
    warp = sum(rng.uniform(0.002, 0.006) * np.sin(verts @ rng.normal(0, 1 / rng.uniform(0.7, 2.5), 3)
                                                 + rng.uniform(0, 6.3))[:, None] * rng.normal(0, 1, 3)
               for _ in range(3))
    verts = verts + warp + rng.normal(0, sigma, verts.shape)
    colors = surf.scan_colors(rng, verts, surf.vertex_normals(verts, faces), base, material, key)

    posed, align = pose_like_scan(rng, verts, room.W, room.D)
    perm = rng.permutation(verts.shape[0])
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.shape[0])
    return SyntheticScene(scene_id=f"synth{index:04d}_00", vertices=posed[perm].astype(np.float32),
                          colors=colors[perm], faces=inv[faces].astype(np.int64), vertex_object=owner[perm],
                          objects=room.objects, axis_alignment=align, room_type=scene_type)


def annotate_by_segments(vertex_object: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """int64 ``[V]``: per vertex the object (or -1) holding most vertices of its segment, as an
    annotator labelling superpoints produces (ties: clutter first, then the smaller index)."""
    _, seg = np.unique(segments, return_inverse=True)
    seg = seg.reshape(-1)
    obj = vertex_object + 1  # -1 (clutter) -> 0
    width = int(obj.max(initial=0)) + 1
    counts = np.bincount(seg * width + obj, minlength=(int(seg.max(initial=-1)) + 1) * width)
    best = np.argmax(counts.reshape(-1, width), axis=1)
    return (best[seg] - 1).astype(np.int64)


def write_realistic_scene(scene: SyntheticScene, scene_dir: str, labelled: bool = True,
                          segment_mesh: Optional[Callable] = None) -> np.ndarray:
    """Write the scene like :func:`write_raw_scene`, annotated per superpoint
    (:func:`annotate_by_segments`). Returns the per-vertex object as annotated."""
    import dataclasses

    import torch

    if not labelled:
        write_raw_scene(scene, scene_dir, labelled=False)
        return scene.vertex_object
    if segment_mesh is None:
        from sphmask.ops import segment_mesh
    seg = segment_mesh(torch.from_numpy(scene.vertices), torch.from_numpy(scene.faces))
    segments = canonical_segments(np.asarray(seg.numpy() if hasattr(seg, "numpy") else seg))
    annotated = annotate_by_segments(scene.vertex_object, segments)
    write_raw_scene(dataclasses.replace(scene, vertex_object=annotated), scene_dir, labelled, segments=segments)
    return annotated
