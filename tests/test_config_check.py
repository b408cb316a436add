"""check_config / build_model: the typed, range and consistency checks of a resolved config
(sphmask/models/build.py), each case named after the bad input it refuses."""
import os

import pytest

import sphmask
from sphmask.config import ConfigError, load_config
from sphmask.config_schema import check_section
from sphmask.models.build import DataLoaderSettings, check_config, config_keys, load_checked_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "configs", "testing", "tiny.yaml")
SCANNET = os.path.join(ROOT, "configs", "scannetv2", "spherical_mask.yaml")


def _refused(overrides, match, path=TINY):
    with pytest.raises(ConfigError, match=match):
        load_checked_config(path, overrides)


@pytest.mark.parametrize("path", [SCANNET, TINY, os.path.join(ROOT, "configs", "synthetic",
                                                               "spherical_mask_small.yaml")])
def test_shipped_configs_pass_the_check(path):
    check_config(load_config(path))


def test_negative_voxel_scale_is_refused():
    _refused(["model.voxel_scale=-1"], r"'model.voxel_scale' must be a finite number > 0, got -1")


def test_non_integer_npoint_thresh_is_refused_naming_the_key():
    _refused(["model.inference.npoint_thresh=abc"], r"'model.inference.npoint_thresh' must be an integer, got 'abc'")


def test_string_channels_is_refused_before_any_spconv_call():
    _refused(["model.channels=sixteen"], r"'model.channels' must be an integer, got 'sixteen'")


def test_string_voxel_cfg_scale_is_refused_before_numpy():
    _refused(["data.train.voxel_cfg.scale=big"], r"'data.train.voxel_cfg.scale' must be a finite number, got 'big'")


def test_zero_voxel_cfg_scale_is_refused():
    _refused(["data.test.voxel_cfg.scale=0"], r"data.test.voxel_cfg.*scale > 0")


def test_bad_instance_sampling_is_refused_by_the_check_naming_the_key():
    _refused(["data.train.instance_sampling.prob=2"], r"'data.train.instance_sampling.prob' must be .*<= 1, got 2")
    _refused(["data.train.instance_sampling.classes=[1]"],
             r"data.train.instance_sampling.classes: .*instance-class semantic ids \(2\.\.19\)")
    _refused(["data.train.instance_sampling.classes=tail"], r"data.train.instance_sampling.classes: classes 'tail'")


def test_nan_and_bool_are_not_numbers():
    _refused(["model.filter_bg_thresh=.nan"], r"'model.filter_bg_thresh' must be a finite number")
    _refused(["model.channels=true"], r"'model.channels' must be an integer, got True")
    _refused(["model.filter_bg_thresh=1.5"], r"'model.filter_bg_thresh' must be a finite number >= 0 and <= 1")


def test_wrong_length_spatial_shape_and_list_elements_are_refused():
    _refused(["data.train.voxel_cfg.spatial_shape=[1, 2, 3]"], r"spatial_shape' must be a list of 2 values")
    _refused(["model.sem2ins_classes=[a]"], r"'model.sem2ins_classes\[0\]' must be an integer")
    _refused(["model.fixed_modules=unet"], r"'model.fixed_modules' must be a list of strings")


def test_unsupported_choice_is_refused_listing_the_choices():
    _refused(["model.instance_head.num_dyco_layer=4"], r"must be one of \[2, 3\], got 4")
    _refused(["train.optimizer=LAMB"], r"'train.optimizer' must be one of \['AdamW', 'Adam', 'SGD'\]")


def test_train_dataloader_and_top_level_values_are_checked():
    _refused(["train.max_steps=0"], r"'train.max_steps' must be an integer > 0")
    _refused(["dataloader.train.batch_size=0"], r"'dataloader.train.batch_size' must be an integer > 0")
    _refused(["seed=-1"], r"'config.seed' must be an integer >= 0")
    _refused(["data.train.repeat=x"], r"'data.train.repeat' must be an integer")


def test_set_of_a_key_the_file_does_not_spell_works():
    # A standalone file without a model.loss section (tiny.yaml before it had a base).
    standalone = os.path.join(ROOT, "tests", "fixtures", "configs_before_base", "testing_tiny.yaml")
    cfg = load_config(standalone, ["model.sem2ins_classes=[]", "model.loss.dice=2.0", "train.max_steps=5",
                                   "model.inference.label_offset=0", "data.train.jitter=0.05"], schema=config_keys)
    assert cfg["model"]["loss"] == {"dice": 2.0} and cfg["train"]["max_steps"] == 5
    assert cfg["model"]["sem2ins_classes"] == [] and cfg["data"]["train"]["jitter"] == 0.05
    check_config(cfg)
    model = sphmask.build_model(TINY, ["model.semantic_classes=20", "model.loss.dice=2.0"])
    assert model.loss_cfg.dice == 2.0


def test_set_model_semantic_classes_is_accepted_and_checked_against_the_data():
    cfg = load_config(TINY, ["model.semantic_classes=200"], schema=config_keys)
    assert cfg["model"]["semantic_classes"] == 200
    with pytest.raises(ConfigError, match=r"model.semantic_classes is 200 but data.train.type 'synthetic' .* 20 "
                                          r"semantic classes"):
        check_config(cfg)


def test_unknown_key_stays_an_error_listing_valid_keys():
    _refused(["model.chanels=3"], r"unknown config key 'model.chanels'; valid keys here: \[.*'channels'")
    _refused(["model.loss.dicee=3"], r"unknown config key 'model.loss.dicee'; valid keys here: \[.*'dice'")
    _refused(["sed=3"], r"unknown config key 'sed'; valid keys here: \[.*'seed'")
    _refused(["data.nope.x=1"], r"unknown config key 'data.nope'")


def test_unknown_top_level_key_in_a_file_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(f"base: {TINY}\ntrian: {{epochs: 1}}\n")
    _refused([], r"unknown top-level config key\(s\) \['trian'\]", str(path))


def test_data_only_config_is_refused_by_check_and_build_model():
    path = os.path.join(ROOT, "configs", "stpls3d", "spherical_mask.yaml")
    cfg = load_config(path)
    cfg.pop("model", None)
    with pytest.raises(ConfigError, match="the config has no 'model' section"):
        check_config(cfg)
    with pytest.raises(ConfigError, match="the config has no 'model' section"):
        sphmask.build_model(cfg)


def test_model_voxel_scale_against_data_voxel_cfg_scale_names_both_keys():
    _refused(["model.voxel_scale=12.5"], r"model.voxel_scale is 12.5 but data.train.voxel_cfg.scale is 50")
    _refused(["data.test.voxel_cfg.scale=12.5"], r"model.voxel_scale is 50 but data.test.voxel_cfg.scale is 12.5")


def test_instance_classes_against_the_class_table():
    _refused(["model.instance_classes=17"], r"model.instance_classes is 17 but data.train.type 'synthetic' .* 18 "
                                            r"instance classes")


def test_sem2ins_classes_on_scannet_is_refused_naming_both_keys():
    _refused(["model.sem2ins_classes=[0, 1]", "model.inference.label_offset=2"],
             r"model.sem2ins_classes is \[0, 1\] but the scannetv2 evaluator .* scores no stuff classes")
    _refused(["model.inference.label_offset=2"], r"model.inference.label_offset is 2 but the scannetv2 evaluator")


def _s3dis(model):
    return {"model": dict(semantic_classes=13, instance_classes=11, **model),
            "data": {"test": {"type": "s3dis", "data_root": "x", "voxel_cfg": {"scale": 50}}}}


def test_s3dis_needs_sem2ins_classes_and_label_offset():
    with pytest.raises(ConfigError, match=r"model.sem2ins_classes is \[\] but the s3dis evaluator .* "
                                          r"\['ceiling', 'floor'\].*sem2ins_classes: \[0, 1\]"):
        check_config(_s3dis({}))
    with pytest.raises(ConfigError, match=r"model.inference.label_offset is 0 .* set model.inference.label_offset: 2"):
        check_config(_s3dis({"sem2ins_classes": [0, 1]}))
    check_config(_s3dis({"sem2ins_classes": [0, 1], "inference": {"label_offset": 2}}))


def test_own_dataset_class_count_is_compared_with_the_model():
    cfg = load_config(TINY)
    cfg["data"]["train"]["semantic_classes"] = 5
    with pytest.raises(ConfigError, match="model.semantic_classes is 20 but data.train.semantic_classes is 5"):
        check_config(cfg)


def test_build_model_path_runs_the_consistency_check_mapping_only_the_model_section():
    with pytest.raises(ConfigError, match="model.voxel_scale is 12.5"):
        sphmask.build_model(TINY, ["model.voxel_scale=12.5"])
    cfg = load_config(TINY)
    cfg["model"].update(semantic_classes=4, instance_classes=2)  # tests build small variants this way
    assert sphmask.build_model(cfg).semantic_classes == 4
    cfg["model"]["channels"] = "8"
    with pytest.raises(ConfigError, match="'model.channels' must be an integer"):
        sphmask.build_model(cfg)


def test_constructor_value_errors_become_config_errors_naming_the_section():
    cfg = load_config(TINY)
    cfg["model"]["fixed_modules"] = ["backbone"]
    with pytest.raises(ConfigError, match=r"config section 'model': fixed_modules: unknown module 'backbone'"):
        sphmask.build_model(cfg)


def test_dataloader_settings_cover_the_loader_keys():
    from sphmask.data.dataset import _LOADER_KEYS

    assert {f for f in DataLoaderSettings.__dataclass_fields__} == _LOADER_KEYS


def test_check_section_infers_types_from_defaults_of_unannotated_parameters():
    def make(width=3, name="a", ratio=0.5, sizes=(1, 2)):
        return width

    check_section(make, {"width": 4, "ratio": 1, "sizes": [3]}, "w")
    for bad, match in [({"width": 1.5}, "'w.width' must be an integer"), ({"name": 3}, "'w.name' must be a string"),
                       ({"sizes": [1.5]}, r"'w.sizes\[0\]' must be an integer")]:
        with pytest.raises(ConfigError, match=match):
            check_section(make, bad, "w")


def test_check_config_is_exported_from_the_package():
    assert sphmask.check_config is check_config
