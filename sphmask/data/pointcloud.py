"""Custom input: your own scans (no labels needed) as model input.

:func:`load_point_cloud` reads PLY (mesh or point cloud, with or without colours), NPY and text
(``x y z [r g b ...]``, whitespace or comma separated) files and computes superpoints: from the
mesh with :func:`sphmask.ops.segment_mesh` when the file has faces, otherwise from the points with
:func:`sphmask.ops.segment_points`. :class:`PointCloudDataset` applies the test transform, so
``collate([dataset[i]])`` is a batch the model can run on.
"""
import dataclasses
import os
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from sphmask.data.transforms import transform_test
from sphmask.io.colors import colors_to_255
from sphmask.io.errors import DataFormatError, require_file
from sphmask.io.ply import read_ply
from sphmask.io.text import read_text_table

TEXT_SUFFIXES = (".txt", ".xyz", ".xyzrgb", ".pts", ".csv")


@dataclasses.dataclass
class PointCloud:
    """A loaded scan.

    Attributes:
        xyz: float64[N, 3] coordinates as in the file (metres expected).
        rgb: float32[N, 3] colours scaled to [-1, 1] (0 = mid grey when the file has none).
        superpoints: int64[N] superpoint id per point (representative point indices), or ``None``
            when not computed.
        faces: int64[F, 3] triangles for meshes, else ``None``.
        has_color: whether the file had colours.
    """

    xyz: np.ndarray
    rgb: np.ndarray
    superpoints: Optional[np.ndarray]
    faces: Optional[np.ndarray]
    has_color: bool

    @property
    def num_points(self) -> int:
        return int(self.xyz.shape[0])


def _to_unit_rgb(rgb: Optional[np.ndarray], n: int) -> np.ndarray:
    if rgb is None:
        return np.zeros((n, 3), dtype=np.float32)
    return (rgb.astype(np.float32) / np.float32(127.5) - np.float32(1.0)).astype(np.float32)


def _columns(path: str, arr: np.ndarray) -> tuple:
    """Split an [N, C] numeric array into xyz and rgb (0..255) using the column count."""
    if arr.ndim != 2 or arr.shape[1] < 3:
        raise DataFormatError(path, "expected an [N, 3] (xyz) or [N, >=6] (xyz rgb ...) array, "
                                    f"got shape {list(arr.shape)}")
    if arr.shape[1] in (4, 5):
        raise DataFormatError(path, f"has {arr.shape[1]} columns; expected 3 (x y z) or at least 6 (x y z r g b ...)")
    stored = arr.dtype
    arr = arr.astype(np.float64)
    if not np.isfinite(arr[:, :6]).all():
        row = int(np.flatnonzero(~np.isfinite(arr[:, :6]).all(1))[0])
        raise DataFormatError(path, f"row {row} has a NaN or inf value")
    rgb = None
    if arr.shape[1] >= 6:
        rgb = colors_to_255(path, arr[:, 3:6], stored, what="colour columns 4-6")
    return arr[:, :3], rgb


def _read_npy(path: str) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy's header parser raises ValueError, SyntaxError, tokenize errors, ...
        # object arrays (refused without pickle) and truncated or corrupt headers end here
        raise DataFormatError(path, f"not a readable .npy array ({type(exc).__name__}: {exc})") from None
    if not isinstance(arr, np.ndarray):
        arr.close()
        raise DataFormatError(path, "holds several arrays (an .npz archive?); save one [N, 3] or [N, 6] array")
    if arr.dtype.names:
        raise DataFormatError(path, "structured arrays are not supported; save a plain [N, 3] or [N, 6] array")
    if arr.dtype.kind not in "iuf":
        # complex (the imaginary part would be dropped), bool, strings, dates: no coordinates
        raise DataFormatError(path, f"array has dtype {arr.dtype}; coordinates and colours must be real numbers "
                                    "(an integer or float dtype)")
    if arr.size == 0:
        raise DataFormatError(path, "no points (empty array)")
    return arr


#: Coordinates (metres) up to this magnitude go to float32 as they are: float32 resolves 0.06 mm or
#: finer there, and mesh superpoints then equal ScanNet's, which are computed on file coordinates.
#: A cloud reaching further (georeferenced: UTM northings are ~5e6 m, where float32 steps by 0.5 m)
#: is first centred on its bounding box in float64, so float32 keeps its geometry.
FLOAT32_SAFE = 1024.0


def local_frame(xyz: np.ndarray) -> np.ndarray:
    """float64 [N, 3]: ``xyz``, centred on its bounding-box centre when it reaches beyond
    :data:`FLOAT32_SAFE` metres from the origin (else unchanged)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.size and float(np.abs(xyz).max()) > FLOAT32_SAFE:
        xyz = xyz - (xyz.min(0) + xyz.max(0)) / 2
    return xyz


def load_point_cloud(path: str, compute_superpoints: bool = True, segment_kwargs: Optional[Mapping[str, Any]] = None
                     ) -> PointCloud:
    """Read a scan from ``.ply``, ``.npy`` or a text file (``.txt``, ``.xyz``, ``.xyzrgb``, ``.pts``, ``.csv``).

    Text and NPY inputs are ``[N, 3]`` (x y z) or ``[N, >=6]`` (x y z r g b, extra columns ignored),
    NPY of an integer or float dtype. Colours follow one rule for every format
    (:func:`sphmask.io.colors.colors_to_255`): 0..255, floats in 0..1 (when no value exceeds 1),
    or 16-bit unsigned 0..65535; anything else is refused. Superpoints come from
    :func:`sphmask.ops.segment_mesh` for PLY meshes (faces present) and from
    :func:`sphmask.ops.segment_points` otherwise; ``segment_kwargs`` are passed to that function.

    Raises:
        DataFormatError: naming the file, for a missing path or a directory, unknown formats, and
            unreadable, empty or malformed files or values.
    """
    path = str(path)
    require_file(path)
    ext = os.path.splitext(path)[1].lower()
    faces = None
    if ext == ".ply":
        mesh = read_ply(path)
        xyz, rgb, faces = mesh.xyz, mesh.rgb, mesh.faces
        if faces is not None and faces.shape[0] == 0:
            faces = None
    elif ext == ".npy":
        xyz, rgb = _columns(path, _read_npy(path))
    elif ext in TEXT_SUFFIXES:
        xyz, rgb = _columns(path, read_text_table(path))
    else:
        raise DataFormatError(path, f"unknown point cloud format {ext!r}; use .ply, .npy or one of {TEXT_SUFFIXES}")
    superpoints = None
    if compute_superpoints:
        from sphmask.ops import segment_mesh, segment_points

        kwargs = dict(segment_kwargs or {})
        local = torch.from_numpy(local_frame(xyz).astype(np.float32))
        if faces is not None:
            superpoints = segment_mesh(local, torch.from_numpy(faces), **kwargs)
        else:
            superpoints = segment_points(local, **kwargs)
        superpoints = superpoints.numpy().astype(np.int64)
    return PointCloud(xyz=xyz, rgb=_to_unit_rgb(rgb, xyz.shape[0]), superpoints=superpoints, faces=faces,
                      has_color=rgb is not None)


class PointCloudDataset(Dataset):
    """Custom scans with the test transform, no labels: ``collate([ds[i]])`` is a model batch.

    Coordinates are centred on their mean first (as the ScanNet preprocessing does), then rotated
    by the official test rotation unless ``test_rotation`` is off.

    Args:
        paths: files accepted by :func:`load_point_cloud`.
        voxel_cfg: :class:`~sphmask.data.transforms.VoxelConfig` keys (scale 50 = 2 cm voxels by default).
        test_rotation: apply Rz(0.35 pi) like the official test transform.
        segment_kwargs: passed to the superpoint function.
    """

    def __init__(self, paths: Sequence[str], voxel_cfg: Optional[Mapping[str, Any]] = None, test_rotation: bool = True,
                 segment_kwargs: Optional[Mapping[str, Any]] = None):
        from sphmask.data.dataset import make_voxel_config

        self.paths = [str(p) for p in paths]
        self.voxel = make_voxel_config(voxel_cfg)
        self.test_rotation = bool(test_rotation)
        self.segment_kwargs = segment_kwargs

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        path = self.paths[index]
        pc = load_point_cloud(path, segment_kwargs=self.segment_kwargs)
        xyz = pc.xyz - pc.xyz.mean(0)
        xyz_voxel, xyz_middle = transform_test(xyz, self.voxel, self.test_rotation)
        return {
            "scan_id": os.path.splitext(os.path.basename(path))[0],
            "coord": torch.from_numpy(xyz_voxel.astype(np.int64)),
            "coord_float": torch.from_numpy(xyz_middle.astype(np.float32)),
            "feat": torch.from_numpy(pc.rgb),
            "superpoints": torch.from_numpy(np.unique(pc.superpoints, return_inverse=True)[1].reshape(-1).astype(np.int64)),
            "semantic": None,
            "instance": None,
            "num_instances": 0,
        }
