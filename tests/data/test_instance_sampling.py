"""Instance-sampling augmentation (data.train.instance_sampling): off by default, labels of pasted
instances, placement without box overlap, determinism, config checks."""
import os

import numpy as np
import pytest
import torch

from sphmask.config import ConfigError, load_config
from sphmask.data.dataset import SceneDataset, build_dataset
from sphmask.data.instance_sampling import instance_boxes, overlaps

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOXEL = {"scale": 50, "spatial_shape": [128, 512], "max_npoint": 250000, "min_npoint": 100}


def bank_class(ds):
    """A class with instances in the prepared rooms (the most common one, so every test finds one)."""
    labels = [label for *_, label in SceneDataset(ds.data_root, "train", instance_sampling={"prob": 1.0})
              .instance_sampler.bank]
    return int(np.bincount(labels).argmax())


@pytest.fixture(scope="module")
def root(prepared):
    return prepared[0]


def dataset(root, **sampling):
    return SceneDataset(root, "train", training=True, voxel_cfg=VOXEL,
                        instance_sampling=dict(sampling) if sampling else None)


def test_off_and_prob_zero_give_the_default_sample_exactly(root):
    base, zero = SceneDataset(root, "train", voxel_cfg=VOXEL), dataset(root, prob=0.0)
    assert base.instance_sampler is None
    for i in range(2):
        a, b = base[i], zero[i]
        for k in a:
            if isinstance(a[k], torch.Tensor):
                assert torch.equal(a[k], b[k]), k
            else:
                assert a[k] == b[k], k


def test_pasted_points_carry_their_instance_label_new_ids_and_own_superpoints(root):
    ds = dataset(root, prob=1.0, max_instances=3)
    cls = bank_class(ds)
    ds = dataset(root, prob=1.0, max_instances=3, classes=[cls])
    pasted_any = 0
    for i in range(len(ds)):
        xyz, rgb, sem, inst, spp = ds.load(ds.filenames[i])
        pxyz, prgb, psem, pinst, pspp = ds.paste_instances(xyz, rgb, sem, inst, spp, i)
        n = xyz.shape[0]
        np.testing.assert_array_equal(pxyz[:n], xyz)
        np.testing.assert_array_equal(pinst[:n], inst)
        new_inst, new_sem, new_spp, new_xyz = pinst[n:], psem[n:], pspp[n:], pxyz[n:]
        assert prgb.shape[0] == psem.shape[0] == pspp.shape[0] == pxyz.shape[0]
        assert (new_sem == cls).all()
        assert not set(new_spp.tolist()) & set(spp.tolist())
        assert not set(new_inst.tolist()) & set(inst.tolist())
        old_boxes = instance_boxes(xyz, inst)
        for j in np.unique(new_inst):
            m = new_inst == j
            assert not set(new_spp[m].tolist()) & set(new_spp[~m].tolist())
            box = np.stack([new_xyz[m].min(0), new_xyz[m].max(0)])
            assert not overlaps(box, old_boxes)
            assert box[0, 2] == pytest.approx(xyz[:, 2].min(), abs=1e-5)  # resting on the floor
            assert (box[0, :2] >= xyz[:, :2].min(0) - 1e-5).all() and (box[1, :2] <= xyz[:, :2].max(0) + 1e-5).all()
        pasted_any += np.unique(new_inst).shape[0]
    assert pasted_any > 0


def test_sample_gains_instances_and_pasted_boxes_do_not_overlap_each_other(root):
    ds, base = dataset(root, prob=1.0, max_instances=3), SceneDataset(root, "train", voxel_cfg=VOXEL)
    gained = 0
    for i in range(len(ds)):
        gained += ds[i]["num_instances"] - base[i]["num_instances"]
        inst = ds.load(ds.filenames[i])[3]
        k = np.unique(inst[inst >= 0]).shape[0]
        pxyz, _, _, pinst, _ = ds.paste_instances(*ds.load(ds.filenames[i]), i)
        boxes = instance_boxes(pxyz, pinst)  # ids sorted: the pasted ones come after the k original ones
        for a in range(k, boxes.shape[0]):
            assert not overlaps(boxes[a], np.delete(boxes, a, 0))
    assert gained > 0


def test_same_seed_and_index_give_the_same_sample_and_epochs_differ(root):
    a, b = dataset(root, prob=1.0), dataset(root, prob=1.0)
    sa, sb = a[0], b[0]
    assert torch.equal(sa["coord_float"], sb["coord_float"]) and torch.equal(sa["instance"], sb["instance"])
    a.set_epoch(1)
    assert not torch.equal(a[0]["coord_float"], sa["coord_float"])


def config(root, sampling):
    cfg = load_config(os.path.join(REPO, "configs", "synthetic", "spherical_mask.yaml"),
                      [f"data.train.data_root={root}"])
    cfg["data"]["train"]["instance_sampling"] = sampling
    return cfg


@pytest.mark.parametrize("sampling, match", [
    ({"prob": 1.5}, r"'data.train.instance_sampling.prob' must be .*<= 1, got 1.5"),
    ({"max_instances": 0}, r"'data.train.instance_sampling.max_instances' must be an integer > 0"),
    ({"power": "high"}, r"'data.train.instance_sampling.power' must be a finite number"),
    ({"classes": "rare"}, r"'data.train.instance_sampling.classes'"),
    ({"classes": [0]}, r"data.train.instance_sampling.classes: .*instance-class semantic ids \(2\.\.19\)"),
    ({"classes": "tail"}, r"data.train.instance_sampling.classes: classes 'tail' needs .*scannet200"),
    ({"prb": 1}, r"'prb'.*data.train.instance_sampling"),
])
def test_bad_instance_sampling_values_are_refused_naming_the_key(root, sampling, match):
    with pytest.raises(ConfigError, match=match) as exc:
        build_dataset(config(root, sampling), "train")
    assert "\n" not in str(exc.value)


def test_tail_classes_are_the_scannet200_tail_split():
    from sphmask.data.classes import SCANNET200
    from sphmask.data.instance_sampling import InstanceSampling

    ids = InstanceSampling(classes="tail").class_ids(SCANNET200, SCANNET200.semantic_classes)
    assert {SCANNET200.semantic_names[i] for i in ids} == SCANNET200.splits["tail"]
    assert min(ids) >= SCANNET200.label_shift


def test_bank_weights_power_one_balances_classes_power_zero_follows_counts():
    from sphmask.data.instance_sampling import bank_weights

    labels = np.array([5, 5, 5, 9])  # class 5: three instances, class 9: one
    np.testing.assert_allclose(bank_weights(labels, 1.0), [1 / 6, 1 / 6, 1 / 6, 1 / 2])
    np.testing.assert_allclose(bank_weights(labels, 0.0), [1 / 4] * 4)


def test_instances_of_the_sample_own_scene_are_never_pasted(root):
    ds = dataset(root, prob=1.0)
    sampler = ds.instance_sampler
    own = [b for b in sampler.bank if b[0] == ds.filenames[0]]
    sampler._bank, sampler._weights = own, np.full(len(own), 1.0 / len(own))
    arrays = ds.load(ds.filenames[0])
    assert ds.paste_instances(*arrays, 0)[0].shape[0] == arrays[0].shape[0]
