"""Evaluate ScanNet-format instance predictions exactly as the official benchmark script does.

    python tools/evaluate.py --gt GT_DIR --pred PRED_DIR [--dataset scannetv2|scannet200|s3dis|stpls3d]
                             [--json FILE] [--strict-scenes]

GT_DIR holds ``<scene>.txt`` ground-truth files (one ``label_id * 1000 + instance`` per vertex);
PRED_DIR holds the submission: ``<scene>.txt`` (``<relative mask path> <label id> <confidence>``
per line) and the mask files it lists. Every prediction file must have a ground-truth file;
ground-truth scenes without predictions are skipped with a warning (as the official script does,
silently) unless --strict-scenes counts them as scenes without predictions. Prints the per-class
AP / AP_50% / AP_25% table; --json writes {"average": {...}, "classes": {name: {...}}} (null for
classes without ground truth). See docs/evaluation.md.
"""
import argparse
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sphmask.cli import DEBUG_HELP, run_tool  # noqa: E402
from sphmask.evaluation import DATASETS, EvaluationWarning, atomic_write, evaluate_directories  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, epilog=DEBUG_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gt", required=True, help="directory of ground-truth <scene>.txt files")
    p.add_argument("--pred", required=True, help="directory of prediction <scene>.txt files and their masks")
    p.add_argument("--dataset", default="scannetv2", choices=sorted(DATASETS), help="class table (default scannetv2)")
    p.add_argument("--json", help="write the results as JSON to this file")
    p.add_argument("--strict-scenes", action="store_true",
                   help="count ground-truth scenes without a prediction file as scenes without predictions")
    args = p.parse_args(argv)

    with warnings.catch_warnings():
        warnings.simplefilter("always", EvaluationWarning)
        warnings.showwarning = lambda message, *a, **k: print(f"WARNING: {message}", file=sys.stderr, flush=True)
        results = evaluate_directories(args.gt, args.pred, args.dataset, strict_scenes=args.strict_scenes)
    print(f"evaluated {results.num_scenes} scenes ({args.dataset})")
    print(results.format_table())
    if args.json:
        atomic_write(args.json, json.dumps(results.to_dict(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
