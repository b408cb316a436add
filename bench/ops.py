"""Operator benchmarks: sphmask's ops against the named alternatives, side by side in one run.

    python bench/ops.py [--sizes 50000 150000 250000] [--repeats 5] [--only fps ...] [--write FILE]

Every ``bench/ops_<group>.py`` module provides ``run(sizes, repeats) -> list[Row]``. With
``--write`` the table, the machine and the library versions replace the operator section of
FILE (docs/benchmarks.md).
"""
import argparse
import glob
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import format_table, report, torch_machine_info  # noqa: E402

BEGIN, END = "<!-- ops-begin -->", "<!-- ops-end -->"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[50000, 150000, 250000])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--only", nargs="+", help="groups to run (module suffixes, e.g. fps voxel)")
    p.add_argument("--write", help="markdown file whose operator section is replaced by the results")
    args = p.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    groups = sorted(os.path.basename(f)[4:-3] for f in glob.glob(os.path.join(here, "ops_*.py")))
    if args.only:
        unknown = set(args.only) - set(groups)
        if unknown:
            p.error(f"unknown group(s) {sorted(unknown)}; available: {groups}")
        groups = [g for g in groups if g in args.only]
    rows = []
    for g in groups:
        print(f"running {g} ...", file=sys.stderr, flush=True)
        rows += importlib.import_module(f"ops_{g}").run(args.sizes, args.repeats)
    report(format_table(rows), torch_machine_info(), f"{args.repeats} timed runs each", args.write, (BEGIN, END),
           "Operators")


if __name__ == "__main__":
    main()
