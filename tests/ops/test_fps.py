"""furthest_point_sample against a brute-force NumPy loop (spec §3.4, §9.1-9.3, App. C.4).

The reference keeps the running minimum squared distance of every point to the picked set in
float32, computed as ((dx*dx + dy*dy) + dz*dz) with dx = point - picked, and takes np.argmax
(the first maximum, so ties go to the lower index). Exact index equality is required everywhere.
"""
import numpy as np
import pytest
import torch

from sphmask.ops import furthest_point_sample
from tests.conftest import num_threads, requires_cuda


# ----------------------------------------------------------------------------- reference
def sq_norm(p):
    """float32 squared norm with the kernels' operation order."""
    return (p[:, 0] * p[:, 0] + p[:, 1] * p[:, 1]) + p[:, 2] * p[:, 2]


def ref_scene(p, m, skip=False):
    """Scene-local picks of one scene p (float32 [n,3])."""
    if m == 0:
        return []
    # The PointNet++ kernel compares the float32 norm with the double 1e-3 (not float32(1e-3)).
    never = sq_norm(p).astype(np.float64) <= 1e-3 if skip else np.zeros(len(p), bool)
    d = np.full(len(p), np.inf, np.float32)
    picks, last = [0], 0
    with np.errstate(over="ignore"):
        for _ in range(1, m):
            d = np.minimum(d, sq_norm(p - p[last]))
            last = int(np.argmax(np.where(never, np.float32(-1), d)))
            picks.append(last)
    return picks


def ref_fps(xyz, offsets, counts, skip=False):
    xyz = xyz.numpy()
    out = []
    for b in range(len(offsets) - 1):
        s, e = int(offsets[b]), int(offsets[b + 1])
        out += [s + i for i in ref_scene(xyz[s:e], int(counts[b]), skip)]
    return torch.tensor(out, dtype=torch.int64)


def check(xyz, offsets, counts, skip=False):
    offsets = torch.as_tensor(offsets)
    counts_t = torch.as_tensor(counts) if not isinstance(counts, int) else counts
    got = furthest_point_sample(xyz, offsets, counts_t, pointnet2_origin_skip=skip)
    per_scene = [counts] * (len(offsets) - 1) if isinstance(counts, int) else list(counts)
    want = ref_fps(xyz, offsets, per_scene, skip)
    assert got.dtype == torch.int64
    assert torch.equal(got, want)
    return got


def room(n, seed):
    """Points on a floor, four walls and a few boxes of a 6 x 5 x 3 m room, rounded to 1 cm so
    that many distances tie exactly; centred near the origin like ScanNet scenes."""
    rng = np.random.default_rng(seed)
    faces = [((0, 0, 0), (6, 0, 0), (0, 5, 0)), ((0, 0, 0), (6, 0, 0), (0, 0, 3)),
             ((0, 5, 0), (6, 0, 0), (0, 0, 3)), ((0, 0, 0), (0, 5, 0), (0, 0, 3)),
             ((6, 0, 0), (0, 5, 0), (0, 0, 3))]
    for _ in range(4):
        o = (rng.uniform(0.5, 4.5), rng.uniform(0.5, 3.5), 0.0)
        faces += [((o[0], o[1], 0.8), (1, 0, 0), (0, 1, 0)), (o, (1, 0, 0), (0, 0, 0.8))]
    which = rng.integers(len(faces), size=n)
    a, b = rng.random((n, 1)), rng.random((n, 1))
    o, u, v = (np.array([f[k] for f in faces], np.float64)[which] for k in range(3))
    xyz = np.round(o + a * u + b * v - (3.0, 2.5, 1.5), 2)
    return torch.from_numpy(xyz.astype(np.float32))


# ----------------------------------------------------------------------------- against brute force
@pytest.mark.parametrize("n,m", [(1, 1), (7, 7), (64, 20), (300, 100), (3000, 256)])
def test_random_points_match_brute_force(n, m):
    xyz = torch.rand(n, 3) * 4 - 2
    check(xyz, [0, n], m)


@pytest.mark.parametrize("seed", [0, 1])
def test_indoor_scene_with_many_ties_matches_brute_force(seed):
    check(room(6000, seed), [0, 6000], 400)


def test_far_outlier_next_to_a_dense_scene_matches_brute_force():
    xyz = room(3000, 2)
    xyz[1234] = torch.tensor([1e5, 1e5, 50.0])
    check(xyz, [0, 3000], 300)


def test_integer_grid_all_distances_tie_matches_brute_force():
    g = torch.stack(torch.meshgrid(*[torch.arange(6.0)] * 3, indexing="ij"), -1).reshape(-1, 3)
    xyz = g[torch.randperm(len(g))]
    check(xyz, [0, len(xyz)], len(xyz))


def test_several_scenes_with_own_sizes_and_counts():
    sizes, counts = [50, 0, 400, 7, 130], [10, 0, 400, 3, 1]
    xyz = torch.randn(sum(sizes), 3)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    check(xyz, offsets, torch.tensor(counts))


def test_int_num_samples_applies_to_every_scene():
    xyz = torch.randn(90, 3)
    got = check(xyz, [0, 40, 90], 5)
    assert got[:5].min() >= 0 and got[:5].max() < 40 and got[5:].min() >= 40


def test_int32_offsets_and_counts_accepted():
    xyz = torch.randn(30, 3)
    got = furthest_point_sample(xyz, torch.tensor([0, 10, 30], dtype=torch.int32),
                                torch.tensor([4, 6], dtype=torch.int32))
    assert torch.equal(got, ref_fps(xyz, [0, 10, 30], [4, 6]))


def test_same_result_with_1_and_2_threads():
    sizes = [3000, 500, 2000, 40]
    xyz = torch.cat([room(s, seed) for seed, s in enumerate(sizes)])
    offsets = torch.tensor(np.concatenate([[0], np.cumsum(sizes)]))
    with num_threads(1):
        one = furthest_point_sample(xyz, offsets, 40)
    with num_threads(2):
        two = furthest_point_sample(xyz, offsets, 40)
    assert torch.equal(one, two)
    assert torch.equal(one, ref_fps(xyz, offsets, [40] * 4))


# ----------------------------------------------------------------------------- named edge cases
def test_spec_c4_vector():
    xyz = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 2, 0], [0.5, 0, 0]], dtype=torch.float32)
    assert furthest_point_sample(xyz, torch.tensor([0, 4]), 3).tolist() == [0, 2, 1]


def test_one_point():
    assert furthest_point_sample(torch.ones(1, 3), torch.tensor([0, 1]), 1).tolist() == [0]


def test_duplicate_points_tie_to_lower_index_and_repeat_when_exhausted():
    xyz = torch.tensor([[0, 0, 0], [1, 0, 0], [1, 0, 0], [-1, 0, 0]], dtype=torch.float32)
    # After 0 and 1, the duplicate 2 is at distance 0 with 0 and 1; then every point is.
    assert furthest_point_sample(xyz, torch.tensor([0, 4]), 4).tolist() == [0, 1, 3, 0]


@pytest.mark.parametrize("n", [5, 700])
def test_all_points_identical_repeat_the_first(n):
    xyz = torch.full((n, 3), 0.25)
    assert furthest_point_sample(xyz, torch.tensor([0, n]), 5).tolist() == [0] * 5


def test_num_samples_equal_to_scene_size_is_a_permutation():
    xyz = torch.randn(200, 3)
    got = check(xyz, [0, 200], 200)
    assert sorted(got.tolist()) == list(range(200))


def test_negative_zero_coordinates_behave_like_zero():
    xyz = torch.tensor([[0.0, -0.0, 1], [-0.0, 0.0, -1], [0.5, -0.0, 0], [-0.0, -0.0, -0.0]])
    got = check(xyz, [0, 4], 4)
    assert (torch.signbit(xyz) & (xyz == 0)).any()
    assert torch.equal(got, furthest_point_sample(xyz + 0.0, torch.tensor([0, 4]), 4))


def test_huge_coordinates_whose_distances_overflow_to_inf():
    xyz = torch.tensor([[0, 0, 0], [3e38, 0, 0], [-3e38, 0, 0], [1, 1, 1], [2e19, 0, 0]],
                       dtype=torch.float32)
    check(xyz, [0, 5], 5)


def test_zero_samples_returns_empty():
    got = furthest_point_sample(torch.randn(10, 3), torch.tensor([0, 10]), 0)
    assert got.dtype == torch.int64 and got.shape == (0,)


def test_empty_input_with_zero_samples_returns_empty():
    got = furthest_point_sample(torch.empty(0, 3), torch.tensor([0, 0]), 0)
    assert got.shape == (0,)
    assert furthest_point_sample(torch.empty(0, 3), torch.tensor([0]), 0).shape == (0,)


def test_fewer_points_than_requested_raises_naming_the_scene():
    xyz = torch.randn(13, 3)
    with pytest.raises(ValueError, match=r"scene 1 has 3 points but 5 samples were requested"):
        furthest_point_sample(xyz, torch.tensor([0, 10, 13]), torch.tensor([5, 5]))


# ----------------------------------------------------------------------------- PointNet++ skip rule
def test_origin_skip_spec_c4_vector_never_picks_the_near_origin_point():
    xyz = torch.tensor([[1, 0, 0], [0.01, 0, 0], [3, 0, 0]], dtype=torch.float32)
    off = torch.tensor([0, 3])
    # Without the rule the third pick is point 1; with it, point 1 is never picked and the
    # third pick repeats the lowest candidate at distance 0.
    assert furthest_point_sample(xyz, off, 3).tolist() == [0, 2, 1]
    assert furthest_point_sample(xyz, off, 3, pointnet2_origin_skip=True).tolist() == [0, 2, 0]


def test_origin_skip_first_point_is_picked_even_at_the_origin():
    xyz = torch.tensor([[0, 0, 0], [0.02, 0, 0], [2, 0, 0], [-1, 0, 0], [0, 0.5, 0]])
    got = check(xyz, [0, 5], 5, skip=True)
    assert got[0] == 0 and 1 not in got.tolist()


def test_origin_skip_with_every_candidate_skipped_repeats_the_first_point():
    xyz = torch.tensor([[1, 1, 1], [0.01, 0, 0], [0, 0.02, 0], [0, 0, 0],
                        [0.01, 0.01, 0], [0, 0, -0.0]], dtype=torch.float32)
    got = furthest_point_sample(xyz, torch.tensor([0, 1, 6]), torch.tensor([1, 4]),
                                pointnet2_origin_skip=True)
    assert got.tolist() == [0, 1, 1, 1, 1]


def test_origin_skip_threshold_is_the_double_1e3_on_the_float32_norm():
    # Squared norms (float32): exactly float32(1e-3) = 0.0010000000475 > 1e-3, so the official
    # kernel keeps that point; the next float below is <= 1e-3 and is skipped.
    kept = [0.01581738, 0.027382668, 0.0]
    skipped = [0.015817376, 0.027382668, 0.0]
    xyz = torch.tensor([[1, 1, 1], kept, skipped], dtype=torch.float32)
    norms = sq_norm(xyz.numpy())
    assert norms[1] == np.float32(1e-3) and float(norms[1]) > 1e-3 and float(norms[2]) <= 1e-3
    got = furthest_point_sample(xyz, torch.tensor([0, 3]), 3, pointnet2_origin_skip=True)
    assert got.tolist() == [0, 1, 0]


def test_origin_skip_random_scenes_match_brute_force():
    # A third of the points inside the 3.16 cm ball around the origin.
    xyz = torch.randn(1500, 3) * torch.tensor([[1.0], [0.02], [0.02]]).repeat(500, 1)
    xyz = xyz[torch.randperm(1500)]
    check(xyz, [0, 700, 1500], torch.tensor([300, 500]), skip=True)


# ----------------------------------------------------------------------------- errors
def test_float64_xyz_is_a_type_error():
    with pytest.raises(TypeError, match=r"xyz must have dtype float32 \(float16/bfloat16 are cast to it\), got float64"):
        furthest_point_sample(torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 4]), 2)


def test_xyz_with_two_columns_is_a_value_error():
    with pytest.raises(ValueError, match=r"xyz must have shape \[\*, 3\], got \[4, 2\]"):
        furthest_point_sample(torch.randn(4, 2), torch.tensor([0, 4]), 2)


def test_float_offsets_is_a_type_error():
    with pytest.raises(TypeError, match="offsets must have dtype int32 or int64"):
        furthest_point_sample(torch.randn(4, 3), torch.tensor([0.0, 4.0]), 2)


@pytest.mark.parametrize("offsets,match", [([1, 4], "must start at 0"), ([0, 3], "must end at"),
                                           ([0, 3, 2, 4], "non-decreasing"), ([], "at least one")])
def test_bad_offsets_are_value_errors(offsets, match):
    with pytest.raises(ValueError, match=match):
        furthest_point_sample(torch.randn(4, 3), torch.tensor(offsets, dtype=torch.int64), 1)


def test_num_samples_of_wrong_length_is_a_value_error():
    with pytest.raises(ValueError, match=r"num_samples must have shape \[2\], got \[3\]"):
        furthest_point_sample(torch.randn(4, 3), torch.tensor([0, 2, 4]), torch.tensor([1, 1, 1]))


@pytest.mark.parametrize("num_samples", [2.0, True, torch.tensor([1.0])])
def test_non_integer_num_samples_is_a_type_error(num_samples):
    with pytest.raises(TypeError, match="num_samples"):
        furthest_point_sample(torch.randn(4, 3), torch.tensor([0, 4]), num_samples)


def test_negative_num_samples_is_a_value_error():
    with pytest.raises(ValueError, match="num_samples must be >= 0, got -1 for scene 0"):
        furthest_point_sample(torch.randn(4, 3), torch.tensor([0, 4]), -1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("num_samples", [0, 2])
def test_non_finite_xyz_is_a_value_error(bad, num_samples):
    xyz = torch.randn(4, 3)
    xyz[2, 1] = bad
    with pytest.raises(ValueError, match="xyz contains NaN or inf"):
        furthest_point_sample(xyz, torch.tensor([0, 4]), num_samples)


def test_non_finite_xyz_in_one_scene_of_a_parallel_batch_is_a_value_error():
    xyz = torch.randn(4000, 3)
    xyz[3500, 0] = float("nan")
    with num_threads(2), pytest.raises(ValueError, match="xyz contains NaN or inf"):
        furthest_point_sample(xyz, torch.tensor([0, 1000, 2000, 3000, 4000]), 5)


def test_offsets_on_another_device_is_a_value_error():
    with pytest.raises(ValueError, match="same device"):
        furthest_point_sample(torch.randn(4, 3), torch.tensor([0, 4], device="meta"), 2)


# ----------------------------------------------------------------------------- CUDA
@requires_cuda
@pytest.mark.parametrize("skip", [False, True])
def test_cuda_matches_cpu(skip):
    sizes = [3000, 1, 700, 2500]
    xyz = torch.cat([room(s, seed) for seed, s in enumerate(sizes)])
    offsets = torch.tensor(np.concatenate([[0], np.cumsum(sizes)]))
    counts = torch.tensor([500, 1, 700, 64])
    cpu = furthest_point_sample(xyz, offsets, counts, pointnet2_origin_skip=skip)
    gpu = furthest_point_sample(xyz.to("cuda"), offsets.to("cuda"), counts.to("cuda"),
                                pointnet2_origin_skip=skip)
    assert gpu.device.type == "cuda"
    assert torch.equal(gpu.cpu(), cpu)
