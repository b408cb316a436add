"""Voxelization of integer point coordinates and per-voxel feature means (spec §1.8).

``voxelize`` numbers voxels in order of first appearance, exactly like the official
``voxelization_idx``; ``voxel_mean`` replaces the official ``voxelization`` (mean rule) and its
backward, with a fixed summation order instead of atomic adds. Its gradient is registered on the
op itself (sphmask/ops/_registrations.py).
"""
import numbers
from typing import Tuple

import torch

from sphmask.ops import _validate

_INT32 = torch.iinfo(torch.int32)
_INT64 = torch.iinfo(torch.int64)


def _out_of_int32_message(coords: torch.Tensor, lo: int, hi: int) -> str:
    """Name the first bad row; say what an int64 extreme means (an overflowed float conversion:
    ``torch.tensor(1e30).long()`` is -2**63), since the number itself hides the input's value."""
    bad = (coords < _INT32.min) | (coords > _INT32.max)
    row = int(torch.nonzero(bad.any(1))[0])
    msg = (f"coords values must fit int32 (voxel_coords is int32), got range [{lo}, {hi}]; "
           f"first bad row {row}: {coords[row].tolist()}")
    if lo == _INT64.min or hi == _INT64.max:
        msg += ("; an int64 extreme is what converting a float beyond the int64 range (e.g. a "
                "coordinate of 1e30) or NaN/inf gives: check the float coordinates and the voxel "
                "scale before quantizing")
    return msg


def voxelize(coords: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Group points into voxels, numbered by first appearance in ``coords``.

    Args:
        coords: int32 or int64 ``[N, 4]``, rows ``(batch, x, y, z)`` of integer voxel coordinates.
            Any values fitting int32 are accepted, negative ones included; the batch column is just
            part of the key, so points of different scenes never share a voxel.

    Returns:
        ``(voxel_coords, point2voxel)``:

        * ``voxel_coords``: int32 ``[M, 4]``, the ``(batch, x, y, z)`` of each voxel; voxel ``v`` is
          the ``v``-th distinct row met when scanning ``coords`` from the top.
        * ``point2voxel``: int64 ``[N]``, the voxel of each point.

        Both are on the device of ``coords``; the CPU and CUDA kernels give identical results.

    Raises:
        TypeError: ``coords`` is not an int32/int64 tensor.
        ValueError: wrong shape, or an int64 value outside the int32 range.
    """
    coords = _validate.check_tensor("coords", coords, _validate.INT_DTYPES, shape=(None, 4))
    if coords.shape[0] == 0:
        return (torch.empty((0, 4), dtype=torch.int32, device=coords.device),
                torch.empty((0,), dtype=torch.int64, device=coords.device))
    if coords.dtype == torch.int64:
        lo, hi = (int(v) for v in torch.aminmax(coords))
        if lo < _INT32.min or hi > _INT32.max:
            raise ValueError(_out_of_int32_message(coords, lo, hi))
    voxel_coords, point2voxel = _validate.ops().voxelize(coords)
    return voxel_coords, point2voxel


def voxel_mean(values: torch.Tensor, point2voxel: torch.Tensor, num_voxels: int) -> torch.Tensor:
    """Mean of the values of each voxel's points; differentiable with respect to ``values``.

    Args:
        values: float32 or float64 ``[N, C]`` per-point values (features, xyz, ...); float16 and
            bfloat16 (autocast) are averaged in float32 and give a float32 result.
        point2voxel: int64 ``[N]``, the voxel of each point, in ``[0, num_voxels)`` (as returned
            by :func:`voxelize`).
        num_voxels: ``M``, the number of voxels.

    Returns:
        ``[M, C]`` with the dtype (float32 for half inputs) and device of ``values``: row ``v`` is the mean of the rows of
        ``values`` whose point2voxel is ``v``, summed in point order (deterministic, independent
        of the thread count); 0 for a voxel without points. The gradient of each point is its
        voxel's gradient divided by the voxel's number of points.

    Raises:
        TypeError: wrong tensor dtypes, or ``num_voxels`` not an int.
        ValueError: wrong shapes, different devices, negative ``num_voxels``, or a point2voxel value
            outside ``[0, num_voxels)``.
    """
    values = _validate.check_tensor("values", values, _validate.FLOAT_DTYPES + _validate.HALF_DTYPES,
                                    shape=(None, None))
    if values.dtype in _validate.HALF_DTYPES:
        values = values.float()
    point2voxel = _validate.check_tensor("point2voxel", point2voxel, (torch.int64,), shape=(values.shape[0],))
    _validate.check_same_device(values=values, point2voxel=point2voxel)
    if isinstance(num_voxels, bool) or not isinstance(num_voxels, numbers.Integral):
        raise TypeError(f"num_voxels must be an int, got {type(num_voxels).__name__}")
    num_voxels = int(num_voxels)
    if num_voxels < 0:
        raise ValueError(f"num_voxels must be >= 0, got {num_voxels}")
    if point2voxel.numel():
        lo, hi = torch.aminmax(point2voxel)
        if int(lo) < 0 or int(hi) >= num_voxels:
            raise ValueError(f"point2voxel values must be in [0, num_voxels) = [0, {num_voxels}), "
                             f"got range [{int(lo)}, {int(hi)}]")
    return _validate.ops().voxel_mean(values, point2voxel, num_voxels)
