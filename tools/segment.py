#!/usr/bin/env python
"""Instance segmentation of your own point clouds: no labels, no preprocessing.

    python tools/segment.py scan.ply room2.npy hall.txt --ckpt model.pth --out results/
    python tools/segment.py big_scan.ply --ckpt official.pth --config configs/scannetv2/spherical_mask.yaml \
        --out results/

Inputs: PLY (mesh or points, with or without colours), NPY and text (x y z [r g b]) in metres
(--scale otherwise). Superpoints are computed; clouds above the point budget are processed in
overlapping blocks whose instances are merged. For each input NAME, --out gets
NAME_instances.npz (masks as point indices), NAME_instances.ply (instances coloured) and
NAME_summary.json (instances with class, score and point count; timing; blocks), landing together
(a reader who finds the JSON finds the whole set). A bad input is reported in one line and
skipped; the exit code is then 1; unusable options, checkpoint or --out: exit 2; Ctrl-C: one line
saying what was written, exit 130. See docs/segment.md.
"""
import argparse
import dataclasses
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from sphmask.checkpoint import CheckpointError, load_segmentation_model  # noqa: E402
from sphmask.cli import Progress, run_tool  # noqa: E402
from sphmask.config import ConfigError  # noqa: E402
from sphmask.engine.segment import CropSettings, Segmenter  # noqa: E402
from sphmask.engine.segment.api import SegmentInputError, check_score_thresh, resolve_device, run_summary  # noqa: E402
from sphmask.io.errors import DataFormatError  # noqa: E402

#: What the run has completed, for the line printed on Ctrl-C (sphmask.cli.run_tool).
PROGRESS = Progress()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help=".ply, .npy, .txt/.xyz/.xyzrgb/.pts/.csv files")
    p.add_argument("--ckpt", required=True, help="sphmask or official Spherical Mask checkpoint (loaded strictly)")
    p.add_argument("--config", help="model config (default: the one stored in the checkpoint; required for "
                                    "official checkpoints)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: cuda if available")
    p.add_argument("--score-thresh", type=float, default=0.0,
                   help="write only instances scoring at least this, in [0, 1] (default 0: all the model returns)")
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
                        "needs matplotlib)")
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


def check_output_dir(out: str) -> None:
    """Refuse an ``--out`` that cannot become a writable folder, before anything slow runs."""
    path = os.path.abspath(out)
    if os.path.exists(path) and not os.path.isdir(path):
        raise SegmentInputError(f"--out {out} is an existing file; give a folder (it is created if missing)")
    probe = path
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise SegmentInputError(f"--out {out}: {probe} is a file, so the folder cannot be created")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-write-check-", dir=probe)
    except OSError as exc:
        where = "" if probe == path else f" ({probe}, where it would be created)"
        raise SegmentInputError(f"--out {out}{where} is not writable: {exc.strerror or exc}") from None
    os.close(fd)
    os.remove(tmp)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        args.score_thresh = check_score_thresh(args.score_thresh, "--score-thresh")
        device = resolve_device(args.device)
        if not 0 < args.scale < float("inf"):
            raise ValueError(f"--scale must be a positive number, got {args.scale}")
        if args.threads is not None and args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        # built (and checked) before the slow model load; the default budget comes from the config
        crop = CropSettings(block_size=args.block_size, overlap=args.overlap, merge_iou=args.merge_iou,
                            **({} if args.max_points is None else {"max_points": args.max_points}))
        check_output_dir(args.out)
        if args.threads:
            torch.set_num_threads(args.threads)
        setup = load_segmentation_model(args.ckpt, args.config, args.set, str(device))
    except (CheckpointError, ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.max_points is None:
        crop = dataclasses.replace(crop, max_points=setup.voxel.max_npoint)
    seg = Segmenter.from_setup(setup, crop=crop)
    print(f"model from {setup.config_source}, checkpoint {args.ckpt}, device {seg.device}", file=sys.stderr)

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

    failed, written = [], []

    def note(current=None):
        done = f"{len(written)} of {len(inputs)} input(s) written to {args.out}" + \
            (f" ({', '.join(written)})" if written else "")
        PROGRESS.set(done + (f"; nothing written for {current}" if current else ""))

    def committed(name):
        written.append(name)
        note()

    for path, name in inputs:
        note(path)
        start = time.perf_counter()
        try:
            result = seg.segment_file(path, scale=args.scale, name=name, progress=bar is not None)
            kept = result.above(args.score_thresh)
            t_write = time.perf_counter()

            def summary():
                timing = {**result.timing, "write": time.perf_counter() - t_write,
                          "total": time.perf_counter() - start}
                return run_summary(result, seg, input_path=path, checkpoint=args.ckpt, scale=args.scale,
                                   score_thresh=args.score_thresh, instances_before=len(result.scene.instances),
                                   timing=timing)

            def render(folder):
                from sphmask.viz import render_segmentation

                render_segmentation(folder, name, kept.cloud, kept.scene.instances, kept.instance_names,
                                    title=f"{name}: {len(kept.scene.instances)} instances",
                                    superpoints=kept.scene.superpoints, semantic=kept.semantic,
                                    semantic_names=kept.semantic_names, score_threshold=args.score_thresh)

            kept.write(args.out, summary=summary, extra=render if args.render else None,
                       on_commit=lambda: committed(name))
            for w in result.warnings:
                say(f"warning: {path}: {w}")
            blocks = f", {len(result.blocks)} blocks" if len(result.blocks) > 1 else ""
            say(f"{path}: {result.num_points} points{blocks}, {len(kept.scene.instances)} instances -> "
                f"{os.path.join(args.out, name)}_* ({time.perf_counter() - start:.1f} s, write "
                f"{time.perf_counter() - t_write:.1f} s)", file=sys.stdout)
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
    sys.exit(run_tool(main, progress=PROGRESS))
