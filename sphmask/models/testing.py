"""Synthetic labelled rooms in the model's batch contract, for tests and benchmarks.

A room is a floor and walls (stuff classes 0 and 1) with box-shaped objects standing on the
floor (instance classes), sampled on surfaces like a real scan, with per-class colours and
superpoints from a 15 cm grid that never crosses an object boundary. Coordinates are centred at
the origin like ScanNet's preprocessed scenes.
"""
from typing import Dict, List, Sequence

import numpy as np
import torch

from sphmask import ops


def synthetic_room(n_points: int, num_objects: int = 6, semantic_classes: int = 20, instance_classes: int = 18,
                   room=(4.0, 3.0, 2.0), seed: int = 0, superpoint_size: float = 0.15) -> Dict[str, np.ndarray]:
    """One room as NumPy arrays.

    Returns ``xyz`` float32 (N, 3) metres, ``rgb`` float32 (N, 3) in [-1, 1], ``semantic`` int64
    (N,) (0 wall, 1 floor, objects ``semantic_classes - instance_classes ..``), ``instance`` int64
    (N,) (0..K-1, -100 for walls/floor) and ``superpoints`` int64 (N,) contiguous ids.
    """
    rng = np.random.default_rng(seed)
    lx, ly, lz = room
    shift = semantic_classes - instance_classes
    surfaces = [((0, 0, 0), (lx, 0, 0), (0, ly, 0), 1, -100),
                ((0, 0, 0), (lx, 0, 0), (0, 0, lz), 0, -100), ((0, ly, 0), (lx, 0, 0), (0, 0, lz), 0, -100),
                ((0, 0, 0), (0, ly, 0), (0, 0, lz), 0, -100), ((lx, 0, 0), (0, ly, 0), (0, 0, lz), 0, -100)]
    placed: List[tuple] = []
    for k in range(num_objects):
        for _ in range(200):
            sx, sy, sz = rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.9), rng.uniform(0.3, 1.0)
            ox, oy = rng.uniform(0.15, lx - sx - 0.15), rng.uniform(0.15, ly - sy - 0.15)
            if all(ox + sx + 0.1 < a or a + c + 0.1 < ox or oy + sy + 0.1 < b or b + d + 0.1 < oy
                   for a, b, c, d in placed):
                break
        else:
            raise ValueError(f"cannot place {num_objects} non-overlapping objects in a {lx} x {ly} m room")
        placed.append((ox, oy, sx, sy))
        cls = shift + (k % instance_classes)
        surfaces += [((ox, oy, sz), (sx, 0, 0), (0, sy, 0), cls, k),
                     ((ox, oy, 0), (sx, 0, 0), (0, 0, sz), cls, k),
                     ((ox, oy + sy, 0), (sx, 0, 0), (0, 0, sz), cls, k),
                     ((ox, oy, 0), (0, sy, 0), (0, 0, sz), cls, k),
                     ((ox + sx, oy, 0), (0, sy, 0), (0, 0, sz), cls, k)]
    o = np.array([s[0] for s in surfaces], np.float64)
    u = np.array([s[1] for s in surfaces], np.float64)
    v = np.array([s[2] for s in surfaces], np.float64)
    sem_s = np.array([s[3] for s in surfaces], np.int64)
    inst_s = np.array([s[4] for s in surfaces], np.int64)
    area = np.linalg.norm(np.cross(u, v), axis=1)
    # Objects get a fair share of points even though walls dominate the area.
    weight = area * np.where(inst_s >= 0, 4.0, 1.0)
    which = rng.choice(len(surfaces), size=n_points, p=weight / weight.sum())
    a, b = rng.random((n_points, 1)), rng.random((n_points, 1))
    xyz = o[which] + a * u[which] + b * v[which] + rng.normal(0, 0.002, (n_points, 3))
    xyz -= xyz.mean(0)
    palette = rng.uniform(-0.9, 0.9, (semantic_classes, 3))
    rgb = np.clip(palette[sem_s[which]] + rng.normal(0, 0.05, (n_points, 3)), -1, 1)
    semantic, instance = sem_s[which], inst_s[which]
    cell = np.floor(xyz / superpoint_size).astype(np.int64)
    key = np.stack([cell[:, 0], cell[:, 1], cell[:, 2], instance, semantic], 1)
    superpoints = np.unique(key, axis=0, return_inverse=True)[1].reshape(-1)
    return {"xyz": xyz.astype(np.float32), "rgb": rgb.astype(np.float32), "semantic": semantic,
            "instance": instance, "superpoints": superpoints.astype(np.int64)}


def make_batch(scenes: Sequence[Dict[str, np.ndarray]], voxel_scale: float = 50.0, with_labels: bool = True,
               scan_ids: Sequence[str] = None, device="cpu") -> Dict:
    """Collate rooms into the model's batch contract (voxelised with :func:`sphmask.ops.voxelize`).

    Integer voxel coordinates are ``floor(xyz * voxel_scale - min)`` per scene; superpoint and
    instance ids are offset so they are globally unique and increasing per scene.
    """
    coords, xyz, feats, spp, sem, inst, offsets = [], [], [], [], [], [], [0]
    spp_bias = inst_bias = 0
    for b, s in enumerate(scenes):
        p = s["xyz"].astype(np.float64) * voxel_scale
        vox = np.floor(p - p.min(0)).astype(np.int64) if len(p) else np.zeros((0, 3), np.int64)
        coords.append(np.concatenate([np.full((len(vox), 1), b), vox], 1))
        xyz.append(s["xyz"])
        feats.append(s["rgb"])
        spp.append(s["superpoints"] + spp_bias)
        spp_bias += int(s["superpoints"].max()) + 1 if len(s["superpoints"]) else 0
        sem.append(s["semantic"])
        inst.append(np.where(s["instance"] >= 0, s["instance"] + inst_bias, -100))
        inst_bias += int(s["instance"].max()) + 1 if (s["instance"] >= 0).any() else 0
        offsets.append(offsets[-1] + len(p))
    coords_t = torch.from_numpy(np.concatenate(coords)).to(device)
    voxel_coords, point2voxel = ops.voxelize(coords_t)
    shape = [max(128, int(voxel_coords[:, i].max()) + 1 if len(voxel_coords) else 128) for i in (1, 2, 3)]
    batch = {
        "scan_ids": list(scan_ids) if scan_ids is not None else [f"synthetic_{b}" for b in range(len(scenes))],
        "coords_float": torch.from_numpy(np.concatenate(xyz)).to(device),
        "feats": torch.from_numpy(np.concatenate(feats)).to(device),
        "point_offsets": torch.tensor(offsets, dtype=torch.int64, device=device),
        "voxel_coords": voxel_coords, "point2voxel": point2voxel, "spatial_shape": shape,
        "batch_size": len(scenes), "superpoints": torch.from_numpy(np.concatenate(spp)).to(device),
    }
    if with_labels:
        batch["semantic_labels"] = torch.from_numpy(np.concatenate(sem)).to(device)
        batch["instance_labels"] = torch.from_numpy(np.concatenate(inst)).to(device)
    return batch
