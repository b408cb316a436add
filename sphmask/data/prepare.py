"""Batch preprocessing: raw dataset folder -> preprocessed scenes, one command per dataset.

A run is a list of jobs (one per raw scene, room or point file). Jobs run in worker processes,
write every output file atomically and then a small marker ``<out>/.prepared/<job>.json`` listing
the outputs and their statistics. A rerun skips jobs whose marker and outputs all exist, so an
interrupted run resumes where it stopped and never leaves a half-written scene behind. A job whose
input is unusable is reported (file and problem) and skipped; the others still run.
"""
import dataclasses
import json
import multiprocessing
import os
import re
import sys
from collections import Counter
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from sphmask.data.classes import DATASETS, scannetv2_val_scenes
from sphmask.data.labelmap import read_label_map
from sphmask.io.atomic import write_text
from sphmask.io.errors import DataFormatError

DATASET_NAMES = ("scannetv2", "scannet200", "s3dis", "stpls3d")


@dataclasses.dataclass
class Job:
    """One unit of work: ``func(**kwargs)`` returns a list of :class:`PreparedScene`."""

    key: str
    func: Callable
    kwargs: dict


@dataclasses.dataclass
class JobResult:
    key: str
    status: str  # "done", "resumed" or "failed"
    scenes: List[dict] = dataclasses.field(default_factory=list)  # {"name", "prefix", "points", "instances"}
    error: str = ""


@dataclasses.dataclass
class Summary:
    """Outcome of :func:`prepare_dataset`."""

    dataset: str
    results: List[JobResult]

    @property
    def failed(self) -> List[JobResult]:
        return [r for r in self.results if r.status == "failed"]

    def line(self) -> str:
        """The one-line summary: scenes per split, points, instances per class, resumed and failed."""
        scenes = [s for r in self.results for s in r.scenes]
        per_prefix = Counter(s["prefix"] for s in scenes)
        points = sum(s["points"] for s in scenes)
        inst: Counter = Counter()
        for s in scenes:
            inst.update(s["instances"])
        split = ", ".join(f"{p} {n}" for p, n in sorted(per_prefix.items()))
        classes = ", ".join(f"{c} {n}" for c, n in sorted(inst.items(), key=lambda kv: (-kv[1], kv[0])))
        resumed = sum(r.status == "resumed" for r in self.results)
        text = (f"{self.dataset}: {len(scenes)} scenes ({split or 'none'}), {points:,} points, "
                f"{sum(inst.values()):,} instances ({classes or 'none'})")
        if resumed:
            text += f"; {resumed} already prepared"
        if self.failed:
            text += f"; {len(self.failed)} FAILED: " + ", ".join(r.key for r in self.failed)
        return text


def _marker_path(out_dir: str, key: str) -> str:
    return os.path.join(out_dir, ".prepared", re.sub(r"[^A-Za-z0-9_.-]+", "+", key) + ".json")


def _load_marker(out_dir: str, key: str) -> Optional[dict]:
    path = _marker_path(out_dir, key)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            marker = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    files = [os.path.join(out_dir, p) for s in marker.get("scenes", []) for p in s.get("outputs", [])]
    return marker if all(os.path.isfile(p) for p in files) else None


def _run_job(args: Tuple[Job, str]) -> JobResult:
    job, out_dir = args
    written: List[str] = []
    try:
        scenes = job.func(**job.kwargs)
        records = []
        for scene in scenes:
            paths = scene.write(out_dir)
            written += list(paths.values())
            rec = {"name": scene.name, "prefix": scene.prefix, **scene.stats(),
                   "outputs": [os.path.relpath(p, out_dir) for p in paths.values()]}
            records.append(rec)
        write_text(json.dumps({"key": job.key, "scenes": records}), _marker_path(out_dir, job.key))
        return JobResult(job.key, "done", records)
    except DataFormatError as exc:
        err = str(exc)
    except Exception as exc:  # reported per job so one bad scene does not stop a batch
        err = f"unexpected {type(exc).__name__}: {exc}"
    for p in written:  # a failed job leaves nothing behind
        if os.path.isfile(p):
            os.remove(p)
    return JobResult(job.key, "failed", error=err)


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def run_jobs(jobs: Sequence[Job], out_dir: str, workers: int = 1, progress: bool = True,
             log: Callable[[str], None] = print) -> List[JobResult]:
    """Run ``jobs`` (skipping those already done) with ``workers`` processes; report failures via ``log``."""
    results: List[JobResult] = []
    todo = []
    for job in jobs:
        marker = _load_marker(out_dir, job.key)
        if marker is not None:
            results.append(JobResult(job.key, "resumed", marker["scenes"]))
        else:
            todo.append(job)
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="preparing", unit="scene", file=sys.stderr)
    if workers <= 1 or len(todo) <= 1:
        stream: Iterable[JobResult] = (_run_job((j, out_dir)) for j in todo)
        pool = None
    else:
        pool = multiprocessing.get_context("spawn").Pool(min(workers, len(todo)), initializer=_worker_init)
        stream = pool.imap_unordered(_run_job, [(j, out_dir) for j in todo])
    try:
        for res in stream:
            if res.status == "failed":
                log(f"skipped {res.key}: {res.error}")
            results.append(res)
            if bar is not None:
                bar.update(1)
    except BaseException:
        if pool is not None:  # Ctrl-C: stop the workers now; finished scenes stay, others resume later
            pool.terminate()
            pool = None
        raise
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        if bar is not None:
            bar.close()
    order = {j.key: i for i, j in enumerate(jobs)}
    results.sort(key=lambda r: order[r.key])
    return results


# ----------------------------------------------------------------------------------------------
# Split files


def parse_split_arg(arg: str) -> Tuple[Optional[str], str]:
    """``"PREFIX=FILE"`` or ``"FILE"`` -> (prefix, file). Without ``PREFIX=`` the prefix is the last
    of the words ``train``/``val``/``test``/``trainval`` in the file name (``scannetv2_val.txt`` ->
    ``val``), or ``None`` (the dataset's default rule then picks the folder of each scene)."""
    if "=" in arg and not os.path.isfile(arg):
        prefix, path = arg.split("=", 1)
        return prefix, path
    stem = os.path.splitext(os.path.basename(arg))[0]
    words = [w for w in re.split(r"[^A-Za-z0-9]+", stem) if w in ("train", "val", "test", "trainval")]
    return (words[-1] if words else None), arg


def read_split_file(path: str) -> List[str]:
    """Scene ids of a split file: one per line; blank lines and ``#`` comments ignored."""
    if not os.path.isfile(path):
        raise DataFormatError(path, "split file not found")
    with open(path, encoding="utf-8-sig") as f:
        return [ln.split("#", 1)[0].strip() for ln in f if ln.split("#", 1)[0].strip()]


# ----------------------------------------------------------------------------------------------
# ScanNet (v2 and 200)


def _scannet_job(scene_dir, scene_id, prefix, label_map, dataset, labelled):
    from sphmask.data.scannet import prepare_scannet_scene

    if not os.path.isdir(scene_dir):
        raise DataFormatError(scene_dir, f"scene {scene_id} listed in the split but not found under scans/ or scans_test/")
    return [prepare_scannet_scene(scene_dir, scene_id, prefix, label_map, dataset=dataset, labelled=labelled)]


def _list_dirs(path: str) -> List[str]:
    return sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))) if os.path.isdir(path) else []


def plan_scannet(raw: str, dataset: str, splits: Sequence[Tuple[str, str]] = (), label_map: Optional[str] = None
                 ) -> List[Job]:
    """Jobs for a ScanNet download root (``scans/``, ``scans_test/``, the tsv).

    Without split files every scene found is prepared. A scene's folder is the split's prefix, or
    by default: ``scans_test`` -> ``test``; ``scans`` -> ``val`` if listed in ``<raw>/scannetv2_val.txt``
    (or, when that file is absent, in the official validation list), else ``train``. Scenes from
    ``scans_test`` are prepared without labels.
    """
    scans, scans_test = os.path.join(raw, "scans"), os.path.join(raw, "scans_test")
    in_scans, in_test = set(_list_dirs(scans)), set(_list_dirs(scans_test))
    if not in_scans and not in_test:
        raise DataFormatError(raw, "no scene folders found under scans/ or scans_test/ (expected the ScanNet download root)")
    val_file = os.path.join(raw, "scannetv2_val.txt")
    val = set(read_split_file(val_file)) if os.path.isfile(val_file) else scannetv2_val_scenes()

    def default_prefix(sid: str) -> str:
        if sid in in_test and sid not in in_scans:
            return "test"
        return "val" if sid in val else "train"

    assignment: List[Tuple[str, str]] = []
    if splits:
        for prefix, path in splits:
            assignment += [(prefix or default_prefix(sid), sid) for sid in read_split_file(path)]
    else:
        assignment = [(default_prefix(sid), sid) for sid in sorted(in_scans)]
        assignment += [("test", sid) for sid in sorted(in_test - in_scans)]
    labels = None
    if any(sid in in_scans for _, sid in assignment):
        labels = read_label_map(label_map or os.path.join(raw, "scannetv2-labels.combined.tsv"))
    jobs = []
    for prefix, sid in assignment:
        labelled = sid in in_scans
        scene_dir = os.path.join(scans if labelled or sid not in in_test else scans_test, sid)
        jobs.append(Job(f"{prefix}/{sid}", _scannet_job, dict(scene_dir=scene_dir, scene_id=sid, prefix=prefix,
                                                              label_map=labels, dataset=dataset, labelled=labelled)))
    return jobs


# ----------------------------------------------------------------------------------------------


def plan_jobs(dataset: str, raw: str, splits: Sequence[Tuple[str, str]] = (), label_map: Optional[str] = None
              ) -> List[Job]:
    """The jobs of one dataset (see the ``plan_*`` functions for each layout). ``label_map`` (ScanNet
    only) is the tsv to use instead of ``<raw>/scannetv2-labels.combined.tsv``."""
    if not os.path.isdir(raw):
        raise DataFormatError(raw, "raw data folder not found")
    if dataset in ("scannetv2", "scannet200"):
        return plan_scannet(raw, dataset, splits, label_map)
    if dataset == "s3dis":
        from sphmask.data.s3dis import plan_s3dis

        return plan_s3dis(raw, splits)
    if dataset == "stpls3d":
        from sphmask.data.stpls3d import plan_stpls3d

        return plan_stpls3d(raw, splits)
    raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASET_NAMES}")


def prepare_dataset(dataset: str, raw: str, out: str, splits: Sequence[Tuple[str, str]] = (), workers: int = 1,
                    progress: bool = True, log: Callable[[str], None] = print, label_map: Optional[str] = None
                    ) -> Summary:
    """Preprocess a whole dataset; returns the :class:`Summary` (also writes ``<out>/meta.json``)."""
    jobs = plan_jobs(dataset, raw, splits, label_map)
    os.makedirs(out, exist_ok=True)
    write_text(json.dumps(DATASETS[dataset].to_json(), indent=1), os.path.join(out, "meta.json"))
    results = run_jobs(jobs, out, workers=workers, progress=progress, log=log)
    return Summary(dataset, results)

