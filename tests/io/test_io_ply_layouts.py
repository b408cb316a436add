"""read_ply on the layouts real PLY writers produce, and a named error for each odd layout."""
import numpy as np
import pytest
from ply_writers import square, write_raw_ply

from sphmask.data.pointcloud import load_point_cloud
from sphmask.io.errors import DataFormatError
from sphmask.io.ply import read_ply

RGB = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]], dtype=np.uint8)


def _with(vertex, **cols):
    out = dict(vertex)
    out.update(cols)
    return out


def _rgb(dtype, scale=1.0):
    c = (RGB.astype(np.float64) * scale).astype(dtype)
    return {"red": c[:, 0], "green": c[:, 1], "blue": c[:, 2]}


# ------------------------------------------------------------------ layouts of real writers


def test_meshlab_layout_float_xyz_normals_rgba_and_face_colours(tmp_path):
    v, f = square()
    normals = {"nx": np.zeros(4, "f4"), "ny": np.zeros(4, "f4"), "nz": np.ones(4, "f4")}
    vertex = {**v, **normals, **_rgb("u1"), "alpha": np.full(4, 255, "u1")}
    face_rgb = {"red": np.array([1, 2], "u1"), "green": np.array([3, 4], "u1"), "blue": np.array([5, 6], "u1")}
    path = write_raw_ply(tmp_path / "meshlab.ply", vertex, f, face_extra=face_rgb, comments=["VCGLIB generated"])
    m = read_ply(str(path))
    np.testing.assert_array_equal(m.xyz, np.stack([v["x"], v["y"], v["z"]], 1))
    np.testing.assert_array_equal(m.rgb, RGB)
    np.testing.assert_array_equal(m.faces, f)
    np.testing.assert_array_equal(m.vertex["alpha"], 255)


def test_open3d_layout_double_xyz_double_normals_uint_indices(tmp_path):
    v, f = square("f8")
    v = {k: c + 1e6 for k, c in v.items()}  # double precision kept exactly
    vertex = {**v, "nx": np.zeros(4), "ny": np.zeros(4), "nz": np.ones(4), **_rgb("u1")}
    m = read_ply(str(write_raw_ply(tmp_path / "o3d.ply", vertex, f, index_type="u4")))
    np.testing.assert_array_equal(m.xyz, np.stack([v["x"], v["y"], v["z"]], 1))
    np.testing.assert_array_equal(m.rgb, RGB)
    np.testing.assert_array_equal(m.faces, f)


def test_cloudcompare_layout_point_cloud_with_scalar_fields(tmp_path):
    v, _ = square()
    vertex = {**v, **_rgb("u1"), "scalar_Intensity": np.arange(4, dtype="f4")}
    m = read_ply(str(write_raw_ply(tmp_path / "cc.ply", vertex)))
    assert m.faces is None
    np.testing.assert_array_equal(m.rgb, RGB)


@pytest.mark.parametrize("count_type,index_type", [("u1", "i4"), ("i4", "i4"), ("u1", "u4"), ("u2", "u2"), ("i1", "i2")])
@pytest.mark.parametrize("index_name", ["vertex_indices", "vertex_index"])
def test_face_list_count_and_index_types_of_other_writers(tmp_path, count_type, index_type, index_name):
    v, f = square()
    path = write_raw_ply(tmp_path / "m.ply", v, f, count_type=count_type, index_type=index_type, index_name=index_name)
    np.testing.assert_array_equal(read_ply(str(path)).faces, f)


@pytest.mark.parametrize("text", [False, True])
def test_big_endian_and_ascii_polygons_are_fan_triangulated(tmp_path, text):
    v, _ = square("f8")
    path = write_raw_ply(tmp_path / "q.ply", v, [[0, 1, 2, 3], [0, 1, 2]], endian=">", text=text)
    np.testing.assert_array_equal(read_ply(str(path)).faces, [[0, 1, 2], [0, 2, 3], [0, 1, 2]])


def test_list_typed_extra_vertex_property_is_ignored(tmp_path):
    path = tmp_path / "l.ply"
    path.write_text("ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\n"
                    "property list uchar float texture\nend_header\n0 0 0 2 1 2\n1 1 1 0\n")
    np.testing.assert_array_equal(read_ply(str(path)).xyz, [[0, 0, 0], [1, 1, 1]])


# ------------------------------------------------------------------ odd layouts: one named error each


@pytest.mark.parametrize("prop", ["x", "red"])
def test_list_typed_coordinate_or_colour_property_is_named(tmp_path, prop):
    props = ["float x", "float y", "float z", "uchar red", "uchar green", "uchar blue"]
    props = [f"list uchar {p}" if p.endswith(" " + prop) else p for p in props]
    row = " ".join("1 0" if p.startswith("list") else "0" for p in props)
    path = tmp_path / "l.ply"
    path.write_text("ply\nformat ascii 1.0\nelement vertex 2\n" + "".join(f"property {p}\n" for p in props)
                    + f"end_header\n{row}\n{row}\n")
    with pytest.raises(DataFormatError, match=rf"l\.ply: vertex property '{prop}' is a list \(property list uchar"):
        read_ply(str(path))


@pytest.mark.parametrize("text", [False, True])
@pytest.mark.parametrize("faces,bad,size", [([[0, 1, 2], [0, 1]], 1, 2), ([[0, 1], [0, 1, 2]], 0, 2),
                                            ([[0, 1, 2], [3]], 1, 1), ([[0, 1, 2], []], 1, 0)])
def test_face_of_fewer_than_3_vertices_is_named_not_called_truncated(tmp_path, text, faces, bad, size):
    v, _ = square()
    path = write_raw_ply(tmp_path / "f.ply", v, faces, text=text)
    with pytest.raises(DataFormatError, match=rf"f\.ply: face {bad} has only {size} vertex indices; every face needs "
                                              "at least 3"):
        read_ply(str(path))


def test_float_face_indices_are_refused_not_truncated(tmp_path):
    v, f = square()
    path = write_raw_ply(tmp_path / "f.ply", v, f, index_type="f4")
    with pytest.raises(DataFormatError, match=r"face property 'vertex_indices' must be a list of integer vertex "
                                              r"indices.*'property list uchar float vertex_indices'"):
        read_ply(str(path))


def test_scalar_face_vertex_indices_property_is_refused(tmp_path):
    v, _ = square()
    path = write_raw_ply(tmp_path / "f.ply", v, None)
    text = path.read_bytes().replace(b"end_header\n", b"element face 1\nproperty int vertex_indices\nend_header\n")
    path.write_bytes(text + np.array([3], "<i4").tobytes())
    with pytest.raises(DataFormatError, match=r"must be a list of integer vertex indices.*'property int vertex_indices'"):
        read_ply(str(path))


def test_truncated_binary_face_data_is_still_reported_as_truncated(tmp_path):
    v, f = square()
    path = write_raw_ply(tmp_path / "t.ply", v, f)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataFormatError, match=r"t\.ply: truncated or malformed PLY data"):
        read_ply(str(path))


def test_directory_as_input_says_directory_not_file_not_found(tmp_path):
    (tmp_path / "scans.ply").mkdir()
    for fn in (read_ply, load_point_cloud):
        with pytest.raises(DataFormatError, match=r"scans\.ply: is a directory, not a file"):
            fn(str(tmp_path / "scans.ply"))
    with pytest.raises(DataFormatError, match=r"missing\.ply: file not found"):
        read_ply(str(tmp_path / "missing.ply"))
