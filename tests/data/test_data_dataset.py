"""Datasets over preprocessed synthetic rooms, the collate (batch contract) and the config-built loader."""
import glob
import os

import numpy as np
import pytest
import torch

from sphmask.config import ConfigError, load_config
from sphmask.data.dataset import SceneDataset, ScanNet200Dataset, build_dataloader, build_dataset, collate
from sphmask.data.prepared import load_scene_file, load_superpoints
from sphmask.io.errors import DataFormatError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL_VOXEL = {"scale": 50, "spatial_shape": [128, 512], "max_npoint": 250000, "min_npoint": 1000}


def index_colors(path):
    """Rewrite a scene file so colour channels encode the point index (to trace points through transforms)."""
    xyz, _, sem, inst = load_scene_file(path)
    n = xyz.shape[0]
    idx = np.arange(n)
    rgb = np.stack([idx % 1000, idx // 1000, np.zeros(n)], 1).astype(np.float32) / 1000.0
    torch.save((xyz.astype(np.float32), rgb, sem.astype(np.float64), inst.astype(np.float64)), path)
    return xyz, sem, inst


def decode_index(feat):
    f = np.rint(feat.numpy().astype(np.float64) * 1000).astype(np.int64)
    return f[:, 0] + 1000 * f[:, 1]


@pytest.fixture(scope="module")
def traced(prepared, tmp_path_factory):
    """A copy of the prepared rooms whose colours encode point indices."""
    src, _ = prepared
    dst = tmp_path_factory.mktemp("traced")
    os.symlink(os.path.join(src, "superpoints"), dst / "superpoints")
    os.makedirs(dst / "train")
    originals = {}
    for f in sorted(glob.glob(os.path.join(src, "train", "*.pth"))):
        out = str(dst / "train" / os.path.basename(f))
        with open(f, "rb") as a, open(out, "wb") as b:
            b.write(a.read())
        sid = os.path.basename(f)[: -len("_inst_nostuff.pth")]
        originals[sid] = index_colors(out) + (load_superpoints(os.path.join(src, "superpoints", sid + ".pth"), load_scene_file(out)[0].shape[0]),)
    return str(dst), originals


def same_partition(a, b):
    """True if equal labels in ``a`` <-> equal labels in ``b`` (ids may differ)."""
    pairs = np.unique(np.stack([a, b], 1), axis=0)
    return np.unique(pairs[:, 0]).shape[0] == pairs.shape[0] == np.unique(pairs[:, 1]).shape[0]


def test_training_augmentation_keeps_labels_attached_to_points(traced):
    root, originals = traced
    ds = SceneDataset(root, "train", training=True, color_noise=0.0,
                      voxel_cfg=dict(SMALL_VOXEL, max_npoint=4000, min_npoint=500))
    for i in range(len(ds)):
        s = ds[i]
        xyz, sem, inst, spp = originals[s["scan_id"]]
        idx = decode_index(s["feat"])
        assert np.unique(idx).shape[0] == idx.shape[0]
        np.testing.assert_array_equal(s["semantic"].numpy(), sem[idx])
        assert same_partition(s["instance"].numpy(), inst[idx])
        assert same_partition(s["superpoints"].numpy(), spp[idx])
        # geometry: coord_float is one linear map of the original points (jitter + rotation + flips)
        m, *_ = np.linalg.lstsq(xyz[idx], s["coord_float"].numpy().astype(np.float64), rcond=None)
        np.testing.assert_allclose(xyz[idx] @ m, s["coord_float"].numpy(), atol=1e-4)


def test_training_crop_respects_max_npoint(traced):
    root, _ = traced
    ds = SceneDataset(root, "train", training=True, voxel_cfg=dict(SMALL_VOXEL, max_npoint=3000, min_npoint=200))
    for i in range(len(ds)):
        s = ds[i]
        assert s is not None and 200 <= s["coord"].shape[0] <= 3000
        assert (s["coord"] >= 0).all()
        inst = s["instance"].numpy()
        assert s["num_instances"] == inst.max() + 1
        assert set(np.unique(inst[inst >= 0])) == set(range(s["num_instances"]))
        assert set(s["superpoints"].unique().tolist()) == set(range(int(s["superpoints"].max()) + 1))


def test_crop_failure_returns_none(traced):
    root, _ = traced
    ds = SceneDataset(root, "train", training=True, voxel_cfg=dict(SMALL_VOXEL, max_npoint=100, min_npoint=90))
    assert any(ds[i] is None for i in range(len(ds)))


def test_test_transform_keeps_every_point_in_order_with_fixed_rotation(traced):
    root, originals = traced
    ds = SceneDataset(root, "train", training=False, voxel_cfg=SMALL_VOXEL)
    s = ds[0]
    xyz, sem, inst, _ = originals[s["scan_id"]]
    np.testing.assert_array_equal(decode_index(s["feat"]), np.arange(xyz.shape[0]))
    c, t = np.cos(0.35 * np.pi), np.sin(0.35 * np.pi)
    np.testing.assert_allclose(s["coord_float"].numpy(), xyz @ np.array([[c, t, 0], [-t, c, 0], [0, 0, 1]]), atol=1e-5)
    ds_off = SceneDataset(root, "train", training=False, voxel_cfg=SMALL_VOXEL, test_rotation=False)
    np.testing.assert_allclose(ds_off[0]["coord_float"].numpy(), xyz, atol=1e-6)


def test_samples_are_reproducible_per_seed_epoch_and_index(prepared):
    root, _ = prepared
    ds = SceneDataset(root, "train", training=True, voxel_cfg=SMALL_VOXEL, seed=3)
    a, b = ds[1], ds[1]
    assert torch.equal(a["coord_float"], b["coord_float"]) and torch.equal(a["feat"], b["feat"])
    ds.set_epoch(1)
    c = ds[1]
    assert a["coord_float"].shape != c["coord_float"].shape or not torch.equal(a["coord_float"], c["coord_float"])


def test_trainval_prefix_and_repeat(prepared):
    root, _ = prepared
    one = SceneDataset(root, "train", training=False, voxel_cfg=SMALL_VOXEL)
    two = SceneDataset(root, "train", training=False, voxel_cfg=SMALL_VOXEL, repeat=2)
    assert len(two) == 2 * len(one) and two.filenames[0] == two.filenames[1]


def test_missing_files_error_names_the_pattern(tmp_path):
    with pytest.raises(DataFormatError, match=r"val/\*_inst_nostuff\.pth: no preprocessed scene matches"):
        SceneDataset(str(tmp_path), "val")


def test_unlabelled_scene_has_no_labels(tmp_path):
    os.makedirs(tmp_path / "test")
    os.makedirs(tmp_path / "superpoints")
    xyz = np.random.default_rng(0).uniform(-2, 2, (500, 3)).astype(np.float32)
    torch.save((xyz, np.zeros_like(xyz)), tmp_path / "test" / "a_inst_nostuff.pth")
    torch.save(np.arange(500) // 10, tmp_path / "superpoints" / "a.pth")
    s = SceneDataset(str(tmp_path), "test", training=False)[0]
    assert s["semantic"] is None and s["instance"] is None and s["num_instances"] == 0
    assert int(s["superpoints"].max()) == 49


def test_scannet200_dataset_removes_instances_of_wall_and_floor(tmp_path):
    os.makedirs(tmp_path / "val")
    os.makedirs(tmp_path / "superpoints")
    xyz = np.random.default_rng(0).uniform(-2, 2, (6, 3)).astype(np.float32)
    sem = np.array([0, 1, 2, 2, 5, -100], np.float64)
    inst = np.array([0, 1, 2, 2, 3, -100], np.float64)
    torch.save((xyz, np.zeros_like(xyz), sem, inst), tmp_path / "val" / "a_inst_nostuff.pth")
    torch.save(np.arange(6), tmp_path / "superpoints" / "a.pth")
    s = ScanNet200Dataset(str(tmp_path), "val", training=False)[0]
    # ids 2, 3 remain; the official gap filling moves the largest id into each gap: 3 -> 0, 2 -> 1
    assert s["instance"].tolist() == [-100, -100, 1, 1, 0, -100]


# ------------------------------------------------------------------------------- config / loader


def config_for(root, path=os.path.join(REPO, "configs", "synthetic", "spherical_mask.yaml")):
    return load_config(path, [f"data.train.data_root={root}", f"data.test.data_root={root}", "data.test.prefix=train"])


def test_build_dataset_unknown_key_lists_valid_keys(prepared):
    cfg = config_for(prepared[0])
    cfg["data"]["train"]["max_points"] = 3
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['max_points'\] in config section 'data.train'; valid keys: .*'voxel_cfg'"):
        build_dataset(cfg, "train")
    cfg = config_for(prepared[0])
    cfg["data"]["train"]["voxel_cfg"]["scal"] = 3
    with pytest.raises(ConfigError, match=r"'scal'.*data.train.voxel_cfg"):
        build_dataset(cfg, "train")
    cfg = config_for(prepared[0])
    cfg["data"]["train"]["type"] = "kitti"
    with pytest.raises(ConfigError, match=r"data.train.type must be one of"):
        build_dataset(cfg, "train")


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO, "configs", "*", "*.yaml"))))
def test_every_config_builds_its_datasets(path, prepared, monkeypatch):
    cfg = load_config(path)
    for split in ("train", "test"):
        section = cfg["data"][split]
        monkeypatch.setattr(SceneDataset, "get_filenames", lambda self: [])
        ds = build_dataset(cfg, split)
        assert ds.training == (split == "train")
        assert list(ds.voxel.spatial_shape) == section["voxel_cfg"]["spatial_shape"]
        assert section["voxel_cfg"]["scale"] == ds.voxel.scale
        assert cfg["dataloader"][split]["batch_size"] >= 1


def test_official_settings_in_scannetv2_config():
    cfg = load_config(os.path.join(REPO, "configs", "scannetv2", "spherical_mask.yaml"))
    assert cfg["data"]["train"]["voxel_cfg"] == {"scale": 50, "spatial_shape": [128, 512], "max_npoint": 250000, "min_npoint": 5000}
    assert cfg["data"]["test"]["test_rotation"] is True and cfg["data"]["test"]["prefix"] == "val"
    assert cfg["dataloader"]["train"]["batch_size"] == 12 and cfg["dataloader"]["test"]["batch_size"] == 1


# ---------------------------------------------------------------------------------------- collate


def fake_sample(scan_id, n, seed, labelled=True, n_inst=3, n_spp=5):
    rng = np.random.default_rng(seed)
    coord = torch.from_numpy(rng.integers(0, 40, (n, 3)))
    s = {"scan_id": scan_id, "coord": coord, "coord_float": coord.float() / 50, "feat": torch.rand(n, 3) * 2 - 1,
         "superpoints": torch.from_numpy(rng.integers(0, n_spp, n)), "semantic": None, "instance": None,
         "num_instances": 0}
    s["superpoints"] = torch.unique(s["superpoints"], return_inverse=True)[1]
    if labelled:
        inst = rng.integers(-1, n_inst, n)
        inst[inst < 0] = -100
        s["semantic"] = torch.from_numpy(rng.integers(0, 20, n))
        s["instance"] = torch.from_numpy(inst)
        s["num_instances"] = n_inst
    return s


def test_collate_batch_contract_keys_and_dtypes():
    b = collate([fake_sample("a", 50, 0), fake_sample("b", 30, 1)])
    assert set(b) == {"scan_ids", "coords_float", "feats", "point_offsets", "voxel_coords", "point2voxel",
                      "spatial_shape", "batch_size", "superpoints", "semantic_labels", "instance_labels"}
    assert b["scan_ids"] == ["a", "b"] and b["batch_size"] == 2
    assert b["coords_float"].dtype == torch.float32 and b["coords_float"].shape == (80, 3)
    assert b["feats"].dtype == torch.float32 and b["feats"].shape == (80, 3)
    assert b["point_offsets"].dtype == torch.int64 and b["point_offsets"].tolist() == [0, 50, 80]
    assert b["voxel_coords"].dtype == torch.int32 and b["voxel_coords"].shape[1] == 4
    assert b["point2voxel"].dtype == torch.int64 and b["point2voxel"].shape == (80,)
    assert b["superpoints"].dtype == torch.int64
    assert b["semantic_labels"].dtype == torch.int64 and b["instance_labels"].dtype == torch.int64
    assert isinstance(b["spatial_shape"], list) and len(b["spatial_shape"]) == 3


def test_collate_voxels_are_first_appearance_of_batch_and_integer_coords():
    samples = [fake_sample("a", 200, 0), fake_sample("b", 150, 1)]
    b = collate(samples)
    pts = torch.cat([torch.cat([torch.full((s["coord"].shape[0], 1), i), s["coord"]], 1) for i, s in enumerate(samples)])
    keys = {}
    order = []
    for row in pts.tolist():
        k = tuple(row)
        if k not in keys:
            keys[k] = len(keys)
            order.append(k)
    assert b["voxel_coords"].tolist() == [list(k) for k in order]
    assert b["point2voxel"].tolist() == [keys[tuple(r)] for r in pts.tolist()]


def test_collate_superpoints_and_instances_are_unique_over_the_batch():
    samples = [fake_sample("a", 60, 0, n_inst=3, n_spp=5), fake_sample("b", 40, 1, n_inst=2, n_spp=4)]
    b = collate(samples)
    spp, inst = b["superpoints"], b["instance_labels"]
    assert spp[:60].max() < spp[60:].min()
    assert torch.equal(spp[60:] - spp[60:].min(), samples[1]["superpoints"])
    a_inst, b_inst = inst[:60], inst[60:]
    assert torch.equal(a_inst, samples[0]["instance"])
    want = samples[1]["instance"].clone()
    want[want != -100] += 3
    assert torch.equal(b_inst, want)


def test_collate_spatial_shape_at_least_minimum():
    b = collate([fake_sample("a", 20, 0)], min_spatial_shape=128)
    assert b["spatial_shape"] == [128, 128, 128]
    s = fake_sample("a", 20, 0)
    s["coord"][0] = torch.tensor([300, 5, 7])
    assert collate([s])["spatial_shape"] == [301, 128, 128]


def test_collate_unlabelled_batch_has_no_label_keys():
    b = collate([fake_sample("a", 20, 0, labelled=False)])
    assert "semantic_labels" not in b and "instance_labels" not in b


def test_collate_skips_dropped_samples_and_rejects_empty_or_mixed_batches():
    b = collate([None, fake_sample("a", 20, 0), None])
    assert b["batch_size"] == 1 and b["scan_ids"] == ["a"]
    with pytest.raises(ValueError, match="every scene of the batch \\(2\\) was dropped"):
        collate([None, None])
    with pytest.raises(ValueError, match=r"cannot batch labelled and unlabelled scenes together: \['b'\]"):
        collate([fake_sample("a", 20, 0), fake_sample("b", 20, 1, labelled=False)])


def test_dataloader_from_config_yields_batches_of_synthetic_rooms(prepared):
    cfg = config_for(prepared[0])
    loader = build_dataloader(cfg, "train")
    batch = next(iter(loader))
    assert batch["batch_size"] == cfg["dataloader"]["train"]["batch_size"]
    n = batch["coords_float"].shape[0]
    assert batch["point_offsets"][-1] == n and batch["semantic_labels"].shape == (n,)
    assert int(batch["point2voxel"].max()) + 1 == batch["voxel_coords"].shape[0]
    test_loader = build_dataloader(cfg, "test")
    tb = next(iter(test_loader))
    assert tb["batch_size"] == 1


def test_labels_outside_the_class_map_are_reported(tmp_path):
    os.makedirs(tmp_path / "train")
    os.makedirs(tmp_path / "superpoints")
    xyz = np.random.default_rng(0).uniform(-2, 2, (4, 3)).astype(np.float32)
    torch.save((xyz, np.zeros_like(xyz), np.array([0, 3, 25, -100.0]), np.zeros(4)), tmp_path / "train" / "a_inst_nostuff.pth")
    torch.save(np.arange(4), tmp_path / "superpoints" / "a.pth")
    with pytest.raises(DataFormatError, match=r"a_inst_nostuff\.pth: semantic label 25 is outside the class map of 20 "
                                              r"classes \(0\.\.19, or -100 for ignored\)"):
        SceneDataset(str(tmp_path), "train", training=False)[0]
    assert SceneDataset(str(tmp_path), "train", training=False, semantic_classes=30)[0]["semantic"].tolist() == [0, 3, 25, -100]
    torch.save((xyz, np.zeros_like(xyz), np.zeros(4), np.array([0, -1, 2, -100.0])), tmp_path / "train" / "a_inst_nostuff.pth")
    with pytest.raises(DataFormatError, match=r"instance id -1 is negative"):
        SceneDataset(str(tmp_path), "train", training=False)[0]


def test_superpoint_file_of_wrong_length_is_reported(tmp_path):
    os.makedirs(tmp_path / "train")
    os.makedirs(tmp_path / "superpoints")
    xyz = np.zeros((4, 3), np.float32)
    torch.save((xyz, xyz), tmp_path / "train" / "a_inst_nostuff.pth")
    torch.save(np.arange(5), tmp_path / "superpoints" / "a.pth")
    with pytest.raises(DataFormatError, match=r"a\.pth: has 5 superpoint ids but the scene has 4 points"):
        SceneDataset(str(tmp_path), "train", training=False)[0]


def test_training_order_depends_only_on_seed_and_epoch_and_ranks_get_disjoint_shards(prepared):
    cfg = config_for(prepared[0])
    a, b = build_dataloader(cfg, "train"), build_dataloader(cfg, "train")
    a.sampler.set_epoch(3)
    list(iter(b.sampler))  # consuming an epoch must not change what a later epoch yields
    b.sampler.set_epoch(3)
    assert list(a.sampler) == list(b.sampler)
    r0 = list(build_dataloader(cfg, "train", rank=0, world_size=2).sampler)
    r1 = list(build_dataloader(cfg, "train", rank=1, world_size=2).sampler)
    assert not set(r0) & set(r1)
