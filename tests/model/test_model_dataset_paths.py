"""The S3DIS and STPLS3D model paths against brute-force references: ``inference.x4_split`` with
the aggregator's ``<=`` candidate bound, ``use_spp_pool: false``, and greedy (standard) NMS."""
import numpy as np
import pytest
import torch

import sphmask
from sphmask.config import ConfigError, load_config
from sphmask.models.postprocess import standard_nms
from sphmask.models.scene_parts import sample_object_voxels
from sphmask.models.superpoint import segment_mean
from sphmask.models.testing import make_batch, synthetic_room
from sphmask.models.voxel_batch import prepare_batch


def _model(tiny_config, **overrides):
    cfg = load_config(tiny_config)
    cfg["model"].update(semantic_classes=4, instance_classes=2)
    for k, v in overrides.items():
        node = cfg["model"]
        *path, last = k.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = v
    torch.manual_seed(0)
    return sphmask.build_model(cfg)


def _rig(model):
    with torch.no_grad():
        model.rid_module.layers[-1].bias.fill_(10.0)
        model.inst_conf_head.layers[-1].bias.fill_(0.8)
        model.inst_sem_head.layers[-1].bias.copy_(torch.tensor([4.0, 0.0, 0.0]))
    return model


def _room(seed=0, points=2400):
    return synthetic_room(points, num_objects=3, semantic_classes=4, instance_classes=2, seed=seed,
                          room=(2.5, 2.0, 1.2))


def _part_batches(room, voxel_scale=50.0):
    """Brute force of the official S3DIS test layout: part i = points i::4, voxelised alone."""
    out = []
    for i in range(4):
        idx = np.arange(len(room["xyz"]))[i::4]
        part = {k: v[idx] for k, v in room.items()}
        out.append((idx, make_batch([part], voxel_scale=voxel_scale, with_labels=False)))
    return out


# -- x4_split --------------------------------------------------------------------------------
def test_x4_split_semantics_are_each_part_alone_through_the_backbone(tiny_config):
    room = _room()
    model = _model(tiny_config, **{"inference.x4_split": True}).eval()
    out = model(make_batch([room], with_labels=False))[0]
    expected = torch.empty(len(room["xyz"]), dtype=torch.int64)
    for idx, batch in _part_batches(room):
        vb = prepare_batch(batch, model.in_channels, model.with_coords)
        with torch.no_grad():
            logits = model.forward_backbone(vb)["semantic"]
        expected[torch.from_numpy(idx)] = logits.argmax(1)[vb.point2voxel]
    assert out["semantic_pred"].shape == (len(room["xyz"]),)
    assert torch.equal(out["semantic_pred"], expected)


def _captured_seed_candidates(model, batch, monkeypatch):
    seen = []
    original = model.point_aggregator1.forward_seeds

    def spy(xyz, feats, boxes, offsets):
        seen.append(xyz.clone())
        return original(xyz, feats, boxes, offsets)

    monkeypatch.setattr(model.point_aggregator1, "forward_seeds", spy)
    out = model(batch)
    return seen, out


def test_x4_split_seeds_come_from_object_voxels_up_to_and_including_the_parts_0_1_count(tiny_config, monkeypatch):
    room = _room(seed=1)
    model = _rig(_model(tiny_config, **{"inference.x4_split": True})).eval()
    seen, out = _captured_seed_candidates(model, make_batch([room], with_labels=False), monkeypatch)
    # Reference: the four parts' voxels in part order, foreground from superpoint means over all
    # of them (superpoints shared by the parts), candidates = object voxel index <= |V0| + |V1|.
    xyz, probs, vsp, counts = [], [], [], []
    for idx, batch in _part_batches(room):
        vb = prepare_batch(batch, model.in_channels, model.with_coords)
        with torch.no_grad():
            probs.append(torch.softmax(model.forward_backbone(vb)["semantic"], 1))
        xyz.append(vb.xyz)
        vsp.append(torch.from_numpy(room["superpoints"][idx])[vb.voxel_first_point])
        counts.append(vb.num_voxels)
    xyz, probs = torch.cat(xyz), torch.cat(probs)
    vsp = torch.unique(torch.cat(vsp), return_inverse=True)[1]
    sp_prob = segment_mean(probs, vsp, int(vsp.max()) + 1)
    obj = torch.nonzero((sp_prob[:, 2:] >= model.filter_bg_thresh).any(1)[vsp]).view(-1)
    limit = counts[0] + counts[1]
    expected = obj[obj <= limit]
    assert len(seen) == 1 and torch.equal(seen[0], xyz[expected])
    assert out[0]["instances"]
    for inst in out[0]["instances"]:
        assert inst["mask"].shape == (len(room["xyz"]),)


def test_x4_split_bound_is_inclusive_when_every_voxel_is_foreground(tiny_config, monkeypatch):
    room = _room(seed=2)
    model = _rig(_model(tiny_config, **{"inference.x4_split": True})).eval()
    with torch.no_grad():  # every voxel predicts an instance class: all voxels are object voxels
        model.semantic_linear[-1].bias.copy_(torch.tensor([-50.0, -50.0, 50.0, 0.0]))
    seen, _ = _captured_seed_candidates(model, make_batch([room], with_labels=False), monkeypatch)
    parts = _part_batches(room)
    n01 = sum(prepare_batch(b, 3, True).num_voxels for _, b in parts[:2])
    assert seen[0].shape[0] == n01 + 1  # the official `<=` keeps the first voxel of part 2


def test_x4_split_handles_each_scene_of_a_batch_and_tiny_scenes(tiny_config):
    rooms = [_room(seed=3, points=1600), _room(seed=4, points=1200)]
    model = _rig(_model(tiny_config, **{"inference.x4_split": True})).eval()
    both = model(make_batch(rooms, with_labels=False))
    for b, room in enumerate(rooms):
        alone = model(make_batch([room], with_labels=False))[0]
        assert torch.equal(both[b]["semantic_pred"], alone["semantic_pred"])
        assert [(i["label_id"], i["score"]) for i in both[b]["instances"]] == \
            [(i["label_id"], i["score"]) for i in alone["instances"]]
    three = {k: v[:3] for k, v in rooms[0].items()}  # fewer points than parts: part 3 is empty
    out = model(make_batch([three], with_labels=False))[0]
    assert out["semantic_pred"].shape == (3,)


def test_x4_split_off_keeps_the_default_path(tiny_config):
    room = _room(seed=5)
    batch = make_batch([room], with_labels=False)
    a = _rig(_model(tiny_config)).eval()(batch)[0]
    b = _rig(_model(tiny_config, **{"inference.x4_split": False})).eval()(batch)[0]
    assert torch.equal(a["semantic_pred"], b["semantic_pred"])
    assert [(i["label_id"], i["score"]) for i in a["instances"]] == [(i["label_id"], i["score"]) for i in b["instances"]]


# -- use_spp_pool: false ----------------------------------------------------------------------
def _same_predictions(a, b):
    assert torch.equal(a["semantic_pred"], b["semantic_pred"])
    assert len(a["instances"]) == len(b["instances"])
    for x, y in zip(a["instances"], b["instances"]):
        assert x["label_id"] == y["label_id"] and torch.equal(x["mask"], y["mask"])
        assert x["score"] == pytest.approx(y["score"], abs=1e-6)


def test_no_spp_pool_is_superpoint_pooling_with_one_superpoint_per_voxel(tiny_config):
    rooms = [_room(seed=6), _room(seed=7)]
    batch = make_batch(rooms, with_labels=False)
    per_voxel = dict(batch, superpoints=batch["point2voxel"].clone())
    got = _rig(_model(tiny_config, use_spp_pool=False)).eval()(batch)
    ref = _rig(_model(tiny_config)).eval()(per_voxel)
    assert any(r["instances"] for r in ref)
    for a, b in zip(got, ref):
        _same_predictions(a, b)


def test_no_spp_pool_equals_pooling_over_per_point_superpoints_at_test(tiny_config):
    # STPLS3D has no superpoints (one per point): the two settings agree at test, officially too.
    room = _room(seed=8)
    batch = make_batch([room], with_labels=False)
    per_point = dict(batch, superpoints=torch.arange(len(room["xyz"])))
    got = _rig(_model(tiny_config, use_spp_pool=False)).eval()(per_point)[0]
    ref = _rig(_model(tiny_config)).eval()(per_point)[0]
    _same_predictions(got, ref)


def test_no_spp_pool_training_masks_a_bounded_random_subset_of_object_voxels(tiny_config, monkeypatch):
    rooms = [_room(seed=9), _room(seed=10)]
    batch = make_batch(rooms)
    model = _model(tiny_config, use_spp_pool=False, mask_voxel_sample=60,
                   fixed_modules=["input_conv", "unet", "output_layer", "semantic_linear"]).train()
    with torch.no_grad():
        model.semantic_linear[-1].bias.copy_(torch.tensor([-50.0, -50.0, 50.0, 0.0]))
    domains = []
    original = model._rpm

    def spy(params, q_locs, q_boxes, sp_xyz, *args, **kwargs):
        domains.append(sp_xyz.shape[0])
        return original(params, q_locs, q_boxes, sp_xyz, *args, **kwargs)

    monkeypatch.setattr(model, "_rpm", spy)
    torch.manual_seed(0)
    losses = model(batch)
    assert domains == [60, 60]
    assert torch.isfinite(losses["loss"]) and "dice_loss" in losses
    losses["loss"].backward()


def test_sample_object_voxels_is_a_sorted_bounded_subset_per_scene():
    obj = torch.tensor([0, 2, 3, 5, 8, 9, 10, 11, 20])
    scene = torch.tensor([0] * 6 + [1] * 15)
    torch.manual_seed(0)
    got = sample_object_voxels(obj, scene, 2, 3)
    first, second = got[got < 6], got[got >= 6]
    assert first.numel() == 3 and set(first.tolist()) <= {0, 2, 3, 5}
    assert torch.equal(first, first.sort().values)
    assert second.numel() == 3 and set(second.tolist()) <= {8, 9, 10, 11, 20}
    assert torch.equal(second, second.sort().values)
    assert torch.equal(sample_object_voxels(obj, scene, 2, 100), obj)


# -- standard NMS -----------------------------------------------------------------------------
def _greedy_reference(masks, labels, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        rest = []
        for j in order:
            inter = float((masks[i] & masks[j]).sum())
            union = float((masks[i] | masks[j]).sum())
            if not (labels[i] == labels[j] and inter / union > thr):
                rest.append(j)
        order = rest
    return keep


def test_standard_nms_matches_greedy_suppression_on_voxel_masks():
    gen = torch.Generator().manual_seed(0)
    for trial in range(20):
        sp_count = torch.randint(1, 5, (12,), generator=gen)
        sp_masks = torch.rand(9, 12, generator=gen) < 0.5
        sp_masks[:, 0] = True
        labels = torch.randint(0, 2, (9,), generator=gen)
        scores = torch.rand(9, generator=gen)
        vox = sp_masks.repeat_interleave(sp_count, dim=1)  # the masks on voxels
        order, kept_scores = standard_nms(sp_masks, labels, scores, sp_count, threshold=0.3)
        assert order.tolist() == _greedy_reference(vox, labels.tolist(), scores.tolist(), 0.3)
        assert torch.equal(kept_scores, scores[order])


def test_hand_built_standard_nms_keeps_other_classes_and_low_overlap():
    masks = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0], [1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 1, 1]]).bool()
    labels = torch.tensor([0, 0, 1, 0])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    order, _ = standard_nms(masks, labels, scores, threshold=0.5)
    assert order.tolist() == [0, 2, 3]  # 1 overlaps 0 (IoU 0.75, same class); 2 is another class
    order, _ = standard_nms(masks, labels, scores, threshold=0.8)
    assert order.tolist() == [0, 1, 2, 3]


def test_inference_settings_reject_unknown_nms_type(tiny_config):
    with pytest.raises(ConfigError, match=r"'model.inference.nms_type' must be one of \['matrix', 'standard'\], got 'soft'"):
        _model(tiny_config, **{"inference.nms_type": "soft"})


def test_standard_nms_setting_reaches_postprocessing(tiny_config):
    room = _room(seed=11)
    batch = make_batch([room], with_labels=False)
    plain = _rig(_model(tiny_config, **{"inference.npoint_thresh": 1})).eval()(batch)[0]
    greedy = _rig(_model(tiny_config, **{"inference.npoint_thresh": 1, "inference.nms_type": "standard",
                                         "inference.nms_threshold": 0.2})).eval()(batch)[0]
    assert plain["instances"] and greedy["instances"]
    assert len(greedy["instances"]) < len(plain["instances"])
    masks = torch.stack([i["mask"] for i in greedy["instances"]])
    inter = masks.float() @ masks.float().t()
    union = masks.sum(1)[:, None] + masks.sum(1)[None, :] - inter
    same = torch.tensor([i["label_id"] for i in greedy["instances"]])
    iou = (inter / union).fill_diagonal_(0)
    assert not bool(((iou > 0.5) & (same[:, None] == same[None, :])).any())
