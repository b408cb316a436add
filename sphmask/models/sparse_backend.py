"""Which sparse-convolution library the backbone runs on: the only module that imports one.

Two implementations of spconv 2.x's API (``SubMConv3d``, ``SparseConv3d``,
``SparseInverseConv3d``, ``SparseSequential``, ``SparseConvTensor``, ``ConvAlgo``) are supported:

* ``spconv`` — spconv 2.3.8 (``spconv-cu118`` ... ``spconv-cu126`` wheels; also the CPU build,
  which runs every convolution with ``ConvAlgo.Native``);
* ``spconv_triton`` — the pure-Python ``spconv-triton`` package, spconv's API and checkpoint
  layout in Triton kernels; GPU only (NVIDIA and AMD), for CUDA >= 12.8, ROCm and Python 3.14,
  where spconv has no wheel.

``model.sparse_backend: auto`` takes spconv where it imports, and on a machine with a GPU only
when a one-voxel convolution on that GPU works (spconv-cu118 imports on a CUDA 12.8 machine and
fails in its first kernel); otherwise spconv-triton when a GPU is there. Both name and shape the
parameters identically (``[out, kx, ky, kz, in]`` weights), so one checkpoint loads into either;
docs/install.md lists the install paths.
"""
import dataclasses
import functools
import importlib
import types

import torch
from torch import nn

from sphmask.config import ConfigError

BACKENDS = ("auto", "spconv", "spconv_triton")
_MODULES = {"spconv": "spconv.pytorch", "spconv_triton": "spconv_triton.pytorch"}
_INSTALL = ("install spconv-cu118 (CPU and CUDA 11.8-12.6: spconv-cu1xx matching your CUDA) or, on a GPU "
            "with CUDA >= 12.8 / ROCm / Python 3.14, spconv-triton (docs/install.md)")


@dataclasses.dataclass(frozen=True)
class SparseBackend:
    """One sparse-convolution library, as the backbone uses it.

    Attributes:
        name: ``"spconv"`` or ``"spconv_triton"``.
        lib: its ``spconv.pytorch``-compatible module (layers, ``SparseSequential``).
    """

    name: str
    lib: types.ModuleType

    def sparse_tensor(self, features: torch.Tensor, indices: torch.Tensor, spatial_shape, batch_size: int):
        """``SparseConvTensor`` of ``features`` (M, C) at int32 ``indices`` (M, 4) ``[b, x, y, z]``."""
        if self.name == "spconv_triton" and features.device.type == "cpu":
            raise RuntimeError("model.sparse_backend=spconv_triton runs on GPUs only; on CPU use spconv "
                               "(sparse_backend: auto or spconv; checkpoints are the same)")
        return self.lib.SparseConvTensor(features, indices, spatial_shape, batch_size)

    def conv_algo_for(self, device: torch.device):
        """The algorithm that runs on ``device``: spconv's implicit GEMM is CUDA only, so CPU
        needs ``Native``; on a GPU both libraries use ``MaskImplicitGemm`` (their default)."""
        algo = self.lib.ConvAlgo
        return algo.Native if device.type == "cpu" else algo.MaskImplicitGemm

    def use_conv_algo_for(self, module: nn.Module, device: torch.device) -> None:
        """Set the algorithm of every sparse convolution in ``module`` for ``device``.

        Layers sharing an indice key must use one algorithm, so all are switched together; the
        weight layout does not depend on it (spconv >= 2.2), so one model runs on both devices.
        """
        algo = self.conv_algo_for(device)
        conv_type = self.lib.conv.SparseConvolution
        for m in module.modules():
            if isinstance(m, conv_type) and m.algo != algo:
                m.algo = algo


def _import(name: str):
    """The library module, or the ImportError (any exception: a broken CUDA build raises others)."""
    try:
        return importlib.import_module(_MODULES[name]), None
    except Exception as exc:  # noqa: BLE001 (reported in the message)
        return None, exc


@functools.lru_cache(maxsize=None)
def _spconv_runs_on_cuda() -> bool:
    """One submanifold convolution of one voxel on the current GPU: does spconv's CUDA build work?"""
    lib, _ = _import("spconv")
    gpu = torch.device("cuda", torch.cuda.current_device())
    try:
        conv = lib.SubMConv3d(1, 1, 3, bias=False, indice_key="probe").to(gpu)
        x = lib.SparseConvTensor(torch.ones(1, 1, device=gpu), torch.zeros(1, 4, dtype=torch.int32, device=gpu),
                                 [3, 3, 3], 1)
        conv(x)
        torch.cuda.synchronize()
        return True
    except Exception:  # noqa: BLE001 (any failure means: not usable here)
        return False


def resolve(name: str = "auto") -> str:
    """The library ``name`` stands for here: ``"spconv"`` or ``"spconv_triton"``.

    Raises:
        ConfigError: an unknown name, or a library that does not import (the message says why
            and what to install).
    """
    if name not in BACKENDS:
        raise ConfigError(f"model.sparse_backend must be one of {list(BACKENDS)}, got {name!r}")
    if name != "auto":
        lib, exc = _import(name)
        if lib is None:
            raise ConfigError(f"model.sparse_backend={name}: {_MODULES[name]} does not import ({exc}); {_INSTALL}")
        return name
    spconv, spconv_error = _import("spconv")
    gpu = torch.cuda.is_available()
    if spconv is not None and (not gpu or _spconv_runs_on_cuda()):
        return "spconv"
    triton, triton_error = _import("spconv_triton") if gpu else (None, "no GPU (spconv-triton is GPU only)")
    if triton is not None:
        return "spconv_triton"
    spconv_state = "does not run a convolution on this GPU" if spconv is not None else f"does not import ({spconv_error})"
    raise ConfigError(f"model.sparse_backend=auto: no usable sparse-convolution library: spconv {spconv_state}; "
                      f"spconv_triton: {triton_error}; {_INSTALL}")


@functools.lru_cache(maxsize=None)
def get(name: str) -> SparseBackend:
    """The :class:`SparseBackend` for ``name`` (any of :data:`BACKENDS`), resolved once."""
    resolved = resolve(name)
    return SparseBackend(resolved, _import(resolved)[0])
