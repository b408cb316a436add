"""Benchmark file formats: RLE vectors, readers' error messages, writer round trips."""
import os

import numpy as np
import pytest

from sphmask.evaluation import (SCANNETV2, EvaluationInputError, InstanceEvaluator, atomic_write, encode_gt_ids,
                                evaluate_directories, read_gt_file, read_mask_file, read_prediction_file, rle_decode,
                                rle_encode, write_gt_file, write_submission)


def test_rle_spec_vector():
    # spec App. C.5: 0110011101 -> [2, 2, 6, 3, 10, 1], length 10
    mask = np.array([0, 1, 1, 0, 0, 1, 1, 1, 0, 1], bool)
    rle = rle_encode(mask)
    assert rle["length"] == 10
    assert rle["counts"].tolist() == [2, 2, 6, 3, 10, 1]
    np.testing.assert_array_equal(rle_decode(rle), mask)


@pytest.mark.parametrize("mask, counts", [([0, 0, 0], []), ([1, 1, 1], [1, 3]), ([1, 0, 1], [1, 1, 3, 1]), ([], [])],
                         ids=["empty", "full", "alternating", "zero-length"])
def test_rle_edge_vectors(mask, counts):
    rle = rle_encode(np.array(mask, bool))
    assert rle["counts"].tolist() == counts
    np.testing.assert_array_equal(rle_decode(rle), np.array(mask, bool))


def test_rle_round_trip_random():
    rng = np.random.default_rng(0)
    for n in (1, 7, 1000):
        mask = rng.random(n) < 0.3
        np.testing.assert_array_equal(rle_decode(rle_encode(mask)), mask)


def test_rle_decode_accepts_space_separated_string():
    np.testing.assert_array_equal(rle_decode({"length": 5, "counts": "2 2 5 1"}), [0, 1, 1, 0, 1])


@pytest.mark.parametrize("counts", [[1], [0, 2], [4, 3], [1, 2, 2, 1], [3, 1, 1, 1], [1, 0]],
                         ids=["odd", "zero-start", "past-end", "overlap", "unordered", "empty-run"])
def test_rle_decode_rejects_bad_counts(counts):
    with pytest.raises(ValueError, match="RLE"):
        rle_decode({"length": 5, "counts": counts})


def test_gt_file_round_trip(tmp_path):
    ids = np.array([0, 3001, 3001, 39012, 1002, -5], np.int64)
    write_gt_file(str(tmp_path / "s.txt"), ids)
    assert (tmp_path / "s.txt").read_text() == "0\n3001\n3001\n39012\n1002\n-5\n"
    np.testing.assert_array_equal(read_gt_file(str(tmp_path / "s.txt")), ids)


def test_integer_reader_accepts_crlf_and_missing_final_newline(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"5001\r\n0\r\n7")
    np.testing.assert_array_equal(read_gt_file(str(tmp_path / "a.txt")), [5001, 0, 7])


def test_integer_reader_matches_python_int(tmp_path):
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.integers(-10**6, 10**6, 500), [0, -1, 10**18 - 1, -(10**18 - 1), 39001]])
    (tmp_path / "a.txt").write_text("".join(f"{v}\n" for v in values))
    np.testing.assert_array_equal(read_gt_file(str(tmp_path / "a.txt")), values)
    # forms only Python's int() accepts go through the line-by-line path
    (tmp_path / "b.txt").write_text("+5\n 7\n-0\n")
    np.testing.assert_array_equal(read_gt_file(str(tmp_path / "b.txt")), [5, 7, 0])


def test_integer_reader_rejects_values_beyond_int64(tmp_path):
    (tmp_path / "c.txt").write_text("1\n12345678901234567890\n")
    with pytest.raises(EvaluationInputError, match=r"c\.txt:2:"):
        read_gt_file(str(tmp_path / "c.txt"))


def test_gt_reader_names_file_and_line_of_bad_value(tmp_path):
    (tmp_path / "g.txt").write_text("3001\n3001\nx\n")
    with pytest.raises(EvaluationInputError, match=r"g\.txt:3: expected one integer per line"):
        read_gt_file(str(tmp_path / "g.txt"))


def test_gt_reader_rejects_empty_line(tmp_path):
    (tmp_path / "g.txt").write_text("3001\n\n3001\n")
    with pytest.raises(EvaluationInputError, match=r"g\.txt:2:"):
        read_gt_file(str(tmp_path / "g.txt"))


def test_mask_reader_wrong_number_of_lines(tmp_path):
    (tmp_path / "m.txt").write_text("0\n1\n1\n")
    with pytest.raises(EvaluationInputError, match=r"m\.txt: 3 lines, but the ground truth has 4 vertices"):
        read_mask_file(str(tmp_path / "m.txt"), 4)


def test_mask_reader_names_bad_line(tmp_path):
    (tmp_path / "m.txt").write_text("0\n1\n0.5\n1\n")
    with pytest.raises(EvaluationInputError, match=r"m\.txt:3: expected one integer per line, got '0.5'"):
        read_mask_file(str(tmp_path / "m.txt"), 4)


def test_mask_reader_treats_any_nonzero_integer_as_inside(tmp_path):
    (tmp_path / "m.txt").write_text("0\n7\n-1\n0\n")
    np.testing.assert_array_equal(read_mask_file(str(tmp_path / "m.txt"), 4), [False, True, True, False])


@pytest.mark.parametrize("line, message", [
    ("predicted_masks/a.txt 5", r"p\.txt:2: expected '<relative mask path> <label id> <confidence>'"),
    ("predicted_masks/a.txt  5 0.5", r"p\.txt:2: expected"),
    ("/abs/a.txt 5 0.5", r"p\.txt:2: mask path must be relative"),
    ("../a.txt 5 0.5", r"p\.txt:2: mask path '../a.txt' points outside"),
    ("predicted_masks/a.txt chair 0.5", r"p\.txt:2: label id must be a number"),
    ("predicted_masks/a.txt 5 high", r"p\.txt:2: confidence must be a number"),
    ("predicted_masks/a.txt 5 nan", r"p\.txt:2: confidence must be finite"),
], ids=["two-fields", "double-space", "absolute", "outside", "label-word", "conf-word", "conf-nan"])
def test_prediction_file_errors_name_file_and_line(tmp_path, line, message):
    (tmp_path / "p.txt").write_text(f"predicted_masks/b.txt 5 0.5\n{line}\n")
    with pytest.raises(EvaluationInputError, match=message):
        read_prediction_file(str(tmp_path / "p.txt"))


def test_prediction_file_label_parsed_like_official(tmp_path):
    (tmp_path / "p.txt").write_text("predicted_masks/a.txt 5.0 0.25\n")
    (line,) = read_prediction_file(str(tmp_path / "p.txt"))
    assert (line.label_id, line.confidence, line.line) == (5, 0.25, 1)
    assert line.mask_path == str(tmp_path / "predicted_masks" / "a.txt")


def test_encode_gt_ids_keeps_only_evaluation_class_instances():
    sem = np.array([0, 1, 2, 4, 4, 19, -100, 2])
    ins = np.array([-100, -100, 0, 1, 1, 2, 3, -100])
    # wall/floor, ignored and instance-less points -> 0; cabinet=3, chair=5, otherfurniture=39 (NYU40)
    np.testing.assert_array_equal(encode_gt_ids(sem, ins), [0, 0, 3001, 5002, 5002, 39003, 0, 0])


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "f.txt"
    atomic_write(str(p), "old")
    atomic_write(str(p), b"new")
    assert p.read_text() == "new"
    assert os.listdir(tmp_path) == ["f.txt"]


def _model_output(rng, n):
    """A few instances shaped like the model's output (1-based label_id, score)."""
    out = []
    for k in range(6):
        lo = int(rng.integers(0, n - 300))
        mask = np.zeros(n, bool)
        mask[lo:lo + int(rng.integers(100, 300))] = True
        out.append({"mask": mask, "label_id": int(rng.integers(1, 19)), "score": float(rng.random())})
    return out


def test_submission_writer_format(tmp_path):
    mask = np.array([1, 0, 1], bool)
    write_submission(str(tmp_path), "scene0000_00", [{"mask": mask, "label_id": 1, "score": 0.123456},
                                                      {"mask": ~mask, "label_id": 18, "score": 1.0}])
    assert (tmp_path / "scene0000_00.txt").read_text() == (
        "predicted_masks/scene0000_00_000.txt 3 0.1235\npredicted_masks/scene0000_00_001.txt 39 1.0000\n")
    assert (tmp_path / "predicted_masks" / "scene0000_00_000.txt").read_text() == "1\n0\n1\n"
    assert (tmp_path / "predicted_masks" / "scene0000_00_001.txt").read_text() == "0\n1\n0\n"


def test_submission_round_trip_matches_in_memory_evaluation(tmp_path):
    rng = np.random.default_rng(1)
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    memory = InstanceEvaluator()
    for s in range(3):
        n = 2000
        sem = rng.integers(0, 20, 20).repeat(100)
        ins = np.arange(20).repeat(100)
        scene = f"scene{s:04d}_00"
        instances = _model_output(rng, n)
        for inst in instances:  # the files hold 4-decimal scores; use the same in memory
            inst["score"] = round(inst["score"], 4)
        write_gt_file(str(gt_dir / f"{scene}.txt"), encode_gt_ids(sem, ins))
        write_submission(str(pred_dir), scene, instances)
        memory.add_scene(scene, instances, semantic_labels=sem, instance_labels=ins)
    from_files = evaluate_directories(str(gt_dir), str(pred_dir))
    np.testing.assert_array_equal(from_files.ap, memory.evaluate().ap)


def test_submission_writer_rejects_bad_label(tmp_path):
    with pytest.raises(ValueError, match=r"label_id 19 outside 1\.\.18"):
        write_submission(str(tmp_path), "s", [{"mask": np.ones(3, bool), "label_id": 19, "score": 0.5}])
    assert SCANNETV2.num_eval == 18
