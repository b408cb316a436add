"""sphmask: Spherical Mask (CVPR 2024) 3D point-cloud instance segmentation.

Importing the package never fails because the compiled ops are missing; calling an op then
raises an ``ImportError`` that says how to build them (see ``sphmask._ext``).
"""
from sphmask._ext import compiler_version, cuda_version, has_cuda, is_available

__version__ = "0.1.0"

__all__ = ["Segmenter", "__version__", "build_model", "compiler_version", "cuda_version", "has_cuda", "is_available"]


def __getattr__(name):
    # build_model and Segmenter pull in torch and spconv; import them on first use so `import sphmask`
    # stays light.
    if name == "build_model":
        from sphmask.models import build_model

        return build_model
    if name == "Segmenter":
        from sphmask.engine.segment import Segmenter

        return Segmenter
    raise AttributeError(f"module 'sphmask' has no attribute {name!r}")
