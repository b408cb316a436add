"""Sparse 3D U-Net backbone (spec §2.2-§2.5) built on spconv 2.x.

Module and parameter names follow the official checkpoint (``input_conv``, ``unet.blocks.block0
.conv_branch.2.weight``, ...); sparse-convolution weights are ``[out, kx, ky, kz, in]``.

spconv's default algorithm (implicit GEMM) only runs on CUDA; on CPU every convolution must use
``ConvAlgo.Native``. :func:`use_conv_algo_for` switches all convolutions of a module tree to the
algorithm of the device the input lives on, at run time, so one model instance runs on both.
"""
import functools
import logging
from collections import OrderedDict
from typing import List

import spconv.pytorch as spconv
import torch
from spconv.pytorch import ConvAlgo
from spconv.pytorch.conv import SparseConvolution
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

#: BatchNorm of the backbone and the point-wise heads (official ``norm_fn``): eps 1e-4.
backbone_norm = functools.partial(nn.BatchNorm1d, eps=1e-4, momentum=0.1)


def conv_algo_for(device: torch.device) -> ConvAlgo:
    """spconv algorithm that works on ``device``: Native on CPU, MaskImplicitGemm on CUDA."""
    return ConvAlgo.Native if device.type == "cpu" else ConvAlgo.MaskImplicitGemm


def use_conv_algo_for(module: nn.Module, device: torch.device) -> None:
    """Set the algorithm of every spconv convolution inside ``module`` for ``device``.

    Layers sharing an indice key must use one algorithm, so all are switched together. The
    weight layout does not depend on the algorithm in spconv >= 2.2, so switching is free.
    """
    algo = conv_algo_for(device)
    for m in module.modules():
        if isinstance(m, SparseConvolution) and m.algo != algo:
            m.algo = algo


class PointwiseLinear(spconv.SparseModule):
    """Per-voxel linear map ``features @ W.view(out, in).T`` on a sparse tensor (no bias).

    The official residual shortcut (``Custom1x1Subm3d``) stores this as a 1x1x1 sparse-conv weight,
    hence the parameter shape ``[out, 1, 1, 1, in]``.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.weight = nn.Parameter(torch.empty(out_channels, 1, 1, 1, in_channels))
        nn.init.kaiming_uniform_(self.weight.view(out_channels, in_channels), a=5 ** 0.5)

    def forward(self, x: spconv.SparseConvTensor) -> spconv.SparseConvTensor:
        """``x.features`` (M, in) -> (M, out) on the same indices."""
        w = self.weight.view(self.out_channels, self.in_channels)
        return x.replace_feature(x.features @ w.t())


class ResidualBlock(spconv.SparseModule):
    """Pre-activation residual block: ``BN-ReLU-SubM3x3-BN-ReLU-SubM3x3`` plus a shortcut.

    The shortcut is the identity when ``in_channels == out_channels`` (no parameters), else a
    :class:`PointwiseLinear` registered as ``i_branch.0``. No activation after the sum.
    """

    def __init__(self, in_channels: int, out_channels: int, indice_key: str):
        super().__init__()
        if in_channels != out_channels:
            self.i_branch = spconv.SparseSequential(PointwiseLinear(in_channels, out_channels))
        else:
            self.i_branch = None
        self.conv_branch = spconv.SparseSequential(
            backbone_norm(in_channels),
            nn.ReLU(),
            spconv.SubMConv3d(in_channels, out_channels, 3, padding=1, bias=False, indice_key=indice_key),
            backbone_norm(out_channels),
            nn.ReLU(),
            spconv.SubMConv3d(out_channels, out_channels, 3, padding=1, bias=False, indice_key=indice_key),
        )

    def forward(self, x: spconv.SparseConvTensor) -> spconv.SparseConvTensor:
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

    def __init__(self, planes: List[int], block_reps: int = 2, level: int = 1):
        super().__init__()
        self.planes = list(planes)
        p0 = planes[0]
        self.blocks = spconv.SparseSequential(OrderedDict(
            (f"block{i}", ResidualBlock(p0, p0, f"subm{level}")) for i in range(block_reps)))
        if len(planes) > 1:
            p1 = planes[1]
            self.conv = spconv.SparseSequential(
                backbone_norm(p0), nn.ReLU(),
                spconv.SparseConv3d(p0, p1, kernel_size=2, stride=2, bias=False, indice_key=f"spconv{level}"))
            self.u = UBlock(planes[1:], block_reps, level + 1)
            self.deconv = spconv.SparseSequential(
                backbone_norm(p1), nn.ReLU(),
                spconv.SparseInverseConv3d(p1, p0, kernel_size=2, bias=False, indice_key=f"spconv{level}"))
            self.blocks_tail = spconv.SparseSequential(OrderedDict(
                (f"block{i}", ResidualBlock(2 * p0 if i == 0 else p0, p0, f"subm{level}"))
                for i in range(block_reps)))

    def forward(self, x: spconv.SparseConvTensor) -> spconv.SparseConvTensor:
        x = self.blocks(x)
        if len(self.planes) == 1:
            return x
        d = self.deconv(self.u(self.conv(x)))
        x = x.replace_feature(torch.cat((x.features, d.features), dim=1))
        return self.blocks_tail(x)


def make_input_conv(in_channels: int, channels: int) -> spconv.SparseSequential:
    """``input_conv``: one submanifold 3x3x3 conv ``in_channels -> channels`` (key ``subm1``)."""
    return spconv.SparseSequential(
        spconv.SubMConv3d(in_channels, channels, kernel_size=3, padding=1, bias=False, indice_key="subm1"))


def make_output_layer(channels: int) -> spconv.SparseSequential:
    """``output_layer``: BN + ReLU on the U-Net output."""
    return spconv.SparseSequential(backbone_norm(channels), nn.ReLU())


def unet_planes(channels: int, num_blocks: int) -> List[int]:
    """Level widths ``[C, 2C, ..., num_blocks*C]`` (official ``block_channels``)."""
    return [channels * (i + 1) for i in range(num_blocks)]
