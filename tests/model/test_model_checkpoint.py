"""Checkpoint loading: official and sphmask formats, strict errors, backbone-only mode."""
import pytest
import torch

from sphmask.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from sphmask.models import BACKBONE_MODULES, SphericalMask


def _random_state(manifest, seed=0):
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, shape in manifest.items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(7)
        else:
            state[k] = torch.rand(shape, generator=g) + 0.5
    return state


def _small():
    return SphericalMask(channels=4, num_blocks=2, semantic_only=True)


@pytest.fixture(scope="module")
def model():
    return SphericalMask()


def test_official_format_loads_strict_and_copies_every_tensor(model, manifest, tmp_path):
    state = _random_state(manifest)
    path = tmp_path / "official.pth"
    torch.save({"net": state, "epoch": 128}, path)
    report = load_checkpoint(model, str(path))
    assert report.epoch == 128
    assert len(report.loaded) == 662 and not report.missing and not report.unexpected and not report.mismatched
    sd = model.state_dict()
    for k, v in state.items():
        assert torch.equal(sd[k], v), k


def test_official_format_with_optimizer_and_criterion_keys(model, manifest, tmp_path):
    state = _random_state(manifest, 1)
    state["criterion.empty_weight"] = torch.ones(19)
    state["criterion.norm.weight"] = torch.ones(16)
    path = tmp_path / "latest.pth"
    torch.save({"net": state, "epoch": 3, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0]}]}},
               path)
    report = load_checkpoint(model, str(path))
    assert report.dropped == ["criterion.empty_weight", "criterion.norm.weight"]
    assert torch.equal(model.state_dict()["rid_module.layers.6.bias"], state["rid_module.layers.6.bias"])


def test_one_wrong_shape_fails_naming_that_key(model, manifest, tmp_path):
    state = _random_state(manifest)
    state["inst_mask_head.2.weight"] = torch.zeros(1793, 128, 1)
    path = tmp_path / "bad.pth"
    torch.save({"net": state}, path)
    with pytest.raises(CheckpointError, match=r"shape mismatch: inst_mask_head.2.weight file \[1793, 128, 1\] "
                                              r"vs model \[1281, 128, 1\]") as err:
        load_checkpoint(model, str(path))
    assert "missing" not in str(err.value) and "unexpected" not in str(err.value)


def test_strict_error_lists_every_missing_unexpected_and_mismatched_key(model, manifest):
    state = _random_state(manifest)
    del state["norm.running_var"], state["unet.conv.2.weight"]
    state["extra.weight"] = torch.zeros(2)
    state["mask_tower.3.bias"] = torch.zeros(31)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(model, {"net": state})
    msg = str(err.value)
    for line in ("missing: norm.running_var [16]", "missing: unet.conv.2.weight [64, 2, 2, 2, 32]",
                 "unexpected: extra.weight [2]", "shape mismatch: mask_tower.3.bias file [31] vs model [32]"):
        assert line in msg


def test_failed_strict_load_leaves_model_untouched():
    m = _small()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    state = {k: v + 1 for k, v in before.items()}
    state["semantic_linear.3.bias"] = torch.zeros(3)
    with pytest.raises(CheckpointError):
        load_checkpoint(m, {"net": state})
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_non_strict_reports_and_warns_instead_of_dropping_silently():
    m = _small()
    state = {k: v + 1 for k, v in m.state_dict().items()}
    state["semantic_linear.3.bias"] = torch.zeros(3)
    with pytest.warns(UserWarning, match="1 shape-mismatched"):
        report = load_checkpoint(m, {"net": state}, strict=False)
    assert report.mismatched == [("semantic_linear.3.bias", (3,), (20,))]
    assert "semantic_linear.3.bias" not in report.loaded
    assert torch.equal(m.state_dict()["semantic_linear.0.bias"], state["semantic_linear.0.bias"])


def test_backbone_mode_loads_backbone_and_pointwise_heads_and_reports_skipped(model, manifest):
    state = _random_state(manifest, 2)
    backbone = [k for k in manifest if k.split(".")[0] in BACKBONE_MODULES]
    isbnet_like = {k: state[k] for k in backbone}
    isbnet_like["inst_mask_head.2.weight"] = torch.zeros(1793, 128, 1)  # ISBNet's 3-layer controller
    isbnet_like["point_aggregator1.mlp_module1.layer0.conv.weight"] = torch.zeros(32, 38, 1, 1)
    before = model.state_dict()["inst_sem_head.layers.6.bias"].clone()
    report = load_checkpoint(model, {"net": isbnet_like, "epoch": 100}, mode="backbone")
    assert sorted(report.loaded) == sorted(backbone)
    assert report.skipped == ["inst_mask_head.2.weight", "point_aggregator1.mlp_module1.layer0.conv.weight"]
    assert torch.equal(model.state_dict()["unet.u.conv.2.weight"], state["unet.u.conv.2.weight"])
    assert torch.equal(model.state_dict()["inst_sem_head.layers.6.bias"], before)


def test_backbone_mode_requires_every_backbone_tensor(model, manifest):
    state = {k: v for k, v in _random_state(manifest).items() if k.split(".")[0] in BACKBONE_MODULES}
    del state["output_layer.0.weight"]
    with pytest.raises(CheckpointError, match=r"missing: output_layer.0.weight \[32\]"):
        load_checkpoint(model, {"net": state}, mode="backbone")


def test_own_format_round_trip_with_weights_only(tmp_path):
    m = _small()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    path = tmp_path / "ours.pth"
    save_checkpoint(str(path), m, epoch=5, optimizer=opt, config={"model": {"channels": 8}})
    raw = torch.load(str(path), weights_only=True)
    assert raw["meta"]["format"] == "sphmask" and raw["meta"]["version"] == 1 and "optimizer" in raw
    assert raw["meta"]["config"] == {"model": {"channels": 8}} and set(raw["net"]) == set(m.state_dict())
    m2 = _small()
    for p in m2.parameters():
        torch.nn.init.zeros_(p)
    assert load_checkpoint(m2, str(path)).epoch == 5
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), m2.state_dict().values()))


def test_bare_state_dict_and_ddp_prefix_are_accepted():
    m = _small()
    state = {"module." + k: v.clone() for k, v in m.state_dict().items()}
    loaded, meta = read_checkpoint(state)
    assert list(loaded) == list(m.state_dict()) and meta["epoch"] is None


class _NotATensor:
    pass


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"net": {"a": _NotATensor()}}, path)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        read_checkpoint(str(path))


def test_missing_file_and_unknown_layout_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(str(tmp_path / "nope.pth"))
    with pytest.raises(CheckpointError, match="unknown checkpoint layout"):
        read_checkpoint({"weights": 3})


def test_export_weights_keeps_weights_and_config_drops_training_state(tmp_path):
    from tools.export_checkpoint import main as export_main

    model = _small()
    opt = torch.optim.AdamW(model.parameters())
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    src, dst = tmp_path / "latest.pth", tmp_path / "release.pth"
    save_checkpoint(src, model, epoch=12, optimizer=opt, config={"model": {"channels": 4}}, rng={"seed": torch.tensor(3)})
    assert export_main([str(src), str(dst)]) == 0
    obj = torch.load(dst, weights_only=True)
    assert sorted(obj) == ["epoch", "meta", "net"] and obj["epoch"] == 12
    assert obj["meta"]["config"] == {"model": {"channels": 4}}
    assert dst.stat().st_size < src.stat().st_size
    fresh = _small()
    assert not load_checkpoint(fresh, str(dst)).missing
    for k, v in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k
    from sphmask.cli import run_tool

    assert run_tool(export_main, [str(tmp_path / "nope.pth"), str(dst)]) == 2
