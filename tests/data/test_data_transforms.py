"""Augmentation and test transform (spec §1.5-1.6) against plain NumPy/SciPy references."""
import math

import numpy as np
import pytest
import scipy.interpolate
import scipy.ndimage

from sphmask.data.transforms import (
    VoxelConfig, augment_rigid, compact_instance_ids, crop, elastic, rotation_z, transform_test, transform_train,
)


def cloud(n, seed=0, extent=3.0):
    return np.random.default_rng(seed).uniform(-extent, extent, (n, 3))


def test_rotation_z_is_the_official_row_vector_matrix():
    t = 0.3
    np.testing.assert_allclose(rotation_z(t), [[math.cos(t), math.sin(t), 0], [-math.sin(t), math.cos(t), 0], [0, 0, 1]])


def test_augment_without_randomness_is_the_fixed_test_rotation():
    xyz = cloud(100)
    out = augment_rigid(xyz, np.random.default_rng(0), jitter=0.0, flip=False, rotate=False)
    np.testing.assert_allclose(out, xyz @ rotation_z(0.35 * math.pi))


def test_augment_rotation_and_flips_preserve_distances_and_height():
    xyz = cloud(200)
    out = augment_rigid(xyz, np.random.default_rng(3), jitter=0.0, flip=True, rotate=True)
    np.testing.assert_allclose(np.linalg.norm(out[:, None] - out[None], axis=-1),
                               np.linalg.norm(xyz[:, None] - xyz[None], axis=-1), atol=1e-9)
    np.testing.assert_allclose(out[:, 2], xyz[:, 2])


def test_augment_is_one_linear_map_per_call():
    xyz = cloud(100)
    out = augment_rigid(xyz, np.random.default_rng(5))
    m, *_ = np.linalg.lstsq(xyz, out, rcond=None)
    np.testing.assert_allclose(xyz @ m, out, atol=1e-9)
    assert np.abs(m - np.eye(3)).max() > 1e-3


def reference_elastic(x, gran, mag, rng):
    """The official recipe: 3x1x1/1x3x1/1x1x3 box blurs (twice) by convolution, SciPy grid interpolation."""
    blurs = [np.ones((3, 1, 1), np.float32) / 3, np.ones((1, 3, 1), np.float32) / 3, np.ones((1, 1, 3), np.float32) / 3]
    bb = np.abs(x).max(0).astype(np.int32) // gran + 3
    noise = [rng.standard_normal(tuple(bb)).astype(np.float32) for _ in range(3)]
    for _ in range(2):
        for b in blurs:
            noise = [scipy.ndimage.convolve(n, b, mode="constant", cval=0) for n in noise]
    ax = [np.linspace(-(b - 1) * gran, (b - 1) * gran, b) for b in bb]
    interp = [scipy.interpolate.RegularGridInterpolator(ax, n, bounds_error=False, fill_value=0) for n in noise]
    return x + np.stack([i(x) for i in interp], 1) * mag


@pytest.mark.parametrize("gran,mag", [(10, 60.0), (30, 180.0)])
def test_elastic_matches_reference(gran, mag):
    x = cloud(3000, extent=80.0)
    got = elastic(x, gran, mag, np.random.default_rng(11))
    want = reference_elastic(x, gran, mag, np.random.default_rng(11))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_elastic_is_smooth_nearby_points_move_together():
    x = cloud(2000, extent=80.0)
    y = x + 0.01
    dx = elastic(x, 10, 60.0, np.random.default_rng(2)) - x
    dy = elastic(y, 10, 60.0, np.random.default_rng(2)) - y
    assert np.abs(dx - dy).max() < 0.05 * np.abs(dx).max()


def reference_crop_mask(xyz, offset, box):
    shifted = xyz + offset
    return shifted, np.array([all(0 <= shifted[i, a] < box[a] for a in range(3)) for i in range(len(xyz))])


def test_crop_keeps_at_most_max_npoint_inside_the_shifted_box():
    xyz = np.random.default_rng(0).uniform(0, 900, (20000, 3))
    shifted, keep = crop(xyz, np.random.default_rng(4), max_npoint=3000, extent=512)
    assert 0 < keep.sum() <= 3000
    assert (shifted[keep] >= 0).all()
    offset = shifted[0] - xyz[0]
    np.testing.assert_allclose(shifted - xyz, np.broadcast_to(offset, xyz.shape))
    assert (offset <= 0).all()


def test_crop_box_shrinks_in_x_and_y_by_step():
    xyz = np.random.default_rng(1).uniform(0, 700, (5000, 3))
    shifted, keep = crop(xyz, np.random.default_rng(9), max_npoint=1000, extent=512, step=32)
    offset = shifted[0] - xyz[0]
    # the last box tried (before its final shrink) is 512 - 32*(k-1) in x, y: find k consistent with keep
    matches = []
    for k in range(1, 20):
        box = np.array([512 - 32 * (k - 1), 512 - 32 * (k - 1), 512])
        _, want = reference_crop_mask(xyz, offset, box)
        if np.array_equal(want, keep):
            matches.append(k)
    assert matches


def test_crop_scene_below_max_npoint_is_untouched():
    xyz = np.random.default_rng(0).uniform(0, 900, (1000, 3))
    shifted, keep = crop(xyz, np.random.default_rng(0), max_npoint=1000, extent=512)
    assert keep.all() and shifted is xyz


def reference_compact(instance):
    """The official loop, on the array."""
    inst = instance.copy()
    j = 0
    while j < inst.max():
        if len(np.where(inst == j)[0]) == 0:
            inst[inst == inst.max()] = j
        j += 1
    return inst


@pytest.mark.parametrize("seed", range(5))
def test_compact_instance_ids_matches_official_loop(seed):
    rng = np.random.default_rng(seed)
    inst = rng.choice(np.r_[-100, rng.choice(40, 12, replace=False)], 500)
    np.testing.assert_array_equal(compact_instance_ids(inst), reference_compact(inst))


def test_compact_instance_ids_no_instances():
    inst = np.full(10, -100)
    np.testing.assert_array_equal(compact_instance_ids(inst), inst)


def test_transform_test_rotation_flag():
    xyz = cloud(100)
    v, mid = transform_test(xyz, VoxelConfig(scale=50))
    np.testing.assert_allclose(mid, xyz @ rotation_z(0.35 * math.pi))
    np.testing.assert_allclose(v, mid * 50 - (mid * 50).min(0))
    v2, mid2 = transform_test(xyz, VoxelConfig(scale=50), test_rotation=False)
    np.testing.assert_allclose(mid2, xyz)
    assert v2.min() == 0


def test_transform_train_crop_respects_max_npoint_and_drops_when_too_few():
    xyz = cloud(6000, extent=8.0)
    out = transform_train(xyz, np.random.default_rng(0), VoxelConfig(max_npoint=1500, min_npoint=100))
    assert out is not None and 100 <= out[2].sum() <= 1500 and out[0].shape[0] == out[2].sum()
    assert transform_train(xyz[:50], np.random.default_rng(0), VoxelConfig(min_npoint=100)) is None


def test_voxel_config_rejects_bad_values():
    with pytest.raises(ValueError, match=r"spatial_shape must be \[minimum, crop\]"):
        VoxelConfig(spatial_shape=(128,))
