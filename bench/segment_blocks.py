"""Blocks versus one pass: instance counts, AP and time of the block path (docs/segment.md).

    python bench/segment_blocks.py [--work /tmp/segment_blocks] [--out docs/segment_blocks.json]

Inputs, made here reproducibly with the synthetic generator (docs/synthetic.md):

* ``4rooms``: the four rooms ``make_synthetic.py --seed 1 --size small --first-index 1000`` (the
  first three are the bundled demo rooms) side by side along x, 0.5 m apart, as one mesh;
* ``room100k``: the first ``--size default`` room of seed 0 (~100k points), points only.

Each runs with the bundled demo model (demo/spherical_mask_small.pth) in one pass and in blocks
(``--block-size``), the blocks merged as before this change (``suppress=False``: merging only) and
now (``suppress=True``). AP, AP50 and AP25 are scored against the rooms' annotations with the
ScanNet protocol, per room; "agree" is the share of one-pass instances with score >= 0.3 that the
run reproduces (same class, mask IoU >= 0.5, score >= 0.3).
"""
import argparse
import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

CKPT = os.path.join(ROOT, "demo", "spherical_mask_small.pth")


def make_inputs(work):
    """Returns {name: (xyz, rgb 0..255, faces or None, [(scene id, gt ids, point slice)])}."""
    from sphmask.data.labelmap import read_label_map
    from sphmask.data.scannet import prepare_scannet_scene, scene_paths
    from sphmask.data.synthetic import make_synthetic_dataset
    from sphmask.io import read_ply

    out = {}
    for name, size, seed, count, first, gap in (("4rooms", "small", 1, 4, 1000, 0.5),
                                                ("room100k", "default", 0, 1, 0, None)):
        raw = os.path.join(work, name)
        if not os.path.isdir(os.path.join(raw, "scans")):
            make_synthetic_dataset(raw, count, seed=seed, size=size, first_index=first, split="val")
        label_map = read_label_map(os.path.join(raw, "scannetv2-labels.combined.tsv"))
        xyz, rgb, faces, rooms, x0, n = [], [], [], [], 0.0, 0
        for sid in sorted(os.listdir(os.path.join(raw, "scans"))):
            d = os.path.join(raw, "scans", sid)
            mesh = read_ply(scene_paths(d, sid)["mesh"])
            v = mesh.xyz.copy()
            v[:, 0] += x0 - v[:, 0].min()
            x0 = v[:, 0].max() + (gap or 0.0)
            gt = prepare_scannet_scene(d, sid, "val", label_map).gt
            xyz.append(v), rgb.append(mesh.rgb), faces.append(mesh.faces + n)
            rooms.append((sid, gt, slice(n, n + v.shape[0])))
            n += v.shape[0]
        mesh_faces = np.concatenate(faces) if name == "4rooms" else None
        out[name] = (np.concatenate(xyz), np.concatenate(rgb), mesh_faces, rooms)
    return out


def score(result, rooms, classes):
    from sphmask.evaluation import InstanceEvaluator

    ev = InstanceEvaluator(classes)
    for sid, gt, sl in rooms:
        insts = []
        for inst in result.instances:
            idx = inst.indices[(inst.indices >= sl.start) & (inst.indices < sl.stop)] - sl.start
            if idx.size:
                mask = np.zeros(sl.stop - sl.start, dtype=bool)
                mask[idx] = True
                insts.append({"mask": mask, "label_id": inst["label_id"], "score": inst["score"]})
        ev.add_scene(sid, insts, gt_ids=gt)
    return ev.evaluate().averages()


def agreement(ref, res, thresh=0.3):
    """Share of ``ref`` instances (score >= thresh) matched in ``res`` (same class, IoU >= 0.5)."""
    want = [i for i in ref.instances if i["score"] >= thresh]
    have = [i for i in res.instances if i["score"] >= thresh]
    hit = 0
    for a in want:
        sa = set(a.indices.tolist())
        for b in have:
            if b["label_id"] != a["label_id"]:
                continue
            inter = len(sa.intersection(b.indices.tolist()))
            if inter / (len(sa) + b.num_points - inter) >= 0.5:
                hit += 1
                break
    return hit / max(len(want), 1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="/tmp/segment_blocks", help="where the synthetic rooms are written")
    p.add_argument("--out", help="also write the rows as JSON here")
    p.add_argument("--block-size", type=float, default=3.0)
    p.add_argument("--overlap", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--inputs", nargs="+", default=["4rooms", "room100k"])
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    import sphmask
    from sphmask.data.dataset import DATASET_TYPES
    from sphmask.engine.segment import CropSettings

    base = sphmask.Segmenter.from_checkpoint(CKPT, device="cpu")
    classes = DATASET_TYPES[base.config["data"]["test"]["type"]].classes
    runs = [("one pass", CropSettings(max_points=10**9)),
            ("blocks, merge only (before)", CropSettings(max_points=10**9, block_size=args.block_size,
                                                         overlap=args.overlap, suppress=False)),
            ("blocks, merge + suppress (now)", CropSettings(max_points=10**9, block_size=args.block_size,
                                                            overlap=args.overlap))]
    rows = []
    for name, (xyz, rgb, faces, rooms) in make_inputs(args.work).items():
        if name not in args.inputs:
            continue
        ref = None
        for label, crop in runs:
            base.crop = crop
            t0 = time.perf_counter()
            res = base(xyz, rgb, faces=faces, name=name)
            seconds = time.perf_counter() - t0
            ref = res if ref is None else ref
            ap = score(res, rooms, classes)
            row = {"input": name, "points": int(xyz.shape[0]), "run": label, "blocks": len(res.blocks),
                   "instances": len(res.instances),
                   "instances_score_0.3": sum(i["score"] >= 0.3 for i in res.instances),
                   "ap": round(ap["ap"], 4), "ap50": round(ap["ap50"], 4), "ap25": round(ap["ap25"], 4),
                   "agree_with_one_pass": round(agreement(ref, res), 3), "seconds": round(seconds, 2),
                   "postprocess_s": round(res.timing["postprocess"], 3)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\nmachine: {platform.processor() or platform.machine()}, {args.threads} thread(s), torch {torch.__version__}")
    print("| input | points | run | blocks | instances | score >= 0.3 | AP | AP50 | AP25 | agree | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['input']} | {r['points']:,} | {r['run']} | {r['blocks']} | {r['instances']} | "
              f"{r['instances_score_0.3']} | {r['ap']:.3f} | {r['ap50']:.3f} | {r['ap25']:.3f} | "
              f"{r['agree_with_one_pass']:.2f} | {r['seconds']:.1f} |")
    if args.out:
        from sphmask.io import write_text

        write_text(json.dumps(rows, indent=2) + "\n", args.out)


if __name__ == "__main__":
    main()
