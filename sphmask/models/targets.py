"""Training targets (spec §1.9, §4.4, §6.1): voxel labels, per-instance GT tables (class, box,
25 rays + centroid) and superpoint-level instance masks.

GT rays go through :func:`sphmask.ops.rays_from_masks` (per sector, the largest distance of an
instance voxel from the instance centroid; 1e-6 for empty sectors as in the official code).
"""
import dataclasses
from typing import List, Optional

import torch

from sphmask import ops
from sphmask.models.superpoint import segment_mean

#: Ray target of a sector without any instance voxel (official value; the paper says 1e-5).
EMPTY_RAY = 1e-6


@dataclasses.dataclass
class InstanceTable:
    """Per-instance GT of a batch, instances numbered ``0..K-1`` (scene-major).

    Attributes:
        cls: int64 (K,) instance class (semantic - label_shift), negative if not an instance class.
        box: (K, 6) min xyz, max xyz of the instance's voxels.
        rays: (K, R + 3) ray targets followed by the centroid.
        scene: int64 (K,) scene of each instance.
        centroid_offset: (M, 3) per-voxel ``centroid - x`` (-100 for voxels of no instance).
        corners_offset: (M, 6) per-voxel ``[min - x, max - x]`` (-100 likewise).
    """

    cls: torch.Tensor
    box: torch.Tensor
    rays: torch.Tensor
    scene: torch.Tensor
    centroid_offset: torch.Tensor
    corners_offset: torch.Tensor


@dataclasses.dataclass
class SceneTargets:
    """Instance GT of one scene on its superpoints (instances with a valid class only).

    Attributes:
        mask: float (K_b, S_b) 1 where at least half of the superpoint's voxels are the instance.
        cls: int64 (K_b,); box: (K_b, 6); rays: (K_b, R + 3).
    """

    mask: torch.Tensor
    cls: torch.Tensor
    box: torch.Tensor
    rays: torch.Tensor


def compact_instances(voxel_inst: torch.Tensor) -> torch.Tensor:
    """Renumber instance ids (globally unique, -100 or any negative = none) to ``0..K-1`` in
    increasing id order; none -> -1."""
    out = torch.full_like(voxel_inst, -1)
    valid = voxel_inst >= 0
    if bool(valid.any()):
        out[valid] = torch.unique(voxel_inst[valid], return_inverse=True)[1]
    return out


def instance_table(xyz: torch.Tensor, inst: torch.Tensor, sem: torch.Tensor, scene: torch.Tensor, num_inst: int,
                   label_shift: int, n_azimuth: int, n_polar: int) -> InstanceTable:
    """GT tables from voxel data.

    Args:
        xyz: (M, 3) voxel coordinates; inst: int64 (M,) compact instance id or -1;
        sem: int64 (M,) voxel semantic label (-100 ignored); scene: int64 (M,) voxel scene.
    """
    m = xyz.shape[0]
    dev = xyz.device
    pos = inst >= 0
    ids = inst[pos]
    centroid = segment_mean(xyz[pos], ids, num_inst)
    lo = xyz.new_full((num_inst, 3), float("inf")).scatter_reduce(0, ids[:, None].expand(-1, 3), xyz[pos], "amin")
    hi = xyz.new_full((num_inst, 3), float("-inf")).scatter_reduce(0, ids[:, None].expand(-1, 3), xyz[pos], "amax")
    first = torch.full((num_inst,), m, dtype=torch.int64, device=dev).scatter_reduce(
        0, ids, torch.nonzero(pos).view(-1), "amin")
    cls = sem[first].clone()
    cls[cls >= 0] -= label_shift
    cls[cls < 0] = -100
    inst_scene = scene[first]
    rays = xyz.new_empty((num_inst, n_azimuth * n_polar))
    for b in torch.unique(inst_scene).tolist():
        members = torch.nonzero(inst_scene == b).view(-1)
        vox = torch.nonzero(scene == b).view(-1)
        masks = inst[vox][None, :] == members[:, None]
        rays[members] = ops.rays_from_masks(xyz[vox].contiguous(), centroid[members].contiguous(), masks,
                                            n_azimuth=n_azimuth, n_polar=n_polar, empty_value=EMPTY_RAY)
    centroid_offset = xyz.new_full((m, 3), -100.0)
    corners_offset = xyz.new_full((m, 6), -100.0)
    centroid_offset[pos] = centroid[ids] - xyz[pos]
    corners_offset[pos] = torch.cat([lo[ids], hi[ids]], 1) - xyz[pos].repeat(1, 2)
    return InstanceTable(cls, torch.cat([lo, hi], 1), torch.cat([rays, centroid], 1), inst_scene,
                         centroid_offset, corners_offset)


def superpoint_targets(table: InstanceTable, inst: torch.Tensor, vsp: torch.Tensor, voxel_offsets: torch.Tensor,
                       sp_offsets: torch.Tensor) -> List[Optional[SceneTargets]]:
    """Superpoint instance masks per scene (official ``get_spp_gt_ray``).

    Args:
        inst: int64 (M,) compact voxel instance ids (-1 none); vsp: int64 (M,) voxel superpoints
            (global, scene-major); voxel_offsets, sp_offsets: (B+1,) scene ranges.
    Returns:
        per scene a :class:`SceneTargets`, or ``None`` if it has no instance of a valid class.
    """
    out: List[Optional[SceneTargets]] = []
    for b in range(voxel_offsets.numel() - 1):
        v0, v1 = int(voxel_offsets[b]), int(voxel_offsets[b + 1])
        s0, s1 = int(sp_offsets[b]), int(sp_offsets[b + 1])
        inst_b = inst[v0:v1]
        ids = torch.unique(inst_b[inst_b >= 0])
        ids = ids[table.cls[ids] >= 0]
        if ids.numel() == 0:
            out.append(None)
            continue
        sp_b = vsp[v0:v1] - s0
        lookup = torch.full((int(inst.max()) + 1,), -1, dtype=torch.int64, device=inst.device)
        lookup[ids] = torch.arange(ids.numel(), device=inst.device)
        row = torch.where(inst_b >= 0, lookup[inst_b.clamp(min=0)], torch.full_like(inst_b, -1))
        hit = row >= 0
        count = torch.zeros(ids.numel(), s1 - s0, dtype=torch.int64, device=inst.device)
        count.index_put_((row[hit], sp_b[hit]), torch.ones_like(row[hit]), accumulate=True)
        total = torch.bincount(sp_b, minlength=s1 - s0)
        mask = (2 * count >= total[None, :]).float()
        out.append(SceneTargets(mask, table.cls[ids], table.box[ids], table.rays[ids]))
    return out
