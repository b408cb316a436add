"""Public operators of sphmask. Each is a thin, validating wrapper over ``torch.ops.sphmask``."""
from sphmask.ops.ball_query import ball_query  # noqa: F401
from sphmask.ops.sphere import assemble_masks, rays_from_masks, sphere_coords  # noqa: F401
from sphmask.ops.voxelize import voxel_mean, voxelize  # noqa: F401
