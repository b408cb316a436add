"""Model benchmark: eval-mode forward of the whole Spherical Mask (official widths) on synthetic
rooms, wall time per stage and peak RSS, next to the bare spconv U-Net measured in the same run.

    python bench/model.py [--sizes 50000 150000 250000] [--repeats 3] [--threads 2] [--write FILE]

Weights are random, with biases set so that every voxel is foreground and every query predicts an
object: the most expensive case for the instance branch (real scenes have walls and floors the
foreground filter removes). With ``--write`` the table replaces the model section
(``<!-- model-begin -->`` ... ``<!-- model-end -->``) of FILE (docs/benchmarks.md).
"""
import argparse
import gc
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import _status_kib, report, torch_machine_info  # noqa: E402

import sphmask  # noqa: E402
from sphmask import ops  # noqa: E402
from sphmask.models import sparse_backend  # noqa: E402
from sphmask.models.testing import make_batch, synthetic_room  # noqa: E402
from sphmask.models.timing import StageTimer  # noqa: E402

BEGIN, END = "<!-- model-begin -->", "<!-- model-end -->"
CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "scannetv2",
                      "spherical_mask.yaml")
#: Grid size of the synthetic superpoints: about 2,000 per 8 x 6 x 3 m room, the order of ScanNet's
#: segmentator output (hundreds to a few thousand segments per scan).
SUPERPOINT_SIZE = 0.3
STAGES = ("voxelize", "backbone", "heads", "aggregators", "rpm", "assembly", "postprocess")


def rigged_model():
    """Official-width model in eval mode; biases make every voxel foreground and every query an object."""
    torch.manual_seed(0)
    model = sphmask.build_model(CONFIG).eval()
    with torch.no_grad():
        model.semantic_linear[3].bias.zero_()[2] = 5.0
        model.inst_sem_head.layers[-1].bias.zero_()[0] = 4.0
        model.inst_conf_head.layers[-1].bias.fill_(0.8)
        model.rid_module.layers[-1].bias.fill_(0.6)
    return model


def peak_rss_mib(fn):
    """Process peak RSS (MiB) while running ``fn``: the kernel's high-water mark is reset first."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    fn()
    return _status_kib("VmHWM") / 1024.0


def bare_unet(model, batch):
    """input_conv -> unet -> output_layer on the batch's voxels, as the official backbone runs."""
    vb = model._prepare(batch)
    sp = sparse_backend.get(model.sparse_backend)
    x = sp.sparse_tensor(vb.input_feats, vb.voxel_coords, vb.spatial_shape, vb.batch_size)
    for name in ("input_conv", "unet"):
        sp.use_conv_algo_for(getattr(model, name), vb.xyz.device)

    def fn():
        with torch.no_grad():
            return model.output_layer(model.unet(model.input_conv(x))).features

    return fn


def run(sizes, repeats):
    """One row per size: median stage times (s), totals, bare U-Net time and peak RSS."""
    model = rigged_model()
    rows = []
    for n in sizes:
        room = synthetic_room(n, num_objects=24, room=(8.0, 6.0, 3.0), seed=1, superpoint_size=SUPERPOINT_SIZE)
        batch = make_batch([room], with_labels=False)
        coords = torch.cat([torch.zeros(n, 1, dtype=torch.int64),
                            (torch.from_numpy(room["xyz"]) * 50 - torch.from_numpy(room["xyz"]).min(0).values * 50)
                            .floor().long()], 1)
        unet = bare_unet(model, batch)
        unet()  # warm-up
        timer = StageTimer()
        model.stage_timer = timer

        def forward():
            t0 = time.perf_counter()
            ops.voxelize(coords)
            vox = time.perf_counter() - t0
            out = model(batch)
            timer.seconds["voxelize"] += vox + timer.seconds.pop("prepare", 0.0)
            return out

        forward()  # warm-up
        per_stage = {s: [] for s in STAGES}
        totals, unet_times = [], []
        for _ in range(repeats):
            timer.reset()
            t0 = time.perf_counter()
            out = forward()
            totals.append(time.perf_counter() - t0)
            for s in STAGES:
                per_stage[s].append(timer.seconds.get(s, 0.0))
            t0 = time.perf_counter()
            unet()
            unet_times.append(time.perf_counter() - t0)
        model.stage_timer = None
        rss_model = peak_rss_mib(lambda: model(batch))
        rss_unet = peak_rss_mib(unet)
        vb = model._prepare(batch)
        rows.append({
            "points": n, "voxels": vb.num_voxels, "superpoints": vb.num_sp, "instances": len(out[0]["instances"]),
            **{s: statistics.median(v) for s, v in per_stage.items()},
            "total": statistics.median(totals), "unet": statistics.median(unet_times),
            "rss_model": rss_model, "rss_unet": rss_unet,
        })
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def format_table(rows):
    head = ("| points | voxels | superpoints | " + " | ".join(STAGES) + " | total s | bare U-Net s | total / U-Net | "
            "peak RSS MiB (model) | peak RSS MiB (U-Net) | instances |")
    out = [head, "|" + "---:|" * (len(STAGES) + 9)]
    for r in rows:
        stages = " | ".join(f"{r[s]:.2f}" for s in STAGES)
        out.append(f"| {r['points']} | {r['voxels']} | {r['superpoints']} | {stages} | {r['total']:.2f} | "
                   f"{r['unet']:.2f} | {r['total'] / r['unet']:.2f} | {r['rss_model']:.0f} | {r['rss_unet']:.0f} | "
                   f"{r['instances']} |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[50000, 150000, 250000])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--write", help="markdown file whose model section is replaced by the results")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = run(args.sizes, args.repeats)
    report(format_table(rows), torch_machine_info(),
           f"eval mode, `torch.no_grad`, CPU, {args.repeats} timed runs each "
           f"(median seconds per stage). Stages: `voxelize` = `sphmask.ops.voxelize` + voxel means and "
           f"superpoint renumbering; `heads` = point-wise heads, foreground filter, superpoint pooling, "
           f"mask tower, query heads and controller; `rpm` = dynamic convolution. The bare U-Net "
           f"(`input_conv`, `unet`, `output_layer`) is timed in the same run on the same voxels",
           args.write, (BEGIN, END), "Model")


if __name__ == "__main__":
    main()
