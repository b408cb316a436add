"""Instance segmentation of your own point clouds: no labels, no preprocessing (docs/segment.md).

:func:`segment_scene` runs a model on a :class:`~sphmask.data.PointCloud` the way the test
pipeline runs it on a ScanNet scene (coordinates centred, official test rotation, rgb in [-1, 1],
superpoints), and returns instances as sorted point indices into the cloud's own point order.

Clouds with more points than the model should see at once are processed in overlapping blocks
(vertical columns over an xy grid, :func:`plan_blocks`); the instances of all blocks are mapped
back to the whole cloud and merged (:func:`merge_block_instances`): two instances of the same
class from two blocks are one object when their masks agree on the points both blocks saw (IoU
restricted to the shared points >= ``merge_iou``). Merged masks are then made superpoint-consistent
(:func:`superpoint_cleanup`). Everything is deterministic: same inputs, same outputs.

:func:`write_segmentation` writes ``<name>_instances.npz`` (masks as point-index lists),
``<name>_instances.ply`` (instances coloured, mesh faces kept) and ``<name>_summary.json``,
each atomically; :func:`read_instances` reads the NPZ back.
"""
import dataclasses
import json
import math
import os
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from sphmask.data.pointcloud import PointCloud
from sphmask.data.transforms import VoxelConfig, transform_test
from sphmask.io.atomic import atomic_path, write_text

#: A core cell is not split below this side (metres) even when its block is over the point budget.
MIN_CELL = 0.5

#: Extents (metres, after ``scale``) outside this range are reported as implausible.
PLAUSIBLE_EXTENT = (0.1, 1000.0)


@dataclasses.dataclass(frozen=True)
class CropSettings:
    """How a cloud is cut into blocks and how block results are merged.

    Attributes:
        max_points: point budget of one model pass. A cloud with at most this many points (and no
            ``block_size`` smaller than its extent) runs in one pass; otherwise blocks are split
            until they hold at most this many points (the training ``max_npoint``, 250k, by default).
        block_size: largest block side in metres (``None``: only the point budget decides).
        overlap: width in metres of the strip two neighbouring blocks share.
        merge_iou: two same-class instances of different blocks are merged when their IoU over the
            points both blocks contain reaches this.
    """

    max_points: int = 250_000
    block_size: Optional[float] = None
    overlap: float = 1.0
    merge_iou: float = 0.5

    def __post_init__(self):
        if self.max_points <= 0:
            raise ValueError(f"max_points must be > 0, got {self.max_points}")
        if not (math.isfinite(self.overlap) and self.overlap >= 0):
            raise ValueError(f"overlap must be finite and >= 0 metres, got {self.overlap}")
        if self.block_size is not None and not (math.isfinite(self.block_size) and self.block_size > self.overlap):
            raise ValueError(f"block_size must be larger than the overlap ({self.overlap} m), got {self.block_size}")
        if not 0 < self.merge_iou <= 1:
            raise ValueError(f"merge_iou must be in (0, 1], got {self.merge_iou}")


@dataclasses.dataclass
class Block:
    """One model pass over a vertical column of the cloud.

    Attributes:
        core: float64 [2, 2] ``[[x0, y0], [x1, y1]]``: the cell this block is responsible for. The
            cores of all blocks tile the cloud's xy bounding box.
        bounds: the core grown by ``overlap / 2`` on every side: the points the model sees.
        points: int64 [n] indices (ascending) of the cloud's points inside ``bounds``.
    """

    core: np.ndarray
    bounds: np.ndarray
    points: np.ndarray


@dataclasses.dataclass
class Instance:
    """One predicted object.

    Attributes:
        indices: int64 [n] ascending indices of its points in the input cloud.
        label_id: 1-based instance class (class ``label_id - 1`` of the model's instance classes).
        score: confidence in [0, 1].
    """

    indices: np.ndarray
    label_id: int
    score: float

    @property
    def num_points(self) -> int:
        return int(self.indices.shape[0])


@dataclasses.dataclass
class SceneSegmentation:
    """Result of :func:`segment_scene`.

    Attributes:
        num_points: points of the input cloud (``N``).
        instances: best score first (ties: lower first point index first).
        semantic: int64 [N] semantic class (train id) per point, from the block whose core holds it.
        blocks: the blocks that were run (one covering everything when there was no cropping).
        timing: seconds per stage (``superpoints``, ``inference``, ``merge``).
        warnings: things the user should know (implausible extent, blocks over the budget, ...).
    """

    num_points: int
    instances: List[Instance]
    semantic: np.ndarray
    blocks: List[Block]
    timing: Dict[str, float]
    warnings: List[str]

    def above(self, score_thresh: float) -> List[Instance]:
        """Instances whose score is at least ``score_thresh``, in the same order."""
        return [inst for inst in self.instances if inst.score >= score_thresh]


# ----------------------------------------------------------------------------------------- blocks


def _inside(xy: np.ndarray, box: np.ndarray) -> np.ndarray:
    return (xy[:, 0] >= box[0, 0]) & (xy[:, 0] <= box[1, 0]) & (xy[:, 1] >= box[0, 1]) & (xy[:, 1] <= box[1, 1])


def _grid_cells(xy: np.ndarray, edges: Sequence[np.ndarray], half: float) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Row-major grid cells with the ascending indices of the points within ``half`` of each, found by
    sorting once per axis (not one pass over the cloud per cell)."""
    def within(values, a, b):  # slice of the sorted values in [a - half, b + half]
        return slice(np.searchsorted(values, a - half, "left"), np.searchsorted(values, b + half, "right"))

    by_x = np.argsort(xy[:, 0], kind="stable")
    xs = xy[by_x, 0]
    columns = []
    for i in range(edges[0].shape[0] - 1):
        col = by_x[within(xs, edges[0][i], edges[0][i + 1])]
        col = col[np.argsort(xy[col, 1], kind="stable")]
        columns.append((col, xy[col, 1]))
    cells = []
    for j in range(edges[1].shape[0] - 1):
        for i, (col, ys) in enumerate(columns):
            cand = col[within(ys, edges[1][j], edges[1][j + 1])]
            core = np.array([[edges[0][i], edges[1][j]], [edges[0][i + 1], edges[1][j + 1]]])
            cells.append((core, np.sort(cand)))
    return cells


def plan_blocks(xy: np.ndarray, settings: CropSettings = CropSettings()) -> Tuple[List[Block], List[str]]:
    """Cut a cloud into overlapping vertical blocks.

    A cloud within the point budget (and within ``block_size``, if set) is one block. Otherwise the
    xy bounding box is tiled into core cells (a regular grid of cells no wider than
    ``block_size - overlap``, or the whole box), each block being its cell grown by ``overlap / 2``;
    a block holding more than ``max_points`` points has its cell halved across its longer side,
    recursively, until the budget holds or the cell is down to ``max(overlap, MIN_CELL)`` metres.
    Cells without points of their own are dropped. The order is deterministic (grid row-major, then
    depth-first halves).

    Args:
        xy: float [N, 2] point coordinates in metres (N > 0).
    Returns:
        ``(blocks, warnings)``; a warning names every block left over the budget.
    """
    xy = np.asarray(xy, dtype=np.float64)
    n = xy.shape[0]
    if n == 0:
        raise ValueError("cannot plan blocks for an empty cloud")
    lo, hi = xy.min(0), xy.max(0)
    extent = hi - lo
    s = settings
    if n <= s.max_points and (s.block_size is None or extent.max() <= s.block_size):
        box = np.stack([lo, hi])
        return [Block(core=box, bounds=box.copy(), points=np.arange(n, dtype=np.int64))], []
    half = s.overlap / 2
    if s.block_size is None:
        cells = [(np.stack([lo, hi]), np.arange(n, dtype=np.int64))]
    else:
        counts = np.maximum(1, np.ceil(extent / (s.block_size - s.overlap) - 1e-9)).astype(np.int64)
        edges = [lo[a] + extent[a] * np.arange(counts[a] + 1) / counts[a] for a in (0, 1)]
        edges[0][-1], edges[1][-1] = hi[0], hi[1]
        cells = _grid_cells(xy, edges, half)
    min_side = max(s.overlap, MIN_CELL)
    blocks: List[Block] = []
    warnings: List[str] = []
    # Depth-first over (cell, candidate points): a half's block lies inside its parent's block.
    stack = list(reversed(cells))
    while stack:
        core, candidates = stack.pop()
        bounds = core + np.array([[-half], [half]])
        points = candidates[_inside(xy[candidates], bounds)]
        if not _inside(xy[points], core).any():
            continue
        side = core[1] - core[0]
        if points.shape[0] > s.max_points and side.max() > min_side:
            axis = int(np.argmax(side))
            mid = (core[0, axis] + core[1, axis]) / 2
            first, second = core.copy(), core.copy()
            first[1, axis] = mid
            second[0, axis] = mid
            stack += [(second, points), (first, points)]
            continue
        if points.shape[0] > s.max_points:
            warnings.append(f"block {len(blocks)} ({side[0]:.2f} x {side[1]:.2f} m core) holds {points.shape[0]} "
                            f"points, more than max_points={s.max_points}, and is not split below "
                            f"{min_side} m; lower the overlap or thin the cloud if memory runs out")
        blocks.append(Block(core=core, bounds=bounds, points=points))
    return blocks, warnings


def block_owners(xy: np.ndarray, blocks: Sequence[Block]) -> np.ndarray:
    """int64 [N]: for each point, the first block whose core contains it (cores tile the cloud)."""
    owner = np.full(xy.shape[0], -1, dtype=np.int64)
    for b, block in enumerate(blocks):
        pts = block.points[owner[block.points] < 0]
        owner[pts[_inside(xy[pts], block.core)]] = b
    return owner


# ----------------------------------------------------------------------------------------- merging


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def _restricted(indices: np.ndarray, shared: np.ndarray) -> np.ndarray:
    """Positions in ``shared`` (sorted) of the elements of ``indices`` that ``shared`` contains."""
    if shared.size == 0 or indices.size == 0:
        return np.zeros(0, dtype=np.int64)
    pos = np.searchsorted(shared, indices)
    hit = pos < shared.size
    hit[hit] = shared[pos[hit]] == indices[hit]
    return pos[hit]


def _shared_iou(a: Sequence[Instance], b: Sequence[Instance], shared: np.ndarray) -> np.ndarray:
    """float64 [len(a), len(b)]: IoU of the masks restricted to the ``shared`` points."""
    import scipy.sparse

    def matrix(insts):
        cols = [_restricted(i.indices, shared) for i in insts]
        rows = np.repeat(np.arange(len(insts)), [c.size for c in cols])
        data = np.ones(rows.size, dtype=np.float64)
        m = scipy.sparse.csr_matrix((data, (rows, np.concatenate(cols))), shape=(len(insts), shared.size))
        return m, np.array([c.size for c in cols], dtype=np.float64)

    ma, sa = matrix(a)
    mb, sb = matrix(b)
    inter = (ma @ mb.T).toarray()
    union = sa[:, None] + sb[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _boxes_touch(p: Block, q: Block) -> bool:
    return bool((p.bounds[0] <= q.bounds[1]).all() and (q.bounds[0] <= p.bounds[1]).all())


def merge_block_instances(blocks: Sequence[Block], block_instances: Sequence[Sequence[Instance]],
                          merge_iou: float = 0.5) -> List[Instance]:
    """Merge the instances of overlapping blocks into objects of the whole cloud.

    For every two blocks that share points, same-class instance pairs are scored by their IoU over
    the shared points only (an object cut by a block edge is partial in each block, but both
    blocks see all of it inside the shared strip). Pairs reaching ``merge_iou`` are matched
    one-to-one, highest IoU first, so duplicates the model itself returns within a block stay
    separate. Matches are chained across blocks (an object spanning three blocks becomes one); a
    merged instance is the union of its members' points, with their class and their highest score.

    Args:
        blocks: the blocks (only ``points`` and ``bounds`` are used).
        block_instances: per block, its instances with indices into the whole cloud (each a subset
            of the block's points).
    Returns:
        the merged instances, best score first (ties: lower first point index first).
    """
    if len(blocks) != len(block_instances):
        raise ValueError(f"{len(blocks)} blocks but {len(block_instances)} instance lists")
    flat = [(b, inst) for b, insts in enumerate(block_instances) for inst in insts]
    start = np.cumsum([0] + [len(insts) for insts in block_instances])
    uf = _UnionFind(len(flat))
    for i in range(len(blocks)):
        for j in range(i + 1, len(blocks)):
            a, b = block_instances[i], block_instances[j]
            if not a or not b or not _boxes_touch(blocks[i], blocks[j]):
                continue
            shared = np.intersect1d(blocks[i].points, blocks[j].points, assume_unique=True)
            if shared.size == 0:
                continue
            iou = _shared_iou(a, b, shared)
            same = np.array([x.label_id for x in a])[:, None] == np.array([y.label_id for y in b])[None, :]
            iou = np.where(same, iou, 0.0)
            ia, ib = np.nonzero(iou >= merge_iou)
            order = np.lexsort((ib, ia, -iou[ia, ib]))
            used_a, used_b = set(), set()
            for k in order:
                p, q = int(ia[k]), int(ib[k])
                if p not in used_a and q not in used_b:
                    used_a.add(p)
                    used_b.add(q)
                    uf.union(int(start[i]) + p, int(start[j]) + q)
    groups: Dict[int, List[int]] = {}
    for k in range(len(flat)):
        groups.setdefault(uf.find(k), []).append(k)
    merged = []
    for members in groups.values():
        insts = [flat[k][1] for k in members]
        indices = insts[0].indices if len(insts) == 1 else np.unique(np.concatenate([x.indices for x in insts]))
        merged.append(Instance(indices=indices.astype(np.int64, copy=False), label_id=insts[0].label_id,
                               score=max(x.score for x in insts)))
    return sort_instances(merged)


def sort_instances(instances: Sequence[Instance]) -> List[Instance]:
    """Best score first; ties broken by the first point index, then the class (deterministic)."""
    def key(inst):
        return (-inst.score, int(inst.indices[0]) if inst.indices.size else -1, inst.label_id)

    return sorted(instances, key=key)


def superpoint_cleanup(instances: Sequence[Instance], superpoints: np.ndarray, min_points: int) -> List[Instance]:
    """Make masks superpoint-consistent and drop small ones.

    A superpoint is in a mask when at least half of its points are (the rule the model applies
    inside each pass, spec §7.3 step 8), so superpoints cut by block edges end up wholly in or out.
    Masks with fewer than ``min_points`` points afterwards are dropped. Order is kept.

    Args:
        superpoints: int [N] superpoint id per point of the whole cloud.
    """
    _, inv = np.unique(superpoints, return_inverse=True)
    inv = inv.reshape(-1)
    sizes = np.bincount(inv)
    members = np.argsort(inv, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    out = []
    for inst in instances:
        sp, count = np.unique(inv[inst.indices], return_counts=True)
        keep = sp[2 * count >= sizes[sp]]
        lengths = sizes[keep]
        total = int(lengths.sum())
        if total < max(min_points, 1):
            continue
        within = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        indices = np.sort(members[np.repeat(starts[keep], lengths) + within])
        out.append(Instance(indices=indices, label_id=inst.label_id, score=inst.score))
    return out


# ----------------------------------------------------------------------------------------- running


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
                       owner: Optional[np.ndarray]) -> np.ndarray:
    """Superpoints of the whole cloud: from the mesh, or from the points of each block's core."""
    from sphmask.ops import segment_mesh, segment_points

    if faces is not None:
        return segment_mesh(torch.from_numpy(xyz.astype(np.float32)), torch.from_numpy(faces)).numpy()
    if owner is None:
        return segment_points(torch.from_numpy(xyz.astype(np.float32))).numpy()
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
        ids = np.unique(segment_points(torch.from_numpy(xyz[pts].astype(np.float32))).numpy(),
                        return_inverse=True)[1].reshape(-1)
        sp[pts] = ids + bias
        bias += int(ids.max()) + 1
    return sp


def _model_device(model) -> torch.device:
    p = next(iter(model.parameters()), None) if isinstance(model, torch.nn.Module) else None
    return p.device if p is not None else torch.device("cpu")


def run_block(model, xyz: np.ndarray, rgb: np.ndarray, superpoints: np.ndarray, voxel: VoxelConfig,
              test_rotation: bool = True, scan_id: str = "block") -> Dict[str, Any]:
    """One model pass over the points of one block, prepared like a test scene.

    The points are centred on their mean (ScanNet's preprocessing centres each scene), rotated by
    the official test rotation (unless ``test_rotation`` is off) and voxelised with ``voxel``.

    Args:
        xyz: float [n, 3] metres; rgb: float32 [n, 3] in [-1, 1]; superpoints: int [n].
    Returns:
        the model's result for the scene: ``{semantic_pred int64 [n], instances: [{mask bool [n],
        label_id, score}]}`` with everything on the CPU as NumPy.
    """
    from sphmask.data.dataset import collate
    from sphmask.engine.trainer import move_to_device

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
    batch = move_to_device(collate([sample], min_spatial_shape=voxel.spatial_shape[0]), _model_device(model))
    with torch.no_grad():
        res = model(batch)[0]

    def cpu(x):
        return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)

    return {"semantic_pred": cpu(res["semantic_pred"]).astype(np.int64),
            "instances": [{"mask": cpu(i["mask"]).astype(bool), "label_id": int(i["label_id"]),
                           "score": float(i["score"])} for i in res["instances"]]}


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
    timing: Dict[str, float] = {}
    xyz = cloud.xyz.astype(np.float64) * scale
    warnings = [w for w in [extent_warning(xyz)] if w]
    blocks, block_warnings = plan_blocks(xyz[:, :2], crop)
    warnings += block_warnings
    cropped = len(blocks) > 1
    owner = block_owners(xyz[:, :2], blocks) if cropped else None

    t0 = time.perf_counter()
    superpoints = cloud.superpoints
    if superpoints is None:
        superpoints = _point_superpoints(xyz, cloud.faces, blocks, owner)
    superpoints = np.asarray(superpoints).reshape(-1)
    if superpoints.shape[0] != n:
        raise ValueError(f"{name}: {superpoints.shape[0]} superpoint ids for {n} points")
    timing["superpoints"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    semantic = np.zeros(n, dtype=np.int64)
    block_instances: List[List[Instance]] = []
    iterator = blocks
    if progress and cropped:
        from tqdm import tqdm

        iterator = tqdm(blocks, desc=f"{name} blocks", unit="block", leave=False, dynamic_ncols=True, disable=None)
    for b, block in enumerate(iterator):
        pts = block.points
        res = run_block(model, xyz[pts], cloud.rgb[pts], superpoints[pts], voxel, test_rotation,
                        scan_id=f"{name}#{b}" if cropped else name)
        if cropped:
            own = np.flatnonzero(owner[pts] == b)
            semantic[pts[own]] = res["semantic_pred"][own]
        else:
            semantic[:] = res["semantic_pred"]
        block_instances.append([Instance(indices=pts[i["mask"]], label_id=i["label_id"], score=i["score"])
                                for i in res["instances"]])
    timing["inference"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if cropped:
        instances = merge_block_instances(blocks, block_instances, crop.merge_iou)
        instances = sort_instances(superpoint_cleanup(instances, superpoints, min_points))
    else:
        instances = sort_instances(block_instances[0])
    timing["merge"] = time.perf_counter() - t0
    return SceneSegmentation(num_points=n, instances=instances, semantic=semantic, blocks=blocks, timing=timing,
                             warnings=warnings)


# ----------------------------------------------------------------------------------------- set-up


@dataclasses.dataclass
class SegmentationSetup:
    """What :func:`load_segmentation_model` resolved: the model and the settings from its config.

    Attributes:
        model: the network in eval mode on ``device``.
        config: the config it was built from.
        config_source: ``"--config <path>"`` or ``"checkpoint meta"``.
        voxel: the test ``voxel_cfg`` (defaults when the config has no ``data`` section).
        test_rotation: the test transform's fixed rotation (on unless the config turns it off).
        instance_names, semantic_names: class names of the config's dataset type when they fit the
            model's class counts, else ``None``.
    """

    model: torch.nn.Module
    config: Dict[str, Any]
    config_source: str
    voxel: VoxelConfig
    test_rotation: bool
    instance_names: Optional[Tuple[str, ...]]
    semantic_names: Optional[Tuple[str, ...]]


def load_segmentation_model(ckpt: str, config: Optional[str] = None, overrides: Sequence[str] = (),
                            device: str = "cpu") -> SegmentationSetup:
    """Build the model and load a checkpoint strictly (:func:`sphmask.checkpoint.load_checkpoint`).

    The config is ``config`` when given, else the one sphmask training stores in the checkpoint
    (``meta.config``); official checkpoints carry none and need ``config``.

    Raises:
        CheckpointError: unreadable file, no config anywhere, or weights that do not fit the model.
        ConfigError: bad config file, key or override.
    """
    import copy

    from sphmask.checkpoint import CheckpointError, load_checkpoint
    from sphmask.config import ConfigError, apply_override, load_config
    from sphmask.data.dataset import DATASET_TYPES, make_voxel_config
    from sphmask.models import build_model

    if not os.path.isfile(ckpt):
        raise CheckpointError(f"checkpoint file not found: {ckpt}")
    with open(ckpt, "rb") as f:
        head = f.read(4)
    if head[:2] != b"PK" and head[:1] != b"\x80":  # torch.save writes a zip archive (or, legacy, a pickle)
        raise CheckpointError(f"{ckpt} is not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle)")
    try:
        obj = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types (pickle, zip, unpickling policy)
        raise CheckpointError(f"cannot read checkpoint {ckpt} with weights_only=True: {exc}") from None
    if config is not None:
        cfg, source = load_config(config), f"--config {config}"
    else:
        meta = obj.get("meta") if isinstance(obj, Mapping) else None
        cfg = meta.get("config") if isinstance(meta, Mapping) else None
        if not isinstance(cfg, Mapping) or "model" not in cfg:
            raise CheckpointError(f"{ckpt} does not record the config it was trained with (official checkpoints "
                                  "do not); pass --config, e.g. configs/scannetv2/spherical_mask.yaml")
        cfg, source = copy.deepcopy(dict(cfg)), "checkpoint meta"
    for item in overrides:
        apply_override(cfg, item)
    model = build_model(cfg)
    if model.in_channels not in (0, 3):
        raise ConfigError(f"the model takes {model.in_channels} feature channels per point; segmenting raw clouds "
                          "provides rgb (in_channels: 3) or nothing (in_channels: 0)")
    load_checkpoint(model, obj, strict=True)
    model.to(device).eval()
    data = cfg.get("data") or {}
    section = data.get("test") or data.get("train") or {}
    voxel = make_voxel_config(section.get("voxel_cfg"), "data.test.voxel_cfg")
    names = None
    kind = DATASET_TYPES.get(section.get("type"))
    if kind is not None and kind.classes.semantic_classes == model.semantic_classes \
            and kind.classes.instance_classes == model.instance_classes:
        names = kind.classes
    return SegmentationSetup(model=model, config=cfg, config_source=source, voxel=voxel,
                             test_rotation=bool(section.get("test_rotation", True)),
                             instance_names=None if names is None else tuple(names.instance_names),
                             semantic_names=None if names is None else tuple(names.semantic_names))


# ----------------------------------------------------------------------------------------- outputs


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
