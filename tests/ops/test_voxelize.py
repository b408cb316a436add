"""voxelize and voxel_mean against plain Python/NumPy references (spec §1.8).

The voxelize reference is the official rule written out: scan the rows in order, a row not seen
before opens the next voxel. The voxel_mean reference sums each voxel's rows in float64.
"""
import numpy as np
import pytest
import torch

from sphmask.ops import voxel_mean, voxelize
from tests.conftest import num_threads, requires_cuda


# ----------------------------------------------------------------------------- references
def ref_voxelize(coords):
    """(voxel_coords [M,4], point2voxel [N]) as int64 numpy arrays, first-appearance numbering."""
    rows = [tuple(r) for r in coords.tolist()]
    ids, voxels, p2v = {}, [], []
    for r in rows:
        if r not in ids:
            ids[r] = len(voxels)
            voxels.append(r)
        p2v.append(ids[r])
    return np.array(voxels, np.int64).reshape(-1, 4), np.array(p2v, np.int64)


def ref_voxel_mean(values, point2voxel, num_voxels):
    """[M, C] float64 means, 0 where a voxel has no point."""
    v = values.double().numpy()
    p = point2voxel.numpy()
    out = np.zeros((num_voxels, v.shape[1]))
    for m in range(num_voxels):
        rows = v[p == m]
        if len(rows):
            out[m] = rows.sum(0) / len(rows)
    return out


def random_coords(n, batches=3, extent=6, dtype=torch.int64, seed=0):
    """Scene-major rows (batch, x, y, z) with coordinates in [-extent, extent), many duplicates."""
    g = torch.Generator().manual_seed(seed)
    b = torch.sort(torch.randint(0, batches, (n, 1), generator=g), dim=0).values
    xyz = torch.randint(-extent, extent, (n, 3), generator=g)
    return torch.cat([b, xyz], 1).to(dtype)


def assert_voxelize_matches(coords):
    vc, p2v = voxelize(coords)
    ref_vc, ref_p2v = ref_voxelize(coords)
    assert vc.dtype == torch.int32 and p2v.dtype == torch.int64
    np.testing.assert_array_equal(vc.numpy(), ref_vc)
    np.testing.assert_array_equal(p2v.numpy(), ref_p2v)


# ----------------------------------------------------------------------------- voxelize
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("n", [2, 57, 1000, 20000])
def test_voxelize_matches_reference_on_random_rows(n, dtype):
    assert_voxelize_matches(random_coords(n, dtype=dtype, seed=n))


def test_voxelize_matches_reference_on_sparse_rows():
    # Few duplicates: nearly every row opens its own voxel.
    assert_voxelize_matches(random_coords(5000, extent=1000, seed=1))


def test_voxelize_empty_input():
    vc, p2v = voxelize(torch.empty((0, 4), dtype=torch.int64))
    assert vc.shape == (0, 4) and vc.dtype == torch.int32
    assert p2v.shape == (0,) and p2v.dtype == torch.int64


def test_voxelize_one_point():
    vc, p2v = voxelize(torch.tensor([[0, 5, -3, 7]]))
    assert vc.tolist() == [[0, 5, -3, 7]]
    assert p2v.tolist() == [0]


def test_voxelize_duplicate_points_numbered_by_first_appearance():
    a, b, c = [0, 1, 1, 1], [0, 2, 0, 0], [0, 0, 0, 9]
    vc, p2v = voxelize(torch.tensor([b, a, b, c, a, a]))
    assert vc.tolist() == [b, a, c]
    assert p2v.tolist() == [0, 1, 0, 2, 1, 1]


def test_voxelize_all_points_in_one_voxel():
    vc, p2v = voxelize(torch.tensor([[1, 4, 4, 4]] * 100, dtype=torch.int32))
    assert vc.tolist() == [[1, 4, 4, 4]]
    assert p2v.tolist() == [0] * 100


def test_voxelize_negative_coordinates():
    coords = torch.tensor([[0, -1, -1, -1], [0, 0, 0, 0], [0, -1, -1, -1], [0, -2147483648, 5, 2147483647]])
    assert_voxelize_matches(coords)


def test_voxelize_same_xyz_in_two_batches_gives_two_voxels():
    vc, p2v = voxelize(torch.tensor([[0, 3, 3, 3], [7, 3, 3, 3], [0, 3, 3, 3]]))
    assert vc.tolist() == [[0, 3, 3, 3], [7, 3, 3, 3]]
    assert p2v.tolist() == [0, 1, 0]


def test_voxelize_full_int32_range_in_every_column():
    # Four columns of 32 bits each do not fit one 64-bit key: the kernel keys on whole rows.
    g = torch.Generator().manual_seed(3)
    base = torch.randint(-2**31, 2**31, (300, 4), generator=g)
    base[:2] = torch.tensor([[-2**31] * 4, [2**31 - 1] * 4])
    coords = base[torch.randint(0, 300, (2000,), generator=g)]
    assert_voxelize_matches(coords)


def test_voxelize_same_result_with_1_and_2_threads():
    coords = random_coords(30000, extent=20, seed=5)
    with num_threads(1):
        one = voxelize(coords)
    with num_threads(2):
        two = voxelize(coords)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])


def test_voxelize_rejects_float_coords():
    with pytest.raises(TypeError, match="coords"):
        voxelize(torch.zeros((3, 4)))


def test_voxelize_rejects_non_tensor():
    with pytest.raises(TypeError, match="coords"):
        voxelize([[0, 1, 2, 3]])


def test_voxelize_rejects_three_columns():
    with pytest.raises(ValueError, match=r"coords must have shape \[\*, 4\]"):
        voxelize(torch.zeros((3, 3), dtype=torch.int64))


def test_voxelize_rejects_int64_outside_int32():
    with pytest.raises(ValueError, match="int32"):
        voxelize(torch.tensor([[0, 0, 0, 2**31]]))


def test_voxelize_coordinates_of_1e30_are_not_reported_as_an_int32_range_only():
    """Issue 15: a coordinate of 1e30 quantized with .long() becomes -2**63, and the message gave
    only the range [-9223372036854775808, 37]. It now names the row and the likely cause."""
    xyz = torch.tensor([[0.1, 0.2, 0.37], [1e30, 0.0, 0.0]]) * 100
    coords = torch.cat([torch.zeros(2, 1, dtype=torch.int64), xyz.long()], 1)
    with pytest.raises(ValueError) as info:
        voxelize(coords)
    msg = str(info.value)
    assert "first bad row 1" in msg
    assert "converting a float beyond the int64 range (e.g. a coordinate of 1e30)" in msg


def test_voxelize_int32_overflow_message_without_int64_extreme_has_no_float_hint():
    coords = torch.tensor([[0, 2**31, 0, 0]])
    with pytest.raises(ValueError, match=r"range \[0, 2147483648\]; first bad row 0") as info:
        voxelize(coords)
    assert "1e30" not in str(info.value)


@requires_cuda
def test_voxelize_cuda_matches_cpu():
    coords = random_coords(20000, extent=10, seed=7)
    cpu = voxelize(coords)
    gpu = voxelize(coords.cuda())
    assert torch.equal(cpu[0], gpu[0].cpu()) and torch.equal(cpu[1], gpu[1].cpu())


# ----------------------------------------------------------------------------- voxel_mean
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [1, 64, 3000, 20000])
def test_voxel_mean_matches_reference(n, dtype):
    _, p2v = voxelize(random_coords(n, seed=n))
    m = int(p2v.max()) + 1
    values = torch.randn(n, 6, dtype=dtype)
    out = voxel_mean(values, p2v, m)
    assert out.dtype == dtype and out.shape == (m, 6)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(out.double().numpy(), ref_voxel_mean(values, p2v, m), rtol=tol, atol=tol)


def test_voxel_mean_voxel_without_points_is_zero():
    values = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = voxel_mean(values, torch.tensor([2, 0]), 4)
    assert out.tolist() == [[3.0, 4.0], [0.0, 0.0], [1.0, 2.0], [0.0, 0.0]]


def test_voxel_mean_empty_points_gives_zero_rows():
    out = voxel_mean(torch.empty((0, 3)), torch.empty((0,), dtype=torch.int64), 2)
    assert out.shape == (2, 3) and not out.any()


def test_voxel_mean_empty_points_and_voxels():
    out = voxel_mean(torch.empty((0, 3)), torch.empty((0,), dtype=torch.int64), 0)
    assert out.shape == (0, 3)


def test_voxel_mean_gradcheck_float64():
    _, p2v = voxelize(random_coords(40, extent=2, seed=11))
    values = torch.randn(40, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: voxel_mean(v, p2v, int(p2v.max()) + 2), (values,))


def test_voxel_mean_backward_divides_grad_by_voxel_size():
    values = torch.zeros(4, 1, requires_grad=True)
    p2v = torch.tensor([0, 1, 0, 0])
    voxel_mean(values, p2v, 2).backward(torch.tensor([[3.0], [5.0]]))
    assert values.grad.flatten().tolist() == [1.0, 5.0, 1.0, 1.0]


def test_voxel_mean_same_result_with_1_and_2_threads():
    _, p2v = voxelize(random_coords(30000, extent=20, seed=5))
    m = int(p2v.max()) + 1
    values = torch.randn(30000, 6, requires_grad=True)
    grad = torch.randn(m, 6)
    results = []
    for t in (1, 2):
        with num_threads(t):
            values.grad = None
            out = voxel_mean(values, p2v, m)
            out.backward(grad)
            results.append((out.detach(), values.grad.clone()))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


def test_voxel_mean_rejects_point2voxel_out_of_range():
    with pytest.raises(ValueError, match="point2voxel"):
        voxel_mean(torch.zeros(2, 3), torch.tensor([0, 2]), 2)


def test_voxel_mean_rejects_negative_point2voxel():
    with pytest.raises(ValueError, match="point2voxel"):
        voxel_mean(torch.zeros(2, 3), torch.tensor([0, -1]), 2)


def test_voxel_mean_rejects_int32_point2voxel():
    with pytest.raises(TypeError, match="point2voxel"):
        voxel_mean(torch.zeros(2, 3), torch.tensor([0, 1], dtype=torch.int32), 2)


def test_voxel_mean_rejects_integer_values():
    with pytest.raises(TypeError, match="values"):
        voxel_mean(torch.zeros(2, 3, dtype=torch.int64), torch.tensor([0, 1]), 2)


def test_voxel_mean_rejects_one_dimensional_values():
    with pytest.raises(ValueError, match="values"):
        voxel_mean(torch.zeros(2), torch.tensor([0, 1]), 2)


def test_voxel_mean_rejects_length_mismatch():
    with pytest.raises(ValueError, match="point2voxel"):
        voxel_mean(torch.zeros(3, 2), torch.tensor([0, 1]), 2)


def test_voxel_mean_rejects_float_num_voxels():
    with pytest.raises(TypeError, match="num_voxels"):
        voxel_mean(torch.zeros(2, 3), torch.tensor([0, 1]), 2.0)


def test_voxel_mean_rejects_tensors_on_different_devices():
    with pytest.raises(ValueError, match="same device"):
        voxel_mean(torch.zeros(2, 3), torch.tensor([0, 1], device="meta"), 2)


@requires_cuda
def test_voxel_mean_cuda_matches_cpu():
    _, p2v = voxelize(random_coords(20000, seed=13))
    m = int(p2v.max()) + 1
    values = torch.randn(20000, 6, dtype=torch.float64)
    grad = torch.randn(m, 6, dtype=torch.float64)
    v_cpu, v_gpu = values.clone().requires_grad_(), values.cuda().requires_grad_()
    out_cpu, out_gpu = voxel_mean(v_cpu, p2v, m), voxel_mean(v_gpu, p2v.cuda(), m)
    out_cpu.backward(grad)
    out_gpu.backward(grad.cuda())
    assert torch.equal(out_cpu, out_gpu.cpu()) and torch.equal(v_cpu.grad, v_gpu.grad.cpu())
