"""Farthest point sampling (FPS) over batch-flat point clouds."""
import numbers
from typing import Union

import torch

from sphmask.ops import _validate


def furthest_point_sample(
    xyz: torch.Tensor,
    offsets: torch.Tensor,
    num_samples: Union[int, torch.Tensor],
    *,
    pointnet2_origin_skip: bool = False,
) -> torch.Tensor:
    """Exact farthest point sampling of every scene of a batch-flat point cloud.

    Scene ``b`` is ``xyz[offsets[b]:offsets[b+1]]``. Its first pick is its first point; each next
    pick is the point whose minimum squared Euclidean distance (float32) to the points picked so
    far is largest, ties going to the lower index. Already picked points have distance 0, so when a
    scene consists of fewer distinct positions than requested samples, picks repeat (the lowest
    index at distance 0).

    With ``pointnet2_origin_skip=True`` the op reproduces the PointNet++ kernel
    (``pointnet2_utils.furthest_point_sample``) that the official model uses for aggregator 2 at
    test time: candidates whose float32 squared norm is ``<= 1e-3`` (within about 3.16 cm of the
    coordinate origin) are never picked, except the first point, which is always the first pick.
    Once every candidate that may be picked is at distance 0, picks repeat the lowest such index;
    if a scene has no such candidate at all, every pick is its first point.

    Args:
        xyz: float32 (float16/bfloat16 cast to it) ``[N, 3]`` points of all scenes, scene-major. Must be finite.
        offsets: int32/int64 ``[B+1]``, ``0 = offsets[0] <= ... <= offsets[B] = N``.
        num_samples: samples per scene, an ``int`` for every scene or an int32/int64 ``[B]`` tensor.
        pointnet2_origin_skip: reproduce the PointNet++ near-origin skip rule described above.

    Returns:
        int64 ``[sum of num_samples]``: global indices into ``xyz``, scene after scene, each scene's
        samples in pick order.

    Raises:
        TypeError: a wrong argument type or dtype.
        ValueError: a wrong shape, device or offsets, non-finite coordinates, a negative sample
            count, or a scene with fewer points than its requested samples (the message names the
            scene; padding is the caller's choice).
    """
    xyz = _validate.check_float32("xyz", xyz, shape=(None, 3))
    offsets = _validate.check_tensor("offsets", offsets, _validate.INT_DTYPES, shape=(None,))
    _validate.check_same_device(xyz=xyz, offsets=offsets)
    offsets = _validate.check_offsets("offsets", offsets, xyz.shape[0], "xyz.shape[0]")
    num_scenes = offsets.numel() - 1
    if isinstance(num_samples, torch.Tensor):
        counts = _validate.check_tensor("num_samples", num_samples, _validate.INT_DTYPES,
                                        shape=(num_scenes,))
        _validate.check_same_device(xyz=xyz, num_samples=counts)
        counts = counts.to(torch.int64)
    elif isinstance(num_samples, numbers.Integral) and not isinstance(num_samples, bool):
        counts = torch.full((num_scenes,), int(num_samples), dtype=torch.int64, device=xyz.device)
    else:
        raise TypeError(f"num_samples must be an int or an int32/int64 tensor of shape [{num_scenes}], "
                        f"got {type(num_samples).__name__}")
    if not isinstance(pointnet2_origin_skip, bool):
        raise TypeError(f"pointnet2_origin_skip must be a bool, got {type(pointnet2_origin_skip).__name__}")
    if xyz.device.type != "cpu":
        # The CPU kernel checks finiteness in its own pass over the points (cheaper than a torch
        # reduction, which wakes the thread pool); other devices check here.
        _validate.check_finite("xyz", xyz)

    wanted = counts.cpu()
    sizes = offsets.cpu().diff()
    if bool((wanted < 0).any()):
        b = int(torch.nonzero(wanted < 0)[0])
        raise ValueError(f"num_samples must be >= 0, got {int(wanted[b])} for scene {b}")
    short = torch.nonzero(wanted > sizes).flatten()
    if short.numel():
        b = int(short[0])
        raise ValueError(f"scene {b} has {int(sizes[b])} points but {int(wanted[b])} samples were "
                         f"requested ({short.numel()} scene(s) too small); pad or lower num_samples")
    return _validate.ops().furthest_point_sample(xyz, offsets, counts, pointnet2_origin_skip)
