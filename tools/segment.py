#!/usr/bin/env python
"""Instance segmentation of your own point clouds: no labels, no preprocessing.

    python tools/segment.py scan.ply room2.npy hall.txt --ckpt model.pth --out results/
    python tools/segment.py big_scan.ply --ckpt official.pth --config configs/scannetv2/spherical_mask.yaml \
        --out results/

Inputs: PLY (mesh or points, with or without colours), NPY and text (x y z [r g b]) in metres
(--scale otherwise). Superpoints are computed; clouds above the point budget are processed in
overlapping blocks whose instances are merged. For each input NAME, --out gets
NAME_instances.npz (masks as point indices), NAME_instances.ply (instances coloured) and
NAME_summary.json (instances with class, score and point count; timing; blocks). A bad input is
reported in one line and skipped; the exit code is then 1. See docs/segment.md.
"""
import argparse
import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from sphmask.checkpoint import CheckpointError  # noqa: E402
from sphmask.config import ConfigError  # noqa: E402
from sphmask.data.pointcloud import load_point_cloud  # noqa: E402
from sphmask.engine.segment import (  # noqa: E402
    CropSettings, load_segmentation_model, segment_scene, write_segmentation,
)
from sphmask.io.errors import DataFormatError  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help=".ply, .npy, .txt/.xyz/.xyzrgb/.pts/.csv files")
    p.add_argument("--ckpt", required=True, help="sphmask or official Spherical Mask checkpoint (loaded strictly)")
    p.add_argument("--config", help="model config (default: the one stored in the checkpoint; required for "
                                    "official checkpoints)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: cuda if available")
    p.add_argument("--score-thresh", type=float, default=0.0,
                   help="write only instances scoring at least this (default 0: all the model returns)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply coordinates by this to get metres (0.001 for millimetres)")
    p.add_argument("--max-points", type=int,
                   help="points per model pass; larger clouds are cut into blocks (default: the config's "
                        "voxel_cfg.max_npoint, 250000)")
    p.add_argument("--block-size", type=float, help="largest block side in metres (default: set by --max-points)")
    p.add_argument("--overlap", type=float, default=CropSettings.overlap,
                   help=f"width in metres of the strip neighbouring blocks share (default {CropSettings.overlap})")
    p.add_argument("--merge-iou", type=float, default=CropSettings.merge_iou,
                   help="IoU on shared points above which same-class instances of two blocks are merged "
                        f"(default {CropSettings.merge_iou})")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="config overrides, e.g. model.inference.npoint_thresh=50")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--render", action="store_true",
                   help="also write <name>_top.png (top view with legend) and <name>_viewer.html (interactive 3D; "
                        "needs matplotlib and plotly)")
    return p.parse_args(argv)


def output_names(paths):
    """Output name per input: the file name without extension; when several inputs share it, the
    extension is appended (``scan_npy``), then a counter if still needed, so no output overwrites another."""
    stems = [os.path.splitext(os.path.basename(p))[0] or "scene" for p in paths]
    names, used = [], set()
    for path, stem in zip(paths, stems):
        name = stem
        if stems.count(stem) > 1:
            ext = os.path.splitext(path)[1].lstrip(".").lower()
            name = f"{stem}_{ext}" if ext else stem
        candidate, k = name, 2
        while candidate in used:
            candidate, k = f"{name}_{k}", k + 1
        used.add(candidate)
        names.append(candidate)
    return names


def describe(exc: BaseException, path: str) -> str:
    """One line for a failed input, naming the file."""
    if isinstance(exc, DataFormatError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{path}: cannot read ({exc.strerror or exc})"
    return f"{path}: {type(exc).__name__}: {exc}"


def main(argv=None) -> int:
    args = parse_args(argv)
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        if device == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda, but this torch has no usable CUDA device (torch.cuda.is_available() "
                             "is False)")
        if not 0 < args.scale < float("inf"):
            raise ValueError(f"--scale must be a positive number, got {args.scale}")
        if args.threads is not None and args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        if args.threads:
            torch.set_num_threads(args.threads)
        # built (and checked) before the slow model load; the default budget comes from the config
        crop = CropSettings(block_size=args.block_size, overlap=args.overlap, merge_iou=args.merge_iou,
                            **({} if args.max_points is None else {"max_points": args.max_points}))
        setup = load_segmentation_model(args.ckpt, args.config, args.set, device)
        if args.max_points is None:
            crop = dataclasses.replace(crop, max_points=setup.voxel.max_npoint)
    except (CheckpointError, ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"model from {setup.config_source}, checkpoint {args.ckpt}, device {device}", file=sys.stderr)

    bar = None
    inputs = list(zip(args.inputs, output_names(args.inputs)))
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(inputs), desc="segment", unit="file", dynamic_ncols=True, disable=None)

    def say(msg: str, file=sys.stderr) -> None:
        if bar is not None:
            bar.write(msg, file=file)
        else:
            print(msg, file=file)

    failed = []
    for path, name in inputs:
        start = time.perf_counter()
        try:
            cloud = load_point_cloud(path, compute_superpoints=False)
            t_load = time.perf_counter() - start
            seg = segment_scene(setup.model, cloud, scale=args.scale, crop=crop, voxel=setup.voxel,
                                test_rotation=setup.test_rotation, progress=bar is not None, name=name)
            kept = seg.above(args.score_thresh)
            t0 = time.perf_counter()
            summary = {
                "input": os.path.abspath(path), "name": name, "mesh": cloud.faces is not None,
                "has_color": cloud.has_color, "scale": args.scale,
                "extent_m": [round(float(v), 4) for v in (cloud.xyz.max(0) - cloud.xyz.min(0)) * args.scale],
                "checkpoint": os.path.abspath(args.ckpt), "config": setup.config_source, "device": device,
                "score_thresh": args.score_thresh,
                "instances_before_score_thresh": len(seg.instances),
                "blocks": {"count": len(seg.blocks), "max_points": crop.max_points, "block_size": crop.block_size,
                           "overlap": crop.overlap, "merge_iou": crop.merge_iou,
                           "points_per_block": [int(b.points.shape[0]) for b in seg.blocks]},
                "warnings": seg.warnings,
            }
            timing = {"load": t_load, **seg.timing}
            summary["timing_s"] = {k: round(v, 3) for k, v in timing.items()}
            write_segmentation(args.out, name, cloud, seg, kept, setup.instance_names, setup.semantic_names,
                               summary)
            if args.render:
                from sphmask.viz import render_segmentation

                render_segmentation(args.out, name, cloud, kept, setup.instance_names,
                                    title=f"{name}: {len(kept)} instances")
            for w in seg.warnings:
                say(f"warning: {path}: {w}")
            blocks = f", {len(seg.blocks)} blocks" if len(seg.blocks) > 1 else ""
            say(f"{path}: {cloud.num_points} points{blocks}, {len(kept)} instances -> "
                f"{os.path.join(args.out, name)}_* ({time.perf_counter() - start:.1f} s, write "
                f"{time.perf_counter() - t0:.1f} s)", file=sys.stdout)
        except Exception as exc:  # one bad input must not stop the others
            failed.append(path)
            say(f"error: {describe(exc, path)}")
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if failed:
        print(f"{len(failed)} of {len(inputs)} input(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
