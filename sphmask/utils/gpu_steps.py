"""The steps of ``make gpu-check`` (sphmask/utils/gpu_check.py runs them; each returns a detail
line or raises). The comparison helpers run on any device, so CI exercises them on CPU."""
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from typing import Dict, List

import numpy as np
import torch

#: The checkout (configs/, tests/): tools/gpu_check.sh runs a temporary copy of the package.
ROOT = os.environ.get("SPHMASK_REPO") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCANNET_CONFIG = os.path.join(ROOT, "configs", "scannetv2", "spherical_mask.yaml")
TINY_CONFIG = os.path.join(ROOT, "configs", "testing", "tiny.yaml")
#: Model parity thresholds (issue 11): per matched instance.
MIN_IOU, MAX_SCORE_DIFF = 0.99, 1e-3


def environment(build_info: str) -> Dict[str, str]:
    from sphmask import _ext

    props = torch.cuda.get_device_properties(0)
    try:
        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        driver = "unknown (nvidia-smi not found)"
    return {"date (UTC)": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "device": props.name,
            "compute capability": f"{props.major}.{props.minor}", "GPU memory (GiB)": f"{props.total_memory / 2**30:.0f}",
            "driver": driver, "torch": torch.__version__, "torch CUDA": str(torch.version.cuda),
            "extension CUDA": str(_ext.cuda_version()), "python": platform.python_version(),
            "CPU threads": str(torch.get_num_threads()), "build": build_info or "-",
            "sphmask._C loaded from": _ext.require().__file__}


def check_extension_has_cuda() -> str:
    from sphmask import _ext

    if not _ext.has_cuda():
        raise RuntimeError("sphmask._C was built without CUDA kernels (FORCE_CUDA=1 and nvcc needed)")
    return f"CUDA {_ext.cuda_version()}, {_ext.compiler_version()}"


def run_cuda_tests(extra: str = "") -> str:
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", *shlex.split(extra),
           os.path.join(ROOT, "tests", "ops"), os.path.join(ROOT, "tests", "cuda")]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    summary = (out.stdout.strip().splitlines() or ["(no output)"])[-1]
    if out.returncode != 0:
        tail = " / ".join(line for line in out.stdout.splitlines() if line.startswith("FAILED"))[:2000]
        raise RuntimeError(f"{summary}; {tail or out.stderr[-500:]}")
    return summary


def random_checkpoint(seed: int = 0, config: str = SCANNET_CONFIG) -> Dict[str, torch.Tensor]:
    """A state dict in the official layout (official widths) with random weights and BN stats."""
    import sphmask

    torch.manual_seed(seed)
    model = sphmask.build_model(config)
    g = torch.Generator().manual_seed(seed)
    sd = model.state_dict()
    for k, v in sd.items():
        if k.endswith("running_var"):
            v.copy_(torch.rand(v.shape, generator=g) * 0.5 + 0.75)
        elif k.endswith("running_mean"):
            v.copy_(torch.randn(v.shape, generator=g) * 0.1)
    return sd


def match_instances(a: List[Dict], b: List[Dict]) -> Dict[str, float]:
    """Pair the instances of two results of one scene greedily by mask IoU; return the worst IoU,
    the largest score difference, the number of label mismatches and the unmatched count."""
    used, worst_iou, worst_score, label_diff = set(), 1.0, 0.0, 0
    for inst in a:
        m = np.asarray(inst["mask"], bool)
        best, best_iou = None, -1.0
        for j, other in enumerate(b):
            if j in used:
                continue
            o = np.asarray(other["mask"], bool)
            union = np.logical_or(m, o).sum()
            iou = np.logical_and(m, o).sum() / union if union else 1.0
            if iou > best_iou:
                best, best_iou = j, iou
        if best is None:
            worst_iou = 0.0
            continue
        used.add(best)
        worst_iou = min(worst_iou, best_iou)
        worst_score = max(worst_score, abs(float(inst["score"]) - float(b[best]["score"])))
        label_diff += int(inst["label_id"] != b[best]["label_id"])
    return {"min_iou": worst_iou if a or b else 1.0, "max_score_diff": worst_score, "label_mismatches": label_diff,
            "unmatched": len(a) + len(b) - 2 * len(used)}


def compare_devices(model_cpu, model_dev, batch_cpu, batch_dev) -> Dict[str, float]:
    """Eval results and backbone intermediates of the same model on two devices."""
    with torch.no_grad():
        inter = []
        vb_c, vb_d = model_cpu._prepare(batch_cpu), model_dev._prepare(batch_dev)
        out_c, out_d = model_cpu.forward_backbone(vb_c), model_dev.forward_backbone(vb_d)
        for k in ("feats", "semantic", "offset", "corners", "box_conf"):
            inter.append((float((out_c[k] - out_d[k].cpu()).abs().max()), k))
        res_c, res_d = model_cpu(batch_cpu), model_dev(batch_dev)
    stats = match_instances(res_c[0]["instances"], [
        {**i, "mask": i["mask"].cpu() if torch.is_tensor(i["mask"]) else i["mask"]} for i in res_d[0]["instances"]])
    stats.update(instances_cpu=len(res_c[0]["instances"]), instances_dev=len(res_d[0]["instances"]),
                 max_intermediate_diff=max(inter)[0], max_intermediate=max(inter)[1])
    return stats


def model_parity(backend: str, n_points: int, device: str = "cuda", config: str = SCANNET_CONFIG) -> str:
    """The model on ``device`` with ``backend`` against CPU with spconv, same random checkpoint."""
    import sphmask
    from sphmask.config import load_config
    from sphmask.models.testing import make_batch, synthetic_room

    sd = random_checkpoint(config=config)
    room = synthetic_room(n_points, num_objects=12, room=(8.0, 6.0, 3.0), seed=1)
    models = []
    for dev, name in (("cpu", "spconv"), (device, backend)):
        cfg = load_config(config)
        cfg["model"]["sparse_backend"] = name
        m = sphmask.build_model(cfg)
        m.load_state_dict(sd)
        models.append(m.to(dev).eval())
    stats = compare_devices(models[0], models[1], make_batch([room], with_labels=False),
                            make_batch([room], with_labels=False, device=device))
    detail = (f"{stats['instances_cpu']} vs {stats['instances_dev']} instances, min IoU {stats['min_iou']:.4f}, "
              f"label mismatches {stats['label_mismatches']}, max score diff {stats['max_score_diff']:.2e}, "
              f"largest intermediate diff {stats['max_intermediate_diff']:.2e} ({stats['max_intermediate']})")
    if (stats["unmatched"] or stats["min_iou"] < MIN_IOU or stats["label_mismatches"]
            or stats["max_score_diff"] > MAX_SCORE_DIFF):
        raise AssertionError(detail)
    return detail


def train_steps(device: str, steps: int = 30, amp: bool = True) -> Dict[str, List[float]]:
    """``steps`` optimizer steps of the tiny config on two synthetic rooms with fp16 autocast and a
    GradScaler (``amp``); returns the losses and the scaler's scale after each step."""
    import sphmask
    from sphmask.models.testing import make_batch, synthetic_room

    torch.manual_seed(0)
    model = sphmask.build_model(TINY_CONFIG).to(device).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    scaler = torch.amp.GradScaler(device, enabled=amp)
    batch = make_batch([synthetic_room(4000, seed=s) for s in (0, 1)], device=device)
    losses, scales = [], []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.float16, enabled=amp):
            loss = model(batch)["loss"]
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(float(loss.detach()))
        scales.append(float(scaler.get_scale()) if amp else 1.0)
    return {"losses": losses, "scales": scales}


def judge_training(losses: List[float], scales: List[float], warmup: int = 10) -> str:
    """Losses finite and decreasing (mean of the last 5 below the first 5); the scale only drops
    (a skipped step) within the first ``warmup`` steps."""
    if not all(np.isfinite(losses)):
        raise AssertionError(f"non-finite loss at step {next(i for i, v in enumerate(losses) if not np.isfinite(v))}")
    first, last = statistics.mean(losses[:5]), statistics.mean(losses[-5:])
    skips = [i for i in range(1, len(scales)) if scales[i] < scales[i - 1]]
    detail = f"loss {first:.3f} -> {last:.3f} (means of first/last 5), scale drops at steps {skips or 'none'}"
    if not last < first:
        raise AssertionError(f"loss did not decrease: {detail}")
    if any(i >= warmup for i in skips):
        raise AssertionError(f"skipped steps after the scaler's first {warmup}: {detail}")
    return detail


def fp16_training() -> str:
    r = train_steps("cuda")
    return judge_training(r["losses"], r["scales"])


def _cuda_ms(fn, repeats: int = 10) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def _cpu_ms(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def op_calls(n: int, device: str):
    """(name, zero-argument call) for every CUDA op at ``n`` points on ``device``."""
    from sphmask import ops

    g = torch.Generator().manual_seed(n)
    xyz = (torch.rand(n, 3, generator=g) * 8).to(device)
    coords = torch.cat([torch.zeros(n, 1, dtype=torch.int64), (xyz.cpu() * 50).long()], 1).to(device)
    vc, p2v = ops.voxelize(coords)
    offsets = torch.tensor([0, n], device=device)
    centers = xyz[:256].contiguous()
    k = min(n, 2048)
    centers = centers[: min(n, 256)]
    masks = torch.rand(centers.shape[0], n, generator=g).to(device) > 0.5
    q = centers.shape[0]
    rays, mig = torch.rand(q, 25, generator=g).to(device), torch.rand(q, n, generator=g).to(device) * 0.1
    return [("voxelize", lambda: ops.voxelize(coords)),
            ("voxel_mean", lambda: ops.voxel_mean(xyz, p2v, vc.shape[0])),
            ("furthest_point_sample (2048)", lambda: ops.furthest_point_sample(xyz, offsets, k)),
            ("ball_query (2048 centres, k 32)", lambda: ops.ball_query(xyz, offsets, xyz[:k].contiguous(),
                                                                        torch.tensor([0, k], device=device), 0.2, 32)),
            ("sphere_coords (256 centres)", lambda: ops.sphere_coords(xyz, centers)),
            ("rays_from_masks (256 masks)", lambda: ops.rays_from_masks(xyz, centers, masks)),
            ("assemble_masks (256 queries)", lambda: ops.assemble_masks(xyz, centers, rays, mig))]


def timings(rows: List[Dict]) -> str:
    import sphmask
    from sphmask.models.testing import make_batch, synthetic_room

    for n in (50_000, 250_000):
        for (name, cuda_fn), (_, cpu_fn) in zip(op_calls(n, "cuda"), op_calls(n, "cpu")):
            rows.append({"what": name, "size": f"{n // 1000}k points", "cuda_ms": _cuda_ms(cuda_fn), "cpu_ms": _cpu_ms(cpu_fn)})
    model = sphmask.build_model(SCANNET_CONFIG).cuda().eval()
    batch = make_batch([synthetic_room(150_000, num_objects=12, room=(8.0, 6.0, 3.0), seed=2)], with_labels=False,
                       device="cuda")
    with torch.no_grad():
        rows.append({"what": "model forward (official widths)", "size": "150k points",
                     "cuda_ms": _cuda_ms(lambda: model(batch), repeats=5)})
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    train_batch = make_batch([synthetic_room(50_000, num_objects=8, seed=s) for s in range(4)], device="cuda")

    def step():
        opt.zero_grad(set_to_none=True)
        model(train_batch)["loss"].backward()
        opt.step()

    rows.append({"what": "training step (official widths)", "size": "batch 4 x 50k points",
                 "cuda_ms": _cuda_ms(step, repeats=5)})
    return f"{len(rows)} timings; peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
