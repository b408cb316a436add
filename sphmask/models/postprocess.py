"""Inference post-processing (spec §7.3-§7.4): scores, top-k, size filter, matrix NMS,
devoxelisation and superpoint majority alignment.

Assembled masks are constant on voxel superpoints, so sizes and IoUs are computed on superpoints
weighted by their voxel counts: the numbers equal the official voxel-level ones (integer sums)
without building (Q, M) voxel masks.
"""
from typing import Dict, List

import torch

from sphmask.models.settings import InferenceSettings
from sphmask.models.superpoint import majority_refine


def instance_scores(cls_logits: torch.Tensor, conf_logits: torch.Tensor) -> torch.Tensor:
    """``sqrt(softmax(cls)[:, :C] * clamp(conf, 0, 1))``: (Q, C+1), (Q,) -> (Q, C)."""
    prob = torch.softmax(cls_logits, dim=-1)[:, :-1]
    return torch.sqrt(prob * conf_logits.clamp(0.0, 1.0)[:, None])


def matrix_nms(masks: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor, weights: torch.Tensor = None,
               sigma: float = 2.0, topk: int = -1):
    """Matrix NMS with a Gaussian kernel (official ``matrix_nms``); rescoring only.

    Args:
        masks: bool (n, S) candidate masks; ``weights`` (S,) counts what each column stands for
            (voxels per superpoint; ones by default).
        labels: (n,) classes; only same-class pairs decay each other.
        scores: (n,) scores.
        topk: keep the ``topk`` highest new scores (-1: all).
    Returns:
        ``(order, new_scores)``: indices into the inputs and their decayed scores, sorted by
        new score descending (the official code returns its kept set unsorted).
    """
    n = scores.numel()
    if n == 0:
        return torch.zeros(0, dtype=torch.int64, device=scores.device), scores.new_zeros(0)
    order, iou, lab = _sorted_iou(masks, labels, scores, weights)
    same_later = (lab[:, None] == lab[None, :]).to(scores.dtype).triu(diagonal=1)
    decay_iou = iou * same_later
    comp = decay_iou.max(dim=0).values
    decay = (torch.exp(-sigma * decay_iou ** 2) / torch.exp(-sigma * comp[:, None] ** 2)).min(dim=0).values
    new = scores[order] * decay
    k = n if topk < 0 else min(topk, n)
    kept_new, pos = torch.topk(new, k, largest=True, sorted=True)
    return order[pos], kept_new


def _sorted_iou(masks, labels, scores, weights):
    """Candidates in score order (stable): ``(order, pairwise weighted mask IoU, labels)``."""
    order = torch.argsort(scores, descending=True, stable=True)
    m = masks[order].to(scores.dtype)
    w = torch.ones(m.shape[1], dtype=scores.dtype, device=m.device) if weights is None else weights.to(scores.dtype)
    inter = (m * w) @ m.t()
    size = inter.diagonal()
    union = size[:, None] + size[None, :] - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))
    return order, iou, labels[order]


def standard_nms(masks: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor, weights: torch.Tensor = None,
                 threshold: float = 0.2):
    """Greedy same-class NMS (official ``model_utils.py:standard_nms``): in score order, keep a
    candidate and remove every remaining one of its class whose IoU with it exceeds ``threshold``.

    Args as :func:`matrix_nms`. Returns ``(order, scores)`` of the kept candidates, best first
    (scores unchanged).
    """
    n = scores.numel()
    if n == 0:
        return torch.zeros(0, dtype=torch.int64, device=scores.device), scores.new_zeros(0)
    order, iou, lab = _sorted_iou(masks, labels, scores, weights)
    suppress = ((iou > threshold) & (lab[:, None] == lab[None, :])).tolist()
    alive = [True] * n
    keep = []
    for i in range(n):
        if alive[i]:
            keep.append(i)
            row = suppress[i]
            for j in range(i + 1, n):
                if row[j]:
                    alive[j] = False
    kept = order[torch.tensor(keep, dtype=torch.int64, device=order.device)]
    return kept, scores[kept]


def scene_instances(cls_logits: torch.Tensor, conf_logits: torch.Tensor, sp_masks: torch.Tensor,
                    sp_voxel_count: torch.Tensor, point_sp: torch.Tensor, point_vsp: torch.Tensor,
                    num_point_sp: int, cfg: InferenceSettings) -> List[Dict]:
    """Instances of one scene from its queries.

    Args:
        cls_logits: (Q, C+1); conf_logits: (Q,).
        sp_masks: bool (Q, S) assembled masks over the scene's voxel superpoints.
        sp_voxel_count: int64 (S,) voxels per voxel superpoint.
        point_sp: int64 (N,) point superpoint (scene-local); point_vsp: int64 (N,) superpoint of
            each point's voxel (scene-local).
    Returns:
        list of ``{mask: bool tensor (N,), label_id: int (instance class + 1 + cfg.label_offset),
        score: float}``, best first.
    """
    num_classes = cls_logits.shape[1] - 1
    scores = instance_scores(cls_logits, conf_logits).reshape(-1)
    k = min(cfg.topk_pre_nms, scores.numel())
    top_scores, idx = torch.topk(scores, k, largest=True, sorted=True)
    query = torch.div(idx, num_classes, rounding_mode="floor")
    label = idx - query * num_classes
    masks = sp_masks[query]
    n_vox = (masks.to(torch.int64) * sp_voxel_count[None, :]).sum(1)
    keep = n_vox >= cfg.npoint_thresh
    masks, label, top_scores = masks[keep], label[keep], top_scores[keep]
    if cfg.nms_type == "standard":
        order, new_scores = standard_nms(masks, label, top_scores, sp_voxel_count, cfg.nms_threshold)
    else:
        order, new_scores = matrix_nms(masks, label, top_scores, sp_voxel_count, cfg.nms_sigma, cfg.nms_topk)
    if order.numel() == 0:
        return []
    refined = majority_refine(masks[order], point_sp, point_vsp, num_point_sp)
    point_masks = refined[:, point_sp]
    big = point_masks.sum(1) >= cfg.npoint_thresh
    out = []
    for i in torch.nonzero(big).view(-1).tolist():
        out.append({"mask": point_masks[i], "label_id": int(label[order[i]]) + 1 + cfg.label_offset,
                    "score": float(new_scores[i])})
    return out


def semantic_instances(semantic_pred: torch.Tensor, point_sp: torch.Tensor, num_point_sp: int,
                       classes: List[int]) -> List[Dict]:
    """One instance per listed semantic class from the semantic prediction (the official
    ``sem2ins_classes``, used for S3DIS's ceiling and floor; spec §7.3 step 1).

    The class's points are made superpoint-consistent (a superpoint is in the mask when at least
    half of its points are, the official ``superpoint_align``); ``label_id = class + 1``, score 1.
    Classes with no point are skipped (the official code emits an empty mask, which no evaluator
    counts).

    Args:
        semantic_pred: int64 (N,) semantic class per point; point_sp: int64 (N,) scene-local
            superpoint of each point, ``0..num_point_sp-1``.
    """
    out = []
    count = torch.bincount(point_sp, minlength=num_point_sp).clamp_min(1).to(torch.float32)
    for c in classes:
        hit = semantic_pred == c
        frac = torch.zeros(num_point_sp, dtype=torch.float32, device=hit.device).index_add_(
            0, point_sp, hit.to(torch.float32)) / count
        mask = (frac >= 0.5)[point_sp]
        if bool(mask.any()):
            out.append({"mask": mask, "label_id": int(c) + 1, "score": 1.0})
    return out
