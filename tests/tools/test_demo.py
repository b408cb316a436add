"""The shipped demo model and scenes (docs/demo_model.md): tools/demo.py end to end on one bundled
scene, a regression check of its scores, and the bundle's provenance."""
import json
import os
import shutil
import tarfile

import pytest
import torch

from sphmask.config import load_config
from sphmask.io import write_scene_archive
from tests.conftest import DEMO_SCENES
from tools.demo import main as demo_main
from tools.make_synthetic import main as make_main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CKPT = os.path.join(ROOT, "demo", "spherical_mask_small.pth")
CONFIG = os.path.join(ROOT, "configs", "synthetic", "spherical_mask_small.yaml")
SCENE = "synth1002_00"
# tools/demo.py on the bundled (realistic) SCENE alone with the shipped checkpoint: measured
# (docs/demo_model.md), the same with 1 and 2 threads. The tolerance allows one borderline instance
# on another CPU's floating point, not a broken model or pipeline.
EXPECTED = {"ap": 0.6347078590134145, "ap50": 0.7962962962962963, "ap25": 0.875}
# The same on the small-preset SCENE (generated here, the room bundled before): measured, likewise.
EXPECTED_SMALL = {"ap": 0.8775132275132275, "ap50": 0.9583333333333333, "ap25": 0.9494047619047619}


def one_room(src, dst):
    """The raw folder ``dst`` with SCENE of the raw folder ``src`` and its label map."""
    shutil.copytree(os.path.join(src, "scans", SCENE), os.path.join(dst, "scans", SCENE))
    shutil.copy(os.path.join(src, "scannetv2-labels.combined.tsv"), dst)
    return dst


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, bundled_scenes):
    # SCENE as an archive of its own, so the run also goes through --scenes <archive>
    tmp = tmp_path_factory.mktemp("demo")
    archive = str(tmp / "scene.tar.xz")
    write_scene_archive(one_room(bundled_scenes, tmp / "scene"), archive)
    rc = demo_main(["--scenes", archive, "--ckpt", CKPT, "--out", str(tmp / "out")])
    return rc, tmp / "out", archive


@pytest.mark.slow
def test_demo_writes_every_output(demo_run):
    rc, out, archive = demo_run
    assert rc == 0
    for suffix in ("_instances.ply", "_instances.npz", "_summary.json", "_top.png", "_viewer.html"):
        assert (out / f"{SCENE}{suffix}").is_file(), suffix
    assert (out / "metrics.json").is_file()
    summary = json.load(open(out / f"{SCENE}_summary.json"))
    assert summary["num_instances"] == len(summary["instances"]) > 0
    assert all(i["score"] >= 0.3 for i in summary["instances"])
    # the scene is named inside the archive, not by the temporary folder it was extracted to
    assert summary["input"] == os.path.join(archive, "scans", SCENE)


@pytest.mark.slow
def test_shipped_checkpoint_scores_on_a_bundled_scene(demo_run):
    _, out, _ = demo_run
    metrics = json.load(open(out / "metrics.json"))
    for key, want in EXPECTED.items():
        assert metrics["averages"][key] == pytest.approx(want, abs=0.02), key


@pytest.mark.slow
def test_shipped_checkpoint_still_segments_a_small_preset_room(small_demo_rooms, tmp_path):
    rc = demo_main(["--scenes", str(one_room(small_demo_rooms, tmp_path / "scene")), "--ckpt", CKPT,
                    "--out", str(tmp_path / "out")])
    assert rc == 0
    metrics = json.load(open(tmp_path / "out" / "metrics.json"))
    for key, want in EXPECTED_SMALL.items():
        assert metrics["averages"][key] == pytest.approx(want, abs=0.02), key


def test_shipped_checkpoint_is_small_loads_safely_and_matches_the_config():
    assert os.path.getsize(CKPT) < 20 * 2**20
    obj = torch.load(CKPT, map_location="cpu", weights_only=True)
    assert sorted(obj) == ["epoch", "meta", "net"]
    assert obj["meta"]["config"]["model"] == load_config(CONFIG)["model"]


def test_bundled_scenes_are_the_documented_synthetic_rooms(tmp_path):
    # docs/demo_model.md: seed 1, rooms 1000-1002, realistic preset, all in val
    assert make_main(["--out", str(tmp_path), "--preset", "realistic", "--scenes", "3", "--seed", "1",
                      "--first-index", "1000", "--split", "val"]) == 0
    regenerated = sorted(os.path.relpath(os.path.join(top, f), tmp_path).replace(os.sep, "/")
                         for top, _, files in os.walk(tmp_path) for f in files)
    with tarfile.open(DEMO_SCENES) as tar:
        files = [m for m in tar.getmembers() if m.isfile()]
        assert sorted(m.name for m in files) == regenerated
        for member in files:
            assert tar.extractfile(member).read() == (tmp_path / member.name).read_bytes(), member.name
    assert sorted(os.listdir(tmp_path / "scans")) == ["synth1000_00", "synth1001_00", "synth1002_00"]
    assert os.path.getsize(DEMO_SCENES) < 10 * 2**20


def test_demo_reports_a_missing_scene_folder(tmp_path, capsys):
    assert demo_main(["--scenes", str(tmp_path / "nothing"), "--ckpt", CKPT, "--out", str(tmp_path)]) == 2
    assert "must hold scans/<scene>/ folders" in capsys.readouterr().err


@pytest.mark.parametrize("content, problem", [(None, "file not found"), (b"not an archive\n", "not a readable")],
                         ids=["missing", "corrupt"])
def test_demo_reports_a_bad_scene_archive_in_one_line(tmp_path, capsys, content, problem):
    archive = tmp_path / "scenes.tar.xz"
    if content is not None:
        archive.write_bytes(content)
    assert demo_main(["--scenes", str(archive), "--ckpt", CKPT, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {archive}: ") and problem in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_demo_summary_json_has_the_segment_tool_layout(demo_run):
    from tests.tools.test_segment_tool import SUMMARY_KEYS

    _, out, _ = demo_run
    summary = json.load(open(out / f"{SCENE}_summary.json"))
    assert list(summary) == SUMMARY_KEYS and summary["mesh"] is True
