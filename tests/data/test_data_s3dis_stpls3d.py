"""S3DIS and STPLS3D preprocessing on tiny raw inputs fabricated in the real layouts."""
import os

import numpy as np
import pytest
import torch

from sphmask.data.prepare import parse_split_arg, prepare_dataset
from sphmask.data.prepared import load_pth_arrays, load_scene_file, load_superpoints
from sphmask.data.s3dis import label_room
from sphmask.data.stpls3d import prepare_stpls3d_file
from sphmask.io.errors import DataFormatError

S3DIS_OBJECTS = [  # (annotation file, class id, box lo, box hi, points)
    ("ceiling_1.txt", 0, (0, 0, 2.9), (4, 4, 3.0), 300),
    ("floor_1.txt", 1, (0, 0, 0.0), (4, 4, 0.05), 300),
    ("table_1.txt", 7, (1, 1, 0.7), (2, 2, 0.75), 120),
    ("chair_1.txt", 8, (2.1, 1, 0.0), (2.5, 1.4, 0.9), 80),
    ("chair_2.txt", 8, (3.0, 3, 0.0), (3.4, 3.4, 0.9), 80),
    ("stairs_1.txt", 12, (0.1, 3.2, 0.0), (0.6, 3.9, 1.0), 40),
]


def write_s3dis(root, area="Area_1", room="office_1", extra_unlabelled=15, seed=0):
    """A room whose annotation files hold exact copies of room points, plus unannotated points."""
    rng = np.random.default_rng(seed)
    d = os.path.join(root, "Stanford3dDataset_v1.2_Aligned_Version", area, room)
    os.makedirs(os.path.join(d, "Annotations"))
    pts, sem, inst = [], [], []
    order = sorted(o[0] for o in S3DIS_OBJECTS)  # instances are numbered in file-name order
    for name, cls, lo, hi, n in S3DIS_OBJECTS:
        k = order.index(name)
        p = np.round(rng.uniform(lo, hi, (n, 3)), 3)
        rgb = rng.integers(0, 256, (n, 3))
        rows = np.concatenate([p, rgb], 1)
        np.savetxt(os.path.join(d, "Annotations", name), rows, fmt="%.3f %.3f %.3f %d %d %d")
        pts.append(rows)
        sem += [cls] * n
        inst += [k] * n
    near = pts[2][:extra_unlabelled].copy()  # unannotated points right next to the table
    near[:, 2] += 0.001
    room_rows = np.concatenate(pts + [near])
    perm = rng.permutation(room_rows.shape[0])
    np.savetxt(os.path.join(d, room + ".txt"), room_rows[perm], fmt="%.3f %.3f %.3f %d %d %d")
    sem = np.array(sem + [7] * extra_unlabelled)[perm]
    inst = np.array(inst + [order.index("table_1.txt")] * extra_unlabelled)[perm]
    return d, room_rows[perm], sem, inst


def spg_dir(root, area, room, n, seed=0):
    folder = os.path.join(root, "Stanford3dDataset_v1.2_Aligned_Version", "learned_superpoint_graph_segmentations")
    os.makedirs(folder, exist_ok=True)
    spp = np.random.default_rng(seed).integers(0, 30, n)
    np.save(os.path.join(folder, f"{area}_{room}.npy"), spp)
    return spp


def test_s3dis_room_labels_per_point(tmp_path):
    d, rows, sem, inst = write_s3dis(tmp_path)
    spp = spg_dir(tmp_path, "Area_1", "office_1", rows.shape[0])
    summary = prepare_dataset("s3dis", str(tmp_path), str(tmp_path / "out"), progress=False)
    assert not summary.failed
    path = tmp_path / "out" / "preprocess" / "Area_1_office_1_inst_nostuff.pth"
    xyz, rgb, got_sem, got_inst = load_scene_file(str(path))
    np.testing.assert_allclose(xyz, rows[:, :3] - rows[:, :3].mean(0), atol=1e-4)
    np.testing.assert_allclose(rgb, rows[:, 3:6] / 127.5 - 1, atol=1e-6)
    np.testing.assert_array_equal(got_sem, sem)  # stairs counted as clutter (12)
    np.testing.assert_array_equal(got_inst, inst)  # file-name order, unannotated points join the table
    np.testing.assert_array_equal(load_superpoints(str(tmp_path / "out" / "superpoints" / "Area_1_office_1.pth"),
                                                   rows.shape[0]), spp)
    gt = np.loadtxt(tmp_path / "out" / "preprocess_gt" / "Area_1_office_1.txt", dtype=np.int64)
    np.testing.assert_array_equal(gt, (sem + 1) * 1000 + inst + 1)
    assert "s3dis: 1 scenes (preprocess 1)" in summary.line() and "chair 2" in summary.line()


def test_s3dis_instances_made_contiguous_when_an_annotation_matches_nothing_new(tmp_path):
    d, rows, _, _ = write_s3dis(tmp_path)
    # a duplicate of chair_1 listed later takes all its points: chair_1's id disappears
    with open(os.path.join(d, "Annotations", "chair_1.txt")) as f:
        dup = f.read()
    with open(os.path.join(d, "Annotations", "zz_1.txt".replace("zz", "chair").replace("_1", "_9")), "w") as f:
        f.write(dup)
    sem, inst, classes = label_room(rows[:, :3], os.path.join(d, "Annotations"))
    assert sorted(np.unique(inst).tolist()) == list(range(len(classes))) == list(range(6))


def test_s3dis_unknown_class_and_bad_line_are_reported(tmp_path):
    d, _, _, _ = write_s3dis(tmp_path)
    with open(os.path.join(d, "Annotations", "lamp_1.txt"), "w") as f:
        f.write("1 1 1 0 0 0\n")
    with pytest.raises(DataFormatError, match=r"lamp_1\.txt: class 'lamp' \(from the file name\) is not one of the 13"):
        label_room(np.zeros((3, 3)), os.path.join(d, "Annotations"))
    os.remove(os.path.join(d, "Annotations", "lamp_1.txt"))
    with open(os.path.join(d, "Annotations", "table_1.txt"), "a") as f:
        f.write("1.0 2.0\n")
    with pytest.raises(DataFormatError, match=r"table_1\.txt: line 121 has 2 values, earlier lines have 6"):
        label_room(np.zeros((3, 3)), os.path.join(d, "Annotations"))


def test_s3dis_control_character_inside_a_number_is_tolerated(tmp_path):
    d, rows, sem, _ = write_s3dis(tmp_path)
    path = os.path.join(d, "Annotations", "floor_1.txt")
    with open(path) as f:
        lines = f.read().splitlines()
    x, rest = lines[5].split(" ", 1)
    lines[5] = x[:-1] + "\x10" + x[-1:] + " " + rest  # like Area_5's '103.0\x100000'
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    got_sem, _, _ = label_room(rows[:, :3], os.path.join(d, "Annotations"))
    np.testing.assert_array_equal(got_sem, sem)


def test_s3dis_split_file_selects_areas(tmp_path):
    write_s3dis(tmp_path, "Area_1", "office_1")
    _, rows5, _, _ = write_s3dis(tmp_path, "Area_5", "hallway_2", seed=1)
    spg_dir(tmp_path, "Area_5", "hallway_2", rows5.shape[0])
    (tmp_path / "test_areas.txt").write_text("Area_5\n")
    summary = prepare_dataset("s3dis", str(tmp_path), str(tmp_path / "out"), [parse_split_arg(str(tmp_path / "test_areas.txt"))],
                              progress=False)
    assert [r.key for r in summary.results] == ["Area_5/hallway_2"]
    (tmp_path / "bad.txt").write_text("Area_9\n")
    with pytest.raises(DataFormatError, match=r"split entry 'Area_9' matches no area or room"):
        prepare_dataset("s3dis", str(tmp_path), str(tmp_path / "o2"), [parse_split_arg(str(tmp_path / "bad.txt"))], progress=False)


# ----------------------------------------------------------------------------------- STPLS3D


def write_stpls3d(folder, number, extent, n_points, n_instances, seed=0, labelled=True):
    """Buildings/vehicles/trees as clusters on ground, 8 comma-separated columns like the real files."""
    rng = np.random.default_rng(seed)
    n_ground = n_points // 2
    ground = np.column_stack([rng.uniform(0, extent, (n_ground, 2)), rng.uniform(0, 0.2, n_ground)])
    rows = [np.column_stack([ground, rng.integers(0, 256, (n_ground, 3)), np.zeros(n_ground), np.full(n_ground, -100)])]
    per = (n_points - n_ground) // n_instances
    for k in range(n_instances):
        c = rng.uniform(5, extent - 5, 2)
        p = np.column_stack([c + rng.normal(0, 1.0, (per, 2)), rng.uniform(0, 8, per)])
        cls = [1, 2, 3, 5, 7, 9][k % 6]
        rows.append(np.column_stack([p, rng.integers(0, 256, (per, 3)), np.full(per, cls), np.full(per, 1000 + 7 * k)]))
    table = np.concatenate(rows)
    table[:, :3] += [1000.0, 2000.0, 50.0]  # raw files are georeferenced, not at the origin
    path = os.path.join(folder, f"{number}_points_GTv3.txt")
    cols = table if labelled else table[:, :6]
    np.savetxt(path, cols, fmt=",".join(["%.3f"] * 3 + ["%d"] * (cols.shape[1] - 3)))
    return path, table


def test_stpls3d_val_file_is_one_block_with_labels_per_point(tmp_path):
    raw = tmp_path / "Synthetic_v3_InstanceSegmentation"
    raw.mkdir()
    _, table = write_stpls3d(raw, 5, 60.0, 12000, 12)
    summary = prepare_dataset("stpls3d", str(tmp_path), str(tmp_path / "out"), progress=False)
    assert [r.key for r in summary.results] == ["val/5_points_GTv3.txt#0"]
    xyz, rgb, sem, inst = load_scene_file(str(tmp_path / "out" / "val" / "5_points_GTv3_0_0_inst_nostuff.pth"))
    np.testing.assert_allclose(xyz, table[:, :3] - table[:, :3].mean(0), atol=1e-3)
    np.testing.assert_array_equal(sem, table[:, 6])
    assert (inst[sem == 0] == -100).all()
    np.testing.assert_array_equal(inst[sem > 0], (table[sem > 0, 7] - 1000) // 7)
    assert not os.path.exists(tmp_path / "out" / "superpoints")


def test_stpls3d_train_blocks_augmented_copies_and_filter(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    path, _ = write_stpls3d(raw, 1, 50.0, 24000, 14)
    scenes = prepare_stpls3d_file(path, "train", aug=0)
    assert len(scenes) == 1 and scenes[0].coords.shape[0] > 10000
    rotated = prepare_stpls3d_file(path, "train", aug=2, seed=0)
    again = prepare_stpls3d_file(path, "train", aug=2, seed=0)
    for a, b in zip(rotated, again):
        np.testing.assert_array_equal(a.coords, b.coords)
    for s in rotated:
        assert set(np.unique(s.semantic)) <= {0, 2, 3, 7, 8, 9, 12, 13}
    few = tmp_path / "few"
    few.mkdir()
    path_few, _ = write_stpls3d(few, 2, 50.0, 24000, 5)
    assert prepare_stpls3d_file(path_few, "train") == []  # fewer than 10 instances: dropped (official filter)
    assert len(prepare_stpls3d_file(path_few, "val", block_size=250.0)) == 1


def test_stpls3d_unlabelled_file_and_bad_columns(tmp_path):
    path, _ = write_stpls3d(tmp_path, 10, 40.0, 12000, 6, labelled=False)
    (scene,) = prepare_stpls3d_file(path, "test", block_size=250.0)
    assert not scene.labelled
    out = scene.write(str(tmp_path / "out"))
    assert len(load_pth_arrays(out["scene"])) == 2
    bad = tmp_path / "3_points_GTv3.txt"
    bad.write_text("1,2,3,4\n5,6,7,8\n")
    with pytest.raises(DataFormatError, match=r"3_points_GTv3\.txt: expected 8 columns"):
        prepare_stpls3d_file(str(bad), "train")


def test_s3dis_dataset_subsamples_a_quarter_in_training_and_keeps_all_at_test(tmp_path):
    from sphmask.data.dataset import S3DISDataset

    _, rows, sem, _ = write_s3dis(tmp_path)
    spg_dir(tmp_path, "Area_1", "office_1", rows.shape[0])
    prepare_dataset("s3dis", str(tmp_path), str(tmp_path / "out"), progress=False)
    vox = {"scale": 50, "spatial_shape": [128, 512], "max_npoint": 250000, "min_npoint": 10}
    train = S3DISDataset(str(tmp_path / "out"), ["Area_1"], training=True, voxel_cfg=vox)[0]
    assert train["coord"].shape[0] == int(rows.shape[0] * 0.25)
    test = S3DISDataset(str(tmp_path / "out"), "Area_1", training=False, voxel_cfg=vox)[0]
    np.testing.assert_array_equal(test["semantic"].numpy(), sem)
    assert train["scan_id"] == test["scan_id"] == "Area_1_office_1"


def test_stpls3d_dataset_makes_every_point_a_superpoint(tmp_path):
    from sphmask.data.dataset import STPLS3DDataset

    raw = tmp_path / "raw"
    raw.mkdir()
    write_stpls3d(raw, 5, 60.0, 12000, 12)
    prepare_dataset("stpls3d", str(raw), str(tmp_path / "out"), progress=False)
    s = STPLS3DDataset(str(tmp_path / "out"), "val", training=False, voxel_cfg={"scale": 3})[0]
    assert torch.equal(s["superpoints"], torch.arange(s["coord"].shape[0]))


def test_s3dis_superpoints_from_segment_points_without_precomputed_ones(tmp_path):
    from sphmask.ops import segment_points

    _, rows, _, _ = write_s3dis(tmp_path)
    assert not prepare_dataset("s3dis", str(tmp_path), str(tmp_path / "out"), progress=False).failed
    spp = load_superpoints(str(tmp_path / "out" / "superpoints" / "Area_1_office_1.pth"), rows.shape[0])
    np.testing.assert_array_equal(spp, segment_points(torch.from_numpy(rows[:, :3].astype(np.float32))).numpy())
