"""Point-wise heads (spec §2.6) and query heads (spec §3.5): small MLPs with checkpoint names.

* :class:`PointwiseMLP` - ``Linear, BN(eps 1e-4), ReLU, Linear`` on per-voxel features (M, C).
* :class:`GenericMLP` - hidden ``(conv|linear, BN, ReLU)`` layers and an output layer, keys
  ``layers.<i>``; the conv variant runs 1x1 ``Conv1d`` on (B, C, Q) query tensors.
* :class:`RadialInstanceDetection` - the ray head (``rid_module``): 25 ray lengths per query.
"""
from typing import Sequence

from torch import nn

from sphmask.models.backbone import backbone_norm


class PointwiseMLP(nn.Sequential):
    """``(M, in) -> (M, out)``: ``Linear(in, in), BN(in), ReLU, Linear(in, out)`` (keys 0, 1, 3).

    Initialisation as the official ``MLP.init_weights``: Xavier-uniform weights, zero biases,
    then the last layer ``N(0, 0.01)``.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.Linear(in_channels, in_channels), backbone_norm(in_channels), nn.ReLU(),
                         nn.Linear(in_channels, out_channels))
        for m in self:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self[-1].weight, 0.0, 0.01)


class GenericMLP(nn.Module):
    """MLP with keys ``layers.<i>`` (official ``GenericMLP``, BatchNorm defaults eps 1e-5).

    Hidden layers are ``conv/linear (no bias) -> BN -> ReLU``; the output layer has a bias and,
    with ``output_norm_act``, is followed by BN and ReLU. With ``use_conv`` the layers are 1x1
    ``Conv1d`` on ``(B, in, Q) -> (B, out, Q)``; otherwise ``Linear`` on ``(M, in) -> (M, out)``.
    """

    def __init__(self, in_channels: int, hidden: Sequence[int], out_channels: int, use_conv: bool = True,
                 output_norm_act: bool = False):
        super().__init__()
        layers = []
        prev = in_channels
        for h in hidden:
            layers += [nn.Conv1d(prev, h, 1, bias=False) if use_conv else nn.Linear(prev, h, bias=False),
                       nn.BatchNorm1d(h), nn.ReLU()]
            prev = h
        layers.append(nn.Conv1d(prev, out_channels, 1) if use_conv else nn.Linear(prev, out_channels))
        if output_norm_act:
            layers += [nn.BatchNorm1d(out_channels), nn.ReLU()]
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


class RadialInstanceDetection(GenericMLP):
    """Ray head of the paper (RID, ``rid_module``): query embedding (B, D, Q) -> (B, R, Q) raw ray
    lengths, one per sector ``s = h * W + w`` (spec §4.3); no activation (rays are clamped at
    0.01 only where they are used for mask assembly)."""

    def __init__(self, dec_dim: int, num_rays: int):
        super().__init__(dec_dim, [dec_dim, dec_dim], num_rays, use_conv=True)
