"""ScanNet raw scenes (ScanNetV2 and ScanNet200 labels) -> :class:`PreparedScene`.

Raw layout, as ScanNet's download script writes it::

    <root>/scannetv2-labels.combined.tsv
    <root>/scans/<scene>/<scene>_vh_clean_2.ply                 mesh: x,y,z,red,green,blue,alpha + faces
    <root>/scans/<scene>/<scene>_vh_clean_2.labels.ply          NYU40 id per vertex ('label')
    <root>/scans/<scene>/<scene>_vh_clean_2.0.010000.segs.json  'segIndices': segment id per vertex
    <root>/scans/<scene>/<scene>.aggregation.json               'segGroups': objectId, label, segments
    <root>/scans/<scene>/<scene>.txt                            'axisAlignment = ...' (16 numbers)
    <root>/scans_test/<scene>/<scene>_vh_clean_2.ply            test scenes: mesh only

Conventions follow the official preprocessing (spec §1.1-1.2), with the differences listed in
docs/data.md: ids are looked up by number in the label map (never by class name), overlapping
annotations raise an error instead of an assertion, and semantics fall back to the aggregation
when ``*_vh_clean_2.labels.ply`` is missing.
"""
import dataclasses
import json
import os
from typing import Callable, List, Optional

import numpy as np

from sphmask.data.classes import IGNORE_LABEL, SCANNET200, SCANNETV2
from sphmask.data.labelmap import LabelMap
from sphmask.data.prepared import PreparedScene
from sphmask.io.errors import DataFormatError
from sphmask.io.ply import read_ply

MESH_SUFFIX = "_vh_clean_2.ply"
LABELS_SUFFIX = "_vh_clean_2.labels.ply"
SEGS_SUFFIX = "_vh_clean_2.0.010000.segs.json"
AGG_SUFFIX = ".aggregation.json"
INFO_SUFFIX = ".txt"

NYU40_WALL, NYU40_FLOOR = 1, 2
RAW_ID_WALL, RAW_ID_FLOOR = 1, 3  # ScanNet200 ids of 'wall' and 'floor'


@dataclasses.dataclass(frozen=True)
class SegGroup:
    """One annotated object of ``*.aggregation.json``."""

    object_id: int
    label: str
    segments: tuple


def scene_paths(scene_dir: str, scene_id: str) -> dict:
    """Paths of every raw file of one scene (whether or not they exist)."""
    p = lambda suffix: os.path.join(scene_dir, scene_id + suffix)  # noqa: E731
    return {"mesh": p(MESH_SUFFIX), "labels": p(LABELS_SUFFIX), "segs": p(SEGS_SUFFIX), "agg": p(AGG_SUFFIX),
            "info": p(INFO_SUFFIX)}


def _load_json(path: str):
    if not os.path.isfile(path):
        raise DataFormatError(path, "file not found")
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFormatError(path, f"not valid JSON ({exc})") from None


def read_segments(path: str, num_vertices: int) -> np.ndarray:
    """``segIndices`` of a ``*.segs.json`` as int64[V]; its length must equal the mesh's vertex count."""
    d = _load_json(path)
    if not isinstance(d, dict) or "segIndices" not in d:
        raise DataFormatError(path, "has no 'segIndices' list")
    try:
        seg = np.asarray(d["segIndices"], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise DataFormatError(path, "'segIndices' must be a list of integers") from None
    if seg.shape[0] != num_vertices:
        raise DataFormatError(path, f"segIndices has {seg.shape[0]} entries but the mesh has {num_vertices} vertices")
    return seg


def read_aggregation(path: str) -> List[SegGroup]:
    """The ``segGroups`` of a ``*.aggregation.json``, in file order."""
    d = _load_json(path)
    if not isinstance(d, dict) or not isinstance(d.get("segGroups"), list):
        raise DataFormatError(path, "has no 'segGroups' list")
    groups = []
    for i, g in enumerate(d["segGroups"]):
        try:
            groups.append(SegGroup(int(g.get("objectId", g.get("id", i))), str(g["label"]).strip(),
                                   tuple(int(s) for s in g["segments"])))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise DataFormatError(path, f"segGroups[{i}] must have 'label' and a list of integer 'segments'") from None
    return groups


def read_axis_alignment(path: str) -> Optional[np.ndarray]:
    """The 4x4 ``axisAlignment`` matrix of ``<scene>.txt``, or ``None`` if absent."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            key, _, value = line.partition("=")
            if key.strip() == "axisAlignment":
                try:
                    m = np.array([float(x) for x in value.split()], dtype=np.float64)
                except ValueError:
                    raise DataFormatError(path, "axisAlignment must be 16 numbers") from None
                if m.shape[0] != 16:
                    raise DataFormatError(path, f"axisAlignment must be 16 numbers, got {m.shape[0]}")
                return m.reshape(4, 4)
    return None


def _drop_duplicated_half(groups: List[SegGroup]) -> List[SegGroup]:
    # The released aggregation of scene0217_00 lists every object twice: the second half of the
    # instance groups repeats the first. The official script hard-codes that scene and tests only
    # whether the first group equals the one half-way; the same test is applied to every scene here.
    half = len(groups) // 2
    if half and groups[0].segments == groups[half].segments:
        return groups[:half]
    return groups


def _points_of_groups(groups: List[SegGroup], seg: np.ndarray, agg_path: str, exclusive_from: int) -> List[np.ndarray]:
    """Vertex indices of each group. Unknown segments are errors, and so is a segment claimed by two
    of the groups ``groups[exclusive_from:]`` (the instances; wall/floor groups may overlap anything)."""
    known = np.unique(seg)
    owner = {}
    out = []
    for gi, g in enumerate(groups):
        segs = np.asarray(g.segments, dtype=np.int64)
        unknown = np.setdiff1d(segs, known)
        if unknown.size:
            raise DataFormatError(
                agg_path, f"segGroup {gi} ('{g.label}', objectId {g.object_id}) names segment(s) "
                          f"{unknown[:5].tolist()} that do not exist in the segs.json")
        for s in g.segments if gi >= exclusive_from else ():
            if s in owner and owner[s] != gi:
                other = groups[owner[s]]
                raise DataFormatError(
                    agg_path, f"segment {s} belongs to two objects: segGroup {owner[s]} ('{other.label}') and "
                              f"segGroup {gi} ('{g.label}')")
            owner[s] = gi
        out.append(np.flatnonzero(np.isin(seg, segs)))
    return out


def _check_labels_known(groups: List[SegGroup], label_map: LabelMap, agg_path: str) -> None:
    for gi, g in enumerate(groups):
        if g.label not in label_map:
            raise DataFormatError(
                agg_path, f"segGroup {gi} has label '{g.label}', which is not a raw_category of the label map "
                          f"{label_map.path}")


_NYU40_TO_SCANNETV2 = np.full(41, IGNORE_LABEL, dtype=np.int64)
_NYU40_TO_SCANNETV2[list(SCANNETV2.benchmark_ids)] = np.arange(20)
_RAW_TO_SCANNET200 = {rid: i for i, rid in enumerate(SCANNET200.benchmark_ids)}


def _read_nyu40_labels(path: str, num_vertices: int) -> np.ndarray:
    lab = read_ply(path, allow_empty=True)
    if "label" not in lab.vertex:
        raise DataFormatError(path, f"vertex element has no 'label' property (has {sorted(lab.vertex)})")
    values = lab.vertex["label"].astype(np.int64)
    if values.shape[0] != num_vertices:
        raise DataFormatError(path, f"has {values.shape[0]} vertices but the mesh has {num_vertices}")
    bad = (values < 0) | (values > 40)
    if bad.any():
        raise DataFormatError(path, f"label {int(values[bad][0])} at vertex {int(np.flatnonzero(bad)[0])} is outside "
                                    "the NYU40 class map (0..40)")
    return values


def prepare_scannet_scene(
    scene_dir: str,
    scene_id: str,
    prefix: str,
    label_map: Optional[LabelMap],
    dataset: str = "scannetv2",
    labelled: bool = True,
    segment_mesh: Optional[Callable] = None,
) -> PreparedScene:
    """Convert one raw ScanNet scene.

    Args:
        scene_dir: folder holding the scene's raw files (``scans/<scene>`` or ``scans_test/<scene>``).
        prefix: output split folder (``train``, ``val``, ``test``, ...).
        label_map: the parsed tsv; required when ``labelled``.
        dataset: ``"scannetv2"`` (20 classes, coordinates as in the mesh) or ``"scannet200"`` (200
            classes; the mesh is first transformed by ``axisAlignment`` from ``<scene>.txt`` when present,
            as in ISBNet's ScanNet200 preprocessing).
        labelled: read annotations (train/val); ``False`` for test scenes.
        segment_mesh: ``f(vertices float32[V,3], faces int64[F,3]) -> int64[V]`` used when the scene has
            no ``segs.json`` (defaults to :func:`sphmask.ops.segment_mesh`).

    Raises:
        DataFormatError: naming the file and the problem, for any unusable input.
    """
    if dataset not in ("scannetv2", "scannet200"):
        raise ValueError(f"dataset must be 'scannetv2' or 'scannet200', got {dataset!r}")
    paths = scene_paths(scene_dir, scene_id)
    mesh = read_ply(paths["mesh"])
    n = mesh.num_vertices
    if mesh.rgb is None:
        raise DataFormatError(paths["mesh"], "vertices have no red/green/blue colours")
    # float32 arithmetic, as the official script does on the PLY's float32/uint8 values, so the
    # files are bit-identical to the official ones.
    xyz = mesh.xyz.astype(np.float32)
    if dataset == "scannet200":
        align = read_axis_alignment(paths["info"])
        if align is not None:
            xyz = (mesh.xyz @ align[:3, :3].T + align[:3, 3]).astype(np.float32)
    coords = xyz - xyz.mean(0)
    colors = mesh.rgb.astype(np.float32) / np.float32(127.5) - np.float32(1.0)

    if os.path.isfile(paths["segs"]):
        seg = read_segments(paths["segs"], n)
    elif labelled:
        raise DataFormatError(paths["segs"], "file not found (annotated scenes need their segmentation)")
    else:
        if mesh.faces is None or mesh.faces.shape[0] == 0:
            raise DataFormatError(paths["mesh"], "has no faces and there is no segs.json to take superpoints from")
        if segment_mesh is None:
            from sphmask.ops import segment_mesh
        import torch

        seg = segment_mesh(torch.from_numpy(mesh.xyz.astype(np.float32)), torch.from_numpy(mesh.faces)).numpy()

    scene = PreparedScene(name=scene_id, prefix=prefix, coords=coords, colors=colors, superpoints=seg)
    if not labelled:
        return scene
    if label_map is None:
        raise ValueError("label_map is required for labelled scenes")

    groups = read_aggregation(paths["agg"])
    _check_labels_known(groups, label_map, paths["agg"])
    if dataset == "scannetv2":
        stuff = lambda g: label_map.nyu40[g.label] in (NYU40_WALL, NYU40_FLOOR)  # noqa: E731
    else:
        stuff = lambda g: label_map.raw_id[g.label] in (RAW_ID_WALL, RAW_ID_FLOOR)  # noqa: E731
    inst_groups = _drop_duplicated_half([g for g in groups if not stuff(g)])
    inst_groups = [g for g in inst_groups if g.segments]
    stuff_groups = [g for g in groups if stuff(g)]
    all_groups = stuff_groups + inst_groups
    all_points = _points_of_groups(all_groups, seg, paths["agg"], exclusive_from=len(stuff_groups))
    inst_points = all_points[len(stuff_groups):]

    # Per-vertex class from the aggregation (used for ScanNet200, and for ScanNetV2 when the
    # labels.ply is missing): 0 = unannotated.
    vert_class = np.zeros(n, dtype=np.int64)
    ids = label_map.nyu40 if dataset == "scannetv2" else label_map.raw_id
    for g, pts in zip(all_groups, all_points):
        vert_class[pts] = ids[g.label]

    if dataset == "scannetv2":
        if os.path.isfile(paths["labels"]):
            vert_class = _read_nyu40_labels(paths["labels"], n)
        elif vert_class.max(initial=0) > 40:
            raise DataFormatError(paths["agg"], f"a label maps to NYU40 id {int(vert_class.max())}, outside 0..40")
        semantic = _NYU40_TO_SCANNETV2[vert_class]
        names = SCANNETV2.semantic_names
    else:
        semantic = np.array([_RAW_TO_SCANNET200.get(int(c), IGNORE_LABEL) for c in range(vert_class.max(initial=0) + 1)],
                            dtype=np.int64)[vert_class]
        semantic[vert_class == 0] = IGNORE_LABEL
        names = SCANNET200.semantic_names

    instance = np.full(n, IGNORE_LABEL, dtype=np.int64)
    gt = np.zeros(n, dtype=np.int64)
    classes = []
    for k, (g, pts) in enumerate(zip(inst_groups, inst_points)):
        values = np.unique(vert_class[pts])
        if values.shape[0] != 1:
            src = paths["labels"] if dataset == "scannetv2" and os.path.isfile(paths["labels"]) else paths["agg"]
            raise DataFormatError(src, f"object {k} ('{g.label}') has vertices of several classes {values.tolist()}")
        instance[pts] = k
        gt[pts] = int(values[0]) * 1000 + k + 1
        s = int(semantic[pts[0]])
        classes.append(names[s] if s >= 0 else f"({g.label})")
    scene.semantic, scene.instance, scene.gt = semantic, instance, gt
    scene.instance_classes = tuple(classes)
    return scene
