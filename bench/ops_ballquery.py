"""ball_query against scipy's cKDTree (build + query_ball_point, all cores).

One synthetic indoor scene per size, 2048 centres drawn from its points, radius 0.2 m, k = 32,
as aggregator 1 groups its seeds. cKDTree returns every neighbour (distance <= r, sorted lists);
the second cKDTree row adds what it takes to turn those lists into sphmask's output (first k
indices, padded), the like-for-like comparison. The note says whether the first-k rows equal
sphmask's (they can differ only for points at exactly distance r). The kernel-alone row shows what
the wrapper's input checks (NaN/inf scan of the points, offsets) add.
"""
import numpy as np
import torch

from _common import indoor_scene, row

GROUP = "ballquery"
NUM_CENTERS = 2048
RADIUS = 0.2
K = 32


def first_k(lists, k):
    """cKDTree's neighbour lists -> [Q, k] first-k indices padded with the first (-1 if none)."""
    out = np.full((len(lists), k), -1, np.int64)
    for q, hits in enumerate(lists):
        if hits:
            h = hits[:k]
            out[q] = h[0]
            out[q, : len(h)] = h
    return out


def run(sizes, repeats):
    from sphmask.ops import ball_query

    try:
        from scipy.spatial import cKDTree
    except ImportError:
        cKDTree = None

    rows = []
    for n in sizes:
        xyz_np, _ = indoor_scene(n)
        xyz = torch.from_numpy(xyz_np)
        pick = np.sort(np.random.default_rng(1).choice(n, NUM_CENTERS, replace=False))
        centers_np = xyz_np[pick]
        centers = torch.from_numpy(centers_np)
        offsets, center_offsets = torch.tensor([0, n]), torch.tensor([0, NUM_CENTERS])
        case = f"{n} pts, {NUM_CENTERS} centres, r {RADIUS}, k {K}"

        def ours():
            return ball_query(xyz, offsets, centers, center_offsets, RADIUS, K)

        def kernel_only():
            return torch.ops.sphmask.ball_query(xyz, offsets, centers, center_offsets, RADIUS, K)

        idx, counts = ours()
        rows.append(row(GROUP, case, "sphmask ball_query", ours, repeats, memory=True,
                        note=f"mean count {float(counts.float().mean()):.1f} of {K}"))
        rows.append(row(GROUP, case, "sphmask kernel alone (no input checks)", kernel_only, repeats,
                        note="torch.ops.sphmask.ball_query"))
        if cKDTree is not None:
            def kdtree():
                return cKDTree(xyz_np).query_ball_point(centers_np, RADIUS, workers=-1)

            def kdtree_first_k():
                return first_k(kdtree(), K)

            same = np.array_equal(kdtree_first_k(), idx.numpy())
            rows.append(row(GROUP, case, "scipy cKDTree build + query_ball_point", kdtree, repeats,
                            memory=True, note="all neighbours, lists"))
            rows.append(row(GROUP, case, "scipy cKDTree build + query + first-k", kdtree_first_k, repeats,
                            memory=True, note="same indices as sphmask" if same else "differs from sphmask"))
    return rows
