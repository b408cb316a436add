"""Set-abstraction aggregators (spec §3.3-§3.4): object voxels -> 2048 seeds -> 256 queries.

Sampling and neighbour search go through :mod:`sphmask.ops` (furthest-point sampling, first-k
ball query); this module only handles what the official code does around them:

* a scene with fewer candidates than ``n_sample`` is padded with its first candidate (the
  official batch-flat FPS kernel repeats the scene's first point; our op raises instead);
* ball-query rows with no neighbour (-1; impossible when the centre is itself a candidate, as
  here) point at the scene's first candidate, as the official kernels' zero fill does.

Parameter names follow the checkpoint: ``mlp_module1.layer0.conv.weight``,
``mlp_module1.layer0.bn.bn.running_mean``, ``mlp_module3.0.conv.weight``, ...
"""
from collections import OrderedDict
from typing import Tuple

import torch
from torch import nn

from sphmask import ops


class _NamedBN(nn.Module):
    """Holds one BatchNorm as child ``bn`` (checkpoint keys ``....bn.bn.*``)."""

    def __init__(self, bn: nn.Module):
        super().__init__()
        self.bn = bn

    def forward(self, x):
        return self.bn(x)


class SharedConv(nn.Sequential):
    """1x1 convolution (no bias) -> BatchNorm -> optional ReLU, children ``conv``, ``bn``,
    ``activation``. ``dim`` 2 works on ``(B, C, n, k)`` groups, ``dim`` 1 on ``(B, C, n)``."""

    def __init__(self, in_channels: int, out_channels: int, dim: int, activation: bool = True):
        conv = (nn.Conv2d if dim == 2 else nn.Conv1d)(in_channels, out_channels, 1, bias=False)
        nn.init.kaiming_normal_(conv.weight)
        layers = [("conv", conv), ("bn", _NamedBN((nn.BatchNorm2d if dim == 2 else nn.BatchNorm1d)(out_channels)))]
        if activation:
            layers.append(("activation", nn.ReLU(inplace=True)))
        super().__init__(OrderedDict(layers))


def _fill_empty_rows(idx: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """Replace the -1 rows of a ball-query result by each centre's scene-first candidate."""
    empty = idx[:, 0] < 0
    if bool(empty.any()):
        idx = idx.clone()
        idx[empty] = first[empty, None]
    return idx


class LocalAggregator(nn.Module):
    """Two-stage set abstraction around sampled centres (official ``LocalAggregator``).

    Args:
        mlp_dim: input feature width ``m``; the output width is ``2m``.
        n_sample: number of centres per scene.
        radius: first grouping radius ``r`` (candidates around each centre); the second grouping
            (among centres) uses ``2r``.
        n_neighbor, n_neighbor_post: neighbours per centre in the first / second grouping.

    Each grouped neighbour contributes ``[(x_n - c)/radius (3), |size_n - size_c| (3), f_n]``
    where ``size`` is the extent of the predicted per-voxel box ``(max - min)``.
    """

    def __init__(self, mlp_dim: int, n_sample: int, radius: float, n_neighbor: int, n_neighbor_post: int):
        super().__init__()
        m = mlp_dim
        self.n_sample = n_sample
        self.radius = float(radius)
        self.radius_post = 2.0 * float(radius)
        self.n_neighbor = n_neighbor
        self.n_neighbor_post = n_neighbor_post
        self.mlp_module1 = nn.Sequential(OrderedDict([
            ("layer0", SharedConv(m + 6, m, dim=2)), ("layer1", SharedConv(m, 2 * m, dim=2))]))
        self.mlp_module2 = nn.Sequential(OrderedDict([("layer0", SharedConv(2 * m + 6, 2 * m, dim=2, activation=False))]))
        self.mlp_module3 = nn.Sequential(SharedConv(2 * m, 8 * m, dim=1), SharedConv(8 * m, 2 * m, dim=1, activation=False))
        self.skip_act = nn.ReLU()

    # -- sampling ---------------------------------------------------------------------------
    def sample_seeds(self, xyz: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Batch-flat FPS of ``n_sample`` candidates per scene, padded with the scene's first
        candidate when it has fewer. ``xyz`` (P, 3), ``offsets`` int64 (B+1,) with every scene
        non-empty -> global indices int64 (B, n_sample)."""
        counts = offsets[1:] - offsets[:-1]
        take = counts.clamp(max=self.n_sample)
        picked = ops.furthest_point_sample(xyz, offsets, take)
        out = offsets[:-1, None].repeat(1, self.n_sample)
        valid = torch.arange(self.n_sample, device=xyz.device)[None, :] < take[:, None]
        out[valid] = picked
        return out

    def sample_queries(self, xyz: torch.Tensor, n: int) -> torch.Tensor:
        """PointNet++ FPS (origin-skip rule) of ``n`` of the ``S`` seeds of each scene.
        ``xyz`` (B, S, 3) -> local indices int64 (B, n)."""
        b, s, _ = xyz.shape
        offsets = torch.arange(b + 1, device=xyz.device, dtype=torch.int64) * s
        picked = ops.furthest_point_sample(xyz.reshape(-1, 3), offsets, n, pointnet2_origin_skip=True)
        return picked.view(b, n) - offsets[:-1, None]

    # -- aggregation ------------------------------------------------------------------------
    def _group(self, mlp: nn.Module, xyz, sizes, feats, offsets, centers, center_sizes, n, radius, k):
        """Ball-query ``k`` neighbours of each centre within its scene, build the grouped
        tensor ``(B, 6 + C, n, k)``, apply ``mlp`` and max-pool over neighbours -> (B, C', n)."""
        b = offsets.numel() - 1
        center_offsets = torch.arange(b + 1, device=xyz.device, dtype=torch.int64) * n
        idx, _ = ops.ball_query(xyz, offsets, centers, center_offsets, radius, k)
        first = offsets[:-1].repeat_interleave(n)
        idx = _fill_empty_rows(idx, first)
        rel = (xyz[idx] - centers[:, None, :]) / radius
        dsize = (sizes[idx] - center_sizes[:, None, :]).abs()
        grouped = torch.cat([rel, dsize, feats[idx]], dim=-1)  # (B*n, k, 6 + C)
        grouped = grouped.view(b, n, k, -1).permute(0, 3, 1, 2).contiguous()
        return mlp(grouped).amax(dim=3)

    def aggregate(self, xyz, sizes, feats, offsets, centers, center_sizes, n):
        """Features of ``n`` centres per scene.

        Args:
            xyz, sizes, feats: candidates of all scenes, (P, 3), (P, 3), (P, m).
            offsets: int64 (B+1,) scene ranges of the candidates.
            centers, center_sizes: (B*n, 3) each, scene-major.
        Returns:
            (B, 2m, n) features.
        """
        b = offsets.numel() - 1
        g1 = self._group(self.mlp_module1, xyz, sizes, feats, offsets, centers, center_sizes, n,
                         self.radius, self.n_neighbor)
        c_offsets = torch.arange(b + 1, device=xyz.device, dtype=torch.int64) * n
        g1_flat = g1.permute(0, 2, 1).reshape(b * n, -1)
        g2 = self._group(self.mlp_module2, centers, center_sizes, g1_flat, c_offsets, centers, center_sizes, n,
                         self.radius_post, self.n_neighbor_post)
        return self.skip_act(self.mlp_module3(g2) + g1)

    def forward_seeds(self, xyz: torch.Tensor, feats: torch.Tensor, boxes: torch.Tensor,
                      offsets: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Aggregator 1 (official ``forward_batchflat``) over the object voxels of B scenes.

        Args:
            xyz: (P, 3) voxel coordinates (metres); feats: (P, m); boxes: (P, 6) predicted boxes.
            offsets: int64 (B+1,), every scene with at least one candidate.
        Returns:
            seed locations (B, n_sample, 3), features (B, 2m, n_sample), boxes (B, n_sample, 6),
            and the global candidate index of each seed (B, n_sample).
        """
        b = offsets.numel() - 1
        idx = self.sample_seeds(xyz, offsets)
        flat = idx.reshape(-1)
        sizes = boxes[:, 3:] - boxes[:, :3]
        out = self.aggregate(xyz, sizes, feats, offsets, xyz[flat], sizes[flat], self.n_sample)
        return xyz[flat].view(b, self.n_sample, 3), out, boxes[flat].view(b, self.n_sample, 6), idx

    def forward_queries(self, xyz: torch.Tensor, feats: torch.Tensor, boxes: torch.Tensor, n: int,
                        first_n: bool) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Aggregator 2 (official ``forward_batch``) over the seeds.

        Args:
            xyz: (B, S, 3) seed locations; feats: (B, m, S); boxes: (B, S, 6).
            n: queries per scene (at most S).
            first_n: take the first ``n`` seeds (training: they are a prefix of the seeds' FPS
                order) instead of running FPS among the seeds (inference).
        Returns:
            query locations (B, n, 3), features (B, 2m, n), boxes (B, n, 6), seed indices (B, n).
        """
        b, s, _ = xyz.shape
        if first_n:
            local = torch.arange(n, device=xyz.device)[None, :].expand(b, n)
        else:
            local = self.sample_queries(xyz, n)
        flat = (local + torch.arange(b, device=xyz.device)[:, None] * s).reshape(-1)
        xyz_f = xyz.reshape(-1, 3)
        boxes_f = boxes.reshape(-1, 6)
        sizes = boxes_f[:, 3:] - boxes_f[:, :3]
        feats_f = feats.permute(0, 2, 1).reshape(b * s, -1)
        offsets = torch.arange(b + 1, device=xyz.device, dtype=torch.int64) * s
        out = self.aggregate(xyz_f, sizes, feats_f, offsets, xyz_f[flat], sizes[flat], n)
        return xyz_f[flat].view(b, n, 3), out, boxes_f[flat].view(b, n, 6), local
