"""Sparse 3D U-Net backbone (spec §2.2-§2.5) on spconv 2.x's API.

Module and parameter names follow the official checkpoint (``input_conv``, ``unet.blocks.block0
.conv_branch.2.weight``, ...); sparse-convolution weights are ``[out, kx, ky, kz, in]``.

The layers come from the :class:`~sphmask.models.sparse_backend.SparseBackend` passed in (spconv
or spconv-triton, chosen by ``model.sparse_backend``); which algorithm each convolution runs on a
device is that module's business too. Our own blocks are plain modules in ``nn.Sequential``
containers (which pass the sparse tensor through), so they work with either library.
"""
import functools
import logging
from collections import OrderedDict
from typing import List

import torch
from torch import nn

FX_TRACING_NOTICE = "is_fx_tracing will return true for both fx.symbolic_trace and torch.export"


class _DropFxTracingNotice(logging.Filter):
    """spconv's ``SparseConvTensor`` class (a torch.fx ``ProxyableClassMeta``) calls
    ``torch.fx.is_fx_tracing()`` on every construction, and torch logs a deprecation notice about that
    call once per process on stderr. It concerns spconv's code, not the user's run; only this one
    message is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(FX_TRACING_NOTICE)


logging.getLogger("torch.fx._symbolic_trace").addFilter(_DropFxTracingNotice())

from sphmask.models.sparse_backend import SparseBackend

#: BatchNorm of the backbone and the point-wise heads (official ``norm_fn``): eps 1e-4.
backbone_norm = functools.partial(nn.BatchNorm1d, eps=1e-4, momentum=0.1)


class PointwiseLinear(nn.Module):
    """Per-voxel linear map ``features @ W.view(out, in).T`` on a sparse tensor (no bias).

    The official residual shortcut (``Custom1x1Subm3d``) stores this as a 1x1x1 sparse-conv weight,
    hence the parameter shape ``[out, 1, 1, 1, in]``.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.weight = nn.Parameter(torch.empty(out_channels, 1, 1, 1, in_channels))
        nn.init.kaiming_uniform_(self.weight.view(out_channels, in_channels), a=5 ** 0.5)

    def forward(self, x):
        """SparseConvTensor ``x.features`` (M, in) -> (M, out) on the same indices."""
        w = self.weight.view(self.out_channels, self.in_channels)
        return x.replace_feature(x.features @ w.t())


class ResidualBlock(nn.Module):
    """Pre-activation residual block: ``BN-ReLU-SubM3x3-BN-ReLU-SubM3x3`` plus a shortcut.

    The shortcut is the identity when ``in_channels == out_channels`` (no parameters), else a
    :class:`PointwiseLinear` registered as ``i_branch.0``. No activation after the sum.
    """

    def __init__(self, in_channels: int, out_channels: int, indice_key: str, sparse: SparseBackend):
        super().__init__()
        sp = sparse.lib
        if in_channels != out_channels:
            self.i_branch = nn.Sequential(PointwiseLinear(in_channels, out_channels))
        else:
            self.i_branch = None
        self.conv_branch = sp.SparseSequential(
            backbone_norm(in_channels),
            nn.ReLU(),
            sp.SubMConv3d(in_channels, out_channels, 3, padding=1, bias=False, indice_key=indice_key),
            backbone_norm(out_channels),
            nn.ReLU(),
            sp.SubMConv3d(out_channels, out_channels, 3, padding=1, bias=False, indice_key=indice_key),
        )

    def forward(self, x):
        shortcut = x.features if self.i_branch is None else self.i_branch(x).features
        out = self.conv_branch(x)
        return out.replace_feature(out.features + shortcut)


class UBlock(nn.Module):
    """One U-Net level and, recursively, all deeper ones (spec §2.4).

    ``planes[0]`` is this level's width. With deeper levels: ``blocks`` -> stride-2 ``conv`` ->
    ``u`` -> inverse ``deconv`` -> concat(skip, decoder) -> ``blocks_tail``. Output rows are in
    the order of the input rows (submanifold convs keep the indices; the inverse conv restores
    the level's active sites in their original order).
    """

    def __init__(self, planes: List[int], sparse: SparseBackend, block_reps: int = 2, level: int = 1):
        super().__init__()
        sp = sparse.lib
        self.planes = list(planes)
        p0 = planes[0]
        self.blocks = nn.Sequential(OrderedDict(
            (f"block{i}", ResidualBlock(p0, p0, f"subm{level}", sparse)) for i in range(block_reps)))
        if len(planes) > 1:
            p1 = planes[1]
            self.conv = sp.SparseSequential(
                backbone_norm(p0), nn.ReLU(),
                sp.SparseConv3d(p0, p1, kernel_size=2, stride=2, bias=False, indice_key=f"spconv{level}"))
            self.u = UBlock(planes[1:], sparse, block_reps, level + 1)
            self.deconv = sp.SparseSequential(
                backbone_norm(p1), nn.ReLU(),
                sp.SparseInverseConv3d(p1, p0, kernel_size=2, bias=False, indice_key=f"spconv{level}"))
            self.blocks_tail = nn.Sequential(OrderedDict(
                (f"block{i}", ResidualBlock(2 * p0 if i == 0 else p0, p0, f"subm{level}", sparse))
                for i in range(block_reps)))

    def forward(self, x):
        x = self.blocks(x)
        if len(self.planes) == 1:
            return x
        d = self.deconv(self.u(self.conv(x)))
        x = x.replace_feature(torch.cat((x.features, d.features), dim=1))
        return self.blocks_tail(x)


def make_input_conv(in_channels: int, channels: int, sparse: SparseBackend) -> nn.Module:
    """``input_conv``: one submanifold 3x3x3 conv ``in_channels -> channels`` (key ``subm1``)."""
    return sparse.lib.SparseSequential(
        sparse.lib.SubMConv3d(in_channels, channels, kernel_size=3, padding=1, bias=False, indice_key="subm1"))


def make_output_layer(channels: int, sparse: SparseBackend) -> nn.Module:
    """``output_layer``: BN + ReLU on the U-Net output."""
    return sparse.lib.SparseSequential(backbone_norm(channels), nn.ReLU())


def unet_planes(channels: int, num_blocks: int) -> List[int]:
    """Level widths ``[C, 2C, ..., num_blocks*C]`` (official ``block_channels``)."""
    return [channels * (i + 1) for i in range(num_blocks)]
