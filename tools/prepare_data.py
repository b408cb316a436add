#!/usr/bin/env python
"""Preprocess a raw dataset into training/evaluation files, in one command.

    python tools/prepare_data.py scannetv2  --raw /data/scannet --out data/scannetv2
    python tools/prepare_data.py scannet200 --raw /data/scannet --out data/scannet200
    python tools/prepare_data.py s3dis      --raw /data/Stanford3dDataset_v1.2_Aligned_Version --out data/s3dis
    python tools/prepare_data.py stpls3d    --raw /data/Synthetic_v3_InstanceSegmentation --out data/stpls3d

Reruns skip what is already written. See docs/data.md for layouts and conventions. Unusable input
ends with one line (exit 2; --debug for the traceback); a run where some scenes failed exits 1.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sphmask.cli import DEBUG_HELP, run_tool  # noqa: E402
from sphmask.data.prepare import DATASET_NAMES, parse_split_arg, prepare_dataset  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, epilog=DEBUG_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=DATASET_NAMES)
    parser.add_argument("--raw", required=True, help="raw dataset folder (layout: docs/data.md)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--split", action="append", default=[], metavar="[PREFIX=]FILE",
                        help="file of scene ids to prepare, into the folder PREFIX (default: the word train/val/test "
                             "in the file name, e.g. scannetv2_val.txt -> val, else the dataset's own rule); "
                             "repeatable; without it every scene found is prepared")
    parser.add_argument("--label-map", metavar="TSV", help="ScanNet label map to use instead of "
                        "<raw>/scannetv2-labels.combined.tsv (either copy in circulation works)")
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    summary = prepare_dataset(args.dataset, args.raw, args.out, [parse_split_arg(s) for s in args.split],
                              workers=args.workers, progress=not args.no_progress,
                              log=lambda msg: print(msg, file=sys.stderr), label_map=args.label_map)
    print(summary.line())
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
