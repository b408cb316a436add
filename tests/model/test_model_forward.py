"""Model forward on small synthetic rooms: eval outputs, training losses and gradients, official
quirk switches, op usage (no second implementation), and bad inputs."""
import math
import os

import pytest
import torch

import sphmask
from sphmask import ops
from sphmask.config import load_config
from sphmask.models import spherical_mask as sm_module
from sphmask.models.testing import make_batch, synthetic_room

DEAD = ("inst_inside_mask", "norm", "inside_mask_head", "inst_mask_head_angular")


def _model(tiny_config, **model_overrides):
    """The tiny config with 4 semantic / 2 instance classes (stuff 0, 1) plus ``model_overrides``."""
    cfg = load_config(tiny_config)
    cfg["model"].update(semantic_classes=4, instance_classes=2)
    for k, v in model_overrides.items():
        node = cfg["model"]
        *path, last = k.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = v
    torch.manual_seed(0)
    return sphmask.build_model(cfg)


def _rig(model):
    """Biases that make every query a confident class-0 object whose rays cover the room."""
    with torch.no_grad():
        model.rid_module.layers[-1].bias.fill_(10.0)
        model.inst_conf_head.layers[-1].bias.fill_(0.8)
        model.inst_sem_head.layers[-1].bias.copy_(torch.tensor([4.0, 0.0, 0.0]))
    return model


def _rooms(n=2, points=1500, objects=3):
    return [synthetic_room(points, num_objects=objects, semantic_classes=4, instance_classes=2, seed=s,
                           room=(2.5, 2.0, 1.2)) for s in range(n)]


@pytest.fixture(scope="module")
def rooms():
    return _rooms()


# -- eval ----------------------------------------------------------------------------------------
def test_eval_forward_returns_well_formed_instances(tiny_config, rooms):
    model = _rig(_model(tiny_config)).eval()
    batch = make_batch(rooms, with_labels=False)
    out = model(batch)
    assert [r["scan_id"] for r in out] == batch["scan_ids"]
    for r, room in zip(out, rooms):
        n = len(room["xyz"])
        assert r["semantic_pred"].dtype == torch.int64 and r["semantic_pred"].shape == (n,)
        assert int(r["semantic_pred"].min()) >= 0 and int(r["semantic_pred"].max()) < 4
        assert r["instances"], "rigged model must predict instances"
        scores = [i["score"] for i in r["instances"]]
        assert scores == sorted(scores, reverse=True)
        for inst in r["instances"]:
            assert inst["mask"].dtype == torch.bool and inst["mask"].shape == (n,)
            assert int(inst["mask"].sum()) >= model.infer_cfg.npoint_thresh
            assert inst["label_id"] in (1, 2) and isinstance(inst["label_id"], int)
            assert 0.0 <= inst["score"] <= 1.0


def test_eval_is_deterministic_and_batch_independent(tiny_config, rooms):
    model = _rig(_model(tiny_config)).eval()
    both = model(make_batch(rooms, with_labels=False))
    alone = model(make_batch(rooms[1:], with_labels=False))[0]
    again = model(make_batch(rooms, with_labels=False))
    assert len(both[1]["instances"]) == len(alone["instances"])
    for a, b, c in zip(both[1]["instances"], alone["instances"], again[1]["instances"]):
        assert torch.equal(a["mask"], b["mask"]) and torch.equal(a["mask"], c["mask"])
        assert a["label_id"] == b["label_id"] and abs(a["score"] - b["score"]) < 1e-5


def test_eval_same_with_one_and_two_threads(tiny_config, rooms):
    model = _rig(_model(tiny_config)).eval()
    batch = make_batch(rooms, with_labels=False)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = model(batch)
        torch.set_num_threads(2)
        two = model(batch)
    finally:
        torch.set_num_threads(old)
    for a, b in zip(one, two):
        assert torch.equal(a["semantic_pred"], b["semantic_pred"])
        assert [(i["label_id"], i["mask"].tolist()) for i in a["instances"]] == \
               [(i["label_id"], i["mask"].tolist()) for i in b["instances"]]


def test_model_masks_are_the_assemble_masks_op_on_clamped_predictions(tiny_config, rooms, monkeypatch):
    model = _rig(_model(tiny_config)).eval()
    with torch.no_grad():  # some negative centre coordinates and small rays so the clamps matter
        model.rid_module.layers[-1].bias.copy_(torch.linspace(-0.2, 1.5, 25))
    seen = {}
    real_heads, real_rpm, real_post = model._query_heads, model._rpm, sm_module.scene_instances
    monkeypatch.setattr(model, "_query_heads", lambda *a: seen.setdefault("heads", real_heads(*a)))
    monkeypatch.setattr(model, "_rpm", lambda *a: seen.setdefault("rpm", real_rpm(*a)))
    calls = []
    real_op = ops.assemble_masks
    monkeypatch.setattr(ops, "assemble_masks", lambda *a, **k: calls.append((a, k)) or real_op(*a, **k))

    def post(cls, conf, masks, *rest):
        seen.setdefault("masks", masks)
        return real_post(cls, conf, masks, *rest)

    monkeypatch.setattr(sm_module, "scene_instances", post)
    model(make_batch(rooms[:1], with_labels=False))
    rays = seen["heads"]["rays"][0]
    assert len(calls) == 1 and calls[0][1]["migration_scale"] == 2.0
    sp_xyz = calls[0][0][0]
    assert (rays[:, 25:] < 0.01).any(), "test needs negative centre coordinates"
    expected = real_op(sp_xyz, rays[:, 25:].clamp(min=0.01), rays[:, :25].clamp(min=0.01), seen["rpm"],
                       migration_scale=2.0, n_azimuth=5, n_polar=5)
    assert torch.equal(seen["masks"], expected)
    # the op's rule, spelled out with its own sector/radius op
    radius, sector = ops.sphere_coords(sp_xyz, rays[:, 25:].clamp(min=0.01))
    rule = torch.gather(rays[:, :25].clamp(min=0.01), 1, sector) >= (radius - seen["rpm"]) - seen["rpm"]
    assert torch.equal(seen["masks"], rule)


@pytest.mark.parametrize("clamp,scale", [(False, 2.0), (True, 1.0)])
def test_quirk_switches_reach_the_assembly_op(tiny_config, rooms, monkeypatch, clamp, scale):
    model = _rig(_model(tiny_config, **{"inference.clamp_centers": clamp, "inference.migration_scale": scale})).eval()
    calls = []
    real_op = ops.assemble_masks
    monkeypatch.setattr(ops, "assemble_masks", lambda *a, **k: calls.append((a, k)) or real_op(*a, **k))
    model(make_batch(rooms[:1], with_labels=False))
    (points, centers, rays, rpm), kw = calls[0]
    assert kw["migration_scale"] == scale
    assert bool((centers < 0.01).any()) is (not clamp)
    assert float(rays.min()) >= 0.01


def test_label_offset_shifts_every_label_and_nothing_else(tiny_config, rooms):
    batch = make_batch(rooms, with_labels=False)
    plain = _rig(_model(tiny_config)).eval()(batch)
    shifted = _rig(_model(tiny_config, **{"inference.label_offset": 2})).eval()(batch)
    for a, b in zip(plain, shifted):
        assert [i["label_id"] + 2 for i in a["instances"]] == [i["label_id"] for i in b["instances"]]
        for x, y in zip(a["instances"], b["instances"]):
            assert torch.equal(x["mask"], y["mask"]) and x["score"] == y["score"]


def test_sem2ins_classes_prepend_one_superpoint_aligned_instance_per_class(tiny_config, rooms):
    batch = make_batch(rooms, with_labels=False)
    plain = _rig(_model(tiny_config)).eval()(batch)
    out = _rig(_model(tiny_config, sem2ins_classes=[0, 1])).eval()(batch)
    seen = 0
    for b, (a, r) in enumerate(zip(plain, out)):
        sem = r["semantic_pred"]
        sp = torch.as_tensor(rooms[b]["superpoints"])
        extra = r["instances"][:len(r["instances"]) - len(a["instances"])]
        expected = []
        for c in (0, 1):  # brute force: a superpoint joins when >= half of its points are class c
            keep = torch.zeros_like(sem, dtype=torch.bool)
            for s in torch.unique(sp):
                pts = sp == s
                keep[pts] = (sem[pts] == c).float().mean() >= 0.5
            if keep.any():
                expected.append((c + 1, keep))
        assert [(i["label_id"], i["score"]) for i in extra] == [(c, 1.0) for c, _ in expected]
        for inst, (_, keep) in zip(extra, expected):
            assert torch.equal(inst["mask"], keep)
        assert [i["label_id"] for i in r["instances"][len(extra):]] == [i["label_id"] for i in a["instances"]]
        seen += len(extra)
    assert seen > 0
    with pytest.raises(ValueError, match=r"sem2ins_classes must be semantic classes 0..3, got \[4\]"):
        _model(tiny_config, sem2ins_classes=[4])


def test_topk_pre_nms_limits_candidates(tiny_config, rooms):
    model = _rig(_model(tiny_config, **{"inference.topk_pre_nms": 3, "inference.npoint_thresh": 1})).eval()
    out = model(make_batch(rooms[:1], with_labels=False))[0]
    assert 1 <= len(out["instances"]) <= 3


def test_iterative_sampling_schedule_and_output(tiny_config, rooms):
    model = _rig(_model(tiny_config, **{"inference.iterative_sampling": True})).eval()
    assert model.query_rounds(0) == [172, 120, 68]
    assert model.query_rounds(300 * 400) == [int(-200 * math.log(p)) for p in (0.1, 0.2, 0.4)]
    out = model(make_batch(rooms[:1], with_labels=False))[0]
    assert out["instances"] and all(i["mask"].shape == (len(rooms[0]["xyz"]),) for i in out["instances"])


def test_semantic_only_predicts_semantics_and_offsets(tiny_config, rooms):
    model = _model(tiny_config, semantic_only=True).eval()
    out = model(make_batch(rooms, with_labels=False))
    for r, room in zip(out, rooms):
        n = len(room["xyz"])
        assert r["instances"] == [] and r["semantic_pred"].shape == (n,)
        assert r["centroid_offset"].shape == (n, 3) and r["corners_offset"].shape == (n, 6)


# -- training ------------------------------------------------------------------------------------
INSTANCE_KEYS = {"dice_loss", "bce_loss", "cls_loss", "iou_loss", "box_loss", "giou_loss", "second_l1_loss"}
PW_KEYS = {"pw_sem_loss", "pw_center_loss", "pw_corners_loss", "pw_giou_loss", "pw_conf_loss"}


def test_train_forward_returns_finite_named_losses(tiny_config, rooms):
    model = _model(tiny_config).train()
    losses = model(make_batch(rooms))
    assert set(losses) == PW_KEYS | INSTANCE_KEYS | {"aux_" + k for k in INSTANCE_KEYS} | {"loss"}
    for k, v in losses.items():
        assert v.dim() == 0 and torch.isfinite(v), k
    parts = sum(v for k, v in losses.items() if k != "loss")
    torch.testing.assert_close(losses["loss"], parts)


def test_every_parameter_except_dead_modules_receives_a_gradient(tiny_config, rooms):
    model = _model(tiny_config).train()
    model(make_batch(rooms))["loss"].backward()
    for name, p in model.named_parameters():
        if name.split(".")[0] in DEAD:
            assert p.grad is None, name
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, name


def test_pointwise_losses_carry_the_official_quarter_weight(tiny_config, rooms):
    batch = make_batch(rooms)
    full = _model(tiny_config).train()(batch)
    torch.manual_seed(0)
    sem = _model(tiny_config, semantic_only=True).train()(batch)
    assert set(sem) == PW_KEYS | {"loss"}
    for k in PW_KEYS:
        torch.testing.assert_close(full[k], 0.25 * sem[k])


def test_frozen_backbone_gets_no_gradient(tiny_config, rooms):
    fixed = ["input_conv", "unet", "output_layer", "semantic_linear", "offset_linear", "offset_vertices_linear",
             "box_conf_linear"]
    model = _model(tiny_config, fixed_modules=fixed, **{"loss.pointwise_weight": 0.0}).train()
    losses = model(make_batch(rooms))
    assert not any(k.startswith("pw_") for k in losses)
    losses["loss"].backward()
    assert all(p.grad is None for n, p in model.named_parameters() if n.split(".")[0] in fixed)
    assert model.inst_mask_head[2].weight.grad is not None
    assert not model.unet.blocks.block0.conv_branch[0].training


def test_few_object_voxels_skip_instance_losses(tiny_config, rooms):
    model = _model(tiny_config).train()
    with torch.no_grad():
        model.semantic_linear[3].bias.copy_(torch.tensor([20.0, 20.0, -20.0, -20.0]))
    losses = model(make_batch(rooms))
    assert set(losses) == PW_KEYS | {"loss"}


# -- bad input ----------------------------------------------------------------------------------
def _empty_room():
    room = _rooms(1)[0]
    return {k: v[:0] for k, v in room.items()}


def test_empty_batch_gives_empty_results_and_training_error(tiny_config):
    model = _model(tiny_config)
    batch = make_batch([_empty_room()])
    out = model.eval()(batch)
    assert out[0]["instances"] == [] and out[0]["semantic_pred"].shape == (0,)
    with pytest.raises(ValueError, match="empty batch"):
        model.train()(batch)


def test_empty_scene_next_to_a_full_one(tiny_config, rooms):
    model = _rig(_model(tiny_config)).eval()
    out = model(make_batch([rooms[0], _empty_room()], with_labels=False))
    assert out[0]["instances"] and out[1]["instances"] == [] and out[1]["semantic_pred"].numel() == 0
    losses = model.train()(make_batch([rooms[0], _empty_room()]))
    assert torch.isfinite(losses["loss"])


def test_scene_without_foreground_has_no_instances(tiny_config, rooms):
    model = _rig(_model(tiny_config)).eval()
    with torch.no_grad():
        model.semantic_linear[3].bias.copy_(torch.tensor([20.0, 20.0, -20.0, -20.0]))
    out = model(make_batch(rooms, with_labels=False))
    assert all(r["instances"] == [] for r in out)


def test_fewer_object_voxels_than_seeds_and_queries(tiny_config):
    room = synthetic_room(12, num_objects=1, semantic_classes=4, instance_classes=2, seed=3, room=(1.0, 1.0, 0.5))
    model = _rig(_model(tiny_config, **{"inference.npoint_thresh": 1})).eval()
    batch = make_batch([room], with_labels=False)
    assert batch["voxel_coords"].shape[0] < model.head_cfg.n_queries < model.head_cfg.n_sample_pa1
    out = model(batch)[0]
    assert out["instances"] and out["instances"][0]["mask"].shape == (12,)
    losses = model.train()(make_batch([room]))
    assert torch.isfinite(losses["loss"])


def test_non_contiguous_superpoint_ids_give_the_same_result(tiny_config, rooms):
    model = _rig(_model(tiny_config)).eval()
    batch = make_batch(rooms, with_labels=False)
    ref = model(batch)
    batch["superpoints"] = batch["superpoints"] * 7 + 1000
    got = model(batch)
    for a, b in zip(ref, got):
        assert [i["label_id"] for i in a["instances"]] == [i["label_id"] for i in b["instances"]]
        assert all(torch.equal(x["mask"], y["mask"]) for x, y in zip(a["instances"], b["instances"]))


def test_superpoint_ids_restarting_per_scene_are_accepted(tiny_config, rooms):
    model = _rig(_model(tiny_config)).eval()
    batch = make_batch(rooms, with_labels=False)
    ref = model(batch)
    n0 = len(rooms[0]["xyz"])
    batch["superpoints"][n0:] -= batch["superpoints"][n0:].min()
    got = model(batch)
    assert [len(r["instances"]) for r in got] == [len(r["instances"]) for r in ref]


def test_nan_coordinates_raise_naming_the_key(tiny_config, rooms):
    batch = make_batch(rooms[:1], with_labels=False)
    batch["coords_float"][5, 1] = float("nan")
    with pytest.raises(ValueError, match=r"batch\['coords_float'\] contains NaN"):
        _model(tiny_config).eval()(batch)


@pytest.mark.parametrize("key,value,match", [
    ("feats", torch.zeros(3, 2), r"batch\['feats'\] must have shape \[3, 3\]"),
    ("superpoints", torch.full((3,), -100), "superpoint ids must be >= 0"),
    ("batch_size", 2, r"point_offsets'\] must have batch_size \+ 1 = 3"),
])
def test_bad_batch_entries_raise_clear_errors(tiny_config, key, value, match):
    room = synthetic_room(3, num_objects=0, semantic_classes=4, instance_classes=2)
    batch = make_batch([room], with_labels=False)
    batch[key] = value
    with pytest.raises(ValueError, match=match):
        _model(tiny_config).eval()(batch)


def test_missing_key_and_missing_labels_in_training(tiny_config, rooms):
    batch = make_batch(rooms[:1], with_labels=False)
    model = _model(tiny_config)
    with pytest.raises(ValueError, match="training needs"):
        model.train()(batch)
    del batch["superpoints"]
    with pytest.raises(KeyError, match="superpoints"):
        model.eval()(batch)


def test_no_hard_coded_cuda_in_model_code():
    root = os.path.dirname(sphmask.models.__file__)
    for name in os.listdir(root):
        if name.endswith(".py"):
            with open(os.path.join(root, name)) as f:
                assert ".cuda(" not in f.read(), name
