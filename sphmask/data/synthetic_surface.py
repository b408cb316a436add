"""Scan-like surfaces for the realistic synthetic rooms (docs/synthetic.md, ``realistic`` preset).

A reconstructed scan is not a set of clean CAD parts: surfaces hidden behind or under furniture
are missing, touching objects are fused into one connected surface, and colour carries lighting,
texture and sensor noise. This module turns the parts of a generated room into such a mesh:

* :func:`cut_hidden` removes wall and floor faces hidden by furniture (the wall behind a cabinet,
  the floor under a bed, the wall behind a door or a picture);
* :func:`stitch` joins parts that touch with small triangles, so the mesh has one connected
  component per group of touching objects rather than one per part;
* :func:`scan_colors` shades (two lights, ambient occlusion near the floor), textures (wood grain,
  planks, tiles, fabric, printed pictures) and adds colour noise and a per-room white balance;
* :func:`scan_points` samples a points-only scan from the mesh with uneven density and sensor noise
  (the superpoint benchmark, bench/superpoints.py).
"""
from typing import Tuple

import numpy as np

# Materials of :func:`scan_colors` (one per vertex).
PLAIN, WOOD, FABRIC, PLANKS, TILES, PAINT, ART, METAL = range(8)


def face_normals(verts: np.ndarray, faces: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Unit normals ``[F, 3]`` (zero for degenerate faces) and areas ``[F]``."""
    p = verts[faces]
    c = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    length = np.linalg.norm(c, axis=1)
    return c / np.maximum(length, 1e-12)[:, None], 0.5 * length


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals ``[V, 3]`` (zero where a vertex has no face)."""
    fn, area = face_normals(verts, faces)
    acc = np.zeros_like(verts)
    for k in range(3):
        np.add.at(acc, faces[:, k], fn * area[:, None])
    return acc / np.maximum(np.linalg.norm(acc, axis=1), 1e-12)[:, None]


def boundary_vertices(faces: np.ndarray, num_vertices: int) -> np.ndarray:
    """bool ``[V]``: vertices on an edge that only one face uses (a hole's rim, an open box edge)."""
    e = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    key = e[:, 0] * num_vertices + e[:, 1]
    uniq, count = np.unique(key, return_counts=True)
    edge = uniq[count == 1]
    out = np.zeros(num_vertices, dtype=bool)
    out[edge // num_vertices] = True
    out[edge % num_vertices] = True
    return out


def cut_hidden(verts, faces, structure_face, boxes) -> np.ndarray:
    """bool ``[F]`` faces to keep: structure faces (walls, floor) whose centroid lies in one of the
    hidden regions are dropped. ``boxes``: ``(R [3, 3], t [3], lo [3], hi [3])`` regions, a point
    ``p`` being inside when ``lo < R^T (p - t) < hi`` (an object's frame and extent)."""
    keep = np.ones(faces.shape[0], dtype=bool)
    idx = np.flatnonzero(structure_face)
    cen = verts[faces[idx]].mean(1)
    for R, t, lo, hi in boxes:
        local = (cen - t) @ R
        inside = np.all((local > lo) & (local < hi), axis=1)
        keep[idx[inside]] = False
    return keep


def _foreign_pairs(verts, part, radius, queries, targets, k):
    """For each vertex of ``queries`` within its ``radius`` of a vertex of ``targets`` in another
    part: ``(v, u1, u2)``, u1 the nearest such vertex and u2 the next nearest of u1's part. Rows
    whose ``k`` nearest are all of their own part and all within the radius (a small dense part
    crowding out its neighbour) are searched again with a larger ``k``."""
    from scipy.spatial import cKDTree

    if queries.size == 0 or targets.size < 2:
        return np.zeros((0, 3), dtype=np.int64)
    tree = cKDTree(verts[targets])
    out = []
    while queries.size and k <= 1024:
        kk = min(k, targets.size)
        dist, j = tree.query(verts[queries], k=kk, distance_upper_bound=2 * float(radius[queries].max()))
        valid = j < targets.size
        near = valid & (dist <= radius[queries, None])
        nbr = targets[np.where(valid, j, 0)]
        foreign = near & (part[nbr] != part[queries][:, None])
        found = foreign.any(1)
        rows = np.flatnonzero(found)
        c1 = np.argmax(foreign[rows], axis=1)
        u1 = nbr[rows, c1]
        same = valid[rows] & (part[nbr[rows]] == part[u1][:, None])
        same[np.arange(rows.size), c1] = False
        ok = same.any(1)
        u2 = nbr[rows, np.argmax(same, axis=1)]
        out.append(np.stack([queries[rows], u1, u2], axis=1)[ok])
        crowded = ~found & near.all(1) & (kk < targets.size)
        queries, k = queries[crowded], 4 * k
    return np.concatenate(out) if out else np.zeros((0, 3), dtype=np.int64)


def stitch(verts, faces, part, structure, contact: float, seam: float) -> np.ndarray:
    """Triangles ``[S, 3]`` that fuse touching parts, oriented like the surfaces they join.

    Every vertex within ``contact`` of another part, and every boundary vertex within ``seam`` of
    another part (a floor hole's rim next to the furniture standing in it, a leg's open end on the
    floor; a wall or the floor is one side of the pair), gets a triangle to the two nearest vertices
    of that part. ``structure`` (bool ``[V]``, walls and floor) and the other vertices are searched
    apart, so that a dense object never hides the coarse floor next to it.
    """
    boundary = boundary_vertices(faces, verts.shape[0])
    s_idx, o_idx = np.flatnonzero(structure), np.flatnonzero(~structure)
    wide = np.where(boundary, seam, contact)
    tight = np.full(verts.shape[0], contact)
    # Between two objects only ``contact`` counts: the wide seam radius is for the coarse walls
    # and floor, whose vertices may lie a whole spacing away from the furniture they meet.
    tri = np.concatenate([_foreign_pairs(verts, part, wide, s_idx, s_idx, 8),
                          _foreign_pairs(verts, part, wide, s_idx, o_idx, 4),
                          _foreign_pairs(verts, part, wide, o_idx, s_idx, 4),
                          _foreign_pairs(verts, part, tight, o_idx, o_idx, 24)])
    normals = vertex_normals(verts, faces)
    fn, area = face_normals(verts, tri)
    good = area > 1e-10
    tri, fn = tri[good], fn[good]
    flip = np.einsum("ij,ij->i", fn, normals[tri[:, 0]] + normals[tri[:, 1]]) < 0
    tri[flip] = tri[flip][:, [0, 2, 1]]
    return tri.astype(np.int64)


_PRIMES = (0x85EBCA6B, 0xC2B2AE35, 0x27D4EB2F, 0x9E3779B9)


def _hash01(cells: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer cell ``[N, D]`` (D <= 4)."""
    h = np.full(cells.shape[0], salt * 0x9E3779B1 & 0xFFFFFFFF, dtype=np.uint64)
    for d in range(cells.shape[1]):
        h ^= cells[:, d].astype(np.int64).astype(np.uint64) * np.uint64(_PRIMES[d])
        h = (h * np.uint64(0x165667B1) + np.uint64(d + 1)) & np.uint64(0xFFFFFFFF)
        h ^= h >> np.uint64(15)
    return (h & np.uint64(0xFFFFFF)).astype(np.float64) / float(1 << 24)


def _value_noise(p: np.ndarray, cell: float, salt: int) -> np.ndarray:
    """Smooth noise in [0, 1): trilinear interpolation of cell values ``cell`` metres apart."""
    q = p / cell
    i = np.floor(q).astype(np.int64)
    f = q - i
    f = f * f * (3 - 2 * f)
    out = np.zeros(p.shape[0])
    for corner in range(8):
        o = np.array([(corner >> d) & 1 for d in range(3)])
        w = np.prod(np.where(o == 1, f, 1 - f), axis=1)
        out += w * _hash01(i + o, salt)
    return out


def scan_colors(rng, verts, normals, base, material, obj_key, light_noise=1.0) -> np.ndarray:
    """uint8 ``[V, 3]`` colours: ``base`` float ``[V, 3]`` modulated by the ``material`` texture
    (per vertex), shaded by normals ``[V, 3]`` (room frame, z up) and noised. ``obj_key`` int
    ``[V]`` seeds per-object texture phases (grain direction, picture motifs)."""
    col = base.astype(np.float64).copy()
    salt = int(rng.integers(1, 2**31 - 1))
    key_phase = _hash01(obj_key[:, None], salt)
    m = material
    s = m == WOOD
    if s.any():
        ang = key_phase[s] * np.pi
        coord = verts[s, 0] * np.cos(ang) + verts[s, 1] * np.sin(ang) + 0.3 * verts[s, 2]
        grain = np.sin(2 * np.pi * coord / 0.035 + 4 * _value_noise(verts[s], 0.08, salt + 1))
        col[s] *= (1 + 0.1 * grain)[:, None]
    s = m == FABRIC
    if s.any():
        col[s] *= (0.9 + 0.2 * _hash01(np.floor(verts[s] / 0.006).astype(np.int64), salt + 2)
                   + 0.1 * (_value_noise(verts[s], 0.06, salt + 3) - 0.5))[:, None]
    s = m == PLANKS
    if s.any():
        along = rng.integers(0, 2)
        plank = np.floor(verts[s, 1 - along] / rng.uniform(0.12, 0.2)).astype(np.int64)
        seg = np.floor(verts[s, along] / 1.2 + 0.37 * plank).astype(np.int64)
        tone = _hash01(np.stack([plank, seg], 1), salt + 4)
        grain = np.sin(2 * np.pi * verts[s, along] / 0.05 + 5 * _value_noise(verts[s], 0.1, salt + 5))
        col[s] *= (0.85 + 0.3 * tone + 0.05 * grain)[:, None]
    s = m == TILES
    if s.any():
        size = rng.uniform(0.2, 0.6)
        q = verts[s, :2] / size
        frac = np.abs(q - np.round(q)).min(1) * size
        tone = _hash01(np.floor(q).astype(np.int64), salt + 6)
        col[s] *= (0.93 + 0.14 * tone)[:, None]
        col[s] = np.where((frac < 0.006)[:, None], col[s] * 0.6, col[s])
    s = m == PAINT
    if s.any():
        col[s] *= (0.94 + 0.12 * _value_noise(verts[s], 0.9, salt + 7))[:, None]
    s = m == ART
    if s.any():
        cell = np.floor(verts[s] / 0.06).astype(np.int64)
        motif = _hash01(np.concatenate([cell, obj_key[s, None]], 1), salt + 8)
        palette = rng.uniform(20, 240, (8, 3))
        col[s] = palette[(motif * 8).astype(np.int64)] * 0.7 + col[s] * 0.3
    s = m == METAL
    if s.any():
        col[s] *= (0.85 + 0.3 * _value_noise(verts[s], 0.15, salt + 9))[:, None]

    # Two ceiling lights (unsigned: some surfaces' normals point inwards) and an ambient term;
    # darker towards the floor (ambient occlusion) and away from the lights.
    lights = rng.normal(0, 1, (2, 3))
    lights[:, 2] = np.abs(lights[:, 2]) + 1.0
    lights /= np.linalg.norm(lights, axis=1, keepdims=True)
    diffuse = 0.6 * np.abs(normals @ lights[0]) + 0.25 * np.abs(normals @ lights[1])
    ao = 0.75 + 0.25 * np.clip(verts[:, 2] / 0.4, 0, 1)
    centre = verts[:, :2].mean(0) + rng.normal(0, 1.0, 2)
    falloff = 1.0 - 0.2 * light_noise * np.tanh(np.linalg.norm(verts[:, :2] - centre, axis=1) / 4.0)
    shade = (0.45 + diffuse) * ao * falloff
    gain = rng.uniform(0.8, 1.15) * rng.normal(1.0, 0.05, 3)
    col = col * shade[:, None] * gain + rng.normal(0, rng.uniform(3, 8), col.shape)
    return np.clip(np.rint(col), 0, 255).astype(np.uint8)


def scan_points(rng, verts, faces, colors, vertex_label, points_per_m2: float = 2500.0,
                noise: float = 0.005, views: int = 4) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A points-only scan of a mesh: ``(xyz float32 [N, 3], rgb uint8 [N, 3], label int64 [N])``.

    ``points_per_m2`` is the mean density over the surface. Points are sampled on the faces with a
    density that follows a few virtual sensor positions
    (dense near them, ~5x sparser far away) and a smooth random field, displaced along the
    surface normal by Gaussian noise of ``noise`` metres (depth noise) plus a third of it in every
    direction; each point takes the colour of its face's corners (barycentric mix, plus noise) and
    the label of the nearest corner.
    """
    fn, area = face_normals(verts, faces)
    cen = verts[faces].mean(1)
    lo, hi = verts.min(0), verts.max(0)
    sensors = rng.uniform(lo, hi, (views, 3))
    sensors[:, 2] = rng.uniform(1.0, 1.8, views)
    d = np.linalg.norm(cen[:, None] - sensors[None], axis=2).min(1)
    density = 1.0 / (1.0 + (d / 1.5) ** 2)
    density *= 0.4 + 1.2 * _value_noise(cen, 0.8, int(rng.integers(1, 2**31 - 1)))
    expected = area * density
    total = max(1, int(round(points_per_m2 * area.sum())))
    face = rng.choice(faces.shape[0], size=total, p=expected / expected.sum())
    r1, r2 = rng.random(total), rng.random(total)
    sq = np.sqrt(r1)
    bary = np.stack([1 - sq, sq * (1 - r2), sq * r2], axis=1)
    corner = verts[faces[face]]
    xyz = np.einsum("nk,nkd->nd", bary, corner)
    xyz += fn[face] * rng.normal(0, noise, (total, 1)) + rng.normal(0, noise / 3, (total, 3))
    rgb = np.einsum("nk,nkd->nd", bary, colors[faces[face]].astype(np.float64)) + rng.normal(0, 4, (total, 3))
    label = vertex_label[faces[face, np.argmax(bary, axis=1)]]
    return xyz.astype(np.float32), np.clip(np.rint(rgb), 0, 255).astype(np.uint8), label.astype(np.int64)
