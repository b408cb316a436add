"""ScanNet-exact instance segmentation AP (spec §8.1), vectorised.

Reproduces ScanNet's ``BenchmarkScripts/3d_evaluation/evaluate_semantic_instance.py`` (and the
in-memory ``ScanNetEval`` of ISBNet / Spherical Mask derived from it):

* overlaps ``np.arange(0.5, 0.95, 0.05)`` (0.50 ... 0.90, nine values) plus 0.25; ``AP`` is the
  mean over the nine, ``AP50`` and ``AP25`` single overlaps; the distance thresholds are disabled;
* GT instances: the non-zero ids of an evaluation class; instances and predictions with fewer than
  ``min_region_size`` points are not evaluated; a vertex of no evaluation-class instance is void;
* per class and overlap, GTs of a scene in ascending id order take, among the same-class
  predictions that overlap them with IoU > overlap (strict) and are not yet matched, the first
  (in visiting order) as match; each further such prediction is a false positive and the GT keeps
  the higher score (so a GT's candidates give one TP at their maximum score and one FP per other
  candidate); a GT without candidates is a hard false negative;
* a prediction with IoU > overlap with no same-class GT of any size is a false positive unless
  more than ``overlap`` of its points are void or on too-small same-class GTs;
* AP: precision/recall at each distinct score, an artificial end point (precision 1, recall 0),
  step widths ``(r[i-1] - r[i+1]) / 2``; a class with GT but no prediction scores 0, a class
  without GT is NaN; averages are NaN-means over classes.

Two places where the official script is not well defined, and what is done here:

* It raises IndexError when a class has GT and predictions but every prediction was dropped as
  ignored and every GT missed (no scored entry at all); the AP is 0 then, as in ISBNet.
* The order in which a scene's predictions are visited comes from a Python 2 dict keyed by mask
  path. It only matters for overlaps below 0.5 (only then can one prediction exceed the overlap
  with two GTs; at 0.5 and above the result does not depend on any order), i.e. for AP25.
  Predictions are visited in the order given: the prediction file's line order, or list order.
"""
import contextlib
import dataclasses
import math
import warnings
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from sphmask.data.classes import DatasetClasses, get_dataset
from sphmask.evaluation.io import _as_numpy, rle_decode

OVERLAPS = np.append(np.arange(0.5, 0.95, 0.05), 0.25)
"""The official overlap list: 0.50, 0.55, ..., 0.90, then 0.25 (index 9)."""

_AP_RANGE = slice(0, 9)
_I50, _I25 = 0, 9


@dataclasses.dataclass
class _Scene:
    """What the matching needs from one scene; masks are reduced to intersection counts.

    GTs are in ascending id order, predictions in visiting order. ``pair_*`` list every
    (prediction, same-class GT) with a non-empty intersection, sorted by (GT, prediction).
    """

    gt_class: np.ndarray  # int64[G], 0-based evaluation class
    gt_size: np.ndarray  # int64[G]
    pred_class: np.ndarray  # int64[P]
    pred_score: np.ndarray  # float64[P]
    pred_size: np.ndarray  # int64[P]
    pred_void: np.ndarray  # int64[P], points on void vertices
    pair_gt: np.ndarray  # int64[E]
    pair_pred: np.ndarray  # int64[E]
    pair_inter: np.ndarray  # int64[E]


def _gt_from_ids(ids: np.ndarray, table: DatasetClasses) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GT instances of an id array: (vertex -> GT index or G for void, gt_class, gt_size)."""
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    label = table.label_ids_from_file_ids(uniq // 1000)  # floor division, as the official '//'
    valid = (uniq != 0) & (label > 0)
    num_gt = int(valid.sum())
    remap = np.full(uniq.size, num_gt, np.int64)
    remap[valid] = np.arange(num_gt)
    return remap[inverse.ravel()], label[valid] - 1, counts[valid]


def _build_scene(vertex_gt: np.ndarray, gt_class: np.ndarray, gt_size: np.ndarray,
                 masks: Sequence[np.ndarray], pred_class: Sequence[int], pred_score: Sequence[float],
                 min_region_size: int) -> _Scene:
    """Reduce a scene to a :class:`_Scene`; ``masks`` are bool[N] in visiting order."""
    num_gt = gt_class.size
    points = [np.flatnonzero(m) for m in masks]
    sizes = np.array([p.size for p in points], np.int64)
    keep = np.flatnonzero(sizes >= min_region_size)
    p_class = np.asarray(pred_class, np.int64)[keep]
    p_score = np.asarray(pred_score, np.float64)[keep]
    p_size = sizes[keep]
    if keep.size:
        rows = np.repeat(np.arange(keep.size), p_size)
        cols = vertex_gt[np.concatenate([points[k] for k in keep])]
        inter = np.bincount(rows * (num_gt + 1) + cols, minlength=keep.size * (num_gt + 1))
        inter = inter.reshape(keep.size, num_gt + 1)
    else:
        inter = np.zeros((0, num_gt + 1), np.int64)
    same = inter[:, :num_gt] * (p_class[:, None] == gt_class[None, :])
    pair_gt, pair_pred = np.nonzero(same.T)  # GT-major order
    return _Scene(gt_class.astype(np.int64), gt_size.astype(np.int64), p_class, p_score, p_size,
                  inter[:, num_gt].astype(np.int64), pair_gt.astype(np.int64), pair_pred.astype(np.int64),
                  same.T[pair_gt, pair_pred].astype(np.int64))


def average_precision(scores: np.ndarray, is_tp: np.ndarray, hard_false_negatives: int) -> float:
    """Area under the official precision/recall curve of one class at one overlap.

    Args:
        scores: float64[M] scores of the scored entries (matched GTs and false positives).
        is_tp: bool[M], True for a matched GT.
        hard_false_negatives: number of GTs without any match.
    Returns 0.0 when there is no scored entry (the official script raises IndexError there).
    """
    if scores.size == 0:
        return 0.0
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    cum = np.cumsum(is_tp[order].astype(np.float64))
    first = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))  # first entry of each distinct score
    before = np.where(first > 0, cum[first - 1], 0.0)  # true entries strictly below that score
    tp = cum[-1] - before
    fp = s.size - first - tp
    fn = before + hard_false_negatives
    precision = np.append(tp / (tp + fp), 1.0)
    recall = np.append(tp / (tp + fn), 0.0)
    padded = np.concatenate([recall[:1], recall, [0.0]])
    steps = 0.5 * padded[:-2] - 0.5 * padded[2:]
    return float(np.dot(precision, steps))


@dataclasses.dataclass
class InstanceResults:
    """Instance AP of one evaluation.

    Attributes:
        class_names: the K evaluation classes.
        ap: float64[K, 10], AP per class and overlap (:data:`OVERLAPS` order); NaN rows are
            classes without ground truth.
        splits: class-name sets for split averages (ScanNet200 head/common/tail), or None.
        num_scenes: number of evaluated scenes.
    """

    class_names: Tuple[str, ...]
    ap: np.ndarray
    splits: Optional[Mapping[str, frozenset]] = None
    num_scenes: int = 0

    def class_table(self) -> np.ndarray:
        """float64[K, 3]: per class (AP, AP50, AP25); NaN for classes without ground truth."""
        return np.stack([self.ap[:, _AP_RANGE].mean(axis=1), self.ap[:, _I50], self.ap[:, _I25]], axis=1)

    def averages(self) -> Dict[str, float]:
        """``{"ap", "ap50", "ap25"}``: NaN-means over all (class, overlap) entries, as the official."""
        with _quiet_nan_warnings():
            # threshold-major contiguous layout reproduces the official summation order exactly
            return {
                "ap": float(np.nanmean(np.ascontiguousarray(self.ap[:, _AP_RANGE].T))),
                "ap50": float(np.nanmean(self.ap[:, _I50])),
                "ap25": float(np.nanmean(self.ap[:, _I25])),
            }

    def split_averages(self) -> Dict[str, Dict[str, float]]:
        """Per split: NaN-mean over its classes' (AP, AP50, AP25); empty without splits."""
        if not self.splits:
            return {}
        table = self.class_table()
        out = {}
        for split, names in self.splits.items():
            rows = table[[i for i, n in enumerate(self.class_names) if n in names]]
            with _quiet_nan_warnings():
                m = np.nanmean(rows, axis=0) if rows.size else np.full(3, np.nan)
            out[split] = {"ap": float(m[0]), "ap50": float(m[1]), "ap25": float(m[2])}
        return out

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready ``{"average": {...}, "classes": {name: {...}}, ["splits": {...}]}``; NaN -> None."""
        table = self.class_table()
        out: Dict[str, Any] = {
            "average": _none_for_nan(self.averages()),
            "classes": {n: _none_for_nan({"ap": r[0], "ap50": r[1], "ap25": r[2]})
                        for n, r in zip(self.class_names, table)},
        }
        if self.splits:
            out["splits"] = {k: _none_for_nan(v) for k, v in self.split_averages().items()}
        return out

    def format_table(self) -> str:
        """The official script's printed table (per class AP / AP_50% / AP_25%, then the average),
        followed by the split averages for ScanNet200."""
        width = 15
        line = "#" * 64
        out = ["", line, f"{'what':<{width}}:{'AP':>{width}}{'AP_50%':>{width}}{'AP_25%':>{width}}", line]
        for name, row in zip(self.class_names, self.class_table()):
            out.append(f"{name:<{width}}:" + "".join(f"{v:>{width}.3f}" for v in row))
        avg = self.averages()
        out += ["-" * 64, f"{'average':<{width}}:" + "".join(f"{avg[k]:>{width}.3f}" for k in ("ap", "ap50", "ap25"))]
        for split, v in self.split_averages().items():
            out.append(f"{split + ' AP':<{width}}:" + "".join(f"{v[k]:>{width}.3f}" for k in ("ap", "ap50", "ap25")))
        out.append("")
        return "\n".join(out)


@contextlib.contextmanager
def _quiet_nan_warnings():
    """Silence numpy's 'Mean of empty slice' warning: an all-NaN mean is meant to give NaN here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _none_for_nan(d: Mapping[str, float]) -> Dict[str, Optional[float]]:
    return {k: (None if math.isnan(v) else float(v)) for k, v in d.items()}


class InstanceEvaluator:
    """Accumulates scenes (ground truth and predictions) and computes ScanNet instance AP.

    Args:
        dataset: a registry name (``"scannetv2"``, ``"scannet200"``, ``"s3dis"``, ``"stpls3d"``)
            or a :class:`DatasetClasses`.
        min_region_size: overrides the dataset's minimum instance size (100; 10 for STPLS3D).

    Per scene, give the ground truth either as benchmark ids (``gt_ids``: int[N], ``file_id *
    1000 + instance``, 0 unannotated) or as the network's labels (``semantic_labels``,
    ``instance_labels``: int[N], negative = ignored / no instance), and the predictions as the
    model's instance list ``[{mask, label_id, score}]`` (mask bool[N] array/tensor or RLE dict,
    ``label_id`` the 1-based evaluation class, ``score`` float), in the order they should be
    visited. Masks are reduced to intersection counts on arrival, so memory does not grow with N.
    """

    def __init__(self, dataset: Union[str, DatasetClasses] = "scannetv2", min_region_size: Optional[int] = None):
        self.table = get_dataset(dataset)
        self.min_region_size = self.table.min_region_size if min_region_size is None else int(min_region_size)
        if self.min_region_size < 1:
            raise ValueError(f"min_region_size must be >= 1, got {self.min_region_size}")
        self._scenes: Dict[str, _Scene] = {}

    def __len__(self) -> int:
        return len(self._scenes)

    @property
    def scan_ids(self) -> List[str]:
        """Scenes added so far, in order."""
        return list(self._scenes)

    def add_scene(self, scan_id: str, instances: Iterable[Mapping[str, Any]] = (), *,
                  gt_ids: Any = None, semantic_labels: Any = None, instance_labels: Any = None) -> None:
        """Add one scene's ground truth and predictions (see the class docstring)."""
        vertex_gt, gt_class, gt_size = self._ground_truth(scan_id, gt_ids, semantic_labels, instance_labels)
        masks, classes, scores = [], [], []
        for i, inst in enumerate(instances):
            where = f"scene {scan_id!r}, instance {i}"
            missing = {"mask", "label_id", "score"} - set(inst)
            if missing:
                raise ValueError(f"{where}: missing key(s) {sorted(missing)}; expected mask, label_id, score")
            label_id = int(inst["label_id"])
            score = float(inst["score"])
            if not np.isfinite(score):
                raise ValueError(f"{where}: score must be finite, got {score}")
            if not 1 <= label_id <= self.table.num_eval:
                continue  # not an evaluation class: ignored, as by the official script
            mask = inst["mask"]
            mask = rle_decode(mask) if isinstance(mask, Mapping) else _as_numpy(mask)
            if mask.shape != vertex_gt.shape:
                raise ValueError(f"{where}: mask has shape {mask.shape}, the ground truth has {vertex_gt.size} points")
            masks.append(mask if mask.dtype == bool else mask != 0)
            classes.append(label_id - 1)
            scores.append(score)
        self._add(scan_id, vertex_gt, gt_class, gt_size, masks, classes, scores)

    def _add(self, scan_id, vertex_gt, gt_class, gt_size, masks, classes, scores) -> None:
        if scan_id in self._scenes:
            raise ValueError(f"scene {scan_id!r} was added twice")
        self._scenes[scan_id] = _build_scene(vertex_gt, gt_class, gt_size, masks, classes, scores,
                                             self.min_region_size)

    def _ground_truth(self, scan_id, gt_ids, semantic_labels, instance_labels):
        if gt_ids is not None:
            if semantic_labels is not None or instance_labels is not None:
                raise ValueError(f"scene {scan_id!r}: give gt_ids or semantic/instance labels, not both")
            ids = _as_numpy(gt_ids)
            if ids.ndim != 1 or ids.dtype.kind not in "iu":
                raise ValueError(f"scene {scan_id!r}: gt_ids must be a 1-D integer array, got {ids.dtype} {ids.shape}")
            return _gt_from_ids(ids.astype(np.int64), self.table)
        if semantic_labels is None or instance_labels is None:
            raise ValueError(f"scene {scan_id!r}: ground truth missing "
                             "(gt_ids, or semantic_labels and instance_labels)")
        sem = _as_numpy(semantic_labels).astype(np.int64)
        ins = _as_numpy(instance_labels).astype(np.int64)
        if sem.ndim != 1 or sem.shape != ins.shape:
            raise ValueError(f"scene {scan_id!r}: semantic_labels and instance_labels must be 1-D of one length, "
                             f"got {sem.shape} and {ins.shape}")
        if ins.size and ins.max() >= 999:
            raise ValueError(f"scene {scan_id!r}: instance label {ins.max()} does not fit the official "
                             "label*1000+instance encoding (max 998)")
        # The official in-memory encoding: (sem - offset + 1) * 1000 + ins + 1, 0 where no instance;
        # instances of non-evaluation classes get a class digit <= 0 and so are void.
        label = np.clip(sem - self.table.eval_offset + 1, 0, None)
        label[label > self.table.num_eval] = 0
        ids = np.where((ins >= 0) & (label > 0), label * 1000 + ins + 1, 0)
        vertex_gt, gt_class, gt_size = _gt_from_label_ids(ids)
        return vertex_gt, gt_class, gt_size

    def evaluate(self) -> InstanceResults:
        """AP per class and overlap over all scenes added so far."""
        return InstanceResults(self.table.eval_names, evaluate_scenes(list(self._scenes.values()),
                                                                      self.table.num_eval, self.min_region_size),
                               self.table.splits, len(self._scenes))


def _gt_from_label_ids(ids: np.ndarray):
    """GT instances of ``label_id * 1000 + instance`` ids (label_id 1..K, 0 = void)."""
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    valid = uniq != 0
    num_gt = int(valid.sum())
    remap = np.full(uniq.size, num_gt, np.int64)
    remap[valid] = np.arange(num_gt)
    return remap[inverse.ravel()], uniq[valid] // 1000 - 1, counts[valid]


def evaluate_scenes(scenes: Sequence[_Scene], num_classes: int, min_region_size: int) -> np.ndarray:
    """AP float64[num_classes, len(OVERLAPS)] over reduced scenes (NaN for classes without GT)."""
    cat = _concatenate(scenes)
    (gt_class, gt_size, gt_group, p_class, p_score, p_size, p_void, e_gt, e_pred, e_inter) = cat
    big_gt = gt_size >= min_region_size
    has_gt = np.bincount(gt_class[big_gt], minlength=num_classes) > 0
    has_pred = np.bincount(p_class, minlength=num_classes) > 0
    # IoU exactly as the official: float(intersection) / (|gt| + |pred| - intersection)
    iou = e_inter / (gt_size[e_gt] + p_size[e_pred] - e_inter).astype(np.float64)
    e_big = big_gt[e_gt]
    small_inter = np.bincount(e_pred[~e_big], weights=e_inter[~e_big], minlength=p_class.size)
    ignored_fraction = (p_void + small_inter) / p_size.astype(np.float64)

    ap = np.full((num_classes, OVERLAPS.size), np.nan)
    ap[has_gt] = 0.0
    for oi, overlap in enumerate(OVERLAPS):
        over = iou > overlap
        cand = over & e_big
        found_gt = np.zeros(p_class.size, bool)
        found_gt[e_pred[over]] = True
        unmatched_fp = ~found_gt & (ignored_fraction <= overlap)

        tp_gt, tp_score, dup_pred = _match(cand, e_gt, e_pred, p_score, gt_group)
        missed = np.zeros(gt_size.size, bool)
        missed[big_gt] = True
        missed[tp_gt] = False
        hard_fn = np.bincount(gt_class[missed], minlength=num_classes)

        fp_pred = np.concatenate([dup_pred, np.flatnonzero(unmatched_fp)])
        entry_class = np.concatenate([gt_class[tp_gt], p_class[fp_pred]])
        entry_score = np.concatenate([tp_score, p_score[fp_pred]])
        entry_tp = np.concatenate([np.ones(tp_gt.size, bool), np.zeros(fp_pred.size, bool)])
        order = np.argsort(entry_class, kind="stable")
        bounds = np.searchsorted(entry_class[order], np.arange(num_classes + 1))
        for c in np.flatnonzero(has_gt & has_pred):
            sel = order[bounds[c]:bounds[c + 1]]
            ap[c, oi] = average_precision(entry_score[sel], entry_tp[sel], int(hard_fn[c]))
    return ap


def _concatenate(scenes: Sequence[_Scene]):
    """All scenes as one set of arrays with global GT / prediction indices.

    ``gt_group`` numbers the (scene, class) groups inside which greedy matching interacts.
    """
    gt_off = np.cumsum([0] + [s.gt_size.size for s in scenes])
    pred_off = np.cumsum([0] + [s.pred_size.size for s in scenes])

    def cat(name, dtype, offsets=None):
        parts = [getattr(s, name) + (0 if offsets is None else offsets[i]) for i, s in enumerate(scenes)]
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    gt_class = cat("gt_class", np.int64)
    scene_of_gt = np.repeat(np.arange(len(scenes)), np.diff(gt_off)) if scenes else np.zeros(0, np.int64)
    num_classes_bound = int(gt_class.max()) + 1 if gt_class.size else 1
    gt_group = scene_of_gt * num_classes_bound + gt_class
    return (gt_class, cat("gt_size", np.int64), gt_group, cat("pred_class", np.int64),
            cat("pred_score", np.float64), cat("pred_size", np.int64), cat("pred_void", np.int64),
            cat("pair_gt", np.int64, gt_off), cat("pair_pred", np.int64, pred_off), cat("pair_inter", np.int64))


def _match(cand: np.ndarray, e_gt: np.ndarray, e_pred: np.ndarray, p_score: np.ndarray,
           gt_group: np.ndarray):
    """Greedy matching at one overlap over candidate pairs (IoU > overlap, GT big enough).

    Returns (matched GT indices, their TP scores, predictions that are duplicate FPs).
    Pairs are in (GT, prediction) order. Where no prediction is a candidate of two GTs the result
    is order-free: each GT with candidates is matched, with its candidates' maximum score, and
    every other candidate is a duplicate. Groups (scene, class) where some prediction is a
    candidate of several GTs are replayed sequentially, since a prediction matched by an earlier
    GT is no longer available to later ones.
    """
    c_gt, c_pred = e_gt[cand], e_pred[cand]
    per_pred = np.bincount(c_pred, minlength=p_score.size)
    entangled_groups = np.unique(gt_group[c_gt[per_pred[c_pred] > 1]])
    seq = np.isin(gt_group[c_gt], entangled_groups)

    # order-free part: within each GT, highest score first; the first is the TP
    v_gt, v_pred = c_gt[~seq], c_pred[~seq]
    order = np.lexsort((-p_score[v_pred], v_gt))
    v_gt, v_pred = v_gt[order], v_pred[order]
    head = np.concatenate([[True], v_gt[1:] != v_gt[:-1]]) if v_gt.size else np.zeros(0, bool)
    tp_gt = [v_gt[head]]
    tp_score = [p_score[v_pred[head]]]
    dup = [v_pred[~head]]

    if seq.any():
        s_gt, s_pred = c_gt[seq], c_pred[seq]
        used = set()
        g_list, s_list, d_list = [], [], []
        bounds = np.flatnonzero(np.concatenate([[True], s_gt[1:] != s_gt[:-1], [True]]))
        for a, b in zip(bounds[:-1], bounds[1:]):
            avail = [int(p) for p in s_pred[a:b] if int(p) not in used]
            if not avail:
                continue
            used.add(avail[0])
            scores = p_score[avail]
            top = int(np.argmax(scores))
            g_list.append(int(s_gt[a]))
            s_list.append(float(scores[top]))
            d_list.extend(p for k, p in enumerate(avail) if k != top)
        tp_gt.append(np.asarray(g_list, np.int64))
        tp_score.append(np.asarray(s_list, np.float64))
        dup.append(np.asarray(d_list, np.int64))
    return np.concatenate(tp_gt), np.concatenate(tp_score), np.concatenate(dup)
