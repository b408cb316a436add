"""The shipped demo model and scenes (docs/demo_model.md): tools/demo.py end to end on one bundled
scene, a regression check of its scores, and the bundle's provenance."""
import filecmp
import json
import os
import shutil

import pytest
import torch

from sphmask.config import load_config
from tools.demo import main as demo_main
from tools.make_synthetic import main as make_main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENES = os.path.join(ROOT, "demo", "scenes")
CKPT = os.path.join(ROOT, "demo", "spherical_mask_small.pth")
CONFIG = os.path.join(ROOT, "configs", "synthetic", "spherical_mask_small.yaml")
SCENE = "synth1002_00"
# tools/demo.py on SCENE alone with the shipped checkpoint (measured, docs/demo_model.md). The
# model's output is the same with 1 and 2 threads; the tolerance allows one borderline instance
# on another CPU's floating point, not a broken model or pipeline.
EXPECTED = {"ap": 0.9391534391534391, "ap50": 1.0, "ap25": 1.0}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    scenes = tmp / "scenes"
    shutil.copytree(os.path.join(SCENES, "scans", SCENE), scenes / "scans" / SCENE)
    shutil.copy(os.path.join(SCENES, "scannetv2-labels.combined.tsv"), scenes)
    rc = demo_main(["--scenes", str(scenes), "--ckpt", CKPT, "--out", str(tmp / "out")])
    return rc, tmp / "out"


@pytest.mark.slow
def test_demo_writes_every_output(demo_run):
    rc, out = demo_run
    assert rc == 0
    for suffix in ("_instances.ply", "_instances.npz", "_summary.json", "_top.png", "_viewer.html"):
        assert (out / f"{SCENE}{suffix}").is_file(), suffix
    assert (out / "metrics.json").is_file()
    summary = json.load(open(out / f"{SCENE}_summary.json"))
    assert summary["num_instances"] == len(summary["instances"]) > 0
    assert all(i["score"] >= 0.3 for i in summary["instances"])


@pytest.mark.slow
def test_shipped_checkpoint_scores_on_a_bundled_scene(demo_run):
    _, out = demo_run
    metrics = json.load(open(out / "metrics.json"))
    for key, want in EXPECTED.items():
        assert metrics["averages"][key] == pytest.approx(want, abs=0.02), key


def test_shipped_checkpoint_is_small_loads_safely_and_matches_the_config():
    assert os.path.getsize(CKPT) < 20 * 2**20
    obj = torch.load(CKPT, map_location="cpu", weights_only=True)
    assert sorted(obj) == ["epoch", "meta", "net"]
    assert obj["meta"]["config"]["model"] == load_config(CONFIG)["model"]


def test_bundled_scenes_are_the_documented_synthetic_rooms(tmp_path):
    # docs/demo_model.md: seed 1, rooms 1000-1002, small preset, all in val
    assert make_main(["--out", str(tmp_path), "--scenes", "3", "--seed", "1", "--first-index", "1000",
                      "--size", "small", "--split", "val"]) == 0
    for sid in sorted(os.listdir(os.path.join(SCENES, "scans"))):
        a, b = os.path.join(SCENES, "scans", sid), os.path.join(tmp_path, "scans", sid)
        match, mismatch, errors = filecmp.cmpfiles(a, b, sorted(os.listdir(a)), shallow=False)
        assert not mismatch and not errors, (sid, mismatch, errors)
    assert sorted(os.listdir(os.path.join(SCENES, "scans"))) == ["synth1000_00", "synth1001_00", "synth1002_00"]


def test_demo_reports_a_missing_scene_folder(tmp_path, capsys):
    assert demo_main(["--scenes", str(tmp_path / "nothing"), "--ckpt", CKPT, "--out", str(tmp_path)]) == 2
    assert "must hold scans/<scene>/ folders" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_summary_json_has_the_segment_tool_layout(demo_run):
    from tests.tools.test_segment_tool import SUMMARY_KEYS

    _, out = demo_run
    summary = json.load(open(out / f"{SCENE}_summary.json"))
    assert list(summary) == SUMMARY_KEYS and summary["mesh"] is True
