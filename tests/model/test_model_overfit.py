"""Overfitting one synthetic room with the official two-stage recipe (spec §6.9-§6.10): backbone
pre-training (semantic-only), then the instance branch on the frozen backbone. Marked slow
(about a minute on 2 idle cores)."""
import math

import numpy as np
import pytest
import torch

import sphmask
from sphmask.checkpoint import load_checkpoint
from sphmask.config import load_config
from sphmask.models import BACKBONE_MODULES
from sphmask.models.testing import make_batch, synthetic_room


def ap50(instances, gt_instance, gt_semantic, label_shift):
    """Mean over classes of the area under the precision/recall curve at IoU > 0.5 (greedy
    matching by descending score, each GT matched once)."""
    aps = []
    classes = sorted({int(gt_semantic[gt_instance == k][0]) - label_shift for k in np.unique(gt_instance[gt_instance >= 0])})
    for c in classes:
        gts = [torch.from_numpy(gt_instance == k) for k in np.unique(gt_instance[gt_instance >= 0])
               if int(gt_semantic[gt_instance == k][0]) - label_shift == c]
        preds = sorted((p for p in instances if p["label_id"] == c + 1), key=lambda p: -p["score"])
        used, hits = set(), []
        for p in preds:
            ious = [float((p["mask"] & g).sum()) / float((p["mask"] | g).sum()) for g in gts]
            j = int(np.argmax(ious))
            hit = ious[j] > 0.5 and j not in used
            used.add(j) if hit else None
            hits.append(hit)
        tp = np.cumsum(hits)
        precision = tp / np.arange(1, len(hits) + 1)
        ap, prev_recall = 0.0, 0.0
        for i, hit in enumerate(hits):
            if hit:
                ap += (tp[i] / len(gts) - prev_recall) * precision[i:].max()
                prev_recall = tp[i] / len(gts)
        aps.append(ap)
    return float(np.mean(aps))


def test_ap50_helper_on_hand_cases():
    gt = np.array([0, 0, 1, 1, -100])
    sem = np.array([2, 2, 3, 3, 0])
    perfect = [{"mask": torch.from_numpy(gt == 0), "label_id": 1, "score": 0.9},
               {"mask": torch.from_numpy(gt == 1), "label_id": 2, "score": 0.8}]
    assert ap50(perfect, gt, sem, 2) == 1.0
    wrong_class = [dict(perfect[0], label_id=2), perfect[1]]
    assert ap50(wrong_class, gt, sem, 2) == 0.5 * (0.0 + 0.5)  # class 2: FP ranked first, then TP


def _config(tiny_config, **model):
    cfg = load_config(tiny_config)
    cfg["model"].update(semantic_classes=4, instance_classes=2, channels=16, num_blocks=4, mask_dim=32, **model)
    cfg["model"]["instance_head"].update(dec_dim=128, n_queries=32)
    return cfg


@pytest.mark.slow
def test_overfit_one_room_reaches_ap50(tiny_config):
    torch.manual_seed(0)
    room = synthetic_room(3000, num_objects=4, semantic_classes=4, instance_classes=2, seed=0, room=(3.0, 2.5, 1.5))
    # 5 cm voxels: the small 4-level backbone then sees whole objects.
    batch = make_batch([room], voxel_scale=20)

    backbone = sphmask.build_model(_config(tiny_config, semantic_only=True)).train()
    opt = torch.optim.AdamW(backbone.parameters(), lr=4e-3, weight_decay=1e-4)
    first = None
    for _ in range(150):
        losses = backbone(batch)
        first = losses["loss"].item() if first is None else first
        opt.zero_grad()
        losses["loss"].backward()
        opt.step()
    assert losses["loss"].item() < 0.5 * first

    cfg = _config(tiny_config, fixed_modules=list(BACKBONE_MODULES))
    cfg["model"]["loss"] = {"pointwise_weight": 0.0}
    model = sphmask.build_model(cfg)
    report = load_checkpoint(model, {"net": backbone.state_dict()}, mode="backbone")
    assert not report.missing
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3, weight_decay=1e-4)
    steps = 200
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    history = []
    for _ in range(steps):
        losses = model(batch)
        history.append(losses["loss"].item())
        opt.zero_grad()
        losses["loss"].backward()
        opt.step()
        sched.step()
    assert np.mean(history[-10:]) < 0.25 * history[0]

    out = model.eval()(make_batch([room], voxel_scale=20, with_labels=False))[0]
    assert ap50(out["instances"], room["instance"], room["semantic"], label_shift=2) >= 0.9
