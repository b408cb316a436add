"""Human-viewable exports of predictions: a PLY per scene with each instance in its own colour."""
from typing import Mapping, Optional, Sequence

import numpy as np

from sphmask.io import write_ply

BACKGROUND_RGB = (128, 128, 128)


def instance_palette(n: int) -> np.ndarray:
    """``n`` distinct, saturated colours as uint8 [n, 3] (golden-ratio hue steps, stable per index)."""
    h = (np.arange(n) * 0.618033988749895) % 1.0
    s, v = 0.75, 0.95
    sector = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t, vv = v * (1 - s) + 0 * h, v * (1 - s * f), v * (1 - s * (1 - f)), v + 0 * h
    table = np.stack([np.stack(c, 1) for c in ((vv, t, p), (q, vv, p), (p, vv, t), (p, q, vv), (t, p, vv), (vv, p, q))])
    return np.round(table[sector, np.arange(n)] * 255).astype(np.uint8)


def _as_bool(mask) -> np.ndarray:
    return np.asarray(mask.cpu() if hasattr(mask, "cpu") else mask, dtype=bool)


def point_instance_index(num_points: int, instances: Sequence[Mapping], min_score: float = 0.0) -> np.ndarray:
    """int32 [N]: index into ``instances`` of the highest-scoring mask holding each point, -1 for none.

    Masks are painted in ascending score order, so where they overlap the higher score wins (the
    convention of the S3DIS evaluator and of most viewers).
    """
    ids = np.full(num_points, -1, np.int32)
    for i in sorted(range(len(instances)), key=lambda i: float(instances[i]["score"])):
        if float(instances[i]["score"]) >= min_score:
            ids[_as_bool(instances[i]["mask"])] = i
    return ids


def write_instance_ply(path: str, xyz: np.ndarray, instances: Sequence[Mapping],
                       faces: Optional[np.ndarray] = None, min_score: float = 0.0) -> None:
    """Write points (or the mesh, with ``faces``) coloured by instance, background grey, atomically.

    Each vertex also gets an ``instance`` property (see :func:`point_instance_index`), so the file
    is machine-readable as well as viewable.
    """
    xyz = np.asarray(xyz, np.float32)
    ids = point_instance_index(len(xyz), instances, min_score)
    colors = np.vstack([np.array([BACKGROUND_RGB], np.uint8), instance_palette(len(instances))])[ids + 1]
    write_ply(path, {"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2], "red": colors[:, 0],
                     "green": colors[:, 1], "blue": colors[:, 2], "instance": ids}, faces=faces)
