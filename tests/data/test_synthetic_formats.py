"""Synthetic S3DIS rooms and STPLS3D tiles prepare to the labels they were written with."""
import os

import numpy as np
import torch

from sphmask.data.classes import S3DIS, STPLS3D
from sphmask.data.s3dis import prepare_s3dis_room
from sphmask.data.stpls3d import prepare_stpls3d_file
from sphmask.data.synthetic_formats import make_s3dis_dataset, make_stpls3d_dataset, s3dis_room, stpls3d_tile
from sphmask.io.text import read_text_table


def test_s3dis_room_prepares_to_the_written_classes_and_instances(tmp_path):
    rooms = make_s3dis_dataset(str(tmp_path), {2: 1}, seed=1, size="small")
    root = os.path.join(tmp_path, "Stanford3dDataset_v1.2_Aligned_Version")
    area, room = rooms[0].split("/")
    assert area == "Area_2"
    files = os.listdir(os.path.join(root, area, room, "Annotations"))
    assert "ceiling_1.txt" in files and "floor_1.txt" in files and any(f.startswith("wall_") for f in files)
    scene = prepare_s3dis_room(root, area, room, segment_points=lambda xyz: torch.arange(len(xyz)))
    xyz, _, objects, _ = s3dis_room(0, seed=1, size="small")
    assert len(files) == len(objects) and scene.coords.shape[0] == len(xyz) == sum(len(i) for _, i in objects)
    seen = set()
    for cls, idx in objects:  # every object: its class, and an instance id of its own
        assert np.unique(scene.semantic[idx]).tolist() == [S3DIS.semantic_names.index(cls)]
        inst = np.unique(scene.instance[idx]).tolist()
        assert len(inst) == 1 and inst[0] not in seen
        seen.add(inst[0])


def test_stpls3d_tile_prepares_to_the_written_labels(tmp_path):
    names = make_stpls3d_dataset(str(tmp_path), [5], seed=2)
    path = os.path.join(tmp_path, "Synthetic_v3_InstanceSegmentation", names[0])
    table = read_text_table(path)
    assert np.array_equal(np.round(table, 3), np.round(stpls3d_tile(5, seed=2), 3))
    assert set(np.unique(table[:, 6]).astype(int)) == set(range(15))
    assert (table[table[:, 6] == 0, 7] == -100).all()
    (scene,) = prepare_stpls3d_file(path, "val", block_size=250.0)
    assert scene.coords.shape[0] == len(table)
    assert sorted(set(scene.instance_classes)) == sorted(STPLS3D.semantic_names[1:])
    assert len(scene.instance_classes) == int(table[:, 7].max()) + 1
