"""Validation of the model's input batch and the voxel-level quantities derived from it
(spec §1.8-§1.9, §3.2).

The batch contract (produced by ``sphmask.data.collate``; documented in docs/model.md):
``scan_ids`` list[str]; ``coords_float`` float32 (N, 3); ``feats`` float32 (N, F);
``point_offsets`` int64 (B+1,); ``voxel_coords`` int (M, 4) ``[b, x, y, z]``; ``point2voxel``
int64 (N,); ``spatial_shape`` 3 ints; ``batch_size`` int; ``superpoints`` int64 (N,); optional
``semantic_labels`` / ``instance_labels`` int64 (N,).
"""
import dataclasses
from typing import List, Optional

import torch

from sphmask import ops
from sphmask.models.superpoint import compact_per_scene, offsets_from_scene
from sphmask.ops._validate import FLOAT_DTYPES, INT_DTYPES, check_finite, check_offsets, check_tensor

REQUIRED_KEYS = ("scan_ids", "coords_float", "feats", "point_offsets", "voxel_coords", "point2voxel",
                 "spatial_shape", "batch_size", "superpoints")


@dataclasses.dataclass
class VoxelBatch:
    """Checked batch plus derived voxel/superpoint tables (all on the batch's device).

    Attributes:
        xyz: (M, 3) voxel coordinates (mean of the points' metric xyz).
        input_feats: (M, F [+3]) backbone input (voxel means of feats [and xyz]).
        voxel_coords: int32 (M, 4); voxel_scene: int64 (M,); voxel_offsets: (B+1,).
        voxel_first_point: int64 (M,) first point of each voxel (voxel labels come from it).
        vsp: int64 (M,) voxel superpoint (the first point's), compact per scene, scene-major;
        num_sp, sp_offsets: number of voxel superpoints and their scene ranges.
        psp: int64 (N,) point superpoint, compact per scene; psp_offsets its scene ranges.
    """

    scan_ids: List[str]
    batch_size: int
    spatial_shape: List[int]
    point_offsets: torch.Tensor
    point2voxel: torch.Tensor
    xyz: torch.Tensor
    input_feats: torch.Tensor
    voxel_coords: torch.Tensor
    voxel_scene: torch.Tensor
    voxel_offsets: torch.Tensor
    voxel_first_point: torch.Tensor
    vsp: torch.Tensor
    num_sp: int
    sp_offsets: torch.Tensor
    psp: torch.Tensor
    psp_offsets: torch.Tensor
    semantic_labels: Optional[torch.Tensor]
    instance_labels: Optional[torch.Tensor]

    @property
    def num_voxels(self) -> int:
        return self.voxel_coords.shape[0]


def prepare_batch(batch, in_channels: int, with_coords: bool) -> VoxelBatch:
    """Check ``batch`` against the contract and derive the voxel-level tables.

    Raises ``KeyError`` for missing keys and ``TypeError``/``ValueError`` naming the offending
    entry for wrong types, shapes, ranges or non-finite coordinates.
    """
    missing = [k for k in REQUIRED_KEYS if k not in batch]
    if missing:
        raise KeyError(f"batch is missing key(s) {missing}; required: {list(REQUIRED_KEYS)}")
    bsz = int(batch["batch_size"])
    xyz = check_tensor("batch['coords_float']", batch["coords_float"], FLOAT_DTYPES, (None, 3)).float()
    n = xyz.shape[0]
    feats = check_tensor("batch['feats']", batch["feats"], FLOAT_DTYPES, (n, in_channels)).float()
    check_finite("batch['coords_float']", xyz)
    check_finite("batch['feats']", feats)
    point_offsets = check_offsets("batch['point_offsets']", batch["point_offsets"], n, "number of points")
    if point_offsets.numel() != bsz + 1:
        raise ValueError(f"batch['point_offsets'] must have batch_size + 1 = {bsz + 1} entries, got {point_offsets.numel()}")
    scan_ids = list(batch["scan_ids"])
    if len(scan_ids) != bsz:
        raise ValueError(f"batch['scan_ids'] must have batch_size = {bsz} entries, got {len(scan_ids)}")
    voxel_coords = check_tensor("batch['voxel_coords']", batch["voxel_coords"], INT_DTYPES, (None, 4)).int()
    m = voxel_coords.shape[0]
    p2v = check_tensor("batch['point2voxel']", batch["point2voxel"], INT_DTYPES, (n,)).long()
    spp = check_tensor("batch['superpoints']", batch["superpoints"], INT_DTYPES, (n,)).long()
    shape = [int(s) for s in batch["spatial_shape"]]
    if len(shape) != 3:
        raise ValueError(f"batch['spatial_shape'] must hold 3 sizes, got {shape}")
    labels = {}
    for key in ("semantic_labels", "instance_labels"):
        labels[key] = None if batch.get(key) is None else check_tensor(f"batch[{key!r}]", batch[key], INT_DTYPES, (n,)).long()

    dev = xyz.device
    point_scene = torch.repeat_interleave(torch.arange(bsz, device=dev), point_offsets[1:] - point_offsets[:-1])
    if m:
        if bool((p2v < 0).any()) or bool((p2v >= m).any()):
            raise ValueError(f"batch['point2voxel'] values must lie in [0, {m})")
        voxel_scene = voxel_coords[:, 0].long()
        if bool((voxel_scene < 0).any()) or bool((voxel_scene >= bsz).any()) or bool((voxel_scene[1:] < voxel_scene[:-1]).any()):
            raise ValueError("batch['voxel_coords'][:, 0] must be scene indices in [0, batch_size), non-decreasing")
        hi = voxel_coords[:, 1:].amax(0).tolist()
        if any(c < 0 for c in voxel_coords[:, 1:].amin(0).tolist()) or any(h >= s for h, s in zip(hi, shape)):
            raise ValueError(f"batch['voxel_coords'] must lie in [0, spatial_shape={shape}), max is {hi}")
        if bool((voxel_scene[p2v] != point_scene).any()):
            raise ValueError("batch['point2voxel'] maps a point to a voxel of another scene")
    else:
        if n:
            raise ValueError(f"batch has {n} points but no voxels")
        voxel_scene = torch.zeros(0, dtype=torch.int64, device=dev)
    first = torch.full((m,), n, dtype=torch.int64, device=dev).scatter_reduce(
        0, p2v, torch.arange(n, device=dev), "amin")
    if m:
        means = ops.voxel_mean(torch.cat([feats, xyz], 1), p2v, m)
    else:
        means = xyz.new_zeros((0, in_channels + 3))
    vxyz = means[:, in_channels:]
    input_feats = means if with_coords else means[:, :in_channels]
    vsp, sp_scene = compact_per_scene(spp[first], voxel_scene)
    psp, psp_scene = compact_per_scene(spp, point_scene)
    return VoxelBatch(
        scan_ids=scan_ids, batch_size=bsz, spatial_shape=shape, point_offsets=point_offsets, point2voxel=p2v,
        xyz=vxyz.contiguous(), input_feats=input_feats.contiguous(), voxel_coords=voxel_coords,
        voxel_scene=voxel_scene, voxel_offsets=offsets_from_scene(voxel_scene, bsz), voxel_first_point=first,
        vsp=vsp, num_sp=int(sp_scene.numel()), sp_offsets=offsets_from_scene(sp_scene, bsz), psp=psp,
        psp_offsets=offsets_from_scene(psp_scene, bsz), semantic_labels=labels["semantic_labels"],
        instance_labels=labels["instance_labels"])
