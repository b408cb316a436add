"""model.sparse_backend: the choice ``auto`` makes, and identical checkpoints for spconv and
spconv-triton.

spconv-triton's layer classes (``spconv_triton.pytorch.conv``) define their parameters in plain
torch; only its kernels need Triton, which the CPU torch wheel does not bring. Where ``triton``
does not import, the layout tests import spconv-triton with an inert stand-in ``triton``
(tests/model/triton_standin.py; no kernel runs here: spconv-triton cannot run on CPU) and remove
both again.
The layout is what a checkpoint depends on; running the model on spconv-triton is
``make gpu-check``'s job.
"""
import importlib
import sys
import types

import pytest
import torch

from sphmask.config import ConfigError
from sphmask.models import SphericalMask, sparse_backend
from tests.model import triton_standin

SMALL = dict(channels=8, num_blocks=3, instance_head={"dec_dim": 16, "n_sample_pa1": 64, "n_queries": 16})


@pytest.fixture
def spconv_triton_importable():
    """Make ``spconv_triton.pytorch`` importable for the test's duration (the stand-in only where
    Triton is missing; torch's own Triton probes run first, so torch keeps seeing no Triton)."""
    import torch._inductor.utils  # noqa: F401  (imports torch's Triton probes before the stand-in)
    from torch.utils._triton import has_triton_package

    standin = {}
    if not has_triton_package():
        standin = triton_standin.modules()
        sys.modules.update(standin)
    sparse_backend.get.cache_clear()
    importlib.import_module("spconv_triton.pytorch")  # in requirements.txt: a failure here is real
    yield
    for name in [m for m in sys.modules if m in standin or m.split(".")[0] == "spconv_triton"]:
        del sys.modules[name]
    sparse_backend.get.cache_clear()


def test_auto_is_spconv_on_cpu():
    assert not torch.cuda.is_available()
    assert sparse_backend.resolve("auto") == "spconv"
    assert SphericalMask(**SMALL).sparse_backend == "spconv"


def test_unknown_backend_is_a_config_error_listing_the_choices():
    with pytest.raises(ConfigError, match=r"must be one of \['auto', 'spconv', 'spconv_triton'\], got 'torchsparse'"):
        SphericalMask(**SMALL, sparse_backend="torchsparse")


def _fake_libraries(monkeypatch, spconv_imports, triton_imports, gpu, spconv_runs=True):
    modules = {"spconv": types.ModuleType("spconv.pytorch"), "spconv_triton": types.ModuleType("spconv_triton.pytorch")}
    available = {"spconv": spconv_imports, "spconv_triton": triton_imports}

    def fake_import(name):
        return (modules[name], None) if available[name] else (None, ImportError(f"No module named {name!r}"))

    monkeypatch.setattr(sparse_backend, "_import", fake_import)
    monkeypatch.setattr(sparse_backend, "_spconv_runs_on_cuda", lambda: spconv_runs)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)


@pytest.mark.parametrize("spconv_imports,spconv_runs,triton_imports,gpu,want", [
    (True, True, True, False, "spconv"),             # CPU: always spconv
    (True, True, True, True, "spconv"),              # GPU with a working spconv
    (True, False, True, True, "spconv_triton"),      # spconv-cu118 on a CUDA 12.8+ GPU: imports, fails to run
    (False, False, True, True, "spconv_triton"),     # Python 3.14 / ROCm: no spconv wheel
])
def test_auto_choice(monkeypatch, spconv_imports, spconv_runs, triton_imports, gpu, want):
    _fake_libraries(monkeypatch, spconv_imports, triton_imports, gpu, spconv_runs)
    assert sparse_backend.resolve("auto") == want


def test_auto_without_a_usable_library_says_what_to_install(monkeypatch):
    _fake_libraries(monkeypatch, spconv_imports=False, triton_imports=True, gpu=False)
    with pytest.raises(ConfigError, match="no usable sparse-convolution library: spconv does not import.*spconv-triton"):
        sparse_backend.resolve("auto")


def test_explicit_backend_that_does_not_import_is_a_config_error(monkeypatch):
    _fake_libraries(monkeypatch, spconv_imports=True, triton_imports=False, gpu=True)
    with pytest.raises(ConfigError, match="sparse_backend=spconv_triton: spconv_triton.pytorch does not import"):
        sparse_backend.resolve("spconv_triton")


def test_spconv_triton_checkpoint_layout_equals_spconv(spconv_triton_importable, manifest):
    """Official widths: the same 662 names, shapes and dtypes, and each model loads the other's
    state dict strictly, with every sparse convolution of the triton model from spconv-triton."""
    ref = SphericalMask(sparse_backend="spconv")
    tri = SphericalMask(sparse_backend="spconv_triton")
    assert tri.sparse_backend == "spconv_triton"
    sd_ref, sd_tri = ref.state_dict(), tri.state_dict()
    assert list(sd_tri) == list(sd_ref) == list(manifest)
    assert {k: (v.shape, v.dtype) for k, v in sd_tri.items()} == {k: (v.shape, v.dtype) for k, v in sd_ref.items()}
    tri.load_state_dict(sd_ref, strict=True)
    for k, v in tri.state_dict().items():
        assert torch.equal(v, sd_ref[k]), k
    ref.load_state_dict(sd_tri, strict=True)
    convs = [m for m in tri.modules() if type(m).__module__.startswith("spconv_triton")
             and "Conv" in type(m).__name__]
    assert len(convs) == len([m for m in ref.modules() if type(m).__module__.startswith("spconv.")
                              and "Conv" in type(m).__name__]) > 0


def test_spconv_triton_refuses_cpu_tensors_with_a_clear_message(spconv_triton_importable):
    backend = sparse_backend.get("spconv_triton")
    with pytest.raises(RuntimeError, match="spconv_triton runs on GPUs only; on CPU use spconv"):
        backend.sparse_tensor(torch.zeros(1, 3), torch.zeros(1, 4, dtype=torch.int32), [4, 4, 4], 1)
