"""Superpoints: Felzenszwalb-Huttenlocher graph segmentation with ScanNet Segmentator semantics.

ScanNet's ``*_vh_clean_2.0.010000.segs.json`` files and the official Spherical Mask preprocessing
(``dataset/scannetv2/prepare_superpoint.py``, the ``segmentator`` package with its defaults) both
segment the mesh with the same algorithm (spec §1.2, App. F.7):

1. vertex normal = running mean of the unit normals of the faces around the vertex (not
   renormalised);
2. graph = the three edges of every face, ``(v0, v1), (v0, v2), (v2, v1)``, duplicates kept;
3. weight of edge ``a -> b`` = ``1 - <n_a, n_b>``, squared if the edge is convex
   (``<n_b, (p_b - p_a) / |p_b - p_a|> > 0``);
4. edges sorted by weight; an edge joins its two segments when its weight is at most
   ``Int(C) + k_thresh / |C|`` of both (``Int`` = weight of the edge that last grew ``C``);
5. a second pass over the sorted edges joins every segment smaller than ``min_vertices`` with
   its neighbour;
6. each vertex gets the id of its segment's representative vertex (union-find root).

The ops here reproduce that, in float32 and in the same arithmetic order, so the segments are the
reference ones. Two documented differences: edges of equal weight are visited in input order (the
reference's ``std::sort`` leaves their order unspecified), and zero-area faces are left out of the
vertex normals (the reference divides by zero and spreads NaN). The graph segmentation is
sequential; tensors on another device are segmented on CPU and the ids returned on their device.
"""
import numbers
from typing import Optional

import numpy as np
import torch

from sphmask.ops import _validate
from sphmask.ops._validate import FLOAT_DTYPES, HALF_DTYPES, INT_DTYPES, check_finite, check_tensor

__all__ = ["segment_graph", "segment_mesh", "segment_points"]

# Any float dtype is accepted; the segmentation itself always runs in float32 (module docstring).
_REAL = FLOAT_DTYPES + HALF_DTYPES


def _check_threshold(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    return value


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_indices(name: str, idx: torch.Tensor, n: int, n_name: str) -> None:
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise ValueError(f"{name} must hold indices in [0, {n_name}) = [0, {n}), got values in "
                         f"[{int(idx.min())}, {int(idx.max())}]")


def _finish(ids: torch.Tensor, contiguous: bool, device: torch.device) -> torch.Tensor:
    if contiguous:
        # Ranks of the representative ids: exactly what the `segmentator` package returns.
        ids = torch.unique(ids, return_inverse=True)[1]
    return ids.to(device)


def segment_graph(
    edges: torch.Tensor,
    weights: torch.Tensor,
    num_vertices: int,
    k_thresh: float = 0.01,
    min_size: int = 20,
    *,
    contiguous: bool = False,
) -> torch.Tensor:
    """Felzenszwalb-Huttenlocher segmentation of a weighted graph (ScanNet Segmentator's rules).

    Args:
        edges: int32/int64 ``[E, 2]`` vertex pairs in ``[0, num_vertices)``. Direction only
            matters for which vertex ends up naming a segment; self-loops and duplicates are allowed.
        weights: float (16/32/64-bit) ``[E]`` finite edge weights (dissimilarities), used in float32.
        num_vertices: number of vertices ``V`` (vertices without edges are their own segment).
        k_thresh: the scale ``c`` of the merge criterion ``w <= Int(C) + c / |C|``; larger gives
            larger segments.
        min_size: segments smaller than this are joined with a neighbour in a second pass (only
            possible where an edge connects them).
        contiguous: return ids ``0..K-1`` (ordered by representative vertex) instead of the
            representative vertex ids.

    Returns:
        int64 ``[V]`` segment id per vertex, on the device of ``edges``: by default the index of
        a representative vertex of the segment (ScanNet ``segIndices`` format).
    """
    edges = check_tensor("edges", edges, INT_DTYPES, shape=(None, 2))
    weights = check_tensor("weights", weights, _REAL, shape=(edges.shape[0],))
    device = _validate.check_same_device(edges=edges, weights=weights)
    num_vertices = _check_count("num_vertices", num_vertices, 0)
    k_thresh = _check_threshold("k_thresh", k_thresh)
    min_size = _check_count("min_size", min_size, 0)
    check_finite("weights", weights)
    edges = edges.to("cpu", torch.int64)
    _check_indices("edges", edges, num_vertices, "num_vertices")
    ids = _validate.ops().segment_graph(edges, weights.to("cpu", torch.float32), num_vertices,
                                        k_thresh, min_size)
    return _finish(ids, contiguous, device)


def segment_mesh(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    k_thresh: float = 0.01,
    min_vertices: int = 20,
    *,
    contiguous: bool = False,
) -> torch.Tensor:
    """Superpoints of a triangle mesh, as ScanNet's Segmentator / the ``segmentator`` package.

    Defaults are ScanNet's (``kThresh=0.01``, ``segMinVerts=20``), which the official Spherical
    Mask preprocessing uses.

    Args:
        vertices: float (16/32/64-bit) ``[V, 3]`` finite positions (computed in float32).
        faces: int32/int64 ``[F, 3]`` vertex indices in ``[0, V)``. Zero-area faces (repeated
            indices or collinear corners) are allowed: they add no normal, but their edges stay in
            the graph. Vertices in no face stay single-vertex segments.
        k_thresh: merge scale (see :func:`segment_graph`).
        min_vertices: minimum segment size enforced by the second pass.
        contiguous: ``False`` (default) returns ScanNet ``segIndices``: per vertex the index of a
            representative vertex of its segment. ``True`` returns ids ``0..K-1`` numbered by
            representative, which is what ``segmentator.segment_mesh`` returns.

    Returns:
        int64 ``[V]`` on the device of ``vertices``; empty for an empty mesh.
    """
    vertices = check_tensor("vertices", vertices, _REAL, shape=(None, 3))
    faces = check_tensor("faces", faces, INT_DTYPES, shape=(None, 3))
    device = _validate.check_same_device(vertices=vertices, faces=faces)
    k_thresh = _check_threshold("k_thresh", k_thresh)
    min_vertices = _check_count("min_vertices", min_vertices, 0)
    check_finite("vertices", vertices)
    vertices = vertices.to("cpu", torch.float32)
    faces = faces.to("cpu", torch.int64)
    _check_indices("faces", faces, vertices.shape[0], "V")
    ops = _validate.ops()
    normals = ops.segment_vertex_normals(vertices, faces)
    edges = faces[:, [0, 1, 0, 2, 2, 1]].reshape(-1, 2)
    weights = ops.segment_edge_weights(vertices, normals, edges, True)
    ids = ops.segment_graph(edges, weights, vertices.shape[0], k_thresh, min_vertices)
    return _finish(ids, contiguous, device)


def _knn(xyz: np.ndarray, k: int, workers: int) -> np.ndarray:
    """int64 ``[N, k]``: the k nearest other points of every point, nearest first."""
    from scipy.spatial import cKDTree

    n = xyz.shape[0]
    _, nbr = cKDTree(xyz).query(xyz, k=k + 1, workers=workers)
    nbr = nbr.reshape(n, k + 1)
    # A point is normally its own first neighbour; with duplicate points it may sit elsewhere in
    # the row or be crowded out, so drop it wherever it is and keep the k nearest others.
    keep = np.argsort(nbr == np.arange(n)[:, None], axis=1, kind="stable")[:, :k]
    return np.take_along_axis(nbr, keep, axis=1).astype(np.int64)


def _knn_edges(nbr: np.ndarray) -> torch.Tensor:
    """Undirected kNN graph: int64 ``[E, 2]`` rows ``(i, j)``, ``i < j``, sorted, no duplicates."""
    import scipy.sparse

    n, k = nbr.shape
    i = np.repeat(np.arange(n, dtype=np.int64), k)
    j = nbr.reshape(-1)
    # A sparse matrix in canonical form is a linear-time dedupe-and-sort of (row, col) pairs.
    adj = scipy.sparse.csr_matrix((np.ones(i.shape[0], np.int8), (np.minimum(i, j), np.maximum(i, j))),
                                  shape=(n, n))
    adj.sum_duplicates()
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(adj.indptr))
    return torch.from_numpy(np.stack([rows, adj.indices.astype(np.int64)], axis=1))


def _pca_normals(xyz: torch.Tensor, nbr: np.ndarray) -> torch.Tensor:
    """Unit normals ``[N, 3]``: least-variance axis of each point and its neighbours (sign arbitrary)."""
    idx = torch.from_numpy(np.concatenate([np.arange(nbr.shape[0])[:, None], nbr], axis=1))
    local = xyz.double()[idx]
    local = local - local.mean(dim=1, keepdim=True)
    cov = local.transpose(1, 2) @ local
    return torch.linalg.eigh(cov)[1][:, :, 0].float().contiguous()


def _check_colors(colors, xyz: torch.Tensor) -> torch.Tensor:
    colors = check_tensor("colors", colors, FLOAT_DTYPES + (torch.uint8,), shape=(xyz.shape[0], 3))
    _validate.check_same_device(xyz=xyz, colors=colors)
    colors = colors.to("cpu", torch.float32)
    check_finite("colors", colors)
    if colors.numel() and (float(colors.min()) < 0 or float(colors.max()) > 255):
        raise ValueError(f"colors must be RGB in [0, 255], got values in [{float(colors.min())}, "
                         f"{float(colors.max())}]")
    return colors


def _color_distance(colors: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """float32 ``[E]``: RGB distance of each edge's ends, scaled to [0, 1]."""
    diff = colors[edges[:, 0]] - colors[edges[:, 1]]
    return torch.linalg.vector_norm(diff, dim=1) / np.float32(255.0 * np.sqrt(3.0))


def segment_points(
    xyz: torch.Tensor,
    k: int = 16,
    k_thresh: float = 0.001,
    min_points: int = 20,
    normals: Optional[torch.Tensor] = None,
    *,
    colors: Optional[torch.Tensor] = None,
    color_weight: float = 1.0,
    contiguous: bool = False,
) -> torch.Tensor:
    """Superpoints of a point cloud without faces: the mesh algorithm on a kNN graph.

    The graph joins every point to its ``k`` nearest neighbours (symmetrised, one edge per pair).
    Without ``normals``, each point's normal is the least-variance axis of its neighbourhood (PCA
    of the point and its ``k`` neighbours); such normals have no consistent sign, so the edge
    weight is ``1 - |<n_a, n_b>|`` and the convexity rule of the mesh version (which needs an
    orientation) is not applied. Given ``normals``, they are taken as oriented and the weight is
    the mesh one, convexity rule included (what ``segmentator.segment_point`` computes for an
    edge list).

    The default ``k_thresh`` is ten times smaller than the mesh one because a 17-point PCA normal
    is smoother than a mesh vertex normal (fewer small weights from noise) and each point has
    about three times as many graph neighbours as a mesh vertex; with 0.001 the segment counts
    on noisy synthetic rooms come out close to :func:`segment_mesh` on the same surfaces
    (docs/ops/segment.md has the measurements).

    With ``colors``, every edge weight gets ``color_weight * |rgb_a - rgb_b| / (255 sqrt 3)`` added
    (0 for equal colours, ``color_weight`` for black next to white): pictures, doors and whiteboards
    are coplanar with their wall and only their colour sets them apart, and the second pass then
    joins small segments to the neighbour closest in colour as well as in normal. On the
    superpoint benchmark (docs/benchmarks.md, "Superpoints from points") ``color_weight=1`` raised
    purity from 0.95 to 0.98 at the same count; the default (no ``colors``) is unchanged.

    Args:
        xyz: float (16/32/64-bit) ``[N, 3]`` finite positions.
        k: neighbours per point (fewer if ``N <= k``).
        k_thresh: merge scale (see :func:`segment_graph`).
        min_points: minimum segment size enforced by the second pass.
        normals: optional float (16/32/64-bit) ``[N, 3]`` oriented normals.
        colors: optional uint8/float32/float64 ``[N, 3]`` RGB in ``[0, 255]``.
        color_weight: scale of the colour term (>= 0; only used with ``colors``).
        contiguous: ids ``0..K-1`` instead of representative point ids (see :func:`segment_mesh`).

    Returns:
        int64 ``[N]`` on the device of ``xyz``; empty for an empty cloud.
    """
    xyz = check_tensor("xyz", xyz, _REAL, shape=(None, 3))
    k = _check_count("k", k, 1)
    k_thresh = _check_threshold("k_thresh", k_thresh)
    min_points = _check_count("min_points", min_points, 0)
    check_finite("xyz", xyz)
    device = xyz.device
    if normals is not None:
        normals = check_tensor("normals", normals, _REAL, shape=(xyz.shape[0], 3))
        _validate.check_same_device(xyz=xyz, normals=normals)
        check_finite("normals", normals)
    if colors is not None:
        colors = _check_colors(colors, xyz)
        color_weight = _check_threshold("color_weight", color_weight)
    n = xyz.shape[0]
    xyz = xyz.to("cpu", torch.float32)
    k = min(k, n - 1)
    if k < 1:
        return _finish(torch.arange(n, dtype=torch.int64), contiguous, device)
    nbr = _knn(xyz.numpy(), k, torch.get_num_threads())
    edges = _knn_edges(nbr)
    ops = _validate.ops()
    if normals is None:
        weights = ops.segment_edge_weights(xyz, _pca_normals(xyz, nbr), edges, False)
    else:
        weights = ops.segment_edge_weights(xyz, normals.to("cpu", torch.float32), edges, True)
    if colors is not None:
        weights = weights + _color_distance(colors, edges) * color_weight
    ids = ops.segment_graph(edges, weights, n, k_thresh, min_points)
    return _finish(ids, contiguous, device)
