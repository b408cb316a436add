"""sphmask.Segmenter: the Python API over the segmentation engine (docs/segment.md).

The stand-in model (instances = connected components) checks what the API hands the engine and
gives back; the bundled demo model checks real runs (the notebook example, georeferenced clouds).
"""
import os
import runpy
import subprocess
import sys
import types

import numpy as np
import pytest
import torch

import sphmask
from sphmask.engine.segment import CropSettings, SegmentInputError, read_instances
from sphmask.io import read_ply
from tests.conftest import num_threads, requires_cuda
from tests.engine.segment_stub import ComponentModel, bars_cloud

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CKPT = os.path.join(ROOT, "demo", "spherical_mask_small.pth")
SMALL_BLOCKS = CropSettings(block_size=2.0, overlap=0.5)


def signature(result):
    return [(tuple(i.indices.tolist()), i["label_id"], round(i["score"], 6)) for i in result.instances]


@pytest.fixture
def bars():
    cloud = bars_cloud()
    return cloud.xyz, (cloud.rgb.astype(np.float64) + 1) * 127.5  # colours 0..255


@pytest.fixture
def stub():
    model = ComponentModel()
    model.infer_cfg = types.SimpleNamespace(npoint_thresh=1)  # keep the short bar after merging
    return sphmask.Segmenter(model, instance_names=["red", "blue"], crop=SMALL_BLOCKS, device="cpu")


@pytest.fixture(scope="module")
def demo():
    return sphmask.Segmenter.from_checkpoint(DEMO_CKPT, device="cpu")


@pytest.fixture(scope="module")
def small_room(small_demo_rooms):
    # the counts below were measured on this small-preset room (~10k points), which keeps blocks cheap
    return read_ply(os.path.join(small_demo_rooms, "scans", "synth1000_00", "synth1000_00_vh_clean_2.ply"))


# ------------------------------------------------------------------------------------ the API


def test_segmenter_instances_are_masks_with_label_and_score(stub, bars):
    xyz, rgb = bars
    result = stub(xyz, rgb)
    assert len(result.instances) == 4 and result.semantic.shape == (xyz.shape[0],)
    scores = [i["score"] for i in result.instances]
    assert scores == sorted(scores, reverse=True)
    for inst in result.instances:
        assert set(inst) == {"mask", "label", "label_id", "score"}
        assert inst["mask"].dtype == bool and inst["mask"].shape == (xyz.shape[0],)
        np.testing.assert_array_equal(np.flatnonzero(inst["mask"]), inst.indices)
        assert inst["label"] == ("red" if inst["label_id"] == 1 else "blue")


def test_segmenter_numpy_torch_float32_and_uint8_inputs_agree(stub, bars):
    xyz, rgb = bars
    ref = signature(stub(xyz, rgb))
    assert signature(stub(torch.from_numpy(xyz), torch.from_numpy(rgb))) == ref
    assert signature(stub(xyz, rgb / 255.0)) == ref  # float colours in 0..1
    # uint8 rounds the stand-in's score colour, float32 the coordinates: the same objects
    masks = [(idx, label) for idx, label, _ in ref]
    assert [(idx, label) for idx, label, _ in signature(stub(xyz.astype(np.float32), np.rint(rgb).astype(np.uint8)))] \
        == masks


def test_segmenter_result_to_npz_and_to_ply(stub, bars, tmp_path):
    result = stub(*bars).above(0.5)
    result.to_npz(str(tmp_path / "bars.npz"))
    result.to_ply(str(tmp_path / "bars.ply"))
    data = read_instances(str(tmp_path / "bars.npz"))
    assert data["score"].tolist() == [0.75, 0.625, 0.5]
    for k, inst in enumerate(result.instances):
        np.testing.assert_array_equal(data["masks"][k], inst["mask"])
    ply = read_ply(str(tmp_path / "bars.ply"))
    np.testing.assert_array_equal(ply.vertex["instance"] >= 0, data["masks"].any(0))
    assert sorted(os.listdir(tmp_path)) == ["bars.npz", "bars.ply"]


def test_segmenter_segment_file_reads_the_tool_formats(stub, bars, tmp_path):
    xyz, rgb = bars
    np.save(tmp_path / "bars.npy", np.concatenate([xyz, rgb], 1))
    np.savetxt(tmp_path / "bars.txt", np.concatenate([xyz, rgb], 1), fmt="%.17g")
    ref = signature(stub(xyz, rgb))
    for name in ("bars.npy", "bars.txt"):
        result = stub.segment_file(str(tmp_path / name))
        assert signature(result) == ref and result.name == "bars" and "load" in result.timing


def test_segmenter_large_cloud_in_blocks_merges_objects(stub, bars):
    result = stub(*bars)
    assert len(result.blocks) > 3 and len(result.instances) == 4


def test_import_sphmask_stays_light_segmenter_loaded_on_first_use():
    from sphmask.engine.segment.api import Segmenter

    assert sphmask.Segmenter is Segmenter
    code = "import sys, sphmask; assert 'torch' not in sys.modules and 'spconv' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("points, colors, match", [
    ([[0.0, 0.0, 0.0]], None, "numpy array or a torch tensor, got list"),
    (np.zeros((5, 2)), None, r"points must have shape \(N, 3\), got \(5, 2\)"),
    (np.zeros((0, 3)), None, "points is empty"),
    (np.zeros((4, 3), dtype=np.complex128), None, "real numbers .* complex128"),
    (np.zeros((4, 3), dtype=bool), None, "real numbers .* bool"),
    (np.array([[0.0, 0, 0], [np.nan, 0, 0]]), None, "points row 1 has a NaN or inf"),
    (np.zeros((4, 3)), np.zeros((3, 3)), r"colors must have shape \(4, 3\), one row per point, got \(3, 3\)"),
    (np.zeros((4, 3)), np.full((4, 3), 300.0), r"colors: colors range over \[300, 300\]; colours must be 0..255"),
    (np.zeros((4, 3)), np.full((4, 3), -0.5), r"colors: colors range over \[-0.5, -0.5\]"),
    (np.zeros((4, 3)), np.full((4, 3), np.inf), "colors row 0 has a NaN or inf"),
])
def test_segmenter_bad_arrays_named_error(stub, points, colors, match):
    with pytest.raises(SegmentInputError, match=match):
        stub(points, colors)


def test_segmenter_bad_faces_and_superpoints_named_error(stub):
    xyz = np.zeros((4, 3))
    with pytest.raises(SegmentInputError, match=r"faces must index the 4 points \(0..3\), got values in \[0, 7\]"):
        stub(xyz, faces=np.array([[0, 1, 7]]))
    with pytest.raises(SegmentInputError, match=r"superpoints must be integers of shape \(4,\)"):
        stub(xyz, superpoints=np.zeros(3, dtype=np.int64))


def test_segmenter_score_thresh_nan_or_above_one_refused(stub, bars):
    result = stub(*bars)
    for bad in (float("nan"), 2.0, -0.1):
        with pytest.raises(SegmentInputError, match=r"score_thresh must be in \[0, 1\]"):
            result.above(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_segmenter_device_cuda_without_cuda_named_error():
    with pytest.raises(SegmentInputError, match="no usable CUDA device"):
        sphmask.Segmenter.from_checkpoint(DEMO_CKPT, device="cuda")


def test_segmenter_from_checkpoint_missing_file_named_error():
    from sphmask.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="checkpoint file not found: nowhere.pth"):
        sphmask.Segmenter.from_checkpoint("nowhere.pth", device="cpu")


# ------------------------------------------------------------------------------------ real model


def test_segmenter_notebook_example_runs_on_the_demo_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["segment_api.py", str(tmp_path)])
    with num_threads(1):
        runpy.run_path(os.path.join(ROOT, "docs", "examples", "segment_api.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "tensors: same instances" in out and "the same from the file" in out
    assert sorted(os.listdir(tmp_path)) == ["room_instances.npz", "room_instances.ply"]


@pytest.mark.parametrize("crop", [None, SMALL_BLOCKS], ids=["one_pass", "blocks"])
@pytest.mark.parametrize("mesh", [False, True], ids=["points", "mesh"])
def test_georeferenced_cloud_shifted_5e6_m_gives_same_instances(demo, small_room, crop, mesh):
    # The room centred on the origin and the same room 5e6 m away (float64): superpoints, blocks and
    # voxels must see the same geometry (before, float32 of UTM coordinates merged them into a few).
    room = small_room
    near_xyz = room.xyz - (room.xyz.min(0) + room.xyz.max(0)) / 2
    faces = room.faces if mesh else None
    segmenter = sphmask.Segmenter(demo.model, voxel=demo.voxel, crop=crop, device="cpu")
    shift = np.array([512345.678, 5012345.678, 123.4])  # UTM-like easting, northing, height
    with num_threads(1):
        near = segmenter(near_xyz, room.rgb, faces=faces)
        far = segmenter(near_xyz + shift, room.rgb, faces=faces)
    assert len(near.instances) > 10 and signature(far) == signature(near)
    np.testing.assert_array_equal(far.semantic, near.semantic)


@requires_cuda
def test_segmenter_same_code_on_cuda_gives_the_cpu_instances(small_room):
    room = small_room
    cpu = sphmask.Segmenter.from_checkpoint(DEMO_CKPT, device="cpu")(room.xyz, room.rgb)
    gpu = sphmask.Segmenter.from_checkpoint(DEMO_CKPT, device="auto")
    assert gpu.device.type == "cuda"
    result = gpu(torch.from_numpy(room.xyz).cuda(), torch.from_numpy(room.rgb).cuda())
    a = {(i["label_id"], i.num_points) for i in cpu.instances if i["score"] > 0.3}
    b = {(i["label_id"], i.num_points) for i in result.instances if i["score"] > 0.3}
    assert len(a) > 5 and len(a & b) >= 0.9 * len(a)


def test_segmentation_model_overrides_are_type_checked_and_may_set_default_keys():
    from sphmask.checkpoint import load_segmentation_model
    from sphmask.config import ConfigError

    ckpt = "demo/spherical_mask_small.pth"
    with pytest.raises(ConfigError, match="model.voxel_scale"):
        load_segmentation_model(ckpt, overrides=["model.voxel_scale=-1"])
    with pytest.raises(ConfigError, match="model.inference.npoint_thresh"):
        load_segmentation_model(ckpt, overrides=["model.inference.npoint_thresh=abc"])
    setup = load_segmentation_model(ckpt, overrides=["model.inference.nms_topk=50"])
    assert setup.model.infer_cfg.nms_topk == 50
