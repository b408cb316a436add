"""Human-viewable exports of predictions: a PLY per scene with each instance in its own colour."""
from typing import Mapping, Optional, Sequence

import numpy as np

from sphmask.io import write_ply

BACKGROUND_RGB = (128, 128, 128)


#: Kelly's colours of maximum contrast (K. L. Kelly, "Twenty-two colors of maximum contrast", 1965)
#: without white, black and grey (the background), in his order: a fixed qualitative palette, so
#: instance ``k`` has the same colour in the PLY, the PNG and every level of the HTML viewer.
INSTANCE_PALETTE = np.array([
    (243, 195, 0), (135, 86, 146), (243, 132, 0), (161, 202, 241), (190, 0, 50), (194, 178, 128),
    (0, 136, 86), (230, 143, 172), (0, 103, 165), (249, 147, 121), (96, 78, 151), (246, 166, 0),
    (179, 68, 108), (220, 211, 0), (136, 45, 23), (141, 182, 0), (101, 69, 34), (226, 88, 34),
    (43, 61, 38),
], dtype=np.uint8)


def instance_palette(n: int) -> np.ndarray:
    """uint8 [n, 3]: colour of instance ``k`` is ``INSTANCE_PALETTE[k % 19]`` (repeats after 19)."""
    return INSTANCE_PALETTE[np.arange(n) % len(INSTANCE_PALETTE)]


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
