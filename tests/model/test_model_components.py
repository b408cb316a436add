"""Model building blocks against brute-force references: superpoint pooling, box GIoU,
Hungarian matching with duplicated GT, dynamic convolution (spec App. C.6), mask losses."""
import itertools

import pytest
import torch

from sphmask.models.box import giou_paired, giou_pairwise
from sphmask.models.criterion import dice_loss, mask_iou, pointwise_losses
from sphmask.models.dynamic_conv import num_dynamic_params, radial_point_migration, split_dynamic_params
from sphmask.models.matcher import hungarian, matching_cost
from sphmask.models.superpoint import compact_per_scene, offsets_from_scene, segment_mean


# -- superpoints ----------------------------------------------------------------------------
def test_compact_per_scene_handles_gaps_and_ids_restarting_per_scene():
    ids = torch.tensor([7, 3, 7, 100, 0, 0, 5])
    scene = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    compact, sp_scene = compact_per_scene(ids, scene)
    assert compact.tolist() == [1, 0, 1, 2, 3, 3, 4]
    assert sp_scene.tolist() == [0, 0, 0, 1, 1]
    assert offsets_from_scene(sp_scene, 3).tolist() == [0, 3, 5, 5]


def test_compact_per_scene_rejects_negative_ids():
    with pytest.raises(ValueError, match="superpoint ids must be >= 0, got -100"):
        compact_per_scene(torch.tensor([1, -100]), torch.tensor([0, 0]))


def test_segment_mean_matches_loop_and_is_differentiable():
    g = torch.Generator().manual_seed(0)
    vals = torch.randn(50, 4, generator=g, dtype=torch.float64, requires_grad=True)
    ids = torch.randint(0, 9, (50,), generator=g)
    out = segment_mean(vals, ids, 10)
    for s in range(10):
        sel = ids == s
        ref = vals[sel].mean(0) if sel.any() else torch.zeros(4)
        torch.testing.assert_close(out[s], ref.float())
    out.sum().backward()
    counts = torch.bincount(ids, minlength=10).float()
    torch.testing.assert_close(vals.grad[:, 0], (1 / counts[ids]).double())


# -- boxes ------------------------------------------------------------------------------------
def test_giou_hand_values():
    a = torch.tensor([[0.0, 0, 0, 2, 2, 2]])
    b = torch.tensor([[1.0, 1, 1, 3, 3, 3]])
    iou, giou = giou_paired(a, b)
    # I = 1, U = 15, hull = 27
    assert abs(iou.item() - 1 / (15 + 1e-6)) < 1e-7
    assert abs(giou.item() - (1 / 15 - 12 / 27)) < 1e-6
    iou, giou = giou_paired(a, torch.tensor([[3.0, 0, 0, 4, 1, 1]]))
    assert iou.item() == 0 and giou.item() < 0


def test_giou_pairwise_equals_paired_on_all_pairs():
    g = torch.Generator().manual_seed(2)
    lo = torch.rand(5, 3, generator=g)
    a = torch.cat([lo, lo + torch.rand(5, 3, generator=g)], 1)
    lo = torch.rand(4, 3, generator=g)
    b = torch.cat([lo, lo + torch.rand(4, 3, generator=g)], 1)
    iou, giou = giou_pairwise(a, b)
    for i, j in itertools.product(range(5), range(4)):
        ref = giou_paired(a[i:i + 1], b[j:j + 1])
        torch.testing.assert_close(iou[i, j], ref[0][0])
        torch.testing.assert_close(giou[i, j], ref[1][0])


# -- matching ---------------------------------------------------------------------------------
def _brute_assignment(cost):
    q, k = len(cost), len(cost[0])
    best, arg = float("inf"), None
    for cols in itertools.permutations(range(q), k):  # GT j -> query cols[j]
        total = sum(cost[cols[j]][j] for j in range(k))
        if total < best:
            best, arg = total, cols
    return best, arg


def test_hungarian_one_to_one_is_minimum_cost():
    g = torch.Generator().manual_seed(3)
    cost = torch.rand(6, 3, generator=g)
    rows, cols = hungarian(cost)
    best, _ = _brute_assignment(cost.tolist())
    assert rows.tolist() == sorted(rows.tolist()) and len(set(cols.tolist())) == 3
    assert abs(cost[rows, cols].sum().item() - best) < 1e-6


def test_hungarian_duplicated_gt_matches_each_gt_up_to_dup_times():
    g = torch.Generator().manual_seed(4)
    cost = torch.rand(7, 2, generator=g)
    rows, cols = hungarian(cost, dup=4)
    assert rows.numel() == 7  # min(Q, 4K) = 7
    assert torch.bincount(cols, minlength=2).max() <= 4
    assert len(set(rows.tolist())) == 7
    tiled = torch.cat([cost] * 4, 1)
    best = min(sum(tiled[r, c] for r, c in zip(range(7), perm)) for perm in itertools.permutations(range(8), 7))
    assert abs(cost[rows, cols].sum().item() - best.item()) < 1e-5


def test_matching_cost_formula_and_invalid_entries():
    cls = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    conf = torch.tensor([0.3, float("nan")])
    boxes = torch.tensor([[0.0, 0, 0, 1, 1, 1], [0, 0, 0, 2, 2, 2]])
    gt_cls = torch.tensor([1])
    gt_box = torch.tensor([[0.0, 0, 0, 1, 1, 1]])
    cost = matching_cost(cls, conf, boxes, gt_cls, gt_box)
    p = torch.softmax(cls, 1)[0, 1]
    giou = giou_pairwise(boxes[:1], gt_box)[1][0, 0]
    assert abs(cost[0, 0].item() - (-0.5 * p - 0.2 * 0.3 - 0.2 * giou).item()) < 1e-6
    assert cost[1, 0].item() == 1e5


# -- dynamic convolution ------------------------------------------------------------------------
def test_dynamic_param_layout_appendix_c6():
    assert num_dynamic_params(32, 2) == 1281
    theta = torch.arange(1281.0)[None]
    (w0, w1), (b0, b1) = split_dynamic_params(theta, 32, 2)
    assert w0.shape == (1, 38, 32) and w0[0, 1, 0].item() == 32 and w0[0, 2, 5].item() == 69
    assert w1[0, :, 0].tolist() == list(range(1216, 1248))
    assert b0[0].tolist() == list(range(1248, 1280)) and b1[0].tolist() == [1280]


def test_radial_point_migration_matches_per_query_loop_without_last_bias():
    g = torch.Generator().manual_seed(5)
    q, s, d = 4, 9, 8
    params = torch.randn(q, num_dynamic_params(d, 2), generator=g)
    q_xyz, s_xyz = torch.randn(q, 3, generator=g), torch.randn(s, 3, generator=g)
    q_box, s_box = torch.randn(q, 6, generator=g), torch.randn(s, 6, generator=g)
    feats = torch.randn(s, d, generator=g)
    out = radial_point_migration(params, q_xyz, q_box, s_xyz, s_box, feats, d, 2)
    for i in range(q):
        th = params[i]
        w0, w1 = th[: (d + 6) * d].view(d + 6, d), th[(d + 6) * d:(d + 6) * d + d].view(d, 1)
        b0 = th[(d + 6) * d + d:(d + 6) * d + 2 * d]
        for j in range(s):
            x = torch.cat([q_xyz[i] - s_xyz[j], ((q_box[i, 3:] - q_box[i, :3]) - (s_box[j, 3:] - s_box[j, :3])).abs(),
                           feats[j]])
            ref = torch.relu(x @ w0 + b0) @ w1
            torch.testing.assert_close(out[i, j], ref[0], atol=1e-5, rtol=1e-5)
    chunked = radial_point_migration(params, q_xyz, q_box, s_xyz, s_box, feats, d, 2, max_elements=2 * s * (d + 6))
    assert torch.equal(chunked, out)


def test_three_dynamic_layers_layout():
    assert num_dynamic_params(32, 3) == (38 * 32 + 32 * 16 + 16) + (32 + 16 + 1)
    with pytest.raises(ValueError, match="num_dyco_layer must be 2 or 3"):
        num_dynamic_params(32, 4)


# -- losses ------------------------------------------------------------------------------------
def test_dice_and_mask_iou_hand_values():
    logits = torch.tensor([[10.0, -10.0, 10.0, -10.0]])
    target = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    p = torch.sigmoid(logits)
    ref = 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
    torch.testing.assert_close(dice_loss(logits, target), ref)
    assert abs(mask_iou(logits, target).item() - 1 / 2) < 1e-5


def test_pointwise_losses_without_instance_voxels_are_zero_but_connected():
    m = 6
    sem = torch.randn(m, 4, requires_grad=True)
    off, cor, conf = (torch.randn(m, 3, requires_grad=True), torch.randn(m, 6, requires_grad=True),
                      torch.randn(m, requires_grad=True))
    losses = pointwise_losses(sem, off, cor, conf, torch.randn(m, 3), torch.zeros(m, dtype=torch.long),
                              torch.full((m,), -1), torch.full((m, 3), -100.0), torch.full((m, 6), -100.0))
    assert losses["pw_center_loss"].item() == 0 and losses["pw_sem_loss"].item() > 0
    sum(losses.values()).backward()
    assert off.grad is not None and torch.all(off.grad == 0)


def test_pointwise_losses_hand_values():
    xyz = torch.tensor([[0.0, 0, 0], [1.0, 1, 1]])
    off = torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.0, 0.0]])
    target_off = torch.tensor([[0.0, 0.0, 0.0], [-100.0, -100, -100]])
    corners = torch.tensor([[0.0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0]])
    target_c = torch.tensor([[0.0, 0, 0, 1, 1, 1], [-100.0] * 6])
    losses = pointwise_losses(torch.zeros(2, 3), off, corners, torch.tensor([0.5, 0.0]), xyz,
                              torch.tensor([1, -100]), torch.tensor([0, -1]), target_off, target_c)
    assert abs(losses["pw_center_loss"].item() - 0.5) < 1e-6
    assert losses["pw_corners_loss"].item() == 0
    assert abs(losses["pw_giou_loss"].item()) < 1e-5
    assert abs(losses["pw_conf_loss"].item() - 0.25) < 1e-5
