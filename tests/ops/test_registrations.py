"""The ops as torch sees them: schema, fake kernels, autograd and autocast registrations.

``torch.library.opcheck`` runs each op for real and through FakeTensor / AOT dispatch and compares
(schema and mutation checks, fake-kernel shapes and dtypes against the real outputs, autograd
registered on the op, dynamic shapes). The autocast tests check that half/bfloat16 inputs give
the float32 result.
"""
import pytest
import torch

import sphmask.ops as O
from sphmask.ops._registrations import _FAKES, _FLOAT_INPUT_OPS

ops = torch.ops.sphmask


def _scene(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, generator=g)


def _mesh():
    v = torch.tensor([[0., 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0.2], [0.5, 0.5, 1]])
    f = torch.tensor([[0, 1, 2], [1, 3, 2], [0, 1, 4], [1, 3, 4]])
    return v, f


def opcheck_cases():
    """(op name, args) for every op; float inputs of the differentiable op require grad."""
    xyz = _scene()
    coords = torch.cat([torch.zeros(40, 1, dtype=torch.int64), torch.randint(0, 4, (40, 3))], 1)
    p2v = torch.tensor([0, 2, 1, 2, 0, 3])
    centers = xyz[:5].clone()
    masks = torch.rand(5, 64) > 0.5
    v, f = _mesh()
    edges = f[:, [0, 1, 0, 2, 2, 1]].reshape(-1, 2)
    normals = ops.segment_vertex_normals(v, f)
    return [
        ("voxelize", (coords,)),
        ("voxel_mean", (torch.randn(6, 3, dtype=torch.float64, requires_grad=True), p2v, 4)),
        ("voxel_mean_backward", (torch.randn(4, 3, dtype=torch.float64, requires_grad=True), p2v, 4)),
        ("furthest_point_sample", (xyz, torch.tensor([0, 30, 64]), torch.tensor([7, 9]), False)),
        ("ball_query", (xyz, torch.tensor([0, 64]), centers, torch.tensor([0, 5]), 0.3, 8)),
        ("sphere_coords", (xyz, centers, 5, 5)),
        ("rays_from_masks", (xyz, centers, masks, 5, 5, 1e-6)),
        ("assemble_masks", (xyz, centers, torch.rand(5, 25), torch.rand(5, 64) * 0.1, 2.0, 5, 5)),
        ("segment_graph", (edges, ops.segment_edge_weights(v, normals, edges, True), 5, 0.01, 1)),
        ("segment_vertex_normals", (v, f)),
        ("segment_edge_weights", (v, normals, edges, True)),
    ]


def test_every_op_has_a_fake_kernel_and_an_opcheck_case():
    schema_ops = {n.split("::")[1] for n in torch._C._dispatch_get_all_op_names() if n.startswith("sphmask::")}
    assert schema_ops == set(_FAKES) == {name for name, _ in opcheck_cases()}
    assert set(_FLOAT_INPUT_OPS) == schema_ops - {"voxelize"}


@pytest.mark.parametrize("name,args", opcheck_cases(), ids=[c[0] for c in opcheck_cases()])
def test_opcheck(name, args):
    torch.library.opcheck(getattr(ops, name).default, args)


def test_voxelize_fake_kernel_on_empty_input():
    torch.library.opcheck(ops.voxelize.default, (torch.zeros(0, 4, dtype=torch.int64),))


def test_voxel_mean_gradient_through_torch_ops_without_wrapper():
    values = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    p2v = torch.tensor([0, 1, 1, 2, 2, 2])
    assert torch.autograd.gradcheck(lambda v: ops.voxel_mean(v, p2v, 3), (values,))


def test_voxel_mean_second_order_gradient():
    values = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    p2v = torch.tensor([0, 1, 1, 2, 2, 2])
    assert torch.autograd.gradgradcheck(lambda v: O.voxel_mean(v, p2v, 3) ** 2, (values,))


# ----------------------------------------------------------------------------- autocast
def _autocast_cases():
    """(name, fn(cast)) for each public op with float inputs; ``cast`` is applied to every float
    input, so the same call runs on half tensors and on float32 tensors holding the same values."""
    xyz = torch.rand(300, 3) * 4
    centers = xyz[:8].clone()
    masks = torch.rand(8, 300) > 0.5
    rays = torch.rand(8, 25)
    migration = torch.rand(8, 300) * 0.1
    v, f = _mesh()
    return [
        ("voxel_mean", lambda c: O.voxel_mean(c(xyz), torch.arange(300) % 7, 7)),
        ("furthest_point_sample", lambda c: O.furthest_point_sample(c(xyz), torch.tensor([0, 300]), 12)),
        ("ball_query", lambda c: O.ball_query(c(xyz), torch.tensor([0, 300]), c(centers), torch.tensor([0, 8]),
                                              0.5, 16)),
        ("sphere_coords", lambda c: O.sphere_coords(c(xyz), c(centers))),
        ("rays_from_masks", lambda c: O.rays_from_masks(c(xyz), c(centers), masks)),
        ("assemble_masks", lambda c: O.assemble_masks(c(xyz), c(centers), c(rays), c(migration))),
        ("segment_mesh", lambda c: O.segment_mesh(c(v), f, min_vertices=1)),
        ("segment_points", lambda c: O.segment_points(c(xyz), min_points=5)),
    ]


def _assert_identical(got, want):
    got, want = (got, want) if isinstance(got, tuple) else ((got,), (want,))
    for a, b in zip(got, want):
        assert a.dtype == b.dtype, (a.dtype, b.dtype)
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name,fn", _autocast_cases(), ids=[c[0] for c in _autocast_cases()])
def test_half_inputs_under_cpu_autocast_compute_in_float32(name, fn, dtype):
    """Half inputs give exactly the float32 result on the same (half-rounded) values: the op
    upcasts and computes in float32, and its float outputs are float32."""
    with torch.autocast("cpu", dtype=dtype):
        got = fn(lambda t: t.to(dtype))
    _assert_identical(got, fn(lambda t: t.to(dtype).float()))


@pytest.mark.parametrize("name,fn", _autocast_cases()[:6], ids=[c[0] for c in _autocast_cases()[:6]])
def test_half_inputs_outside_autocast_compute_in_float32(name, fn):
    _assert_identical(fn(lambda t: t.half()), fn(lambda t: t.half().float()))


def test_torch_ops_autocast_rule_casts_half_to_float32():
    xyz = _scene().half()
    with torch.autocast("cpu", dtype=torch.float16):
        radius, sector = ops.sphere_coords(xyz, xyz[:3].contiguous(), 5, 5)
    assert radius.dtype == torch.float32 and sector.dtype == torch.int64
    want_r, want_s = ops.sphere_coords(xyz.float(), xyz[:3].float().contiguous(), 5, 5)
    torch.testing.assert_close(radius, want_r, rtol=0, atol=0)
    assert torch.equal(sector, want_s)


def test_voxel_mean_autocast_keeps_float64():
    values = torch.randn(5, 2, dtype=torch.float64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ops.voxel_mean(values, torch.tensor([0, 0, 1, 1, 1]), 2)
    assert out.dtype == torch.float64


def test_voxel_mean_half_input_gradient_reaches_the_half_leaf():
    values = torch.randn(6, 2).half().requires_grad_()
    with torch.autocast("cpu", dtype=torch.float16):
        out = O.voxel_mean(values, torch.tensor([0, 1, 1, 2, 2, 2]), 3)
    assert out.dtype == torch.float32
    out.sum().backward()
    assert values.grad.dtype == torch.float16
    torch.testing.assert_close(values.grad.float(), torch.tensor([1, .5, .5, 1 / 3, 1 / 3, 1 / 3]).repeat(2, 1).T,
                               rtol=1e-3, atol=1e-3)
