"""The CPU recipe study behind the demo model (docs/demo_model.md, "How the recipe was found").

    python bench/demo_recipe.py --data data/demo_realistic [--probes bs4,bs1] [--jobs 2] \
        [--out work_dirs/recipe] [--plot docs/images/demo_recipe.png]

Each probe is stage 1 of the demo model (the backbone and point-wise heads, semantic-only,
``configs/synthetic/spherical_mask_small_backbone.yaml``) trained from scratch on the realistic
synthetic rooms of ``--data`` (``train/``; validation on ``val/``) with one change against the
baseline, for the same number of samples seen (10 epochs of the training rooms) and a cosine
schedule over its own steps. Probes run ``--jobs`` at a time with one thread each, so their times
compare with each other (not with a run that has both cores). Stage 1 is where the old recipe
failed on large rooms (val mIoU 0.07, issue #14); stage 2 depends on its backbone.

Prints a table (validation mIoU after the last epoch and its best, optimizer steps, training time)
and plots mIoU against samples seen and against training time.
"""
import argparse
import concurrent.futures
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CONFIG = os.path.join(ROOT, "configs", "synthetic", "spherical_mask_small_backbone.yaml")
EPOCHS = 10

# 5 cm voxels: the elastic distortion and the spatial shape scaled by 20 / 12.5 with the voxel size.
_VOXEL_5CM = ["model.voxel_scale=20", "data.train.voxel_cfg.scale=20", "data.test.voxel_cfg.scale=20",
              "data.train.voxel_cfg.spatial_shape=[52,208]", "data.test.voxel_cfg.spatial_shape=[52,208]",
              "data.train.elastic=[[4,24],[12,72]]"]
#: name -> (batch size, description, overrides); the baseline is the small-room recipe (batch 4).
PROBES = {
    "bs4": (4, "small-room recipe: batch 4, lr 0.002, 8 cm voxels", []),
    "bs1": (1, "batch 1 (4x the steps)", []),
    "bs1_5cm": (1, "batch 1, 5 cm voxels", _VOXEL_5CM),
    "bs1_crop": (1, "batch 1, 5.1 m spatial crop, at most 60k points",
                 ["data.train.voxel_cfg.spatial_shape=[32,64]", "data.train.voxel_cfg.max_npoint=60000"]),
    "bs1_lr4e-3": (1, "batch 1, lr 0.004", ["train.lr=0.004"]),
    "bs2": (2, "batch 2", []),
}


def train_rooms(data: str) -> int:
    """Prepared training rooms of ``data`` (the default ``train`` prefix of the config)."""
    n = len(glob.glob(os.path.join(data, "train", "*_inst_nostuff.pth")))
    if n == 0:
        raise SystemExit(f"error: no prepared training rooms in {os.path.join(data, 'train')} (run tools/prepare_data.py)")
    return n


def probe_command(name: str, data: str, out: str):
    batch, _, extra = PROBES[name]
    steps = EPOCHS * train_rooms(data) // batch
    return [sys.executable, os.path.join(ROOT, "tools", "train.py"), CONFIG, "--work-dir", os.path.join(out, name),
            "--set", f"data.train.data_root={data}", f"data.test.data_root={data}",
            f"dataloader.train.batch_size={batch}", f"train.max_steps={steps}", f"train.constant_steps={steps // 4}",
            "train.validate_every=2", *extra]


def run_probe(name: str, data: str, out: str) -> str:
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    with open(os.path.join(out, name + ".out"), "w") as log:
        subprocess.run(probe_command(name, data, out), env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    return name


def read_probe(work_dir: str) -> dict:
    """Validation mIoU per epoch, optimizer steps and training seconds of a finished probe."""
    from tools.plot_curves import read_scalars

    scalars = read_scalars(os.path.join(work_dir, "tb"))
    miou = scalars.get("val/miou", [])
    text = open(os.path.join(work_dir, "train.log")).read()
    m = re.search(r"trained (\d+) optimizer steps .* (\d+):(\d\d):(\d\d) of training", text)
    if not m or not miou:
        raise RuntimeError(f"{work_dir}: no finished run (train.log has no final summary or no validation)")
    seconds = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + int(m.group(4))
    return {"steps": int(m.group(1)), "seconds": seconds, "miou": miou}


def table(results: dict) -> str:
    lines = ["| probe | change | steps | train time | val mIoU (last) | best |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        last, best = r["miou"][-1][1], max(v for _, v in r["miou"])
        lines.append(f"| `{name}` | {PROBES[name][1]} | {r['steps']} | {r['seconds'] // 60} min {r['seconds'] % 60} s "
                     f"| {last:.3f} | {best:.3f} |")
    return "\n".join(lines)


def plot(results: dict, path: str, rooms: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sphmask.io.atomic import atomic_path

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, r in results.items():
        epochs = [e for e, _ in r["miou"]]
        values = [v for _, v in r["miou"]]
        axes[0].plot([e * rooms for e in epochs], values, marker="o", label=name)
        axes[1].plot([e / EPOCHS * r["seconds"] / 60 for e in epochs], values, marker="o", label=name)
    axes[0].set_xlabel("samples seen")
    axes[1].set_xlabel("training minutes (1 thread, two probes side by side)")
    for ax in axes:
        ax.set_ylabel("val mIoU (20 realistic rooms)")
        ax.grid(alpha=0.3)
    axes[1].legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="prepared realistic rooms (train/, val/, superpoints/)")
    p.add_argument("--probes", default=",".join(PROBES), help=f"comma-separated, of {list(PROBES)}")
    p.add_argument("--out", default=os.path.join(ROOT, "work_dirs", "recipe"))
    p.add_argument("--jobs", type=int, default=2, help="probes run side by side (one thread each)")
    p.add_argument("--plot", default=None, help="PNG of the validation curves")
    p.add_argument("--report-only", action="store_true", help="read finished probes from --out, train nothing")
    args = p.parse_args(argv)
    names = [n for n in args.probes.split(",") if n]
    unknown = [n for n in names if n not in PROBES]
    if unknown or args.jobs < 1:
        p.error(f"unknown probe(s) {unknown}; choose from {list(PROBES)}" if unknown else "--jobs must be >= 1")
    if not args.report_only:
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            for name in pool.map(lambda n: run_probe(n, args.data, args.out), names):
                print(f"finished {name}", flush=True)
    results = {n: read_probe(os.path.join(args.out, n)) for n in names}
    print(table(results))
    if args.plot:
        plot(results, args.plot, train_rooms(args.data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
