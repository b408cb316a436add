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


# ------------------------------------------------------------------ one colour rule for every format


def _write_cloud(path, xyz, rgb):
    """``xyz`` and ``rgb`` [N, 3] as PLY (rgb's own dtype), NPY (one array) or text, by suffix."""
    path = str(path)
    if path.endswith(".ply"):
        write_ply(path, {"x": xyz[:, 0].astype(np.float32), "y": xyz[:, 1].astype(np.float32),
                         "z": xyz[:, 2].astype(np.float32), "red": rgb[:, 0], "green": rgb[:, 1], "blue": rgb[:, 2]})
    elif path.endswith(".npy"):
        np.save(path, np.concatenate([xyz.astype(rgb.dtype), rgb], 1))
    else:
        np.savetxt(path, np.concatenate([xyz, rgb], 1), fmt="%.6f")
    return path


@pytest.mark.parametrize("suffix", [".ply", ".npy", ".txt"])
@pytest.mark.parametrize("lo,hi", [(-1.0, 1.0), (0.0, 1000.0), (-0.5, 200.0)])
def test_float_colours_outside_unit_and_255_ranges_are_refused_in_every_format(tmp_path, suffix, lo, hi):
    xyz, _ = grid_points(20)
    rgb = np.linspace(lo, hi, 60).reshape(20, 3).astype(np.float32)
    path = _write_cloud(tmp_path / f"c{suffix}", xyz, rgb)
    with pytest.raises(DataFormatError, match=rf"c\{suffix}: .*colou.* range over \[{lo:g}, {hi:g}\]; colours must "
                                              r"be 0\.\.255, or floats in 0\.\.1"):
        load_point_cloud(path, compute_superpoints=False)


@pytest.mark.parametrize("suffix", [".ply", ".npy", ".txt"])
@pytest.mark.parametrize("scale", [1.0, 1 / 255.0])
def test_float_colours_0_255_and_0_1_give_the_same_features_in_every_format(tmp_path, suffix, scale):
    xyz, rgb = grid_points(50)
    path = _write_cloud(tmp_path / f"c{suffix}", xyz, (rgb * scale).astype(np.float32))
    pc = load_point_cloud(path, compute_superpoints=False)
    np.testing.assert_allclose(pc.rgb, rgb / 127.5 - 1, atol=1e-5)
    assert pc.rgb.min() >= -1 and pc.rgb.max() <= 1


@pytest.mark.parametrize("suffix", [".ply", ".npy"])
def test_integer_colours_0_or_1_are_not_taken_as_unit_floats(tmp_path, suffix):
    xyz, _ = grid_points(20)
    rgb = (np.arange(60).reshape(20, 3) % 2).astype(np.uint8)
    pc = load_point_cloud(_write_cloud(tmp_path / f"c{suffix}", xyz, rgb), compute_superpoints=False)
    np.testing.assert_allclose(pc.rgb, rgb / 127.5 - 1, atol=1e-6)


@pytest.mark.parametrize("suffix", [".ply", ".npy"])
def test_16_bit_colours_are_scaled_to_8_bit(tmp_path, suffix):
    xyz, rgb = grid_points(50)
    pc = load_point_cloud(_write_cloud(tmp_path / f"c{suffix}", xyz, (rgb * 257).astype(np.uint16)),
                          compute_superpoints=False)
    np.testing.assert_allclose(pc.rgb, rgb / 127.5 - 1, atol=1e-5)


@pytest.mark.parametrize("suffix", [".ply", ".npy"])
@pytest.mark.parametrize("dtype,value", [(np.int32, 300), (np.int16, -3)])
def test_integer_colours_beyond_0_255_that_are_not_16_bit_are_refused(tmp_path, suffix, dtype, value):
    xyz, rgb = grid_points(20)
    rgb = rgb.astype(dtype)
    rgb[3, 1] = value
    with pytest.raises(DataFormatError, match=r"range over"):
        load_point_cloud(_write_cloud(tmp_path / f"c{suffix}", xyz, rgb), compute_superpoints=False)


def test_ply_nan_colour_is_refused(tmp_path):
    xyz, rgb = grid_points(20)
    rgb = rgb.astype(np.float32)
    rgb[5, 2] = np.nan
    with pytest.raises(DataFormatError, match=r"c\.ply: vertex colours red/green/blue contain NaN or inf"):
        load_point_cloud(_write_cloud(tmp_path / "c.ply", xyz, rgb), compute_superpoints=False)


# ------------------------------------------------------------------ NPY dtypes and paths


@pytest.mark.parametrize("array,dtype_text", [
    (np.ones((5, 6), dtype=np.complex128), "complex128"),
    (np.ones((5, 3), dtype=np.complex64), "complex64"),
    (np.ones((5, 3), dtype=bool), "bool"),
    (np.array([["1", "2", "3"]] * 5), "<U1"),
    (np.array([[b"1", b"2", b"3"]] * 5), "|S1"),
    (np.zeros((5, 3), dtype="datetime64[s]"), "datetime64"),
])
def test_npy_of_non_real_dtype_is_refused(tmp_path, array, dtype_text):
    np.save(tmp_path / "a.npy", array)
    with pytest.raises(DataFormatError, match=rf"a\.npy: array has dtype {dtype_text}.*must be real numbers"):
        load_point_cloud(str(tmp_path / "a.npy"), compute_superpoints=False)


def test_npy_object_array_is_refused_without_unpickling(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((5, 3), dtype=object), allow_pickle=True)
    with pytest.raises(DataFormatError, match=r"a\.npy: not a readable \.npy array.*allow_pickle=False"):
        load_point_cloud(str(tmp_path / "a.npy"), compute_superpoints=False)


def test_npz_archive_named_npy_is_refused(tmp_path):
    np.savez(tmp_path / "a.npz", xyz=np.zeros((5, 3)))
    os.rename(tmp_path / "a.npz", tmp_path / "a.npy")
    with pytest.raises(DataFormatError, match=r"a\.npy: holds several arrays"):
        load_point_cloud(str(tmp_path / "a.npy"), compute_superpoints=False)


@pytest.mark.parametrize("name", ["scans.npy", "room.txt", "folder"])
def test_directory_as_input_says_it_is_a_directory(tmp_path, name):
    (tmp_path / name).mkdir()
    with pytest.raises(DataFormatError, match=rf"{name}: is a directory, not a file"):
        load_point_cloud(str(tmp_path / name), compute_superpoints=False)


def test_text_reader_names_a_directory_and_a_missing_file(tmp_path):
    from sphmask.io.text import read_text_table

    with pytest.raises(DataFormatError, match=r"is a directory, not a file"):
        read_text_table(str(tmp_path))
    with pytest.raises(DataFormatError, match=r"nope\.txt: file not found"):
        read_text_table(str(tmp_path / "nope.txt"))


def test_georeferenced_cloud_gets_the_superpoints_of_the_same_cloud_near_the_origin(tmp_path):
    # A float64 cloud at UTM-like coordinates: float32 steps by 0.5 m there, so superpoints must be
    # computed in a local frame.
    rng = np.random.default_rng(0)
    near = np.concatenate([rng.uniform(0, 2, (3000, 2)), np.zeros((3000, 1))], 1)
    near[:1500, 2] = near[:1500, 0]  # a ramp next to a plane
    far = near + np.array([512_345.25, 5_012_345.5, 123.0])
    np.save(tmp_path / "near.npy", near - (near.min(0) + near.max(0)) / 2)
    np.save(tmp_path / "far.npy", far)
    a = load_point_cloud(str(tmp_path / "near.npy")).superpoints
    b = load_point_cloud(str(tmp_path / "far.npy")).superpoints
    assert np.array_equal(a, b) and len(np.unique(a)) > 1
