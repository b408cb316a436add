"""State-dict parity with the official ScanNetV2 model (spec App. A/B)."""
import pytest
import torch

import sphmask
from sphmask.config import ConfigError, load_config
from sphmask.models import SphericalMask



def test_state_dict_names_shapes_and_order_equal_official_manifest(official_model, manifest):
    sd = official_model.state_dict()
    assert len(sd) == 662
    assert list(sd) == list(manifest)
    assert {k: list(v.shape) for k, v in sd.items()} == manifest


def test_parameter_count_matches_official(official_model):
    n = sum(p.numel() for p in official_model.parameters())
    assert n == 30_770_677
    assert sum(p.numel() for p in official_model.unet.parameters()) == 30_101_056


def test_no_criterion_keys_in_state_dict(official_model):
    assert not [k for k in official_model.state_dict() if k.startswith("criterion")]


def test_input_conv_width_follows_feature_config():
    for in_channels, with_coords, width in ((3, True, 6), (0, True, 3), (6, True, 9), (3, False, 3)):
        m = SphericalMask(channels=4, num_blocks=2, in_channels=in_channels, with_coords=with_coords,
                          semantic_only=True)
        assert m.input_conv[0].weight.shape == (4, 3, 3, 3, width)


def test_no_input_channels_is_an_error():
    with pytest.raises(ValueError, match="at least one input channel"):
        SphericalMask(channels=4, num_blocks=2, in_channels=0, with_coords=False, semantic_only=True)


def test_semantic_only_model_holds_exactly_backbone_and_pointwise_heads(manifest):
    sd = SphericalMask(semantic_only=True).state_dict()
    prefixes = ("input_conv.", "unet.", "output_layer.", "semantic_linear.", "offset_linear.",
                "offset_vertices_linear.", "box_conf_linear.")
    expected = [k for k in manifest if k.startswith(prefixes)]
    assert list(sd) == expected


def test_unknown_model_key_lists_valid_keys(scannet_config):
    cfg = load_config(scannet_config)
    cfg["model"]["chanels"] = 16
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['chanels'\] in config section 'model'.*'channels'"):
        sphmask.build_model(cfg)


def test_unknown_nested_key_names_the_section(scannet_config):
    cfg = load_config(scannet_config)
    cfg["model"]["inference"]["topk"] = 3
    with pytest.raises(ConfigError, match=r"'model.inference'.*topk_pre_nms"):
        sphmask.build_model(cfg)


def test_unknown_fixed_module_is_an_error():
    with pytest.raises(ValueError, match="fixed_modules: unknown module 'backbone'"):
        SphericalMask(channels=4, num_blocks=2, semantic_only=True, fixed_modules=["backbone"])


def test_fixed_modules_get_no_grad_and_keep_batchnorm_in_eval():
    m = SphericalMask(channels=4, num_blocks=2, semantic_only=True, fixed_modules=["input_conv", "unet"])
    assert not any(p.requires_grad for p in m.unet.parameters())
    assert all(p.requires_grad for p in m.semantic_linear.parameters())
    m.train()
    assert not m.unet.blocks.block0.conv_branch[0].training
    assert m.semantic_linear[1].training
    assert m.freeze_backbone


def test_batchnorm_eps_backbone_1e4_instance_branch_1e5(official_model):
    assert official_model.unet.blocks.block0.conv_branch[0].eps == 1e-4
    assert official_model.semantic_linear[1].eps == 1e-4
    assert official_model.inst_sem_head.layers[1].eps == 1e-5
    assert official_model.point_aggregator1.mlp_module1.layer0.bn.bn.eps == 1e-5


def test_build_model_is_exported_lazily_from_package(scannet_config):
    assert sphmask.build_model is sphmask.models.build_model
    assert isinstance(sphmask.build_model(scannet_config, ["model.semantic_only=true"]), torch.nn.Module)
