"""Mask Assembly (spec §5.2): superpoint masks from predicted rays, centres and RPM.

Superpoint ``s`` belongs to query ``q`` iff ``ray[q, sector(q, s)] >= |s - c_q| -
migration_scale * rpm[q, s]``, with the sector and radius of ``s`` relative to the predicted
centre ``c_q``. The test itself is :func:`sphmask.ops.assemble_masks` (fused, no Q x S float
temporaries); this module prepares its inputs the way the official code does.
"""
import torch

from sphmask import ops

#: Rays (and, with ``clamp_centers``, centre coordinates) below this value are raised to it.
CLAMP_MIN = 0.01


def assemble(sp_xyz: torch.Tensor, rays: torch.Tensor, centers: torch.Tensor, rpm: torch.Tensor, *,
             n_azimuth: int, n_polar: int, clamp_centers: bool = True, migration_scale: float = 2.0) -> torch.Tensor:
    """Assembled masks of one scene's queries.

    Args:
        sp_xyz: (S, 3) superpoint coordinates.
        rays: (Q, R) raw predicted ray lengths, ``R = n_azimuth * n_polar`` (clamped here at 0.01).
        centers: (Q, 3) predicted centres; clamped at 0.01 per coordinate when ``clamp_centers``
            (official quirk: its in-place clamp covers the whole 28-vector).
        rpm: (Q, S) Radial Point Migration output.
        migration_scale: 2.0 reproduces the official double subtraction of ``rpm``.
    Returns:
        bool (Q, S).
    """
    rays = rays.clamp(min=CLAMP_MIN)
    if clamp_centers:
        centers = centers.clamp(min=CLAMP_MIN)
    return ops.assemble_masks(sp_xyz.contiguous(), centers.contiguous(), rays.contiguous(), rpm.contiguous(),
                              migration_scale=migration_scale, n_azimuth=n_azimuth, n_polar=n_polar)
