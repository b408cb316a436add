"""Evaluate a checkpoint on a dataset split, and export predictions.

    python tools/test.py CONFIG --ckpt CKPT [--out DIR] [--work-dir DIR] [--no-eval] [--split test]
                         [--set key=value ...]

Loads official Spherical Mask or sphmask checkpoints strictly (every key and shape must match;
the error lists all mismatches). Prints the per-class AP / AP50 / AP25 table (ScanNet200 also
head/common/tail, S3DIS mPrec50 / mRec50) and mIoU / Acc / mAcc, and writes metrics.json: into
--out when given (which also gets the ScanNet benchmark submission, <scene>.txt + predicted_masks/,
and ply/<scene>.ply with instances coloured), else into the work dir (default
work_dirs/<config name>, as tools/train.py). Scenes without labels are exported and not evaluated.
Errors in the config, the checkpoint or the data end with one line (exit 2; --debug for the traceback).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from sphmask.checkpoint import load_checkpoint  # noqa: E402
from sphmask.cli import DEBUG_HELP, run_tool  # noqa: E402
from sphmask.config import load_config  # noqa: E402
from sphmask.data import build_dataloader  # noqa: E402
from sphmask.engine.inference import run_inference  # noqa: E402
from sphmask.engine.run_state import default_work_dir  # noqa: E402
from sphmask.io import write_text  # noqa: E402
from sphmask.models import build_model, check_config  # noqa: E402
from sphmask.models.build import config_keys  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, epilog=DEBUG_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("--ckpt", required=True, help="official {'net': ...} or sphmask checkpoint")
    p.add_argument("--out", help="folder for metrics.json, the submission files and coloured PLYs")
    p.add_argument("--work-dir", help="folder for metrics.json without --out (default: work_dirs/<config name>)")
    p.add_argument("--no-eval", action="store_true", help="only predict (and export with --out)")
    p.add_argument("--split", default="test", help="config data section to run (default: test)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--max-scenes", type=int, help="stop after this many scenes (quick checks)")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE", help="config overrides")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, args.set, schema=config_keys)
    check_config(cfg)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    loader = build_dataloader(cfg, args.split)  # before the model: missing data is one line, and early
    model = build_model(cfg)
    report = load_checkpoint(model, args.ckpt)
    print(f"checkpoint {args.ckpt}: {report.summary()}")
    model.to(device)
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
    out_dir = args.out or args.work_dir or default_work_dir(args.config)
    path = os.path.join(out_dir, "metrics.json")
    write_text(json.dumps(metrics, indent=2) + "\n", path)
    print(f"metrics written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
