"""Typed settings of the nested model config sections (``model.instance_head``, ``model.loss``,
``model.inference``). Defaults are the official ScanNetV2 values; docs/model.md explains each.
"""
import dataclasses
from typing import List, Optional

from sphmask.config import ConfigError

#: Semantic-head losses of ``loss.semantic_loss``.
SEMANTIC_LOSSES = ("ce", "focal")
#: Duplicate-removal methods of ``inference.nms_type``.
NMS_TYPES = ("matrix", "standard")


@dataclasses.dataclass
class InstanceHeadSettings:
    """Query branch sizes (official ``instance_head_cfg``).

    Attributes:
        dec_dim: query embedding width ``D`` (128).
        num_dyco_layer: dynamic-convolution layers, 2 (official ScanNet model) or 3.
        n_sample_pa1: seeds per scene from aggregator 1 (2048).
        n_queries: queries per scene from aggregator 2 (256).
        radius_scale: aggregator radii are ``0.2 * radius_scale`` and ``0.4 * radius_scale``.
        neighbor: neighbours per ball query (aggregator 1 second grouping uses twice as many).
    """

    dec_dim: int = 128
    num_dyco_layer: int = 2
    n_sample_pa1: int = 2048
    n_queries: int = 256
    radius_scale: float = 1.0
    neighbor: int = 32


@dataclasses.dataclass
class LossSettings:
    """Training-loss composition (spec §6.2-§6.6); defaults are the official values.

    Attributes:
        pointwise_weight: factor of the point-wise losses next to the instance losses (0.25;
            0 disables them, e.g. with a frozen backbone). Semantic-only training always uses 1.
        eos_coef: class weight of "no object" in the query classification loss.
        dup_gt: how often the GT set is tiled for the auxiliary one-to-many matching.
        aux_weight: factor of the auxiliary (duplicated-GT) losses.
        cost_class, cost_conf, cost_giou: Hungarian matching cost weights.
        dice, bce, cls, iou, box, giou, rpm: weights of the instance losses (``rpm`` is the
            official ``second_l1_loss``: RPM margin losses + L1 on rays and centre).
        semantic_loss: ``"ce"`` (official cross-entropy) or ``"focal"`` (class-balanced focal
            loss of the ScanNet200 baselines, docs/training.md "Long-tail training").
        focal_gamma: focusing exponent of the focal loss (2.0, Lin et al. 2017).
        semantic_weight: per-semantic-class weights of the semantic loss (length
            ``semantic_classes``), e.g. ISBNet's STPLS3D list or the output of
            ``tools/class_weights.py``; ``None`` = unweighted.
    """

    pointwise_weight: float = 0.25
    eos_coef: float = 0.1
    dup_gt: int = 4
    aux_weight: float = 2.0
    cost_class: float = 0.5
    cost_conf: float = 0.2
    cost_giou: float = 0.2
    dice: float = 1.0
    bce: float = 1.0
    cls: float = 0.5
    iou: float = 0.5
    box: float = 0.5
    giou: float = 0.5
    rpm: float = 1.0
    semantic_loss: str = "ce"
    focal_gamma: float = 2.0
    semantic_weight: Optional[List[float]] = None

    def __post_init__(self):
        if self.semantic_loss not in SEMANTIC_LOSSES:
            raise ConfigError(f"loss.semantic_loss must be one of {list(SEMANTIC_LOSSES)}, got {self.semantic_loss!r}")
        if self.focal_gamma < 0:
            raise ConfigError(f"loss.focal_gamma must be >= 0, got {self.focal_gamma}")
        if self.semantic_weight is not None:
            w = [float(v) for v in self.semantic_weight]
            if not w or any(not v >= 0 for v in w) or not any(v > 0 for v in w):
                raise ConfigError(f"loss.semantic_weight must be non-negative numbers, not all zero; got {self.semantic_weight}")
            self.semantic_weight = w


@dataclasses.dataclass
class InferenceSettings:
    """Inference and post-processing (spec §5.2, §7). Official quirks are on by default.

    Attributes:
        clamp_centers: clamp the predicted centre coordinates at 0.01 before Mask Assembly, like
            the official in-place clamp of the whole 28-vector (quirk; False = clamp rays only).
        migration_scale: Mask Assembly tests ``ray >= r - migration_scale * rpm``; the official
            code subtracts ``rpm`` twice (2.0, quirk; 1.0 is the paper's single migration).
        topk_pre_nms: (query, class) pairs kept by score before NMS (official hard-codes 90).
        npoint_thresh: minimum mask size, in voxels before NMS and in points at the end.
        nms_topk: candidates kept by matrix NMS (it only rescores when fewer arrive).
        nms_sigma: Gaussian decay of matrix NMS.
        iterative_sampling: ISBNet-style query sampling in rounds over uncovered seeds (the
            official evaluation turns it off; ours has the seed-coverage bookkeeping fixed).
        max_dyco_elements: bound on the per-chunk dynamic-convolution input (memory only).
        label_offset: added to every predicted ``label_id`` (instance class + 1). 0 for ScanNet
            and STPLS3D; 2 for S3DIS, whose evaluation also numbers the stuff classes ceiling and
            floor (``label_id`` 1, 2; see ``sem2ins_classes``), as the official ``cls + 3``.
        x4_split: S3DIS test path (official ``SphericalMask.forward_4_parts``): every scene is
            split into four interleaved point sets (``i::4``), each voxelised on its own grid and
            run through the backbone alone; the four voxel sets then form one scene, and
            aggregator 1 samples seeds only from the object voxels of the first two parts
            (voxel index ``<=`` their count, the official off-by-one included).
        nms_type: ``"matrix"`` (rescoring, official ScanNetV2) or ``"standard"`` (greedy
            same-class suppression at ``nms_threshold``, ISBNet's S3DIS setting).
        nms_threshold: IoU above which ``"standard"`` NMS removes a lower-scored mask of the
            same class (official ``model_utils.py:standard_nms``).
    """

    clamp_centers: bool = True
    migration_scale: float = 2.0
    topk_pre_nms: int = 90
    npoint_thresh: int = 100
    nms_topk: int = 200
    nms_sigma: float = 2.0
    iterative_sampling: bool = False
    max_dyco_elements: int = 16_000_000
    label_offset: int = 0
    x4_split: bool = False
    nms_type: str = "matrix"
    nms_threshold: float = 0.2

    def __post_init__(self):
        if self.nms_type not in NMS_TYPES:
            raise ConfigError(f"inference.nms_type must be one of {list(NMS_TYPES)}, got {self.nms_type!r}")
