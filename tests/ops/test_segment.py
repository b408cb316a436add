"""segment_graph / segment_mesh / segment_points against a plain-Python Felzenszwalb-Huttenlocher
segmentation with ScanNet Segmentator's rules, written here from the algorithm's description."""
import numpy as np
import pytest
import torch

from sphmask.ops import segment_graph, segment_mesh, segment_points
from sphmask.ops import segment as segment_module
from tests.conftest import num_threads, requires_cuda

F32 = np.float32


# ----------------------------------------------------------------------------------------------
# Independent reference
# ----------------------------------------------------------------------------------------------
def ref_segment_graph(edges, weights, num_vertices, c, min_size):
    """Felzenszwalb-Huttenlocher with ScanNet's conventions, in float32 scalars: edges by weight
    (ties in input order), join when w <= Int + c/|C| on both sides, then a small-segment pass;
    union by rank where the second root wins ties; each vertex labelled by its root."""
    parent = list(range(num_vertices))
    rank = [0] * num_vertices
    size = [1] * num_vertices

    def root(x):
        while parent[x] != x:
            x = parent[x]
        return x

    def join(x, y):
        if rank[x] > rank[y]:
            parent[y] = x
            size[x] += size[y]
        else:
            parent[x] = y
            size[y] += size[x]
            if rank[x] == rank[y]:
                rank[y] += 1

    w = [F32(x) for x in np.asarray(weights, dtype=np.float32)]
    order = sorted(range(len(w)), key=lambda i: w[i])
    c = F32(c)
    thr = [c] * num_vertices
    for i in order:
        a, b = root(int(edges[i][0])), root(int(edges[i][1]))
        if a != b and w[i] <= thr[a] and w[i] <= thr[b]:
            join(a, b)
            a = root(a)
            thr[a] = F32(w[i] + c / F32(size[a]))
    for i in order:
        a, b = root(int(edges[i][0])), root(int(edges[i][1]))
        if a != b and (size[a] < min_size or size[b] < min_size):
            join(a, b)
    return np.array([root(v) for v in range(num_vertices)], dtype=np.int64)


def ref_vertex_normals(vertices, faces):
    """Running float32 mean of unit face normals per vertex; zero-area faces skipped."""
    v = np.asarray(vertices, np.float32)
    normals = np.zeros_like(v)
    count = np.zeros(len(v), np.int64)
    for tri in np.asarray(faces):
        p1, p2, p3 = v[tri[0]], v[tri[1]], v[tri[2]]
        cr = np.cross(p2 - p1, p3 - p1).astype(np.float32)
        length = np.float32(np.sqrt(np.float32(cr @ cr)))
        if not length > 0:
            continue
        fn = cr / length
        for x in tri:
            t = F32(1) / (F32(count[x]) + F32(1))
            normals[x] = t * fn + (F32(1) - t) * normals[x]
            count[x] += 1
    return normals


def ref_edge_weights(points, normals, edges, oriented=True):
    p = np.asarray(points, np.float32)
    n = np.asarray(normals, np.float32)
    out = []
    for a, b in np.asarray(edges):
        dot = F32(n[a] @ n[b])
        if not oriented:
            out.append(F32(1) - abs(dot))
            continue
        d = p[b] - p[a]
        length = np.float32(np.sqrt(np.float32(d @ d)))
        w = F32(1) - dot
        if length > 0 and F32(n[b] @ (d / length)) > 0:
            w = w * w
        out.append(w)
    return np.array(out, np.float32)


def grid_mesh(origin, u, v, nu, nv):
    a, b = np.meshgrid(np.linspace(0, 1, nu + 1), np.linspace(0, 1, nv + 1), indexing="ij")
    o, u, v = (np.asarray(x, float) for x in (origin, u, v))
    verts = o + a.reshape(-1, 1) * u + b.reshape(-1, 1) * v
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    p00, p10, p01, p11 = idx[:-1, :-1], idx[1:, :-1], idx[:-1, 1:], idx[1:, 1:]
    faces = np.concatenate([np.stack([p00, p10, p11], -1).reshape(-1, 3),
                            np.stack([p00, p11, p01], -1).reshape(-1, 3)])
    return verts, faces


def weld(parts):
    """Concatenate meshes and merge vertices at the same position."""
    verts, faces, base = [], [], 0
    for v, f in parts:
        verts.append(v)
        faces.append(f + base)
        base += len(v)
    verts, faces = np.concatenate(verts), np.concatenate(faces)
    _, first, inverse = np.unique(np.round(verts * 1e6).astype(np.int64), axis=0, return_index=True,
                                  return_inverse=True)
    return torch.tensor(verts[first], dtype=torch.float32), torch.tensor(inverse.reshape(-1)[faces])


def random_graph(rng, v, e, levels=None):
    edges = rng.integers(0, v, size=(e, 2))
    if levels:  # few distinct weights: many ties
        weights = rng.integers(0, levels, size=e).astype(np.float32) / levels
    else:
        weights = rng.random(e).astype(np.float32) ** 3
    return torch.from_numpy(edges), torch.from_numpy(weights)


def partition(ids):
    """Segments as a set of frozensets of vertex indices (independent of the ids used)."""
    groups = {}
    for i, s in enumerate(np.asarray(ids).tolist()):
        groups.setdefault(s, set()).add(i)
    return {frozenset(g) for g in groups.values()}


# ----------------------------------------------------------------------------------------------
# segment_graph
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("v,e,c,min_size,levels", [
    (10, 15, 0.5, 1, None), (50, 120, 0.3, 3, None), (200, 600, 1.0, 5, None),
    (300, 900, 2.0, 20, None), (200, 500, 0.5, 4, 4), (400, 1500, 3.0, 10, 8),
])
def test_segment_graph_matches_reference_on_random_graphs(v, e, c, min_size, levels):
    rng = np.random.default_rng(v + e)
    edges, weights = random_graph(rng, v, e, levels)
    got = segment_graph(edges, weights, v, c, min_size)
    want = ref_segment_graph(edges.numpy(), weights.numpy(), v, c, min_size)
    assert got.dtype == torch.int64
    np.testing.assert_array_equal(got.numpy(), want)


def test_segment_graph_negative_weights_match_reference():
    rng = np.random.default_rng(5)
    edges = torch.from_numpy(rng.integers(0, 60, size=(240, 2)))
    w = rng.choice(np.array([-0.75, -0.25, 0.0, 0.25, 1.5], np.float32), size=240)
    w[::7] = rng.standard_normal(len(w[::7])).astype(np.float32)
    got = segment_graph(edges, torch.from_numpy(w), 60, 0.5, 3)
    np.testing.assert_array_equal(got.numpy(), ref_segment_graph(edges.numpy(), w, 60, 0.5, 3))


def test_segment_graph_signed_zero_weights_are_equal():
    # 0.0 and -0.0 tie, so the first edge listed joins first and its second vertex is the root.
    edges = torch.tensor([[0, 1], [1, 0]])
    assert segment_graph(edges, torch.tensor([0.0, -0.0]), 2, min_size=1).tolist() == [1, 1]


def test_segment_graph_empty_graph_gives_empty_ids():
    out = segment_graph(torch.zeros(0, 2, dtype=torch.int64), torch.zeros(0), 0)
    assert out.shape == (0,) and out.dtype == torch.int64


def test_segment_graph_single_vertex_is_its_own_segment():
    out = segment_graph(torch.zeros(0, 2, dtype=torch.int64), torch.zeros(0), 1, min_size=20)
    assert out.tolist() == [0]


def test_segment_graph_isolated_vertices_stay_single_despite_min_size():
    edges = torch.tensor([[0, 1], [1, 2]])
    out = segment_graph(edges, torch.tensor([0.0, 0.0]), 5, k_thresh=1.0, min_size=20)
    assert out[3] == 3 and out[4] == 4
    assert out[0] == out[1] == out[2]


def test_segment_graph_equal_weights_are_visited_in_input_order():
    # Same pair, both directions, equal weight: the first edge listed decides the representative
    # (join(a, b) of two equal-rank roots makes b the root).
    w = torch.tensor([0.0, 0.0])
    assert segment_graph(torch.tensor([[0, 1], [1, 0]]), w, 2, min_size=1).tolist() == [1, 1]
    assert segment_graph(torch.tensor([[1, 0], [0, 1]]), w, 2, min_size=1).tolist() == [0, 0]


def test_segment_graph_all_equal_weights_match_reference():
    rng = np.random.default_rng(3)
    edges = torch.from_numpy(rng.integers(0, 80, size=(300, 2)))
    weights = torch.full((300,), 0.25)
    got = segment_graph(edges, weights, 80, 0.5, 4)
    np.testing.assert_array_equal(got.numpy(), ref_segment_graph(edges.numpy(), weights.numpy(), 80, 0.5, 4))


def test_segment_graph_min_size_merges_small_segment_into_neighbour():
    # A 10-vertex chain and a 3-vertex chain joined by one heavy edge.
    big = [[i, i + 1] for i in range(9)]
    small = [[10, 11], [11, 12]]
    edges = torch.tensor(big + small + [[9, 10]])
    weights = torch.tensor([0.0] * 11 + [5.0])
    separate = segment_graph(edges, weights, 13, k_thresh=0.1, min_size=3)
    assert len(set(separate.tolist())) == 2
    merged = segment_graph(edges, weights, 13, k_thresh=0.1, min_size=4)
    assert len(set(merged.tolist())) == 1


def test_segment_graph_ids_are_member_vertices():
    rng = np.random.default_rng(1)
    edges, weights = random_graph(rng, 100, 250)
    ids = segment_graph(edges, weights, 100, 0.5, 3)
    assert torch.equal(ids[ids], ids)


def test_segment_graph_contiguous_ids_rank_the_representatives():
    rng = np.random.default_rng(2)
    edges, weights = random_graph(rng, 100, 250)
    rep = segment_graph(edges, weights, 100, 0.5, 3)
    ids = segment_graph(edges, weights, 100, 0.5, 3, contiguous=True)
    assert torch.equal(ids, torch.unique(rep, return_inverse=True)[1])
    assert ids.max() + 1 == len(torch.unique(rep))


def test_segment_graph_accepts_int32_edges_and_float64_weights():
    rng = np.random.default_rng(4)
    edges, weights = random_graph(rng, 60, 150)
    want = segment_graph(edges, weights, 60, 0.5, 3)
    got = segment_graph(edges.int(), weights.double(), 60, 0.5, 3)
    assert torch.equal(got, want)


# ----------------------------------------------------------------------------------------------
# segment_mesh
# ----------------------------------------------------------------------------------------------
def noisy_box(n, noise, seed=0):
    size = np.array([2.0, 1.5, 1.0])
    x, y, z = np.eye(3) * size
    o = np.zeros(3)
    parts = [grid_mesh(o, y, x, n, n), grid_mesh(o + z, x, y, n, n), grid_mesh(o, x, z, n, n),
             grid_mesh(o + y, z, x, n, n), grid_mesh(o, z, y, n, n), grid_mesh(o + x, y, z, n, n)]
    v, f = weld(parts)
    v = v + torch.from_numpy(np.random.default_rng(seed).normal(0, noise, v.shape).astype(np.float32))
    return v, f


def test_vertex_normals_match_reference_running_mean():
    v, f = noisy_box(4, 0.01)
    got = torch.ops.sphmask.segment_vertex_normals(v, f)
    np.testing.assert_allclose(got.numpy(), ref_vertex_normals(v.numpy(), f.numpy()), rtol=0, atol=1e-6)


@pytest.mark.parametrize("oriented", [True, False])
def test_edge_weights_match_reference_formula(oriented):
    v, f = noisy_box(4, 0.01)
    normals = torch.ops.sphmask.segment_vertex_normals(v, f)
    edges = f[:, [0, 1, 0, 2, 2, 1]].reshape(-1, 2)
    got = torch.ops.sphmask.segment_edge_weights(v, normals, edges, oriented)
    want = ref_edge_weights(v.numpy(), normals.numpy(), edges.numpy(), oriented)
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("n,noise,k_thresh,min_vertices", [(3, 0.02, 0.01, 20), (5, 0.01, 0.01, 20),
                                                          (5, 0.03, 0.05, 5)])
def test_segment_mesh_matches_reference_pipeline(n, noise, k_thresh, min_vertices):
    v, f = noisy_box(n, noise)
    got = segment_mesh(v, f, k_thresh, min_vertices)
    normals = ref_vertex_normals(v.numpy(), f.numpy())
    edges = f.numpy()[:, [0, 1, 0, 2, 2, 1]].reshape(-1, 2)
    weights = ref_edge_weights(v.numpy(), normals, edges)
    want = ref_segment_graph(edges, weights, v.shape[0], k_thresh, min_vertices)
    np.testing.assert_array_equal(got.numpy(), want)


def test_segment_mesh_flat_plane_is_one_segment():
    v, f = grid_mesh((0, 0, 0), (1, 0, 0), (0, 1, 0), 12, 12)
    ids = segment_mesh(torch.tensor(v, dtype=torch.float32), torch.tensor(f))
    assert len(torch.unique(ids)) == 1


def test_segment_mesh_right_angle_gives_two_segments_one_per_plane():
    floor = grid_mesh((0, 0, 0), (1, 0, 0), (0, 1, 0), 10, 10)
    wall = grid_mesh((0, 0, 0), (0, 0, 1), (1, 0, 0), 10, 10)
    v, f = weld([floor, wall])
    ids = segment_mesh(v, f)
    assert len(torch.unique(ids)) == 2
    # Away from the shared edge every vertex is with its own plane.
    floor_ids = ids[(v[:, 2] == 0) & (v[:, 1] > 0.15)]
    wall_ids = ids[(v[:, 1] == 0) & (v[:, 2] > 0.15)]
    assert len(torch.unique(floor_ids)) == 1 and len(torch.unique(wall_ids)) == 1
    assert floor_ids[0] != wall_ids[0]


def test_segment_mesh_empty_mesh_gives_empty_ids():
    out = segment_mesh(torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.int64))
    assert out.shape == (0,) and out.dtype == torch.int64


def test_segment_mesh_vertices_without_faces_are_single_segments():
    out = segment_mesh(torch.rand(5, 3), torch.zeros(0, 3, dtype=torch.int64))
    assert out.tolist() == [0, 1, 2, 3, 4]


def test_segment_mesh_degenerate_faces_add_no_normal():
    v, f = noisy_box(3, 0.01)
    degenerate = torch.tensor([[0, 0, 1], [2, 3, 3], [4, 4, 4]])
    with_bad = torch.cat([f, degenerate])
    n_clean = torch.ops.sphmask.segment_vertex_normals(v, f)
    n_bad = torch.ops.sphmask.segment_vertex_normals(v, with_bad)
    assert torch.equal(n_clean, n_bad)
    ids = segment_mesh(v, with_bad)
    assert partition(ids) == partition(segment_mesh(v, f))


def test_segment_mesh_collinear_face_gives_finite_weights():
    v = torch.tensor([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0]])
    f = torch.tensor([[0, 1, 2], [0, 1, 3]])
    normals = torch.ops.sphmask.segment_vertex_normals(v, f)
    assert torch.isfinite(normals).all()
    assert normals[2].abs().sum() == 0  # only in the collinear face
    assert segment_mesh(v, f, min_vertices=1).shape == (4,)


def test_segment_mesh_contiguous_matches_segmentator_numbering():
    v, f = noisy_box(5, 0.02)
    rep = segment_mesh(v, f, 0.01, 5)
    ids = segment_mesh(v, f, 0.01, 5, contiguous=True)
    assert torch.equal(ids, torch.unique(rep, return_inverse=True)[1])


def test_segment_mesh_accepts_int32_faces_and_float64_vertices():
    v, f = noisy_box(5, 0.01)
    assert torch.equal(segment_mesh(v.double(), f.int()), segment_mesh(v, f))


def test_segment_mesh_same_result_with_1_and_2_threads():
    v, f = noisy_box(20, 0.01)  # 14,400 edges: several parallel chunks of edge weights
    with num_threads(1):
        a = segment_mesh(v, f)
    with num_threads(2):
        b = segment_mesh(v, f)
    assert torch.equal(a, b)


# ----------------------------------------------------------------------------------------------
# segment_points
# ----------------------------------------------------------------------------------------------
def box_points(n, size=(1.2, 0.8, 0.6), noise=0.0, seed=0):
    """Points uniformly on the six faces of a box; returns (xyz, face index per point)."""
    rng = np.random.default_rng(seed)
    s = np.asarray(size)
    areas = np.array([s[1] * s[2], s[1] * s[2], s[0] * s[2], s[0] * s[2], s[0] * s[1], s[0] * s[1]])
    face = rng.choice(6, size=n, p=areas / areas.sum())
    xyz = rng.random((n, 3)) * s
    axis, side = face // 2, face % 2
    xyz[np.arange(n), axis] = side * s[axis]
    xyz += rng.normal(0, noise, xyz.shape)
    return torch.tensor(xyz, dtype=torch.float32), face


def test_segment_points_box_gives_one_segment_per_face():
    xyz, face = box_points(20000)
    ids = segment_points(xyz).numpy()
    labels, counts = np.unique(ids, return_counts=True)
    big = labels[np.argsort(-counts)[:6]]
    majority = [np.bincount(face[ids == s], minlength=6).argmax() for s in big]
    assert sorted(majority) == list(range(6))
    for s, f in zip(big, majority):
        assert (face[ids == s] == f).mean() >= 0.95
    # What is left are thin strips along the box edges (PCA normals turn gradually there).
    assert len(labels) <= 8 and (~np.isin(ids, big)).mean() < 0.01


def test_segment_points_flat_plane_is_one_segment():
    rng = np.random.default_rng(0)
    xyz = np.c_[rng.random((2000, 2)), np.zeros(2000)]
    ids = segment_points(torch.tensor(xyz, dtype=torch.float32))
    assert len(torch.unique(ids)) == 1


def test_segment_points_with_given_normals_uses_oriented_weights():
    xyz, face = box_points(3000, noise=0.0)
    axis, side = face // 2, face % 2
    normals = np.zeros((len(face), 3), np.float32)
    normals[np.arange(len(face)), axis] = np.where(side == 1, 1.0, -1.0)  # outward
    ids = segment_points(xyz, normals=torch.from_numpy(normals), k_thresh=0.01)
    # Exact face normals: every in-face edge has weight 0, every cross-face edge 1.
    assert partition(ids) == partition(face)


def ref_segment_points_with_colors(xyz, rgb, k, k_thresh, min_points, color_weight):
    """Brute force: dense kNN, per-point eigen-decomposition, the weight formula per edge in
    float64 numpy, then the reference graph segmentation."""
    x = xyz.astype(np.float64)
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nbr = np.argsort(d, axis=1, kind="stable")[:, :k]
    normals = []
    for i in range(x.shape[0]):
        local = x[np.r_[i, nbr[i]]]
        local = local - local.mean(0)
        normals.append(np.linalg.eigh(local.T @ local)[1][:, 0])
    normals = np.array(normals)
    pairs = sorted({(min(i, j), max(i, j)) for i in range(x.shape[0]) for j in nbr[i]})
    e = np.array(pairs)
    w = 1 - np.abs((normals[e[:, 0]] * normals[e[:, 1]]).sum(1))
    w += color_weight * np.linalg.norm(rgb[e[:, 0]] - rgb[e[:, 1]], axis=1) / (255 * np.sqrt(3))
    return ref_segment_graph(e, w.astype(np.float32), x.shape[0], k_thresh, min_points)


@pytest.mark.parametrize("color_weight", [0.3, 1.0])
def test_segment_points_with_colors_matches_brute_force(color_weight):
    rng = np.random.default_rng(5)
    xyz, face = box_points(400, noise=0.002)
    rgb = (rng.integers(0, 256, (6, 3))[face] + rng.normal(0, 3, (len(face), 3))).clip(0, 255)
    ids = segment_points(xyz, k=8, k_thresh=0.01, min_points=5, colors=torch.tensor(rgb, dtype=torch.float32),
                         color_weight=color_weight)
    ref = ref_segment_points_with_colors(xyz.numpy(), rgb.astype(np.float32), 8, 0.01, 5, color_weight)
    assert partition(ids) == partition(ref)


def test_segment_points_colors_split_a_picture_coplanar_with_its_wall():
    rng = np.random.default_rng(0)
    xyz = np.c_[rng.random((4000, 2)), np.zeros(4000)]
    picture = (np.abs(xyz[:, 0] - 0.5) < 0.2) & (np.abs(xyz[:, 1] - 0.5) < 0.2)
    rgb = np.where(picture[:, None], [200, 40, 40], [220, 220, 215]) + rng.normal(0, 3, (4000, 3))
    xyz = torch.tensor(xyz, dtype=torch.float32)
    assert len(torch.unique(segment_points(xyz))) == 1  # geometry alone cannot see it
    ids = segment_points(xyz, colors=torch.tensor(rgb.clip(0, 255).astype(np.uint8))).numpy()
    for s in np.unique(ids):  # every superpoint is (almost) all picture or all wall
        assert min(picture[ids == s].mean(), 1 - picture[ids == s].mean()) < 0.02


def test_segment_points_without_colors_ignores_color_weight():
    xyz, _ = box_points(2000)
    assert torch.equal(segment_points(xyz), segment_points(xyz, color_weight=5.0))


def test_segment_points_fewer_points_than_k():
    xyz = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    assert segment_points(xyz, k=16, min_points=1).shape == (3,)
    assert segment_points(xyz[:1]).tolist() == [0]


def test_segment_points_empty_cloud_gives_empty_ids():
    out = segment_points(torch.zeros(0, 3))
    assert out.shape == (0,) and out.dtype == torch.int64


def test_knn_excludes_self_with_duplicate_points():
    xyz = np.repeat(np.random.default_rng(0).random((20, 3)), 3, axis=0).astype(np.float32)
    nbr = segment_module._knn(xyz, 4, 1)
    assert nbr.shape == (60, 4)
    assert not (nbr == np.arange(60)[:, None]).any()


def test_knn_edges_are_unique_sorted_pairs():
    nbr = np.array([[1, 2], [0, 2], [0, 1], [0, 1]])
    assert segment_module._knn_edges(nbr).tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3]]


def test_segment_points_same_result_with_1_and_2_threads():
    xyz, _ = box_points(3000, noise=0.003)
    with num_threads(1):
        a = segment_points(xyz)
    with num_threads(2):
        b = segment_points(xyz)
    assert torch.equal(a, b)


# ----------------------------------------------------------------------------------------------
# Bad inputs
# ----------------------------------------------------------------------------------------------
def test_bad_mesh_inputs_name_the_argument():
    v, f = torch.rand(4, 3), torch.tensor([[0, 1, 2], [1, 2, 3]])
    with pytest.raises(TypeError, match="vertices"):
        segment_mesh(v.int(), f)
    with pytest.raises(ValueError, match="vertices"):
        segment_mesh(torch.rand(4, 2), f)
    with pytest.raises(TypeError, match="faces"):
        segment_mesh(v, f.float())
    with pytest.raises(ValueError, match="faces"):
        segment_mesh(v, f[:, :2])
    with pytest.raises(ValueError, match=r"faces.*\[0, 4\)"):
        segment_mesh(v, torch.tensor([[0, 1, 4]]))
    with pytest.raises(ValueError, match="faces"):
        segment_mesh(v, torch.tensor([[0, -1, 2]]))
    with pytest.raises(ValueError, match="vertices.*NaN"):
        segment_mesh(torch.tensor([[0.0, 0, float("nan")]] * 4), f)
    with pytest.raises(ValueError, match="k_thresh"):
        segment_mesh(v, f, k_thresh=-0.1)
    with pytest.raises(TypeError, match="min_vertices"):
        segment_mesh(v, f, min_vertices=2.5)
    with pytest.raises(ValueError, match="same device"):
        segment_mesh(v, f.to("meta"))


def test_bad_graph_inputs_name_the_argument():
    e, w = torch.tensor([[0, 1]]), torch.tensor([0.5])
    with pytest.raises(ValueError, match="edges"):
        segment_graph(torch.tensor([[0, 2]]), w, 2)
    with pytest.raises(ValueError, match="weights"):
        segment_graph(e, torch.tensor([0.5, 0.1]), 2)
    with pytest.raises(ValueError, match="weights.*NaN"):
        segment_graph(e, torch.tensor([float("nan")]), 2)
    with pytest.raises(ValueError, match="num_vertices"):
        segment_graph(e, w, -1)
    with pytest.raises(TypeError, match="min_size"):
        segment_graph(e, w, 2, min_size=True)


def test_bad_point_inputs_name_the_argument():
    xyz = torch.rand(10, 3)
    with pytest.raises(ValueError, match="k must be >= 1"):
        segment_points(xyz, k=0)
    with pytest.raises(ValueError, match="normals"):
        segment_points(xyz, normals=torch.rand(9, 3))
    with pytest.raises(ValueError, match="xyz.*inf"):
        segment_points(torch.tensor([[float("inf"), 0, 0]] * 3))
    with pytest.raises(ValueError, match="min_points"):
        segment_points(xyz, min_points=-1)
    with pytest.raises(ValueError, match="colors"):
        segment_points(xyz, colors=torch.rand(9, 3))
    with pytest.raises(ValueError, match=r"colors must be RGB in \[0, 255\]"):
        segment_points(xyz, colors=torch.full((10, 3), 300.0))
    with pytest.raises(TypeError, match="colors"):
        segment_points(xyz, colors=torch.zeros(10, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="color_weight"):
        segment_points(xyz, colors=torch.zeros(10, 3), color_weight=-1.0)


def test_kernel_rejects_out_of_range_edges_without_crashing():
    with pytest.raises(RuntimeError, match="edges must index vertices"):
        torch.ops.sphmask.segment_graph(torch.tensor([[0, 7]]), torch.tensor([0.1]), 3, 0.01, 20)
    with pytest.raises(RuntimeError, match="faces must index vertices"):
        torch.ops.sphmask.segment_vertex_normals(torch.rand(3, 3), torch.tensor([[0, 1, 5]]))


@requires_cuda
def test_segment_mesh_on_cuda_returns_cpu_result_on_cuda():
    v, f = noisy_box(5, 0.01)
    out = segment_mesh(v.to("cuda"), f.to("cuda"))
    assert out.is_cuda
    assert torch.equal(out.cpu(), segment_mesh(v, f))
