"""Every CUDA kernel against its CPU kernel (make gpu-check runs these with ``pytest -m cuda``).

Random inputs up to 250k points and the named edge cases; indices, masks and sectors must be
identical (the kernels share their per-element float32 code, csrc/<op>/<op>.h), float outputs
within the stated tolerance; each op twice on CUDA gives bit-identical results.
"""
import pytest
import torch

import sphmask.ops as O

pytestmark = pytest.mark.cuda
SIZES = [0, 1, 1000, 50_000, 250_000]
#: voxel_mean sums in the same point order on both devices but CUDA may contract a*b+c: 1 ulp-ish.
FLOAT_TOL = dict(rtol=1e-6, atol=1e-6)


def _points(n, seed, dup=False):
    g = torch.Generator().manual_seed(seed)
    xyz = torch.rand(n, 3, generator=g) * 6
    if dup and n > 1:
        xyz[n // 2:] = xyz[: n - n // 2]  # duplicates and ties
    return xyz


def _same(cpu_out, cuda_fn, *args):
    a, b = cuda_fn(*args), cuda_fn(*args)
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    cpu_out = cpu_out if isinstance(cpu_out, tuple) else (cpu_out,)
    for x, y, ref in zip(a, b, cpu_out):
        assert torch.equal(x, y), "not deterministic across two CUDA runs"
        x = x.cpu()
        if x.is_floating_point():
            torch.testing.assert_close(x, ref, **FLOAT_TOL)
        else:
            assert torch.equal(x, ref)


def _to(args, dev):
    return tuple(a.to(dev) if torch.is_tensor(a) else a for a in args)


def _check(fn, *args):
    _same(fn(*args), lambda *a: fn(*_to(a, "cuda")), *args)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dup", [False, True], ids=["random", "duplicates"])
def test_voxelize_and_voxel_mean(n, dup):
    xyz = _points(n, n, dup)
    coords = torch.cat([torch.zeros(n, 1, dtype=torch.int64), (xyz * 50).long()], 1)
    _check(O.voxelize, coords)
    vc, p2v = O.voxelize(coords)
    _check(O.voxel_mean, torch.cat([xyz, xyz * 2], 1), p2v, vc.shape[0])


def test_voxelize_int32_boundaries():
    big = torch.iinfo(torch.int32)
    coords = torch.tensor([[0, big.min, big.max, 0], [0, big.max, big.min, -1], [0, big.min, big.max, 0]])
    _check(O.voxelize, coords)


@pytest.mark.parametrize("n", [1, 1000, 50_000, 250_000])
@pytest.mark.parametrize("dup", [False, True], ids=["random", "duplicates"])
def test_furthest_point_sample(n, dup):
    xyz = _points(n, n, dup)
    half = n // 2
    offsets = torch.tensor([0, half, n])
    counts = torch.tensor([min(half, 512), min(n - half, 512)])
    _check(lambda x, o, c: O.furthest_point_sample(x, o, c), xyz, offsets, counts)
    _check(lambda x, o, c: O.furthest_point_sample(x, o, c, pointnet2_origin_skip=True), xyz, offsets, counts)


@pytest.mark.parametrize("n", [1, 1000, 50_000, 250_000])
def test_ball_query(n):
    xyz = _points(n, n, dup=True)
    centers = xyz[: min(n, 2048)].clone()
    _check(O.ball_query, xyz, torch.tensor([0, n]), centers, torch.tensor([0, centers.shape[0]]), 0.2, 32)


def test_ball_query_radius_boundary_and_empty_balls():
    xyz = torch.tensor([[0., 0, 0], [1, 0, 0], [0, 2, 0]])
    centers = torch.tensor([[0., 0, 0], [10, 10, 10]])
    _check(O.ball_query, xyz, torch.tensor([0, 3]), centers, torch.tensor([0, 2]), 1.0, 4)


@pytest.mark.parametrize("n", [1, 1000, 50_000, 250_000])
def test_sphere_ops(n):
    xyz = _points(n, n, dup=True)
    q = 64 if n >= 50_000 else 16
    centers = torch.cat([xyz[:1], torch.rand(q - 1, 3) * 6])  # a centre on a point: radius 0
    _check(O.sphere_coords, xyz, centers)
    masks = torch.rand(q, n) > 0.5
    _check(O.rays_from_masks, xyz, centers, masks)
    rays, mig = torch.rand(q, 25) * 3, torch.rand(q, n) * 0.1
    _check(lambda *a: O.assemble_masks(*a), xyz, centers, rays, mig)


def test_sphere_sector_boundaries_signed_zero():
    pts = torch.tensor([[-1., -0.0, 0], [-1, 0.0, 0], [0, 0, 1], [0, 0, -1], [1, 0, 0]])
    _check(O.sphere_coords, pts, torch.zeros(1, 3))


def test_voxel_mean_gradcheck_on_cuda():
    values = torch.randn(50, 3, dtype=torch.float64, device="cuda", requires_grad=True)
    p2v = torch.randint(0, 10, (50,), device="cuda")
    p2v[:10] = torch.arange(10, device="cuda")
    assert torch.autograd.gradcheck(lambda v: O.voxel_mean(v, p2v, 10), (values,))
