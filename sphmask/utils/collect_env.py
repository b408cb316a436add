"""Print what sphmask was built with and runs on; paste the output into bug reports.

    python -m sphmask.utils.collect_env
"""
import os
import platform
import sys


def collect_env() -> str:
    """Return a multi-line report: Python, torch, CUDA, compiled extension, key packages."""
    import torch

    import sphmask

    lines = [
        f"sys.platform: {sys.platform}",
        f"Python: {sys.version.split()[0]}",
        f"machine: {platform.machine()}, {os.cpu_count()} cores",
        f"torch: {torch.__version__} (CUDA {torch.version.cuda}, threads {torch.get_num_threads()})",
        f"GPU available: {torch.cuda.is_available()}",
    ]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            lines.append(f"GPU {i}: {torch.cuda.get_device_name(i)}")
    lines.append(f"sphmask: {sphmask.__version__} at {os.path.dirname(sphmask.__file__)}")
    if sphmask.is_available():
        lines.append(f"sphmask._C: built with {sphmask.compiler_version()}, "
                     f"CUDA kernels: {sphmask.has_cuda()} (CUDA {sphmask.cuda_version()})")
    else:
        lines.append("sphmask._C: NOT BUILT (run `make build` or `pip install --no-build-isolation -e .`)")
    for name in ("spconv", "cumm", "numpy", "scipy", "plyfile", "yaml"):
        try:
            mod = __import__(name)
            lines.append(f"{name}: {getattr(mod, '__version__', 'unknown')}")
        except Exception as exc:  # a broken optional install is itself worth reporting
            lines.append(f"{name}: not importable ({type(exc).__name__}: {exc})")
    return "\n".join(lines)


if __name__ == "__main__":
    print(collect_env())
