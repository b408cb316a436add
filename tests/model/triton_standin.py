"""An inert ``triton`` for importing spconv-triton's layer classes where Triton is not installed.

spconv-triton decorates its kernels with ``triton.jit`` / ``triton.autotune`` and builds
``triton.Config`` lists when its modules are imported; nothing else of Triton runs before a kernel
launch. This stand-in provides exactly those names, with decorators that return the function
unchanged, so the layer classes (plain torch ``nn.Module`` parameters) can be built and their
state dicts compared on CPU. Calling a kernel through it raises.
"""
import types


class Config:
    def __init__(self, kwargs, num_warps=4, num_stages=2, **extra):
        self.kwargs, self.num_warps, self.num_stages = dict(kwargs), num_warps, num_stages
        self.__dict__.update(extra)


def _decorator(*args, **kwargs):
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return _Kernel(args[0])
    return _Kernel


class _Kernel:
    def __init__(self, fn):
        self.fn = fn

    def __getitem__(self, grid):
        raise RuntimeError("the triton stand-in cannot launch kernels (tests only)")

    def __call__(self, *args, **kwargs):
        raise RuntimeError("the triton stand-in cannot launch kernels (tests only)")


def autotune(configs, key, prune_configs_by=None, reset_to_zero=None, restore_value=None, warmup=None, rep=None,
             use_cuda_graph=False, do_bench=None, cache_results=False):
    return _Kernel


def cdiv(a, b):
    return -(-a // b)


def _dot(input, other, acc=None, input_precision=None, allow_tf32=None, max_num_imprecise_acc=None,
         out_dtype=None):
    raise RuntimeError("the triton stand-in cannot run tl.dot (tests only)")


class _Language(types.ModuleType):
    """``triton.language``: annotations (``tl.constexpr``) and dtypes are inert attributes."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {})


def modules():
    """``{name: module}`` to put into ``sys.modules`` for ``triton`` and ``triton.language``."""
    triton = types.ModuleType("triton")
    language = _Language("triton.language")
    language.dot = _dot
    triton.Config, triton.jit, triton.autotune, triton.cdiv = Config, _decorator, autotune, cdiv
    triton.language = language
    triton.__version__ = "0.0.0+standin"
    return {"triton": triton, "triton.language": language}
