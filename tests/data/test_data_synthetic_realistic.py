"""The ``realistic`` synthetic preset (docs/synthetic.md): deterministic, prepared by the ScanNet
pipeline to its superpoint-aligned annotation, scan-like (touching objects, fused mesh, sizes and
spacing as documented), and covering every instance class."""
import os

import numpy as np
import pytest
from scipy.spatial import cKDTree

from sphmask.data.classes import SCANNETV2
from sphmask.data.prepare import prepare_dataset
from sphmask.data.prepared import load_pth_arrays
from sphmask.data.synthetic import make_synthetic_dataset
from sphmask.data.synthetic_realistic import annotate_by_segments, generate_realistic_scene

STUFF = ("wall", "floor")


@pytest.fixture(scope="module")
def rooms():
    # A bathroom and a kitchen: the two smallest room types, ~50k vertices each.
    return [generate_realistic_scene(i, seed=3) for i in (1, 4)]


def aligned(scene):
    a = scene.axis_alignment
    return scene.vertices.astype(np.float64) @ a[:3, :3].T + a[:3, 3]


def test_realistic_scene_is_deterministic_and_differs_between_indices(rooms):
    again = generate_realistic_scene(1, seed=3)
    for name in ("vertices", "colors", "faces", "vertex_object", "axis_alignment"):
        np.testing.assert_array_equal(getattr(again, name), getattr(rooms[0], name))
    assert again.objects == rooms[0].objects
    other = generate_realistic_scene(1, seed=4)
    assert other.vertices.shape != rooms[0].vertices.shape or not np.array_equal(other.vertices, rooms[0].vertices)


def test_realistic_room_sizes_and_furniture_spacing(rooms):
    for s in rooms:
        xyz = aligned(s)
        floor = xyz[s.vertex_object == [o.raw_label for o in s.objects].index("floor")]
        extent = floor.max(0) - floor.min(0)
        assert np.all(extent[:2] > 3.95) and np.all(extent[:2] < 10.1), extent
        assert np.ptp(floor[:, 2]) < 0.1  # axisAlignment undoes the random pose: the floor is level
        stuff = np.isin(s.vertex_object, [i for i, o in enumerate(s.objects) if o.raw_label in STUFF])
        obj = s.vertex_object[s.faces]
        furniture = (obj[:, 0] >= 0) & (obj == obj[:, :1]).all(1) & ~stuff[s.faces[:, 0]]
        p = xyz[s.faces[furniture]]
        shortest = np.linalg.norm(p - np.roll(p, 1, axis=1), axis=2).min(1)
        assert np.median(shortest) <= 0.03
        assert 30_000 < s.vertices.shape[0] < 300_000


def test_realistic_objects_touch_and_form_one_connected_mesh(rooms):
    import scipy.sparse
    import scipy.sparse.csgraph

    for s in rooms:
        n = s.vertices.shape[0]
        f = s.faces
        adj = scipy.sparse.coo_matrix((np.ones(2 * f.shape[0]), (np.r_[f[:, 0], f[:, 1]], np.r_[f[:, 1], f[:, 2]])),
                                      shape=(n, n))
        count, label = scipy.sparse.csgraph.connected_components(adj, directed=False)
        assert np.bincount(label).max() > 0.9 * n  # one mesh, not one component per object
        inst = [i for i, o in enumerate(s.objects) if o.raw_label not in STUFF]
        close = set()
        xyz = aligned(s)
        for i in inst:
            d, j = cKDTree(xyz[s.vertex_object == i]).query(xyz[np.isin(s.vertex_object, [k for k in inst if k != i])],
                                                              distance_upper_bound=0.02)
            others = s.vertex_object[np.isin(s.vertex_object, [k for k in inst if k != i])][np.isfinite(d)]
            close |= {tuple(sorted((i, int(o)))) for o in np.unique(others)}
        assert len(close) >= 2, close  # e.g. a sink on its counter, a cabinet beside it


def test_annotation_is_superpoint_majority_with_clutter_first_on_ties():
    obj = np.array([0, 0, 1, 1, 1, -1, -1, 2, 2])
    seg = np.array([5, 5, 5, 7, 7, 7, 7, 9, 9])
    np.testing.assert_array_equal(annotate_by_segments(obj, seg), [0, 0, 0, -1, -1, -1, -1, 2, 2])


def test_realistic_raw_files_prepare_to_the_superpoint_annotation(tmp_path):
    make_synthetic_dataset(str(tmp_path / "raw"), 1, seed=3, size="realistic", first_index=1, split="train")
    summary = prepare_dataset("scannetv2", str(tmp_path / "raw"), str(tmp_path / "out"), progress=False)
    assert not summary.failed
    scene = generate_realistic_scene(1, seed=3)
    import torch

    from sphmask.ops import segment_mesh

    seg = segment_mesh(torch.from_numpy(scene.vertices), torch.from_numpy(scene.faces)).numpy()
    annotated = annotate_by_segments(scene.vertex_object, seg)
    path = os.path.join(tmp_path, "out", "train", scene.scene_id + "_inst_nostuff.pth")
    coords, _, _, inst = load_pth_arrays(path)
    assert coords.shape[0] == scene.vertices.shape[0]
    want = np.full(annotated.shape, -100)
    k = 0
    for i, o in enumerate(scene.objects):
        if o.raw_label not in STUFF and (annotated == i).any():
            want[annotated == i] = k
            k += 1
    np.testing.assert_array_equal(inst, want)
    # The geometric truth differs from the annotation where a superpoint crosses an object boundary.
    assert (annotated != scene.vertex_object).any()


def test_eight_consecutive_realistic_rooms_hold_every_instance_class():
    ids = set()
    for i in range(8):
        s = generate_realistic_scene(i, seed=0)
        ids |= {o.nyu40 for o in s.objects}
    instance_ids = SCANNETV2.benchmark_ids[SCANNETV2.label_shift:]
    missing = [n for n, i in zip(SCANNETV2.instance_names, instance_ids) if i not in ids]
    assert not missing, missing


def test_realistic_bad_arguments_are_named():
    with pytest.raises(ValueError, match="room_type"):
        generate_realistic_scene(0, room_type="garage")
    with pytest.raises(ValueError, match="noise"):
        generate_realistic_scene(0, noise=-0.01)
    with pytest.raises(ValueError, match="index and seed"):
        generate_realistic_scene(-1)
