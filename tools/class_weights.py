#!/usr/bin/env python
"""Semantic class weights from the label frequencies of a config's training set.

    python tools/class_weights.py configs/scannet200/spherical_mask.yaml [--power 0.5] [--split train]

Prints the list for ``model.loss.semantic_weight`` (paste it into the config, with
``model.loss.semantic_loss: focal`` for the class-balanced focal loss); see docs/training.md.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sphmask.cli import run_tool  # noqa: E402
from sphmask.config import load_config  # noqa: E402
from sphmask.data import build_dataset  # noqa: E402
from sphmask.data.class_weights import frequency_weights, label_counts  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("--split", default="train", help="config data section to count (default: train)")
    p.add_argument("--power", type=float, default=0.5, help="w = frequency ** -power (1: inverse frequency)")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE", help="config overrides")
    args = p.parse_args(argv)
    dataset = build_dataset(load_config(args.config, args.set), args.split, training=False)
    counts = label_counts(dataset)
    weights = frequency_weights(counts, args.power)
    print(f"# {int(counts.sum())} labelled points, {int((counts > 0).sum())} of {len(counts)} classes present")
    print(f"semantic_weight: [{', '.join(f'{w:g}' for w in weights)}]")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
