"""Post-processing pieces: scores, matrix NMS (spec App. C.2), superpoint majority alignment."""
import math

import torch

from sphmask.models.postprocess import instance_scores, matrix_nms, scene_instances
from sphmask.models.settings import InferenceSettings
from sphmask.models.superpoint import majority_refine


def _bits(s):
    return torch.tensor([c == "1" for c in s])


def test_matrix_nms_appendix_c2_vector():
    masks = torch.stack([_bits("1111000000"), _bits("0011110000"), _bits("0000001110"), _bits("1110000000")])
    labels = torch.tensor([0, 0, 1, 0])
    scores = torch.tensor([0.8, 0.9, 0.7, 0.6])
    order, new = matrix_nms(masks, labels, scores, sigma=2.0, topk=200)
    got = dict(zip(order.tolist(), new.tolist()))
    # decay m0 = exp(-2/9) = 0.8007; m3: min(exp(-2/36), exp(-2*0.75^2)/exp(-2/9)) = 0.4054
    expected = {1: 0.9, 0: 0.8 * math.exp(-2 / 9), 2: 0.7, 3: 0.6 * math.exp(-2 * 0.5625) / math.exp(-2 / 9)}
    assert set(got) == {0, 1, 2, 3}
    for k, v in expected.items():
        assert abs(got[k] - v) < 1e-6, (k, got[k], v)
    assert abs(got[0] - 0.6406) < 1e-4 and abs(got[3] - 0.2433) < 1e-4
    assert new.tolist() == sorted(new.tolist(), reverse=True)


def test_matrix_nms_superpoint_weights_equal_voxel_level_result():
    g = torch.Generator().manual_seed(0)
    sp_masks = torch.rand(12, 30, generator=g) > 0.5
    weights = torch.randint(1, 6, (30,), generator=g)
    labels = torch.randint(0, 3, (12,), generator=g)
    scores = torch.rand(12, generator=g)
    vox_of_sp = torch.repeat_interleave(torch.arange(30), weights)
    o1, s1 = matrix_nms(sp_masks, labels, scores, weights)
    o2, s2 = matrix_nms(sp_masks[:, vox_of_sp], labels, scores)
    assert torch.equal(o1, o2)
    torch.testing.assert_close(s1, s2)


def test_matrix_nms_topk_keeps_highest_new_scores_and_empty_input():
    masks = torch.eye(5, dtype=torch.bool)
    order, new = matrix_nms(masks, torch.zeros(5, dtype=torch.long), torch.arange(5.0), topk=2)
    assert order.tolist() == [4, 3]
    order, new = matrix_nms(masks[:0], torch.zeros(0, dtype=torch.long), torch.zeros(0))
    assert order.numel() == 0 and new.numel() == 0


def test_instance_scores_are_sqrt_of_class_prob_times_clamped_conf():
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    conf = torch.tensor([1.7, -0.2])
    p = torch.softmax(logits, 1)[:, :2]
    ref = torch.sqrt(p * torch.tensor([[1.0], [0.0]]))
    torch.testing.assert_close(instance_scores(logits, conf), ref)


def _brute_majority(sp_masks, point_sp, point_vsp):
    out = []
    for mask in sp_masks:
        inside = mask[point_vsp].float()
        res = torch.zeros(point_sp.numel(), dtype=torch.bool)
        for s in point_sp.unique():
            sel = point_sp == s
            res[sel] = inside[sel].mean() >= 0.5
        out.append(res)
    return torch.stack(out)


def test_majority_refine_equals_per_superpoint_mean_vote():
    g = torch.Generator().manual_seed(1)
    point_sp = torch.randint(0, 7, (200,), generator=g)
    point_vsp = torch.where(torch.rand(200, generator=g) < 0.7, point_sp, torch.randint(0, 7, (200,), generator=g))
    sp_masks = torch.rand(5, 7, generator=g) > 0.4
    got = majority_refine(sp_masks, point_sp, point_vsp, 7)[:, point_sp]
    assert torch.equal(got, _brute_majority(sp_masks, point_sp, point_vsp))


def test_majority_refine_exact_half_goes_inside():
    point_sp = torch.tensor([0, 0, 0, 0])
    point_vsp = torch.tensor([0, 0, 1, 1])
    assert majority_refine(torch.tensor([[True, False]]), point_sp, point_vsp, 1).tolist() == [[True]]


def test_scene_instances_top_k_size_filter_labels_and_points():
    # 3 queries x 2 classes, 4 voxel superpoints of 50 voxels each, 1 point per voxel.
    cls = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    conf = torch.tensor([0.9, 0.8, 1.0])
    sp_masks = torch.tensor([[1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 1]], dtype=torch.bool)
    counts = torch.full((4,), 50)
    point_sp = torch.arange(4).repeat_interleave(50)
    cfg = InferenceSettings(topk_pre_nms=3, npoint_thresh=100)
    inst = scene_instances(cls, conf, sp_masks, counts, point_sp, point_sp, 4, cfg)
    # top-3 pairs: (q0,c0), (q1,c1), (q2,c*) (conf 1 beats q0 and q1 on their weak class);
    # q2 mask has 50 voxels -> dropped before NMS
    assert [(i["label_id"], i["mask"].sum().item()) for i in inst] == [(1, 100), (2, 100)]
    assert inst[0]["mask"][:100].all() and not inst[0]["mask"][100:].any()
    assert inst[0]["score"] > inst[1]["score"]
