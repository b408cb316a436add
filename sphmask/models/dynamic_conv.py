"""Radial Point Migration (spec §3.6-§3.7, §5.1): mask tower, controller and dynamic convolution.

Every query generates the weights of a small per-query MLP (the controller, ``inst_mask_head``)
that is applied to every superpoint of its scene. Its scalar output ``rpm[q, s]`` is both the
mask logit trained with BCE/Dice and the radial migration distance used by Mask Assembly.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """1x1 ``Conv1d`` (no bias, Kaiming-uniform a=1) -> BN -> ReLU; keys ``0`` and ``1``."""
    conv = nn.Conv1d(in_channels, out_channels, 1, bias=False)
    nn.init.kaiming_uniform_(conv.weight, a=1)
    return nn.Sequential(conv, nn.BatchNorm1d(out_channels), nn.ReLU(inplace=True))


def make_mask_tower(channels: int, mask_dim: int) -> nn.Sequential:
    """``mask_tower``: three conv-BN-ReLU blocks and a 1x1 conv with bias, ``(1, C, S) -> (1, D, S)``."""
    return nn.Sequential(_conv_bn_relu(channels, channels), _conv_bn_relu(channels, channels),
                         _conv_bn_relu(channels, channels), nn.Conv1d(channels, mask_dim, 1))


def make_controller(dec_dim: int, num_params: int) -> nn.Sequential:
    """Controller (``inst_mask_head``): two conv-BN-ReLU blocks and a conv to ``num_params``
    outputs initialised ``N(0, 0.01)``, zero bias; ``(B*Q, D, 1) -> (B*Q, num_params, 1)``."""
    head = nn.Conv1d(dec_dim, num_params, 1)
    nn.init.normal_(head.weight, std=0.01)
    nn.init.zeros_(head.bias)
    return nn.Sequential(_conv_bn_relu(dec_dim, dec_dim), _conv_bn_relu(dec_dim, dec_dim), head)


def dynamic_layer_sizes(mask_dim: int, num_layers: int) -> List[Tuple[int, int]]:
    """``(in, out)`` of each dynamic layer: ``(D + 6) -> D -> 1`` for two layers (the official
    ScanNet model), ``(D + 6) -> D -> D/2 -> 1`` for three."""
    if num_layers == 2:
        return [(mask_dim + 6, mask_dim), (mask_dim, 1)]
    if num_layers == 3:
        return [(mask_dim + 6, mask_dim), (mask_dim, mask_dim // 2), (mask_dim // 2, 1)]
    raise ValueError(f"num_dyco_layer must be 2 or 3, got {num_layers}")


def num_dynamic_params(mask_dim: int, num_layers: int) -> int:
    """Length of the generated parameter vector (1281 for D = 32 and two layers)."""
    return sum(i * o + o for i, o in dynamic_layer_sizes(mask_dim, num_layers))


def split_dynamic_params(params: torch.Tensor, mask_dim: int, num_layers: int):
    """Split ``(Q, P)`` generated parameters into per-layer weights and biases.

    Layout (official ``parse_dynamic_params``): all weights first, then all biases; weight ``i``
    is ``(Q, in_i, out_i)`` row-major with the input channel as row index (spec App. C.6).
    Returns ``(weights, biases)``, lists of ``(Q, in, out)`` and ``(Q, out)`` tensors.
    """
    sizes = dynamic_layer_sizes(mask_dim, num_layers)
    q = params.shape[0]
    chunks = torch.split(params, [i * o for i, o in sizes] + [o for _, o in sizes], dim=1)
    weights = [c.reshape(q, i, o) for c, (i, o) in zip(chunks[: len(sizes)], sizes)]
    biases = list(chunks[len(sizes):])
    return weights, biases


def radial_point_migration(params: torch.Tensor, query_xyz: torch.Tensor, query_boxes: torch.Tensor,
                           sp_xyz: torch.Tensor, sp_boxes: torch.Tensor, sp_feats: torch.Tensor, mask_dim: int,
                           num_layers: int, max_elements: Optional[int] = None) -> torch.Tensor:
    """Per-query dynamic MLP over the superpoints of one scene -> ``rpm`` (Q, S).

    Args:
        params: (Q, P) controller output.
        query_xyz: (Q, 3) query (seed) locations - not the predicted centres.
        query_boxes: (Q, 6) predicted query boxes (min xyz, max xyz).
        sp_xyz, sp_boxes, sp_feats: (S, 3), (S, 6), (S, D) superpoint means and mask features.
        max_elements: bound on the size of the ``(q, S, D + 6)`` input built at once; queries are
            processed in chunks to respect it (``None``: all at once).

    Input of superpoint ``s`` for query ``q``: ``[q_xyz - s_xyz (3), |q_size - s_size| (3),
    feat_s (D)]``; hidden layers ``ReLU(W^T x + b)``; the last layer has **no bias** (the
    generated one is ignored, as in the official model).
    """
    weights, biases = split_dynamic_params(params, mask_dim, num_layers)
    q, s = params.shape[0], sp_xyz.shape[0]
    q_size = query_boxes[:, 3:] - query_boxes[:, :3]
    s_size = sp_boxes[:, 3:] - sp_boxes[:, :3]
    chunk = q if max_elements is None else max(1, min(q, max_elements // max(1, s * (mask_dim + 6))))
    outs = []
    for a in range(0, q, chunk):
        b = min(q, a + chunk)
        rel = query_xyz[a:b, None, :] - sp_xyz[None, :, :]
        dsize = (q_size[a:b, None, :] - s_size[None, :, :]).abs()
        x = torch.cat([rel, dsize, sp_feats[None].expand(b - a, s, -1)], dim=2)  # (q, S, D+6)
        for i, (w, bias) in enumerate(zip(weights, biases)):
            x = torch.bmm(x, w[a:b])
            if i < len(weights) - 1:
                x = F.relu(x + bias[a:b, None, :])
        outs.append(x.squeeze(2))
    return torch.cat(outs, 0) if outs else params.new_zeros((0, s))
