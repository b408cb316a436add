"""Training losses (spec §6.3-§6.6, official ``Criterion_SphericalMask``).

Every loss is returned as a named 0-dim tensor already multiplied by its weight; ``loss`` is
their sum. Names follow the official logs: ``pw_*`` point-wise, ``dice_loss`` ... ``giou_loss``
and ``second_l1_loss`` (RPM margin losses + ray/centre L1) for the one-to-one matching, and the
same names prefixed ``aux_`` for the duplicated-GT matching. Terms that are identically zero in
the official code (``pw_angular_loss``, ``second_bce_loss``, ``second_dice_loss``) are omitted.
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F

from sphmask import ops
from sphmask.models.box import giou_paired
from sphmask.models.matcher import hungarian, matching_cost
from sphmask.models.settings import LossSettings
from sphmask.models.targets import SceneTargets

INSTANCE_LOSSES = ("dice_loss", "bce_loss", "cls_loss", "iou_loss", "box_loss", "giou_loss", "second_l1_loss")


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float = 2.0, weight: Optional[torch.Tensor] = None,
               ignore_index: int = -100) -> torch.Tensor:
    """Multi-class focal loss (Lin et al., ICCV 2017) with optional class weights ``w``.

    ``sum_i w[y_i] (1 - p_i)^gamma (-log p_i) / sum_i w[y_i]`` over the rows whose label is not
    ``ignore_index``, ``p_i = softmax(logits_i)[y_i]``: with ``gamma = 0`` it is
    ``F.cross_entropy(logits, labels, weight)``, whose weighted mean it generalises.

    Args:
        logits: (M, C); labels: int64 (M,); weight: (C,) or None.
    """
    valid = labels != ignore_index
    y = labels[valid]
    x = logits[valid]
    logp = F.log_softmax(x.to(torch.promote_types(x.dtype, torch.float32)), dim=1).gather(1, y[:, None]).squeeze(1)
    w = torch.ones_like(logp) if weight is None else weight.to(logp)[y]
    term = -w * (1 - logp.exp()).clamp(min=0) ** gamma * logp
    return term.sum() / w.sum()


def semantic_loss(logits: torch.Tensor, labels: torch.Tensor, settings: Optional[LossSettings] = None,
                  ignore_label: int = -100) -> torch.Tensor:
    """The semantic-head loss of ``settings`` (official: unweighted cross-entropy); 0 with gradient
    when every label is ignored."""
    if not bool((labels != ignore_label).any()):
        return logits.sum() * 0.0
    s = settings or LossSettings()
    weight = None if s.semantic_weight is None else torch.tensor(s.semantic_weight, device=logits.device)
    if s.semantic_loss == "focal":
        return focal_loss(logits, labels, s.focal_gamma, weight, ignore_label)
    return F.cross_entropy(logits, labels, weight=None if weight is None else weight.to(logits.dtype),
                           ignore_index=ignore_label)


def pointwise_losses(sem_logits: torch.Tensor, offsets: torch.Tensor, corners: torch.Tensor, box_conf: torch.Tensor,
                     xyz: torch.Tensor, sem_labels: torch.Tensor, inst: torch.Tensor, centroid_offset: torch.Tensor,
                     corners_offset: torch.Tensor, ignore_label: int = -100, voxel_scale: float = 50.0,
                     settings: Optional[LossSettings] = None) -> Dict[str, torch.Tensor]:
    """Unweighted point-wise losses on voxels (spec §6.3).

    Args:
        sem_logits: (M, C_sem); offsets: (M, 3); corners: (M, 6); box_conf: (M,); xyz: (M, 3).
        sem_labels: int64 (M,); inst: int64 (M,) instance id or -1; centroid_offset (M, 3) and
            corners_offset (M, 6) targets.
        settings: the semantic loss (:func:`semantic_loss`); official cross-entropy if None.
    """
    sem = semantic_loss(sem_logits, sem_labels, settings, ignore_label)
    pos = inst >= 0
    n = int(pos.sum())
    if n == 0:
        zero = (offsets.sum() + corners.sum() + box_conf.sum()) * 0.0
        return {"pw_sem_loss": sem, "pw_center_loss": zero, "pw_corners_loss": zero, "pw_giou_loss": zero,
                "pw_conf_loss": zero}
    scale = voxel_scale / 50.0
    center = F.l1_loss(offsets[pos], centroid_offset[pos], reduction="sum") / n * scale
    corner = F.l1_loss(corners[pos], corners_offset[pos], reduction="sum") / n * scale
    x2 = xyz[pos].repeat(1, 2)
    iou, giou = giou_paired(corners[pos] + x2, corners_offset[pos] + x2)
    return {"pw_sem_loss": sem, "pw_center_loss": center, "pw_corners_loss": corner,
            "pw_giou_loss": (1 - giou).sum() / n,
            "pw_conf_loss": F.mse_loss(box_conf[pos], iou.detach(), reduction="sum") / n}


def dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over rows of ``1 - (2 sum(p t) + 1) / (sum p + sum t + 1)``, ``p = sigmoid(logits)``."""
    p = logits.sigmoid()
    return (1 - (2 * (p * target).sum(1) + 1) / (p.sum(1) + target.sum(1) + 1)).sum()


@torch.no_grad()
def mask_iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of ``logits >= 0`` with binary ``target`` per row (eps 1e-6), no gradient."""
    pred = (logits >= 0).float()
    inter = (pred * target).sum(1)
    return inter / (pred.sum(1) + target.sum(1) - inter + 1e-6)


def rpm_margin_loss(rpm: torch.Tensor, target: torch.Tensor, rays: torch.Tensor, sp_xyz: torch.Tensor,
                    n_azimuth: int, n_polar: int) -> torch.Tensor:
    """Soft-margin losses of Radial Point Migration (spec §6.5 steps 1-5).

    Args:
        rpm: (n, S) RPM of the matched queries (with gradient); target: (n, S) binary GT.
        rays: (n, R) predicted rays of the matched queries (used detached).
        sp_xyz: (S, 3) superpoint coordinates.

    The sphere centre is the mean of the union of GT and predicted (``rpm >= 0``) masks (0 if
    empty). With ``r`` and the sector relative to it, the migrated radius is ``m = r - 2 rpm``
    in value with gradient ``-1`` w.r.t. ``rpm`` (official double migration). False positives
    (``rpm >= 0``, t = 0) learn ``tanh(ray - m) -> -1``, true positives ``tanh(-m) -> +1``,
    false negatives ``tanh(ray - m) -> +1``; one mean over all of them, and 0 for a scene
    without true positives.
    """
    with torch.no_grad():
        union = ((target > 0) | (rpm >= 0)).float()
        cnt = union.sum(1, keepdim=True)
        center = torch.where(cnt > 0, union @ sp_xyz / cnt.clamp(min=1), torch.zeros_like(union[:, :3]))
        radius, sector = ops.sphere_coords(sp_xyz.contiguous(), center.contiguous(), n_azimuth=n_azimuth,
                                           n_polar=n_polar)
        rho = torch.gather(rays.detach(), 1, sector)
        pred_in = rpm >= 0
        gt_in = target > 0
        fp, tp, fn = pred_in & ~gt_in, pred_in & gt_in, ~pred_in & gt_in
    if not bool(tp.any()):
        return rpm.sum() * 0.0
    migrated = (radius - rpm.detach()) - rpm
    z = torch.cat([(rho - migrated)[fp], -migrated[tp], (rho - migrated)[fn]])
    y = torch.cat([-torch.ones(int(fp.sum()), device=z.device), torch.ones(int(tp.sum() + fn.sum()), device=z.device)])
    return F.soft_margin_loss(torch.tanh(z), y)


class InstanceOutputs:
    """Per-scene query predictions of a training batch (lists indexed by scene; ``None`` for a
    scene without queries).

    Attributes:
        cls_logits: (Q, C+1); conf: (Q,); boxes: (Q, 6); rays: (Q, R + 3) rays then centre;
        rpm: (Q, S_b); sp_xyz: (S_b, 3).
    """

    def __init__(self, cls_logits, conf, boxes, rays, rpm, sp_xyz):
        self.cls_logits, self.conf, self.boxes, self.rays, self.rpm, self.sp_xyz = (
            cls_logits, conf, boxes, rays, rpm, sp_xyz)


class SphericalMaskCriterion:
    """Instance losses with one-to-one and duplicated-GT Hungarian matching (spec §6.2-§6.6).

    Args:
        num_classes: instance classes ``C`` (the classifier has ``C + 1`` outputs).
        settings: loss weights and matching costs.
        n_azimuth, n_polar: sector grid of the rays.
    """

    def __init__(self, num_classes: int, settings: LossSettings, n_azimuth: int, n_polar: int):
        self.num_classes = num_classes
        self.s = settings
        self.n_azimuth, self.n_polar = n_azimuth, n_polar

    def _scene_losses(self, out: InstanceOutputs, b: int, gt: SceneTargets, rows: torch.Tensor,
                      cols: torch.Tensor) -> Dict[str, torch.Tensor]:
        n = rows.numel()
        x = out.rpm[b][rows]
        t = gt.mask[cols]
        conf = out.conf[b][rows]
        box = out.boxes[b][rows]
        ray = out.rays[b][rows]
        cls_target = torch.full((out.cls_logits[b].shape[0],), self.num_classes, dtype=torch.int64, device=x.device)
        cls_target[rows] = gt.cls[cols]
        weight = torch.ones(self.num_classes + 1, device=x.device)
        weight[-1] = self.s.eos_coef
        _, giou = giou_paired(box, gt.box[cols])
        r = self.n_azimuth * self.n_polar
        l_rpm = rpm_margin_loss(x, t, ray[:, :r], out.sp_xyz[b], self.n_azimuth, self.n_polar)
        return {
            "dice_loss": dice_loss(x, t) / (n + 1e-6),
            "bce_loss": F.binary_cross_entropy_with_logits(x, t, reduction="none").mean(1).sum() / (n + 1e-6),
            "iou_loss": F.mse_loss(conf, mask_iou(x, t), reduction="sum") / n,
            "cls_loss": F.cross_entropy(out.cls_logits[b], cls_target, weight),
            "box_loss": F.l1_loss(box, gt.box[cols], reduction="sum") / n,
            "giou_loss": (1 - giou).sum() / n,
            "second_l1_loss": l_rpm + F.l1_loss(ray, gt.rays[cols]),
        }

    def __call__(self, out: InstanceOutputs, targets: Sequence[Optional[SceneTargets]], batch_size: int,
                 voxel_scale: float = 50.0) -> Dict[str, torch.Tensor]:
        """Weighted instance losses; each is summed over scenes and divided by ``batch_size``
        (scenes without GT or without queries count in the division, as officially)."""
        weights = {"dice_loss": self.s.dice, "bce_loss": self.s.bce, "cls_loss": self.s.cls, "iou_loss": self.s.iou,
                   "box_loss": self.s.box * voxel_scale / 50.0, "giou_loss": self.s.giou,
                   "second_l1_loss": self.s.rpm}
        main: Dict[str, List[torch.Tensor]] = {k: [] for k in INSTANCE_LOSSES}
        aux: Dict[str, List[torch.Tensor]] = {k: [] for k in INSTANCE_LOSSES}
        anchor = None
        for b, gt in enumerate(targets):
            if out.cls_logits[b] is None:
                continue
            anchor = out.cls_logits[b]
            if gt is None:
                continue
            cost = matching_cost(out.cls_logits[b], out.conf[b], out.boxes[b], gt.cls, gt.box,
                                 self.s.cost_class, self.s.cost_conf, self.s.cost_giou)
            for store, dup in ((main, 1), (aux, self.s.dup_gt)):
                rows, cols = hungarian(cost, dup)
                for k, v in self._scene_losses(out, b, gt, rows, cols).items():
                    store[k].append(v)
        losses = {}
        for prefix, store, factor in (("", main, 1.0), ("aux_", aux, self.s.aux_weight)):
            for k in INSTANCE_LOSSES:
                total = torch.stack(store[k]).sum() if store[k] else (anchor.sum() * 0.0 if anchor is not None else None)
                if total is not None:
                    losses[prefix + k] = total / batch_size * weights[k] * factor
        return losses
