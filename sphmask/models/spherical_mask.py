"""The Spherical Mask network (Shin et al., CVPR 2024), checkpoint-compatible with the official
ScanNetV2 model (spec §2-§7).

Input is a batch in the sphmask batch contract (docs/model.md); in training mode ``forward``
returns a dict of named, weighted losses (``loss`` is their sum), in eval mode one result per
scene ``{scan_id, semantic_pred (N_b,), instances: [{mask bool (N_b,), label_id, score}]}``.
The same instance runs on CPU and CUDA: devices follow the inputs.
"""
import contextlib
import math
from typing import Any, Dict, List, Literal, Mapping, Sequence, Union

import torch
from torch import nn

from sphmask.config import instantiate
from sphmask.config_schema import Fraction, NonNegativeInt, PositiveFloat, PositiveInt
from sphmask.models import backbone as bb
from sphmask.models.aggregator import LocalAggregator
from sphmask.models.assembly import assemble
from sphmask.models.criterion import SphericalMaskCriterion
from sphmask.models.dynamic_conv import (make_controller, make_mask_tower, num_dynamic_params,
                                         radial_point_migration)
from sphmask.models.heads import GenericMLP, PointwiseMLP, RadialInstanceDetection
from sphmask.models.postprocess import scene_instances, semantic_instances
from sphmask.models.scene_parts import merge_four, split_in_four, voxels_as_superpoints
from sphmask.models import sparse_backend as sparse
from sphmask.models.settings import InferenceSettings, InstanceHeadSettings, LossSettings
from sphmask.models.superpoint import offsets_from_scene, segment_count, segment_mean
from sphmask.models.training import TrainingLosses
from sphmask.models.voxel_batch import VoxelBatch, prepare_batch

#: Backbone and point-wise heads: what a backbone-only (semantic) checkpoint holds.
BACKBONE_MODULES = ("input_conv", "unet", "output_layer", "semantic_linear", "offset_linear",
                    "offset_vertices_linear", "box_conf_linear")


class SphericalMask(TrainingLosses, nn.Module):
    """Spherical Mask with the official module names (662 state-dict entries at default sizes).

    Args:
        channels: backbone width ``C`` (32); U-Net levels have widths ``C, 2C, ..., num_blocks*C``.
        num_blocks: U-Net levels (7).
        in_channels: per-point input channels in ``batch["feats"]`` (3 = rgb; 0 = coordinates
            only; more for extra channels such as normals).
        with_coords: append the metric xyz to the features (official: True), so the input
            convolution sees ``in_channels + 3`` channels.
        semantic_classes, instance_classes: 20 / 18 for ScanNetV2; instance class ``c`` is
            semantic class ``c + semantic_classes - instance_classes``.
        ignore_label: semantic/instance label meaning "none" (-100).
        semantic_only: only the backbone and the point-wise heads (backbone pre-training / the
            semantic segmentation setting); the instance branch is not built.
        voxel_scale: voxels per metre (50); scales the L1 box/offset losses by ``voxel_scale/50``.
        filter_bg_thresh: a superpoint is foreground if any instance-class probability reaches it.
        rays_width, rays_height: azimuth / polar sector counts (5 x 5 = 25 rays).
        mask_dim: width of the mask features and of the first dynamic layer (32).
        fixed_modules: top-level modules to freeze (no gradient, BatchNorm kept in eval mode).
        sem2ins_classes: semantic classes that inference also returns as one instance each, from
            the semantic prediction (S3DIS: ``[0, 1]``, ceiling and floor; with
            ``inference.label_offset: 2``). Empty by default.
        use_spp_pool: pool over the batch's superpoints (official default). ``False`` (official
            STPLS3D setting) makes every voxel its own superpoint: foreground filter, masks and
            the final refinement work on voxels, and in training the mask domain is a random
            subset of at most ``mask_voxel_sample`` object voxels per scene.
        mask_voxel_sample: that subset's size (official ``random_downsample`` with 15000).
        instance_head, loss, inference: nested settings (dicts or settings objects).
        sparse_backend: sparse-convolution library, ``auto`` (spconv where it works, else
            spconv-triton on a GPU), ``spconv`` or ``spconv_triton``; checkpoints are the same
            for all (sphmask/models/sparse_backend.py, docs/install.md).
    """

    def __init__(self, channels: PositiveInt = 32, num_blocks: PositiveInt = 7, in_channels: NonNegativeInt = 3,
                 with_coords: bool = True, semantic_classes: PositiveInt = 20, instance_classes: NonNegativeInt = 18,
                 ignore_label: int = -100, semantic_only: bool = False, voxel_scale: PositiveFloat = 50.0,
                 filter_bg_thresh: Fraction = 0.1, rays_width: PositiveInt = 5, rays_height: PositiveInt = 5,
                 mask_dim: PositiveInt = 32, fixed_modules: Sequence[str] = (),
                 instance_head: Union[None, Mapping[str, Any], InstanceHeadSettings] = None,
                 loss: Union[None, Mapping[str, Any], LossSettings] = None,
                 inference: Union[None, Mapping[str, Any], InferenceSettings] = None,
                 sem2ins_classes: Sequence[NonNegativeInt] = (), use_spp_pool: bool = True,
                 mask_voxel_sample: PositiveInt = 15000, sparse_backend: Literal["auto", "spconv", "spconv_triton"] = "auto"):
        super().__init__()
        #: The resolved library name ("spconv" / "spconv_triton"); a string, so the model pickles.
        self.sparse_backend = sparse.resolve(sparse_backend)
        sp = sparse.get(self.sparse_backend)
        self.use_spp_pool = bool(use_spp_pool)
        if mask_voxel_sample < 1:
            raise ValueError(f"mask_voxel_sample must be >= 1, got {mask_voxel_sample}")
        self.mask_voxel_sample = int(mask_voxel_sample)
        self.sem2ins_classes = [int(c) for c in sem2ins_classes]
        bad = [c for c in self.sem2ins_classes if not 0 <= c < semantic_classes]
        if bad:
            raise ValueError(f"sem2ins_classes must be semantic classes 0..{semantic_classes - 1}, got {bad}")
        self.in_channels = in_channels
        self.with_coords = with_coords
        self.semantic_classes, self.instance_classes = semantic_classes, instance_classes
        self.label_shift = semantic_classes - instance_classes
        self.ignore_label = ignore_label
        self.semantic_only = semantic_only
        self.voxel_scale = float(voxel_scale)
        self.filter_bg_thresh = filter_bg_thresh
        self.rays_width, self.rays_height = rays_width, rays_height
        self.mask_dim = mask_dim
        self.head_cfg = _settings(InstanceHeadSettings, instance_head, "instance_head")
        self.loss_cfg = _settings(LossSettings, loss, "loss")
        self.infer_cfg = _settings(InferenceSettings, inference, "inference")
        weight = self.loss_cfg.semantic_weight
        if weight is not None and len(weight) != semantic_classes:
            raise ValueError(f"loss.semantic_weight has {len(weight)} entries, semantic_classes is {semantic_classes}")
        if self.label_shift < 0:
            raise ValueError(f"instance_classes ({instance_classes}) cannot exceed semantic_classes ({semantic_classes})")
        if in_channels + 3 * with_coords <= 0:
            raise ValueError("the network needs at least one input channel: set in_channels > 0 or with_coords")
        #: Optional :class:`~sphmask.models.timing.StageTimer` filled during forward (benchmarks).
        self.stage_timer = None

        self.input_conv = bb.make_input_conv(in_channels + 3 * with_coords, channels, sp)
        self.unet = bb.UBlock(bb.unet_planes(channels, num_blocks), sp)
        self.output_layer = bb.make_output_layer(channels, sp)
        self.semantic_linear = PointwiseMLP(channels, semantic_classes)
        self.offset_linear = PointwiseMLP(channels, 3)
        self.offset_vertices_linear = PointwiseMLP(channels, 6)
        self.box_conf_linear = PointwiseMLP(channels, 1)
        if not semantic_only:
            self._build_instance_branch(channels)
        self.criterion = None if semantic_only else SphericalMaskCriterion(
            instance_classes, self.loss_cfg, rays_width, rays_height)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm1d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.fixed_modules = tuple(fixed_modules)
        for name in self.fixed_modules:
            if not isinstance(getattr(self, name, None), nn.Module) or name == "criterion":
                valid = [n for n, _ in self.named_children()]
                raise ValueError(f"fixed_modules: unknown module {name!r}; valid: {valid}")
            for p in getattr(self, name).parameters():
                p.requires_grad_(False)
        self.freeze_backbone = "input_conv" in self.fixed_modules and "unet" in self.fixed_modules

    def _build_instance_branch(self, channels: int) -> None:
        h = self.head_cfg
        d = h.dec_dim
        self.point_aggregator1 = LocalAggregator(channels, h.n_sample_pa1, 0.2 * h.radius_scale, h.neighbor,
                                                 2 * h.neighbor)
        self.point_aggregator2 = LocalAggregator(2 * channels, h.n_queries, 0.4 * h.radius_scale, h.neighbor,
                                                 h.neighbor)
        self.inst_shared_mlp = GenericMLP(4 * channels, [4 * channels], d, output_norm_act=True)
        self.inst_sem_head = GenericMLP(d, [d, d], self.instance_classes + 1)
        self.inst_conf_head = GenericMLP(d, [d, d], 1)
        self.inst_box_head = GenericMLP(d, [d, d], 6)
        self.rid_module = RadialInstanceDetection(d, self.rays_width * self.rays_height)
        self.inst_center_head = GenericMLP(d, [d, d], 3)
        # Parameters of these four exist only so that official checkpoints load strictly: the
        # official model never uses their outputs in a loss or a prediction (spec §3.8).
        dead_dim = 32 if h.num_dyco_layer == 2 else 16
        self.inst_inside_mask = GenericMLP(channels, [32, 32, 32], dead_dim, use_conv=False)
        self.norm = nn.BatchNorm1d(16)
        self.inside_mask_head = GenericMLP(dead_dim, [dead_dim, dead_dim], dead_dim, use_conv=False)
        self.mask_tower = make_mask_tower(channels, self.mask_dim)
        self.inst_mask_head = make_controller(d, num_dynamic_params(self.mask_dim, h.num_dyco_layer))
        self.inst_mask_head_angular = make_controller(d, dead_dim)

    def train(self, mode: bool = True):
        """Train/eval mode; BatchNorm layers of ``fixed_modules`` stay in eval mode."""
        super().train(mode)
        for name in self.fixed_modules:
            for m in getattr(self, name).modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def _stage(self, name: str):
        return self.stage_timer.stage(name) if self.stage_timer is not None else contextlib.nullcontext()

    # -- shared trunk -------------------------------------------------------------------------
    def forward_backbone(self, vb: VoxelBatch) -> Dict[str, torch.Tensor]:
        """Backbone and point-wise heads on the voxels of the batch.

        Returns ``feats`` (M, C), ``semantic`` (M, C_sem), ``offset`` (M, 3), ``corners``
        (M, 6) corner offsets, ``box_conf`` (M,) and ``boxes`` (M, 6) predicted voxel boxes.
        """
        grad = torch.no_grad() if self.freeze_backbone else contextlib.nullcontext()
        with grad, self._stage("backbone"):
            sp = sparse.get(self.sparse_backend)
            for name in ("input_conv", "unet"):
                sp.use_conv_algo_for(getattr(self, name), vb.xyz.device)
            x = sp.sparse_tensor(vb.input_feats, vb.voxel_coords, vb.spatial_shape, vb.batch_size)
            feats = self.output_layer(self.unet(self.input_conv(x))).features
        with grad, self._stage("heads"):
            out = {"feats": feats, "semantic": self.semantic_linear(feats), "offset": self.offset_linear(feats),
                   "corners": self.offset_vertices_linear(feats), "box_conf": self.box_conf_linear(feats).squeeze(-1)}
        out["boxes"] = out["corners"] + vb.xyz.repeat(1, 2)
        return out

    def _foreground(self, vb: VoxelBatch, semantic: torch.Tensor) -> torch.Tensor:
        """Object voxels (spec §3.1): voxels whose superpoint has an instance-class mean
        probability >= ``filter_bg_thresh``. Returns their indices, increasing (int64)."""
        prob = segment_mean(torch.softmax(semantic.float(), dim=1), vb.vsp, vb.num_sp)
        fg = (prob[:, self.label_shift:] >= self.filter_bg_thresh).any(dim=1)
        return torch.nonzero(fg[vb.vsp]).view(-1)

    def _seeds(self, vb: VoxelBatch, trunk: Dict[str, torch.Tensor], obj: torch.Tensor):
        """Aggregator 1 on the object voxels of the scenes that have some.

        Returns ``(scenes, counts, seeds)``: active scene indices (list), their object-voxel
        counts (list) and the aggregator-1 outputs (locs (B', S, 3), feats (B', 2C, S), boxes
        (B', S, 6), seed index into ``obj`` (B', S)).
        """
        offsets = offsets_from_scene(vb.voxel_scene[obj], vb.batch_size)
        counts = offsets[1:] - offsets[:-1]
        scenes = torch.nonzero(counts > 0).view(-1)
        active_offsets = torch.cat([offsets.new_zeros(1), counts[scenes].cumsum(0)])
        with self._stage("aggregators"):
            seeds = self.point_aggregator1.forward_seeds(vb.xyz[obj], trunk["feats"][obj], trunk["boxes"][obj],
                                                         active_offsets)
        return scenes.tolist(), counts[scenes].tolist(), seeds

    def _query_heads(self, q_locs: torch.Tensor, q_feats: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Query heads on aggregator-2 output ``q_feats`` (B', 4C, Q) at ``q_locs`` (B', Q, 3).

        Returns ``embed`` (B', D, Q), ``cls`` (B', Q, C+1), ``conf`` (B', Q), ``boxes``
        (B', Q, 6), ``rays`` (B', Q, R + 3) = rays then predicted centre.
        """
        e = self.inst_shared_mlp(q_feats)
        center = self.inst_center_head(e).transpose(1, 2) + q_locs
        return {"embed": e, "cls": self.inst_sem_head(e).transpose(1, 2),
                "conf": self.inst_conf_head(e).transpose(1, 2).squeeze(-1),
                "boxes": self.inst_box_head(e).transpose(1, 2) + q_locs.repeat(1, 1, 2),
                "rays": torch.cat([self.rid_module(e).transpose(1, 2), center], dim=2)}

    def _controller(self, embed: torch.Tensor) -> torch.Tensor:
        """Dynamic-conv parameters: (B', D, Q) -> (B', Q, P), each query as a length-1 sequence."""
        b, d, q = embed.shape
        return self.inst_mask_head(embed.permute(0, 2, 1).reshape(b * q, d, 1)).squeeze(2).view(b, q, -1)

    def _superpoint_features(self, vb: VoxelBatch, trunk: Dict[str, torch.Tensor]):
        """Superpoint means of voxel xyz, predicted boxes and features, and mask features (S, D)."""
        sp_xyz = segment_mean(vb.xyz, vb.vsp, vb.num_sp)
        sp_boxes = segment_mean(trunk["boxes"], vb.vsp, vb.num_sp)
        sp_feats = segment_mean(trunk["feats"], vb.vsp, vb.num_sp)
        return sp_xyz, sp_boxes, self._mask_features(sp_feats)

    def _mask_features(self, feats: torch.Tensor) -> torch.Tensor:
        """Mask tower on (S, C) pooled backbone features -> (S, mask_dim)."""
        return self.mask_tower(feats.t()[None]).squeeze(0).t()

    def _rpm(self, params, q_locs, q_boxes, sp_xyz, sp_boxes, mask_feats, max_elements=None) -> torch.Tensor:
        return radial_point_migration(params, q_locs, q_boxes, sp_xyz, sp_boxes, mask_feats, self.mask_dim,
                                      self.head_cfg.num_dyco_layer, max_elements)

    # -- entry points ---------------------------------------------------------------------------
    def forward(self, batch: Dict):
        """Losses (training mode) or per-scene predictions (eval mode); see the module docstring."""
        return self.losses(batch) if self.training else self.predict(batch)

    def _prepare(self, batch: Dict) -> VoxelBatch:
        with self._stage("prepare"):
            vb = prepare_batch(batch, self.in_channels, self.with_coords)
        return vb if self.use_spp_pool else voxels_as_superpoints(vb)

    @torch.no_grad()
    def predict(self, batch: Dict) -> List[Dict]:
        """Per-scene predictions (spec §7); labels in the batch are not needed."""
        vb = self._prepare(batch)
        if not self.infer_cfg.x4_split or vb.num_voxels == 0:
            return self._predict_voxels(vb, self.forward_backbone(vb) if vb.num_voxels else None)
        return [res for b in range(vb.batch_size) for res in self._predict_four_parts(batch, b)]

    def _predict_four_parts(self, batch: Dict, b: int) -> List[Dict]:
        """``inference.x4_split``: scene ``b`` as four interleaved parts, each through the backbone
        alone (one spconv batch: parts never share a voxel), then one scene again whose seeds come
        from parts 0 and 1 (official ``forward_4_parts`` and the S3DIS branch of ``forward_test``)."""
        with self._stage("prepare"):
            parts_batch, perm = split_in_four(batch, b, self.voxel_scale)
            parts = prepare_batch(parts_batch, self.in_channels, self.with_coords)
        p0, p1 = int(batch["point_offsets"][b]), int(batch["point_offsets"][b + 1])
        scene, seed_limit = merge_four(parts, perm, batch["superpoints"][p0:p1], batch["scan_ids"][b])
        if not self.use_spp_pool:
            scene = voxels_as_superpoints(scene)
        if scene.num_voxels == 0:
            return self._predict_voxels(scene, None)
        return self._predict_voxels(scene, self.forward_backbone(parts), seed_limit)

    def _predict_voxels(self, vb: VoxelBatch, trunk, seed_limit=None) -> List[Dict]:
        """Predictions from the backbone output ``trunk`` of ``vb``; with ``seed_limit`` aggregator
        1 only sees object voxels of index ``<= seed_limit``."""
        results = [{"scan_id": sid, "semantic_pred": torch.zeros(0, dtype=torch.int64, device=vb.xyz.device),
                    "instances": []} for sid in vb.scan_ids]
        if vb.num_voxels == 0:
            return results
        sem_point = trunk["semantic"].argmax(dim=1)[vb.point2voxel]
        for b, res in enumerate(results):
            p0, p1 = int(vb.point_offsets[b]), int(vb.point_offsets[b + 1])
            res["semantic_pred"] = sem_point[p0:p1]
            if self.sem2ins_classes and not self.semantic_only:
                t0, t1 = int(vb.psp_offsets[b]), int(vb.psp_offsets[b + 1])
                res["instances"] = semantic_instances(res["semantic_pred"], vb.psp[p0:p1] - t0, t1 - t0,
                                                      self.sem2ins_classes)
            if self.semantic_only:
                res["centroid_offset"] = trunk["offset"][vb.point2voxel[p0:p1]]
                res["corners_offset"] = trunk["corners"][vb.point2voxel[p0:p1]]
        if self.semantic_only:
            return results
        with self._stage("heads"):
            obj = self._foreground(vb, trunk["semantic"])
        candidates = obj if seed_limit is None else obj[obj <= seed_limit]
        if candidates.numel() == 0:
            return results
        with self._stage("heads"):
            sp_xyz, sp_boxes, mask_feats = self._superpoint_features(vb, trunk)
        scenes, _, seeds = self._seeds(vb, trunk, candidates)
        n_obj = torch.bincount(vb.voxel_scene[obj], minlength=vb.batch_size).tolist()
        sp_count = segment_count(vb.vsp, vb.num_sp)
        for i, b in enumerate(scenes):
            s0, s1 = int(vb.sp_offsets[b]), int(vb.sp_offsets[b + 1])
            seed_sp = vb.vsp[candidates[seeds[3][i]]] - s0
            proposals = self._scene_proposals([t[i:i + 1] for t in seeds[:3]], seed_sp, n_obj[b], sp_xyz[s0:s1],
                                              sp_boxes[s0:s1], mask_feats[s0:s1])
            if proposals is None:
                continue
            with self._stage("postprocess"):
                p0, p1 = int(vb.point_offsets[b]), int(vb.point_offsets[b + 1])
                t0, t1 = int(vb.psp_offsets[b]), int(vb.psp_offsets[b + 1])
                point_vsp = vb.vsp[vb.point2voxel[p0:p1]] - s0
                results[b]["instances"] += scene_instances(*proposals, sp_count[s0:s1], vb.psp[p0:p1] - t0,
                                                           point_vsp, t1 - t0, self.infer_cfg)
        return results

    def query_rounds(self, n_obj: int) -> List[int]:
        """Queries per sampling round: one round of ``n_queries``, or with iterative sampling
        the ISBNet schedule ``-(n0/2) ln p`` for ``p = 0.1, 0.2, 0.4``, ``n0 = clamp(n_obj // 300,
        150, 500)``."""
        if not self.infer_cfg.iterative_sampling:
            return [self.head_cfg.n_queries]
        n0 = min(max(150, n_obj // 300), 500)
        return [int(-(n0 / 2) * math.log(p)) for p in (0.1, 0.2, 0.4)]

    def _scene_proposals(self, seeds, seed_sp: torch.Tensor, n_obj: int, sp_xyz, sp_boxes, mask_feats):
        """Queries, heads, RPM and Mask Assembly of one scene (spec §7.1 steps 7-8).

        Args:
            seeds: aggregator-1 locs (1, S, 3), feats (1, 2C, S), boxes (1, S, 6) of the scene.
            seed_sp: int64 (S,) scene-local superpoint of each seed.
        Returns:
            ``(cls_logits (Q', C+1), conf (Q',), masks bool (Q', S_b))`` over all rounds, or
            ``None`` when the first round predicts no object at all.
        """
        locs, feats, boxes = seeds
        r = self.rays_width * self.rays_height
        remaining = torch.arange(locs.shape[1], device=locs.device)
        covered = torch.zeros(locs.shape[1], dtype=torch.bool, device=locs.device)
        rounds = self.query_rounds(n_obj)
        outs = []
        for k, n in enumerate(rounds):
            with self._stage("aggregators"):
                q = self.point_aggregator2.forward_queries(locs[:, remaining], feats[:, :, remaining],
                                                           boxes[:, remaining], min(n, remaining.numel()), first_n=False)
            with self._stage("heads"):
                h = self._query_heads(q[0], q[1])
                if bool((h["cls"][0].argmax(dim=1) == self.instance_classes).all()):
                    break
                params = self._controller(h["embed"])[0]
            with self._stage("rpm"):
                rpm = self._rpm(params, q[0][0], h["boxes"][0], sp_xyz, sp_boxes, mask_feats,
                                self.infer_cfg.max_dyco_elements)
            with self._stage("assembly"):
                masks = assemble(sp_xyz, h["rays"][0, :, :r], h["rays"][0, :, r:], rpm, n_azimuth=self.rays_width,
                                 n_polar=self.rays_height, clamp_centers=self.infer_cfg.clamp_centers,
                                 migration_scale=self.infer_cfg.migration_scale)
            outs.append((h["cls"][0], h["conf"][0], masks))
            if k == len(rounds) - 1:
                break
            covered |= (rpm[:, seed_sp] > 0).any(dim=0)
            remaining = torch.nonzero(~covered).view(-1)
            if remaining.numel() == 0:
                break
        if not outs:
            return None
        return tuple(torch.cat(parts) for parts in zip(*outs))

def _settings(cls, value, name: str):
    """A settings dataclass from a dict (unknown keys rejected), an instance, or None (defaults)."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    return instantiate(cls, value, f"model.{name}")
