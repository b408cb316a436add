"""tools/segment.py end to end on small synthetic rooms in every input format.

Two runs share the checks: the tiny model with random weights (forced small blocks, so the crop
and merge path runs and random weights still return some instances) and a stand-in model whose
instances are connected components (many instances, known classes and scores).
"""
import json
import os

import numpy as np
import pytest
import torch

import sphmask
from sphmask.config import load_config
from sphmask.data.synthetic import generate_scene
from sphmask.data.transforms import VoxelConfig
from sphmask.engine.segment import SegmentationSetup, read_instances
from sphmask.io import read_ply, write_ply
from tests.conftest import num_threads
from tests.engine.segment_stub import ComponentModel, bars_cloud
from tests.viewer_page import read_page
from tools.segment import main, output_names

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "configs", "testing", "tiny.yaml")
FAST = ["--threads", "1", "--no-progress"]


@pytest.fixture(autouse=True)
def _restore_threads():
    """The tool's --threads sets torch's global thread count; keep it from leaking into other tests."""
    with num_threads(torch.get_num_threads()):
        yield


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    """A sphmask training checkpoint of the tiny model (config in meta) and an official-style one (no config)."""
    d = tmp_path_factory.mktemp("ckpt")
    # 4 semantic / 2 instance classes: with random weights some queries then predict an object class.
    cfg = load_config(TINY, ["model.semantic_classes=4", "model.instance_classes=2"])
    torch.manual_seed(0)
    state = sphmask.build_model(cfg).state_dict()
    torch.save({"net": state, "epoch": 1, "meta": {"config": cfg}}, d / "tiny.pth")
    torch.save({"net": state, "epoch": 1}, d / "official_style.pth")
    return {"meta": str(d / "tiny.pth"), "official": str(d / "official_style.pth")}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """One small room as a coloured PLY mesh, a PLY point cloud without colour, NPY (xyz rgb) and TXT (xyz)."""
    d = tmp_path_factory.mktemp("inputs")
    scene = generate_scene(0, 0, "small")
    v, c = scene.vertices, scene.colors
    files = {"room_mesh.ply": None, "room_points.ply": None, "room.npy": None, "room_xyz.txt": None}
    write_ply(str(d / "room_mesh.ply"), {"x": v[:, 0], "y": v[:, 1], "z": v[:, 2], "red": c[:, 0], "green": c[:, 1],
                                         "blue": c[:, 2]}, scene.faces)
    write_ply(str(d / "room_points.ply"), {"x": v[:, 0], "y": v[:, 1], "z": v[:, 2]})
    np.save(d / "room.npy", np.concatenate([v.astype(np.float64), c.astype(np.float64)], 1))
    np.savetxt(d / "room_xyz.txt", v, fmt="%.6f")
    for name in files:
        files[name] = str(d / name)
    return {"files": files, "xyz": v.astype(np.float64), "faces": scene.faces}


def stub_setup(*args, **kwargs):
    return SegmentationSetup(model=ComponentModel(radius=0.15), config={}, config_source="stand-in",
                             voxel=VoxelConfig(), test_rotation=True, instance_names=("red", "blue"),
                             semantic_names=None)


@pytest.fixture(scope="module", params=["tiny", "components"])
def run(request, ckpts, inputs, tmp_path_factory):
    """Run the tool on all four inputs; returns (exit code, out dir, inputs)."""
    out = tmp_path_factory.mktemp(f"out_{request.param}")
    argv = list(inputs["files"].values()) + ["--ckpt", ckpts["meta"], "--out", str(out), "--block-size", "2",
                                             "--overlap", "0.5"] + FAST
    with num_threads(torch.get_num_threads()):  # restores the count --threads changes
        if request.param == "tiny":
            rc = main(argv + ["--set", "model.inference.npoint_thresh=5"])
        else:
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr("tools.segment.load_segmentation_model", stub_setup)
                rc = main(argv)
    return rc, str(out), inputs


def outputs(out, name):
    data = read_instances(os.path.join(out, f"{name}_instances.npz"))
    ply = read_ply(os.path.join(out, f"{name}_instances.ply"))
    with open(os.path.join(out, f"{name}_summary.json")) as f:
        summary = json.load(f)
    return data, ply, summary


NAMES = ["room_mesh", "room_points", "room", "room_xyz"]


def test_every_format_gets_three_outputs(run):
    rc, out, _ = run
    assert rc == 0
    assert sorted(os.listdir(out)) == sorted(f"{n}_{s}" for n in NAMES
                                             for s in ("instances.npz", "instances.ply", "summary.json"))


def test_npz_masks_index_the_input_points(run):
    _, out, inp = run
    n = inp["xyz"].shape[0]
    for name in NAMES:
        data, _, _ = outputs(out, name)
        assert int(data["num_input_points"]) == n and data["semantic"].shape == (n,)
        off = data["offsets"]
        assert off[0] == 0 and off[-1] == data["point_indices"].shape[0]
        np.testing.assert_array_equal(np.diff(off), data["num_points"])
        for k in range(off.shape[0] - 1):
            idx = data["point_indices"][off[k]:off[k + 1]]
            assert idx.size > 0 and idx.min() >= 0 and idx.max() < n and np.all(np.diff(idx) > 0)


def test_ply_has_input_coordinates_in_input_order_and_mesh_faces(run):
    _, out, inp = run
    for name in NAMES:
        _, ply, _ = outputs(out, name)
        tol = 1e-6 if name == "room_xyz" else 0  # the text file holds 6 decimals
        np.testing.assert_allclose(ply.xyz, inp["xyz"].astype(np.float32), rtol=0, atol=tol)
        if name == "room_mesh":
            np.testing.assert_array_equal(ply.faces, inp["faces"])
        else:
            assert ply.faces is None


def test_ply_instance_ids_agree_with_npz_masks(run):
    _, out, _ = run
    for name in NAMES:
        data, ply, _ = outputs(out, name)
        ids = ply.vertex["instance"]
        covered = data["masks"].any(0)
        np.testing.assert_array_equal(ids >= 0, covered)
        for k in np.unique(ids[ids >= 0]):
            assert data["masks"][k, ids == k].all()


def test_json_summary_matches_npz(run):
    _, out, inp = run
    for name in NAMES:
        data, _, summary = outputs(out, name)
        k = data["label_id"].shape[0]
        assert summary["num_points"] == inp["xyz"].shape[0] and summary["num_instances"] == k
        assert [d["id"] for d in summary["instances"]] == list(range(k))
        assert [d["label_id"] for d in summary["instances"]] == data["label_id"].tolist()
        assert [d["class"] for d in summary["instances"]] == data["class_name"].tolist()
        assert [d["num_points"] for d in summary["instances"]] == data["num_points"].tolist()
        np.testing.assert_allclose([d["score"] for d in summary["instances"]], data["score"], atol=1e-6)
        assert summary["blocks"]["count"] == len(summary["blocks"]["points_per_block"]) > 1
        assert summary["input"] == os.path.abspath(inp["files"][os.path.basename(summary["input"])])


def test_both_runs_produce_instances(run):
    # guards the checks above against passing on empty outputs
    _, out, _ = run
    assert sum(outputs(out, n)[0]["label_id"].shape[0] for n in NAMES) > 0


def test_score_thresh_keeps_only_confident_instances(ckpts, tmp_path, monkeypatch):
    monkeypatch.setattr("tools.segment.load_segmentation_model", stub_setup)
    bars = bars_cloud()
    path = str(tmp_path / "bars.npy")
    np.save(path, np.concatenate([bars.xyz, (bars.rgb.astype(np.float64) + 1) * 127.5], 1))
    rc = main([path, "--ckpt", ckpts["meta"], "--out", str(tmp_path), "--score-thresh", "0.6"] + FAST)
    data, _, summary = outputs(str(tmp_path), "bars")
    # the four bars score 0.75, 0.5, 0.25 and 0.625
    assert rc == 0 and summary["instances_before_score_thresh"] == 4
    np.testing.assert_array_equal(data["score"], np.float32([0.75, 0.625]))
    assert [d["class"] for d in summary["instances"]] == ["red", "red"]


def test_render_writes_png_and_html_of_the_kept_instances(ckpts, tmp_path, monkeypatch):
    monkeypatch.setattr("tools.segment.load_segmentation_model", stub_setup)
    bars = bars_cloud()
    path = str(tmp_path / "bars.npy")
    np.save(path, np.concatenate([bars.xyz, (bars.rgb.astype(np.float64) + 1) * 127.5], 1))
    rc = main([path, "--ckpt", ckpts["meta"], "--out", str(tmp_path), "--score-thresh", "0.6", "--render"] + FAST)
    assert rc == 0
    assert (tmp_path / "bars_top.png").read_bytes()[:4] == b"\x89PNG"
    page = read_page(str(tmp_path / "bars_viewer.html"))
    assert [i["score"] for i in page["meta"]["instances"]] == [0.75, 0.625]  # the two kept bars


def test_bad_inputs_one_line_each_others_still_processed(ckpts, inputs, tmp_path, capsys):
    bad = {
        "missing.ply": None,
        "malformed.ply": b"ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nend_header\n1\n2\n",
        "nan.npy": np.array([[0.0, 0.0, 0.0], [np.nan, 1.0, 2.0], [1.0, 1.0, 1.0]]),
        "empty.txt": b"",
    }
    paths = []
    for name, content in bad.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            np.save(path, content)
        paths.append(str(path))
    out = tmp_path / "out"
    rc = main(paths[:2] + [inputs["files"]["room_mesh.ply"]] + paths[2:] + ["--ckpt", ckpts["meta"],
                                                                            "--out", str(out)] + FAST)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert rc == 1 and len(errors) == 4
    for path, line in zip(paths, errors):
        assert path in line
    assert "file not found" in errors[0] and "NaN" in errors[2] and "empty" in errors[3]
    assert sorted(os.listdir(out)) == ["room_mesh_instances.npz", "room_mesh_instances.ply",
                                       "room_mesh_summary.json"]


def test_config_taken_from_checkpoint_meta_else_required(ckpts, inputs, tmp_path, capsys):
    argv = [inputs["files"]["room.npy"], "--out", str(tmp_path)] + FAST
    assert main(argv + ["--ckpt", ckpts["official"]]) == 2
    assert "pass --config" in capsys.readouterr().err
    assert main(argv + ["--ckpt", ckpts["official"], "--config", TINY, "--set", "model.semantic_classes=4",
                        "model.instance_classes=2"]) == 0
    assert main(argv + ["--ckpt", ckpts["meta"]]) == 0
    assert "model from checkpoint meta" in capsys.readouterr().err


def test_not_a_checkpoint_file_is_a_clear_error(inputs, tmp_path, capsys):
    bad = tmp_path / "notes.pth"
    bad.write_text("not a checkpoint")
    rc = main([inputs["files"]["room.npy"], "--out", str(tmp_path), "--ckpt", str(bad)] + FAST)
    assert rc == 2 and capsys.readouterr().err == f"error: {bad} is not a PyTorch checkpoint (neither a torch.save " \
                                                  "zip archive nor a pickle)\n"


def test_checkpoint_not_fitting_the_config_is_a_clear_error(ckpts, inputs, tmp_path, capsys):
    rc = main([inputs["files"]["room.npy"], "--out", str(tmp_path), "--ckpt", ckpts["meta"], "--config",
               os.path.join(ROOT, "configs", "scannetv2", "spherical_mask.yaml")] + FAST)
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: checkpoint does not fit the model") and "Traceback" not in err


def test_millimetre_input_warns_and_scale_fixes_it(ckpts, inputs, tmp_path, capsys):
    path = str(tmp_path / "room_mm.npy")
    np.save(path, inputs["xyz"] * 1000.0)
    base = [path, "--ckpt", ckpts["meta"]] + FAST
    assert main(base + ["--out", str(tmp_path / "a")]) == 0
    assert "--scale 0.001" in capsys.readouterr().err
    assert main(base + ["--out", str(tmp_path / "b"), "--scale", "0.001"]) == 0
    assert "warning" not in capsys.readouterr().err
    with open(tmp_path / "b" / "room_mm_summary.json") as f:
        assert json.load(f)["warnings"] == []


def test_repeated_run_gives_identical_outputs(ckpts, inputs, tmp_path):
    argv = [inputs["files"]["room_mesh.ply"], "--ckpt", ckpts["meta"], "--block-size", "2", "--overlap", "0.5",
            "--set", "model.inference.npoint_thresh=5"] + FAST
    assert main(argv + ["--out", str(tmp_path / "a")]) == 0 and main(argv + ["--out", str(tmp_path / "b")]) == 0
    a, ply_a, sum_a = outputs(str(tmp_path / "a"), "room_mesh")
    b, ply_b, sum_b = outputs(str(tmp_path / "b"), "room_mesh")
    assert a["label_id"].size > 0 and a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    np.testing.assert_array_equal(ply_a.vertex["instance"], ply_b.vertex["instance"])
    assert sum_a["instances"] == sum_b["instances"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_device_cuda_without_cuda_is_a_clear_error(ckpts, inputs, tmp_path, capsys):
    rc = main([inputs["files"]["room.npy"], "--ckpt", ckpts["meta"], "--out", str(tmp_path), "--device", "cuda"])
    assert rc == 2 and "no usable CUDA device" in capsys.readouterr().err


def test_output_names_same_stem_gets_extension_then_counter():
    assert output_names(["a/scan.ply", "b/scan.npy", "c/scan.ply", "room.txt"]) == \
        ["scan_ply", "scan_npy", "scan_ply_2", "room"]


# ------------------------------------------------------------------------------------ issue 15 cases


def bars_file(tmp_path, name="bars.npy"):
    bars = bars_cloud()
    path = str(tmp_path / name)
    np.save(path, np.concatenate([bars.xyz, (bars.rgb.astype(np.float64) + 1) * 127.5], 1))
    return path


@pytest.mark.parametrize("value", ["nan", "2", "-0.5"])
def test_score_thresh_nan_or_out_of_range_is_one_line_exit_2(ckpts, tmp_path, capsys, value):
    rc = main([bars_file(tmp_path), "--ckpt", ckpts["meta"], "--out", str(tmp_path / "out"),
               "--score-thresh", value] + FAST)
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: --score-thresh must be in [0, 1]") and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_out_occupied_by_a_file_is_refused_before_loading_the_model(ckpts, tmp_path, capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("tools.segment.load_segmentation_model", never)
    occupied = tmp_path / "results"
    occupied.write_text("a file")
    rc = main([bars_file(tmp_path), "--ckpt", ckpts["meta"], "--out", str(occupied)] + FAST)
    assert rc == 2 and "is an existing file; give a folder" in capsys.readouterr().err
    rc = main([bars_file(tmp_path), "--ckpt", ckpts["meta"], "--out", str(occupied / "sub")] + FAST)
    assert rc == 2 and "is a file, so the folder cannot be created" in capsys.readouterr().err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_unwritable_is_refused_before_loading_the_model(ckpts, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("tools.segment.load_segmentation_model", lambda *a, **k: pytest.fail("model loaded"))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        rc = main([bars_file(tmp_path), "--ckpt", ckpts["meta"], "--out", str(locked / "out")] + FAST)
    finally:
        locked.chmod(0o700)
    assert rc == 2 and "is not writable" in capsys.readouterr().err


def test_sigint_while_writing_an_input_leaves_none_of_its_files_and_says_what_was_done(
        ckpts, tmp_path, capsys, monkeypatch):
    import tools.segment as tool
    from sphmask.cli import run_tool
    from sphmask.engine.segment import io

    monkeypatch.setattr("tools.segment.load_segmentation_model", stub_setup)
    first, second = bars_file(tmp_path, "first.npy"), bars_file(tmp_path, "second.npy")
    real_ply = io.write_instances_ply
    calls = []

    def ply_then_ctrl_c(path, *args):
        calls.append(path)
        real_ply(path, *args)
        if len(calls) == 2:  # the second input: its NPZ and PLY are written, the JSON is not
            raise KeyboardInterrupt

    monkeypatch.setattr(io, "write_instances_ply", ply_then_ctrl_c)
    out = tmp_path / "out"
    rc = run_tool(tool.main, [first, second, "--ckpt", ckpts["meta"], "--out", str(out)] + FAST,
                  progress=tool.PROGRESS)
    err = capsys.readouterr().err.splitlines()
    assert rc == 130
    assert err[-1] == f"interrupted; 1 of 2 input(s) written to {out} (first); nothing written for {second}"
    assert sorted(os.listdir(out)) == ["first_instances.npz", "first_instances.ply", "first_summary.json"]


def test_sigint_during_the_final_renames_is_held_until_the_set_is_complete(tmp_path, monkeypatch):
    import signal

    from sphmask.engine.segment import io

    real_replace = os.replace
    done = []

    def replace_with_ctrl_c(src, dst):
        if not done and not os.path.basename(src).startswith(".tmp"):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C after the first file landed
        real_replace(src, dst)

    with pytest.raises(KeyboardInterrupt):
        with io.output_set(str(tmp_path), "scan", on_commit=lambda: done.append(True)) as staging:
            for suffix in ("_instances.npz", "_instances.ply", "_summary.json"):
                (tmp_path / os.path.basename(staging) / f"scan{suffix}").write_text(suffix)
            monkeypatch.setattr(os, "replace", replace_with_ctrl_c)
    assert done == [True]
    assert sorted(os.listdir(tmp_path)) == ["scan_instances.npz", "scan_instances.ply", "scan_summary.json"]


def test_summary_json_has_stage_times_and_the_demo_layout(ckpts, tmp_path, monkeypatch):
    monkeypatch.setattr("tools.segment.load_segmentation_model", stub_setup)
    assert main([bars_file(tmp_path), "--ckpt", ckpts["meta"], "--out", str(tmp_path)] + FAST) == 0
    with open(tmp_path / "bars_summary.json") as f:
        summary = json.load(f)
    assert list(summary["timing_s"]) == ["load", "superpoints", "voxelise", "network", "postprocess", "write", "total"]
    assert list(summary) == SUMMARY_KEYS


# The summary JSON of tools/segment.py and tools/demo.py (tests/tools/test_demo.py checks the demo's).
SUMMARY_KEYS = ["input", "name", "mesh", "has_color", "scale", "extent_m", "checkpoint", "config", "device",
                "score_thresh", "instances_before_score_thresh", "blocks", "warnings", "timing_s", "num_points",
                "num_instances", "instances_per_class", "instances"]
