"""sphmask: Spherical Mask (CVPR 2024) 3D point-cloud instance segmentation.

Importing the package never fails because the compiled ops are missing; calling an op then
raises an ``ImportError`` that says how to build them (see ``sphmask._ext``).
"""
from sphmask._ext import compiler_version, cuda_version, has_cuda, is_available

__version__ = "0.1.0"

__all__ = ["__version__", "compiler_version", "cuda_version", "has_cuda", "is_available"]
