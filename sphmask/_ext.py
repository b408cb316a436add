"""Loads the compiled operator library and says how to build it when it is missing."""
import importlib

import torch  # noqa: F401  (loads libc10/libtorch, which sphmask._C links against)

_BUILD_HINT = (
    "sphmask's compiled extension (sphmask._C) is not built. From the repository root run\n"
    "    make build          # creates .venv, installs the pinned dependencies, compiles the ops\n"
    "or, inside your own environment with torch already installed,\n"
    "    pip install --no-build-isolation -e .\n"
    "Set FORCE_CUDA=1 to compile the CUDA kernels on a machine without a GPU."
)

_C = None
_error = None
try:
    _C = importlib.import_module("sphmask._C")
except ImportError as exc:  # kept so the message can name the real cause
    _error = exc


def is_available():
    """True if ``sphmask._C`` was imported (its ops are registered under ``torch.ops.sphmask``)."""
    return _C is not None


def require():
    """Return the extension module or raise ``ImportError`` with build instructions."""
    if _C is None:
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
