"""Fixtures of the model tests: the official manifest and one full-size model per session."""
import json
import os

import pytest

import sphmask

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCANNET_CONFIG = os.path.join(ROOT, "configs", "scannetv2", "spherical_mask.yaml")
TINY_CONFIG = os.path.join(ROOT, "configs", "testing", "tiny.yaml")


@pytest.fixture(scope="session")
def scannet_config():
    """Path of the official ScanNetV2 config."""
    return SCANNET_CONFIG


@pytest.fixture(scope="session")
def tiny_config():
    """Path of the small CPU test config."""
    return TINY_CONFIG


@pytest.fixture(scope="session")
def manifest():
    """Official ScanNetV2 state dict: ordered ``{name: shape}`` (662 entries)."""
    with open(os.path.join(HERE, "data", "official_state_dict.json")) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def official_model():
    """The model built from the official ScanNetV2 config (read-only in tests)."""
    return sphmask.build_model(SCANNET_CONFIG)
