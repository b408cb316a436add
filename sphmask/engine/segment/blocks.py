"""Cutting a large cloud into overlapping vertical blocks (:func:`plan_blocks`) that the model
runs one at a time, and which block's core owns each point (:func:`block_owners`)."""
import dataclasses
import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

#: A core cell is not split below this side (metres) even when its block is over the point budget.
MIN_CELL = 0.5


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
        suppress: after merging, remove what blocks add to a one-pass result: block-edge fragments
            left to the block whose core holds them, and duplicates decayed by matrix NMS over the
            merged set (``False``: merging only, as sphmask 0.1 did).
    """

    max_points: int = 250_000
    block_size: Optional[float] = None
    overlap: float = 1.0
    merge_iou: float = 0.5
    suppress: bool = True

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
