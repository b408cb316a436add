"""One end-to-end run per dataset on synthetic scenes in that dataset's raw layout:
tools/make_synthetic.py -> tools/prepare_data.py -> tools/train.py (backbone stage, then the
instance stage from its checkpoint) -> tools/test.py -> the dataset's metrics."""
import contextlib
import importlib.util
import io
import json
import logging
import os

import numpy as np
import pytest
import torch

from sphmask.data.classes import S3DIS, SCANNET200, STPLS3D
from sphmask.data.synthetic import _LABEL_MAP_ROWS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(tool, *args):
    """``tools/<tool>`` ``main(args)`` in this process (one torch import for the whole pipeline);
    returns its stdout."""
    spec = importlib.util.spec_from_file_location(f"_tool_{os.path.basename(tool)[:-3]}", os.path.join(ROOT, tool))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = module.main([str(a) for a in args])
    train_log = logging.getLogger("sphmask.train")
    for handler in list(train_log.handlers):  # tools/train.py adds its handlers per run
        train_log.removeHandler(handler)
        handler.close()
    assert rc == 0, f"{tool} returned {rc}:\n{out.getvalue()[-3000:]}"
    return out.getvalue()


def pipeline(tmp, dataset, make_args):
    """Raw -> prepared -> two training stages -> test; returns (metrics, test stdout, stage-2 log)."""
    config = os.path.join(ROOT, "configs", "testing", f"tiny_{dataset}.yaml")
    run("tools/make_synthetic.py", "--out", str(tmp / "raw"), "--seed", "3", *make_args)
    run("tools/prepare_data.py", dataset, "--raw", str(tmp / "raw"), "--out", str(tmp / "data"), "--no-progress")
    roots = [f"data.train.data_root={tmp / 'data'}", f"data.test.data_root={tmp / 'data'}"]
    run("tools/train.py", config, "--only-backbone", "--skip-validate", "--work-dir", str(tmp / "backbone"),
        "--set", *roots)
    run("tools/train.py", config, "--skip-validate", "--work-dir", str(tmp / "full"),
        "--set", *roots, f"pretrain={tmp / 'backbone' / 'latest.pth'}")
    stdout = run("tools/test.py", config, "--ckpt", str(tmp / "full" / "latest.pth"), "--out", str(tmp / "out"),
              "--set", *roots)
    log = open(tmp / "full" / "train.log").read()
    return json.load(open(tmp / "out" / "metrics.json")), stdout, log


def _common_checks(metrics, log, classes, n_scenes):
    assert "pretrained weights from" in log and "backbone" in log
    assert metrics["scenes"] == n_scenes and metrics["unlabelled_scenes"] == 0
    inst = metrics["instance"]
    assert list(inst["classes"]) == list(classes.eval_names)
    assert set(inst["average"]) == {"ap", "ap50", "ap25"}
    assert metrics["semantic"] is not None


@pytest.mark.slow
def test_scannet200_end_to_end_with_head_common_tail_ap(tmp_path):
    metrics, stdout, log = pipeline(tmp_path, "scannet200", ["--scenes", "3", "--size", "small"])
    _common_checks(metrics, log, SCANNET200, n_scenes=1)
    assert set(metrics["instance"]["splits"]) == {"head", "common", "tail"}
    for split in ("head", "common", "tail"):
        assert f"{split} AP" in stdout
    # Labels went through the tsv's ids: every prepared class is the ScanNet200 class of a raw
    # category the rooms use, by its tsv id.
    tsv_ids = {int(r.split("|")[0]) for r in _LABEL_MAP_ROWS.splitlines()[1:]}
    for f in os.listdir(tmp_path / "data" / "train"):
        sem = np.asarray(torch.load(tmp_path / "data" / "train" / f, weights_only=False)[2])
        ids = {SCANNET200.benchmark_ids[int(s)] for s in np.unique(sem[sem >= 0])}
        assert ids and ids <= tsv_ids


@pytest.mark.slow
def test_s3dis_end_to_end_with_x4_split_and_precision_recall(tmp_path):
    metrics, stdout, log = pipeline(tmp_path, "s3dis", ["--format", "s3dis", "--scenes", "3", "--areas", "1,1,5",
                                                        "--size", "small"])
    _common_checks(metrics, log, S3DIS, n_scenes=1)
    assert "x4_split: true" in log
    assert set(metrics["s3dis"]) == {"mprec", "mrec", "mmucov", "mmwcov"}
    assert "mPrec" in stdout and "mRec" in stdout


@pytest.mark.slow
def test_stpls3d_end_to_end_without_superpoint_pooling(tmp_path):
    metrics, stdout, log = pipeline(tmp_path, "stpls3d", ["--format", "stpls3d", "--scenes", "2", "--first-index", "3"])
    _common_checks(metrics, log, STPLS3D, n_scenes=1)
    assert "use_spp_pool: false" in log and "voxel_scale: 3" in log
