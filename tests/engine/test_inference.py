"""run_inference: the loop tools/test.py and training validation share."""
import numpy as np
import pytest
import torch

from sphmask.engine.inference import run_inference
from sphmask.evaluation import InstanceEvaluator, S3DISEvaluator


class FixedPredictions(torch.nn.Module):
    """Eval-mode stand-in: returns given per-scene predictions, like the model's output format."""

    def __init__(self, per_scene):
        super().__init__()
        self.per_scene = per_scene

    def forward(self, batch):
        return [self.per_scene[s] for s in batch["scan_ids"]]


def scene_batch(scan_id, sem, ins):
    n = len(sem)
    return {"scan_ids": [scan_id], "point_offsets": torch.tensor([0, n]), "coords_float": torch.zeros(n, 3),
            "semantic_labels": torch.tensor(sem), "instance_labels": torch.tensor(ins)}


def make_case(num_classes, label_id):
    sem = [2] * 150 + [3] * 150 + [0] * 100
    ins = [7] * 150 + [8] * 150 + [-100] * 100  # global ids from a batch: not starting at 0
    first = np.zeros(400, bool)
    first[:140] = True
    preds = {"a": {"scan_id": "a", "semantic_pred": torch.tensor(sem),
                   "instances": [{"mask": torch.from_numpy(first), "label_id": label_id, "score": 0.9}]}}
    return [scene_batch("a", sem, ins)], preds, sem, ins


def test_instance_metrics_equal_the_evaluator_fed_directly():
    loader, preds, sem, ins = make_case(20, 1)
    out = run_inference(FixedPredictions(preds), loader, torch.device("cpu"), "scannetv2",
                        semantic_class_names=[f"c{i}" for i in range(20)], progress=False)
    ref = InstanceEvaluator("scannetv2")
    ref.add_scene("a", preds["a"]["instances"], semantic_labels=np.array(sem),
                  instance_labels=np.array(ins) - 7)
    assert out["instance"].averages() == ref.evaluate().averages()
    assert out["instance"].averages()["ap50"] == pytest.approx(0.5)  # one of two GT instances found
    assert out["semantic"] is not None and out["s3dis"] is None and out["scenes"] == 1


def test_s3dis_runs_add_precision_and_recall():
    loader, preds, sem, ins = make_case(13, 3)
    out = run_inference(FixedPredictions(preds), loader, torch.device("cpu"), "s3dis", progress=False)
    ref = S3DISEvaluator()
    ref.add_scene(preds["a"]["instances"], np.array(sem), np.array(ins))
    assert out["s3dis"].means() == ref.evaluate().means()


def test_scenes_without_labels_are_counted_not_evaluated():
    loader, preds, _, _ = make_case(20, 1)
    for key in ("semantic_labels", "instance_labels"):
        del loader[0][key]
    out = run_inference(FixedPredictions(preds), loader, torch.device("cpu"), "scannetv2", progress=False)
    assert out["instance"] is None and out["unlabelled_scenes"] == 1
