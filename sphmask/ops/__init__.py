"""Public operators of sphmask. Each is a thin, validating wrapper over ``torch.ops.sphmask``."""
