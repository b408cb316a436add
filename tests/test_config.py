import pytest

from sphmask.config import ConfigError, apply_override, get_section, instantiate, load_config


class Widget:
    def __init__(self, width, depth=2, name="w"):
        self.width, self.depth, self.name = width, depth, name


def test_instantiate_maps_section_onto_constructor():
    w = instantiate(Widget, {"width": 3, "name": "a"}, "model.widget")
    assert (w.width, w.depth, w.name) == (3, 2, "a")


def test_instantiate_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['widht'\] in config section 'model.widget'.*'width'"):
        instantiate(Widget, {"widht": 3}, "model.widget")


def test_instantiate_missing_required_key():
    with pytest.raises(ConfigError, match="missing required key"):
        instantiate(Widget, {"depth": 3}, "model.widget")


def test_override_parses_yaml_values_and_rejects_unknown_keys():
    cfg = {"model": {"channels": 32, "name": "x"}}
    apply_override(cfg, "model.channels=16")
    apply_override(cfg, "model.name=[1, 2]")
    assert cfg == {"model": {"channels": 16, "name": [1, 2]}}
    with pytest.raises(ConfigError, match=r"unknown config key 'model.chanels'; valid keys here: \['channels', 'name'\]"):
        apply_override(cfg, "model.chanels=3")
    with pytest.raises(ConfigError, match="key.path=value"):
        apply_override(cfg, "model.channels")


def test_load_config_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
        load_config(str(bad))
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config(str(lst))


def test_get_section_copies_and_reports_missing():
    cfg = {"data": {"train": {"a": 1}}}
    sec = get_section(cfg, "data.train")
    sec["a"] = 2
    assert cfg["data"]["train"]["a"] == 1
    with pytest.raises(ConfigError, match="no section 'data.test'"):
        get_section(cfg, "data.test")


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_base_is_deep_merged_child_wins_and_lists_are_replaced(tmp_path):
    (tmp_path / "parent").mkdir()
    _write(tmp_path / "parent" / "a.yaml", "model: {channels: 32, blocks: [1, 2, 3], head: {dim: 8, n: 2}}\nseed: 1\n")
    child = _write(tmp_path / "b.yaml", "base: parent/a.yaml\nmodel: {blocks: [4], head: {n: 5}}\n")
    assert load_config(child) == {"model": {"channels": 32, "blocks": [4], "head": {"dim": 8, "n": 5}}, "seed": 1}


def test_base_chain_resolves_relative_to_each_file_and_overrides_apply_last(tmp_path):
    (tmp_path / "x").mkdir()
    _write(tmp_path / "root.yaml", "model: {channels: 32, depth: 1}\n")
    _write(tmp_path / "x" / "mid.yaml", "base: ../root.yaml\nmodel: {depth: 2}\n")
    leaf = _write(tmp_path / "leaf.yaml", "base: x/mid.yaml\nmodel: {channels: 16}\n")
    assert load_config(leaf, ["model.depth=3"]) == {"model": {"channels": 16, "depth": 3}}


def test_base_cycle_is_refused(tmp_path):
    _write(tmp_path / "a.yaml", "base: b.yaml\n")
    _write(tmp_path / "b.yaml", "base: a.yaml\n")
    with pytest.raises(ConfigError, match="is its own base"):
        load_config(str(tmp_path / "a.yaml"))


def test_missing_base_names_the_child(tmp_path):
    child = _write(tmp_path / "c.yaml", "base: nowhere.yaml\n")
    with pytest.raises(ConfigError, match=r"config file not found: .*nowhere.yaml \(base of .*c.yaml\)"):
        load_config(child)


def test_base_must_be_a_path(tmp_path):
    child = _write(tmp_path / "c.yaml", "base: [a.yaml, b.yaml]\n")
    with pytest.raises(ConfigError, match="'base' must be the path of one parent config"):
        load_config(child)
