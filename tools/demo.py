#!/usr/bin/env python
"""Segment the bundled demo scenes with the shipped checkpoint and show what was found (`make demo`).

    python tools/demo.py [--scenes demo/scenes.tar.xz] [--ckpt demo/spherical_mask_small.pth] [--out demo_out]

``--scenes`` is a raw ScanNet-layout folder or an archive of one (.tar.xz, .tar.gz, .tar; extracted
into a temporary folder that is removed afterwards). Every scene folder under ``<scenes>/scans``
goes through the path a user's own scan takes (tools/segment.py: mesh in, superpoints computed
here, no preprocessing), is scored against its annotation with the ScanNet AP protocol, and gets in
``--out``: the instance PLY, NPZ and summary JSON of tools/segment.py, ``<scene>_top.png`` (top
view, instances coloured, legend) and ``<scene>_viewer.html`` (interactive 3D, opens from disk).
Prints per-scene counts and timings and the per-class AP / AP50 / AP25 table; writes
``metrics.json``. See docs/demo_model.md.
"""
import argparse
import json
import logging
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", default=os.path.join(ROOT, "demo", "scenes.tar.xz"),
                   help="raw ScanNet-layout folder (scans/<scene>/ and scannetv2-labels.combined.tsv) or an "
                        "archive of one: .tar.xz, .tar.gz or .tar")
    p.add_argument("--ckpt", default=os.path.join(ROOT, "demo", "spherical_mask_small.pth"))
    p.add_argument("--config", default=None, help="default: the config stored in the checkpoint")
    p.add_argument("--out", default="demo_out")
    p.add_argument("--score-thresh", type=float, default=0.3,
                   help="instances shown in the PLY/PNG/HTML (all of them are evaluated); default 0.3")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from sphmask.io import DataFormatError, extract_scene_archive, is_scene_archive

    if os.path.isdir(args.scenes) or not (is_scene_archive(args.scenes) or os.path.isfile(args.scenes)):
        return run(args, args.scenes)
    with tempfile.TemporaryDirectory(prefix="sphmask-demo-") as folder:
        try:
            extract_scene_archive(args.scenes, folder)
        except DataFormatError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return run(args, folder)


def run(args, raw_dir: str) -> int:
    """The demo on the raw folder ``raw_dir`` (``args.scenes`` itself, or where its archive was
    extracted: messages and outputs name ``args.scenes``, never the temporary folder)."""
    import torch

    from sphmask.checkpoint import CheckpointError, load_segmentation_model
    from sphmask.config import ConfigError
    from sphmask.data.dataset import DATASET_TYPES
    from sphmask.data.labelmap import read_label_map
    from sphmask.data.scannet import prepare_scannet_scene, scene_paths
    from sphmask.engine.segment import Segmenter
    from sphmask.engine.segment.api import run_summary
    from sphmask.evaluation import InstanceEvaluator
    from sphmask.io import DataFormatError, write_text
    from sphmask.viz import render_segmentation

    # torch logs a deprecation notice from inside spconv's forward; it says nothing about the demo
    logging.getLogger("torch.fx._symbolic_trace").setLevel(logging.ERROR)
    if args.threads is not None:
        if args.threads < 1:
            print(f"error: --threads must be at least 1, got {args.threads}", file=sys.stderr)
            return 2
        torch.set_num_threads(args.threads)
    scans = os.path.join(raw_dir, "scans")
    tsv = os.path.join(raw_dir, "scannetv2-labels.combined.tsv")
    if not os.path.isdir(scans) or not os.path.isfile(tsv):
        print(f"error: {args.scenes} must hold scans/<scene>/ folders and scannetv2-labels.combined.tsv",
              file=sys.stderr)
        return 2
    scene_ids = sorted(d for d in os.listdir(scans) if os.path.isdir(os.path.join(scans, d)))
    if not scene_ids:
        print(f"error: no scene folders in {os.path.join(args.scenes, 'scans')}", file=sys.stderr)
        return 2
    try:
        setup = load_segmentation_model(args.ckpt, args.config, device="cpu")
        label_map = read_label_map(tsv)
    except (CheckpointError, ConfigError, DataFormatError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    segmenter = Segmenter.from_setup(setup)
    names = setup.instance_names
    kind = DATASET_TYPES.get((setup.config.get("data") or {}).get("test", {}).get("type"))
    evaluator = InstanceEvaluator(kind.classes if kind is not None else "scannetv2")
    print(f"model: {args.ckpt} ({setup.config_source}), {torch.get_num_threads()} CPU thread(s)")

    rows = []
    for sid in scene_ids:
        scene_dir = os.path.join(scans, sid)
        start = time.perf_counter()
        try:
            result = segmenter.segment_file(scene_paths(scene_dir, sid)["mesh"], name=sid)
            seconds = time.perf_counter() - start
            gt = prepare_scannet_scene(scene_dir, sid, "val", label_map)
        except (DataFormatError, ValueError, OSError) as exc:
            print(f"error: {sid}: {exc}", file=sys.stderr)
            return 1
        evaluator.add_scene(sid, [{"mask": i["mask"], "label_id": i["label_id"], "score": i["score"]}
                                  for i in result.instances], gt_ids=gt.gt)
        shown = result.above(args.score_thresh)
        t_write = time.perf_counter()

        def summary():
            timing = {**result.timing, "write": time.perf_counter() - t_write}
            # the scene inside --scenes (for an archive: its member folder), not the temporary copy
            return run_summary(result, segmenter, input_path=os.path.join(args.scenes, "scans", sid),
                               checkpoint=args.ckpt, scale=1.0,
                               score_thresh=args.score_thresh, instances_before=len(result.scene.instances),
                               timing=timing)

        def render(folder):
            render_segmentation(folder, sid, shown.cloud, shown.scene.instances, names,
                                title=f"{sid}: {len(shown.scene.instances)} instances with score >= "
                                      f"{args.score_thresh}",
                                superpoints=shown.scene.superpoints, semantic=shown.semantic,
                                semantic_names=setup.semantic_names, score_threshold=args.score_thresh)

        shown.write(args.out, summary=summary, extra=render)
        timing = result.timing
        gt_count = len(gt.instance_classes)
        predicted = len(shown.scene.instances)
        rows.append({"scene": sid, "points": result.num_points, "gt_instances": gt_count, "predicted": predicted,
                     "seconds": round(seconds, 3), **{f"{k}_s": round(v, 3) for k, v in timing.items()}})
        print(f"{sid}: {result.num_points:,} points, {gt_count} annotated instances, {predicted} predicted "
              f"(score >= {args.score_thresh}), {seconds:.2f} s (superpoints "
              f"{timing['superpoints']:.2f} s, network {timing['network']:.2f} s)")

    results = evaluator.evaluate()
    print()
    print(results.format_table())
    doc = {"checkpoint": os.path.abspath(args.ckpt), "scenes": rows, "averages": results.averages(),
           "per_class": results.to_dict()}
    write_text(json.dumps(doc, indent=2, default=float) + "\n", os.path.join(args.out, "metrics.json"))
    print(f"\nwrote {len(rows)} scenes to {os.path.abspath(args.out)}: *_instances.ply, *_top.png, "
          f"*_viewer.html (open in a browser), *_instances.npz, *_summary.json, metrics.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
