"""Public operators of sphmask. Each is a thin, validating wrapper over ``torch.ops.sphmask``."""
from sphmask.ops.fps import furthest_point_sample  # noqa: F401
