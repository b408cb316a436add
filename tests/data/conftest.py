"""Fixtures for the data tests (helpers in data_helpers.py)."""
import pytest
from data_helpers import write_raw_dataset

from sphmask.data.synthetic import ROOM_TYPES, generate_scene


@pytest.fixture(scope="session")
def small_rooms():
    """One small room of every room type (together they hold all 18 instance classes)."""
    return [generate_scene(i, seed=7, size="small") for i in range(len(ROOM_TYPES))]


@pytest.fixture(scope="session")
def raw_root(tmp_path_factory, small_rooms):
    return write_raw_dataset(tmp_path_factory.mktemp("raw"), small_rooms)


@pytest.fixture(scope="session")
def prepared(raw_root, tmp_path_factory):
    """``raw_root`` preprocessed as scannetv2: (output folder, summary)."""
    from sphmask.data.prepare import prepare_dataset

    out = str(tmp_path_factory.mktemp("prepared"))
    return out, prepare_dataset("scannetv2", raw_root, out, progress=False)
