"""One segmentation run: superpoints, the model pass per block prepared like a test scene
(:func:`run_block`), and :func:`segment_scene`, which ties blocks, passes and merging together."""
import math
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from sphmask.data.pointcloud import PointCloud, local_frame
from sphmask.data.transforms import VoxelConfig, transform_test
from sphmask.engine.segment.blocks import Block, CropSettings, block_owners, plan_blocks
from sphmask.engine.segment.instances import Instance, SceneSegmentation, sort_instances
from sphmask.engine.segment.merge import (
    drop_edge_fragments, merge_block_instances, rescore_duplicates, superpoint_cleanup,
)

#: Extents (metres, after ``scale``) outside this range are reported as implausible.
PLAUSIBLE_EXTENT = (0.1, 1000.0)

def _float32(xyz: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(local_frame(xyz), dtype=np.float32))


def extent_warning(xyz: np.ndarray) -> Optional[str]:
    """A message when the cloud's extent (metres expected) is implausible, else ``None``."""
    extent = xyz.max(0) - xyz.min(0)
    biggest = float(extent.max())
    size = " x ".join(f"{v:.4g}" for v in extent)
    if biggest > PLAUSIBLE_EXTENT[1]:
        return (f"the cloud spans {size} units; the model expects metres, and more than "
                f"{PLAUSIBLE_EXTENT[1]:g} m is unusual: if the file is in millimetres, scale by 0.001 "
                "(--scale 0.001; centimetres: 0.01)")
    if biggest < PLAUSIBLE_EXTENT[0]:
        return (f"the cloud spans only {size} units; the model expects metres (objects of 0.3-2 m): "
                "check the units and set the scale (--scale)")
    return None


def _point_superpoints(xyz: np.ndarray, faces: Optional[np.ndarray], blocks: Sequence[Block],
                       owner: Optional[np.ndarray], rgb255: Optional[np.ndarray] = None) -> np.ndarray:
    """Superpoints of the whole cloud: from the mesh, or from the points of each block's core.

    Points-only clouds with colours put colour into the graph's edge weights: pictures, doors and
    whiteboards lie flush with walls, where geometry alone cannot separate them (docs/benchmarks.md,
    "Superpoints from points").
    """
    from sphmask.ops import segment_mesh, segment_points

    def points(sel):
        return segment_points(_float32(xyz[sel]), colors=None if rgb255 is None else torch.from_numpy(rgb255[sel]))

    if faces is not None:
        return segment_mesh(_float32(xyz), torch.from_numpy(faces)).numpy()
    if owner is None:
        return points(slice(None)).numpy()
    # Per core cell, so memory follows the block size rather than the cloud size; superpoints then
    # end at cell edges, a small change next to the hundreds of superpoints inside a block.
    sp = np.empty(xyz.shape[0], dtype=np.int64)
    bias = 0
    by_owner = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[by_owner], np.arange(len(blocks) + 1))
    for b in range(len(blocks)):
        pts = by_owner[bounds[b]:bounds[b + 1]]
        if pts.size == 0:
            continue
        ids = np.unique(points(pts).numpy(), return_inverse=True)[1].reshape(-1)
        sp[pts] = ids + bias
        bias += int(ids.max()) + 1
    return sp


def _model_device(model) -> torch.device:
    p = next(iter(model.parameters()), None) if isinstance(model, torch.nn.Module) else None
    return p.device if p is not None else torch.device("cpu")


def run_block(model, xyz: np.ndarray, rgb: np.ndarray, superpoints: np.ndarray, voxel: VoxelConfig,
              test_rotation: bool = True, scan_id: str = "block",
              timing: Optional[Dict[str, float]] = None) -> Dict[str, Any]:
    """One model pass over the points of one block, prepared like a test scene.

    The points are centred on their mean (ScanNet's preprocessing centres each scene), rotated by
    the official test rotation (unless ``test_rotation`` is off) and voxelised with ``voxel``.

    Args:
        xyz: float [n, 3] metres; rgb: float32 [n, 3] in [-1, 1]; superpoints: int [n].
        timing: when given, seconds are added to its ``voxelise`` (transform, batch, transfer),
            ``network`` (``model(batch)``, the model's own post-processing included) and
            ``postprocess`` (results to NumPy) entries.
    Returns:
        the model's result for the scene: ``{semantic_pred int64 [n], instances: [{mask bool [n],
        label_id, score}]}`` with everything on the CPU as NumPy.
    """
    from sphmask.data.dataset import collate
    from sphmask.engine.trainer import move_to_device

    timing = {} if timing is None else timing
    t0 = time.perf_counter()
    xyz = np.asarray(xyz, dtype=np.float64)
    xyz_voxel, xyz_middle = transform_test(xyz - xyz.mean(0), voxel, test_rotation)
    in_channels = int(getattr(model, "in_channels", 3))
    feat = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)) if in_channels == 3 else \
        torch.zeros((xyz.shape[0], 0), dtype=torch.float32)
    sample = {
        "scan_id": scan_id,
        "coord": torch.from_numpy(xyz_voxel.astype(np.int64)),
        "coord_float": torch.from_numpy(xyz_middle.astype(np.float32)),
        "feat": feat,
        "superpoints": torch.from_numpy(np.unique(superpoints, return_inverse=True)[1].reshape(-1).astype(np.int64)),
        "semantic": None,
        "instance": None,
        "num_instances": 0,
    }
    device = _model_device(model)
    batch = move_to_device(collate([sample], min_spatial_shape=voxel.spatial_shape[0]), device)
    t1 = time.perf_counter()
    with torch.no_grad():
        res = model(batch)[0]
    if device.type == "cuda":  # kernels run asynchronously; charge them to the network
        torch.cuda.synchronize(device)
    t2 = time.perf_counter()

    def cpu(x):
        return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)

    out = {"semantic_pred": cpu(res["semantic_pred"]).astype(np.int64),
           "instances": [{"mask": cpu(i["mask"]).astype(bool), "label_id": int(i["label_id"]),
                          "score": float(i["score"])} for i in res["instances"]]}
    for key, seconds in (("voxelise", t1 - t0), ("network", t2 - t1), ("postprocess", time.perf_counter() - t2)):
        timing[key] = timing.get(key, 0.0) + seconds
    return out


def segment_scene(model, cloud: PointCloud, *, scale: float = 1.0, crop: CropSettings = CropSettings(),
                  voxel: VoxelConfig = VoxelConfig(), test_rotation: bool = True, min_points: Optional[int] = None,
                  progress: bool = False, name: str = "scene") -> SceneSegmentation:
    """Instance segmentation of one cloud, in blocks when it is large.

    Args:
        model: eval-mode callable with the sphmask inference contract (``model(batch)`` returns per
            scene ``{scan_id, semantic_pred, instances: [{mask, label_id, score}]}``), e.g. a
            :class:`~sphmask.models.SphericalMask`; put in eval mode here if it is a module. Batches
            go to the device of its parameters.
        cloud: from :func:`~sphmask.data.load_point_cloud`. ``superpoints`` are computed when
            ``None`` (from the mesh when there are faces, else from the points, per block core when
            cropping).
        scale: multiplies the coordinates to make metres (0.001 for millimetres). Outputs always
            index the cloud's points in file order.
        crop: blocking and merging (:class:`CropSettings`).
        voxel: voxel size (``scale`` voxels per metre) and minimum spatial shape, as in the config.
        test_rotation: the official fixed test-time rotation (keep it for official checkpoints).
        min_points: smallest instance kept after merging (default: the model's
            ``infer_cfg.npoint_thresh``, else 100). A single pass returns the model's instances
            unchanged, only sorted by score.
        progress: a progress bar over blocks (only when there are several).
    """
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite positive number, got {scale}")
    n = cloud.num_points
    if n == 0:
        raise ValueError(f"{name}: the cloud has no points")
    if isinstance(model, torch.nn.Module):
        model.eval()
    if min_points is None:
        min_points = int(getattr(getattr(model, "infer_cfg", None), "npoint_thresh", 100))
    timing: Dict[str, float] = {"superpoints": 0.0, "voxelise": 0.0, "network": 0.0, "postprocess": 0.0}
    t0 = time.perf_counter()
    # Georeferenced clouds: everything below (blocks, superpoints, voxels) sees local coordinates.
    xyz = local_frame(cloud.xyz.astype(np.float64) * scale)
    warnings = [w for w in [extent_warning(xyz)] if w]
    blocks, block_warnings = plan_blocks(xyz[:, :2], crop)
    warnings += block_warnings
    cropped = len(blocks) > 1
    owner = block_owners(xyz[:, :2], blocks) if cropped else None
    timing["voxelise"] += time.perf_counter() - t0

    t0 = time.perf_counter()
    superpoints = cloud.superpoints
    if superpoints is None:
        rgb255 = np.clip((cloud.rgb + np.float32(1)) * np.float32(127.5), 0, 255) if cloud.has_color else None
        superpoints = _point_superpoints(xyz, cloud.faces, blocks, owner, rgb255)
    superpoints = np.asarray(superpoints).reshape(-1)
    if superpoints.shape[0] != n:
        raise ValueError(f"{name}: {superpoints.shape[0]} superpoint ids for {n} points")
    timing["superpoints"] = time.perf_counter() - t0

    semantic = np.zeros(n, dtype=np.int64)
    block_instances: List[List[Instance]] = []
    iterator = blocks
    if progress and cropped:
        from tqdm import tqdm

        iterator = tqdm(blocks, desc=f"{name} blocks", unit="block", leave=False, dynamic_ncols=True, disable=None)
    for b, block in enumerate(iterator):
        pts = block.points
        res = run_block(model, xyz[pts], cloud.rgb[pts], superpoints[pts], voxel, test_rotation,
                        scan_id=f"{name}#{b}" if cropped else name, timing=timing)
        t0 = time.perf_counter()
        if cropped:
            own = np.flatnonzero(owner[pts] == b)
            semantic[pts[own]] = res["semantic_pred"][own]
        else:
            semantic[:] = res["semantic_pred"]
        block_instances.append([Instance(indices=pts[i["mask"]], label_id=i["label_id"], score=i["score"])
                                for i in res["instances"]])
        timing["postprocess"] += time.perf_counter() - t0

    t0 = time.perf_counter()
    if cropped:
        if crop.suppress:
            block_instances = drop_edge_fragments(block_instances, owner)
        instances = merge_block_instances(blocks, block_instances, crop.merge_iou)
        instances = sort_instances(superpoint_cleanup(instances, superpoints, min_points))
        infer_cfg = getattr(model, "infer_cfg", None)
        if crop.suppress:
            instances = rescore_duplicates(instances, superpoints, float(getattr(infer_cfg, "nms_sigma", 2.0)))
            # One pass keeps its topk_pre_nms best candidates; blocks get the same budget per point
            # (a pass over max_points points keeps topk_pre_nms), not that budget each.
            topk = getattr(infer_cfg, "topk_pre_nms", None)
            if topk is not None:
                instances = instances[:int(math.ceil(int(topk) * max(1.0, n / crop.max_points)))]
    else:
        instances = sort_instances(block_instances[0])
    timing["postprocess"] += time.perf_counter() - t0
    return SceneSegmentation(num_points=n, instances=instances, semantic=semantic, blocks=blocks, timing=timing,
                             warnings=warnings, superpoints=superpoints)
