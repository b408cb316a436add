"""End to end with the real segmentation operator: synthetic raw ScanNet rooms -> tools/prepare_data.py
-> dataset -> batch, checked against what the generator intended."""
import filecmp
import json
import os

import numpy as np
import pytest
import torch

from sphmask.config import load_config
from sphmask.data.dataset import SceneDataset, build_dataloader, collate
from sphmask.data.prepared import load_pth_arrays, load_superpoints
from sphmask.data.synthetic import generate_scene, segment_scene
from sphmask.ops import segment_mesh

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED = 3


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from tools.make_synthetic import main as make_main
    from tools.prepare_data import main as prep_main

    raw = str(tmp_path_factory.mktemp("raw"))
    out = str(tmp_path_factory.mktemp("out"))
    assert make_main(["--out", raw, "--scenes", "5", "--seed", str(SEED), "--size", "small", "--test-scenes", "1"]) == 0
    assert prep_main(["scannetv2", "--raw", raw, "--out", out, "--no-progress"]) == 0
    return raw, out


def test_segments_of_synthetic_rooms_never_cross_objects():
    for i in range(5):
        s = generate_scene(i, seed=SEED, size="small")
        seg = segment_scene(s)
        pairs = np.unique(np.stack([seg, s.vertex_object], 1), axis=0)
        assert np.unique(pairs[:, 0]).shape[0] == pairs.shape[0]
        assert (seg[seg] == seg).all()  # ids are representative vertex indices of their own segment


def test_make_synthetic_writes_scannet_layout_and_splits(pipeline):
    raw, _ = pipeline
    assert sorted(os.listdir(os.path.join(raw, "scans"))) == [f"synth{i:04d}_00" for i in range(5)]
    assert os.listdir(os.path.join(raw, "scans_test")) == ["synth0005_00"]
    assert sorted(os.listdir(os.path.join(raw, "scans_test", "synth0005_00"))) == ["synth0005_00.txt", "synth0005_00_vh_clean_2.ply"]
    assert open(os.path.join(raw, "scannetv2_val.txt")).read() == "synth0000_00\n"
    with open(os.path.join(raw, "scans", "synth0000_00", "synth0000_00.aggregation.json")) as f:
        agg = json.load(f)
    assert {"id", "objectId", "label", "segments"} <= set(agg["segGroups"][0])


def test_auto_validation_split_holds_every_room_type(tmp_path):
    from sphmask.data.synthetic import ROOM_TYPES, make_synthetic_dataset

    make_synthetic_dataset(str(tmp_path), 25, seed=0, size="small", segment_mesh=lambda v, f: np.arange(len(v)))
    val = open(os.path.join(tmp_path, "scannetv2_val.txt")).read().split()
    train = open(os.path.join(tmp_path, "scannetv2_train.txt")).read().split()
    assert len(val) == 5 and len(train) == 20 and not set(val) & set(train)
    kinds = set()
    for sid in val:
        info = open(os.path.join(tmp_path, "scans", sid, f"{sid}.txt")).read()
        kinds.add(info.split("sceneType = ")[1].strip())
    assert kinds == set(ROOM_TYPES)


def test_make_synthetic_first_index_and_split(tmp_path):
    from tools.make_synthetic import main as make_main

    out = str(tmp_path / "held_out")
    assert make_main(["--out", out, "--scenes", "2", "--seed", "1", "--size", "small", "--first-index", "1000",
                      "--split", "val"]) == 0
    assert sorted(os.listdir(os.path.join(out, "scans"))) == ["synth1000_00", "synth1001_00"]
    assert open(os.path.join(out, "scannetv2_val.txt")).read() == "synth1000_00\nsynth1001_00\n"
    assert open(os.path.join(out, "scannetv2_train.txt")).read() == ""
    # the room is a function of (seed, index): index 1000 of seed 1 is not room 0 of seed 1
    assert not np.array_equal(generate_scene(1000, seed=1, size="small").vertices,
                              generate_scene(0, seed=1, size="small").vertices)
    with pytest.raises(SystemExit):
        make_main(["--out", out, "--scenes", "1", "--first-index", "-1"])


def test_make_synthetic_is_deterministic(pipeline, tmp_path):
    from tools.make_synthetic import main as make_main

    raw, _ = pipeline
    assert make_main(["--out", str(tmp_path), "--scenes", "2", "--seed", str(SEED), "--size", "small"]) == 0
    for sid in ("synth0000_00", "synth0001_00"):
        a, b = os.path.join(raw, "scans", sid), os.path.join(tmp_path, "scans", sid)
        match, mismatch, errors = filecmp.cmpfiles(a, b, os.listdir(a), shallow=False)
        assert not mismatch and not errors and len(match) == 5


def test_make_synthetic_archive_holds_the_folder_and_is_reproducible(tmp_path, capsys):
    from sphmask.io import extract_scene_archive
    from tools.make_synthetic import main as make_main

    args = ["--scenes", "1", "--seed", "1", "--size", "small", "--first-index", "1000"]
    for out in ("folder", "a.tar.gz", "b.tar.gz"):
        assert make_main(["--out", str(tmp_path / out), *args]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote 1 rooms to {tmp_path / 'b.tar.gz'}"
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()
    extract_scene_archive(str(tmp_path / "a.tar.gz"), str(tmp_path / "unpacked"))
    for top, _, files in os.walk(tmp_path / "folder"):
        rel = os.path.relpath(top, tmp_path / "folder")
        match, mismatch, errors = filecmp.cmpfiles(top, os.path.join(tmp_path, "unpacked", rel), files, shallow=False)
        assert not mismatch and not errors, (rel, mismatch, errors)
    assert sorted(os.listdir(tmp_path)) == ["a.tar.gz", "b.tar.gz", "folder", "unpacked"]  # no temporary file left


def test_prepared_rooms_match_generator_intent(pipeline):
    _, out = pipeline
    for i in range(5):
        s = generate_scene(i, seed=SEED, size="small")
        prefix = "val" if i == 0 else "train"
        ds = SceneDataset(out, prefix, training=False)
        k = [ds.scan_id(f) for f in ds.filenames].index(s.scene_id)
        sample = ds[k]
        nyu = s.vertex_nyu40
        bench = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39]
        want_sem = np.array([bench.index(v) if v in bench else -100 for v in nyu])
        np.testing.assert_array_equal(sample["semantic"].numpy(), want_sem)
        inst = sample["instance"].numpy()
        thing = ~np.isin(s.vertex_object, [j for j, o in enumerate(s.objects) if o.raw_label in ("wall", "floor")]) & \
            (s.vertex_object >= 0)
        assert (inst[~thing] == -100).all()
        pairs = np.unique(np.stack([inst[thing], s.vertex_object[thing]], 1), axis=0)
        assert np.unique(pairs[:, 0]).shape[0] == np.unique(pairs[:, 1]).shape[0] == pairs.shape[0]
        spp = sample["superpoints"].numpy()
        pairs = np.unique(np.stack([spp, s.vertex_object], 1), axis=0)
        assert np.unique(pairs[:, 0]).shape[0] == pairs.shape[0]


def test_unlabelled_test_room_superpoints_from_segment_mesh(pipeline):
    _, out = pipeline
    s = generate_scene(5, seed=SEED, size="small")
    arrs = load_pth_arrays(os.path.join(out, "test", "synth0005_00_inst_nostuff.pth"))
    assert len(arrs) == 2
    spp = load_superpoints(os.path.join(out, "superpoints", "synth0005_00.pth"), s.vertices.shape[0])
    np.testing.assert_array_equal(spp, segment_mesh(torch.from_numpy(s.vertices), torch.from_numpy(s.faces)).numpy())
    batch = collate([SceneDataset(out, "test", training=False)[0]])
    assert "semantic_labels" not in batch and batch["scan_ids"] == ["synth0005_00"]


def test_training_batch_from_synthetic_config(pipeline):
    _, out = pipeline
    cfg = load_config(os.path.join(REPO, "configs", "synthetic", "spherical_mask.yaml"),
                      [f"data.train.data_root={out}", f"data.test.data_root={out}"])
    loader = build_dataloader(cfg, "train")
    loader.dataset.set_epoch(0)
    batch = next(iter(loader))
    assert batch["batch_size"] == 2 and len(batch["scan_ids"]) == 2
    offsets = batch["point_offsets"]
    inst, spp = batch["instance_labels"], batch["superpoints"]
    a, b = slice(0, int(offsets[1])), slice(int(offsets[1]), int(offsets[2]))
    assert spp[a].max() < spp[b].min()
    ia, ib = inst[a][inst[a] >= 0], inst[b][inst[b] >= 0]
    assert ia.numel() and ib.numel() and ia.max() < ib.min()
    # every point of a voxel has the same integer voxel coordinate as the voxel
    vc = batch["voxel_coords"][batch["point2voxel"]]
    assert (vc[:, 0] == torch.repeat_interleave(torch.arange(2), torch.diff(offsets)).int()).all()
    test_batch = next(iter(build_dataloader(cfg, "test")))
    assert test_batch["scan_ids"] == ["synth0000_00"] and "instance_labels" in test_batch
