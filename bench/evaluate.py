"""Instance-evaluation benchmark: sphmask's evaluator on synthetic ScanNet-format scenes, optionally
side by side with the official ScanNet script.

    python bench/evaluate.py [--scenes 100] [--data DIR] [--repeats 3]
                             [--official-script PATH/evaluate_semantic_instance.py --official-python python2]
                             [--write docs/benchmarks.md]

The scenes (GT files and a prediction directory in the submission format) are generated once into
DIR (default: a temporary directory) and reused. Rows:

* ``tools/evaluate.py`` — our CLI as a separate process (interpreter start, imports, reading every
  file, evaluation, printing); the first row, so the last column is each row's time over it;
* ``evaluate_directories`` — the same work in-process;
* ``InstanceEvaluator`` — in-memory masks (what ``tools/test.py`` does), no file parsing;
* ``official`` — the given official script run as a process on the same directories (it is not
  part of this repository; the Python that runs it must provide numpy).
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

from _common import Row, format_table, machine_info, report, timeit  # noqa: E402

from sphmask.evaluation import (SCANNETV2, InstanceEvaluator, atomic_write, evaluate_directories,  # noqa: E402
                                write_gt_file, write_submission)

BEGIN, END = "<!-- eval-begin -->", "<!-- eval-end -->"


def synthetic_scene(rng: np.random.Generator):
    """One ScanNet-like scene: (gt ids int64[N], model-style instance list).

    N uniform in [50k, 150k] vertices, cut into runs of log-normal length (median ~1000): 15%
    unannotated, 15% wall/floor, the rest instances of random ScanNetV2 classes. Predictions: most
    instances get one with shifted ends and ~15% wrong labels, plus a few random false positives.
    """
    n = int(rng.integers(50_000, 150_001))
    ids = np.zeros(n, np.int64)
    segments = []
    pos, inst = 0, 1
    while pos < n:
        end = min(n, pos + max(20, int(rng.lognormal(7.0, 0.8))))
        u = rng.random()
        if u >= 0.15:
            cls = int(rng.choice([1, 2])) if u < 0.30 else int(rng.choice(SCANNETV2.eval_ids))
            ids[pos:end] = cls * 1000 + inst
            inst += 1
            if cls > 2:
                segments.append((pos, end, cls))
        pos = end
    instances = []
    for a, b, cls in segments:
        if rng.random() < 0.2:
            continue
        size = b - a
        lo = max(0, a + int(rng.normal(0, 0.1) * size))
        hi = min(n, b + int(rng.normal(0, 0.1) * size))
        label = cls if rng.random() < 0.85 else int(rng.choice(SCANNETV2.eval_ids))
        mask = np.zeros(n, bool)
        mask[lo:max(lo + 1, hi)] = True
        instances.append({"mask": mask, "label_id": SCANNETV2.eval_ids.index(label) + 1,
                          "score": round(float(rng.random()), 4)})
    for _ in range(int(rng.integers(2, 8))):
        lo = int(rng.integers(0, n - 3000))
        mask = np.zeros(n, bool)
        mask[lo:lo + int(rng.integers(50, 3000))] = True
        instances.append({"mask": mask, "label_id": int(rng.integers(1, 19)), "score": round(float(rng.random()), 4)})
    return ids, instances


def make_dataset(root: str, num_scenes: int, seed: int = 0):
    """Write ``root/gt`` and ``root/pred`` once (a ``.complete`` marker makes it reusable)."""
    marker = os.path.join(root, ".complete")
    gt_dir, pred_dir = os.path.join(root, "gt"), os.path.join(root, "pred")
    if os.path.exists(marker) and open(marker).read() == f"{num_scenes} {seed}":
        return gt_dir, pred_dir
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(gt_dir)
    os.makedirs(pred_dir)
    rng = np.random.default_rng(seed)
    for s in range(num_scenes):
        ids, instances = synthetic_scene(rng)
        write_gt_file(os.path.join(gt_dir, f"scene{s:04d}_00.txt"), ids)
        write_submission(pred_dir, f"scene{s:04d}_00", instances)
    atomic_write(marker, f"{num_scenes} {seed}")
    return gt_dir, pred_dir


def dataset_stats(num_scenes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    verts, preds = [], []
    for _ in range(num_scenes):
        ids, instances = synthetic_scene(rng)
        verts.append(ids.size)
        preds.append(len(instances))
    return float(np.mean(verts)), float(np.mean(preds))


def in_memory(num_scenes: int, seed: int = 0):
    """InstanceEvaluator over the same scenes, masks regenerated in memory (generation not timed)."""
    rng = np.random.default_rng(seed)
    scenes = [synthetic_scene(rng) for _ in range(num_scenes)]

    def run():
        ev = InstanceEvaluator("scannetv2")
        for s, (ids, instances) in enumerate(scenes):
            ev.add_scene(f"scene{s:04d}_00", instances, gt_ids=ids)
        return ev.evaluate()
    return run


def process_row(case, impl, cmd, repeats, note=""):
    """Wall time of ``cmd`` run ``repeats`` times; the note adds the median run's CPU time
    (user + system), which other load on the machine disturbs less than wall time."""
    runs = []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = (time.perf_counter() - t0) * 1e3
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        runs.append((wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime))
    runs.sort()
    wall, cpu = runs[len(runs) // 2]
    note = f"CPU {cpu:.2f} s" + (f"; {note}" if note else "")
    return Row("evaluate", case, impl, wall, runs[0][0], runs[-1][0], note=note)


def inprocess_row(case, impl, fn, repeats):
    """Like :func:`process_row` for a function, CPU time from one extra run."""
    med, lo, hi = timeit(fn, repeats, warmup=1)
    t0 = time.process_time()
    fn()
    return Row("evaluate", case, impl, med, lo, hi, note=f"CPU {time.process_time() - t0:.2f} s")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", type=int, default=100)
    p.add_argument("--data", help="directory for the generated scenes (kept and reused)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--official-script", help="path of ScanNet's evaluate_semantic_instance.py to time as well")
    p.add_argument("--official-python", default="python2", help="interpreter for the official script")
    p.add_argument("--official-note", default="", help="note for the official row (e.g. its Python/numpy)")
    p.add_argument("--write", help="markdown file whose evaluation section is replaced by the results")
    args = p.parse_args()

    data = args.data or tempfile.mkdtemp(prefix="sphmask-eval-bench-")
    print(f"generating {args.scenes} scenes in {data} ...", file=sys.stderr, flush=True)
    gt_dir, pred_dir = make_dataset(data, args.scenes)
    mean_n, mean_p = dataset_stats(args.scenes)
    case = f"{args.scenes} scenes, mean {mean_n / 1000:.0f}k vertices, {mean_p:.0f} predictions"

    rows = []
    cli = [sys.executable, os.path.join(ROOT, "tools", "evaluate.py"), "--gt", gt_dir, "--pred", pred_dir]
    rows.append(process_row(case, "sphmask tools/evaluate.py (process)", cli, args.repeats))
    rows.append(inprocess_row(case, "sphmask evaluate_directories (in-process)",
                              lambda: evaluate_directories(gt_dir, pred_dir), args.repeats))
    rows.append(inprocess_row(case, "sphmask InstanceEvaluator (in-memory masks)", in_memory(args.scenes),
                              args.repeats))
    if args.official_script:
        out = os.path.join(data, "official_result.csv")
        cmd = [args.official_python, args.official_script, "--pred_path", pred_dir, "--gt_path", gt_dir,
               "--output_file", out]
        print("running the official script once ...", file=sys.stderr, flush=True)
        rows.append(process_row(case, "official evaluate_semantic_instance.py (process)", cmd, 1,
                                note=args.official_note))
    report(format_table(rows), machine_info(f"numpy {np.__version__}"),
           f"median of {args.repeats} runs (official: 1 run)", args.write, (BEGIN, END), "Instance evaluation")


if __name__ == "__main__":
    main()
