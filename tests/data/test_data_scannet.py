"""Raw ScanNet-format scenes -> preprocessed files, checked per vertex against what the synthetic
generator intended, plus the label-map copies, bad inputs, batch behaviour and resuming."""
import contextlib
import json
import os
import shutil

import numpy as np
import pytest
import torch

from sphmask.data.classes import SCANNET200
from sphmask.data.labelmap import read_label_map
from sphmask.data.prepare import parse_split_arg, prepare_dataset
from sphmask.data.prepared import load_pth_arrays, load_scene_file, load_superpoints
from sphmask.data.scannet import prepare_scannet_scene
from sphmask.data.synthetic import generate_scene
from sphmask.io.errors import DataFormatError

from data_helpers import FIXTURES, cell_segments, write_raw_dataset

BENCHMARK_NYU40 = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39]


def expected_semantic(scene):
    nyu = scene.vertex_nyu40
    out = np.full(nyu.shape, -100)
    for train_id, n in enumerate(BENCHMARK_NYU40):
        out[nyu == n] = train_id
    return out


def expected_instances(scene):
    """Objects other than walls and floors, numbered in aggregation order; -100 elsewhere."""
    out = np.full(scene.vertex_object.shape, -100)
    k = 0
    for i, obj in enumerate(scene.objects):
        if obj.raw_label in ("wall", "floor"):
            continue
        out[scene.vertex_object == i] = k
        k += 1
    return out


def scene_file(out, prefix, sid):
    return os.path.join(out, prefix, sid + "_inst_nostuff.pth")


def test_every_scene_written_with_official_layout_and_dtypes(prepared, small_rooms):
    out, summary = prepared
    assert not summary.failed
    # No split files and no synth* id in the official val list: every scene goes to train/.
    for s in small_rooms:
        arrs = load_pth_arrays(scene_file(out, "train", s.scene_id))
        assert isinstance(arrs, tuple) and len(arrs) == 4
        assert [a.dtype for a in arrs] == [np.float32, np.float32, np.float64, np.float64]
        assert os.path.isfile(os.path.join(out, "superpoints", s.scene_id + ".pth"))
        assert os.path.isfile(os.path.join(out, "train_gt", s.scene_id + ".txt"))


def test_coords_centred_and_colors_scaled_per_vertex(prepared, small_rooms):
    out, _ = prepared
    for s in small_rooms:
        xyz, rgb, _, _ = load_scene_file(scene_file(out, "train", s.scene_id))
        v = s.vertices.astype(np.float64)
        np.testing.assert_allclose(xyz, v - v.mean(0), atol=2e-5)
        np.testing.assert_allclose(rgb, s.colors / 127.5 - 1, atol=1e-6)
        assert rgb.min() >= -1 and rgb.max() <= 1


def test_semantic_labels_match_generator_per_vertex(prepared, small_rooms):
    out, _ = prepared
    for s in small_rooms:
        _, _, sem, _ = load_scene_file(scene_file(out, "train", s.scene_id))
        np.testing.assert_array_equal(sem, expected_semantic(s))


def test_instances_match_generator_objects_per_vertex(prepared, small_rooms):
    out, _ = prepared
    for s in small_rooms:
        _, _, _, inst = load_scene_file(scene_file(out, "train", s.scene_id))
        np.testing.assert_array_equal(inst, expected_instances(s))


def test_all_18_instance_classes_present_across_the_room_types(prepared, small_rooms):
    out, _ = prepared
    seen = set()
    for s in small_rooms:
        _, _, sem, inst = load_scene_file(scene_file(out, "train", s.scene_id))
        seen |= set(np.unique(sem[inst >= 0]).tolist())
    assert set(range(2, 20)) <= seen


def test_superpoints_are_the_segs_json_and_never_cross_objects(prepared, small_rooms):
    out, _ = prepared
    for s in small_rooms:
        spp = load_superpoints(os.path.join(out, "superpoints", s.scene_id + ".pth"), s.vertices.shape[0])
        np.testing.assert_array_equal(spp, cell_segments(s))
        for sp in np.unique(spp):
            assert np.unique(s.vertex_object[spp == sp]).shape[0] == 1


def test_gt_txt_is_nyu40_times_1000_plus_instance_plus_1(prepared, small_rooms):
    out, _ = prepared
    for s in small_rooms:
        gt = np.loadtxt(os.path.join(out, "train_gt", s.scene_id + ".txt"), dtype=np.int64)
        inst = expected_instances(s)
        want = np.where(inst >= 0, s.vertex_nyu40 * 1000 + inst + 1, 0)
        np.testing.assert_array_equal(gt, want)


def test_summary_line_counts_scenes_points_and_instances(prepared, small_rooms):
    _, summary = prepared
    line = summary.line()
    n_points = sum(s.vertices.shape[0] for s in small_rooms)
    n_inst = sum(int(expected_instances(s).max()) + 1 for s in small_rooms)
    assert line.startswith(f"scannetv2: {len(small_rooms)} scenes (train {len(small_rooms)}), {n_points:,} points, "
                           f"{n_inst:,} instances (")
    assert "bathtub 1" in line and "\n" not in line


def test_meta_json_keeps_class_table(prepared):
    out, _ = prepared
    with open(os.path.join(out, "meta.json")) as f:
        meta = json.load(f)
    assert meta["benchmark_ids"] == BENCHMARK_NYU40 and meta["label_shift"] == 2


# ---------------------------------------------------------------------------------- label maps


def crlf_fixed(text: str) -> str:
    return text.replace("refridgerator", "refrigerator").replace("\n", "\r\n")


def test_label_map_real_tsv_both_copies_give_the_same_map(tmp_path):
    with open(os.path.join(FIXTURES, "scannetv2-labels.subset.tsv"), newline="") as f:
        lf = f.read()
    assert "\r" not in lf and "refridgerator" in lf
    (tmp_path / "crlf.tsv").write_bytes(crlf_fixed(lf).encode())
    a = read_label_map(os.path.join(FIXTURES, "scannetv2-labels.subset.tsv"))
    b = read_label_map(str(tmp_path / "crlf.tsv"))
    assert a.nyu40 == b.nyu40 and a.raw_id == b.raw_id
    assert len(a.nyu40) == 43
    assert a.nyu40["refrigerator"] == 24 and a.nyu40["mini fridge"] == 24 and a.nyu40["sofa"] == 6


def test_label_map_with_byte_order_mark_and_missing_column(tmp_path):
    with open(os.path.join(FIXTURES, "scannetv2-labels.subset.tsv"), "rb") as f:
        data = f.read()
    (tmp_path / "bom.tsv").write_bytes(b"\xef\xbb\xbf" + data)
    assert read_label_map(str(tmp_path / "bom.tsv")).nyu40["chair"] == 5
    (tmp_path / "bad.tsv").write_text("id\traw_category\tcategory\n1\twall\twall\n")
    with pytest.raises(DataFormatError, match=r"bad.tsv: header lacks column\(s\) \['nyu40id'\]"):
        read_label_map(str(tmp_path / "bad.tsv"))


def test_crlf_fixed_label_map_keeps_refrigerators(tmp_path, small_rooms):
    kitchen = next(s for s in small_rooms if any(o.nyu40 == 24 for o in s.objects))
    outs = []
    for variant in ("lf", "crlf"):
        raw = write_raw_dataset(tmp_path / f"raw_{variant}", [kitchen], label_map=variant)
        out = str(tmp_path / f"out_{variant}")
        prepare_dataset("scannetv2", raw, out, progress=False)
        outs.append(load_scene_file(scene_file(out, "train", kitchen.scene_id)))
    for a, b in zip(outs[0], outs[1]):
        np.testing.assert_array_equal(a, b)
    assert (outs[1][2] == 14).any()  # refrigerator train id


# ------------------------------------------------------------------------ other label sources


def test_semantics_from_aggregation_when_labels_ply_is_missing(tmp_path, small_rooms):
    s = small_rooms[0]
    raw = write_raw_dataset(tmp_path / "raw", [s])
    os.remove(os.path.join(raw, "scans", s.scene_id, s.scene_id + "_vh_clean_2.labels.ply"))
    out = str(tmp_path / "out")
    assert not prepare_dataset("scannetv2", raw, out, progress=False).failed
    _, _, sem, inst = load_scene_file(scene_file(out, "train", s.scene_id))
    np.testing.assert_array_equal(sem, expected_semantic(s))
    np.testing.assert_array_equal(inst, expected_instances(s))


def test_scannet200_labels_and_axis_alignment(tmp_path, small_rooms):
    s = small_rooms[1]
    raw = write_raw_dataset(tmp_path / "raw", [s])
    out = str(tmp_path / "out")
    assert not prepare_dataset("scannet200", raw, out, progress=False).failed
    xyz, _, sem, inst = load_scene_file(scene_file(out, "train", s.scene_id))
    lm = read_label_map(os.path.join(raw, "scannetv2-labels.combined.tsv"))
    raw_ids = np.array([lm.raw_id[o.raw_label] for o in s.objects] + [0])[s.vertex_object]
    index = {rid: k for k, rid in enumerate(SCANNET200.benchmark_ids)}
    want = np.array([index.get(int(r), -100) if r else -100 for r in raw_ids])
    np.testing.assert_array_equal(sem, want)
    assert (sem[raw_ids == 1] == 0).all() and (sem[raw_ids == 3] == 1).all() and SCANNET200.semantic_names[2] == "chair"
    np.testing.assert_array_equal(inst, expected_instances(s))
    # axisAlignment undoes the synthetic pose: the floor is flat and walls are axis-parallel.
    floor = s.vertex_object == next(i for i, o in enumerate(s.objects) if o.raw_label == "floor")
    assert np.ptp(xyz[floor, 2]) < 0.05
    wall0 = s.vertex_object == next(i for i, o in enumerate(s.objects) if o.raw_label == "wall")
    assert min(np.ptp(xyz[wall0, 0]), np.ptp(xyz[wall0, 1])) < 0.05


def test_unlabelled_test_scene_gets_coords_colors_and_mesh_superpoints(tmp_path, small_rooms):
    s = small_rooms[2]
    write_raw_dataset(tmp_path, [], test_scenes=[s])
    calls = []

    def segmenter(vertices, faces):
        calls.append((vertices.dtype, faces.dtype, vertices.shape[0]))
        return torch.from_numpy(cell_segments(s))

    scene = prepare_scannet_scene(str(tmp_path / "scans_test" / s.scene_id), s.scene_id, "test", None,
                                  labelled=False, segment_mesh=segmenter)
    assert calls == [(torch.float32, torch.int64, s.vertices.shape[0])]
    assert not scene.labelled and scene.gt is None
    paths = scene.write(str(tmp_path / "out"))
    arrs = load_pth_arrays(paths["scene"])
    assert len(arrs) == 2 and arrs[0].shape == (s.vertices.shape[0], 3)
    np.testing.assert_array_equal(load_superpoints(paths["superpoints"], s.vertices.shape[0]), cell_segments(s))


def test_default_split_assignment_and_split_files(tmp_path, small_rooms):
    raw = write_raw_dataset(tmp_path / "raw", small_rooms[:3])
    (tmp_path / "raw" / "scannetv2_val.txt").write_text(small_rooms[1].scene_id + "\n")
    out = str(tmp_path / "out")
    prepare_dataset("scannetv2", raw, out, progress=False)
    assert os.path.isfile(scene_file(out, "val", small_rooms[1].scene_id))
    assert os.path.isfile(scene_file(out, "train", small_rooms[0].scene_id))
    (tmp_path / "mine_val.txt").write_text(f"# my split\n{small_rooms[2].scene_id}\n\n")
    out2 = str(tmp_path / "out2")
    s = prepare_dataset("scannetv2", raw, out2, [parse_split_arg(str(tmp_path / "mine_val.txt"))], progress=False)
    assert [r.key for r in s.results] == [f"val/{small_rooms[2].scene_id}"]
    assert parse_split_arg("dev=/x/y.txt") == ("dev", "/x/y.txt")
    assert parse_split_arg("/x/scannetv2_train.txt") == ("train", "/x/scannetv2_train.txt")
    (tmp_path / "scenes.txt").write_text(f"{small_rooms[0].scene_id}\n{small_rooms[1].scene_id}\n")
    s = prepare_dataset("scannetv2", raw, str(tmp_path / "out3"), [parse_split_arg(str(tmp_path / "scenes.txt"))],
                        progress=False)
    assert [r.key for r in s.results] == [f"train/{small_rooms[0].scene_id}", f"val/{small_rooms[1].scene_id}"]


@contextlib.contextmanager
def _edited_json(path):
    """Yield the JSON document at ``path``; write it back, as changed by the block, at the end."""
    with open(path) as f:
        doc = json.load(f)
    yield doc
    with open(path, "w") as f:
        json.dump(doc, f)


def test_duplicated_second_half_of_seg_groups_is_dropped(tmp_path, small_rooms):
    s = small_rooms[0]
    raw = write_raw_dataset(tmp_path / "raw", [s])
    agg_path = os.path.join(raw, "scans", s.scene_id, s.scene_id + ".aggregation.json")
    with _edited_json(agg_path) as agg:
        agg["segGroups"] = agg["segGroups"] + [dict(g, id=g["id"] + 1000) for g in agg["segGroups"]]
    out = str(tmp_path / "out")
    assert not prepare_dataset("scannetv2", raw, out, progress=False).failed
    _, _, _, inst = load_scene_file(scene_file(out, "train", s.scene_id))
    np.testing.assert_array_equal(inst, expected_instances(s))


# -------------------------------------------------------------------------------- bad inputs


def _scene_dir(tmp_path, scene):
    raw = write_raw_dataset(tmp_path / "raw", [scene])
    return os.path.join(raw, "scans", scene.scene_id), read_label_map(os.path.join(raw, "scannetv2-labels.combined.tsv"))


def _prep(scene_dir, scene, lm):
    return prepare_scannet_scene(scene_dir, scene.scene_id, "train", lm)


def test_bad_input_truncated_ply(tmp_path, small_rooms):
    s = small_rooms[0]
    d, lm = _scene_dir(tmp_path, s)
    mesh = os.path.join(d, s.scene_id + "_vh_clean_2.ply")
    data = open(mesh, "rb").read()
    open(mesh, "wb").write(data[: len(data) * 2 // 3])
    with pytest.raises(DataFormatError, match=r"synth0000_00_vh_clean_2\.ply: truncated or malformed PLY data"):
        _prep(d, s, lm)


def test_bad_input_malformed_ply_header(tmp_path, small_rooms):
    s = small_rooms[0]
    d, lm = _scene_dir(tmp_path, s)
    mesh = os.path.join(d, s.scene_id + "_vh_clean_2.ply")
    data = open(mesh, "rb").read()
    open(mesh, "wb").write(data.replace(b"element vertex", b"element vertx", 1).replace(b"property float x", b"property flaot x", 1))
    with pytest.raises(DataFormatError, match=r"_vh_clean_2\.ply: truncated or malformed PLY header"):
        _prep(d, s, lm)


def test_bad_input_segs_json_length_differs_from_mesh(tmp_path, small_rooms):
    s = small_rooms[0]
    d, lm = _scene_dir(tmp_path, s)
    segs = os.path.join(d, s.scene_id + "_vh_clean_2.0.010000.segs.json")
    with _edited_json(segs) as js:
        js["segIndices"] = js["segIndices"][:-5]
    n = s.vertices.shape[0]
    with pytest.raises(DataFormatError, match=rf"segs\.json: segIndices has {n - 5} entries but the mesh has {n} vertices"):
        _prep(d, s, lm)


def test_bad_input_aggregation_names_unknown_segment(tmp_path, small_rooms):
    s = small_rooms[0]
    d, lm = _scene_dir(tmp_path, s)
    agg_path = os.path.join(d, s.scene_id + ".aggregation.json")
    with _edited_json(agg_path) as agg:
        agg["segGroups"][6]["segments"].append(10 ** 7)
    with pytest.raises(DataFormatError, match=r"aggregation\.json: segGroup 6 .* names segment\(s\) \[10000000\] that do not exist"):
        _prep(d, s, lm)


def test_bad_input_aggregation_label_outside_class_map(tmp_path, small_rooms):
    s = small_rooms[0]
    d, lm = _scene_dir(tmp_path, s)
    agg_path = os.path.join(d, s.scene_id + ".aggregation.json")
    with _edited_json(agg_path) as agg:
        agg["segGroups"][5]["label"] = "hoverboard"
    with pytest.raises(DataFormatError, match=r"aggregation\.json: segGroup 5 has label 'hoverboard', which is not a "
                                              r"raw_category of the label map .*scannetv2-labels\.combined\.tsv"):
        _prep(d, s, lm)


def test_bad_input_labels_ply_value_outside_nyu40(tmp_path, small_rooms):
    from sphmask.io.ply import read_ply, write_ply

    s = small_rooms[0]
    d, lm = _scene_dir(tmp_path, s)
    path = os.path.join(d, s.scene_id + "_vh_clean_2.labels.ply")
    m = read_ply(path)
    v = dict(m.vertex)
    v["label"] = v["label"].copy()
    v["label"][3] = 77
    write_ply(path, v, m.faces)
    with pytest.raises(DataFormatError, match=r"labels\.ply: label 77 at vertex 3 is outside the NYU40 class map"):
        _prep(d, s, lm)


def test_bad_input_scene_with_no_points(tmp_path, small_rooms):
    from sphmask.io.ply import write_ply

    s = small_rooms[0]
    d, lm = _scene_dir(tmp_path, s)
    empty = {k: np.zeros(0, dt) for k, dt in (("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"),
                                              ("green", "u1"), ("blue", "u1"), ("alpha", "u1"))}
    write_ply(os.path.join(d, s.scene_id + "_vh_clean_2.ply"), empty, np.zeros((0, 3), np.int64))
    with pytest.raises(DataFormatError, match=r"_vh_clean_2\.ply: the file has no vertices \(empty scene\)"):
        _prep(d, s, lm)


def test_bad_input_two_objects_claim_one_segment(tmp_path, small_rooms):
    s = small_rooms[0]
    d, lm = _scene_dir(tmp_path, s)
    agg_path = os.path.join(d, s.scene_id + ".aggregation.json")
    with _edited_json(agg_path) as agg:
        agg["segGroups"][7]["segments"].append(agg["segGroups"][6]["segments"][0])
    with pytest.raises(DataFormatError, match=r"segment \d+ belongs to two objects: segGroup 6 .* and segGroup 7"):
        _prep(d, s, lm)


def test_batch_run_reports_and_skips_bad_scene_without_partial_files(tmp_path, small_rooms):
    raw = write_raw_dataset(tmp_path / "raw", small_rooms[:3])
    bad = small_rooms[1].scene_id
    segs = os.path.join(raw, "scans", bad, bad + "_vh_clean_2.0.010000.segs.json")
    with open(segs, "w") as f:
        f.write('{"segIndices": [1, 2, ')
    out = str(tmp_path / "out")
    logs = []
    summary = prepare_dataset("scannetv2", raw, out, progress=False, log=logs.append)
    assert [r.key for r in summary.failed] == [f"train/{bad}"]
    assert len(logs) == 1 and logs[0].startswith(f"skipped train/{bad}: ") and "segs.json: not valid JSON" in logs[0]
    assert "1 FAILED: train/" + bad in summary.line()
    for sub in ("train", "superpoints", "train_gt"):
        names = os.listdir(os.path.join(out, sub))
        assert not any(bad in n for n in names) and not any(n.startswith(".tmp") for n in names)
    assert os.path.isfile(scene_file(out, "train", small_rooms[0].scene_id))


def test_label_map_option_replaces_the_tsv_in_the_root(tmp_path, small_rooms):
    raw = write_raw_dataset(tmp_path / "raw", small_rooms[:1])
    os.rename(os.path.join(raw, "scannetv2-labels.combined.tsv"), tmp_path / "elsewhere.tsv")
    with pytest.raises(DataFormatError, match=r"scannetv2-labels\.combined\.tsv: label map .* not found"):
        prepare_dataset("scannetv2", raw, str(tmp_path / "out"), progress=False)
    s = prepare_dataset("scannetv2", raw, str(tmp_path / "out"), progress=False, label_map=str(tmp_path / "elsewhere.tsv"))
    assert not s.failed and len(s.results) == 1


def test_cli_exit_codes_and_summary(tmp_path, small_rooms, capsys):
    from tools.prepare_data import main

    raw = write_raw_dataset(tmp_path / "raw", small_rooms[:1])
    assert main(["scannetv2", "--raw", raw, "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("scannetv2: 1 scenes (train 1)")
    from sphmask.cli import run_tool

    assert run_tool(main, ["scannetv2", "--raw", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o2")]) == 2
    assert "raw data folder not found" in capsys.readouterr().err


# ------------------------------------------------------------------------- resume and workers


def test_rerun_skips_written_scenes_and_redoes_deleted_ones(tmp_path, small_rooms):
    raw = write_raw_dataset(tmp_path / "raw", small_rooms[:2])
    out = str(tmp_path / "out")
    prepare_dataset("scannetv2", raw, out, progress=False)
    again = prepare_dataset("scannetv2", raw, out, progress=False)
    assert [r.status for r in again.results] == ["resumed", "resumed"]
    assert "2 already prepared" in again.line() and again.line().startswith("scannetv2: 2 scenes")
    os.remove(os.path.join(out, "superpoints", small_rooms[1].scene_id + ".pth"))
    third = prepare_dataset("scannetv2", raw, out, progress=False)
    assert [r.status for r in third.results] == ["resumed", "done"]
    assert os.path.isfile(os.path.join(out, "superpoints", small_rooms[1].scene_id + ".pth"))


@pytest.mark.slow
def test_two_workers_write_the_same_files_as_one(tmp_path, small_rooms):
    raw = write_raw_dataset(tmp_path / "raw", small_rooms[:2])
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    prepare_dataset("scannetv2", raw, a, workers=1, progress=False)
    prepare_dataset("scannetv2", raw, b, workers=2, progress=False)
    for s in small_rooms[:2]:
        for x, y in zip(load_scene_file(scene_file(a, "train", s.scene_id)), load_scene_file(scene_file(b, "train", s.scene_id))):
            np.testing.assert_array_equal(x, y)


def test_official_output_files_are_readable(tmp_path):
    """Files as the official script saves them (NumPy arrays in a tuple, float32/float64)."""
    xyz = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    torch.save((xyz, xyz * 0.1, np.zeros(50), np.full(50, -100.0)), tmp_path / "s_inst_nostuff.pth")
    got = load_scene_file(str(tmp_path / "s_inst_nostuff.pth"))
    assert got[2].dtype == np.int64 and (got[3] == -100).all()
    # NumPy 1.x pickles name the array reconstructor numpy.core.multiarray._reconstruct
    torch.save((xyz, xyz), tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    data = (tmp_path / "legacy.pth").read_bytes()
    assert b"numpy._core.multiarray" in data
    (tmp_path / "np1_inst_nostuff.pth").write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    np.testing.assert_array_equal(load_scene_file(str(tmp_path / "np1_inst_nostuff.pth"))[0], xyz)
    torch.save({"not": "a scene"}, tmp_path / "bad.pth")
    with pytest.raises(DataFormatError, match=r"bad.pth: expected a tuple"):
        load_scene_file(str(tmp_path / "bad.pth"))


def test_generator_is_deterministic_per_seed():
    a, b, c = generate_scene(3, seed=5, size="small"), generate_scene(3, seed=5, size="small"), generate_scene(3, seed=6, size="small")
    np.testing.assert_array_equal(a.vertices, b.vertices)
    np.testing.assert_array_equal(a.faces, b.faces)
    np.testing.assert_array_equal(a.vertex_object, b.vertex_object)
    assert a.objects == b.objects
    assert a.vertices.shape != c.vertices.shape or not np.array_equal(a.vertices, c.vertices)


def test_generator_default_rooms_have_50k_to_150k_vertices():
    for i in (0, 4):
        n = generate_scene(i, seed=0).vertices.shape[0]
        assert 50_000 <= n <= 150_000, n


def test_removed_scene_folder_listed_in_split_is_reported(tmp_path, small_rooms):
    raw = write_raw_dataset(tmp_path / "raw", small_rooms[:1])
    shutil.copy(os.path.join(raw, "scannetv2-labels.combined.tsv"), tmp_path / "x.tsv")
    (tmp_path / "scannetv2_train.txt").write_text(f"{small_rooms[0].scene_id}\nscene9999_00\n")
    summary = prepare_dataset("scannetv2", raw, str(tmp_path / "out"), [parse_split_arg(str(tmp_path / "scannetv2_train.txt"))],
                              progress=False, log=lambda m: None)
    assert [r.key for r in summary.failed] == ["train/scene9999_00"]
    assert "scene scene9999_00 listed in the split but not found" in summary.failed[0].error
