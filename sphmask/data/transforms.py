"""Training augmentation and test transform of the official pipeline (spec §1.5-1.6), with all
randomness drawn from a ``numpy.random.Generator`` passed in by the caller.

Points are row vectors: a transform ``m`` maps ``xyz`` to ``xyz @ m``. Coordinates come in two
versions: ``xyz_middle`` (metres, rotated/flipped/jittered; what the network sees as coordinates) and
``xyz`` (voxel units, ``xyz_middle * scale``, elastically distorted in training, shifted to be
non-negative); the elastic distortion and the crop shift act only on the latter (pitfall 20).
"""
import dataclasses
import math
from typing import Optional, Sequence, Tuple

import numpy as np
import scipy.interpolate
import scipy.ndimage

TEST_ROTATION = 0.35 * math.pi  # fixed test-time yaw of the official code (pitfall 12)


@dataclasses.dataclass(frozen=True)
class VoxelConfig:
    """``voxel_cfg`` of the configs.

    Attributes:
        scale: voxels per metre (50 = 2 cm voxels).
        spatial_shape: ``[minimum, crop]``: the collated spatial shape is at least ``minimum`` per
            axis; training crops start from a cube of ``crop`` voxels.
        max_npoint: training scenes with more points are cropped.
        min_npoint: a training crop with fewer points is retried (5 tries), then the scene is dropped.
    """

    scale: float = 50
    spatial_shape: Tuple[int, int] = (128, 512)
    max_npoint: int = 250000
    min_npoint: int = 5000

    def __post_init__(self):
        if len(self.spatial_shape) != 2:
            raise ValueError(f"voxel_cfg.spatial_shape must be [minimum, crop], got {list(self.spatial_shape)}")
        if self.scale <= 0 or self.max_npoint <= 0 or self.min_npoint < 0:
            raise ValueError(f"voxel_cfg needs scale > 0, max_npoint > 0, min_npoint >= 0; got {self}")


def rotation_z(theta: float) -> np.ndarray:
    """3x3 row-vector rotation about z used by the official code: ``[[c, s, 0], [-s, c, 0], [0, 0, 1]]``."""
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def augment_rigid(xyz: np.ndarray, rng: np.random.Generator, jitter: float = 0.1, flip: bool = True,
                  rotate: bool = True) -> np.ndarray:
    """``xyz @ (I + jitter*G) @ Rz(theta)``, then negate x and y each with probability 1/2.

    ``G`` is a 3x3 standard normal matrix and ``theta ~ U[0, 2pi)``; with ``rotate=False`` the
    fixed test rotation Rz(0.35 pi) is used instead, as the official code does.
    """
    m = np.eye(3)
    if jitter:
        m = m + rng.standard_normal((3, 3)) * jitter
    theta = rng.random() * 2 * math.pi if rotate else TEST_ROTATION
    out = xyz @ (m @ rotation_z(theta))
    if flip:
        for axis in (0, 1):
            if rng.random() < 0.5:
                out[:, axis] = -out[:, axis]
    return out


def elastic(x: np.ndarray, granularity: float, magnitude: float, rng: np.random.Generator) -> np.ndarray:
    """Elastic distortion: ``x + magnitude * noise(x)``, ``noise`` three smoothed Gaussian volumes
    on a grid of spacing ``2*granularity`` (box-filtered twice along each axis), interpolated
    trilinearly and zero outside the grid (spec §1.5 step 3). ``x`` in voxel units, centred."""
    bb = (np.abs(x).max(0).astype(np.int32) // granularity + 3).astype(np.int64)
    axes = [np.linspace(-(b - 1) * granularity, (b - 1) * granularity, b) for b in bb]
    disp = np.empty_like(x, dtype=np.float64)
    for k in range(3):
        noise = rng.standard_normal(tuple(bb)).astype(np.float32)
        for _ in range(2):
            for axis in range(3):
                noise = scipy.ndimage.uniform_filter1d(noise, 3, axis=axis, mode="constant", cval=0.0)
        interp = scipy.interpolate.RegularGridInterpolator(axes, noise, bounds_error=False, fill_value=0.0)
        disp[:, k] = interp(x)
    return x + disp * magnitude


def crop(xyz: np.ndarray, rng: np.random.Generator, max_npoint: int, extent: int, step: int = 32
         ) -> Tuple[np.ndarray, np.ndarray]:
    """Random crop to at most ``max_npoint`` points (spec §1.5 step 5).

    ``xyz`` are non-negative voxel coordinates. Starting from a cube of side ``extent``, a random
    shift (only along axes where the scene is larger than the box) selects the points inside; while
    too many remain, the box shrinks by ``step`` in x and y (``2*step`` above 1e6 points). Returns the
    shifted coordinates and the boolean mask of kept points.
    """
    valid = np.ones(xyz.shape[0], dtype=bool)
    shifted = xyz
    box = np.full(3, float(extent))
    room = xyz.max(0) - xyz.min(0)
    while valid.sum() > max_npoint:
        s = step * 2 if valid.sum() > 1e6 else step
        offset = np.minimum(box - room + 0.001, 0) * rng.random(3)
        shifted = xyz + offset
        valid = (shifted.min(1) >= 0) & (shifted < box).all(1)
        box[:2] -= s
    return shifted, valid


def compact_instance_ids(instance: np.ndarray) -> np.ndarray:
    """Make instance ids ``0..K-1`` after some points were removed, the official way: going up from
    0, every missing id is filled by the currently largest id (ids < 0 are untouched)."""
    out = instance.copy()
    present = set(np.unique(out[out >= 0]).tolist())
    if not present:
        return out
    mapping = {i: i for i in present}
    largest = max(present)
    j = 0
    while j < largest:
        if j not in present:
            present.discard(largest)
            present.add(j)
            for orig, cur in mapping.items():
                if cur == largest:
                    mapping[orig] = j
            largest = max(present)
        j += 1
    lut = np.arange(max(mapping) + 1)
    for orig, cur in mapping.items():
        lut[orig] = cur
    keep = out >= 0
    out[keep] = lut[out[keep]]
    return out


def transform_train(xyz: np.ndarray, rng: np.random.Generator, voxel: VoxelConfig, jitter: float = 0.1,
                    flip: bool = True, rotate: bool = True,
                    elastic_params: Sequence[Sequence[float]] = ((10, 60), (30, 180)),
                    crop_step: int = 32, max_tries: int = 5) -> Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Training transform: rigid augmentation, elastic distortion, crop.

    Returns ``(xyz_voxel float64[n,3] >= 0, xyz_middle float64[n,3] metres, keep bool[N])`` or ``None``
    when no crop with at least ``voxel.min_npoint`` points was found in ``max_tries``.
    """
    xyz_middle = augment_rigid(xyz, rng, jitter=jitter, flip=flip, rotate=rotate)
    v = xyz_middle * voxel.scale
    for gran, mag in elastic_params:
        v = elastic(v, gran, mag, rng)
    v = v - v.min(0)
    for _ in range(max_tries):
        shifted, keep = crop(v, rng, voxel.max_npoint, voxel.spatial_shape[1], crop_step)
        if keep.sum() >= voxel.min_npoint:
            return shifted[keep], xyz_middle[keep], keep
    return None


def transform_test(xyz: np.ndarray, voxel: VoxelConfig, test_rotation: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Test transform: ``xyz_middle = xyz @ Rz(0.35 pi)`` (or ``xyz`` when ``test_rotation`` is off),
    ``xyz_voxel = xyz_middle * scale - min``. Returns ``(xyz_voxel, xyz_middle)``."""
    xyz_middle = xyz @ rotation_z(TEST_ROTATION) if test_rotation else xyz.astype(np.float64, copy=True)
    v = xyz_middle * voxel.scale
    return v - v.min(0), xyz_middle
