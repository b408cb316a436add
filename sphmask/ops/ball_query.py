"""First-k ball query over batched scenes (spec §3.4; official ``ballquery_batchflat`` and
PointNet++ ``ball_query``)."""
import math
import numbers
from typing import Tuple

import torch

from sphmask.ops import _validate


def ball_query(
    xyz: torch.Tensor,
    offsets: torch.Tensor,
    centers: torch.Tensor,
    center_offsets: torch.Tensor,
    radius: float,
    k: int,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """For each centre, the first ``k`` points of its scene, in index order, within ``radius``.

    This is not a k-nearest-neighbour search: among the points of the centre's scene with squared
    distance ``< radius**2`` (strict, float32 arithmetic as in the official kernels), the ``k``
    with the smallest indices are returned in increasing order.

    Args:
        xyz: float32 (float16/bfloat16 cast to it) ``[N, 3]`` points of all scenes, scene-major.
        offsets: int32/int64 ``[B + 1]``, scene ``b`` owns points ``offsets[b]:offsets[b + 1]``.
        centers: float32 (float16/bfloat16 cast to it) ``[Q, 3]`` query centres of all scenes, scene-major.
        center_offsets: int32/int64 ``[B + 1]``, scene ``b`` owns centres
            ``center_offsets[b]:center_offsets[b + 1]``.
        radius: ball radius, finite and ``>= 0`` (0 finds nothing).
        k: number of slots per centre, ``>= 1``.

    Returns:
        ``(idx, counts)``:

        * ``idx``: int64 ``[Q, k]`` global indices into ``xyz``. When fewer than ``k`` points are
          found the remaining slots repeat the first hit; a row without any hit is all ``-1``
          (the official kernels write 0 there).
        * ``counts``: int32 ``[Q]``, the number of real hits (``<= k``).

    Raises:
        TypeError: wrong tensor dtypes, or ``radius``/``k`` of the wrong type.
        ValueError: wrong shapes, different devices, inconsistent offsets, NaN/inf coordinates,
            negative or non-finite ``radius``, ``k < 1``.
    """
    xyz = _validate.check_float32("xyz", xyz, shape=(None, 3))
    centers = _validate.check_float32("centers", centers, shape=(None, 3))
    offsets = _validate.check_offsets("offsets", offsets, xyz.shape[0], "len(xyz)")
    center_offsets = _validate.check_offsets("center_offsets", center_offsets, centers.shape[0], "len(centers)")
    device = _validate.check_same_device(xyz=xyz, offsets=offsets, centers=centers,
                                         center_offsets=center_offsets)
    if offsets.numel() != center_offsets.numel():
        raise ValueError(f"offsets and center_offsets must describe the same scenes, got "
                         f"{offsets.numel() - 1} and {center_offsets.numel() - 1} scenes")
    if isinstance(radius, bool) or not isinstance(radius, numbers.Real):
        raise TypeError(f"radius must be a real number, got {type(radius).__name__}")
    if not math.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be finite and >= 0, got {radius}")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    _validate.check_finite("xyz", xyz)
    _validate.check_finite("centers", centers)
    if centers.shape[0] == 0:
        return (torch.empty((0, int(k)), dtype=torch.int64, device=device),
                torch.empty((0,), dtype=torch.int32, device=device))
    return _validate.ops().ball_query(xyz, offsets, centers, center_offsets, float(radius), int(k))
