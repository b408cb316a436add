"""The Python API for segmenting clouds (docs/segment.md): :class:`Segmenter`, which checks what
it is given at the boundary and runs :func:`~sphmask.engine.segment.run.segment_scene`, and
:class:`SegmentationResult`, what it returns.

    seg = sphmask.Segmenter.from_checkpoint("model.pth", config=None, device="auto")
    result = seg(points, colors=None)       # numpy or torch, (N, 3) and (N, 3)
    result.instances, result.semantic, result.to_ply(path), result.to_npz(path)
"""
import dataclasses
import logging
import os
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from sphmask.data.pointcloud import PointCloud
from sphmask.data.transforms import VoxelConfig
from sphmask.engine.segment.blocks import Block, CropSettings
from sphmask.engine.segment.instances import InstanceView, SceneSegmentation
from sphmask.engine.segment.io import npz_arrays, summary_doc, write_instances_ply, write_npz, write_segmentation
from sphmask.engine.segment.run import segment_scene
from sphmask.errors import SphmaskError
from sphmask.io.colors import colors_to_255
from sphmask.io.errors import DataFormatError

ArrayLike = Union[np.ndarray, torch.Tensor]


class SegmentInputError(SphmaskError, ValueError):
    """Points, colours, options or a device the segmenter cannot use; the message says which and why."""


def resolve_device(device: Union[str, torch.device]) -> torch.device:
    """``"auto"`` is ``cuda`` when torch has a usable CUDA device, else ``cpu``; ``cuda`` without
    one is a :class:`SegmentInputError`."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise SegmentInputError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:<n>', got {device!r} ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SegmentInputError(f"device {device!r}, but this torch has no usable CUDA device "
                                "(torch.cuda.is_available() is False)")
    if dev.type not in ("cpu", "cuda"):
        raise SegmentInputError(f"device must be cpu or cuda, got {device!r}")
    return dev


def check_score_thresh(value: float, name: str = "score_thresh") -> float:
    """``value`` as a float in [0, 1] (scores are in [0, 1]: above 1 nothing is kept, NaN keeps nothing)."""
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also false for NaN
        raise SegmentInputError(f"{name} must be in [0, 1] (instance scores are), got {value}")
    return value


def _to_numpy(name: str, value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    elif not isinstance(value, np.ndarray):
        raise SegmentInputError(f"{name} must be a numpy array or a torch tensor, got {type(value).__name__}")
    if value.dtype.kind not in "fiu":
        raise SegmentInputError(f"{name} must hold real numbers (float or int), got dtype {value.dtype}")
    return value


def _check_rows(name: str, arr: np.ndarray, n: Optional[int]) -> None:
    if arr.ndim != 2 or arr.shape[1] != 3 or (n is not None and arr.shape[0] != n):
        want = "(N, 3)" if n is None else f"({n}, 3), one row per point"
        raise SegmentInputError(f"{name} must have shape {want}, got {tuple(arr.shape)}")
    finite = np.isfinite(arr).all(1) if arr.dtype.kind == "f" else None
    if finite is not None and not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise SegmentInputError(f"{name} row {row} has a NaN or inf value: {arr[row].tolist()}")


def check_points(points: ArrayLike) -> np.ndarray:
    """float64 [N, 3] from a numpy array or torch tensor of shape (N, 3), N >= 1, finite, real."""
    arr = _to_numpy("points", points)
    _check_rows("points", arr, None)
    if arr.shape[0] == 0:
        raise SegmentInputError("points is empty: shape (0, 3)")
    return arr.astype(np.float64)


def check_colors(colors: Optional[ArrayLike], n: int) -> Optional[np.ndarray]:
    """float32 [n, 3] in [-1, 1] (the model's input) from colours by the file readers' rule
    (:func:`sphmask.io.colors.colors_to_255`, docs/segment.md); ``None`` stays ``None``."""
    if colors is None:
        return None
    arr = _to_numpy("colors", colors)
    _check_rows("colors", arr, n)
    try:
        rgb = colors_to_255("colors", arr, arr.dtype, what="colors")
    except DataFormatError as exc:
        raise SegmentInputError(f"colors: {exc.problem}") from None
    # in float32 like the file reader and the ScanNet preparation (sphmask.data.scannet), so arrays and
    # files give the model the same input bits (float64 arithmetic is one ulp off for some colours)
    return rgb.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


@dataclasses.dataclass
class SegmentationResult:
    """The instances of one cloud.

    Attributes:
        cloud: the input (coordinates float64 [N, 3] as given, colours, faces of a mesh).
        scene: the engine's result (instances as point indices, blocks, timing, warnings).
        instance_names: class name per 1-based ``label_id`` (``None``: ``class_<id>``).
        semantic_names: name per semantic class (``None`` when unknown).
        name: what the outputs are called.
    """

    cloud: PointCloud
    scene: SceneSegmentation
    instance_names: Optional[Tuple[str, ...]] = None
    semantic_names: Optional[Tuple[str, ...]] = None
    name: str = "cloud"

    @property
    def num_points(self) -> int:
        return self.scene.num_points

    @property
    def instances(self) -> List[InstanceView]:
        """Best score first: ``{mask: bool [N], label: str, label_id: int, score: float}`` each
        (:class:`~sphmask.engine.segment.instances.InstanceView`; ``.indices`` int64 [n])."""
        return [InstanceView(i, self.num_points, self.instance_names) for i in self.scene.instances]

    @property
    def semantic(self) -> np.ndarray:
        """int64 [N]: semantic class (train id) per point."""
        return self.scene.semantic

    @property
    def timing(self) -> Dict[str, float]:
        """Seconds per stage (``load`` for files, ``superpoints``, ``voxelise``, ``network``, ``postprocess``)."""
        return self.scene.timing

    @property
    def warnings(self) -> List[str]:
        return self.scene.warnings

    @property
    def blocks(self) -> List[Block]:
        return self.scene.blocks

    def above(self, score_thresh: float) -> "SegmentationResult":
        """The same result with only the instances scoring at least ``score_thresh`` (in [0, 1])."""
        kept = self.scene.above(check_score_thresh(score_thresh))
        return dataclasses.replace(self, scene=dataclasses.replace(self.scene, instances=kept))

    def to_npz(self, path: str) -> None:
        """Write the instances as ``*_instances.npz`` (layout: docs/segment.md), atomically."""
        write_npz(os.fspath(path), npz_arrays(self.scene.instances, self.semantic, self.num_points,
                                              self.instance_names, self.semantic_names))

    def to_ply(self, path: str) -> None:
        """Write the cloud (and faces) coloured by instance, with a per-vertex ``instance`` index,
        atomically."""
        write_instances_ply(os.fspath(path), self.cloud.xyz, self.cloud.faces, self.scene.instances, self.num_points)

    def summary(self, **extra: Any) -> Dict[str, Any]:
        """The summary JSON document: ``extra`` first, then counts and the instance list."""
        return summary_doc(self.scene.instances, self.num_points, self.instance_names, extra)

    def write(self, out_dir: str, summary=None, extra=None, on_commit=None) -> Dict[str, str]:
        """``<name>_instances.npz``, ``<name>_instances.ply`` and ``<name>_summary.json`` in
        ``out_dir`` as one set (:func:`~sphmask.engine.segment.io.write_segmentation`, which
        describes ``summary``, ``extra`` and ``on_commit``)."""
        return write_segmentation(out_dir, self.name, self.cloud, self.scene, None, self.instance_names,
                                  self.semantic_names, summary, extra, on_commit)


def run_summary(result: SegmentationResult, segmenter: "Segmenter", *, input_path: str, checkpoint: Optional[str],
                scale: float, score_thresh: float, instances_before: int,
                timing: Mapping[str, float]) -> Dict[str, Any]:
    """The run entries of a summary JSON, one layout for ``tools/segment.py`` and ``tools/demo.py``
    (docs/segment.md, "Output files"); the instance list follows them (:meth:`SegmentationResult.summary`).

    Args:
        timing: seconds per stage; rounded to milliseconds, ``total`` added when absent.
    """
    cloud, crop = result.cloud, segmenter.crop
    times = {k: round(float(v), 3) for k, v in timing.items()}
    times.setdefault("total", round(float(sum(timing.values())), 3))
    return {
        "input": os.path.abspath(input_path), "name": result.name, "mesh": cloud.faces is not None,
        "has_color": cloud.has_color, "scale": scale,
        "extent_m": [round(float(v), 4) for v in (cloud.xyz.max(0) - cloud.xyz.min(0)) * scale],
        "checkpoint": None if checkpoint is None else os.path.abspath(checkpoint),
        "config": segmenter.config_source, "device": str(segmenter.device),
        "score_thresh": score_thresh, "instances_before_score_thresh": instances_before,
        "blocks": {"count": len(result.blocks), "max_points": crop.max_points, "block_size": crop.block_size,
                   "overlap": crop.overlap, "merge_iou": crop.merge_iou,
                   "points_per_block": [int(b.points.shape[0]) for b in result.blocks]},
        "warnings": list(result.warnings),
        "timing_s": times,
    }


class Segmenter:
    """Instance segmentation of point clouds with one model: arrays, files, any size.

    Args:
        model: a :class:`~sphmask.models.SphericalMask` (or any module with the inference contract,
            see :func:`~sphmask.engine.segment.run.segment_scene`), moved to ``device``.
        voxel: the test ``voxel_cfg``; test_rotation: the official fixed test rotation.
        instance_names, semantic_names: class names (``None``: ``class_<label_id>``).
        crop: blocks for large clouds (default: one pass up to ``voxel.max_npoint`` points).
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, model: torch.nn.Module, *, voxel: VoxelConfig = VoxelConfig(), test_rotation: bool = True,
                 instance_names: Optional[Sequence[str]] = None, semantic_names: Optional[Sequence[str]] = None,
                 crop: Optional[CropSettings] = None, device: Union[str, torch.device] = "auto",
                 config: Optional[Mapping[str, Any]] = None, config_source: str = "given model"):
        self.device = resolve_device(device)
        # spconv's forward triggers a torch deprecation notice on every run that says nothing to users
        fx_log = logging.getLogger("torch.fx._symbolic_trace")
        if fx_log.level == logging.NOTSET:
            fx_log.setLevel(logging.ERROR)
        self.model = model.to(self.device).eval() if isinstance(model, torch.nn.Module) else model
        self.voxel = voxel
        self.test_rotation = bool(test_rotation)
        self.instance_names = None if instance_names is None else tuple(instance_names)
        self.semantic_names = None if semantic_names is None else tuple(semantic_names)
        self.crop = CropSettings(max_points=voxel.max_npoint) if crop is None else crop
        self.config = config
        self.config_source = config_source

    @classmethod
    def from_checkpoint(cls, path: str, config: Optional[str] = None, device: Union[str, torch.device] = "auto", *,
                        overrides: Sequence[str] = (), crop: Optional[CropSettings] = None) -> "Segmenter":
        """Build the model of a checkpoint and load it strictly.

        Args:
            path: sphmask training checkpoint (its config is stored) or official ``{"net": ...}`` file.
            config: config file; required for checkpoints without a stored config (official ones).
            device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
            overrides: ``KEY=VALUE`` config overrides.
        Raises:
            CheckpointError, ConfigError, SegmentInputError: one message saying what is wrong.
        """
        from sphmask.checkpoint import load_segmentation_model

        dev = resolve_device(device)
        return cls.from_setup(load_segmentation_model(os.fspath(path), config, overrides, str(dev)), crop=crop)

    @classmethod
    def from_setup(cls, setup, crop: Optional[CropSettings] = None) -> "Segmenter":
        """From a :class:`~sphmask.checkpoint.SegmentationSetup` (the model stays on its device)."""
        p = next(iter(setup.model.parameters()), None) if isinstance(setup.model, torch.nn.Module) else None
        return cls(setup.model, voxel=setup.voxel, test_rotation=setup.test_rotation,
                   instance_names=setup.instance_names, semantic_names=setup.semantic_names, crop=crop,
                   device=p.device if p is not None else "cpu", config=setup.config,
                   config_source=setup.config_source)

    def __call__(self, points: ArrayLike, colors: Optional[ArrayLike] = None, *, scale: float = 1.0,
                 superpoints: Optional[ArrayLike] = None, faces: Optional[ArrayLike] = None,
                 name: str = "cloud", progress: bool = False) -> SegmentationResult:
        """Segment a cloud given as arrays.

        Args:
            points: (N, 3) coordinates in metres (else ``scale``), numpy or torch, any real dtype
                (float64 keeps georeferenced coordinates exact).
            colors: (N, 3) in 0..255, or 0..1 floats; ``None``: mid grey (the model was trained with
                colour, expect weaker results).
            scale: multiplies the coordinates to make metres (0.001 for millimetres).
            superpoints: optional int (N,) superpoint ids (default: computed).
            faces: optional int (F, 3) triangles into ``points`` (a mesh: superpoints follow it).
        Raises:
            SegmentInputError: naming the array and what was wrong (shape, dtype, NaN/inf, range).
        """
        xyz = check_points(points)
        n = xyz.shape[0]
        rgb = check_colors(colors, n)
        sp = None
        if superpoints is not None:
            sp = _to_numpy("superpoints", superpoints)
            if sp.dtype.kind not in "iu" or sp.shape != (n,):
                raise SegmentInputError(f"superpoints must be integers of shape ({n},), got {sp.dtype} "
                                        f"{tuple(sp.shape)}")
            sp = sp.astype(np.int64)
        tri = None
        if faces is not None:
            tri = _to_numpy("faces", faces)
            if tri.dtype.kind not in "iu" or tri.ndim != 2 or tri.shape[1] != 3:
                raise SegmentInputError(f"faces must be integers of shape (F, 3), got {tri.dtype} {tuple(tri.shape)}")
            if tri.size and (tri.min() < 0 or tri.max() >= n):
                raise SegmentInputError(f"faces must index the {n} points (0..{n - 1}), got values in "
                                        f"[{tri.min()}, {tri.max()}]")
            tri = tri.astype(np.int64) if tri.shape[0] else None
        cloud = PointCloud(xyz=xyz, rgb=np.zeros((n, 3), np.float32) if rgb is None else rgb, superpoints=sp,
                           faces=tri, has_color=rgb is not None)
        return self.segment_cloud(cloud, scale=scale, name=name, progress=progress)

    def segment_cloud(self, cloud: PointCloud, *, scale: float = 1.0, name: str = "cloud",
                      progress: bool = False) -> SegmentationResult:
        """Segment a :class:`~sphmask.data.PointCloud` (from :func:`~sphmask.data.load_point_cloud`)."""
        scale = float(scale)
        if not (np.isfinite(scale) and scale > 0):
            raise SegmentInputError(f"scale must be a finite positive number, got {scale}")
        scene = segment_scene(self.model, cloud, scale=scale, crop=self.crop, voxel=self.voxel,
                              test_rotation=self.test_rotation, progress=progress, name=name)
        return SegmentationResult(cloud=cloud, scene=scene, instance_names=self.instance_names,
                                  semantic_names=self.semantic_names, name=name)

    def segment_file(self, path: str, *, scale: float = 1.0, name: Optional[str] = None,
                     progress: bool = False) -> SegmentationResult:
        """Segment a PLY (mesh or points), NPY or text file (the formats of ``tools/segment.py``).

        Raises:
            DataFormatError: naming the file, when it cannot be read or holds no usable cloud.
        """
        from sphmask.data.pointcloud import load_point_cloud

        t0 = time.perf_counter()
        cloud = load_point_cloud(os.fspath(path), compute_superpoints=False)
        load = time.perf_counter() - t0
        if name is None:
            name = os.path.splitext(os.path.basename(os.fspath(path)))[0] or "cloud"
        result = self.segment_cloud(cloud, scale=scale, name=name, progress=progress)
        result.scene.timing = {"load": load, **result.scene.timing}
        return result
