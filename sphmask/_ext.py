"""Loads the compiled operator library and says how to build it when it is missing.

The library (and torch, which it links against) is loaded on first use — the first call of
:func:`is_available`, :func:`require` or a build-info function, or the import of ``sphmask.ops`` —
so that ``import sphmask`` and the torch-free parts (e.g. ``sphmask.evaluation``) stay light.
"""
import importlib

_BUILD_HINT = (
    "sphmask's compiled extension (sphmask._C) is not built. From the repository root run\n"
    "    make build          # creates .venv, installs the pinned dependencies, compiles the ops\n"
    "or, inside your own environment with torch already installed,\n"
    "    pip install --no-build-isolation -e .\n"
    "Set FORCE_CUDA=1 to compile the CUDA kernels on a machine without a GPU."
)

_loaded = False
_C = None
_error = None


def load():
    """Import ``sphmask._C`` once; remember the module or the ``ImportError``."""
    global _loaded, _C, _error
    if not _loaded:
        import torch  # noqa: F401  (loads libc10/libtorch, which sphmask._C links against)

        try:
            _C = importlib.import_module("sphmask._C")
        except ImportError as exc:  # kept so the message can name the real cause
            _error = exc
        _loaded = True
    return _C


def is_available():
    """True if ``sphmask._C`` can be imported (its ops are then registered under ``torch.ops.sphmask``)."""
    return load() is not None


def require():
    """Return the extension module or raise ``ImportError`` with build instructions."""
    if load() is None:
        raise ImportError(f"{_BUILD_HINT}\n(import error: {_error})")
    return _C


def has_cuda():
    """True if the extension was compiled with CUDA kernels."""
    return require().has_cuda()


def cuda_version():
    """CUDA runtime version the extension was compiled with (e.g. 13000), or None."""
    v = require().cuda_version()
    return None if v < 0 else v


def compiler_version():
    """Compiler that built the extension, e.g. ``'gcc 12.2.0'``."""
    return require().compiler_version()
