"""Farthest point sampling: sphmask against fpsample, open3d and a vectorised torch loop.

One synthetic indoor scene per size, 2048 samples, as aggregator 1 of the model draws them. The
note column says whether an implementation returned exactly sphmask's indices, checked on the
same run's outputs (fpsample's bucket variant ignores ``start_idx`` in the installed version, so
it is compared with sphmask started from the same first point).
"""
import numpy as np
import torch

from _common import indoor_scene, row

GROUP = "fps"
NUM_SAMPLES = 2048


def torch_loop(xyz: torch.Tensor, m: int) -> torch.Tensor:
    """Plain FPS: one vectorised distance update and argmax per pick (same float32 formula).

    Runs on one thread: with two, each of its ~10 small ops per pick wakes the thread pool, which
    on a shared machine made it 25x slower (58 s instead of 2.2 s at 50k points).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        d = torch.full((xyz.shape[0],), float("inf"))
        out = torch.empty(m, dtype=torch.int64)
        last = 0
        for j in range(m):
            out[j] = last
            diff = xyz - xyz[last]
            dist = (diff[:, 0] * diff[:, 0] + diff[:, 1] * diff[:, 1]) + diff[:, 2] * diff[:, 2]
            torch.minimum(d, dist, out=d)
            last = int(torch.argmax(d))
        return out
    finally:
        torch.set_num_threads(threads)


def _same(a, b) -> str:
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    if a.shape == b.shape and (a == b).all():
        return "same indices as sphmask"
    k = int(np.argmax(a != b)) if a.shape == b.shape else 0
    return f"differs from sphmask from pick {k}"


def run(sizes, repeats):
    from sphmask.ops import furthest_point_sample

    try:
        import fpsample
    except ImportError:
        fpsample = None
    try:
        import open3d as o3d
    except ImportError:
        o3d = None

    rows = []
    for n in sizes:
        xyz_np, _ = indoor_scene(n)
        xyz = torch.from_numpy(xyz_np)
        offsets = torch.tensor([0, n])
        case = f"{n} pts -> {NUM_SAMPLES}"

        def ours():
            return furthest_point_sample(xyz, offsets, NUM_SAMPLES)

        ref = ours().numpy()
        rows.append(row(GROUP, case, "sphmask (exact, bucketed)", ours, repeats, memory=True))
        if fpsample is not None:
            got = fpsample.fps_sampling(xyz_np, NUM_SAMPLES, start_idx=0)
            rows.append(row(GROUP, case, "fpsample fps_sampling (exact)",
                            lambda: fpsample.fps_sampling(xyz_np, NUM_SAMPLES, start_idx=0),
                            repeats, note=_same(got, ref)))
            got = fpsample.bucket_fps_kdline_sampling(xyz_np, NUM_SAMPLES, h=7, start_idx=0)
            # Same scene rotated so that fpsample's first pick is sphmask's first point.
            perm = np.roll(np.arange(n), -int(got[0]))
            ref_kd = perm[furthest_point_sample(torch.from_numpy(xyz_np[perm]), offsets,
                                                NUM_SAMPLES).numpy()]
            rows.append(row(GROUP, case, "fpsample bucket_fps_kdline_sampling h=7",
                            lambda: fpsample.bucket_fps_kdline_sampling(xyz_np, NUM_SAMPLES, h=7,
                                                                        start_idx=0),
                            repeats, memory=True,
                            note=_same(got, ref_kd) + " (from its own first pick)"))
        if o3d is not None:
            pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(xyz_np.astype(np.float64)))
            rows.append(row(GROUP, case, "open3d farthest_point_down_sample",
                            lambda: pcd.farthest_point_down_sample(NUM_SAMPLES), repeats,
                            note="float64; returns points, not indices"))
        got = torch_loop(xyz, NUM_SAMPLES)
        rows.append(row(GROUP, case, "torch loop (vectorised per pick, 1 thread)",
                        lambda: torch_loop(xyz, NUM_SAMPLES), repeats, note=_same(got, ref)))
    return rows
