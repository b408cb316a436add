"""Public operators of sphmask. Each is a thin, validating wrapper over ``torch.ops.sphmask``."""
from sphmask.ops.segment import segment_graph, segment_mesh, segment_points  # noqa: F401
