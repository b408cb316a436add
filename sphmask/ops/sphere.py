"""Spherical representation of instances: per-point (radius, sector) around query centres, rays
from masks, and mask assembly from rays plus radial point migration (spec §4-§5).

All three ops follow the official Spherical Mask float32 computation (``model_utils.py:
cartesian_to_spherical``, ``find_sector_``; ``spherical_mask.py:mask_assembly``) in the same operation
order, without building the ``[Q, S, ...]`` intermediate tensors of the official code. For a vector
``v = point - center``:

* ``radius = sqrt((vx² + vy²) + vz²)``
* polar angle ``θ = deg(atan2(sqrt(vx² + vy²), vz))`` in [0, 180] (from +z),
  azimuth ``φ = deg(atan2(vy, vx)) + 180`` in [0, 360] (0 along -x, 180 along +x, 270 along +y);
  ``deg(a) = a · float32(180/π)`` as ``torch.rad2deg``
* ``h`` = largest ``k`` with ``k · (180 // n_polar) <= θ``, ``w`` = largest ``k`` with
  ``k · (360 // n_azimuth) <= φ`` (0 if none), ``sector = h · n_azimuth + w``.

The sign of a zero ``vy`` matters at φ = ±180° exactly as with ``atan2``: ``(-1, -0.0, 0)`` is in
azimuth bin 0, ``(-1, +0.0, 0)`` in the last one. A point at the centre has radius 0 and sector
``n_azimuth // 2`` (θ = 0, φ = 180).

The ops are not differentiable (the official code uses them without gradient: targets, sector
look-ups, the final masks); inputs that require grad are detached.
"""
import math
import numbers

import torch

from sphmask.ops._validate import check_finite, check_float32, check_same_device, check_tensor, ops

__all__ = ["sphere_coords", "rays_from_masks", "assemble_masks"]


def _check_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return int(value)


def _check_real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def _check_grid(n_azimuth, n_polar):
    """The official reference angles are ``arange(0, 360, int(360/W))`` and ``arange(0, 180,
    int(180/H))``; they number exactly W and H only when W divides 360 and H divides 180. For other
    values the official sector indices overflow the ``W·H`` ray columns, so they are refused."""
    n_azimuth = _check_int("n_azimuth", n_azimuth)
    n_polar = _check_int("n_polar", n_polar)
    if n_azimuth < 1 or 360 % n_azimuth:
        raise ValueError(f"n_azimuth must be a positive divisor of 360 (e.g. 4, 5, 6, 8), got {n_azimuth}")
    if n_polar < 1 or 180 % n_polar:
        raise ValueError(f"n_polar must be a positive divisor of 180 (e.g. 3, 4, 5, 6), got {n_polar}")
    return n_azimuth, n_polar


def _check_points_centers(points, centers):
    points = check_float32("points", points, shape=(None, 3)).detach()
    centers = check_float32("centers", centers, shape=(None, 3)).detach()
    check_same_device(points=points, centers=centers)
    check_finite("points", points)
    check_finite("centers", centers)
    return points, centers


def sphere_coords(points: torch.Tensor, centers: torch.Tensor, n_azimuth: int = 5, n_polar: int = 5):
    """Radius and sector of every point seen from every centre (spec §4.2-§4.3).

    Args:
        points: float32 (float16/bfloat16 cast to it) ``[S, 3]``.
        centers: float32 (float16/bfloat16 cast to it) ``[Q, 3]``, same device.
        n_azimuth: azimuth bins ``W``; a divisor of 360 (official: 5).
        n_polar: polar bins ``H``; a divisor of 180 (official: 5).

    Returns:
        ``(radius, sector)``: float32 ``[Q, S]`` distances ``|points[s] - centers[q]|`` and int64
        ``[Q, S]`` sector indices in ``[0, W·H)`` (module docstring: angle convention).
    """
    n_azimuth, n_polar = _check_grid(n_azimuth, n_polar)
    points, centers = _check_points_centers(points, centers)
    return ops().sphere_coords(points, centers, n_azimuth, n_polar)


def rays_from_masks(
    points: torch.Tensor,
    centers: torch.Tensor,
    masks: torch.Tensor,
    n_azimuth: int = 5,
    n_polar: int = 5,
    empty_value: float = 1e-6,
) -> torch.Tensor:
    """Ray lengths of masked point sets: per sector, the distance of the furthest masked point.

    ``rays[q, k] = max(empty_value, max{radius(q, s) : masks[q, s] and sector(q, s) = k})``, which
    is ``empty_value`` for sectors without a masked point.

    The two official uses: ground-truth rays (spec §4.4, ``get_sph_gt``) are ``rays_from_masks(
    voxel_coords, centroids, instance_masks)`` with the default ``empty_value=1e-6``; ``mask2ray``
    (§4.5, used in the loss) is ``rays_from_masks(coords, mask_centres, masks, empty_value=0.01)
    .clamp(max=10)``. Computing the centres (mean of the masked points) is the caller's job.

    Args:
        points: float32 (float16/bfloat16 cast to it) ``[S, 3]``.
        centers: float32 (float16/bfloat16 cast to it) ``[Q, 3]``, one sphere centre per mask.
        masks: bool ``[Q, S]``, which points belong to each mask.
        n_azimuth, n_polar: the sector grid, as in :func:`sphere_coords`.
        empty_value: finite floor of every ray and value of empty sectors, stored as float32.

    Returns:
        float32 ``[Q, n_azimuth·n_polar]``, column ``h·n_azimuth + w``.
    """
    n_azimuth, n_polar = _check_grid(n_azimuth, n_polar)
    empty_value = _check_real("empty_value", empty_value)
    points, centers = _check_points_centers(points, centers)
    masks = check_tensor("masks", masks, (torch.bool,), shape=(centers.shape[0], points.shape[0]))
    check_same_device(points=points, centers=centers, masks=masks)
    return ops().rays_from_masks(points, centers, masks, n_azimuth, n_polar, empty_value)


def assemble_masks(
    points: torch.Tensor,
    centers: torch.Tensor,
    rays: torch.Tensor,
    migration: torch.Tensor,
    migration_scale: float = 2.0,
    *,
    n_azimuth: int = 5,
    n_polar: int = 5,
) -> torch.Tensor:
    """Mask Assembly (spec §5.2): which points lie inside each query's predicted ray contour after
    Radial Point Migration.

    ``masks[q, s] = rays[q, sector(q, s)] >= radius(q, s) - migration_scale · migration[q, s]``
    (non-strict), the migrated radius being evaluated as ``(radius - migration) - (migration_scale
    - 1) · migration`` in float32; for the default ``migration_scale=2`` that is the official
    ``(r - rpm) - rpm`` bit for bit (the official code subtracts the RPM output twice).

    The official model first clamps the whole 28-vector of ray predictions at 0.01 in place, rays
    **and** centre coordinates (§5.2 step 1); that clamp is the caller's job, this op uses
    ``rays`` and ``centers`` as given. Fused: no ``[Q, S]`` float temporaries are allocated.

    Args:
        points: float32 (float16/bfloat16 cast to it) ``[S, 3]`` (superpoint coordinates in the model).
        centers: float32 (float16/bfloat16 cast to it) ``[Q, 3]`` sphere centres.
        rays: float32 (float16/bfloat16 cast to it) ``[Q, n_azimuth·n_polar]`` ray lengths, column ``h·n_azimuth + w``.
        migration: float32 (float16/bfloat16 cast to it) ``[Q, S]`` RPM output.
        migration_scale: how many times the migration is subtracted from the radius.
        n_azimuth, n_polar: the sector grid, as in :func:`sphere_coords` (keyword-only).

    Returns:
        bool ``[Q, S]``.
    """
    n_azimuth, n_polar = _check_grid(n_azimuth, n_polar)
    migration_scale = _check_real("migration_scale", migration_scale)
    points, centers = _check_points_centers(points, centers)
    num_queries, num_points = centers.shape[0], points.shape[0]
    rays = check_float32("rays", rays, shape=(num_queries, n_azimuth * n_polar)).detach()
    migration = check_float32("migration", migration, shape=(num_queries, num_points)).detach()
    check_same_device(points=points, centers=centers, rays=rays, migration=migration)
    check_finite("rays", rays)
    check_finite("migration", migration)
    return ops().assemble_masks(points, centers, rays, migration, migration_scale, n_azimuth, n_polar)
