"""Checkpoints holding NaN or inf weights are refused at load, naming the first such tensor."""
import os

import pytest
import torch

from sphmask.checkpoint import CheckpointError, load_checkpoint
from sphmask.models import SphericalMask

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _small():
    return SphericalMask(channels=4, num_blocks=2, semantic_only=True)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_checkpoint_with_non_finite_weights_is_refused_naming_the_first_key(bad):
    m = _small()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    state = {k: v.clone() for k, v in before.items()}
    keys = [k for k, v in state.items() if v.is_floating_point()]
    first, later = keys[3], keys[-1]
    state[later].view(-1)[0] = bad
    state[first].view(-1)[-1] = bad
    with pytest.raises(CheckpointError, match=rf"checkpoint tensor {first} \[.*\] holds 1 NaN or inf values"):
        load_checkpoint(m, {"net": state})
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())  # nothing half-loaded


def test_non_finite_weights_are_refused_in_non_strict_and_backbone_modes():
    m = _small()
    state = {k: v.clone() for k, v in m.state_dict().items()}
    key = next(k for k in state if k.startswith("input_conv") and state[k].is_floating_point())
    state[key].view(-1)[0] = float("nan")
    for kwargs in ({"strict": False}, {"mode": "backbone"}):
        with pytest.raises(CheckpointError, match=rf"checkpoint tensor {key} "):
            load_checkpoint(m, {"net": state}, **kwargs)


def test_non_finite_tensor_outside_what_is_loaded_does_not_block():
    m = _small()
    state = {k: v.clone() for k, v in m.state_dict().items()}
    state["criterion.weight"] = torch.tensor([float("nan")])  # dropped before matching
    load_checkpoint(m, {"net": state})


def test_segment_tool_exits_2_on_a_nan_checkpoint(tmp_path, capsys):
    import numpy as np

    from sphmask import build_model
    from sphmask.config import load_config
    from tools.segment import main

    cfg = load_config(os.path.join(ROOT, "configs", "testing", "tiny.yaml"))
    state = build_model(cfg).state_dict()
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key].view(-1)[0] = float("nan")
    torch.save({"net": state, "epoch": 1, "meta": {"config": cfg}}, tmp_path / "nan.pth")
    np.save(tmp_path / "cloud.npy", np.random.default_rng(0).uniform(0, 2, (200, 3)))
    threads = torch.get_num_threads()
    try:
        rc = main([str(tmp_path / "cloud.npy"), "--ckpt", str(tmp_path / "nan.pth"), "--out", str(tmp_path / "out"),
                   "--threads", "1", "--no-progress"])
    finally:
        torch.set_num_threads(threads)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err == [f"error: checkpoint tensor {key} {list(state[key].shape)} holds 1 NaN or inf values "
                   "(a diverged training run?); refusing to load non-finite weights"]
    assert not os.path.exists(tmp_path / "out") or not os.listdir(tmp_path / "out")
