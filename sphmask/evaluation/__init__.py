"""Evaluation: ScanNet-exact instance AP, S3DIS precision/recall, semantic metrics, file formats.

* :class:`InstanceEvaluator` — in-memory instance AP/AP50/AP25 (spec §8.1), used by
  ``tools/test.py``; :func:`evaluate_directories` — the same on ScanNet benchmark files
  (``tools/evaluate.py``).
* :class:`SemanticEvaluator` (spec §8.2) and :class:`S3DISEvaluator` (spec §8.3).
* The class tables (:data:`DATASETS`, re-exported from :mod:`sphmask.data.classes`), the submission /
  ground-truth writers, RLE.
"""
from sphmask.data.classes import DATASETS, S3DIS, SCANNET200, SCANNETV2, STPLS3D, DatasetClasses, get_dataset
from sphmask.evaluation.files import EvaluationWarning, evaluate_directories
from sphmask.evaluation.instance import OVERLAPS, InstanceEvaluator, InstanceResults, average_precision
from sphmask.evaluation.io import (EvaluationInputError, atomic_write, encode_gt_ids, read_gt_file, read_mask_file,
                                   read_prediction_file, rle_decode, rle_encode, write_gt_file, write_submission)
from sphmask.evaluation.s3dis import S3DISEvaluator, S3DISResults
from sphmask.evaluation.semantic import SemanticEvaluator, SemanticResults

__all__ = [
    "DATASETS", "S3DIS", "SCANNET200", "SCANNETV2", "STPLS3D", "DatasetClasses", "get_dataset",
    "EvaluationWarning", "evaluate_directories",
    "OVERLAPS", "InstanceEvaluator", "InstanceResults", "average_precision",
    "EvaluationInputError", "atomic_write", "encode_gt_ids", "read_gt_file", "read_mask_file",
    "read_prediction_file", "rle_decode", "rle_encode", "write_gt_file", "write_submission",
    "S3DISEvaluator", "S3DISResults", "SemanticEvaluator", "SemanticResults",
]
