"""Training-mode forward of :class:`~sphmask.models.SphericalMask` (spec §6): GT tables on
voxels, point-wise losses, and the instance losses on the mask domain (superpoints, or with
``use_spp_pool: false`` a random subset of object voxels per scene)."""
from typing import Dict

import torch

from sphmask.models.criterion import InstanceOutputs, pointwise_losses
from sphmask.models.scene_parts import sample_object_voxels
from sphmask.models.superpoint import offsets_from_scene
from sphmask.models.targets import compact_instances, instance_table, superpoint_targets
from sphmask.models.voxel_batch import VoxelBatch

#: Training-time early exit threshold on object voxels of a whole batch (official value).
MIN_OBJECT_VOXELS = 100


class TrainingLosses:
    """Mixin of :class:`~sphmask.models.SphericalMask` holding its training losses."""

    def losses(self, batch: Dict) -> Dict[str, torch.Tensor]:
        """Named weighted training losses and their sum ``loss`` (spec §6)."""
        vb = self._prepare(batch)
        if vb.num_voxels == 0:
            raise ValueError("cannot compute losses on an empty batch (no points)")
        if vb.semantic_labels is None or vb.instance_labels is None:
            raise ValueError("training needs batch['semantic_labels'] and batch['instance_labels']")
        with self._stage("targets"):
            first = vb.voxel_first_point
            sem = vb.semantic_labels[first]
            inst = compact_instances(vb.instance_labels[first])
            num_inst = int(inst.max()) + 1 if inst.numel() else 0
            table = instance_table(vb.xyz, inst, sem, vb.voxel_scene, num_inst, self.label_shift,
                                   self.rays_width, self.rays_height)
        trunk = self.forward_backbone(vb)
        pw = pointwise_losses(trunk["semantic"], trunk["offset"], trunk["corners"], trunk["box_conf"], vb.xyz, sem,
                              inst, table.centroid_offset, table.corners_offset, self.ignore_label, self.voxel_scale,
                              self.loss_cfg)
        weight = 1.0 if self.semantic_only else self.loss_cfg.pointwise_weight
        losses = {k: v * weight for k, v in pw.items()} if weight > 0 else {}
        if not self.semantic_only:
            losses.update(self._instance_losses(vb, trunk, inst, table))
        # Nothing to learn from (no object voxels and no point-wise term): a total without a graph,
        # which the trainer skips (a frozen backbone has no graph to attach a zero to anyway).
        losses["loss"] = torch.stack(list(losses.values())).sum() if losses else trunk["feats"].detach().new_zeros(())
        return losses

    def _instance_losses(self, vb: VoxelBatch, trunk, inst, table) -> Dict[str, torch.Tensor]:
        obj = self._foreground(vb, trunk["semantic"].detach())
        if obj.numel() <= MIN_OBJECT_VOXELS:
            return {}
        scenes, _, seeds = self._seeds(vb, trunk, obj)
        with self._stage("aggregators"):
            n = min(self.head_cfg.n_queries, seeds[0].shape[1])
            queries = self.point_aggregator2.forward_queries(seeds[0], seeds[1], seeds[2], n, first_n=True)
        if self.use_spp_pool:
            sp_xyz, sp_boxes, mask_feats = self._superpoint_features(vb, trunk)
            dom_inst, dom_sp, dom_voxel_offsets, dom_offsets = inst, vb.vsp, vb.voxel_offsets, vb.sp_offsets
        else:
            dom = sample_object_voxels(obj, vb.voxel_scene, vb.batch_size, self.mask_voxel_sample)
            sp_xyz, sp_boxes, mask_feats = vb.xyz[dom], trunk["boxes"][dom], self._mask_features(trunk["feats"][dom])
            dom_offsets = offsets_from_scene(vb.voxel_scene[dom], vb.batch_size)
            dom_inst, dom_sp, dom_voxel_offsets = inst[dom], torch.arange(dom.numel(), device=dom.device), dom_offsets
        with self._stage("targets"):
            targets = superpoint_targets(table, dom_inst, dom_sp, dom_voxel_offsets, dom_offsets)
        with self._stage("heads"):
            h = self._query_heads(queries[0], queries[1])
            params = self._controller(h["embed"])
        per_scene = {k: [None] * vb.batch_size for k in ("cls", "conf", "boxes", "rays", "rpm", "sp_xyz")}
        for i, b in enumerate(scenes):
            s0, s1 = int(dom_offsets[b]), int(dom_offsets[b + 1])
            per_scene["rpm"][b] = self._rpm(params[i], queries[0][i], h["boxes"][i], sp_xyz[s0:s1], sp_boxes[s0:s1],
                                            mask_feats[s0:s1])
            per_scene["sp_xyz"][b] = sp_xyz[s0:s1]
            for k in ("cls", "conf", "boxes", "rays"):
                per_scene[k][b] = h[k][i]
        out = InstanceOutputs(per_scene["cls"], per_scene["conf"], per_scene["boxes"], per_scene["rays"],
                              per_scene["rpm"], per_scene["sp_xyz"])
        with self._stage("losses"):
            return self.criterion(out, targets, vb.batch_size, self.voxel_scale)
