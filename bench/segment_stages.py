"""Where tools/segment.py spends its time on a ~100k-point points-only cloud, against the bare
model forward on the same points (docs/segment.md, "Measured").

    python bench/segment_stages.py [--work /tmp/segment_blocks] [--repeats 3] [--config CONFIG]

The cloud is the first ``--size default`` synthetic room of seed 0 (93,529 points) saved as NPY
(x y z r g b, no faces). The tool runs in this process (``tools.segment.main``) ``--repeats`` times
after one warm-up; its summary JSON gives the stage times (load, superpoints, voxelise, network,
postprocess, write). The bare forward is ``model(batch)`` under ``torch.no_grad()`` on the batch
the tool builds for the same cloud, timed the same number of times. Without ``--config`` the
model is the bundled demo checkpoint; with it (e.g. configs/scannetv2/spherical_mask.yaml), that
architecture with random weights (``--set model.filter_bg_thresh=0`` makes its query branch run).
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

STAGES = ("load", "superpoints", "voxelise", "network", "postprocess", "write", "total")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="/tmp/segment_blocks")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--config", help="random-weight model of this config instead of the demo checkpoint")
    p.add_argument("--set", nargs="*", default=[])
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    import sphmask
    from sphmask.data.synthetic import make_synthetic_dataset
    from sphmask.data.scannet import scene_paths
    from sphmask.engine.segment.run import _point_superpoints, local_frame
    from sphmask.io import read_ply
    from tools.segment import main as segment_main

    raw = os.path.join(args.work, "room100k")
    if not os.path.isdir(os.path.join(raw, "scans")):
        make_synthetic_dataset(raw, 1, seed=0, size="default", split="val")
    sid = sorted(os.listdir(os.path.join(raw, "scans")))[0]
    mesh = read_ply(scene_paths(os.path.join(raw, "scans", sid), sid)["mesh"])
    tmp = tempfile.mkdtemp(prefix="segment_stages_")
    cloud_path = os.path.join(tmp, "room100k.npy")
    np.save(cloud_path, np.concatenate([mesh.xyz, mesh.rgb], 1))

    ckpt = os.path.join(ROOT, "demo", "spherical_mask_small.pth")
    if args.config:
        from sphmask.checkpoint import save_checkpoint
        from sphmask.config import load_config

        cfg = load_config(args.config, args.set)
        torch.manual_seed(0)
        ckpt = os.path.join(tmp, "random.pth")
        save_checkpoint(ckpt, sphmask.build_model(cfg), config=cfg)
    argv_tool = [cloud_path, "--ckpt", ckpt, "--out", os.path.join(tmp, "out"), "--no-progress",
                 "--threads", str(args.threads), "--device", args.device]
    runs = []
    for k in range(args.repeats + 1):
        assert segment_main(argv_tool) == 0
        with open(os.path.join(tmp, "out", "room100k_summary.json")) as f:
            doc = json.load(f)
        if k:
            runs.append(doc["timing_s"])
    seg = sphmask.Segmenter.from_checkpoint(ckpt, device=args.device)

    # the batch the tool builds, then the model alone
    from sphmask.data.dataset import collate
    from sphmask.data.transforms import transform_test
    from sphmask.engine.trainer import move_to_device

    xyz = local_frame(mesh.xyz)
    sp = _point_superpoints(xyz, None, [], None)
    xyz_voxel, xyz_middle = transform_test(xyz - xyz.mean(0), seg.voxel, seg.test_rotation)
    sample = {"scan_id": "room", "coord": torch.from_numpy(xyz_voxel.astype(np.int64)),
              "coord_float": torch.from_numpy(xyz_middle.astype(np.float32)),
              "feat": torch.from_numpy((mesh.rgb / 127.5 - 1).astype(np.float32)),
              "superpoints": torch.from_numpy(np.unique(sp, return_inverse=True)[1].reshape(-1)),
              "semantic": None, "instance": None, "num_instances": 0}
    batch = move_to_device(collate([sample], min_spatial_shape=seg.voxel.spatial_shape[0]), seg.device)
    forward = []
    with torch.no_grad():
        for k in range(args.repeats + 1):
            t0 = time.perf_counter()
            seg.model(batch)
            if seg.device.type == "cuda":
                torch.cuda.synchronize()
            if k:
                forward.append(time.perf_counter() - t0)

    def stats(values):
        return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"

    print(f"cloud: {mesh.xyz.shape[0]:,} points, points only; model: {args.config or 'demo checkpoint'}; "
          f"device {seg.device}, {args.threads} thread(s), torch {torch.__version__}; "
          f"median (min-max) of {args.repeats} runs, seconds")
    print("| stage | seconds |\n|---|---|")
    for stage in STAGES:
        print(f"| {stage} | {stats([r[stage] for r in runs])} |")
    print(f"| bare model forward | {stats(forward)} |")
    ratio = statistics.median([r["total"] for r in runs]) / statistics.median(forward)
    print(f"\ntool total / bare forward = {ratio:.2f}")


if __name__ == "__main__":
    main()
