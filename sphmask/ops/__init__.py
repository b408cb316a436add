"""Public operators of sphmask. Each is a thin, validating wrapper over ``torch.ops.sphmask``."""
from sphmask.ops import _registrations  # noqa: F401  (fake kernels, autograd, autocast of the ops)
from sphmask.ops.ball_query import ball_query
from sphmask.ops.fps import furthest_point_sample
from sphmask.ops.segment import segment_graph, segment_mesh, segment_points
from sphmask.ops.sphere import assemble_masks, rays_from_masks, sphere_coords
from sphmask.ops.voxelize import voxel_mean, voxelize

__all__ = [
    "assemble_masks", "ball_query", "furthest_point_sample", "rays_from_masks", "segment_graph",
    "segment_mesh", "segment_points", "sphere_coords", "voxel_mean", "voxelize",
]
