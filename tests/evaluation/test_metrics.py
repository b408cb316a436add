"""Class tables, ScanNet200 split averages, S3DIS precision/recall/coverage, semantic metrics."""
import numpy as np
import pytest

from sphmask.evaluation import (DATASETS, S3DIS, SCANNET200, SCANNETV2, STPLS3D, InstanceEvaluator, S3DISEvaluator,
                                SemanticEvaluator, get_dataset)


def test_scannetv2_table_matches_benchmark_ids():
    assert SCANNETV2.eval_ids == (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39)
    assert SCANNETV2.eval_names[0] == "cabinet" and SCANNETV2.eval_names[-1] == "otherfurniture"
    assert SCANNETV2.semantic_names[:2] == ("wall", "floor") and SCANNETV2.min_region_size == 100


def test_scannet200_table_has_198_classes_and_disjoint_splits():
    assert SCANNET200.num_semantic == 200 and SCANNET200.num_eval == 198
    assert SCANNET200.semantic_ids[:4] == (1, 3, 2, 4)  # wall, floor, then id order
    assert "wall" not in SCANNET200.eval_names and "floor" not in SCANNET200.eval_names
    head, common, tail = (SCANNET200.splits[k] for k in ("head", "common", "tail"))
    assert (len(head), len(common), len(tail)) == (64, 68, 66)
    assert head | common | tail == set(SCANNET200.eval_names)
    assert {"chair", "cushion", "cup"} <= head | common | tail and "cushion" in common and "cup" in tail


def test_other_tables():
    assert S3DIS.num_eval == 13 and S3DIS.eval_names[7:11] == ("table", "chair", "sofa", "bookcase")
    assert STPLS3D.num_eval == 14 and STPLS3D.min_region_size == 10 and STPLS3D.eval_names[0] == "building"
    assert set(DATASETS) == {"scannetv2", "scannet200", "s3dis", "stpls3d"}


def test_file_ids_map_to_label_ids():
    np.testing.assert_array_equal(SCANNETV2.label_ids_from_file_ids([3, 39, 1, 2, 13, 0, -1, 40]),
                                  [1, 18, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(SCANNET200.label_ids_from_file_ids([2, 1191, 3]), [1, 198, 0])


def test_unknown_dataset_lists_choices():
    with pytest.raises(ValueError, match=r"unknown dataset 'scannet'.*'scannetv2'"):
        get_dataset("scannet")


def _blocks(n, *segments):
    sem = np.full(n, -100)
    ins = np.full(n, -100)
    for a, b, s, i in segments:
        sem[a:b], ins[a:b] = s, i
    return sem, ins


def _pred(n, a, b, label_id, score):
    m = np.zeros(n, bool)
    m[a:b] = True
    return {"mask": m, "label_id": label_id, "score": score}


def test_scannet200_head_common_tail_averages():
    sem_of = {name: SCANNET200.eval_names.index(name) + 2 for name in ("chair", "table", "cushion", "cup")}
    lab = {k: v - 1 for k, v in sem_of.items()}
    sem, ins = _blocks(1000, (0, 100, sem_of["chair"], 0), (100, 200, sem_of["table"], 1),
                       (200, 300, sem_of["cushion"], 2), (300, 400, sem_of["cushion"], 3), (400, 500, sem_of["cup"], 4))
    ev = InstanceEvaluator("scannet200")
    ev.add_scene("s", [_pred(1000, 0, 100, lab["chair"], 0.9), _pred(1000, 100, 200, lab["table"], 0.8),
                       _pred(1000, 200, 300, lab["cushion"], 0.7)], semantic_labels=sem, instance_labels=ins)
    res = ev.evaluate()
    # head: chair 1, table 1; common: cushion 1 of 2 found -> 0.5; tail: cup missed -> 0
    assert res.split_averages() == {"head": {"ap": 1.0, "ap50": 1.0, "ap25": 1.0},
                                    "common": {"ap": 0.5, "ap50": 0.5, "ap25": 0.5},
                                    "tail": {"ap": 0.0, "ap50": 0.0, "ap25": 0.0}}
    assert res.averages() == {"ap": 0.625, "ap50": 0.625, "ap25": 0.625}
    assert "head AP" in res.format_table()


CEIL, TABLE, CHAIR = 0, 7, 8  # S3DIS semantic ids; label_id = id + 1


def test_s3dis_precision_recall_hand_case():
    # GT: chair 0..29, table 30..59, ceiling 60..99. Predictions (painted low score first):
    # chair 0..29 (0.9); table 30..44 (0.8); table 45..69 (0.3). The uncovered points 70..99 form
    # a "ceiling" prediction (official quirk) with IoU 30/40 with the ceiling GT: a TP.
    # table 30..44: IoU 15/30 = 0.5 -> TP (>=); table 45..69: IoU 15/40 -> FP.
    sem, ins = _blocks(100, (0, 30, CHAIR, 0), (30, 60, TABLE, 1), (60, 100, CEIL, 2))
    ev = S3DISEvaluator()
    ev.add_scene([_pred(100, 0, 30, CHAIR + 1, 0.9), _pred(100, 30, 45, TABLE + 1, 0.8),
                  _pred(100, 45, 70, TABLE + 1, 0.3)], sem, ins)
    res = ev.evaluate()
    assert (res.precision[CEIL], res.precision[TABLE], res.precision[CHAIR]) == (1.0, 0.5, 1.0)
    assert (res.recall[CEIL], res.recall[TABLE], res.recall[CHAIR]) == (1.0, 1.0, 1.0)
    assert (res.mucov[CEIL], res.mucov[TABLE], res.mucov[CHAIR]) == (0.75, 0.5, 1.0)
    means = res.means()
    assert means["mprec"] == pytest.approx(2.5 / 3) and means["mrec"] == 1.0 and means["mmucov"] == 0.75
    assert np.isnan(res.precision[1]) and np.isnan(res.recall[1])


def test_s3dis_coverage_averages_scenes_not_instances():
    # scene A: chair GTs of 10 and 30 points, only the first covered -> cov 1/2, wcov 10/40;
    # scene B: one chair GT covered -> 1, 1. MUCov = mean(0.5, 1), MWCov = mean(0.25, 1).
    sem_a, ins_a = _blocks(100, (0, 10, CHAIR, 0), (10, 40, CHAIR, 1), (40, 100, 1, 2))
    sem_b, ins_b = _blocks(50, (0, 50, CHAIR, 0))
    ev = S3DISEvaluator()
    ev.add_scene([_pred(100, 0, 10, CHAIR + 1, 0.5)], sem_a, ins_a)
    ev.add_scene([_pred(50, 0, 50, CHAIR + 1, 0.5)], sem_b, ins_b)
    res = ev.evaluate()
    assert (res.mucov[CHAIR], res.mwcov[CHAIR]) == (0.75, 0.625)
    assert res.precision[CHAIR] == 1.0 and res.recall[CHAIR] == pytest.approx(2 / 3)


def test_s3dis_higher_score_overwrites():
    # two chair predictions on the same points: only the higher-scored one survives the painting
    sem, ins = _blocks(20, (0, 20, CHAIR, 0))
    ev = S3DISEvaluator()
    ev.add_scene([_pred(20, 0, 20, CHAIR + 1, 0.9), _pred(20, 0, 20, TABLE + 1, 0.1)], sem, ins)
    res = ev.evaluate()
    assert res.precision[CHAIR] == 1.0 and np.isnan(res.precision[TABLE])


def test_semantic_metrics_hand_case():
    # valid points: gt a a a b b (the 6th is ignored); pred a a b b c
    # IoU a 2/3, b 1/3, c 0 (predicted, absent), d NaN -> mIoU 1/3; Acc 3/5; mAcc mean(2/3, 1/2)
    ev = SemanticEvaluator(["a", "b", "c", "d"])
    ev.update(np.array([0, 0, 1, 1, 2, 3]), np.array([0, 0, 0, 1, 1, -100]))
    res = ev.evaluate()
    np.testing.assert_allclose(res.iou[:3], [2 / 3, 1 / 3, 0])
    assert np.isnan(res.iou[3])
    assert res.miou == pytest.approx(1 / 3) and res.acc == pytest.approx(3 / 5) and res.macc == pytest.approx(7 / 12)
    assert res.to_dict()["classes"]["d"] == {"iou": None, "acc": None}


def test_semantic_confusion_accumulates_over_scenes():
    ev = SemanticEvaluator(["a", "b"])
    ev.update([0, 1], [0, 0])
    ev.update([1], [1])
    np.testing.assert_array_equal(ev.confusion, [[1, 1], [0, 1]])


def test_semantic_rejects_out_of_range_prediction():
    ev = SemanticEvaluator(["a", "b"])
    with pytest.raises(ValueError, match=r"pred labels must be in 0\.\.1"):
        ev.update([0, 2], [0, 1])


def test_stpls3d_min_region_size_is_10():
    building = STPLS3D.eval_names.index("building")
    for size, expected in ((10, 1.0), (9, np.nan)):
        sem, ins = _blocks(100, (0, size, building + 1, 0))
        ev = InstanceEvaluator("stpls3d")
        ev.add_scene("s", [_pred(100, 0, size, building + 1, 0.5)], semantic_labels=sem, instance_labels=ins)
        np.testing.assert_array_equal(ev.evaluate().class_table()[building], [expected] * 3)
