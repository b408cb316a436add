"""PLY reading and writing (binary or ASCII) on top of ``plyfile``.

ScanNet meshes (``*_vh_clean_2.ply``) are binary little endian with vertex properties
``x, y, z, red, green, blue, alpha`` and a ``face`` element with ``list uchar int vertex_indices``;
``*_vh_clean_2.labels.ply`` adds a ``ushort label`` per vertex. :func:`read_ply` reads these and
most PLY files found in the wild (point clouds without faces, float colours, polygons), and turns
every way a file can be broken into a :class:`DataFormatError` naming the file. Files of MeshLab,
CloudCompare and Open3D (double coordinates, normals, alpha, ``vertex_index``, ``int`` list counts)
read as they are.
"""
import dataclasses
import warnings
from typing import Dict, Mapping, Optional

import numpy as np
import plyfile

from sphmask.io.atomic import atomic_path
from sphmask.io.colors import colors_to_255
from sphmask.io.errors import DataFormatError, require_file

_COLOR_NAMES = (("red", "green", "blue"), ("r", "g", "b"), ("diffuse_red", "diffuse_green", "diffuse_blue"))
_FACE_LIST_NAMES = ("vertex_indices", "vertex_index")


@dataclasses.dataclass
class PlyMesh:
    """Contents of a PLY file.

    Attributes:
        xyz: float64[V, 3] vertex coordinates (exact values of the file's float32/float64 data).
        rgb: float64[V, 3] colours in 0..255, or ``None`` if the file has none; read with the rule
            of :func:`sphmask.io.colors.colors_to_255` (``uchar`` as is, floats in [0, 1] scaled by
            255, floats in 0..255 as is, 16-bit ``ushort`` colour scaled to 0..255).
        faces: int64[F, 3] triangles (polygons fan-triangulated), or ``None`` for a point cloud.
        vertex: every vertex property by name (as stored, e.g. ``label``, ``alpha``, ``nx``).
    """

    xyz: np.ndarray
    rgb: Optional[np.ndarray]
    faces: Optional[np.ndarray]
    vertex: Dict[str, np.ndarray]

    @property
    def num_vertices(self) -> int:
        return int(self.xyz.shape[0])


def _read_plydata(path: str) -> plyfile.PlyData:
    require_file(path)
    try:
        with open(path, "rb") as f:
            head = f.read(3)
        if head != b"ply":
            raise DataFormatError(path, "not a PLY file (it does not start with 'ply')")
        # Triangle meshes (every ScanNet mesh) parse fast with a known list length; anything else
        # (polygons, faces of fewer than 3 vertices, ragged lists) makes that reader fail somewhere
        # in the face element, so any parse error retries with the general reader, whose error (a
        # really truncated or malformed file) is the one reported.
        with warnings.catch_warnings():
            # an empty list in an ASCII file (a legal 0-length property) makes numpy warn
            warnings.filterwarnings("ignore", "loadtxt: input contained no data", UserWarning)
            try:
                data = plyfile.PlyData.read(path, known_list_len={"face": {n: 3 for n in _FACE_LIST_NAMES}})
            except plyfile.PlyElementParseError:
                data = plyfile.PlyData.read(path)
        # Materialise memory maps so the file is closed and truncation surfaces here.
        for el in data.elements:
            el.data = np.array(el.data)
        return data
    except plyfile.PlyHeaderParseError as exc:
        raise DataFormatError(path, f"truncated or malformed PLY header ({exc})") from None
    except plyfile.PlyElementParseError as exc:
        raise DataFormatError(path, f"truncated or malformed PLY data ({exc})") from None
    except (ValueError, TypeError, EOFError, OSError, MemoryError, OverflowError) as exc:
        raise DataFormatError(path, f"unreadable PLY file ({type(exc).__name__}: {exc})") from None


def _scalar_column(path: str, element: plyfile.PlyElement, name: str) -> np.ndarray:
    """A numeric scalar property; list properties and anything non-numeric are refused by name."""
    prop = element.ply_property(name)
    if isinstance(prop, plyfile.PlyListProperty):
        raise DataFormatError(path, f"{element.name} property {name!r} is a list ({prop}); coordinates and "
                                    "colours must be scalar properties such as 'property float x'")
    col = element.data[name]
    if col.dtype.kind not in "iuf":
        raise DataFormatError(path, f"{element.name} property {name!r} has type {col.dtype}; a number is expected")
    return col


def _colors(path: str, vertex: plyfile.PlyElement) -> Optional[np.ndarray]:
    names = vertex.data.dtype.names
    for trio in _COLOR_NAMES:
        if all(n in names for n in trio):
            cols = [_scalar_column(path, vertex, n) for n in trio]
            dtype = np.result_type(*[c.dtype for c in cols])
            return colors_to_255(path, np.stack(cols, axis=1), dtype, what=f"vertex colours {'/'.join(trio)}")
    return None


def _face_column(path: str, face: plyfile.PlyElement) -> np.ndarray:
    names = face.data.dtype.names
    name = next((n for n in _FACE_LIST_NAMES if n in names), None)
    if name is None:
        raise DataFormatError(path, f"face element has no vertex_indices property (has {list(names)})")
    prop = face.ply_property(name)
    if not isinstance(prop, plyfile.PlyListProperty) or np.dtype(prop.val_dtype).kind not in "iu":
        raise DataFormatError(path, f"face property {name!r} must be a list of integer vertex indices, e.g. "
                                    f"'property list uchar int {name}'; the file has '{prop}'")
    return face.data[name]


def _faces(path: str, data: plyfile.PlyData, num_vertices: int) -> Optional[np.ndarray]:
    if "face" not in data or data["face"].count == 0:
        return None
    col = _face_column(path, data["face"])
    if col.dtype != object and col.ndim == 2:
        faces = col.astype(np.int64)
    else:
        tris = []
        for i, poly in enumerate(col):
            poly = np.asarray(poly, dtype=np.int64).reshape(-1)
            if poly.shape[0] < 3:
                raise DataFormatError(path, f"face {i} has only {poly.shape[0]} vertex indices; every face needs at least 3 "
                                            "(a triangle or a polygon)")
            tris.append(np.stack([np.full(poly.shape[0] - 2, poly[0]), poly[1:-1], poly[2:]], axis=1))
        faces = np.concatenate(tris, axis=0)
    if faces.size and (faces.min() < 0 or faces.max() >= num_vertices):
        bad = int(faces.min()) if faces.min() < 0 else int(faces.max())
        raise DataFormatError(path, f"face refers to vertex {bad}, but the file has {num_vertices} vertices")
    return faces


def read_ply(path: str, allow_empty: bool = False) -> PlyMesh:
    """Read a PLY mesh or point cloud.

    Raises :class:`DataFormatError` (naming ``path``) if the path is missing or a directory, the
    file is not PLY, truncated or malformed, has no ``vertex`` element or no scalar ``x, y, z``,
    holds non-finite coordinates, colours outside the shared colour rule (:mod:`sphmask.io.colors`),
    faces that are not integer lists of at least 3 vertices or point at missing vertices, or has no
    vertices (unless ``allow_empty``).
    """
    path = str(path)
    data = _read_plydata(path)
    if "vertex" not in data:
        raise DataFormatError(path, f"no 'vertex' element (elements: {[e.name for e in data.elements]})")
    vertex = data["vertex"]
    v = vertex.data
    missing = [n for n in ("x", "y", "z") if n not in v.dtype.names]
    if missing:
        raise DataFormatError(path, f"vertex element lacks {missing} (has {list(v.dtype.names)})")
    if v.shape[0] == 0 and not allow_empty:
        raise DataFormatError(path, "the file has no vertices (empty scene)")
    xyz = np.stack([_scalar_column(path, vertex, n) for n in ("x", "y", "z")], axis=1).astype(np.float64)
    if not np.isfinite(xyz).all():
        bad = int(np.flatnonzero(~np.isfinite(xyz).all(1))[0])
        raise DataFormatError(path, f"vertex {bad} has a NaN or inf coordinate")
    return PlyMesh(
        xyz=xyz,
        rgb=_colors(path, vertex),
        faces=_faces(path, data, v.shape[0]),
        vertex={n: np.asarray(v[n]) for n in v.dtype.names},
    )


_PLY_TYPES = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int", "u4": "uint",
              "f4": "float", "f8": "double"}


def write_ply(
    path: str,
    vertex: Mapping[str, np.ndarray],
    faces: Optional[np.ndarray] = None,
    text: bool = False,
) -> None:
    """Write a PLY file atomically.

    Args:
        vertex: ordered mapping property name -> array[V] (its dtype becomes the PLY type, e.g.
            float32 -> ``float``, uint8 -> ``uchar``, uint16 -> ``ushort``).
        faces: int[F, 3] triangles, written as ``list uchar int vertex_indices`` (ScanNet's layout).
        text: ASCII instead of binary little endian.
    """
    names = list(vertex)
    count = len(vertex[names[0]]) if names else 0
    cols = {n: np.asarray(vertex[n]) for n in names}
    bad = [n for n, c in cols.items() if c.dtype.str[1:] not in _PLY_TYPES]
    if bad:
        raise TypeError(f"vertex properties {bad} have dtypes PLY cannot store ({[str(cols[n].dtype) for n in bad]})")
    arr = np.empty(count, dtype=[(n, "<" + cols[n].dtype.str[1:]) for n in names])
    for n in names:
        arr[n] = cols[n]
    faces = None if faces is None else np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    with atomic_path(path) as tmp:
        if text:
            elements = [plyfile.PlyElement.describe(arr, "vertex")]
            if faces is not None:
                farr = np.empty(faces.shape[0], dtype=[("vertex_indices", "<i4", (3,))])
                farr["vertex_indices"] = faces
                elements.append(plyfile.PlyElement.describe(
                    farr, "face", len_types={"vertex_indices": "u1"}, val_types={"vertex_indices": "i4"}))
            plyfile.PlyData(elements, text=True).write(tmp)
            return
        # Binary: header plus the raw little-endian records. (plyfile writes list properties one
        # row at a time, ~40x slower for a ScanNet-sized mesh.)
        header = ["ply", "format binary_little_endian 1.0", f"element vertex {count}"]
        header += [f"property {_PLY_TYPES[arr.dtype[n].str[1:]]} {n}" for n in names]
        if faces is not None:
            header += [f"element face {faces.shape[0]}", "property list uchar int vertex_indices"]
        header.append("end_header")
        with open(tmp, "wb") as f:
            f.write(("\n".join(header) + "\n").encode("ascii"))
            f.write(arr.tobytes())
            if faces is not None:
                rec = np.empty(faces.shape[0], dtype=[("n", "u1"), ("idx", "<i4", (3,))])
                rec["n"] = 3
                rec["idx"] = faces
                f.write(rec.tobytes())
