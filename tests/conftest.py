"""Shared test fixtures. Every test runs on CPU; CUDA tests skip cleanly where no GPU exists."""
import contextlib

import pytest
import torch

#: Marks a test ``cuda`` (run by ``pytest -m cuda`` in make gpu-check); skipped without a CUDA device.
requires_cuda = pytest.mark.cuda


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@contextlib.contextmanager
def num_threads(n: int):
    """Run a block with ``torch.set_num_threads(n)``, restoring the previous value."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
