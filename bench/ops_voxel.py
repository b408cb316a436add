"""voxelize + voxel_mean against torch.unique + index_add_ and spconv's PointToVoxel (CPU).

One synthetic indoor scene per size, voxel size 2 cm (scale 50), the mean of 6 channels
(rgb + xyz), as the model's input features are built. Every implementation goes from the
integer (or metric, for PointToVoxel) coordinates to per-voxel means; the note says whether it
found the same voxels (same count; torch.unique numbers them in sorted order, not by first
appearance). PointToVoxel is constructed once outside the timing (its dense CPU hash grid) and
sized to hold every point; its time includes clearing its buffers and the mean over the points.
"""
import numpy as np
import torch

from _common import indoor_scene, row

GROUP = "voxel"
SCALE = 50  # voxels per metre: 2 cm


def torch_unique_mean(coords: torch.Tensor, feats: torch.Tensor):
    """Voxels as unique rows, means by index_add_ over bincount."""
    uniq, inverse = torch.unique(coords, dim=0, return_inverse=True)
    sums = torch.zeros(uniq.shape[0], feats.shape[1]).index_add_(0, inverse, feats)
    return sums / torch.bincount(inverse, minlength=uniq.shape[0]).unsqueeze(1)


def packed_unique_mean(coords: torch.Tensor, feats: torch.Tensor):
    """The faster torch.unique formulation: one int64 key per voxel (21 bits per axis) instead of rows."""
    c = coords.long()
    key = (c[:, 0] << 63 - 8) | (c[:, 1] << 42) | (c[:, 2] << 21) | c[:, 3]
    uniq, inverse = torch.unique(key, return_inverse=True)
    sums = torch.zeros(uniq.shape[0], feats.shape[1]).index_add_(0, inverse, feats)
    return sums / torch.bincount(inverse, minlength=uniq.shape[0]).unsqueeze(1)


def run(sizes, repeats):
    from sphmask.ops import voxel_mean, voxelize

    try:
        from spconv.pytorch.utils import PointToVoxel
    except ImportError:
        PointToVoxel = None

    rows = []
    for n in sizes:
        xyz_np, rgb_np = indoor_scene(n)
        xyz, rgb = torch.from_numpy(xyz_np), torch.from_numpy(rgb_np)
        grid = torch.floor(xyz * SCALE).to(torch.int32)
        origin = grid.min(0).values
        coords = torch.cat([torch.zeros(n, 1, dtype=torch.int32), grid - origin], 1)
        feats = torch.cat([rgb, xyz], 1)
        case = f"{n} pts, 2 cm, 6 ch"

        def ours():
            voxel_coords, point2voxel = voxelize(coords)
            return voxel_mean(feats, point2voxel, voxel_coords.shape[0])

        m = ours().shape[0]
        rows.append(row(GROUP, case, "sphmask voxelize + voxel_mean", ours, repeats, memory=True,
                        note=f"{m} voxels"))
        got = torch_unique_mean(coords, feats).shape[0]
        rows.append(row(GROUP, case, "torch.unique(dim=0) + index_add_", lambda: torch_unique_mean(coords, feats),
                        repeats, memory=True, note=f"{got} voxels"))
        got = packed_unique_mean(coords, feats).shape[0]
        rows.append(row(GROUP, case, "torch.unique(int64 key) + index_add_", lambda: packed_unique_mean(coords, feats),
                        repeats, memory=True, note=f"{got} voxels"))
        if PointToVoxel is not None:
            _, point2voxel = voxelize(coords)
            max_per_voxel = int(torch.bincount(point2voxel).max())
            lo = (origin.double() / SCALE).tolist()
            hi = ((grid.max(0).values + 1).double() / SCALE).tolist()
            # Slack for points whose float voxel index rounds differently from floor(xyz * 50).
            p2v = PointToVoxel(vsize_xyz=[1.0 / SCALE] * 3, coors_range_xyz=lo + hi, num_point_features=6,
                               max_num_voxels=m + m // 10 + 64, max_num_points_per_voxel=2 * max_per_voxel)
            pc = torch.cat([xyz, rgb], 1)

            def spconv_mean():
                voxels, _, num_per_voxel = p2v(pc)
                return voxels.sum(1) / num_per_voxel.unsqueeze(1)

            voxels, _, num_per_voxel = p2v(pc)
            kept = int(num_per_voxel.sum())
            note = f"{voxels.shape[0]} voxels" + ("" if kept == n else f", kept {kept} of {n} points")
            rows.append(row(GROUP, case, "spconv PointToVoxel + mean", spconv_mean, repeats, memory=True,
                            note=note))
    return rows
