"""End to end on synthetic rooms: tools/make_synthetic.py -> tools/prepare_data.py -> tools/train.py
-> tools/test.py (evaluate + export) -> tools/evaluate.py on the exported files."""
import json
import os
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "testing", "tiny.yaml")


def run(*args, check=True):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="2")
    out = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    run("tools/make_synthetic.py", "--out", str(tmp / "raw"), "--scenes", "5", "--test-scenes", "1",
        "--seed", "3", "--size", "small")
    run("tools/prepare_data.py", "scannetv2", "--raw", str(tmp / "raw"), "--out", str(tmp / "data"), "--no-progress")
    return tmp


@pytest.fixture(scope="module")
def trained(data):
    work = data / "work"
    run("tools/train.py", CONFIG, "--work-dir", str(work), "--set", f"data.train.data_root={data / 'data'}",
        f"data.test.data_root={data / 'data'}", "train.epochs=1")
    return work


@pytest.mark.slow
def test_train_writes_log_with_config_and_a_resumable_checkpoint(trained):
    log = open(trained / "train.log").read()
    assert "resolved config" in log and "tiny.yaml" in log and "n_sample_pa1: 64" in log
    assert "validation after epoch 1" in log
    ckpt = torch.load(trained / "latest.pth", weights_only=True)
    assert ckpt["epoch"] == 1 and {"net", "optimizer", "scheduler", "meta"} <= set(ckpt)
    assert ckpt["meta"]["config"]["model"]["channels"] == 8


@pytest.mark.slow
def test_test_tool_metrics_equal_evaluate_tool_on_exported_files(data, trained):
    out = data / "out"
    run("tools/test.py", CONFIG, "--ckpt", str(trained / "latest.pth"), "--out", str(out),
        "--set", f"data.test.data_root={data / 'data'}")
    metrics = json.load(open(out / "metrics.json"))
    assert metrics["scenes"] == len(os.listdir(data / "data" / "val"))
    scenes = [f[:-4] for f in os.listdir(data / "data" / "val_gt")]
    for s in scenes:
        assert (out / f"{s}.txt").exists() and (out / "ply" / f"{s}.ply").exists()
    run("tools/evaluate.py", "--gt", str(data / "data" / "val_gt"), "--pred", str(out), "--json", str(data / "ev.json"))
    from_files = json.load(open(data / "ev.json"))
    assert from_files["average"] == metrics["instance"]["average"]


@pytest.mark.slow
def test_test_tool_exports_scenes_without_labels(data, trained):
    out = data / "out_test"
    res = run("tools/test.py", CONFIG, "--ckpt", str(trained / "latest.pth"), "--out", str(out),
              "--set", f"data.test.data_root={data / 'data'}", "data.test.prefix=test")
    assert "had no labels" in res.stdout
    assert json.load(open(out / "metrics.json"))["unlabelled_scenes"] == 1
    assert len([f for f in os.listdir(out) if f.endswith(".txt")]) == 1


@pytest.mark.slow
def test_checkpoint_of_another_config_fails_naming_the_keys(data, trained, tmp_path):
    res = run("tools/test.py", CONFIG, "--ckpt", str(trained / "latest.pth"), "--set", "model.channels=16",
              f"data.test.data_root={data / 'data'}", check=False)
    assert res.returncode != 0
    assert "input_conv.0.weight" in res.stderr


def test_unknown_config_key_lists_valid_keys():
    res = run("tools/train.py", CONFIG, "--set", "train.epochz=1", check=False)
    assert res.returncode != 0 and "unknown config key 'train.epochz'" in res.stderr and "epochs" in res.stderr


@pytest.mark.slow
def test_resumed_training_equals_uninterrupted_run_with_the_real_model(data, tmp_path):
    common = [f"data.train.data_root={data / 'data'}", f"data.test.data_root={data / 'data'}"]
    run("tools/train.py", CONFIG, "--skip-validate", "--work-dir", str(tmp_path / "full"), "--set", *common,
        "train.epochs=2")
    run("tools/train.py", CONFIG, "--skip-validate", "--work-dir", str(tmp_path / "split"), "--set", *common,
        "train.epochs=1")
    run("tools/train.py", CONFIG, "--skip-validate", "--work-dir", str(tmp_path / "split"), "--resume", "--set",
        *common, "train.epochs=2")
    full = torch.load(tmp_path / "full" / "latest.pth", weights_only=True)
    split = torch.load(tmp_path / "split" / "latest.pth", weights_only=True)
    assert full["epoch"] == split["epoch"] == 2
    for k, v in full["net"].items():
        assert torch.equal(v, split["net"][k]), k


def test_repeated_set_options_accumulate():
    from tools.segment import parse_args as segment_args
    from tools.test import parse_args as test_args
    from tools.train import parse_args as train_args

    argv = ["--set", "a=1", "b=2", "--set", "c=3"]
    assert train_args(["cfg.yaml"] + argv).set == ["a=1", "b=2", "c=3"]
    assert test_args(["cfg.yaml", "--ckpt", "x.pth"] + argv).set == ["a=1", "b=2", "c=3"]
    assert segment_args(["in.ply", "--ckpt", "x.pth", "--out", "o"] + argv).set == ["a=1", "b=2", "c=3"]
