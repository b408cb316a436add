#!/usr/bin/env python
"""Strip a training checkpoint to what inference needs (weights, epoch, config).

    python tools/export_checkpoint.py work_dirs/demo/latest.pth demo/spherical_mask_small.pth
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sphmask.checkpoint import export_weights  # noqa: E402
from sphmask.cli import DEBUG_HELP, run_tool  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, epilog=DEBUG_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", help="checkpoint written by tools/train.py")
    p.add_argument("dst", help="output path")
    args = p.parse_args(argv)
    if os.path.abspath(args.src) == os.path.abspath(args.dst):
        p.error("src and dst must differ")
    obj = export_weights(args.src, args.dst)
    n = sum(t.numel() for t in obj["net"].values())
    print(f"wrote {args.dst}: {len(obj['net'])} tensors, {n:,} values, epoch {obj['epoch']}, "
          f"{os.path.getsize(args.dst) / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
