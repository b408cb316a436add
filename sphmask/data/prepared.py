"""The preprocessed scene format shared by every dataset, and its reader/writer.

One scene is written as (layout of the official ScanNetV2 preprocessing, spec §1.1-1.2):

* ``<out>/<prefix>/<scene>_inst_nostuff.pth``: ``torch.save`` of a plain tuple of NumPy arrays
  ``(coords, colors, semantic, instance)`` (labelled) or ``(coords, colors)`` (unlabelled), with
  ``coords`` float32[N,3] xyz minus the scene mean (metres), ``colors`` float32[N,3] rgb/127.5-1
  in [-1, 1], ``semantic`` float64[N] train ids 0..C-1 or -100, ``instance`` float64[N] ids 0..K-1
  or -100. These are the dtypes the official script saves; readers cast them.
* ``<out>/superpoints/<scene>.pth``: int64[N] superpoint id per point (any ids; readers renumber).
* ``<out>/<prefix>_gt/<scene>.txt``: one integer per point, ``benchmark_id*1000 + instance + 1``
  for points of an instance and 0 elsewhere (the ScanNet benchmark's ground-truth format).

Files written by the official tools (SoftGroup, ISBNet, Spherical Mask; NumPy 1.x pickles) load
with :func:`load_scene_file` too; loading never unpickles anything but arrays.
"""
import dataclasses
import os
from collections import Counter
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from sphmask.io.atomic import save_pth, write_text
from sphmask.io.errors import DataFormatError

SCENE_SUFFIX = "_inst_nostuff.pth"


@dataclasses.dataclass
class PreparedScene:
    """One preprocessed scene in memory (see the module docstring for the meaning of each array).

    ``gt`` is the per-point benchmark ground truth (int64[N]) or ``None``; ``superpoints`` is
    ``None`` for datasets without superpoints (STPLS3D). ``instance_classes`` names the class of
    every instance (for the summary line).
    """

    name: str
    prefix: str
    coords: np.ndarray
    colors: np.ndarray
    semantic: Optional[np.ndarray] = None
    instance: Optional[np.ndarray] = None
    superpoints: Optional[np.ndarray] = None
    gt: Optional[np.ndarray] = None
    instance_classes: Tuple[str, ...] = ()

    @property
    def labelled(self) -> bool:
        return self.semantic is not None

    def output_paths(self, out_dir: str) -> Dict[str, str]:
        """Where :meth:`write` puts each file, by kind (``scene``, ``superpoints``, ``gt``)."""
        paths = {"scene": os.path.join(out_dir, self.prefix, self.name + SCENE_SUFFIX)}
        if self.superpoints is not None:
            paths["superpoints"] = os.path.join(out_dir, "superpoints", self.name + ".pth")
        if self.gt is not None:
            paths["gt"] = os.path.join(out_dir, self.prefix + "_gt", self.name + ".txt")
        return paths

    def write(self, out_dir: str) -> Dict[str, str]:
        """Write every file atomically, the scene file last; return :meth:`output_paths`."""
        paths = self.output_paths(out_dir)
        if "superpoints" in paths:
            save_pth(np.ascontiguousarray(self.superpoints, dtype=np.int64), paths["superpoints"])
        if "gt" in paths:
            write_text("".join(f"{v}\n" for v in self.gt.tolist()), paths["gt"])
        arrays = [np.ascontiguousarray(self.coords, dtype=np.float32), np.ascontiguousarray(self.colors, dtype=np.float32)]
        if self.labelled:
            arrays += [np.ascontiguousarray(self.semantic, dtype=np.float64),
                       np.ascontiguousarray(self.instance, dtype=np.float64)]
        save_pth(tuple(arrays), paths["scene"])
        return paths

    def stats(self) -> dict:
        """Counts for the summary line: points and instances per class."""
        return {"points": int(self.coords.shape[0]), "instances": dict(Counter(self.instance_classes))}


def _numpy_safe_globals():
    from numpy._core import multiarray

    # NumPy 1.x pickles name the array reconstructor numpy.core.multiarray._reconstruct.
    return [
        multiarray._reconstruct,
        (multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
    ] + [type(np.dtype(c)) for c in "?bBhHiIlLqQefdg"]


def load_pth_arrays(path: str):
    """``torch.load`` restricted to tensors, NumPy arrays and containers (no arbitrary pickles)."""
    if not os.path.isfile(path):
        raise DataFormatError(path, "file not found")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        raise DataFormatError(path, f"cannot be read as a preprocessed .pth file ({type(exc).__name__}: {exc})") from None


def _as_numpy(x) -> np.ndarray:
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def load_scene_file(path: str) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]:
    """Read ``*_inst_nostuff.pth``: ``(xyz float64[N,3], rgb float64[N,3], semantic int64[N] | None,
    instance int64[N] | None)``. Raises :class:`DataFormatError` for anything else."""
    obj = load_pth_arrays(path)
    if not isinstance(obj, (tuple, list)) or len(obj) not in (2, 4):
        raise DataFormatError(path, f"expected a tuple (coords, colors[, semantic, instance]), got {type(obj).__name__}"
                              + (f" of length {len(obj)}" if isinstance(obj, (tuple, list)) else ""))
    arrs = [_as_numpy(a) for a in obj]
    xyz, rgb = arrs[0].astype(np.float64), arrs[1].astype(np.float64)
    n = xyz.shape[0]
    if xyz.ndim != 2 or xyz.shape[1] != 3 or rgb.shape != (n, 3):
        raise DataFormatError(path, f"coords must be [N,3] and colors [N,3], got {list(xyz.shape)} and {list(rgb.shape)}")
    if n == 0:
        raise DataFormatError(path, "scene has no points")
    sem = inst = None
    if len(arrs) == 4:
        sem, inst = arrs[2].reshape(-1), arrs[3].reshape(-1)
        if sem.shape[0] != n or inst.shape[0] != n:
            raise DataFormatError(path, f"labels have {sem.shape[0]} / {inst.shape[0]} entries for {n} points")
        sem, inst = sem.astype(np.int64), inst.astype(np.int64)
    return xyz, rgb, sem, inst


def load_superpoints(path: str, num_points: int) -> np.ndarray:
    """Read ``superpoints/<scene>.pth`` as int64[N]; its length must match the scene."""
    spp = _as_numpy(load_pth_arrays(path)).reshape(-1)
    if spp.shape[0] != num_points:
        raise DataFormatError(path, f"has {spp.shape[0]} superpoint ids but the scene has {num_points} points")
    return spp.astype(np.int64)
