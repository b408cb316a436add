"""A stand-in segmentation model and test clouds for the segment tests (not a test module)."""
import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import torch
from scipy.spatial import cKDTree

from sphmask.data.pointcloud import PointCloud

RADIUS = 0.08  # component linking distance of the stand-in model (bar points are 0.05 m apart)


def components(xyz: np.ndarray, radius: float = RADIUS) -> np.ndarray:
    """Connected components of the radius graph, numbered from the lowest point index (brute force)."""
    n = xyz.shape[0]
    pairs = cKDTree(xyz).query_pairs(radius, output_type="ndarray")
    graph = scipy.sparse.csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return scipy.sparse.csgraph.connected_components(graph, directed=False)[1]


class ComponentModel(torch.nn.Module):
    """Stand-in with the inference contract: one instance per connected component of the points it
    sees; class 1 if the component's red is positive, else 2; score = (green + 1) / 2. Colour is
    constant per object, so class and score do not depend on which part of an object a block sees."""

    def __init__(self, radius: float = RADIUS):
        super().__init__()
        self.radius = radius
        self.calls = 0

    def forward(self, batch):
        self.calls += 1
        out = []
        offsets = batch["point_offsets"].tolist()
        for b, sid in enumerate(batch["scan_ids"]):
            xyz = batch["coords_float"][offsets[b]:offsets[b + 1]].double().numpy()
            rgb = batch["feats"][offsets[b]:offsets[b + 1]].numpy()
            comp = components(xyz, self.radius)
            instances, semantic = [], np.zeros(xyz.shape[0], dtype=np.int64)
            for c in range(comp.max() + 1):
                mask = comp == c
                label = 1 if rgb[mask, 0][0] > 0 else 2
                semantic[mask] = label + 1
                instances.append({"mask": torch.from_numpy(mask), "label_id": label,
                                  "score": float((rgb[mask, 1][0] + 1) / 2)})
            out.append({"scan_id": sid, "semantic_pred": torch.from_numpy(semantic), "instances": instances})
        return out


def bar(x0, x1, y, red, green):
    """A 3 x 2 point thick bar along x (0.05 m spacing) at height 0, in one colour."""
    xs = np.arange(x0, x1, 0.05)
    g = np.stack(np.meshgrid(xs, y + np.array([0.0, 0.05, 0.1]), [0.0, 0.05], indexing="ij"), -1).reshape(-1, 3)
    return g, np.tile([[red, green, 0.0]], (g.shape[0], 1))


def bars_cloud(seed=0, units=1.0) -> PointCloud:
    """Four separated bars; the long one crosses several block edges. Points shuffled."""
    parts = [bar(0.0, 5.0, 0.0, 0.5, 0.5), bar(0.2, 2.6, 1.5, -0.5, 0.0), bar(3.0, 3.4, 3.0, 0.5, -0.5),
             bar(2.9, 4.8, 1.6, 0.5, 0.25)]
    xyz = np.concatenate([p[0] for p in parts])
    rgb = np.concatenate([p[1] for p in parts]).astype(np.float32)
    perm = np.random.default_rng(seed).permutation(xyz.shape[0])
    return PointCloud(xyz=xyz[perm] * units, rgb=rgb[perm], superpoints=np.arange(xyz.shape[0]), faces=None,
                      has_color=True)
