"""Axis-aligned box IoU / GIoU (spec §6.4, official ``giou_aabb``/``batch_giou_*``).

Boxes are ``[min x, min y, min z, max x, max y, max z]``. With ``I`` the intersection volume,
``U = V_a + V_b - I`` and ``H`` the hull volume: ``IoU = I / (U + 1e-6)``,
``GIoU = IoU - (H - U) / (H + 1e-6)``; negative extents count as zero.
"""
from typing import Tuple

import torch

EPS = 1e-6


def _volume(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    return (hi - lo).clamp(min=0.0).prod(-1)


def _iou_giou(a: torch.Tensor, b: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    inter = _volume(torch.max(a[..., :3], b[..., :3]), torch.min(a[..., 3:], b[..., 3:]))
    union = _volume(a[..., :3], a[..., 3:]) + _volume(b[..., :3], b[..., 3:]) - inter
    iou = inter / (union + EPS)
    hull = _volume(torch.min(a[..., :3], b[..., :3]), torch.max(a[..., 3:], b[..., 3:]))
    return iou, iou - (hull - union) / (hull + EPS)


def giou_paired(a: torch.Tensor, b: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(IoU, GIoU)`` of corresponding rows: (n, 6), (n, 6) -> (n,), (n,)."""
    return _iou_giou(a, b)


def giou_pairwise(a: torch.Tensor, b: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(IoU, GIoU)`` of all pairs: (n, 6), (k, 6) -> (n, k), (n, k)."""
    return _iou_giou(a[:, None, :], b[None, :, :])
