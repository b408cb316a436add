"""Operator benchmarks: sphmask's ops against the named alternatives, side by side in one run.

    python bench/ops.py [--sizes 50000 150000 250000] [--repeats 5] [--only fps ...] [--write FILE]

Every ``bench/ops_<group>.py`` module provides ``run(sizes, repeats) -> list[Row]``. With
``--write`` the table, the machine and the library versions replace the operator section of
FILE (docs/benchmarks.md).
"""
import argparse
import datetime
import glob
import importlib
import os
import platform
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import format_table  # noqa: E402

BEGIN, END = "<!-- ops-begin -->", "<!-- ops-end -->"


def machine_info() -> str:
    import numpy
    import sphmask

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{datetime.date.today()}: {cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), numpy {numpy.__version__}, "
            f"sphmask {sphmask.__version__} ({sphmask.compiler_version()}), Python {platform.python_version()}")


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
    table = format_table(rows)
    info = machine_info()
    print(info)
    print(table)
    if args.write:
        section = f"{BEGIN}\nMeasured {info}; {args.repeats} timed runs each.\n\n{table}\n{END}"
        text = open(args.write).read() if os.path.exists(args.write) else "# Benchmarks\n\n"
        if BEGIN in text and END in text:
            text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END):]
        else:
            text = text.rstrip("\n") + "\n\n## Operators\n\n" + section + "\n"
        tmp = args.write + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.write)


if __name__ == "__main__":
    main()
