"""Input checks and conversions shared by the PNG top view and the HTML viewer."""
from typing import Mapping, Optional, Sequence

import numpy as np


def rgb_uint8(unit_rgb: np.ndarray) -> np.ndarray:
    """Colours in [-1, 1] (the model input convention, :class:`~sphmask.data.PointCloud` ``rgb``) as
    uint8 [N, 3]."""
    return np.clip(np.rint((np.asarray(unit_rgb, np.float64) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def check_xyz(xyz: np.ndarray) -> np.ndarray:
    """float64 [N, 3] coordinates, or ValueError naming what is wrong."""
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or xyz.shape[0] == 0:
        raise ValueError(f"xyz must be a non-empty [N, 3] array, got shape {xyz.shape}")
    if not np.isfinite(xyz).all():
        raise ValueError("xyz contains NaN or inf")
    return xyz


def instance_masks(instances: Sequence[Mapping], num_points: int) -> list:
    """Instances as ``{"mask", "label_id", "score"}`` (``indices`` are expanded to a boolean mask)."""
    out = []
    for k, inst in enumerate(instances):
        if "mask" in inst:
            mask = np.asarray(inst["mask"], dtype=bool)
        else:
            idx = np.asarray(inst["indices"], dtype=np.int64).reshape(-1)
            if idx.size and (idx.min() < 0 or idx.max() >= num_points):
                raise ValueError(f"instance {k}: point indices must be in [0, {num_points}), got "
                                 f"{idx.min()}..{idx.max()}")
            mask = np.zeros(num_points, dtype=bool)
            mask[idx] = True
        if mask.shape != (num_points,):
            raise ValueError(f"instance mask has shape {mask.shape}, expected ({num_points},)")
        score = float(inst["score"])
        if not np.isfinite(score):
            raise ValueError(f"instance {k}: score must be finite, got {score}")
        out.append({"mask": mask, "label_id": int(inst["label_id"]), "score": score})
    return out


def class_name(label_id: int, class_names: Optional[Sequence[str]]) -> str:
    """Name of 1-based instance class ``label_id``, ``class_<id>`` when the names are unknown."""
    if class_names is not None and 1 <= label_id <= len(class_names):
        return str(class_names[label_id - 1])
    return f"class_{label_id}"
