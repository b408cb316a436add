#!/usr/bin/env python
"""Write procedurally generated rooms in the raw ScanNet layout (see docs/synthetic.md).

    python tools/make_synthetic.py --out data/synthetic_raw --scenes 20 --seed 0 [--preset realistic]
    python tools/prepare_data.py scannetv2 --raw data/synthetic_raw --out data/synthetic
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sphmask.data.synthetic import PRESETS, make_synthetic_dataset  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder (ScanNet download layout)")
    parser.add_argument("--scenes", type=int, required=True, help="number of annotated rooms (scans/)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-scenes", type=int, default=0, help="extra unannotated rooms (scans_test/)")
    parser.add_argument("--preset", "--size", dest="size", choices=PRESETS, default="default",
                        help="'default' rooms have ~50k-150k vertices, 'small' ~10k (fast tests), 'realistic' "
                             "scan-like rooms 4-10 m with touching, fused objects (docs/synthetic.md)")
    parser.add_argument("--first-index", type=int, default=0,
                        help="number of the first room (scene ids synth<index>_00); default 0")
    parser.add_argument("--split", choices=("auto", "train", "val"), default="auto",
                        help="'auto': every fifth room in val, the rest in train; or all rooms in one split")
    parser.add_argument("--label-map", choices=("lf", "crlf"), default="lf",
                        help="which of the two circulating tsv copies to write (default: LF, 'refridgerator')")
    args = parser.parse_args(argv)
    if args.scenes < 0 or args.test_scenes < 0 or args.first_index < 0:
        parser.error("--scenes, --test-scenes and --first-index must be >= 0")
    ids = make_synthetic_dataset(args.out, args.scenes, seed=args.seed, size=args.size, test_scenes=args.test_scenes,
                                 label_map=args.label_map, progress=True,
                                 first_index=args.first_index, split=args.split)
    print(f"wrote {len(ids)} rooms to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
