"""The output files of a segmentation and how they land: ``<name>_instances.npz``,
``<name>_instances.ply`` and ``<name>_summary.json`` (:func:`write_segmentation`), written as one
set (:func:`output_set`), and reading the NPZ back (:func:`read_instances`)."""
import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np

from sphmask.data.pointcloud import PointCloud
from sphmask.engine.segment.instances import Instance, InstanceView, SceneSegmentation, class_name
from sphmask.io.atomic import atomic_path

#: Files several output sets of one folder share (the HTML viewers' plotly.js); kept when present.
SHARED_FILES = ("plotly.min.js",)


def output_paths(out_dir: str, name: str) -> Dict[str, str]:
    """Paths of the three outputs of scene ``name``."""
    return {"npz": os.path.join(out_dir, f"{name}_instances.npz"),
            "ply": os.path.join(out_dir, f"{name}_instances.ply"),
            "json": os.path.join(out_dir, f"{name}_summary.json")}


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back until the block is done, then raise it as ``KeyboardInterrupt``.

    Only the main thread can set signal handlers; elsewhere the block runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: List[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


@contextlib.contextmanager
def output_set(out_dir: str, name: str, on_commit: Optional[Callable[[], None]] = None) -> Iterator[str]:
    """A staging folder for the files of one output set, moved into ``out_dir`` together.

    Everything written into the yielded folder (``out_dir/.tmp-<name>-*``) lands in ``out_dir`` when
    the block ends without error: an older ``<name>_summary.json`` is removed first, the other files
    are renamed into place and the summary JSON comes last, with Ctrl-C held back meanwhile. So a
    reader who finds ``<name>_summary.json`` finds the whole set of the same run, and an interrupted
    or failed input leaves no file of its new set (the staging folder is removed). Files named in
    :data:`SHARED_FILES` are kept from the folder when already there. ``on_commit()`` is called
    once the set is in place (before a held-back Ctrl-C is raised).
    """
    os.makedirs(out_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=out_dir)
    try:
        yield staging
        files = sorted(os.listdir(staging), key=lambda f: (f.endswith("_summary.json"), f))
        with deferred_interrupt():
            with contextlib.suppress(FileNotFoundError):
                os.remove(output_paths(out_dir, name)["json"])
            for f in files:
                dst = os.path.join(out_dir, f)
                if f in SHARED_FILES and os.path.exists(dst):
                    continue
                os.replace(os.path.join(staging, f), dst)
            if on_commit is not None:
                on_commit()
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def npz_arrays(instances: Sequence[Instance], semantic: np.ndarray, num_points: int,
               instance_names: Optional[Sequence[str]] = None,
               semantic_names: Optional[Sequence[str]] = None) -> Dict[str, np.ndarray]:
    """The arrays of ``<name>_instances.npz`` (see :func:`write_segmentation`)."""
    sizes = np.array([i.num_points for i in instances], dtype=np.int64)
    names = [class_name(i.label_id, instance_names) for i in instances]
    return {
        "point_indices": (np.concatenate([i.indices for i in instances]).astype(np.int64) if instances
                          else np.zeros(0, dtype=np.int64)),
        "offsets": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        "label_id": np.array([i.label_id for i in instances], dtype=np.int32),
        "class_name": np.array(names, dtype=str) if names else np.zeros(0, dtype="<U1"),
        "score": np.array([i.score for i in instances], dtype=np.float32),
        "num_points": sizes,
        "semantic": np.asarray(semantic).astype(np.int16),
        "semantic_names": np.array(list(semantic_names or []), dtype=str) if semantic_names else np.zeros(0, "<U1"),
        "num_input_points": np.int64(num_points),
    }


def write_npz(path: str, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez_compressed`` atomically, to exactly ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a path
            np.savez_compressed(f, **arrays)


def write_instances_ply(path: str, xyz: np.ndarray, faces: Optional[np.ndarray], instances: Sequence[Instance],
                        num_points: int) -> None:
    """The instance PLY (see :func:`write_segmentation`), atomically, one N-sized mask at a time."""
    from sphmask.engine.export import write_instance_ply

    write_instance_ply(path, xyz, [InstanceView(i, num_points) for i in instances], faces=faces)


def summary_doc(instances: Sequence[Instance], num_points: int, instance_names: Optional[Sequence[str]] = None,
                extra: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The summary JSON: ``extra`` first, then ``num_points``, ``num_instances``,
    ``instances_per_class`` and ``instances: [{id, label_id, class, score, num_points}]``."""
    names = [class_name(i.label_id, instance_names) for i in instances]
    doc = dict(extra or {})
    doc["num_points"] = int(num_points)
    doc["num_instances"] = len(instances)
    counts: Dict[str, int] = {}
    for nm in names:
        counts[nm] = counts.get(nm, 0) + 1
    doc["instances_per_class"] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    doc["instances"] = [{"id": k, "label_id": i.label_id, "class": names[k], "score": round(float(i.score), 6),
                         "num_points": i.num_points} for k, i in enumerate(instances)]
    return doc


def write_segmentation(out_dir: str, name: str, cloud: PointCloud, seg: SceneSegmentation,
                       instances: Optional[Sequence[Instance]] = None,
                       instance_names: Optional[Sequence[str]] = None,
                       semantic_names: Optional[Sequence[str]] = None,
                       summary: Union[None, Mapping[str, Any], Callable[[], Mapping[str, Any]]] = None,
                       extra: Optional[Callable[[str], None]] = None,
                       on_commit: Optional[Callable[[], None]] = None) -> Dict[str, str]:
    """Write ``<name>_instances.npz``, ``<name>_instances.ply`` and ``<name>_summary.json`` as one
    set (:func:`output_set`).

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
        summary: extra entries for the JSON (input path, timing, ...), or a function returning them,
            called after the other files are written (so it can report their time); the instance
            list and counts are added here.
        extra: ``extra(folder)`` writes more files of the set (pictures, ...) into the staging folder.
        on_commit: see :func:`output_set`.
    Returns:
        ``{"npz": path, "ply": path, "json": path}``.
    """
    instances = list(seg.instances if instances is None else instances)
    with output_set(out_dir, name, on_commit) as staging:
        files = output_paths(staging, name)
        write_npz(files["npz"], npz_arrays(instances, seg.semantic, seg.num_points, instance_names, semantic_names))
        write_instances_ply(files["ply"], cloud.xyz, cloud.faces, instances, seg.num_points)
        if extra is not None:
            extra(staging)
        doc = summary_doc(instances, seg.num_points, instance_names, summary() if callable(summary) else summary)
        with open(files["json"], "w", encoding="utf-8", newline="\n") as f:
            f.write(json.dumps(doc, indent=2) + "\n")
    return output_paths(out_dir, name)


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
