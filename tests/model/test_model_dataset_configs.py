"""The dataset configs build the networks their ISBNet sources describe, and their backbone and
fold configs differ only where they should."""
import os

import pytest

import sphmask
from sphmask.config import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cfg(name):
    return load_config(os.path.join(ROOT, "configs", name))


@pytest.mark.parametrize("name,sem,inst,scale,spp,x4,sem2ins,offset", [
    ("scannet200/spherical_mask.yaml", 200, 198, 50, True, False, [], 0),
    ("s3dis/spherical_mask.yaml", 13, 11, 50, True, True, [0, 1], 2),
    ("stpls3d/spherical_mask.yaml", 15, 14, 3, False, False, [], 0),
])
def test_dataset_config_builds_its_network(name, sem, inst, scale, spp, x4, sem2ins, offset):
    cfg = _cfg(name)
    model = sphmask.build_model(cfg)
    assert (model.semantic_classes, model.instance_classes) == (sem, inst)
    assert model.voxel_scale == scale == cfg["data"]["train"]["voxel_cfg"]["scale"] == cfg["data"]["test"]["voxel_cfg"]["scale"]
    assert model.use_spp_pool is spp and model.infer_cfg.x4_split is x4
    assert model.sem2ins_classes == sem2ins and model.infer_cfg.label_offset == offset
    assert model.inst_sem_head.layers[-1].out_channels == inst + 1
    assert cfg["data"]["train"]["type"] == cfg["data"]["test"]["type"] == name.split("/")[0]


def test_stpls3d_and_s3dis_specifics():
    st = sphmask.build_model(_cfg("stpls3d/spherical_mask.yaml"))
    assert st.head_cfg.radius_scale == 10 and st.point_aggregator1.radius == pytest.approx(2.0)
    assert len(st.loss_cfg.semantic_weight) == 15 and not st.with_coords
    s3 = _cfg("s3dis/spherical_mask.yaml")["model"]["inference"]
    assert (s3["nms_type"], s3["nms_threshold"], s3["npoint_thresh"]) == ("standard", 0.2, 400)


@pytest.mark.parametrize("dataset", ["scannet200", "s3dis", "stpls3d"])
def test_backbone_config_is_the_semantic_only_stage(dataset):
    full, bb = _cfg(f"{dataset}/spherical_mask.yaml"), _cfg(f"{dataset}/spherical_mask_backbone.yaml")
    assert bb["model"]["semantic_only"] is True and bb["pretrain"] is None
    assert full["pretrain"].endswith("_backbone/latest.pth") and full["pretrain_mode"] == "backbone"
    assert {k: v for k, v in bb["model"].items() if k not in ("semantic_only", "fixed_modules")} == \
        {k: v for k, v in full["model"].items() if k not in ("semantic_only", "fixed_modules")}


@pytest.mark.parametrize("area", [1, 2, 3, 4, 6])
def test_s3dis_folds_hold_out_their_area(area):
    cfg = _cfg(f"s3dis/area{area}.yaml")
    assert cfg["data"]["test"]["prefix"] == f"Area_{area}"
    assert sorted(cfg["data"]["train"]["prefix"]) == [f"Area_{a}" for a in range(1, 7) if a != area]
    assert cfg["model"] == _cfg("s3dis/spherical_mask.yaml")["model"]
