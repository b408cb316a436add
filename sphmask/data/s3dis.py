"""S3DIS (Stanford3dDataset_v1.2_Aligned_Version) rooms -> :class:`PreparedScene`.

Raw layout::

    <root>/Area_<k>/<room>/<room>.txt                 x y z r g b per point
    <root>/Area_<k>/<room>/Annotations/<class>_<i>.txt  the points of one object (same format)

Labels follow ISBNet's ``dataset/s3dis/prepare_s3dis.py`` (spec §1.10): every annotation file is one
instance (numbered in file-name order, then made contiguous) whose class is the file-name prefix
(``stairs`` counts as ``clutter``); its points are matched to the room's points by nearest
neighbour, and room points no annotation reached take the labels of their nearest labelled point.
The output uses the common format (centred xyz, rgb in [-1, 1]) instead of ISBNet's raw xyz and
0..255 colours; scenes are written to ``<out>/preprocess/<Area>_<room>_inst_nostuff.pth``.
Superpoints come from :func:`sphmask.ops.segment_points` unless a folder of precomputed ones is given.
"""
import os
import re
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
from scipy.spatial import cKDTree

from sphmask.data.classes import S3DIS
from sphmask.data.prepared import PreparedScene
from sphmask.io.errors import DataFormatError
from sphmask.io.text import read_text_table

PREFIX = "preprocess"
_NAME_TO_ID = {n: i for i, n in enumerate(S3DIS.semantic_names)}
_ALIASES = {"stairs": "clutter"}


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def find_root(raw: str) -> str:
    """The folder holding ``Area_*`` (``raw`` itself or its ``Stanford3dDataset_v1.2_Aligned_Version``)."""
    for cand in (raw, os.path.join(raw, "Stanford3dDataset_v1.2_Aligned_Version"),
                 os.path.join(raw, "Stanford3dDataset_v1.2")):
        if os.path.isdir(cand) and any(d.startswith("Area_") for d in os.listdir(cand)):
            return cand
    raise DataFormatError(raw, "no Area_* folders found (expected Stanford3dDataset_v1.2_Aligned_Version)")


def list_rooms(root: str) -> List[Tuple[str, str]]:
    """(area, room) pairs in natural order."""
    rooms = []
    for area in sorted((d for d in os.listdir(root) if d.startswith("Area_") and os.path.isdir(os.path.join(root, d))),
                       key=_natural_key):
        for room in sorted(os.listdir(os.path.join(root, area)), key=_natural_key):
            if os.path.isdir(os.path.join(root, area, room)):
                rooms.append((area, room))
    return rooms


def _xyz_rgb(path: str) -> Tuple[np.ndarray, np.ndarray]:
    t = read_text_table(path)
    if t.shape[1] < 6:
        raise DataFormatError(path, f"expected 6 columns (x y z r g b), got {t.shape[1]}")
    return t[:, :3], t[:, 3:6]


def label_room(scene_xyz: np.ndarray, annotation_dir: str) -> Tuple[np.ndarray, np.ndarray, List[str]]:
    """Semantic (0..12) and instance (0..K-1) ids for every room point, and each instance's class."""
    if not os.path.isdir(annotation_dir):
        raise DataFormatError(annotation_dir, "Annotations folder not found")
    files = sorted((f for f in os.listdir(annotation_dir) if f.endswith(".txt")), key=_natural_key)
    if not files:
        raise DataFormatError(annotation_dir, "no annotation files (<class>_<i>.txt)")
    tree = cKDTree(scene_xyz)
    inst = np.full(scene_xyz.shape[0], -1, dtype=np.int64)
    sem = np.full(scene_xyz.shape[0], -1, dtype=np.int64)
    classes = []
    for k, name in enumerate(files):
        path = os.path.join(annotation_dir, name)
        cls = name.split("_")[0]
        cls = _ALIASES.get(cls, cls)
        if cls not in _NAME_TO_ID:
            raise DataFormatError(path, f"class '{cls}' (from the file name) is not one of the 13 S3DIS classes "
                                        f"{list(S3DIS.semantic_names)}")
        pts, _ = _xyz_rgb(path)
        _, idx = tree.query(pts, k=1)
        inst[idx] = k
        sem[idx] = _NAME_TO_ID[cls]
        classes.append(cls)
    done = inst >= 0
    if not done.all():
        _, nearest = cKDTree(scene_xyz[done]).query(scene_xyz[~done], k=1)
        inst[~done] = inst[done][nearest]
        sem[~done] = sem[done][nearest]
    present, inst = np.unique(inst, return_inverse=True)
    return sem, inst.reshape(-1), [classes[p] for p in present]


def prepare_s3dis_room(root: str, area: str, room: str, superpoint_dir: Optional[str] = None,
                       segment_points: Optional[Callable] = None) -> PreparedScene:
    """Convert one room; raises :class:`DataFormatError` naming the file for unusable input."""
    room_dir = os.path.join(root, area, room)
    xyz, rgb = _xyz_rgb(os.path.join(room_dir, room + ".txt"))
    if rgb.min() < 0 or rgb.max() > 255:
        raise DataFormatError(os.path.join(room_dir, room + ".txt"), "colours must be in 0..255")
    sem, inst, classes = label_room(xyz, os.path.join(room_dir, "Annotations"))
    name = f"{area}_{room}"
    if superpoint_dir is not None:
        spp = _load_precomputed(superpoint_dir, area, room, xyz.shape[0])
    else:
        import torch

        if segment_points is None:
            from sphmask.ops import segment_points
        spp = segment_points(torch.from_numpy(xyz.astype(np.float32))).numpy().astype(np.int64)
    xyz32 = xyz.astype(np.float32)
    instance_names = tuple(classes)
    return PreparedScene(
        name=name, prefix=PREFIX, coords=xyz32 - xyz32.mean(0), colors=rgb.astype(np.float32) / np.float32(127.5) - 1,
        semantic=sem, instance=inst, superpoints=spp,
        gt=np.asarray(S3DIS.benchmark_ids)[sem] * 1000 + inst + 1, instance_classes=instance_names,
    )


def _load_precomputed(folder: str, area: str, room: str, n: int) -> np.ndarray:
    """Superpoints from ``<folder>/<Area>.<room>.npy`` (the learned SPG segments ISBNet uses: a pickled
    dict with ``segments``) or ``<folder>/<Area>_<room>.npy`` (a plain int array)."""
    for name, pickled in ((f"{area}.{room}.npy", True), (f"{area}_{room}.npy", False)):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            obj = np.load(path, allow_pickle=pickled)
            seg = obj.item()["segments"] if obj.dtype == object else obj
            seg = np.asarray(seg).reshape(-1).astype(np.int64)
            if seg.shape[0] != n:
                raise DataFormatError(path, f"has {seg.shape[0]} superpoint ids but the room has {n} points")
            return seg
    raise DataFormatError(folder, f"no superpoints for {area}/{room} ({area}.{room}.npy or {area}_{room}.npy)")


def _room_job(root, area, room, superpoint_dir):
    return [prepare_s3dis_room(root, area, room, superpoint_dir)]


def plan_s3dis(raw: str, splits: Sequence[Tuple[str, str]] = ()):
    """One job per room. Split files list areas (``Area_5``) or rooms (``Area_5/office_1``).

    A ``learned_superpoint_graph_segmentations`` folder next to the areas (ISBNet's layout) is used
    for superpoints when present.
    """
    from sphmask.data.prepare import Job, read_split_file

    root = find_root(raw)
    rooms = list_rooms(root)
    if splits:
        wanted = [w.replace("\\", "/").strip("/") for _, path in splits for w in read_split_file(path)]
        chosen = []
        for w in wanted:
            match = [(a, r) for a, r in rooms if w in (a, f"{a}/{r}", f"{a}_{r}")]
            if not match:
                raise DataFormatError(root, f"split entry {w!r} matches no area or room")
            chosen += [m for m in match if m not in chosen]
        rooms = chosen
    spg = None
    for cand in (os.path.join(root, "learned_superpoint_graph_segmentations"),
                 os.path.join(os.path.dirname(root.rstrip(os.sep)), "learned_superpoint_graph_segmentations")):
        if os.path.isdir(cand):
            spg = cand
    return [Job(f"{a}/{r}", _room_job, dict(root=root, area=a, room=r, superpoint_dir=spg)) for a, r in rooms]
