"""S3DIS instance precision / recall and coverage (spec §8.3; official ``S3DISEval``).

Per scene, predictions are painted into one point-wise instance map in ascending score order
(higher scores overwrite lower ones; equal scores in the order of numpy's default argsort, as in
the official code, which is implementation-defined) and a semantic map
(``label_id - 1``). Every distinct value of the painted map is a predicted instance, including 0,
the points no prediction covers: as in the official code, that region is a prediction of class 0
(ceiling), because both maps start at 0. The class of a GT or predicted instance is the most
frequent label of its points (ties: the smaller class).

Per class: a prediction is a TP if its best IoU with a same-class GT instance of the scene is
>= 0.5 (several predictions may hit one GT, hence ``recall = min(1, TP / #GT)``);
``precision = TP / (TP + FP)``. MUCov / MWCov: per scene the (size-weighted) mean over the class's
GT instances of their best IoU with a same-class prediction, then averaged over the scenes that
have such GT. Overall numbers (mPrec, mRec, mMUCov, mMWCov) are NaN-means over classes.
"""
import dataclasses
from typing import Any, Dict, Iterable, Mapping, Sequence

import numpy as np

from sphmask.data.classes import S3DIS
from sphmask.evaluation.io import _as_numpy, rle_decode


@dataclasses.dataclass
class S3DISResults:
    """Per-class float64[C] metrics (NaN where undefined) and their NaN-means."""

    class_names: Sequence[str]
    precision: np.ndarray
    recall: np.ndarray
    mucov: np.ndarray
    mwcov: np.ndarray

    def means(self) -> Dict[str, float]:
        """``{"mprec", "mrec", "mmucov", "mmwcov"}`` (NaN-means over classes)."""
        def m(a):
            return float(np.nanmean(a)) if np.any(~np.isnan(a)) else float("nan")
        return {"mprec": m(self.precision), "mrec": m(self.recall), "mmucov": m(self.mucov), "mmwcov": m(self.mwcov)}

    def format_table(self) -> str:
        """Per class MUCov / MWCov / Prec / Rec, then the means."""
        out = [f"{'what':<15}:{'MUCov':>8}{'MWCov':>8}{'Prec':>8}{'Rec':>8}"]
        for i, n in enumerate(self.class_names):
            values = (self.mucov[i], self.mwcov[i], self.precision[i], self.recall[i])
            out.append(f"{n:<15}:" + "".join(f"{v:>8.3f}" for v in values))
        mean = self.means()
        out.append(f"mMUCov {mean['mmucov']:.3f}  mMWCov {mean['mmwcov']:.3f}  mPrec {mean['mprec']:.3f}  "
                   f"mRec {mean['mrec']:.3f}")
        return "\n".join(out)


def _mode_per_segment(segment: np.ndarray, labels: np.ndarray, num_segments: int, num_classes: int) -> np.ndarray:
    hist = np.bincount(segment * num_classes + labels, minlength=num_segments * num_classes)
    return hist.reshape(num_segments, num_classes).argmax(axis=1)  # argmax: first maximum = smaller class


class S3DISEvaluator:
    """Accumulates scenes for S3DIS precision/recall at IoU 0.5 and MUCov/MWCov.

    Args:
        class_names: the C semantic classes (S3DIS' 13 by default).
        iou_threshold: IoU for a TP (0.5; inclusive).
    """

    def __init__(self, class_names: Sequence[str] = S3DIS.semantic_names, iou_threshold: float = 0.5):
        self.class_names = tuple(class_names)
        self.iou_threshold = float(iou_threshold)
        c = len(self.class_names)
        self._tp = np.zeros(c, np.int64)
        self._fp = np.zeros(c, np.int64)
        self._num_gt = np.zeros(c, np.int64)
        self._cov = [[] for _ in range(c)]
        self._wcov = [[] for _ in range(c)]

    def add_scene(self, instances: Iterable[Mapping[str, Any]], semantic_labels: Any, instance_labels: Any) -> None:
        """Add one scene.

        Args:
            instances: ``[{mask: bool[N] or RLE, label_id: 1-based class, score: float}]``.
            semantic_labels: int[N] in 0..C-1, negative = ignored.
            instance_labels: int[N], negative = no instance.
        """
        c = len(self.class_names)
        sem = _as_numpy(semantic_labels).astype(np.int64).ravel()
        ins = _as_numpy(instance_labels).astype(np.int64).ravel()
        if sem.shape != ins.shape:
            raise ValueError(f"semantic_labels ({sem.size}) and instance_labels ({ins.size}) differ in length")
        if sem.size and sem.max() >= c:
            raise ValueError(f"semantic label {sem.max()} out of range 0..{c - 1}")
        n = sem.size
        instances = list(instances)
        scores = np.array([float(i["score"]) for i in instances], np.float64)
        pred_ins = np.zeros(n, np.int64)
        pred_sem = np.zeros(n, np.int64)
        # numpy's default (unstable) sort, as the official code: ties are painted in its order
        for rank, k in enumerate(np.argsort(scores)):
            inst = instances[k]
            label = int(inst["label_id"])
            if not 1 <= label <= c:
                raise ValueError(f"instance {k}: label_id {label} outside 1..{c}")
            mask = inst["mask"]
            mask = rle_decode(mask) if isinstance(mask, Mapping) else _as_numpy(mask)
            if mask.shape != (n,):
                raise ValueError(f"instance {k}: mask has shape {mask.shape}, the scene has {n} points")
            pred_ins[mask != 0] = rank + 1
            pred_sem[mask != 0] = label - 1

        valid = (ins >= 0) & (sem >= 0)
        gt_ids, gt_seg = np.unique(ins[valid], return_inverse=True)
        gt_class = _mode_per_segment(gt_seg.ravel(), sem[valid], gt_ids.size, c)
        gt_size = np.bincount(gt_seg.ravel(), minlength=gt_ids.size)
        pred_ids, pred_seg = np.unique(pred_ins, return_inverse=True)
        pred_seg = pred_seg.ravel()
        pred_class = _mode_per_segment(pred_seg, pred_sem, pred_ids.size, c)
        pred_size = np.bincount(pred_seg, minlength=pred_ids.size)

        inter = np.bincount(pred_seg[valid] * gt_ids.size + gt_seg.ravel(),
                            minlength=pred_ids.size * gt_ids.size).reshape(pred_ids.size, gt_ids.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = inter / (pred_size[:, None] + gt_size[None, :] - inter).astype(np.float64)
        same = pred_class[:, None] == gt_class[None, :]
        iou_same = np.where(same, iou, -1.0)

        best_for_pred = iou_same.max(axis=1, initial=-1.0)
        hit = best_for_pred >= self.iou_threshold
        self._tp += np.bincount(pred_class[hit], minlength=c)
        self._fp += np.bincount(pred_class[~hit], minlength=c)
        self._num_gt += np.bincount(gt_class, minlength=c)

        best_for_gt = np.maximum(iou_same.max(axis=0, initial=-1.0), 0.0)
        for cls in np.unique(gt_class):
            sel = gt_class == cls
            self._cov[cls].append(best_for_gt[sel].sum() / sel.sum())
            self._wcov[cls].append((best_for_gt[sel] * gt_size[sel]).sum() / gt_size[sel].sum())

    def evaluate(self) -> S3DISResults:
        """Per-class precision, recall, MUCov, MWCov over the scenes added so far."""
        tp, fp, num_gt = (a.astype(np.float64) for a in (self._tp, self._fp, self._num_gt))
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = tp / (tp + fp)
            recall = np.minimum(1.0, tp / num_gt)
        mucov = np.array([np.mean(v) if v else np.nan for v in self._cov])
        mwcov = np.array([np.mean(v) if v else np.nan for v in self._wcov])
        return S3DISResults(self.class_names, precision, recall, mucov, mwcov)
