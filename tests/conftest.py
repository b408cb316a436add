"""Shared test fixtures. Every test runs on CPU; CUDA tests skip cleanly where no GPU exists."""
import contextlib
import os

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The bundled demo rooms, raw ScanNet layout in one archive (docs/demo_model.md).
DEMO_SCENES = os.path.join(ROOT, "demo", "scenes.tar.xz")
#: tools/make_synthetic.py arguments of the small-preset rooms bundled before the realistic ones.
SMALL_DEMO_ROOMS = ["--size", "small", "--scenes", "3", "--seed", "1", "--first-index", "1000", "--split", "val"]

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


@pytest.fixture(scope="session")
def bundled_scenes(tmp_path_factory):
    """demo/scenes.tar.xz extracted once: the folder of scans/<scene>/ and the label map."""
    from sphmask.io import extract_scene_archive

    folder = tmp_path_factory.mktemp("bundled_scenes")
    extract_scene_archive(DEMO_SCENES, str(folder))
    return folder


@pytest.fixture(scope="session")
def small_demo_rooms(tmp_path_factory):
    """The small-preset rooms synth1000_00-synth1002_00 generated once (byte for byte the demo bundle
    before the realistic rooms), for tests whose numbers were measured on them."""
    from tools.make_synthetic import main as make_synthetic

    folder = tmp_path_factory.mktemp("small_demo_rooms")
    assert make_synthetic(["--out", str(folder), *SMALL_DEMO_ROOMS]) == 0
    return folder
