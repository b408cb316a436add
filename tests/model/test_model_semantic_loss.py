"""Semantic-head loss options (``model.loss.semantic_loss``, ``focal_gamma``, ``semantic_weight``)
against hand computations, float64 gradcheck, and their validation."""
import math

import pytest
import torch
import torch.nn.functional as F

import sphmask
from sphmask.config import ConfigError, load_config
from sphmask.models.criterion import focal_loss, semantic_loss
from sphmask.models.settings import LossSettings
from sphmask.models.testing import make_batch, synthetic_room


def test_focal_loss_matches_a_hand_computation():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 3.0]])
    labels = torch.tensor([0, 2, -100, 2])
    weight = torch.tensor([1.0, 5.0, 0.5])

    def term(row, y, w):
        p = math.exp(logits[row, y]) / sum(math.exp(v) for v in logits[row].tolist())
        return w * (1 - p) ** 2 * -math.log(p)

    rows = [(0, 0), (1, 2), (3, 2)]  # row 2 is ignored
    expected = sum(term(r, y, float(weight[y])) for r, y in rows) / sum(float(weight[y]) for _, y in rows)
    assert float(focal_loss(logits, labels, 2.0, weight)) == pytest.approx(expected, rel=1e-6)
    unweighted = sum(term(r, y, 1.0) for r, y in rows) / 3
    assert float(focal_loss(logits, labels, 2.0)) == pytest.approx(unweighted, rel=1e-6)


def test_focal_loss_with_gamma_zero_is_weighted_cross_entropy():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 6, generator=gen)
    labels = torch.randint(0, 6, (50,), generator=gen)
    labels[::7] = -100
    weight = torch.rand(6, generator=gen) + 0.1
    assert torch.allclose(focal_loss(logits, labels, 0.0, weight),
                          F.cross_entropy(logits, labels, weight=weight, ignore_index=-100), atol=1e-6)


def test_focal_loss_gradcheck_float64():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 3, -100, 1, 0, 2])
    weight = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: focal_loss(x, labels, 2.0, weight), (logits,))
    assert torch.autograd.gradcheck(lambda x: focal_loss(x, labels, 0.5), (logits,))


def test_semantic_loss_defaults_to_the_official_cross_entropy():
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(30, 5, generator=gen)
    labels = torch.randint(0, 5, (30,), generator=gen)
    assert torch.equal(semantic_loss(logits, labels), F.cross_entropy(logits, labels, ignore_index=-100))
    s = LossSettings(semantic_weight=[1, 2, 3, 4, 5])
    assert torch.allclose(semantic_loss(logits, labels, s),
                          F.cross_entropy(logits, labels, weight=torch.arange(1.0, 6.0), ignore_index=-100))
    all_ignored = torch.full((30,), -100)
    zero = semantic_loss(logits.requires_grad_(), all_ignored, LossSettings(semantic_loss="focal"))
    assert float(zero.detach()) == 0.0 and zero.requires_grad


def test_focal_setting_reaches_the_model_pointwise_loss(tiny_config):
    room = synthetic_room(1500, num_objects=3, semantic_classes=4, instance_classes=2, seed=0, room=(2.5, 2.0, 1.2))
    batch = make_batch([room])
    out = {}
    for name, loss in (("ce", {}), ("focal", {"semantic_loss": "focal", "focal_gamma": 2.0,
                                               "semantic_weight": [1.0, 1.0, 4.0, 4.0]})):
        cfg = load_config(tiny_config)
        cfg["model"].update(semantic_classes=4, instance_classes=2, semantic_only=True, loss=loss)
        torch.manual_seed(0)
        model = sphmask.build_model(cfg).train()
        out[name] = model(batch)["pw_sem_loss"]
    assert float(out["focal"]) < float(out["ce"])  # (1 - p)^2 < 1 shrinks every term


@pytest.mark.parametrize("loss,match", [
    ({"semantic_loss": "dice"}, r"'model.loss.semantic_loss' must be one of \['ce', 'focal'\], got 'dice'"),
    ({"focal_gamma": -1.0}, r"'model.loss.focal_gamma' must be a finite number >= 0"),
    ({"semantic_weight": [0.0, 0.0, 0.0, 0.0]}, r"loss.semantic_weight must hold at least one positive weight"),
    ({"semantic_weight": [1.0, -1.0, 1.0, 1.0]}, r"'model.loss.semantic_weight\[1\]' must be a finite number >= 0"),
])
def test_bad_semantic_loss_settings_are_config_errors(tiny_config, loss, match):
    cfg = load_config(tiny_config)
    cfg["model"].update(semantic_classes=4, instance_classes=2, loss=loss)
    with pytest.raises(ConfigError, match=match):
        sphmask.build_model(cfg)


def test_semantic_weight_length_must_match_the_classes(tiny_config):
    cfg = load_config(tiny_config)
    cfg["model"].update(semantic_classes=4, instance_classes=2, loss={"semantic_weight": [1.0, 2.0]})
    with pytest.raises(ValueError, match="loss.semantic_weight has 2 entries, semantic_classes is 4"):
        sphmask.build_model(cfg)
