"""Directory evaluation and tools/evaluate.py: scene selection, warnings, JSON, input errors."""
import importlib.util
import json
import os

import numpy as np
import pytest

from sphmask.cli import run_tool
from sphmask.evaluation import EvaluationInputError, EvaluationWarning, evaluate_directories

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cli():
    spec = importlib.util.spec_from_file_location("evaluate_cli", os.path.join(ROOT, "tools", "evaluate.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return lambda argv: run_tool(mod.main, argv)  # as `python tools/evaluate.py` runs it


def _write_lines(path, values):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{v}\n" for v in values))


def make_dirs(tmp_path, scenes_with_pred=("scene0000_00",), scenes_without_pred=()):
    """Each scene: 300 vertices, one chair GT (5001) on 0..199; a prediction file holds the exact mask."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    pred.mkdir(parents=True)
    for s in list(scenes_with_pred) + list(scenes_without_pred):
        _write_lines(gt / f"{s}.txt", [5001] * 200 + [0] * 100)
    for s in scenes_with_pred:
        _write_lines(pred / "predicted_masks" / f"{s}_000.txt", [1] * 200 + [0] * 100)
        (pred / f"{s}.txt").write_text(f"predicted_masks/{s}_000.txt 5 0.9000\n")
    return str(gt), str(pred)


def test_gt_scene_without_prediction_is_skipped_with_warning(tmp_path):
    gt, pred = make_dirs(tmp_path, ["scene0000_00"], ["scene0001_00"])
    with pytest.warns(EvaluationWarning, match=r"1 ground-truth scene\(s\) have no prediction file .* NOT evaluated"):
        res = evaluate_directories(gt, pred)
    assert res.num_scenes == 1
    assert res.averages()["ap"] == 1.0


def test_strict_scenes_counts_missing_prediction_as_missed(tmp_path):
    gt, pred = make_dirs(tmp_path, ["scene0000_00"], ["scene0001_00"])
    with pytest.warns(EvaluationWarning, match="counted as scenes without predictions"):
        res = evaluate_directories(gt, pred, strict_scenes=True)
    assert res.num_scenes == 2
    assert res.averages() == {"ap": 0.5, "ap50": 0.5, "ap25": 0.5}  # one chair found, one missed


def test_prediction_without_ground_truth_is_an_error(tmp_path):
    gt, pred = make_dirs(tmp_path, ["scene0000_00"])
    os.remove(os.path.join(gt, "scene0000_00.txt"))
    _write_lines(tmp_path / "gt" / "other.txt", [0])
    with pytest.raises(EvaluationInputError, match="1 prediction file.*no ground-truth file.*scene0000_00"):
        evaluate_directories(gt, pred)


def test_empty_prediction_directory_is_an_error(tmp_path):
    gt, pred = make_dirs(tmp_path, [], ["scene0000_00"])
    with pytest.raises(EvaluationInputError, match="no prediction files"):
        evaluate_directories(gt, pred)


def test_official_result_file_in_prediction_directory_is_not_a_scene(tmp_path):
    gt, pred = make_dirs(tmp_path)
    (tmp_path / "pred" / "semantic_instance_evaluation.txt").write_text("class,class id,ap,ap50,ap25\n")
    assert evaluate_directories(gt, pred).num_scenes == 1


def test_mask_of_non_evaluated_label_is_not_opened(tmp_path):
    gt, pred = make_dirs(tmp_path)
    with open(os.path.join(pred, "scene0000_00.txt"), "a") as f:
        f.write("predicted_masks/does_not_exist.txt 1 0.5000\n")  # wall: not an evaluation class
    assert evaluate_directories(gt, pred).averages()["ap"] == 1.0


def test_missing_mask_file_names_prediction_line(tmp_path):
    gt, pred = make_dirs(tmp_path)
    with open(os.path.join(pred, "scene0000_00.txt"), "a") as f:
        f.write("predicted_masks/does_not_exist.txt 5 0.5000\n")
    with pytest.raises(EvaluationInputError, match=r"scene0000_00\.txt:2: mask file not found"):
        evaluate_directories(gt, pred)


def test_mask_with_wrong_number_of_lines_names_mask_file(tmp_path):
    gt, pred = make_dirs(tmp_path)
    _write_lines(tmp_path / "pred" / "predicted_masks" / "scene0000_00_000.txt", [1] * 200)
    with pytest.raises(EvaluationInputError, match=r"scene0000_00_000\.txt: 200 lines, but the ground truth has 300"):
        evaluate_directories(gt, pred)


def test_repeated_mask_path_counts_once_with_last_line_values(tmp_path):
    gt, pred = make_dirs(tmp_path)
    with open(os.path.join(pred, "scene0000_00.txt"), "a") as f:
        f.write("predicted_masks/scene0000_00_000.txt 5 0.1000\n")
    with pytest.warns(EvaluationWarning, match=r"scene0000_00\.txt:2: mask file .* already listed on line 1"):
        res = evaluate_directories(gt, pred)
    assert res.averages()["ap"] == 1.0  # counted once: no duplicate false positive


def test_mask_shared_by_two_scenes_is_an_error(tmp_path):
    gt, pred = make_dirs(tmp_path, ["scene0000_00", "scene0001_00"])
    (tmp_path / "pred" / "scene0001_00.txt").write_text("predicted_masks/scene0000_00_000.txt 5 0.9000\n")
    with pytest.raises(EvaluationInputError, match=r"scene0001_00\.txt:1: mask file .* also listed by scene"):
        evaluate_directories(gt, pred)


def test_cli_prints_table_and_writes_json(tmp_path, capsys):
    gt, pred = make_dirs(tmp_path)
    out = tmp_path / "r.json"
    assert _cli()(["--gt", gt, "--pred", pred, "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "chair" in printed and "average" in printed
    data = json.loads(out.read_text())
    assert data["average"] == {"ap": 1.0, "ap50": 1.0, "ap25": 1.0}
    assert data["classes"]["chair"] == {"ap": 1.0, "ap50": 1.0, "ap25": 1.0}
    assert data["classes"]["bed"] == {"ap": None, "ap50": None, "ap25": None}
    assert len(data["classes"]) == 18


def test_cli_strict_scenes_flag(tmp_path, capsys):
    gt, pred = make_dirs(tmp_path, ["scene0000_00"], ["scene0001_00"])
    out = tmp_path / "r.json"
    assert _cli()(["--gt", gt, "--pred", pred, "--json", str(out), "--strict-scenes"]) == 0
    assert json.loads(out.read_text())["average"]["ap"] == 0.5
    assert "WARNING: 1 ground-truth scene(s)" in capsys.readouterr().err


def test_cli_input_error_exits_2_with_message(tmp_path, capsys):
    gt, pred = make_dirs(tmp_path)
    (tmp_path / "pred" / "scene0000_00.txt").write_text("predicted_masks/scene0000_00_000.txt 5\n")
    assert _cli()(["--gt", gt, "--pred", pred]) == 2
    assert "scene0000_00.txt:1: expected" in capsys.readouterr().err


def test_cli_scannet200_reports_splits(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    _write_lines(gt / "s.txt", [2001] * 200 + [0] * 100)  # ScanNet200 id 2 = chair (head)
    _write_lines(pred / "predicted_masks" / "s_000.txt", [1] * 200 + [0] * 100)
    (pred / "s.txt").write_text("predicted_masks/s_000.txt 2 0.9000\n")
    out = tmp_path / "r.json"
    assert _cli()(["--gt", str(gt), "--pred", str(pred), "--dataset", "scannet200", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert len(data["classes"]) == 198
    assert data["splits"]["head"] == {"ap": 1.0, "ap50": 1.0, "ap25": 1.0}
    assert data["splits"]["tail"] == {"ap": None, "ap50": None, "ap25": None}
    np.testing.assert_equal(data["average"]["ap"], 1.0)
