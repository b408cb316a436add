"""Evaluate a checkpoint on a dataset split, and export predictions.

    python tools/test.py CONFIG --ckpt CKPT [--out DIR] [--no-eval] [--split test] [--set key=value ...]

Loads official Spherical Mask or sphmask checkpoints strictly (every key and shape must match;
the error lists all mismatches). Prints the per-class AP / AP50 / AP25 table (ScanNet200 also
head/common/tail, S3DIS mPrec50 / mRec50) and mIoU / Acc / mAcc, and writes DIR/metrics.json. With --out, DIR also gets
the ScanNet benchmark submission (<scene>.txt + predicted_masks/) and ply/<scene>.ply with
instances coloured. Scenes without labels are exported and not evaluated.
"""
import argparse
import json
import os
import sys

import torch

from sphmask import build_model
from sphmask.checkpoint import CheckpointError, load_checkpoint
from sphmask.config import ConfigError, load_config
from sphmask.data import build_dataloader
from sphmask.engine.inference import run_inference
from sphmask.io import write_text


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("--ckpt", required=True, help="official {'net': ...} or sphmask checkpoint")
    p.add_argument("--out", help="folder for metrics.json, the submission files and coloured PLYs")
    p.add_argument("--no-eval", action="store_true", help="only predict (and export with --out)")
    p.add_argument("--split", default="test", help="config data section to run (default: test)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--max-scenes", type=int, help="stop after this many scenes (quick checks)")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE", help="config overrides")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, args.set)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    model = build_model(cfg)
    report = load_checkpoint(model, args.ckpt)
    print(f"checkpoint {args.ckpt}: {report.summary()}")
    model.to(device)
    loader = build_dataloader(cfg, args.split)
    classes = loader.dataset.classes
    out = run_inference(model, loader, device, classes.name, semantic_class_names=classes.semantic_names,
                        evaluate=not args.no_eval, out_dir=args.out, max_scenes=args.max_scenes)
    metrics = {"scenes": out["scenes"], "unlabelled_scenes": out["unlabelled_scenes"],
               "seconds_per_scene": out["seconds_per_scene"], "instances_per_scene": out["instances_per_scene"]}
    if out["instance"] is not None:
        print(out["instance"].format_table())
        metrics["instance"] = out["instance"].to_dict()
    if out["semantic"] is not None:
        print(out["semantic"].format_table())
        metrics["semantic"] = out["semantic"].to_dict()
    if out["s3dis"] is not None:
        print(out["s3dis"].format_table())
        metrics["s3dis"] = out["s3dis"].means()
    if out["unlabelled_scenes"]:
        print(f"{out['unlabelled_scenes']} scene(s) had no labels: predicted{' and exported' if args.out else ''}, "
              f"not evaluated")
    print(f"{out['scenes']} scenes, {out['seconds_per_scene']:.2f} s per scene on {device}")
    out_dir = args.out or os.path.dirname(os.path.abspath(args.ckpt))
    path = os.path.join(out_dir, "metrics.json")
    write_text(json.dumps(metrics, indent=2) + "\n", path)
    print(f"metrics written to {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ConfigError, CheckpointError, FileNotFoundError) as exc:
        sys.exit(f"error: {exc}")
