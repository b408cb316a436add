#!/usr/bin/env python
"""Plot training curves from the TensorBoard logs tools/train.py writes (`<work_dir>/tb`).

    python tools/plot_curves.py --run backbone=work_dirs/demo_backbone --run instance=work_dirs/demo \
        --out docs/images/demo_curves.png

Left: the epoch-mean training loss of each run, runs placed one after the other on one epoch axis.
Right: the validation metrics (``val/*``: AP, AP50, AP25, mIoU, ...) on the same axis.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read_scalars(tb_dir: str):
    """``{tag: [(step, value), ...]}`` of every scalar in the event files under ``tb_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(tb_dir, size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", required=True, metavar="LABEL=WORK_DIR",
                   help="a training run, in order; repeat for stages")
    p.add_argument("--out", required=True, help="PNG path")
    p.add_argument("--metrics", default="ap,ap50,ap25,miou", help="val/* tags to draw (comma-separated)")
    args = p.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sphmask.io.atomic import atomic_path

    wanted = [m for m in args.metrics.split(",") if m]
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=120)
    offset = 0
    for item in args.run:
        if "=" not in item:
            p.error(f"--run {item!r} must look like LABEL=WORK_DIR")
        label, work_dir = item.split("=", 1)
        tb = os.path.join(work_dir, "tb")
        if not os.path.isdir(tb):
            p.error(f"--run {item!r}: no TensorBoard folder {tb}")
        scalars = read_scalars(tb)
        loss = scalars.get("epoch/loss", [])
        if not loss:
            p.error(f"--run {item!r}: {tb} has no epoch/loss scalars")
        ax_loss.plot([offset + s for s, _ in loss], [v for _, v in loss], marker=".", label=f"{label}: loss")
        for m in wanted:
            pts = scalars.get(f"val/{m}", [])
            if pts and any(v > 0 for _, v in pts):
                ax_val.plot([offset + s for s, _ in pts], [v for _, v in pts], marker="o", label=f"{label}: {m}")
        if offset:
            for ax in (ax_loss, ax_val):
                ax.axvline(offset, color="grey", linestyle=":", linewidth=1)
        offset += max(s for s, _ in loss)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss (epoch mean)")
    ax_loss.set_yscale("log")
    ax_loss.legend()
    ax_val.set_xlabel("epoch")
    ax_val.set_ylabel("validation")
    ax_val.set_ylim(0, 1)
    ax_val.legend()
    fig.tight_layout()
    with atomic_path(args.out) as tmp:
        with open(tmp, "wb") as f:
            fig.savefig(f, format="png")
    plt.close(fig)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
