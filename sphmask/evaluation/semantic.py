"""Point-wise semantic metrics (spec §8.2): confusion matrix, per-class IoU, mIoU, Acc, mAcc.

As in the official ``PointWiseEval``: points whose GT is the ignore label are left out; ``IoU_c =
TP / (TP + FP + FN)`` is NaN only for a class neither present nor predicted (a class predicted
but absent from the GT has IoU 0 and lowers mIoU); ``mIoU`` is the NaN-mean; ``Acc`` = correct /
valid points. ``mAcc`` (mean per-class recall, NaN-mean over classes present in the GT) is an
addition: the official code has none. All values are fractions in [0, 1].
"""
import dataclasses
from typing import Any, Dict, Optional, Sequence

import numpy as np

from sphmask.evaluation.io import _as_numpy


@dataclasses.dataclass
class SemanticResults:
    """Semantic metrics; ``iou`` and ``acc_per_class`` are float64[C] (NaN where undefined)."""

    class_names: Sequence[str]
    confusion: np.ndarray  # int64[C, C], rows = GT, columns = prediction
    iou: np.ndarray
    acc_per_class: np.ndarray
    miou: float
    acc: float
    macc: float

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready summary; NaN becomes None."""
        def f(v):
            return None if np.isnan(v) else float(v)
        return {"miou": f(self.miou), "acc": f(self.acc), "macc": f(self.macc),
                "classes": {n: {"iou": f(i), "acc": f(a)}
                            for n, i, a in zip(self.class_names, self.iou, self.acc_per_class)}}

    def format_table(self) -> str:
        """Per-class IoU / Acc in percent, then mIoU, Acc, mAcc."""
        out = [f"{'class':<15}:{'IoU':>8}{'Acc':>8}"]
        for n, i, a in zip(self.class_names, self.iou, self.acc_per_class):
            out.append(f"{n:<15}:{100 * i:>8.1f}{100 * a:>8.1f}")
        out.append(f"mIoU {100 * self.miou:.1f}  Acc {100 * self.acc:.1f}  mAcc {100 * self.macc:.1f}")
        return "\n".join(out)


class SemanticEvaluator:
    """Accumulates a confusion matrix over scenes.

    Args:
        class_names: the C semantic classes (train ids 0..C-1).
        ignore_label: GT value of points that are not evaluated.
    """

    def __init__(self, class_names: Sequence[str], ignore_label: int = -100):
        self.class_names = tuple(class_names)
        self.ignore_label = ignore_label
        self.confusion = np.zeros((len(self.class_names),) * 2, np.int64)

    def update(self, pred: Any, gt: Any) -> None:
        """Add one scene: ``pred`` int[N] in 0..C-1, ``gt`` int[N] in 0..C-1 or the ignore label."""
        pred, gt = _as_numpy(pred).astype(np.int64).ravel(), _as_numpy(gt).astype(np.int64).ravel()
        if pred.shape != gt.shape:
            raise ValueError(f"pred has {pred.size} points, gt has {gt.size}")
        valid = gt != self.ignore_label
        pred, gt = pred[valid], gt[valid]
        c = len(self.class_names)
        for name, a in (("gt", gt), ("pred", pred)):
            if a.size and (a.min() < 0 or a.max() >= c):
                raise ValueError(f"{name} labels must be in 0..{c - 1} (or {self.ignore_label} in gt), "
                                 f"got range [{a.min()}, {a.max()}]")
        self.confusion += np.bincount(gt * c + pred, minlength=c * c).reshape(c, c)

    def evaluate(self, confusion: Optional[np.ndarray] = None) -> SemanticResults:
        """Metrics of the accumulated (or the given) confusion matrix."""
        m = self.confusion if confusion is None else np.asarray(confusion, np.int64)
        tp = np.diag(m).astype(np.float64)
        gt_count = m.sum(axis=1).astype(np.float64)
        pred_count = m.sum(axis=0).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = tp / (gt_count + pred_count - tp)
            acc_c = tp / gt_count
            acc = tp.sum() / gt_count.sum()
        miou = float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else float("nan")
        macc = float(np.nanmean(acc_c)) if np.any(~np.isnan(acc_c)) else float("nan")
        return SemanticResults(self.class_names, m.copy(), iou, acc_c, miou, float(acc), macc)
