"""Superpoints from points alone: purity and count on scan-like rooms (docs/benchmarks.md).

    python bench/superpoints.py [--rooms 6] [--seed 100] [--write docs/benchmarks.md]

Rooms: the ``realistic`` synthetic preset (touching objects, fused meshes, pictures and doors
flush with walls), exported as points only by :func:`sphmask.data.synthetic_surface.scan_points`
(uneven density that follows a few sensor positions, 5 mm depth noise, ~1,000 points/m^2 mean).
Truth is the generator's object per point (walls, floor and clutter count as objects).

* purity = share of points whose superpoint's majority object is their own;
* count = superpoints per 100k points (per 100k vertices for the mesh row);
* time = seconds for all rooms, and relative to ``segment_points`` with today's defaults, run in
  the same process (lever rows include building the shared kNN graph and PCA normals).

Rows: ``segment_points`` (defaults); a voxel grid whose cell is chosen so that its count equals
the defaults'; ``segment_mesh`` on the same rooms' meshes (the upper reference); then one lever at
a time (see docs/benchmarks.md), each built from the public ``segment_graph`` and options of
``segment_points``.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _common import report, torch_machine_info  # noqa: E402

from sphmask.data.synthetic_realistic import generate_realistic_scene  # noqa: E402
from sphmask.data.synthetic_surface import scan_points  # noqa: E402
from sphmask.ops import segment_mesh, segment_points  # noqa: E402
from sphmask.ops.segment import _knn, _knn_edges, _pca_normals  # noqa: E402

BEGIN, END = "<!-- superpoints-begin -->", "<!-- superpoints-end -->"


def purity(seg: np.ndarray, truth: np.ndarray) -> float:
    _, s = np.unique(seg, return_inverse=True)
    _, t = np.unique(truth, return_inverse=True)
    s, t = s.reshape(-1), t.reshape(-1)
    width = int(t.max()) + 1
    counts = np.bincount(s * width + t, minlength=(int(s.max()) + 1) * width)
    return float(counts.reshape(-1, width).max(1).sum() / seg.shape[0])


def voxel_ids(xyz: np.ndarray, cell: float) -> np.ndarray:
    return np.unique(np.floor(xyz / cell).astype(np.int64), axis=0, return_inverse=True)[1].reshape(-1)


def voxel_at_count(xyz: np.ndarray, target: int):
    """Voxel grid whose cell count is closest to ``target`` (bisection on the cell size)."""
    lo, hi = 0.01, 2.0
    for _ in range(30):
        mid = np.sqrt(lo * hi)
        if np.unique(voxel_ids(xyz, mid)).size > target:
            lo = mid
        else:
            hi = mid
    return voxel_ids(xyz, hi), hi


class Graph:
    """The kNN graph, PCA normals and colours of one cloud, computed once for all levers."""

    def __init__(self, xyz, rgb, k=16):
        self.xyz = torch.from_numpy(xyz)
        self.rgb = rgb.astype(np.float32) / 255.0
        self.nbr = _knn(xyz, k, torch.get_num_threads())
        self.edges = _knn_edges(self.nbr)
        self.normals = _pca_normals(self.xyz, self.nbr)
        e = self.edges.numpy()
        self.length = np.linalg.norm(xyz[e[:, 0]] - xyz[e[:, 1]], axis=1)
        self.spacing = np.linalg.norm(xyz[self.nbr[:, 3]] - xyz, axis=1)  # 4th neighbour: local density

    def normal_weight(self, normals=None):
        from sphmask.ops import _validate

        n = self.normals if normals is None else normals
        return _validate.ops().segment_edge_weights(self.xyz, n, self.edges, False).numpy()

    def color_distance(self):
        e = self.edges.numpy()
        return np.linalg.norm(self.rgb[e[:, 0]] - self.rgb[e[:, 1]], axis=1) / np.sqrt(3.0)


def run_graph(g, weights, k_thresh=0.001, min_points=20, keep=None):
    from sphmask.ops import segment_graph

    edges, w = g.edges, torch.from_numpy(np.ascontiguousarray(weights, dtype=np.float32))
    if keep is not None:
        edges, w = edges[torch.from_numpy(keep)], w[torch.from_numpy(keep)]
    return segment_graph(edges, w, g.xyz.shape[0], k_thresh, min_points).numpy()


def region_merge(g, ids, min_points=20, color=0.0):
    """Boundary-aware size prior: instead of the second pass's lowest single edge, every segment
    smaller than ``min_points`` joins the adjacent segment whose *segment* normal (the principal
    axis of its points' normal tensors) is most parallel to its own, minus ``color`` times their
    mean-colour distance; repeated until no small segment has a neighbour."""
    import scipy.sparse
    import scipy.sparse.csgraph

    seg = np.unique(ids, return_inverse=True)[1].reshape(-1)
    n = g.normals.numpy().astype(np.float64)
    outer = n[:, :, None] * n[:, None, :]
    e = g.edges.numpy()
    for _ in range(20):
        count = seg.max() + 1
        size = np.bincount(seg, minlength=count)
        a, b = seg[e[:, 0]], seg[e[:, 1]]
        cross = a != b
        a, b = np.r_[a[cross], b[cross]], np.r_[b[cross], a[cross]]
        keep = size[a] < min_points
        if not keep.any():
            break
        a, b = a[keep], b[keep]
        tensor = np.zeros((count, 3, 3))
        np.add.at(tensor, seg, outer)
        axis = np.linalg.eigh(tensor)[1][:, :, 2]
        score = np.abs((axis[a] * axis[b]).sum(1))
        if color:
            mean = np.stack([np.bincount(seg, g.rgb[:, c], count) for c in range(3)], 1) / size[:, None]
            score -= color * np.linalg.norm(mean[a] - mean[b], axis=1) / np.sqrt(3.0)
        order = np.lexsort((-score, a))
        first = np.r_[True, a[order][1:] != a[order][:-1]]
        pa, pb = a[order][first], b[order][first]
        adj = scipy.sparse.coo_matrix((np.ones(pa.size), (pa, pb)), shape=(count, count))
        seg = scipy.sparse.csgraph.connected_components(adj, directed=False)[1][seg]
    return seg


def levers(g):
    """name -> function returning ids; each changes one thing from the defaults and computes its
    weights itself (so its time is comparable), on the shared kNN graph and PCA normals."""
    wn, color = g.normal_weight, g.color_distance
    out = {"defaults via segment_graph": lambda: run_graph(g, wn())}
    for c in (0.0005, 0.002, 0.004):
        out[f"k_thresh {c}"] = lambda c=c: run_graph(g, wn(), k_thresh=c)
    for lam in (0.2, 0.5, 1.0, 2.0, 4.0):
        out[f"colour, w + {lam}·Δrgb"] = lambda lam=lam: run_graph(g, wn() + lam * color())
    out["colour 1.0 + k_thresh 0.05"] = lambda: run_graph(g, wn() + color(), k_thresh=0.05)
    out["colour 1.0 + min_points 10"] = lambda: run_graph(g, wn() + color(), min_points=10)
    out["normals from 8 neighbours"] = lambda: run_graph(g, wn(_pca_normals(g.xyz, g.nbr[:, :8])))
    out["edges <= 2.5x local spacing"] = lambda: run_graph(
        g, wn(), keep=g.length <= 2.5 * np.maximum(g.spacing[g.edges[:, 0]], g.spacing[g.edges[:, 1]]))
    out["w + 0.002·length/spacing"] = lambda: run_graph(
        g, wn() + 0.002 * g.length / np.maximum(g.spacing[g.edges[:, 0]], 1e-6))
    out["min_points 0 (no size prior)"] = lambda: run_graph(g, wn(), min_points=0)
    out["min_points 60"] = lambda: run_graph(g, wn(), min_points=60)
    out["size prior by segment normals"] = lambda: region_merge(g, run_graph(g, wn(), min_points=0))
    out["size prior by segment normals, min 40"] = lambda: region_merge(g, run_graph(g, wn(), min_points=0), 40)
    out["size prior by segment normals + colour"] = lambda: region_merge(
        g, run_graph(g, wn() + color(), min_points=0), 20, 1.0)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rooms", type=int, default=6)
    p.add_argument("--seed", type=int, default=100)
    p.add_argument("--density", type=float, default=1000.0, help="mean points per m^2")
    p.add_argument("--write", help="markdown file whose superpoint section is replaced by the results")
    args = p.parse_args()

    stats = {}  # name -> [purity*points, count, points, seconds]

    def add(name, ids, truth, seconds):
        s = stats.setdefault(name, [0.0, 0, 0, 0.0])
        s[0] += purity(ids, truth) * ids.shape[0]
        s[1] += np.unique(ids).size
        s[2] += ids.shape[0]
        s[3] += seconds

    for i in range(args.rooms):
        scene = generate_realistic_scene(i, seed=args.seed)
        rng = np.random.default_rng([args.seed, i, 7])
        xyz, rgb, truth = scan_points(rng, scene.vertices.astype(np.float64), scene.faces, scene.colors,
                                      scene.vertex_object, points_per_m2=args.density)
        t0 = time.perf_counter()
        ids = segment_points(torch.from_numpy(xyz)).numpy()
        add("segment_points (defaults)", ids, truth, time.perf_counter() - t0)
        t0 = time.perf_counter()
        ids_c = segment_points(torch.from_numpy(xyz), colors=torch.from_numpy(rgb)).numpy()
        add("segment_points(colors=rgb), color_weight 1", ids_c, truth, time.perf_counter() - t0)
        vox, cell = voxel_at_count(xyz, np.unique(ids).size)
        add("voxel grid, same count", vox, truth, 0.0)
        t0 = time.perf_counter()
        mesh_ids = segment_mesh(torch.from_numpy(scene.vertices), torch.from_numpy(scene.faces)).numpy()
        add("segment_mesh on the mesh (reference)", mesh_ids, scene.vertex_object, time.perf_counter() - t0)
        t0 = time.perf_counter()
        g = Graph(xyz, rgb)
        base = time.perf_counter() - t0
        for name, fn in levers(g).items():
            t0 = time.perf_counter()
            ids = fn()
            add(name, ids, truth, base + time.perf_counter() - t0)
        print(f"room {i}: {scene.room_type}, {xyz.shape[0]} points, {scene.vertices.shape[0]} vertices", flush=True)

    ref = stats["segment_points (defaults)"][3]
    lines = ["| method | purity | superpoints / 100k | seconds, all rooms | time / defaults |",
             "|---|---:|---:|---:|---:|"]
    for name, (pw, count, n, sec) in stats.items():
        t = "— | —" if name.startswith("voxel") else f"{sec:.2f} | {sec / ref:.2f}"
        lines.append(f"| {name} | {pw / n:.4f} | {1e5 * count / n:,.0f} | {t} |")
    total = stats["segment_points (defaults)"][2]
    note = (f"{args.rooms} realistic rooms (seed {args.seed}), {total:,} points in all, "
            f"`python bench/superpoints.py --rooms {args.rooms} --seed {args.seed}`; "
            "the machine is shared with other engineers, so times are indicative")
    report("\n".join(lines), torch_machine_info(), note, args.write, (BEGIN, END), "Superpoints from points")


if __name__ == "__main__":
    main()
