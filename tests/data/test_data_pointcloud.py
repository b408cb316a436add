"""Custom input: load_point_cloud for PLY (mesh / points, with / without colours), NPY and text files."""
import os

import numpy as np
import plyfile
import pytest
import torch

from sphmask.data.dataset import collate
from sphmask.data.pointcloud import PointCloudDataset, load_point_cloud
from sphmask.data.synthetic import generate_scene, write_raw_scene
from sphmask.io.errors import DataFormatError
from sphmask.io.ply import read_ply, write_ply


def grid_points(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 2, (n, 3)), rng.integers(0, 256, (n, 3))


def test_ply_mesh_with_colours(tmp_path):
    s = generate_scene(0, seed=1, size="small")
    write_raw_scene(s, str(tmp_path), labelled=False)
    pc = load_point_cloud(str(tmp_path / (s.scene_id + "_vh_clean_2.ply")), compute_superpoints=False)
    np.testing.assert_array_equal(pc.xyz, s.vertices.astype(np.float64))
    np.testing.assert_array_equal(pc.faces, s.faces)
    np.testing.assert_allclose(pc.rgb, s.colors / 127.5 - 1, atol=1e-6)
    assert pc.has_color and pc.rgb.dtype == np.float32


def test_ply_point_cloud_without_colours_is_grey(tmp_path):
    xyz, _ = grid_points()
    write_ply(str(tmp_path / "p.ply"), {"x": xyz[:, 0].astype(np.float32), "y": xyz[:, 1].astype(np.float32),
                                         "z": xyz[:, 2].astype(np.float32)})
    pc = load_point_cloud(str(tmp_path / "p.ply"), compute_superpoints=False)
    assert pc.faces is None and not pc.has_color
    assert (pc.rgb == 0).all() and pc.rgb.shape == (400, 3)


def test_ascii_ply_with_float_colours_and_quads(tmp_path):
    v = np.array([(0, 0, 0, 1.0, 0.0, 0.5), (1, 0, 0, 1.0, 0.0, 0.5), (1, 1, 0, 1.0, 0.0, 0.5), (0, 1, 0, 1.0, 0.0, 0.5)],
                 dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "f4"), ("green", "f4"), ("blue", "f4")])
    f = np.empty(1, dtype=[("vertex_indices", "O")])
    f[0] = (np.array([0, 1, 2, 3], dtype=np.int32),)
    plyfile.PlyData([plyfile.PlyElement.describe(v, "vertex"), plyfile.PlyElement.describe(f, "face")], text=True).write(
        str(tmp_path / "q.ply"))
    pc = load_point_cloud(str(tmp_path / "q.ply"), compute_superpoints=False)
    np.testing.assert_array_equal(pc.faces, [[0, 1, 2], [0, 2, 3]])
    np.testing.assert_allclose(pc.rgb[0], [1.0, -1.0, 0.0], atol=1e-6)


def test_npy_xyz_and_xyzrgb(tmp_path):
    xyz, rgb = grid_points()
    np.save(tmp_path / "a.npy", xyz)
    np.save(tmp_path / "b.npy", np.concatenate([xyz, rgb / 255.0, np.ones((400, 2))], 1))
    a = load_point_cloud(str(tmp_path / "a.npy"), compute_superpoints=False)
    b = load_point_cloud(str(tmp_path / "b.npy"), compute_superpoints=False)
    np.testing.assert_allclose(a.xyz, xyz)
    assert not a.has_color and b.has_color
    np.testing.assert_allclose(b.rgb, rgb / 127.5 - 1, atol=1e-5)


def test_text_formats_whitespace_header_and_csv(tmp_path):
    xyz, rgb = grid_points(50)
    rows = np.concatenate([xyz, rgb], 1)
    np.savetxt(tmp_path / "room.txt", rows, fmt="%.6f %.6f %.6f %d %d %d", header="x y z r g b", comments="")
    np.savetxt(tmp_path / "room.csv", rows, fmt="%.6f", delimiter=",")
    np.savetxt(tmp_path / "room.xyz", xyz, fmt="%.6f")
    for name in ("room.txt", "room.csv"):
        pc = load_point_cloud(str(tmp_path / name), compute_superpoints=False)
        np.testing.assert_allclose(pc.xyz, xyz, atol=1e-6)
        np.testing.assert_allclose(pc.rgb, rgb / 127.5 - 1, atol=1e-5)
    assert not load_point_cloud(str(tmp_path / "room.xyz"), compute_superpoints=False).has_color


@pytest.mark.parametrize("name,content,message", [
    ("a.las", b"x", r"a\.las: unknown point cloud format '\.las'"),
    ("b.txt", b"", r"b\.txt: no points \(empty file\)"),
    ("c.txt", b"1 2 3 4\n5 6 7 8\n", r"c\.txt: has 4 columns; expected 3"),
    ("d.txt", b"1 2 3\n4 5 6\nfoo bar baz\n", r"d\.txt: line 3: not a row of numbers"),
    ("e.ply", b"ply\nformat binary_little_endian 1.0\nelement vertex 10\nproperty float x\nproperty float y\n"
              b"property float z\nend_header\n\x00\x00", r"e\.ply: truncated or malformed PLY data"),
    ("f.ply", b"not a ply", r"f\.ply: not a PLY file"),
    ("g.txt", b"1 2 nan 4 5 6\n", r"g\.txt: row 0 has a NaN or inf value"),
])
def test_bad_files_raise_naming_the_file(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataFormatError, match=message):
        load_point_cloud(str(tmp_path / name), compute_superpoints=False)


def test_npy_bad_shapes(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((10, 4)))
    with pytest.raises(DataFormatError, match=r"a\.npy: has 4 columns"):
        load_point_cloud(str(tmp_path / "a.npy"), compute_superpoints=False)
    np.save(tmp_path / "b.npy", np.zeros((0, 3)))
    with pytest.raises(DataFormatError, match=r"b\.npy: no points"):
        load_point_cloud(str(tmp_path / "b.npy"), compute_superpoints=False)
    with pytest.raises(DataFormatError, match=r"missing\.npy: file not found"):
        load_point_cloud(str(tmp_path / "missing.npy"))


def test_face_index_out_of_range_is_reported(tmp_path):
    xyz, _ = grid_points(5)
    write_ply(str(tmp_path / "m.ply"), {"x": xyz[:, 0].astype(np.float32), "y": xyz[:, 1].astype(np.float32),
                                         "z": xyz[:, 2].astype(np.float32)}, faces=np.array([[0, 1, 9]]))
    with pytest.raises(DataFormatError, match=r"m\.ply: face refers to vertex 9, but the file has 5 vertices"):
        read_ply(str(tmp_path / "m.ply"))


# ------------------------------------------------------------------ superpoints (sphmask.ops)


def test_mesh_superpoints_come_from_segment_mesh(tmp_path):
    from sphmask.ops import segment_mesh

    s = generate_scene(2, seed=1, size="small")
    write_raw_scene(s, str(tmp_path), labelled=False)
    pc = load_point_cloud(str(tmp_path / (s.scene_id + "_vh_clean_2.ply")))
    want = segment_mesh(torch.from_numpy(s.vertices), torch.from_numpy(s.faces)).numpy()
    np.testing.assert_array_equal(pc.superpoints, want)


def test_point_superpoints_come_from_segment_points(tmp_path):
    from sphmask.ops import segment_points

    xyz, rgb = grid_points(600)
    np.save(tmp_path / "a.npy", np.concatenate([xyz, rgb], 1))
    pc = load_point_cloud(str(tmp_path / "a.npy"))
    np.testing.assert_array_equal(pc.superpoints, segment_points(torch.from_numpy(xyz.astype(np.float32))).numpy())


def test_custom_scan_to_unlabelled_model_batch(tmp_path):
    xyz, rgb = grid_points(800)
    np.savetxt(tmp_path / "scan.txt", np.concatenate([xyz, rgb], 1), fmt="%.5f")
    ds = PointCloudDataset([str(tmp_path / "scan.txt")])
    batch = collate([ds[0]])
    assert batch["scan_ids"] == ["scan"] and batch["coords_float"].shape == (800, 3)
    assert "semantic_labels" not in batch and "instance_labels" not in batch
    centred = xyz - xyz.mean(0)
    c, s = np.cos(0.35 * np.pi), np.sin(0.35 * np.pi)
    np.testing.assert_allclose(batch["coords_float"].numpy(), centred @ np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]]), atol=1e-5)
    assert os.path.basename(ds.paths[0]) == "scan.txt"
