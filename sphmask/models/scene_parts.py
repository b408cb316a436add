"""Alternative voxel layouts of a scene for the S3DIS and STPLS3D settings.

* :func:`split_in_four` / :func:`merge_four`: the S3DIS test path ``x4_split`` (official
  ``SphericalMask.forward_4_parts`` with ``S3DISDataset.transform_test``): a scene's points are
  split into four interleaved parts ``i::4`` (S3DIS rooms are ~4x denser than their training
  crops, which keep 25% of the points), each part is voxelised on its own grid (its own minimum
  as origin) and goes through the backbone alone; the four voxel sets are then one scene again,
  with voxels in part order (a location may hold one voxel per part).
* :func:`voxels_as_superpoints`: ``use_spp_pool: false`` (official STPLS3D setting): every
  voxel is its own superpoint, so the foreground filter, the mask domain and the final
  refinement work on voxels and the batch's superpoints are not used.
"""
import dataclasses
from typing import Dict, Tuple

import torch

from sphmask import ops
from sphmask.models.superpoint import compact_per_scene, offsets_from_scene
from sphmask.models.voxel_batch import VoxelBatch

NUM_PARTS = 4


def split_in_four(batch: Dict, b: int, voxel_scale: float) -> Tuple[Dict, torch.Tensor]:
    """The batch-contract dict of scene ``b`` of ``batch`` (already checked) as four parts
    (batch items 0..3), and ``perm``.

    Part ``i`` holds the scene's points ``i, i+4, i+8, ...``; its integer voxel coordinates are
    ``floor(xyz * voxel_scale - min)`` over the part, as the official S3DIS test transform.
    ``perm`` int64 (N_b,) gives, for each point of the part batch, its scene-local index.
    """
    p0, p1 = int(batch["point_offsets"][b]), int(batch["point_offsets"][b + 1])
    xyz = batch["coords_float"][p0:p1].float()
    dev = xyz.device
    local = torch.arange(p1 - p0, device=dev)
    parts = [local[i::NUM_PARTS] for i in range(NUM_PARTS)]
    perm = torch.cat(parts)
    coords = []
    for i, part in enumerate(parts):
        v = xyz[part].double() * voxel_scale
        if part.numel():
            v = v - v.amin(0)
        coords.append(torch.cat([torch.full((part.numel(), 1), i, dtype=torch.int64, device=dev),
                                 v.floor().to(torch.int64)], 1))
    coords = torch.cat(coords)
    voxel_coords, point2voxel = ops.voxelize(coords)
    hi = (coords[:, 1:].amax(0) + 1).tolist() if coords.numel() else [1, 1, 1]
    counts = torch.tensor([0] + [p.numel() for p in parts], device=dev).cumsum(0)
    batch = {
        "scan_ids": [batch["scan_ids"][b]] * NUM_PARTS,
        "coords_float": xyz[perm],
        "feats": batch["feats"][p0:p1].float()[perm],
        "point_offsets": counts,
        "voxel_coords": voxel_coords,
        "point2voxel": point2voxel,
        "spatial_shape": [max(int(a), c) for a, c in zip(batch["spatial_shape"], hi)],
        "batch_size": NUM_PARTS,
        "superpoints": batch["superpoints"][p0:p1].long()[perm],
    }
    return batch, perm


def merge_four(parts: VoxelBatch, perm: torch.Tensor, superpoints: torch.Tensor, scan_id: str
               ) -> Tuple[VoxelBatch, int]:
    """One scene from the four-part batch ``parts`` of :func:`split_in_four`; ``superpoints``
    (N_b,) are the scene's superpoint ids in its own point order.

    Voxels stay in part order; points return to the scene's own order; voxel and point
    superpoints are shared by the parts (renumbered over the whole scene, as the official
    ``torch.unique`` over the batch). Returns the scene and the number of voxels of parts 0 and 1
    (the bound of the aggregator-1 candidates).
    """
    n, m = perm.numel(), parts.num_voxels
    dev = perm.device
    point2voxel = torch.empty(n, dtype=torch.int64, device=dev)
    point2voxel[perm] = parts.point2voxel
    point_sp = superpoints.long()
    first = perm[parts.voxel_first_point]
    zeros_m = torch.zeros(m, dtype=torch.int64, device=dev)
    vsp, sp_scene = compact_per_scene(point_sp[first], zeros_m)
    psp, psp_scene = compact_per_scene(point_sp, torch.zeros(n, dtype=torch.int64, device=dev))
    coords = parts.voxel_coords.clone()
    coords[:, 0] = 0
    scene = VoxelBatch(
        scan_ids=[scan_id], batch_size=1, spatial_shape=parts.spatial_shape,
        point_offsets=torch.tensor([0, n], dtype=torch.int64, device=dev), point2voxel=point2voxel, xyz=parts.xyz,
        input_feats=parts.input_feats, voxel_coords=coords, voxel_scene=zeros_m,
        voxel_offsets=torch.tensor([0, m], dtype=torch.int64, device=dev), voxel_first_point=first, vsp=vsp,
        num_sp=int(sp_scene.numel()), sp_offsets=offsets_from_scene(sp_scene, 1), psp=psp,
        psp_offsets=offsets_from_scene(psp_scene, 1), semantic_labels=None, instance_labels=None)
    return scene, int(parts.voxel_offsets[min(2, parts.batch_size)])


def voxels_as_superpoints(vb: VoxelBatch) -> VoxelBatch:
    """``vb`` with every voxel its own voxel superpoint and point superpoint (``use_spp_pool:
    false``): superpoint means are the voxels themselves and the final refinement keeps each
    point's voxel mask."""
    return dataclasses.replace(vb, vsp=torch.arange(vb.num_voxels, device=vb.point2voxel.device),
                               num_sp=vb.num_voxels, sp_offsets=vb.voxel_offsets, psp=vb.point2voxel,
                               psp_offsets=vb.voxel_offsets)


def sample_object_voxels(obj: torch.Tensor, voxel_scene: torch.Tensor, batch_size: int, limit: int) -> torch.Tensor:
    """At most ``limit`` random object voxels per scene, sorted (official
    ``model_utils.py:random_downsample``, the training mask domain without superpoint pooling).

    ``obj`` int64 increasing voxel indices; randomness from torch's global generator.
    """
    offsets = offsets_from_scene(voxel_scene[obj], batch_size)
    keep = []
    for b in range(batch_size):
        o0, o1 = int(offsets[b]), int(offsets[b + 1])
        if o1 - o0 > limit:
            pick = torch.randperm(o1 - o0, device=obj.device)[:limit].sort().values
            keep.append(obj[o0 + pick])
        else:
            keep.append(obj[o0:o1])
    return torch.cat(keep) if keep else obj
