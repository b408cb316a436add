"""End to end on synthetic rooms: tools/make_synthetic.py -> tools/prepare_data.py -> tools/train.py
-> tools/test.py (evaluate + export) -> tools/evaluate.py on the exported files."""
import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import types

import pytest
import torch
import yaml

from sphmask.cli import run_tool
from sphmask.config import load_config

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
    out = run("tools/train.py", CONFIG, "--work-dir", str(work), "--set", f"data.train.data_root={data / 'data'}",
              f"data.test.data_root={data / 'data'}", "train.epochs=1")
    (work / "stderr.txt").write_text(out.stderr)
    return work


def one_line_error(res, *needles):
    """The run failed with exit 2 and one ``error: ...`` line on stderr naming every needle, no traceback."""
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr and len(lines) == 1 and lines[0].startswith("error: "), res.stderr[-2000:]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def in_process(tool, *args):
    """Run a tool's main through run_tool in this process (as its __main__ does, without paying the
    spconv import of a new interpreter); returns an object shaped like subprocess's result."""
    import importlib

    main = importlib.import_module(f"tools.{tool}").main
    log = logging.getLogger("sphmask.train")  # train.py configures it; leave it as other tests expect
    handlers, propagate = list(log.handlers), log.propagate
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run_tool(main, list(args))
    finally:
        for h in set(log.handlers) - set(handlers):
            log.removeHandler(h)
            h.close()
        log.propagate = propagate
    return types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


@pytest.mark.slow
def test_train_writes_log_with_config_and_a_resumable_checkpoint(trained):
    log = open(trained / "train.log").read()
    assert "resolved config" in log and "tiny.yaml" in log and "n_sample_pa1: 64" in log
    assert "validation after epoch 1" in log
    ckpt = torch.load(trained / "latest.pth", weights_only=True)
    assert ckpt["epoch"] == 1 and {"net", "optimizer", "scheduler", "meta"} <= set(ckpt)
    assert ckpt["meta"]["config"]["model"]["channels"] == 8
    assert "trained 2 optimizer steps over 1 epoch(s): 2 iterations, 4 samples seen, 0 skipped" in log


@pytest.mark.slow
def test_training_stderr_has_no_torch_is_fx_tracing_notice(trained):
    assert "is_fx_tracing" not in (trained / "stderr.txt").read_text()


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
    one_line_error(res, "unknown config key 'train.epochz'", "epochs")


def test_config_without_model_section_is_refused_by_train_and_test(tmp_path):
    cfg = load_config(CONFIG)
    data_only = tmp_path / "data_only.yaml"
    data_only.write_text(yaml.safe_dump({"data": cfg["data"], "dataloader": cfg["dataloader"]}))
    one_line_error(in_process("train", str(data_only), "--work-dir", str(tmp_path / "w")),
                   "no 'model' section")
    one_line_error(in_process("test", str(data_only), "--ckpt", "x.pth"), "no 'model' section")
    assert not (tmp_path / "w").exists()


def test_wrong_typed_and_out_of_range_values_are_one_line(tmp_path):
    one_line_error(in_process("train", CONFIG, "--set", "model.voxel_scale=-1"),
                   "'model.voxel_scale' must be a finite number > 0")
    one_line_error(in_process("test", CONFIG, "--ckpt", "x.pth", "--set", "data.test.voxel_cfg.scale=big"),
                   "'data.test.voxel_cfg.scale' must be a finite number")


def test_set_semantic_classes_the_file_does_not_spell_reaches_the_consistency_check():
    one_line_error(in_process("train", CONFIG, "--set", "model.semantic_classes=200"),
                   "model.semantic_classes is 200", "20 semantic classes")


def test_train_with_missing_data_folder_is_one_line(tmp_path):
    one_line_error(in_process("train", CONFIG, "--work-dir", str(tmp_path / "w"), "--set",
                       f"data.train.data_root={tmp_path / 'nowhere'}"),
                   "no preprocessed scene matches", "nowhere")


def test_train_resume_from_missing_checkpoint_is_one_line(tmp_path):
    one_line_error(in_process("train", CONFIG, "--work-dir", str(tmp_path / "w"), "--resume"),
                   "--resume: no checkpoint at", "latest.pth")


def test_test_tool_without_prepared_data_is_one_line(tmp_path):
    one_line_error(in_process("test", CONFIG, "--ckpt", str(tmp_path / "x.pth"), "--set",
                       f"data.test.data_root={tmp_path / 'nowhere'}"), "no preprocessed scene matches")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.slow
def test_train_resume_failures_are_one_line(data, tmp_path, capfd):
    cases = {"truncated": "not a readable weights-only checkpoint", "malicious_pickle": "not a readable weights-only",
             "weights_only": "lacks ['optimizer', 'epoch', 'rng']"}
    full = tmp_path / "full.pth"
    torch.save({"net": {"w": torch.zeros(3)}, "optimizer": {}, "epoch": 1, "rng": {}}, full)
    for case, message in cases.items():
        bad = tmp_path / f"{case}.pth"
        if case == "truncated":
            bad.write_bytes(full.read_bytes()[:200])
        elif case == "malicious_pickle":
            torch.save({"net": _Evil(), "optimizer": {}, "epoch": 1, "rng": {}}, bad)
        else:
            torch.save({"net": {"w": torch.zeros(3)}}, bad)
        res = in_process("train", CONFIG, "--skip-validate", "--work-dir", str(tmp_path / "w"), "--resume", str(bad),
                         "--set", f"data.train.data_root={data / 'data'}")
        one_line_error(res, str(bad), message)
    assert "pwned" not in capfd.readouterr().out


@pytest.mark.slow
def test_test_tool_without_out_writes_metrics_into_the_work_dir(data, trained, tmp_path):
    res = run("tools/test.py", CONFIG, "--ckpt", str(trained / "latest.pth"), "--work-dir", str(tmp_path / "wd"),
              "--max-scenes", "1", "--set", f"data.test.data_root={data / 'data'}")
    assert (tmp_path / "wd" / "metrics.json").exists()
    assert f"metrics written to {tmp_path / 'wd' / 'metrics.json'}" in res.stdout
    assert not (trained / "metrics.json").exists() and not os.path.exists(os.path.join(ROOT, "metrics.json"))


@pytest.mark.slow
def test_semantic_only_validation_logs_miou_and_per_class_iou_not_an_ap_table(data, tmp_path):
    run("tools/train.py", CONFIG, "--only-backbone", "--work-dir", str(tmp_path / "w"), "--set",
        f"data.train.data_root={data / 'data'}", f"data.test.data_root={data / 'data'}", "train.epochs=1")
    log = open(tmp_path / "w" / "train.log").read()
    assert "semantic validation after epoch 1:" in log and "otherfurniture :" in log and "mIoU" in log
    assert " ap " not in log and "AP50" not in log and "ap50" not in log
    assert "validation after epoch 1: miou" in log
    assert os.path.exists(tmp_path / "w" / "best.pth")  # best.pth follows mIoU in semantic-only training


@pytest.mark.slow
def test_step_budget_run_stops_at_max_steps_and_logs_steps_samples_time(data, tmp_path):
    run("tools/train.py", CONFIG, "--skip-validate", "--work-dir", str(tmp_path / "w"), "--set",
        f"data.train.data_root={data / 'data'}", "train.max_steps=3", "train.constant_steps=1")
    log = open(tmp_path / "w" / "train.log").read()
    assert "training budget: 3 optimizer steps" in log and "step 3/3" in log
    assert "trained 3 optimizer steps over 2 epoch(s): 3 iterations, 6 samples seen, 0 skipped" in log
    assert torch.load(tmp_path / "w" / "latest.pth", weights_only=True)["step"] == 3


@pytest.mark.slow
def test_resumed_training_equals_uninterrupted_run_with_the_real_model(data, tmp_path):
    common = [f"data.train.data_root={data / 'data'}", f"data.test.data_root={data / 'data'}"]
    run("tools/train.py", CONFIG, "--skip-validate", "--work-dir", str(tmp_path / "full"), "--set", *common,
        "train.epochs=2")
    run("tools/train.py", CONFIG, "--skip-validate", "--work-dir", str(tmp_path / "split"), "--set", *common,
        "train.epochs=1")
    # What a SIGKILL during a checkpoint write leaves: a 0-byte temp file of atomic_path's naming.
    (tmp_path / "split" / ".tmp-latest.pth-k1ll3d_0").write_bytes(b"")
    (tmp_path / "split" / ".tmp-notes.txt").write_text("not ours")
    run("tools/train.py", CONFIG, "--skip-validate", "--work-dir", str(tmp_path / "split"), "--resume", "--set",
        *common, "train.epochs=2")
    assert not (tmp_path / "split" / ".tmp-latest.pth-k1ll3d_0").exists()
    assert (tmp_path / "split" / ".tmp-notes.txt").read_text() == "not ours"
    assert "removed 1 temporary file(s)" in open(tmp_path / "split" / "train.log").read()
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
