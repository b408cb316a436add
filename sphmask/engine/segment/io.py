"""The output files of a segmentation: ``<name>_instances.npz``, ``<name>_instances.ply`` and
``<name>_summary.json`` (:func:`write_segmentation`), and reading the NPZ back (:func:`read_instances`)."""
import json
import os
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np

from sphmask.data.pointcloud import PointCloud
from sphmask.engine.segment.instances import Instance, SceneSegmentation
from sphmask.io.atomic import atomic_path, write_text


class _LazyMask(Mapping):
    """An instance as :func:`~sphmask.engine.export.write_instance_ply` reads it, with the boolean
    mask built only when asked for, so writing never holds more than one N-sized mask."""

    def __init__(self, inst: Instance, num_points: int):
        self._inst, self._n = inst, num_points

    def __getitem__(self, key):
        if key == "mask":
            mask = np.zeros(self._n, dtype=bool)
            mask[self._inst.indices] = True
            return mask
        if key == "score":
            return self._inst.score
        if key == "label_id":
            return self._inst.label_id
        raise KeyError(key)

    def __iter__(self):
        return iter(("mask", "label_id", "score"))

    def __len__(self):
        return 3


def class_name(label_id: int, instance_names: Optional[Sequence[str]]) -> str:
    """Name of a 1-based instance class, ``class_<label_id>`` when the names are unknown."""
    if instance_names is not None and 1 <= label_id <= len(instance_names):
        return str(instance_names[label_id - 1])
    return f"class_{label_id}"


def output_paths(out_dir: str, name: str) -> Dict[str, str]:
    """Paths of the three outputs of scene ``name``."""
    return {"npz": os.path.join(out_dir, f"{name}_instances.npz"),
            "ply": os.path.join(out_dir, f"{name}_instances.ply"),
            "json": os.path.join(out_dir, f"{name}_summary.json")}


def write_segmentation(out_dir: str, name: str, cloud: PointCloud, seg: SceneSegmentation,
                       instances: Optional[Sequence[Instance]] = None,
                       instance_names: Optional[Sequence[str]] = None,
                       semantic_names: Optional[Sequence[str]] = None,
                       summary: Optional[Mapping[str, Any]] = None) -> Dict[str, str]:
    """Write ``<name>_instances.npz``, ``<name>_instances.ply`` and ``<name>_summary.json`` atomically.

    Instance ``k`` (0-based, order of ``instances``, default all of ``seg.instances``) is the same
    object in all three files: row ``k`` of the NPZ, vertices with ``instance == k`` in the PLY,
    ``instances[k]`` in the JSON.

    NPZ arrays: ``point_indices`` int64 [sum of sizes] and ``offsets`` int64 [K+1] (instance ``k``
    is ``point_indices[offsets[k]:offsets[k+1]]``, ascending indices into the file's points),
    ``label_id`` int32 [K], ``class_name`` str [K], ``score`` float32 [K], ``num_points`` int64 [K],
    ``semantic`` int16 [N] (semantic class per point), ``semantic_names`` str [C] (may be empty),
    ``num_input_points`` int64 scalar.

    The PLY holds the input's coordinates (as float32) and faces, an instance colour per vertex
    (grey for none; higher score wins where masks overlap) and the ``instance`` index (-1 for none).

    Args:
        summary: extra entries for the JSON (input path, timing, ...); the instance list and counts
            are added here.
    Returns:
        ``{"npz": path, "ply": path, "json": path}``.
    """
    from sphmask.engine.export import write_instance_ply

    instances = list(seg.instances if instances is None else instances)
    paths = output_paths(out_dir, name)
    os.makedirs(out_dir, exist_ok=True)
    sizes = np.array([i.num_points for i in instances], dtype=np.int64)
    names = [class_name(i.label_id, instance_names) for i in instances]
    arrays = {
        "point_indices": (np.concatenate([i.indices for i in instances]).astype(np.int64) if instances
                          else np.zeros(0, dtype=np.int64)),
        "offsets": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        "label_id": np.array([i.label_id for i in instances], dtype=np.int32),
        "class_name": np.array(names, dtype=str) if names else np.zeros(0, dtype="<U1"),
        "score": np.array([i.score for i in instances], dtype=np.float32),
        "num_points": sizes,
        "semantic": seg.semantic.astype(np.int16),
        "semantic_names": np.array(list(semantic_names or []), dtype=str) if semantic_names else np.zeros(0, "<U1"),
        "num_input_points": np.int64(seg.num_points),
    }
    with atomic_path(paths["npz"]) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a path
            np.savez_compressed(f, **arrays)
    write_instance_ply(paths["ply"], cloud.xyz, [_LazyMask(i, seg.num_points) for i in instances], faces=cloud.faces)
    doc = dict(summary or {})
    doc["num_points"] = seg.num_points
    doc["num_instances"] = len(instances)
    counts: Dict[str, int] = {}
    for nm in names:
        counts[nm] = counts.get(nm, 0) + 1
    doc["instances_per_class"] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    doc["instances"] = [{"id": k, "label_id": i.label_id, "class": names[k], "score": round(float(i.score), 6),
                         "num_points": i.num_points} for k, i in enumerate(instances)]
    write_text(json.dumps(doc, indent=2) + "\n", paths["json"])
    return paths


def read_instances(path: str) -> Dict[str, Any]:
    """Read a ``*_instances.npz``: every array by name plus ``masks``, bool [K, N].

    ``masks`` costs K x N bytes; for very large clouds slice ``point_indices`` by ``offsets`` instead.
    """
    with np.load(path, allow_pickle=False) as data:
        out = {k: data[k] for k in data.files}
    n, offsets = int(out["num_input_points"]), out["offsets"]
    masks = np.zeros((offsets.shape[0] - 1, n), dtype=bool)
    for k in range(masks.shape[0]):
        masks[k, out["point_indices"][offsets[k]:offsets[k + 1]]] = True
    out["masks"] = masks
    return out
