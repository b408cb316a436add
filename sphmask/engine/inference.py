"""Running a model over a loader: predictions, evaluation against labels when the data has them,
and export of the ScanNet submission format plus coloured PLYs. Used by tools/test.py and by the
validation of tools/train.py, so both report the same numbers."""
import os
import time
from typing import Any, Dict, Optional

import numpy as np
import torch

from sphmask.engine import dist
from sphmask.engine.export import write_instance_ply
from sphmask.engine.trainer import move_to_device


def _to_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _cpu_instances(instances):
    return [{"mask": _to_numpy(i["mask"]).astype(bool), "label_id": int(i["label_id"]),
             "score": float(i["score"])} for i in instances]


@torch.no_grad()
def run_inference(model: torch.nn.Module, loader, device: torch.device, dataset: str = "scannetv2",
                  semantic_class_names=None, evaluate: bool = True, out_dir: Optional[str] = None,
                  progress: bool = True, max_scenes: Optional[int] = None) -> Dict[str, Any]:
    """Predict every scene of ``loader``; evaluate and export as asked.

    Args:
        model: a model whose eval-mode ``model(batch)`` returns per-scene
            ``{scan_id, semantic_pred int64[N], instances: [{mask bool[N], label_id, score}]}``.
        loader: test loader (scenes in order).
        dataset: evaluation class table (``scannetv2``, ``scannet200``, ``s3dis``, ``stpls3d``).
        semantic_class_names: names for the semantic metrics (mIoU/Acc); ``None`` skips them.
        evaluate: compute metrics for scenes that carry labels (scenes without labels are counted
            in ``unlabelled_scenes`` and only exported).
        out_dir: if set, write ``<scene>.txt`` + ``predicted_masks/`` (ScanNet submission format)
            and ``ply/<scene>.ply`` (instances coloured, background grey) there.
        max_scenes: stop after this many scenes (quick checks).

    Returns:
        ``{"instance": InstanceResults | None, "semantic": SemanticResults | None, "s3dis":
        S3DISResults | None (mPrec50 / mRec50, S3DIS only), "scenes": n,
        "unlabelled_scenes": n, "seconds_per_scene": float, "instances_per_scene": {scan_id: n}}``.
    """
    from sphmask.evaluation import InstanceEvaluator, S3DISEvaluator, SemanticEvaluator, write_submission

    model.eval()
    inst_eval = InstanceEvaluator(dataset) if evaluate else None
    s3dis_eval = S3DISEvaluator() if evaluate and dataset == "s3dis" else None
    sem_eval = SemanticEvaluator(semantic_class_names) if evaluate and semantic_class_names else None
    ds = getattr(loader, "dataset", None)
    originals = {}
    if out_dir is not None and hasattr(ds, "filenames"):
        originals = {ds.scan_id(f): f for f in ds.filenames}
    counts, n_scenes, n_unlabelled, elapsed = {}, 0, 0, 0.0
    bar = None
    if progress and dist.is_main():
        from tqdm import tqdm

        bar = tqdm(total=len(loader), desc="inference", dynamic_ncols=True, leave=False, disable=None)
    for batch in loader:
        batch = move_to_device(batch, device)
        t0 = time.perf_counter()
        results = model(batch)
        elapsed += time.perf_counter() - t0
        offsets = batch["point_offsets"].tolist()
        labelled = "semantic_labels" in batch
        for b, res in enumerate(results):
            scan_id = res["scan_id"]
            instances = _cpu_instances(res["instances"])
            counts[scan_id] = len(instances)
            p0, p1 = offsets[b], offsets[b + 1]
            if labelled and evaluate:
                sem = _to_numpy(batch["semantic_labels"][p0:p1])
                ins = _to_numpy(batch["instance_labels"][p0:p1])
                # batch instance ids are global; the evaluator's encoding wants small per-scene ids
                ins = np.where(ins >= 0, ins - (ins[ins >= 0].min() if (ins >= 0).any() else 0), ins)
                inst_eval.add_scene(scan_id, instances, semantic_labels=sem, instance_labels=ins)
                if sem_eval is not None:
                    sem_eval.update(_to_numpy(res["semantic_pred"]), sem)
                if s3dis_eval is not None:
                    s3dis_eval.add_scene(instances, sem, ins)
            elif not labelled:
                n_unlabelled += 1
            if out_dir is not None:
                write_submission(out_dir, scan_id, instances, dataset)
                xyz = _to_numpy(batch["coords_float"][p0:p1])
                if scan_id in originals:  # the file's own coordinates, not the test-rotated ones
                    xyz = ds.load(originals[scan_id])[0]
                write_instance_ply(os.path.join(out_dir, "ply", f"{scan_id}.ply"), xyz, instances)
            n_scenes += 1
        if bar is not None:
            bar.update(1)
        if max_scenes is not None and n_scenes >= max_scenes:
            break
    if bar is not None:
        bar.close()
    has_gt = inst_eval is not None and len(inst_eval) > 0
    return {
        "instance": inst_eval.evaluate() if has_gt else None,
        "semantic": sem_eval.evaluate() if sem_eval is not None and has_gt else None,
        "s3dis": s3dis_eval.evaluate() if s3dis_eval is not None and has_gt else None,
        "scenes": n_scenes,
        "unlabelled_scenes": n_unlabelled,
        "seconds_per_scene": elapsed / max(n_scenes, 1),
        "instances_per_scene": counts,
    }
