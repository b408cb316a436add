"""ball_query against a brute-force NumPy first-k search (spec §3.4, App. C.3).

The reference computes every centre-to-point squared distance of a scene in float32 with the
official operation order ((dx*dx + dy*dy) + dz*dz, dx = centre - point), so boundary cases get
the same verdict as the kernels, and takes the first k hits in index order.
"""
import numpy as np
import pytest
import torch

from sphmask.ops import ball_query
from tests.conftest import num_threads, requires_cuda


# ----------------------------------------------------------------------------- reference
def ref_ball_query(xyz, offsets, centers, center_offsets, radius, k):
    """(idx int64 [Q,k], counts int32 [Q]); rows without a hit are -1."""
    xyz, centers = xyz.numpy(), centers.numpy()
    r2 = np.float32(radius) * np.float32(radius)
    idx = np.full((len(centers), k), -1, np.int64)
    counts = np.zeros(len(centers), np.int32)
    for b in range(len(offsets) - 1):
        p0, p1 = int(offsets[b]), int(offsets[b + 1])
        for q in range(int(center_offsets[b]), int(center_offsets[b + 1])):
            d = centers[q][None, :] - xyz[p0:p1]
            d2 = d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2]
            hits = p0 + np.nonzero(d2 < r2)[0][:k]
            counts[q] = len(hits)
            if len(hits):
                idx[q] = hits[0]
                idx[q, : len(hits)] = hits
    return idx, counts


def assert_matches_reference(xyz, offsets, centers, center_offsets, radius, k):
    idx, counts = ball_query(xyz, offsets, centers, center_offsets, radius, k)
    ref_idx, ref_counts = ref_ball_query(xyz, offsets, centers, center_offsets, radius, k)
    assert idx.dtype == torch.int64 and counts.dtype == torch.int32
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    np.testing.assert_array_equal(counts.numpy(), ref_counts)


def random_scenes(sizes, n_centers, seed=0, extent=1.0):
    """Scenes of uniform points in a cube; centres are half scene points, half random positions."""
    g = torch.Generator().manual_seed(seed)
    xyz, ctr = [], []
    for n, q in zip(sizes, n_centers):
        pts = torch.rand(n, 3, generator=g) * extent - extent / 2
        xyz.append(pts)
        picked = pts[torch.randint(0, n, (q // 2,), generator=g)] if n else torch.empty(0, 3)
        ctr.append(torch.cat([picked, torch.rand(q - len(picked), 3, generator=g) * extent - extent / 2]))
    offsets = torch.tensor([0] + list(np.cumsum(sizes)), dtype=torch.int64)
    center_offsets = torch.tensor([0] + list(np.cumsum(n_centers)), dtype=torch.int64)
    return torch.cat(xyz), offsets, torch.cat(ctr), center_offsets


def one_scene(points, centers):
    xyz = torch.tensor(points, dtype=torch.float32).reshape(-1, 3)
    ctr = torch.tensor(centers, dtype=torch.float32).reshape(-1, 3)
    return xyz, torch.tensor([0, len(xyz)]), ctr, torch.tensor([0, len(ctr)])


# ----------------------------------------------------------------------------- behaviour
@pytest.mark.parametrize("sizes,n_centers,radius,k", [
    ([10], [4], 0.5, 4),
    ([500], [64], 0.1, 8),
    ([3000, 2000], [100, 50], 0.15, 32),
    ([4000], [200], 0.05, 16),
])
def test_ball_query_matches_reference_on_random_scenes(sizes, n_centers, radius, k):
    assert_matches_reference(*random_scenes(sizes, n_centers, seed=len(sizes) * 100 + k), radius, k)


def test_ball_query_appendix_c3_vector():
    xyz, off, ctr, coff = one_scene([[x, 0, 0] for x in (0, 0.1, 0.5, 0.15, 0.05)], [0, 0, 0])
    assert ball_query(xyz, off, ctr, coff, 0.2, 4)[0].tolist() == [[0, 1, 3, 4]]
    idx, counts = ball_query(xyz, off, ctr, coff, 0.2, 6)
    assert idx.tolist() == [[0, 1, 3, 4, 0, 0]] and counts.tolist() == [4]


def test_ball_query_k_larger_than_neighbourhood_pads_with_first_hit():
    xyz, off, ctr, coff = one_scene([[5, 5, 5], [0.3, 0, 0], [0.1, 0, 0]], [0, 0, 0])
    idx, counts = ball_query(xyz, off, ctr, coff, 0.5, 5)
    assert idx.tolist() == [[1, 2, 1, 1, 1]] and counts.tolist() == [2]


def test_ball_query_returns_smallest_indices_not_nearest():
    # Point 0 is the farthest hit but has the lowest index.
    xyz, off, ctr, coff = one_scene([[0.9, 0, 0], [0.5, 0, 0], [0, 0, 0], [0.01, 0, 0]], [0, 0, 0])
    assert ball_query(xyz, off, ctr, coff, 1.0, 2)[0].tolist() == [[0, 1]]


def test_ball_query_radius_zero_finds_nothing():
    xyz, off, ctr, coff = one_scene([[0, 0, 0], [0, 0, 0]], [0, 0, 0])
    idx, counts = ball_query(xyz, off, ctr, coff, 0.0, 3)
    assert idx.tolist() == [[-1, -1, -1]] and counts.tolist() == [0]


def test_ball_query_point_at_exactly_radius_is_excluded():
    xyz, off, ctr, coff = one_scene([[0.5, 0, 0], [0, 0.25, 0]], [0, 0, 0])
    assert ball_query(xyz, off, ctr, coff, 0.5, 2)[0].tolist() == [[1, 1]]


def test_ball_query_centre_with_no_neighbour_gives_minus_one_row():
    xyz, off, ctr, coff = one_scene([[0, 0, 0], [1, 1, 1]], [[0.05, 0, 0], [0.5, 0.5, 0.5]])
    idx, counts = ball_query(xyz, off, ctr, coff, 0.1, 3)
    assert idx.tolist() == [[0, 0, 0], [-1, -1, -1]] and counts.tolist() == [1, 0]


def test_ball_query_centre_far_outside_scene():
    xyz, off, ctr, coff = one_scene([[0, 0, 0], [1, 0, 0]], [[1e30, -1e30, 0], [1.05, 0, 0]])
    idx, counts = ball_query(xyz, off, ctr, coff, 0.1, 2)
    assert idx.tolist() == [[-1, -1], [1, 1]] and counts.tolist() == [0, 1]


def test_ball_query_negative_coordinates_and_negative_zero():
    pts = [[-0.0, -0.0, -0.0], [-3.2, -1.0, -0.5], [-3.25, -1.0, -0.5], [0.0, 0.0, 0.05]]
    xyz, off, ctr, coff = one_scene(pts, [[0.0, 0.0, -0.0], [-3.2, -1.0, -0.55]])
    idx, counts = ball_query(xyz, off, ctr, coff, 0.1, 3)
    assert idx.tolist() == [[0, 3, 0], [1, 2, 1]] and counts.tolist() == [2, 2]


def test_ball_query_never_returns_points_of_another_scene():
    # Scene 1's points sit exactly on scene 0's centre; only scene 0's own points may come back.
    xyz = torch.tensor([[1.0, 0, 0], [0.0, 0, 0], [0.0, 0, 0], [0.05, 0, 0]])
    offsets = torch.tensor([0, 1, 4])
    centers = torch.tensor([[0.0, 0, 0], [0.0, 0, 0]])
    idx, counts = ball_query(xyz, offsets, centers, torch.tensor([0, 1, 2]), 0.5, 3)
    assert idx.tolist() == [[-1, -1, -1], [1, 2, 3]] and counts.tolist() == [0, 3]


def test_ball_query_scene_without_points_or_centres():
    xyz, offsets, centers, center_offsets = random_scenes([0, 300, 200, 0], [5, 20, 0, 3], seed=9)
    assert_matches_reference(xyz, offsets, centers, center_offsets, 0.2, 8)


def test_ball_query_radius_much_smaller_than_scene():
    # Far more radius-sized cells than points: the grid coarsens its cells, results must not change.
    g = torch.Generator().manual_seed(4)
    base = torch.rand(200, 3, generator=g) * 100.0
    xyz = torch.cat([base, base + 1e-4 * torch.rand(200, 3, generator=g)])
    centers = base[:50] + 1e-5
    assert_matches_reference(xyz, torch.tensor([0, 400]), centers, torch.tensor([0, 50]), 3e-4, 4)


def test_ball_query_radius_larger_than_scene():
    xyz, offsets, centers, center_offsets = random_scenes([300], [10], seed=2)
    assert_matches_reference(xyz, offsets, centers, center_offsets, 1e6, 40)


def test_ball_query_duplicate_points():
    xyz, off, ctr, coff = one_scene([[0.2, 0.2, 0.2]] * 6, [0.2, 0.2, 0.2])
    idx, counts = ball_query(xyz, off, ctr, coff, 0.01, 4)
    assert idx.tolist() == [[0, 1, 2, 3]] and counts.tolist() == [4]


def test_ball_query_no_points():
    idx, counts = ball_query(torch.empty(0, 3), torch.tensor([0, 0]), torch.zeros(2, 3), torch.tensor([0, 2]), 0.1, 3)
    assert idx.tolist() == [[-1, -1, -1]] * 2 and counts.tolist() == [0, 0]


def test_ball_query_no_centres():
    xyz, off, _, _ = one_scene([[0, 0, 0]], [0, 0, 0])
    idx, counts = ball_query(xyz, off, torch.empty(0, 3), torch.tensor([0, 0]), 0.1, 4)
    assert idx.shape == (0, 4) and counts.shape == (0,)


def test_ball_query_same_result_with_1_and_2_threads():
    args = random_scenes([20000, 10000], [1500, 500], seed=6)
    with num_threads(1):
        one = ball_query(*args, 0.08, 32)
    with num_threads(2):
        two = ball_query(*args, 0.08, 32)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])


# ----------------------------------------------------------------------------- bad input
def test_ball_query_rejects_float64_xyz():
    xyz, off, ctr, coff = one_scene([[0, 0, 0]], [0, 0, 0])
    with pytest.raises(TypeError, match="xyz"):
        ball_query(xyz.double(), off, ctr, coff, 0.1, 2)


def test_ball_query_rejects_centers_with_two_columns():
    xyz, off, ctr, coff = one_scene([[0, 0, 0]], [0, 0, 0])
    with pytest.raises(ValueError, match="centers"):
        ball_query(xyz, off, ctr[:, :2], coff, 0.1, 2)


def test_ball_query_rejects_offsets_not_ending_at_n():
    xyz, _, ctr, coff = one_scene([[0, 0, 0], [1, 1, 1]], [0, 0, 0])
    with pytest.raises(ValueError, match="offsets must end at"):
        ball_query(xyz, torch.tensor([0, 1]), ctr, coff, 0.1, 2)


def test_ball_query_rejects_float_offsets():
    xyz, _, ctr, coff = one_scene([[0, 0, 0]], [0, 0, 0])
    with pytest.raises(TypeError, match="offsets"):
        ball_query(xyz, torch.tensor([0.0, 1.0]), ctr, coff, 0.1, 2)


def test_ball_query_rejects_different_scene_counts():
    xyz, off, ctr, _ = one_scene([[0, 0, 0]], [0, 0, 0])
    with pytest.raises(ValueError, match="same scenes"):
        ball_query(xyz, off, ctr, torch.tensor([0, 1, 1]), 0.1, 2)


def test_ball_query_rejects_nan_in_xyz():
    xyz, off, ctr, coff = one_scene([[0, float("nan"), 0]], [0, 0, 0])
    with pytest.raises(ValueError, match="xyz contains NaN"):
        ball_query(xyz, off, ctr, coff, 0.1, 2)


def test_ball_query_rejects_nan_in_centers():
    xyz, off, ctr, coff = one_scene([[0, 0, 0]], [float("nan"), 0, 0])
    with pytest.raises(ValueError, match="centers contains NaN"):
        ball_query(xyz, off, ctr, coff, 0.1, 2)


@pytest.mark.parametrize("radius", [-0.1, float("nan"), float("inf")])
def test_ball_query_rejects_bad_radius(radius):
    xyz, off, ctr, coff = one_scene([[0, 0, 0]], [0, 0, 0])
    with pytest.raises(ValueError, match="radius"):
        ball_query(xyz, off, ctr, coff, radius, 2)


def test_ball_query_rejects_zero_k():
    xyz, off, ctr, coff = one_scene([[0, 0, 0]], [0, 0, 0])
    with pytest.raises(ValueError, match="k must be >= 1"):
        ball_query(xyz, off, ctr, coff, 0.1, 0)


def test_ball_query_rejects_float_k():
    xyz, off, ctr, coff = one_scene([[0, 0, 0]], [0, 0, 0])
    with pytest.raises(TypeError, match="k must be an int"):
        ball_query(xyz, off, ctr, coff, 0.1, 2.0)


def test_ball_query_rejects_tensors_on_different_devices():
    xyz, off, ctr, coff = one_scene([[0, 0, 0]], [0, 0, 0])
    with pytest.raises(ValueError, match="same device"):
        ball_query(xyz, off, ctr.to("meta"), coff, 0.1, 2)


@requires_cuda
def test_ball_query_cuda_matches_cpu():
    args = random_scenes([20000, 10000], [1500, 500], seed=8)
    cpu = ball_query(*args, 0.08, 32)
    gpu = ball_query(*[a.cuda() for a in args], 0.08, 32)
    assert torch.equal(cpu[0], gpu[0].cpu()) and torch.equal(cpu[1], gpu[1].cpu())
