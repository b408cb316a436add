"""sphmask.engine.segment: blocks, merging across blocks, superpoint cleanup, the whole run.

Random weights give no meaningful instances, so crop and merge are checked with constructed block
results and with a stand-in model whose instances are the connected components of what it sees:
run over blocks and merged, they must equal the components of the whole cloud.
"""
import json
import os

import numpy as np
import pytest
import torch

import sphmask
from sphmask.config import load_config
from sphmask.data.pointcloud import PointCloud
from sphmask.engine.segment import (
    Block, CropSettings, Instance, block_owners, extent_warning, merge_block_instances, plan_blocks, read_instances,
    segment_scene, superpoint_cleanup, write_segmentation,
)
from sphmask.engine.segment.merge import drop_edge_fragments, rescore_duplicates
from tests.conftest import num_threads
from tests.engine.segment_stub import ComponentModel, bars_cloud, components

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def as_sets(instances):
    return sorted((tuple(i.indices.tolist()), i.label_id, i.score) for i in instances)


def expected_components(cloud):
    comp = components(cloud.xyz)
    out = []
    for c in range(comp.max() + 1):
        idx = np.flatnonzero(comp == c)
        out.append((tuple(idx.tolist()), 1 if cloud.rgb[idx[0], 0] > 0 else 2, float((cloud.rgb[idx[0], 1] + 1) / 2)))
    return sorted(out)


SMALL_BLOCKS = CropSettings(block_size=2.0, overlap=0.5)


# ------------------------------------------------------------------------------------ plan_blocks


def test_plan_blocks_small_cloud_is_one_block_with_every_point():
    xy = np.random.default_rng(0).random((500, 2)) * 3
    blocks, warnings = plan_blocks(xy, CropSettings(max_points=500))
    assert len(blocks) == 1 and not warnings
    np.testing.assert_array_equal(blocks[0].points, np.arange(500))
    np.testing.assert_array_equal(blocks[0].core, np.stack([xy.min(0), xy.max(0)]))


def test_plan_blocks_forced_block_size_cores_tile_and_neighbours_share_overlap():
    xy = np.random.default_rng(1).random((4000, 2)) * [5.0, 3.0]
    blocks, _ = plan_blocks(xy, SMALL_BLOCKS)
    assert len(blocks) == 8  # ceil(5 / 1.5) x ceil(3 / 1.5)
    owner = block_owners(xy, blocks)
    assert (owner >= 0).all()
    for b, block in enumerate(blocks):
        inside = ((xy >= block.bounds[0]) & (xy <= block.bounds[1])).all(1)
        np.testing.assert_array_equal(block.points, np.flatnonzero(inside))
        assert np.all(block.bounds[1] - block.bounds[0] <= SMALL_BLOCKS.block_size + 1e-9)
        assert set(np.flatnonzero(owner == b)) <= set(block.points.tolist())
    # blocks 0 and 1 are x-neighbours: their bounds overlap by exactly `overlap`
    np.testing.assert_allclose(blocks[0].bounds[1, 0] - blocks[1].bounds[0, 0], SMALL_BLOCKS.overlap)


def test_plan_blocks_point_budget_splits_until_every_block_fits():
    xy = np.random.default_rng(2).random((20000, 2)) * [12.0, 5.0]
    blocks, warnings = plan_blocks(xy, CropSettings(max_points=3000, overlap=0.4))
    assert not warnings and len(blocks) > 6
    assert max(b.points.shape[0] for b in blocks) <= 3000
    assert (block_owners(xy, blocks) >= 0).all()


def test_plan_blocks_dense_spot_over_budget_warns_instead_of_splitting_forever():
    xy = np.random.default_rng(3).random((2000, 2)) * 0.2
    blocks, warnings = plan_blocks(xy, CropSettings(max_points=100, overlap=0.5))
    assert len(blocks) == 1 and blocks[0].points.shape[0] == 2000
    assert len(warnings) == 1 and "max_points=100" in warnings[0]


def test_crop_settings_block_size_not_above_overlap_rejected():
    with pytest.raises(ValueError, match="block_size must be larger than the overlap"):
        CropSettings(block_size=1.0, overlap=1.0)


# ------------------------------------------------------------------------------------ merging


def block(points):
    points = np.asarray(points, dtype=np.int64)
    return Block(core=np.zeros((2, 2)), bounds=np.array([[0.0, 0.0], [1.0, 1.0]]), points=points)


def inst(points, label=1, score=0.5):
    return Instance(indices=np.asarray(sorted(points), dtype=np.int64), label_id=label, score=score)


def test_merge_instance_spanning_block_boundary_becomes_one():
    blocks = [block(range(0, 20)), block(range(10, 30))]
    merged = merge_block_instances(blocks, [[inst(range(0, 20), score=0.4)], [inst(range(10, 30), score=0.7)]])
    assert as_sets(merged) == [(tuple(range(30)), 1, 0.7)]


def test_merge_uses_iou_on_shared_points_not_global_iou():
    # Global IoU is 10 / 100, but on the 10 shared points both blocks agree completely.
    blocks = [block(range(0, 55)), block(range(45, 100))]
    merged = merge_block_instances(blocks, [[inst(range(0, 55))], [inst(range(45, 100))]], merge_iou=0.9)
    assert as_sets(merged) == [(tuple(range(100)), 1, 0.5)]


def test_merge_different_classes_stay_separate():
    blocks = [block(range(0, 20)), block(range(10, 30))]
    merged = merge_block_instances(blocks, [[inst(range(0, 20), label=1)], [inst(range(10, 30), label=2)]])
    assert len(merged) == 2


def test_merge_below_iou_threshold_stays_separate():
    # Shared points 10..19; the second instance covers only 17..19 of them: IoU 3 / 10.
    blocks = [block(range(0, 20)), block(range(10, 30))]
    parts = [[inst(range(0, 20))], [inst(range(17, 30))]]
    assert len(merge_block_instances(blocks, parts, merge_iou=0.5)) == 2
    assert len(merge_block_instances(blocks, parts, merge_iou=0.3)) == 1


def test_merge_blocks_without_shared_points_never_merge():
    blocks = [block(range(0, 10)), block(range(10, 20))]
    assert len(merge_block_instances(blocks, [[inst(range(0, 10))], [inst(range(10, 20))]])) == 2


def test_merge_duplicate_within_block_matches_one_to_one():
    # Block 0 returns the same object twice (matrix NMS only rescores); only the best match merges.
    blocks = [block(range(0, 20)), block(range(10, 30))]
    merged = merge_block_instances(
        blocks, [[inst(range(0, 20), score=0.9), inst(range(1, 20), score=0.3)], [inst(range(10, 30), score=0.6)]])
    assert as_sets(merged) == sorted([(tuple(range(30)), 1, 0.9), (tuple(range(1, 20)), 1, 0.3)])


def test_merge_chains_an_object_over_three_blocks():
    blocks = [block(range(0, 20)), block(range(10, 40)), block(range(30, 50))]
    parts = [[inst(range(0, 20), score=0.2)], [inst(range(10, 40), score=0.6)], [inst(range(30, 50), score=0.4)]]
    assert as_sets(merge_block_instances(blocks, parts)) == [(tuple(range(50)), 1, 0.6)]


def test_merge_result_ordered_by_score_then_first_point():
    blocks = [block(range(0, 10)), block(range(20, 30))]
    merged = merge_block_instances(blocks, [[inst(range(0, 10), score=0.5), inst([5], score=0.9)],
                                            [inst(range(20, 30), score=0.5)]])
    assert [(i.score, int(i.indices[0])) for i in merged] == [(0.9, 5), (0.5, 0), (0.5, 20)]


# ------------------------------------------------------------------------------------ blocks that multiply instances


def test_blocks_edge_fragment_mostly_in_another_core_is_dropped():
    owner = np.repeat([0, 1], 10)  # points 0..9 in block 0's core, 10..19 in block 1's
    parts = [[inst(range(0, 12)), inst(range(6, 14)), inst(range(7, 15))], [inst(range(12, 20)), inst(range(2, 12))]]
    kept = drop_edge_fragments(parts, owner)
    # block 0: 10/12 and 4/8 own points kept, 3/8 dropped; block 1: 8/8 kept, 2/10 dropped
    assert [as_sets(k) for k in kept] == [as_sets(parts[0][:2]), as_sets(parts[1][:1])]


def dense_matrix_nms_scores(instances, n, sigma=2.0):
    """Brute-force reference: the official Gaussian matrix NMS on dense point masks."""
    order = sorted(range(len(instances)), key=lambda k: -instances[k].score)
    masks = np.zeros((len(instances), n))
    for k, i in enumerate(instances):
        masks[k, i.indices] = 1
    new = {}
    for a in order:
        decay = 1.0
        for b in order[:order.index(a)]:
            if instances[b].label_id != instances[a].label_id:
                continue
            iou_ab = (masks[a] * masks[b]).sum() / np.maximum(masks[a], masks[b]).sum()
            comp = max([0.0] + [(masks[b] * masks[c]).sum() / np.maximum(masks[b], masks[c]).sum()
                                for c in order[:order.index(b)] if instances[c].label_id == instances[b].label_id])
            decay = min(decay, np.exp(-sigma * iou_ab ** 2) / np.exp(-sigma * comp ** 2))
        new[a] = instances[a].score * decay
    return sorted(new.values(), reverse=True)


def test_blocks_duplicates_after_merging_decayed_by_matrix_nms_like_dense_reference():
    sp = np.repeat(np.arange(10), 3)  # masks made of whole superpoints, as after the cleanup
    insts = [inst(range(0, 12), score=0.9), inst(range(0, 9), score=0.8), inst(range(0, 12), label=2, score=0.7),
             inst(range(15, 30), score=0.6), inst(range(18, 30), score=0.5)]
    out = rescore_duplicates(insts, sp)
    np.testing.assert_allclose([i.score for i in out], dense_matrix_nms_scores(insts, 30), rtol=1e-6)
    assert out[0].score == 0.9 and out[1].score == 0.7  # the best one and the other class are untouched
    assert [i.score for i in out][2:] == sorted([i.score for i in out][2:], reverse=True)


def test_blocks_do_not_multiply_instances_on_a_demo_room(small_demo_rooms):
    # The small-preset room synth1000_00 in forced 2 m blocks: merging alone returned 466 instances (37
    # scoring >= 0.3, one pass 86 and 10); with fragments dropped and duplicates decayed, at most one pass's budget.
    from sphmask.io import read_ply

    room = read_ply(os.path.join(small_demo_rooms, "scans", "synth1000_00", "synth1000_00_vh_clean_2.ply"))
    seg = sphmask.Segmenter.from_checkpoint(os.path.join(ROOT, "demo", "spherical_mask_small.pth"), device="cpu")
    counts = {}
    with num_threads(1):
        for suppress in (False, True):
            seg.crop = CropSettings(max_points=10 ** 9, block_size=2.0, overlap=0.5, suppress=suppress)
            res = seg(room.xyz, room.rgb, faces=room.faces)
            counts[suppress] = (len(res.instances), sum(i["score"] >= 0.3 for i in res.instances))
    assert len(res.blocks) > 4
    assert counts[True][0] <= seg.model.infer_cfg.topk_pre_nms < counts[False][0]
    assert counts[True][1] < counts[False][1]


# ------------------------------------------------------------------------------------ cleanup


def test_superpoint_cleanup_majority_rule_half_counts_as_in():
    sp = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    out = superpoint_cleanup([inst([0, 1, 4, 5, 6, 8], score=0.3)], sp, min_points=1)
    # superpoint 0: 2 of 4 (in), 1: 3 of 4 (in), 2: 1 of 4 (out)
    assert as_sets(out) == [(tuple(range(8)), 1, 0.3)]


def test_superpoint_cleanup_drops_masks_below_min_points():
    sp = np.repeat(np.arange(5), 4)
    out = superpoint_cleanup([inst(range(0, 8)), inst(range(8, 20), score=0.9)], sp, min_points=10)
    assert as_sets(out) == [(tuple(range(8, 20)), 1, 0.9)]


# ------------------------------------------------------------------------------------ whole runs


def test_extent_warning_millimetres_suggests_scale():
    xyz = np.random.default_rng(0).random((100, 3)) * 5000.0
    assert "0.001" in extent_warning(xyz)
    assert extent_warning(xyz / 1000.0) is None


def test_segment_scene_small_cloud_single_pass_returns_model_instances():
    cloud = bars_cloud()
    model = ComponentModel()
    seg = segment_scene(model, cloud, min_points=1)
    assert model.calls == 1 and len(seg.blocks) == 1
    assert as_sets(seg.instances) == expected_components(cloud)


def test_segment_scene_crop_merges_objects_cut_by_block_edges():
    cloud = bars_cloud()
    model = ComponentModel()
    seg = segment_scene(model, cloud, crop=SMALL_BLOCKS, min_points=1)
    long_bar = np.flatnonzero(cloud.xyz[:, 1] < 0.5)
    assert len(seg.blocks) > 3 and model.calls == len(seg.blocks)
    assert sum(np.intersect1d(b.points, long_bar).size > 0 for b in seg.blocks) >= 3
    assert as_sets(seg.instances) == expected_components(cloud)
    np.testing.assert_array_equal(seg.semantic, np.where(cloud.rgb[:, 0] > 0, 2, 3))


def test_segment_scene_point_cloud_superpoints_per_block_core_when_cropping():
    cloud = bars_cloud()
    cloud.superpoints = None  # computed by segment_scene with segment_points
    seen = []

    class Spy(ComponentModel):
        def forward(self, batch):
            seen.append(batch["superpoints"].numpy().copy())
            return super().forward(batch)

    seg = segment_scene(Spy(), cloud, crop=SMALL_BLOCKS, min_points=1)
    owner = block_owners(cloud.xyz[:, :2], seg.blocks)
    assert len(seen) == len(seg.blocks) > 1
    for block, sp in zip(seg.blocks, seen):
        pairs = np.unique(np.stack([sp, owner[block.points]], 1), axis=0)
        assert np.unique(pairs[:, 0]).size == pairs.shape[0]  # every superpoint within one core


def test_segment_scene_scale_turns_millimetres_into_metres():
    seg_m = segment_scene(ComponentModel(), bars_cloud(), crop=SMALL_BLOCKS, min_points=1)
    seg_mm = segment_scene(ComponentModel(), bars_cloud(units=1000.0), scale=0.001, crop=SMALL_BLOCKS, min_points=1)
    assert as_sets(seg_mm.instances) == as_sets(seg_m.instances)
    assert seg_mm.warnings == [] and seg_m.warnings == []


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    # 4 semantic / 2 instance classes: with random weights some queries then predict an object class.
    cfg = load_config(os.path.join(ROOT, "configs", "testing", "tiny.yaml"),
                      ["model.inference.npoint_thresh=5", "model.semantic_classes=4", "model.instance_classes=2"])
    return sphmask.build_model(cfg).eval()


def test_segment_scene_real_model_crop_path_is_deterministic(tiny_model):
    from sphmask.data.synthetic import generate_scene

    scene = generate_scene(0, 0, "small")
    cloud = PointCloud(xyz=scene.vertices.astype(np.float64), rgb=(scene.colors / 127.5 - 1).astype(np.float32),
                       superpoints=None, faces=scene.faces, has_color=True)
    with num_threads(1):
        runs = [segment_scene(tiny_model, cloud, crop=SMALL_BLOCKS) for _ in range(2)]
    assert len(runs[0].blocks) > 1 and len(runs[0].instances) > 0
    assert as_sets(runs[0].instances) == as_sets(runs[1].instances)
    np.testing.assert_array_equal(runs[0].semantic, runs[1].semantic)


def test_write_and_read_instances_roundtrip(tmp_path):
    cloud = bars_cloud()
    seg = segment_scene(ComponentModel(), cloud, crop=SMALL_BLOCKS, min_points=1)
    paths = write_segmentation(str(tmp_path), "bars", cloud, seg, instance_names=["red", "blue"],
                               summary={"input": "bars.npy"})
    data = read_instances(paths["npz"])
    assert data["masks"].shape == (len(seg.instances), cloud.num_points)
    for k, i in enumerate(seg.instances):
        np.testing.assert_array_equal(np.flatnonzero(data["masks"][k]), i.indices)
    np.testing.assert_array_equal(data["class_name"], ["red" if i.label_id == 1 else "blue" for i in seg.instances])
    with open(paths["json"]) as f:
        summary = json.load(f)
    assert summary["input"] == "bars.npy" and summary["num_instances"] == len(seg.instances)
    assert [d["num_points"] for d in summary["instances"]] == data["num_points"].tolist()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]


def test_points_only_superpoints_use_the_clouds_colours():
    # A flat grid split into two colour halves: geometry alone sees one plane, colour two parts.
    from sphmask.engine.segment.run import _point_superpoints

    g = np.stack(np.meshgrid(np.arange(40) * 0.02, np.arange(40) * 0.02), -1).reshape(-1, 2)
    xyz = np.concatenate([g, np.zeros((len(g), 1))], 1)
    rgb = np.where(g[:, :1] < 0.4, 0.0, 255.0).repeat(3, 1).astype(np.float32)
    plain = _point_superpoints(xyz, None, [], None)
    coloured = _point_superpoints(xyz, None, [], None, rgb)
    left = g[:, 0] < 0.4
    assert not (set(coloured[left]) & set(coloured[~left]))
    assert set(plain[left]) & set(plain[~left])
