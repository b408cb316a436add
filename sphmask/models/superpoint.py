"""Superpoint bookkeeping and pooling with torch's own reductions (``index_add``,
``bincount``, ``unique``); no torch_scatter.

Superpoint ids of a batch may have gaps, may restart in every scene, or be globally unique: they
are always renumbered per scene into ``0..S-1`` in (scene, id) order, so superpoint ranges are
scene-major and match the voxel/point scene order.
"""
from typing import Tuple

import torch


def compact_per_scene(ids: torch.Tensor, scene: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Renumber non-negative ``ids`` (n,) inside each ``scene`` (n,) into one global range.

    Returns ``(compact int64 (n,), scene_of_id int64 (S,))``; compact ids are sorted by
    (scene, original id), hence contiguous per scene and scene-major.
    """
    if ids.numel() == 0:
        return ids.new_zeros(0, dtype=torch.int64), ids.new_zeros(0, dtype=torch.int64)
    if bool((ids < 0).any()):
        bad = int(ids[ids < 0][0])
        raise ValueError(f"superpoint ids must be >= 0, got {bad}")
    ids = ids.to(torch.int64)
    scene = scene.to(torch.int64)
    key = scene * (int(ids.max()) + 1) + ids
    uniq, inverse = torch.unique(key, return_inverse=True)
    return inverse, torch.div(uniq, int(ids.max()) + 1, rounding_mode="floor")


def segment_mean(values: torch.Tensor, ids: torch.Tensor, num: int) -> torch.Tensor:
    """Unweighted mean of the rows of ``values`` (n, C) per id in ``0..num-1`` -> (num, C).

    Computed in float32 (as the official ``custom_scatter_mean``) and differentiable; ids
    without rows give 0.
    """
    out = values.new_zeros((num,) + values.shape[1:], dtype=torch.float32).index_add(0, ids, values.float())
    count = torch.bincount(ids, minlength=num).clamp(min=1).to(torch.float32)
    return out / count.view((num,) + (1,) * (values.dim() - 1))


def segment_count(ids: torch.Tensor, num: int) -> torch.Tensor:
    """Number of rows per id -> int64 (num,)."""
    return torch.bincount(ids, minlength=num)


def offsets_from_scene(scene: torch.Tensor, batch_size: int) -> torch.Tensor:
    """CSR offsets (B+1,) int64 of rows grouped scene-major by ``scene`` (n,)."""
    counts = torch.bincount(scene.to(torch.int64), minlength=batch_size)
    return torch.cat([counts.new_zeros(1), counts.cumsum(0)])


def majority_refine(sp_masks: torch.Tensor, point_sp: torch.Tensor, point_vsp: torch.Tensor,
                    num_point_sp: int) -> torch.Tensor:
    """Superpoint majority smoothing of devoxelised masks (spec §7.3 step 8).

    A mask defined on voxel superpoints is broadcast to the points (a point is inside iff the
    superpoint of its voxel is), then every point superpoint with at least half of its points
    inside becomes fully inside.

    Args:
        sp_masks: bool (K, S) masks over the scene's voxel superpoints.
        point_sp: int64 (N,) point superpoint of each point, in ``0..num_point_sp-1``.
        point_vsp: int64 (N,) voxel superpoint of each point's voxel, in ``0..S-1``.
    Returns:
        bool (K, num_point_sp): the refined masks on point superpoints (index with ``point_sp``
        to get per-point masks).

    Points are grouped into (point superpoint, voxel superpoint) pairs first, so the work is
    ``K x pairs`` rather than ``K x N``.
    """
    s = sp_masks.shape[1]
    pair, count = torch.unique(point_sp * s + point_vsp, return_counts=True)
    pair_psp = torch.div(pair, s, rounding_mode="floor")
    pair_vsp = pair - pair_psp * s
    inside = torch.zeros(sp_masks.shape[0], num_point_sp, dtype=torch.int64, device=sp_masks.device)
    inside.index_add_(1, pair_psp, sp_masks[:, pair_vsp].to(torch.int64) * count[None, :])
    total = torch.bincount(point_sp, minlength=num_point_sp)
    return 2 * inside >= total[None, :]
