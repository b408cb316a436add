"""How the compiled ops plug into torch: fake kernels, autograd and autocast rules.

The schemas and the CPU/CUDA kernels live in C++ (csrc/sphmask.cpp declares the schemas with
``TORCH_LIBRARY`` and points here with ``set_python_module``). This module adds, per op:

* a fake (meta) kernel, so ``torch.compile``/``torch.export`` can trace calls without running
  them: output shapes and dtypes from the input shapes, and an unbacked size from
  ``ctx.new_dynamic_size()`` where the output size depends on the data (``voxelize``: number of
  voxels; ``furthest_point_sample``: sum of the sample counts, which live in a tensor);
* autograd for ``voxel_mean`` (the only differentiable op) registered on the op itself, so the
  gradient is there for ``torch.ops.sphmask.voxel_mean`` as much as for the wrapper. Its backward
  ``voxel_mean_backward`` is linear and its adjoint is ``voxel_mean``, so both are registered and
  the op is differentiable to any order;
* autocast rules: under ``torch.autocast`` on CPU or CUDA, half/bfloat16 inputs are cast to
  float32 before the kernel runs (float64 is left alone, as torch's own float32 ops do). The
  kernels compute in float32 because the sphere and FPS ops reproduce the official float32
  arithmetic bit for bit, and averaging or thresholding in half precision would lose it
  (docs/ops.md has the rule per op). The public wrappers cast the same way outside autocast.

Imported by :mod:`sphmask.ops`; does nothing when the compiled library is missing (the wrappers
then raise the build instructions at the first call).
"""
import torch

from sphmask import _ext

_NS = "sphmask"
# Ops with floating-point tensor inputs, which get the float32 autocast rule.
_FLOAT_INPUT_OPS = (
    "voxel_mean", "voxel_mean_backward", "furthest_point_sample", "ball_query", "sphere_coords",
    "rays_from_masks", "assemble_masks", "segment_graph", "segment_vertex_normals", "segment_edge_weights",
)


def _fake_voxelize(coords):
    torch._check(coords.dim() == 2 and coords.size(1) == 4, lambda: "voxelize: coords must be [N, 4]")
    n = coords.size(0)
    num_voxels = torch.library.get_ctx().new_dynamic_size()
    torch._check(num_voxels <= n)
    return (coords.new_empty((num_voxels, 4), dtype=torch.int32),
            coords.new_empty((n,), dtype=torch.int64))


def _fake_voxel_mean(values, point2voxel, num_voxels):
    torch._check(values.dim() == 2, lambda: "voxel_mean: values must be 2-D")
    torch._check(point2voxel.size(0) == values.size(0), lambda: "voxel_mean: one voxel per value row")
    return values.new_empty((num_voxels, values.size(1)))


def _fake_voxel_mean_backward(grad, point2voxel, num_voxels):
    torch._check(grad.dim() == 2 and grad.size(0) == num_voxels,
                 lambda: "voxel_mean_backward: grad must be [num_voxels, C]")
    return grad.new_empty((point2voxel.size(0), grad.size(1)))


def _fake_furthest_point_sample(xyz, offsets, num_samples, skip_near_origin):
    torch._check(num_samples.dim() == 1 and num_samples.numel() == offsets.numel() - 1,
                 lambda: "furthest_point_sample: num_samples must be [B]")
    total = torch.library.get_ctx().new_dynamic_size()
    torch._check(total <= xyz.size(0))
    return xyz.new_empty((total,), dtype=torch.int64)


def _fake_ball_query(xyz, offsets, centers, center_offsets, radius, k):
    q = centers.size(0)
    return (centers.new_empty((q, k), dtype=torch.int64), centers.new_empty((q,), dtype=torch.int32))


def _fake_sphere_coords(points, centers, n_azimuth, n_polar):
    shape = (centers.size(0), points.size(0))
    return points.new_empty(shape, dtype=torch.float32), points.new_empty(shape, dtype=torch.int64)


def _fake_rays_from_masks(points, centers, masks, n_azimuth, n_polar, empty_value):
    return points.new_empty((centers.size(0), n_azimuth * n_polar), dtype=torch.float32)


def _fake_assemble_masks(points, centers, rays, migration, migration_scale, n_azimuth, n_polar):
    return points.new_empty((centers.size(0), points.size(0)), dtype=torch.bool)


def _fake_segment_graph(edges, weights, num_vertices, k_thresh, min_size):
    return edges.new_empty((num_vertices,), dtype=torch.int64)


def _fake_segment_vertex_normals(vertices, faces):
    return vertices.new_empty((vertices.size(0), 3), dtype=torch.float32)


def _fake_segment_edge_weights(points, normals, edges, oriented):
    return points.new_empty((edges.size(0),), dtype=torch.float32)


_FAKES = {
    "voxelize": _fake_voxelize,
    "voxel_mean": _fake_voxel_mean,
    "voxel_mean_backward": _fake_voxel_mean_backward,
    "furthest_point_sample": _fake_furthest_point_sample,
    "ball_query": _fake_ball_query,
    "sphere_coords": _fake_sphere_coords,
    "rays_from_masks": _fake_rays_from_masks,
    "assemble_masks": _fake_assemble_masks,
    "segment_graph": _fake_segment_graph,
    "segment_vertex_normals": _fake_segment_vertex_normals,
    "segment_edge_weights": _fake_segment_edge_weights,
}


def _save_point2voxel(ctx, inputs, output):
    _, point2voxel, num_voxels = inputs
    ctx.save_for_backward(point2voxel)
    ctx.num_voxels = num_voxels


def _voxel_mean_grad(ctx, grad):
    (point2voxel,) = ctx.saved_tensors
    return torch.ops.sphmask.voxel_mean_backward(grad.contiguous(), point2voxel, ctx.num_voxels), None, None


def _voxel_mean_backward_grad(ctx, grad):
    (point2voxel,) = ctx.saved_tensors
    return torch.ops.sphmask.voxel_mean(grad.contiguous(), point2voxel, ctx.num_voxels), None, None


def _register() -> None:
    for name, fake in _FAKES.items():
        torch.library.register_fake(f"{_NS}::{name}", fake)
    torch.library.register_autograd(f"{_NS}::voxel_mean", _voxel_mean_grad, setup_context=_save_point2voxel)
    torch.library.register_autograd(f"{_NS}::voxel_mean_backward", _voxel_mean_backward_grad,
                                    setup_context=_save_point2voxel)
    for name in _FLOAT_INPUT_OPS:
        for device_type in ("cpu", "cuda"):
            torch.library.register_autocast(f"{_NS}::{name}", device_type, torch.float32)


if _ext.is_available():
    _register()
