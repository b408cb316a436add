"""InstanceEvaluator on hand-computed scenes (spec §8.1 and the official ScanNet script's rules).

Scenes are 1-D vertex ranges; GT ids are ``nyu40 * 1000 + instance``. Expected APs are worked
out by hand from the official precision/recall rules (comments show the work).
"""
import math

import numpy as np
import pytest

from sphmask.evaluation import OVERLAPS, SCANNETV2, InstanceEvaluator, average_precision

CHAIR, TABLE, BED = 5, 7, 4  # NYU40 ids
CHAIR_L, TABLE_L, BED_L = (SCANNETV2.eval_ids.index(i) + 1 for i in (CHAIR, TABLE, BED))  # label_id 1..18


def gt(n, *segments):
    """GT ids [n]: segments (start, end, nyu40 id, instance number); elsewhere 0 (unannotated)."""
    ids = np.zeros(n, np.int64)
    for a, b, cls, inst in segments:
        ids[a:b] = cls * 1000 + inst
    return ids


def pred(n, label_id, score, *ranges):
    mask = np.zeros(n, bool)
    for a, b in ranges:
        mask[a:b] = True
    return {"mask": mask, "label_id": label_id, "score": score}


def evaluate(*scenes, **kw):
    ev = InstanceEvaluator("scannetv2", **kw)
    for i, (ids, preds) in enumerate(scenes):
        ev.add_scene(f"s{i}", preds, gt_ids=ids)
    return ev.evaluate()


def row(res, name):
    return res.class_table()[res.class_names.index(name)]


def test_perfect_prediction_scores_one():
    ids = gt(1000, (0, 200, CHAIR, 1), (300, 600, TABLE, 2))
    res = evaluate((ids, [pred(1000, CHAIR_L, 0.9, (0, 200)), pred(1000, TABLE_L, 0.4, (300, 600))]))
    np.testing.assert_array_equal(row(res, "chair"), [1, 1, 1])
    np.testing.assert_array_equal(row(res, "table"), [1, 1, 1])
    assert res.averages() == {"ap": 1.0, "ap50": 1.0, "ap25": 1.0}


def test_one_missed_gt_halves_ap():
    # one TP (0.9) and one hard FN: recall 0.5 at precision 1 -> area 0.5
    ids = gt(1000, (0, 200, CHAIR, 1), (300, 600, CHAIR, 2))
    res = evaluate((ids, [pred(1000, CHAIR_L, 0.9, (0, 200))]))
    np.testing.assert_array_equal(row(res, "chair"), [0.5, 0.5, 0.5])


def test_duplicate_prediction_is_false_positive_at_lower_score():
    # GT A matched (0.8), GT B matched (0.5), a second prediction on A (0.7) is an FP.
    # Scores ascending 0.5 TP, 0.7 FP, 0.8 TP: (p, r) = (2/3, 1), (1/2, 1/2), (1, 1/2), end (1, 0);
    # step widths (r[i-1] - r[i+1]) / 2 = 1/4 each -> AP = (2/3 + 1/2 + 1 + 1) / 4 = 19/24.
    ids = gt(1000, (0, 200, CHAIR, 1), (300, 600, CHAIR, 2))
    preds = [pred(1000, CHAIR_L, 0.8, (0, 200)), pred(1000, CHAIR_L, 0.5, (300, 600)),
             pred(1000, CHAIR_L, 0.7, (0, 200))]
    res = evaluate((ids, preds))
    np.testing.assert_allclose(row(res, "chair"), [19 / 24] * 3, rtol=0, atol=1e-15)


def test_duplicate_listed_first_gives_gt_the_higher_score():
    # the GT keeps the higher score and the lower becomes the FP, whichever matched first
    ids = gt(1000, (0, 200, CHAIR, 1), (300, 600, CHAIR, 2))
    a = [pred(1000, CHAIR_L, 0.8, (0, 200)), pred(1000, CHAIR_L, 0.7, (0, 200)), pred(1000, CHAIR_L, 0.5, (300, 600))]
    b = [a[1], a[0], a[2]]
    np.testing.assert_array_equal(evaluate((ids, a)).ap, evaluate((ids, b)).ap)


def test_prediction_on_void_vertices_is_not_a_false_positive():
    # unannotated (0), wall (1xxx) and non-evaluated classes (40xxx) are void
    ids = gt(1000, (0, 200, CHAIR, 1), (400, 500, 1, 2), (500, 600, 40, 3))
    preds = [pred(1000, CHAIR_L, 0.9, (0, 200)), pred(1000, CHAIR_L, 0.95, (250, 600))]
    np.testing.assert_array_equal(row(evaluate((ids, preds)), "chair"), [1, 1, 1])


def test_partly_void_prediction_is_ignored_only_above_its_void_fraction():
    # 150 void + 100 table points, labelled chair: void fraction 0.6 -> ignored at overlaps < 0.6,
    # a false positive (score 0.95, above the TP) at 0.6 ... 0.9
    ids = gt(1000, (0, 200, CHAIR, 1), (400, 500, TABLE, 2))
    preds = [pred(1000, CHAIR_L, 0.9, (0, 200)), pred(1000, CHAIR_L, 0.95, (250, 500))]
    ap = evaluate((ids, preds)).ap[SCANNETV2.eval_names.index("chair")]
    # with the FP on top: (p, r) = (1/2, 1) at 0.9, (0, 0) at 0.95, end (1, 0) -> AP = 1/2 * 1/2 = 1/4
    expected = np.where(OVERLAPS < 0.6 - 1e-9, 1.0, 0.25)
    np.testing.assert_array_equal(ap, expected)


def test_prediction_with_label_outside_evaluation_classes_is_ignored():
    ids = gt(1000, (0, 200, CHAIR, 1))
    preds = [pred(1000, CHAIR_L, 0.9, (0, 200)), pred(1000, 0, 0.99, (300, 600)), pred(1000, 19, 0.99, (300, 600))]
    np.testing.assert_array_equal(row(evaluate((ids, preds)), "chair"), [1, 1, 1])


def test_class_without_ground_truth_is_nan_and_excluded_from_average():
    ids = gt(1000, (0, 200, CHAIR, 1))
    res = evaluate((ids, [pred(1000, CHAIR_L, 0.9, (0, 200)), pred(1000, BED_L, 0.9, (300, 600))]))
    assert np.isnan(row(res, "bed")).all()
    assert res.averages() == {"ap": 1.0, "ap50": 1.0, "ap25": 1.0}
    assert res.to_dict()["classes"]["bed"] == {"ap": None, "ap50": None, "ap25": None}


def test_class_with_ground_truth_but_no_prediction_scores_zero():
    ids = gt(1000, (0, 200, CHAIR, 1), (300, 600, TABLE, 2))
    res = evaluate((ids, [pred(1000, CHAIR_L, 0.9, (0, 200))]))
    np.testing.assert_array_equal(row(res, "table"), [0, 0, 0])
    assert res.averages() == {"ap": 0.5, "ap50": 0.5, "ap25": 0.5}


def test_all_gt_missed_and_all_predictions_ignored_gives_zero_not_indexerror():
    # the official script raises IndexError here (no scored entry); ISBNet reports 0
    ids = gt(1000, (0, 200, CHAIR, 1))
    res = evaluate((ids, [pred(1000, CHAIR_L, 0.9, (300, 600))]))
    np.testing.assert_array_equal(row(res, "chair"), [0, 0, 0])


def test_min_region_size_boundary_keeps_100_drops_99():
    at_100 = evaluate((gt(1000, (0, 100, CHAIR, 1)), [pred(1000, CHAIR_L, 0.9, (0, 100))]))
    np.testing.assert_array_equal(row(at_100, "chair"), [1, 1, 1])
    at_99 = evaluate((gt(1000, (0, 99, CHAIR, 1)), [pred(1000, CHAIR_L, 0.9, (0, 99))]))
    assert np.isnan(row(at_99, "chair")).all()  # GT too small -> no GT; the 99-point prediction is dropped too


def test_prediction_dropped_below_min_region_size():
    # a 99-point prediction does not count, so the GT is a hard false negative
    ids = gt(1000, (0, 200, CHAIR, 1))
    res = evaluate((ids, [pred(1000, CHAIR_L, 0.9, (0, 99))]))
    np.testing.assert_array_equal(row(res, "chair"), [0, 0, 0])


def test_min_region_size_override():
    res = evaluate((gt(1000, (0, 99, CHAIR, 1)), [pred(1000, CHAIR_L, 0.9, (0, 99))]), min_region_size=10)
    np.testing.assert_array_equal(row(res, "chair"), [1, 1, 1])


def test_prediction_matching_small_gt_is_neither_tp_nor_fp_until_overlap_exceeds_its_iou():
    # P (0.9, 120 points) covers a 99-point chair GT plus 21 table points: IoU 99/120 = 0.825.
    # Up to 0.80 it "found" a GT (the small one) and is dropped; at 0.85 and 0.90 its ignored
    # fraction 0.825 <= overlap makes it an FP above the real TP (0.5) -> AP 1/4 there.
    ids = gt(1000, (0, 200, CHAIR, 1), (300, 399, CHAIR, 2), (399, 600, TABLE, 3))
    preds = [pred(1000, CHAIR_L, 0.5, (0, 200)), pred(1000, CHAIR_L, 0.9, (300, 420))]
    ap = evaluate((ids, preds)).ap[SCANNETV2.eval_names.index("chair")]
    np.testing.assert_array_equal(ap, np.where(OVERLAPS > 0.825, 0.25, 1.0))
    assert row(evaluate((ids, preds)), "chair")[0] == pytest.approx((7 + 2 * 0.25) / 9, abs=1e-15)


def test_overlap_025_counts_a_match_that_fails_at_050():
    # 100 of the GT's 200 points + 150 table points: IoU 100/350 = 0.286
    ids = gt(1000, (0, 200, CHAIR, 1), (200, 600, TABLE, 2))
    res = evaluate((ids, [pred(1000, CHAIR_L, 0.9, (100, 350))]))
    np.testing.assert_array_equal(row(res, "chair"), [0, 0, 1])


def test_iou_must_exceed_overlap_strictly():
    # IoU exactly 0.5 (200 of 400 points) is not a match at 0.50
    ids = gt(1000, (0, 200, CHAIR, 1), (200, 400, TABLE, 2))
    ap = evaluate((ids, [pred(1000, CHAIR_L, 0.9, (0, 400))])).ap[SCANNETV2.eval_names.index("chair")]
    assert ap[0] == 0.0 and ap[9] == 1.0


def test_overlap_025_prediction_spanning_two_gts_follows_visiting_order():
    # X (0.9) covers GT A and GT B (IoU 0.5 with each), Y (0.8) is exactly A.
    # Order X, Y: A takes X (Y is a duplicate), B finds X used -> FN: AP25 = 1/2.
    # Order Y, X: A takes Y (X is a duplicate), B takes X: two TPs and one FP below: AP25 = 1.
    ids = gt(1000, (0, 200, CHAIR, 1), (200, 400, CHAIR, 2))
    x, y = pred(1000, CHAIR_L, 0.9, (0, 400)), pred(1000, CHAIR_L, 0.8, (0, 200))
    assert row(evaluate((ids, [x, y])), "chair")[2] == 0.5
    assert row(evaluate((ids, [y, x])), "chair")[2] == 1.0


def test_scenes_pool_into_one_curve_per_class():
    # scene 0 perfect, scene 1 one GT missed: 1 TP of 2 GT overall -> 0.5
    s0 = (gt(500, (0, 200, CHAIR, 1)), [pred(500, CHAIR_L, 0.9, (0, 200))])
    s1 = (gt(500, (0, 200, CHAIR, 1)), [])
    np.testing.assert_array_equal(row(evaluate(s0, s1), "chair"), [0.5, 0.5, 0.5])


def test_semantic_instance_labels_match_encoded_ids():
    rng = np.random.default_rng(0)
    n = 2000
    sem = rng.integers(0, 20, n // 100).repeat(100)  # 20 blocks of 100 points
    ins = np.arange(n // 100).repeat(100)
    ins[sem < 2] = -100  # wall / floor have no instance
    sem[:100] = -100
    ins[:100] = -100
    ids = np.where((ins >= 0) & (sem >= 2), np.array(SCANNETV2.semantic_ids)[np.clip(sem, 0, None)] * 1000 + ins + 1, 0)
    preds = [pred(n, int(sem[b * 100]) - 1, float(rng.random()), (b * 100, b * 100 + 150 - 50 * (b % 2)))
             for b in range(1, n // 100) if sem[b * 100] >= 2]
    a = InstanceEvaluator()
    a.add_scene("x", preds, semantic_labels=sem, instance_labels=ins)
    b = InstanceEvaluator()
    b.add_scene("x", preds, gt_ids=ids)
    np.testing.assert_array_equal(a.evaluate().ap, b.evaluate().ap)


def test_rle_and_tensor_masks_are_accepted():
    import torch

    from sphmask.evaluation import rle_encode

    ids = gt(1000, (0, 200, CHAIR, 1), (300, 600, TABLE, 2))
    m = np.zeros(1000, bool)
    m[300:600] = True
    preds = [{"mask": torch.from_numpy(np.arange(1000) < 200), "label_id": CHAIR_L, "score": 0.9},
             {"mask": rle_encode(m), "label_id": TABLE_L, "score": 0.8}]
    assert evaluate((ids, preds)).averages()["ap"] == 1.0


def test_average_precision_without_entries_is_zero():
    assert average_precision(np.zeros(0), np.zeros(0, bool), 3) == 0.0


def test_ties_in_score_are_order_free():
    scores = np.array([0.5, 0.5, 0.7, 0.5])
    tp = np.array([True, False, True, False])
    perm = [3, 1, 2, 0]
    assert average_precision(scores, tp, 1) == average_precision(scores[perm], tp[perm], 1)


def test_bad_inputs_raise_with_scene_and_instance():
    ev = InstanceEvaluator()
    ids = gt(100, (0, 100, CHAIR, 1))
    with pytest.raises(ValueError, match=r"scene 'a', instance 0: mask has shape \(99,\)"):
        ev.add_scene("a", [pred(99, CHAIR_L, 0.5, (0, 99))], gt_ids=ids)
    with pytest.raises(ValueError, match=r"instance 0: missing key\(s\) \['score'\]"):
        ev.add_scene("a", [{"mask": np.ones(100, bool), "label_id": CHAIR_L}], gt_ids=ids)
    with pytest.raises(ValueError, match="score must be finite"):
        ev.add_scene("a", [pred(100, CHAIR_L, math.nan, (0, 100))], gt_ids=ids)
    with pytest.raises(ValueError, match="ground truth missing"):
        ev.add_scene("a", [])
    with pytest.raises(ValueError, match="does not fit"):
        ev.add_scene("a", [], semantic_labels=np.full(5, 4), instance_labels=np.full(5, 999))
    ev.add_scene("a", [], gt_ids=ids)
    with pytest.raises(ValueError, match="added twice"):
        ev.add_scene("a", [], gt_ids=ids)


def test_printed_table_lists_classes_then_average():
    res = evaluate((gt(1000, (0, 200, CHAIR, 1)), [pred(1000, CHAIR_L, 0.9, (0, 200))]))
    lines = res.format_table().splitlines()
    assert lines[2].split() == ["what", ":", "AP", "AP_50%", "AP_25%"]
    assert lines[4 + SCANNETV2.eval_names.index("chair")] == f"{'chair':<15}:" + f"{1.0:>15.3f}" * 3
    assert lines[-1].startswith("average        :")
