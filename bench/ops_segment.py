"""Superpoint segmentation: ``segment_mesh`` and ``segment_points`` on synthetic scanned rooms.

Cases (sizes = vertex / point counts):

* ``mesh V=...``: :func:`sphmask.ops.segment_mesh` on :func:`box_room_mesh`; compared with the
  ``segmentator`` package (Karbo123/segmentator, what the official preprocessing calls) when it is
  importable. It is not on PyPI (it is built from its repository with CMake), so the row is
  usually absent; docs/ops/segment.md reports a side-by-side run.
* ``points N=...``: :func:`sphmask.ops.segment_points` on the vertices of the same room (normals
  estimated by PCA), to show the cost of the kNN graph and the normal estimation.
"""
import numpy as np
import torch

from _common import row

GROUP = "segment"


def _grid(origin, u, v, nu, nv):
    """Vertices ``[(nu+1)(nv+1), 3]`` and faces ``[2 nu nv, 3]`` of a planar grid; faces wind
    so their normal is ``u x v``."""
    a = np.linspace(0.0, 1.0, nu + 1)
    b = np.linspace(0.0, 1.0, nv + 1)
    aa, bb = np.meshgrid(a, b, indexing="ij")
    verts = np.asarray(origin) + aa.reshape(-1, 1) * np.asarray(u) + bb.reshape(-1, 1) * np.asarray(v)
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    p00, p10, p01, p11 = idx[:-1, :-1], idx[1:, :-1], idx[:-1, 1:], idx[1:, 1:]
    faces = np.concatenate([np.stack([p00, p10, p11], -1).reshape(-1, 3),
                            np.stack([p00, p11, p01], -1).reshape(-1, 3)])
    return verts, faces


def box_room_mesh(n_vertices: int, noise: float = 0.003, seed: int = 0):
    """A closed 8 x 6 x 3 m box (floor, ceiling, four walls) triangulated on a square grid with about
    ``n_vertices`` welded vertices, each moved by Gaussian noise of ``noise`` metres (a scanned
    surface is never flat). Returns ``(vertices float32 [V, 3], faces int64 [F, 3])``."""
    size = np.array([8.0, 6.0, 3.0])
    area = 2 * (size[0] * size[1] + size[0] * size[2] + size[1] * size[2])
    h = np.sqrt(area / n_vertices)
    n = np.maximum(1, np.round(size / h).astype(int))
    x, y, z = np.eye(3) * size
    o = np.zeros(3)
    sides = [  # (origin, u, v, nu, nv), u x v pointing into the room
        (o, y, x, n[1], n[0]), (o + z, x, y, n[0], n[1]),
        (o, x, z, n[0], n[2]), (o + y, z, x, n[2], n[0]),
        (o, z, y, n[2], n[1]), (o + x, y, z, n[1], n[2]),
    ]
    verts, faces, base = [], [], 0
    for origin, u, v, nu, nv in sides:
        gv, gf = _grid(origin, u, v, nu, nv)
        verts.append(gv)
        faces.append(gf + base)
        base += len(gv)
    verts = np.concatenate(verts)
    faces = np.concatenate(faces)
    # Weld the copies of the vertices on the box edges so the surface is one connected mesh.
    key = np.round(verts / (h * 1e-3)).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    verts = verts[first]
    faces = inverse.reshape(-1)[faces]
    rng = np.random.default_rng(seed)
    verts = verts - size / 2 + rng.normal(0.0, noise, verts.shape)
    return torch.from_numpy(verts.astype(np.float32)), torch.from_numpy(faces.astype(np.int64))


def run(sizes, repeats):
    from sphmask.ops import segment_mesh, segment_points

    try:
        import segmentator
    except ImportError:
        segmentator = None
    rows = []
    for n in sizes:
        vertices, faces = box_room_mesh(n)
        case = f"mesh V={vertices.shape[0]}"
        k = len(torch.unique(segment_mesh(vertices, faces)))
        rows.append(row(GROUP, case, "sphmask", lambda: segment_mesh(vertices, faces), repeats,
                        memory=True, note=f"{faces.shape[0]} faces, {k} segments"))
        if segmentator is not None:
            rows.append(row(GROUP, case, "segmentator", lambda: segmentator.segment_mesh(vertices, faces),
                            repeats, memory=True))
    for n in sizes:
        vertices, _ = box_room_mesh(n)
        case = f"points N={vertices.shape[0]}"
        k = len(torch.unique(segment_points(vertices)))
        rows.append(row(GROUP, case, "sphmask", lambda: segment_points(vertices), repeats,
                        memory=True, note=f"k=16, {k} segments"))
    return rows
