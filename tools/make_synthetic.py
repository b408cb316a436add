#!/usr/bin/env python
"""Write procedurally generated scenes in a dataset's raw layout (see docs/synthetic.md).

    python tools/make_synthetic.py --out data/synthetic_raw --scenes 20 --seed 0 [--preset realistic]
    python tools/prepare_data.py scannetv2 --raw data/synthetic_raw --out data/synthetic   # or scannet200
    python tools/make_synthetic.py --format s3dis --out data/s3dis_raw --scenes 6 --areas 1,2,3,4,5,6
    python tools/make_synthetic.py --format stpls3d --out data/stpls3d_raw --scenes 5
    python tools/make_synthetic.py --preset realistic --out demo/scenes.tar.xz --scenes 3 --seed 1 \
        --first-index 1000 --split val   # one deterministic archive instead of a folder

An ``--out`` ending in .tar.xz, .tar.gz or .tar gets the same files as one archive (sphmask.io.archive).
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sphmask.data.synthetic import PRESETS, make_synthetic_dataset  # noqa: E402
from sphmask.data.synthetic_formats import make_s3dis_dataset, make_stpls3d_dataset  # noqa: E402
from sphmask.io.archive import is_scene_archive, write_scene_archive  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True,
                        help="output folder (the dataset's download layout), or an archive of it: a name ending "
                             "in .tar.xz, .tar.gz or .tar")
    parser.add_argument("--format", choices=("scannet", "s3dis", "stpls3d"), default="scannet",
                        help="raw layout: ScanNet (prepare as scannetv2 or scannet200), S3DIS rooms, STPLS3D tiles")
    parser.add_argument("--scenes", type=int, required=True, help="number of annotated rooms / tiles")
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
    parser.add_argument("--areas", default="1,2,3,4,5,6",
                        help="s3dis: the area of each room in turn, cycled (e.g. 1,1,5: two rooms in Area_1, one in Area_5)")
    args = parser.parse_args(argv)
    if args.scenes < 0 or args.test_scenes < 0 or args.first_index < 0:
        parser.error("--scenes, --test-scenes and --first-index must be >= 0")
    if args.format != "scannet" and args.size == "realistic":
        parser.error(f"--preset realistic writes the ScanNet layout only; --format {args.format} takes small or default")
    cycle = None
    if args.format == "s3dis":
        try:
            cycle = [int(a) for a in args.areas.split(",")]
        except ValueError:
            parser.error(f"--areas must be comma-separated area numbers, got {args.areas!r}")
        if any(not 1 <= a <= 6 for a in cycle):
            parser.error(f"--areas must be numbers 1..6, got {args.areas!r}")
    if is_scene_archive(args.out):
        # The rooms go to a scratch folder first; the archive appears (atomically) only when all are written.
        with tempfile.TemporaryDirectory(prefix="make_synthetic-") as scratch:
            what = generate(args, scratch, cycle)
            write_scene_archive(scratch, args.out)
    else:
        what = generate(args, args.out, cycle)
    print(what.format(out=args.out))
    return 0


def generate(args, out: str, cycle) -> str:
    """Write the rooms of ``args`` into the folder ``out``; returns the line to print, ``{out}`` standing
    for where they end up (the folder or the archive)."""
    if args.format == "s3dis":
        per_area = {}
        for i in range(args.scenes):
            per_area[cycle[i % len(cycle)]] = per_area.get(cycle[i % len(cycle)], 0) + 1
        rooms = make_s3dis_dataset(out, per_area, seed=args.seed, size=args.size, first_index=args.first_index)
        return f"wrote {len(rooms)} S3DIS rooms to {{out}}"
    if args.format == "stpls3d":
        tiles = make_stpls3d_dataset(out, [args.first_index + 1 + i for i in range(args.scenes)], seed=args.seed)
        return f"wrote {len(tiles)} STPLS3D tiles to {{out}} (tiles numbered by 5 are validation)"
    ids = make_synthetic_dataset(out, args.scenes, seed=args.seed, size=args.size, test_scenes=args.test_scenes,
                                 label_map=args.label_map, progress=True,
                                 first_index=args.first_index, split=args.split)
    return f"wrote {len(ids)} rooms to {{out}}"


if __name__ == "__main__":
    sys.exit(main())
