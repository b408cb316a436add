"""sphmask: Spherical Mask (CVPR 2024) 3D point-cloud instance segmentation.

Importing the package never fails because the compiled ops are missing; calling an op then
raises an ``ImportError`` that says how to build them (see ``sphmask._ext``).
"""
from sphmask._ext import compiler_version, cuda_version, has_cuda, is_available

__version__ = "0.1.0"

__all__ = ["Segmenter", "__version__", "build_model", "check_config", "compiler_version", "cuda_version", "has_cuda",
           "is_available"]


def __getattr__(name):
    # build_model, check_config and Segmenter pull in torch and spconv; import them on first use so
    # `import sphmask` stays light.
    if name in ("build_model", "check_config"):
        import sphmask.models

        return getattr(sphmask.models, name)
    if name == "Segmenter":
        from sphmask.engine.segment import Segmenter

        return Segmenter
    raise AttributeError(f"module 'sphmask' has no attribute {name!r}")
