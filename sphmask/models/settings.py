"""Typed settings of the nested model config sections (``model.instance_head``, ``model.loss``,
``model.inference``). Defaults are the official ScanNetV2 values; docs/model.md explains each.
"""
import dataclasses
from typing import List, Literal, Optional

from sphmask.config_schema import ConfigError, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt


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

    dec_dim: PositiveInt = 128
    num_dyco_layer: Literal[2, 3] = 2
    n_sample_pa1: PositiveInt = 2048
    n_queries: PositiveInt = 256
    radius_scale: PositiveFloat = 1.0
    neighbor: PositiveInt = 32


@dataclasses.dataclass
class LossSettings:
    """Training-loss composition (docs/model.md); defaults are the official values.

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

    pointwise_weight: NonNegativeFloat = 0.25
    eos_coef: NonNegativeFloat = 0.1
    dup_gt: PositiveInt = 4
    aux_weight: NonNegativeFloat = 2.0
    cost_class: NonNegativeFloat = 0.5
    cost_conf: NonNegativeFloat = 0.2
    cost_giou: NonNegativeFloat = 0.2
    dice: NonNegativeFloat = 1.0
    bce: NonNegativeFloat = 1.0
    cls: NonNegativeFloat = 0.5
    iou: NonNegativeFloat = 0.5
    box: NonNegativeFloat = 0.5
    giou: NonNegativeFloat = 0.5
    rpm: NonNegativeFloat = 1.0
    semantic_loss: Literal["ce", "focal"] = "ce"
    focal_gamma: NonNegativeFloat = 2.0
    semantic_weight: Optional[List[NonNegativeFloat]] = None

    def __post_init__(self):
        if self.semantic_weight is not None:
            w = [float(v) for v in self.semantic_weight]
            if not any(v > 0 for v in w):
                raise ConfigError(f"loss.semantic_weight must hold at least one positive weight; got {self.semantic_weight}")
            self.semantic_weight = w


@dataclasses.dataclass
class InferenceSettings:
    """Inference and post-processing (docs/model.md). Official quirks are on by default.

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
    migration_scale: NonNegativeFloat = 2.0
    topk_pre_nms: PositiveInt = 90
    npoint_thresh: NonNegativeInt = 100
    nms_topk: PositiveInt = 200
    nms_sigma: PositiveFloat = 2.0
    iterative_sampling: bool = False
    max_dyco_elements: PositiveInt = 16_000_000
    label_offset: NonNegativeInt = 0
    x4_split: bool = False
    nms_type: Literal["matrix", "standard"] = "matrix"
    nms_threshold: NonNegativeFloat = 0.2
