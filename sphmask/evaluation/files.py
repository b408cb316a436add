"""Evaluate a directory of ScanNet-format predictions against a directory of ground-truth files.

Scene selection follows the official script: every ``*.txt`` in the prediction directory (except
its own output name ``semantic_instance_evaluation.txt``) is a scene and must have a ground-truth
file of the same name. Ground-truth scenes without a prediction file are skipped by the official
script without notice; here they raise an :class:`EvaluationWarning`, and with
``strict_scenes=True`` they are evaluated as scenes without predictions (all GT missed).
"""
import os
import warnings
from typing import Dict, List, Tuple, Union

from sphmask.data.classes import DatasetClasses, get_dataset
from sphmask.evaluation.instance import InstanceEvaluator, InstanceResults
from sphmask.evaluation.io import (EvaluationInputError, PredictionLine, iter_files, read_gt_file,
                                   read_mask_file, read_prediction_file)

RESULT_FILE_NAME = "semantic_instance_evaluation.txt"


class EvaluationWarning(UserWarning):
    """Something the official script accepts silently but that probably is a mistake."""


def _dedupe_lines(path: str, lines: List[PredictionLine]) -> List[PredictionLine]:
    """One entry per mask file: the official script keys predictions by mask path, so a repeated
    path counts once, with the label and confidence of its last line (kept at its first
    line's position, the visiting order of a Python dict)."""
    first: Dict[str, int] = {}
    out: List[PredictionLine] = []
    for ln in lines:
        if ln.mask_path in first:
            prev = out[first[ln.mask_path]]
            warnings.warn(f"{path}:{ln.line}: mask file {ln.mask_path} already listed on line {prev.line}; "
                          "it counts once, with this line's label and confidence", EvaluationWarning, stacklevel=3)
            out[first[ln.mask_path]] = PredictionLine(ln.mask_path, ln.label_id, ln.confidence, prev.line)
        else:
            first[ln.mask_path] = len(out)
            out.append(ln)
    return out


def select_scenes(gt_dir: str, pred_dir: str, strict_scenes: bool = False) -> List[Tuple[str, bool]]:
    """Scenes to evaluate as ``(scene name, has prediction file)``, sorted by name.

    Raises :class:`EvaluationInputError` if a directory is missing, holds no prediction file,
    or a prediction file has no ground truth; warns about ground truth without predictions.
    """
    for d, what in ((gt_dir, "ground-truth"), (pred_dir, "prediction")):
        if not os.path.isdir(d):
            raise EvaluationInputError(f"{what} directory not found: {d}")
    preds = [f[:-4] for f in iter_files(pred_dir) if f != RESULT_FILE_NAME]
    if not preds:
        raise EvaluationInputError(f"no prediction files (<scene>.txt) in {pred_dir}")
    gts = {f[:-4] for f in iter_files(gt_dir)}
    no_gt = [p for p in preds if p not in gts]
    if no_gt:
        raise EvaluationInputError(f"{len(no_gt)} prediction file(s) have no ground-truth file in {gt_dir}: "
                                   f"{', '.join(no_gt[:10])}{' ...' if len(no_gt) > 10 else ''}")
    missing = sorted(gts - set(preds))
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        if strict_scenes:
            warnings.warn(f"{len(missing)} ground-truth scene(s) have no prediction file in {pred_dir}; "
                          f"counted as scenes without predictions (--strict-scenes): {shown}",
                          EvaluationWarning, stacklevel=2)
        else:
            warnings.warn(f"{len(missing)} ground-truth scene(s) have no prediction file in {pred_dir} and are NOT "
                          f"evaluated (as by the official script); use --strict-scenes to count them as missed: "
                          f"{shown}", EvaluationWarning, stacklevel=2)
    scenes = [(p, True) for p in preds]
    if strict_scenes:
        scenes += [(m, False) for m in missing]
    return sorted(scenes)


def evaluate_directories(gt_dir: str, pred_dir: str, dataset: Union[str, DatasetClasses] = "scannetv2",
                         strict_scenes: bool = False) -> InstanceResults:
    """Instance AP of the ScanNet-format predictions in ``pred_dir`` against ``gt_dir``.

    Predictions whose label id is not an evaluation class are skipped without opening their mask
    (as the official script does). A mask file listed by two scenes is an error (the official
    script would then share its matched state across scenes in dict order).
    """
    table = get_dataset(dataset)
    evaluator = InstanceEvaluator(table)
    owner: Dict[str, str] = {}
    for scene, has_pred in select_scenes(gt_dir, pred_dir, strict_scenes):
        gt_ids = read_gt_file(os.path.join(gt_dir, scene + ".txt"))
        instances = []
        if has_pred:
            path = os.path.join(pred_dir, scene + ".txt")
            lines = _dedupe_lines(path, read_prediction_file(path, pred_dir))
            label_ids = table.label_ids_from_file_ids([ln.label_id for ln in lines]) if lines else []
            for ln, label_id in zip(lines, label_ids):
                if ln.mask_path in owner and owner[ln.mask_path] != scene:
                    raise EvaluationInputError(f"{path}:{ln.line}: mask file {ln.mask_path} is also listed by scene "
                                               f"{owner[ln.mask_path]!r}; each scene needs its own mask files")
                owner[ln.mask_path] = scene
                if label_id == 0:
                    continue
                if not os.path.isfile(ln.mask_path):
                    raise EvaluationInputError(f"{path}:{ln.line}: mask file not found: {ln.mask_path}")
                mask = read_mask_file(ln.mask_path, gt_ids.size)
                instances.append({"mask": mask, "label_id": int(label_id), "score": ln.confidence})
        evaluator.add_scene(scene, instances, gt_ids=gt_ids)
    return evaluator.evaluate()
