"""Making objects of the whole cloud from per-block instances: matching across the strips that
blocks share (:func:`merge_block_instances`) and making merged masks superpoint-consistent
(:func:`superpoint_cleanup`)."""
from typing import Dict, List, Sequence

import numpy as np
import torch

from sphmask.engine.segment.blocks import Block
from sphmask.engine.segment.instances import Instance, sort_instances


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


def superpoint_cleanup(instances: Sequence[Instance], superpoints: np.ndarray, min_points: int) -> List[Instance]:
    """Make masks superpoint-consistent and drop small ones.

    A superpoint is in a mask when at least half of its points are (the rule the model applies
    inside each pass, the official ``superpoint_align``), so superpoints cut by block edges end up
    wholly in or out. Masks with fewer than ``min_points`` points afterwards are dropped. Order is kept.

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


def drop_edge_fragments(block_instances: Sequence[Sequence[Instance]], owner: np.ndarray) -> List[List[Instance]]:
    """Per block, its instances without the block-edge fragments: those with more than half of
    their points in other blocks' cores. Such an object lies mostly where another block sees it
    with the context on all sides, so that block's instance stands for it.

    Args:
        block_instances: per block, instances with indices into the whole cloud.
        owner: int64 [N] block whose core holds each point (:func:`~sphmask.engine.segment.blocks.block_owners`).
    """
    return [[inst for inst in insts if 2 * np.count_nonzero(owner[inst.indices] == b) >= inst.num_points]
            for b, insts in enumerate(block_instances)]


def rescore_duplicates(instances: Sequence[Instance], superpoints: np.ndarray, sigma: float = 2.0) -> List[Instance]:
    """Decay the scores of same-class overlapping instances with the model's matrix NMS
    (:func:`sphmask.models.postprocess.matrix_nms`, Gaussian kernel) over the merged set, as the
    model does within one pass; masks are compared on superpoints weighted by their sizes (the
    masks are superpoint-consistent after :func:`superpoint_cleanup`, so these are point IoUs).

    Returns the instances with their new scores, best first.
    """
    from sphmask.models.postprocess import matrix_nms

    if not instances:
        return []
    _, inv = np.unique(superpoints, return_inverse=True)
    inv = inv.reshape(-1)
    sizes = np.bincount(inv)
    labels = np.array([i.label_id for i in instances])
    scores = np.array([i.score for i in instances], dtype=np.float64)
    new = scores.copy()
    # matrix NMS only decays same-class pairs: one class at a time, on the superpoints it touches
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        sps = [np.unique(inv[instances[k].indices]) for k in members]
        cols, col_of = np.unique(np.concatenate(sps), return_inverse=True)
        masks = torch.zeros((members.size, cols.size), dtype=torch.bool)
        rows = torch.from_numpy(np.repeat(np.arange(members.size), [s.size for s in sps]))
        masks[rows, torch.from_numpy(col_of)] = True
        order, decayed = matrix_nms(masks, torch.zeros(members.size, dtype=torch.int64),
                                    torch.from_numpy(scores[members]), torch.from_numpy(sizes[cols]), sigma)
        new[members[order.numpy()]] = decayed.numpy()
    return sort_instances([Instance(indices=inst.indices, label_id=inst.label_id, score=float(s))
                           for inst, s in zip(instances, new)])
