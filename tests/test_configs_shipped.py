"""The shipped configs: composed with ``base:`` they resolve to the values they had as standalone
files (tests/fixtures/configs_before_base), the backbone pre-training configs are the first stage
of their recipe, and every config with a model passes check_config."""
import copy
import dataclasses
import glob
import os

import pytest
import yaml

from sphmask.config import load_config
from sphmask.config_schema import child_schema, schema_of
from sphmask.engine.trainer import TrainSettings
from sphmask.models import SphericalMask, check_config
from sphmask.models.build import RunSettings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEFORE = os.path.join(ROOT, "tests", "fixtures", "configs_before_base")


def cfg(name):
    return load_config(os.path.join(ROOT, "configs", name))


def before(name):
    with open(os.path.join(BEFORE, name)) as f:
        return yaml.safe_load(f)


def with_defaults(section, target):
    """``section`` with every key ``target`` takes filled in with its default (nested sections too)."""
    out = copy.deepcopy(dict(section))
    for key, param in schema_of(target)[0].items():
        nested = child_schema(target, key)
        if nested is not None:
            out[key] = with_defaults(out.get(key) or {}, nested)
        elif key not in out:
            out[key] = list(param.default) if isinstance(param.default, tuple) else param.default
    return out


def effective(c):
    """What the code sees: model, train and top-level keys with defaults, data and loaders as written."""
    out = {k: copy.deepcopy(v) for k, v in c.items() if k in ("data", "dataloader")}
    out["model"] = with_defaults(c["model"], SphericalMask)
    out["train"] = with_defaults(c.get("train", {}), TrainSettings)
    top = {k: v for k, v in c.items() if k not in ("model", "train", "data", "dataloader")}
    out.update(with_defaults(top, RunSettings))
    return out


def test_scannetv2_config_is_the_root_and_unchanged():
    assert cfg("scannetv2/spherical_mask.yaml") == before("scannetv2_spherical_mask.yaml")


def test_synthetic_config_keeps_its_data_and_gains_the_official_model():
    new, old = cfg("synthetic/spherical_mask.yaml"), before("synthetic_spherical_mask.yaml")
    assert new["data"] == old["data"] and new["dataloader"] == old["dataloader"]
    scannet = cfg("scannetv2/spherical_mask.yaml")
    assert {k: v for k, v in new.items() if k not in ("data", "dataloader")} == \
        {k: v for k, v in scannet.items() if k not in ("data", "dataloader")}


def test_tiny_config_resolves_to_the_values_of_its_standalone_file():
    new, old = cfg("testing/tiny.yaml"), before("testing_tiny.yaml")
    assert effective(new) == effective(old)
    # every value the old file spelled is spelled the same; the rest are the constructor defaults
    for section in ("model", "train", "data", "dataloader"):
        for key, value in old[section].items():
            assert new[section][key] == value if not isinstance(value, dict) else \
                {k: new[section][key][k] for k in value} == value, (section, key)


def test_small_backbone_config_is_stage_one_of_the_demo_recipe():
    stage2 = cfg("synthetic/spherical_mask_small.yaml")
    # docs/demo_model.md: stage 1 is stage 2's config with the whole network trained semantic-only,
    # no pretrained weights, and its own step budget and learning rate (bench/demo_recipe.py)
    stage2["model"].update(fixed_modules=[], semantic_only=True)
    stage2["train"].update(max_steps=6000, constant_steps=1500, lr=0.004, validate_every=8)
    stage2["pretrain"] = None
    assert cfg("synthetic/spherical_mask_small_backbone.yaml") == stage2


def test_scannetv2_backbone_config_follows_isbnet_backbone_pretraining():
    c = cfg("scannetv2/spherical_mask_backbone.yaml")
    assert c["model"]["semantic_only"] and c["model"]["fixed_modules"] == [] and c["pretrain"] is None
    assert (c["train"]["epochs"], c["train"]["step_epoch"], c["train"]["lr"]) == (100, 40, 0.004)
    assert c["dataloader"]["train"]["batch_size"] == 16 and c["data"]["train"]["repeat"] == 4
    assert c["model"]["channels"] == cfg("scannetv2/spherical_mask.yaml")["model"]["channels"]


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "*", "*.yaml"))),
                         ids=lambda p: os.path.relpath(p, os.path.join(ROOT, "configs")))
def test_every_shipped_config_with_a_model_passes_the_check(path):
    c = load_config(path)
    if "model" not in c:
        pytest.skip("data-only config")
    check_config(c)


def test_with_defaults_helper_fills_nested_settings():
    filled = with_defaults({"loss": {"dice": 2.0}}, SphericalMask)
    assert filled["loss"]["dice"] == 2.0 and filled["loss"]["bce"] == 1.0 and filled["channels"] == 32
    assert dataclasses.is_dataclass(child_schema(SphericalMask, "inference"))
