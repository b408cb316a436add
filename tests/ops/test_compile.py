"""torch.compile (inductor, CPU) of functions calling the ops gives the eager result.

Two functions: one calls ``torch.ops.sphmask.*`` directly, so every op is traced into the graph
through its fake kernel (data-dependent output sizes included, which needs dynamo's
``capture_dynamic_output_shape_ops``); the other calls the public wrappers as model code does
(their input checks read tensor values, which splits the graph: fullgraph=False) and
differentiates through ``voxel_mean``. Few compiles, on small inputs; inductor's C++ compiles
still take about a minute on two shared cores, hence ``slow``.
"""
import pytest
import torch
import torch._dynamo

import sphmask.ops as O

ops = torch.ops.sphmask
pytestmark = pytest.mark.slow


def _inputs():
    g = torch.Generator().manual_seed(3)
    xyz = torch.rand(200, 3, generator=g)
    coords = torch.cat([torch.zeros(200, 1, dtype=torch.int64), (xyz * 5).long()], 1)
    v = torch.tensor([[0., 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0.2]])
    f = torch.tensor([[0, 1, 2], [1, 3, 2]])
    return xyz, coords, v, f


def _all_ops(xyz, coords, v, f):
    vc, p2v = ops.voxelize(coords)
    means = ops.voxel_mean(xyz, p2v, vc.shape[0])
    back = ops.voxel_mean_backward(means, p2v, vc.shape[0])
    offsets = torch.tensor([0, xyz.shape[0]])
    picks = ops.furthest_point_sample(xyz, offsets, torch.tensor([16]), False)
    centers = xyz[picks]
    idx, cnt = ops.ball_query(xyz, offsets, centers, torch.tensor([0, 16]), 0.3, 8)
    radius, sector = ops.sphere_coords(xyz, centers, 5, 5)
    masks = radius < 0.4
    rays = ops.rays_from_masks(xyz, centers, masks, 5, 5, 1e-6)
    assembled = ops.assemble_masks(xyz, centers, rays, radius * 0.01, 2.0, 5, 5)
    normals = ops.segment_vertex_normals(v, f)
    edges = f[:, [0, 1, 0, 2, 2, 1]].reshape(-1, 2)
    weights = ops.segment_edge_weights(v, normals, edges, True)
    seg = ops.segment_graph(edges, weights, v.shape[0], 0.01, 1)
    return vc, p2v, means * 2, back, picks, idx, cnt, radius + 1, sector, rays, assembled, normals, weights, seg


def _wrappers(xyz, values, coords):
    vc, p2v = O.voxelize(coords)
    means = O.voxel_mean(values, p2v, vc.shape[0])
    centers = means[:16, :3].detach()
    masks = O.assemble_masks(xyz, centers, torch.full((16, 25), 0.3), torch.zeros(16, xyz.shape[0]))
    return (means ** 2).sum(), masks


def _assert_equal(got, want):
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        assert a.dtype == b.dtype and a.shape == b.shape, f"output {i}: {a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}"
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6, msg=f"output {i}")


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_compiled_torch_ops_match_eager_with_data_dependent_sizes():
    args = _inputs()
    with torch._dynamo.config.patch(capture_dynamic_output_shape_ops=True, capture_scalar_outputs=True):
        compiled = torch.compile(_all_ops, fullgraph=False)
        got = compiled(*args)
    _assert_equal(got, _all_ops(*args))


def test_compiled_wrappers_match_eager_and_voxel_mean_gradient():
    xyz, coords, _, _ = _inputs()
    values = torch.cat([xyz, xyz * 2], 1).requires_grad_()
    want = _wrappers(xyz, values, coords)
    (want_grad,) = torch.autograd.grad(want[0], values)
    got = torch.compile(_wrappers, fullgraph=False)(xyz, values, coords)
    (got_grad,) = torch.autograd.grad(got[0], values)
    _assert_equal(got, want)
    torch.testing.assert_close(got_grad, want_grad, rtol=1e-6, atol=1e-6)
