"""Build script for sphmask and its compiled operator library ``sphmask._C``.

C++ kernels are always built. CUDA kernels are added when the installed torch has CUDA and nvcc
is found (``CUDA_HOME``), or when ``FORCE_CUDA=1`` is set (for building wheels on a machine
without a GPU). ``FORCE_CUDA=0`` builds the CPU-only extension even where CUDA is present.
"""
import glob
import os

from setuptools import setup

import torch
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))


def _want_cuda():
    forced = os.environ.get("FORCE_CUDA")
    if forced is not None:
        return forced == "1"
    return torch.version.cuda is not None and CUDA_HOME is not None


def get_extensions():
    csrc = os.path.join(ROOT, "csrc")
    sources = sorted(glob.glob(os.path.join(csrc, "**", "*.cpp"), recursive=True))
    cuda_sources = sorted(glob.glob(os.path.join(csrc, "**", "*.cu"), recursive=True))
    # No fused multiply-adds: the sphere ops reproduce the official float32 operation order bit for
    # bit, which contraction (aarch64, -march=native) would change; the CUDA side uses __fmul_rn-style
    # intrinsics for the same reason (csrc/sphere/sphere.h).
    cxx_flags = ["-O3", "-ffp-contract=off"]
    define_macros = []
    extension = CppExtension
    with_cuda = _want_cuda()
    if with_cuda:
        extension = CUDAExtension
        sources += cuda_sources
        define_macros.append(("WITH_CUDA", None))
        nvcc_flags = ["-O3", "--expt-relaxed-constexpr"]
    print(
        f"sphmask: building {'C++ and CUDA' if with_cuda else 'C++ only (no CUDA)'} kernels "
        f"({len(sources)} source files)"
    )
    extra = {"cxx": cxx_flags}
    if with_cuda:
        extra["nvcc"] = nvcc_flags
    rel = [os.path.relpath(s, ROOT) for s in sources]
    return [
        extension(
            "sphmask._C",
            rel,
            include_dirs=[csrc],
            define_macros=define_macros,
            extra_compile_args=extra,
        )
    ]


# Package metadata lives in pyproject.toml; this file only adds the compiled extension.
setup(
    ext_modules=get_extensions(),
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
