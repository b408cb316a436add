"""Semantic class weights from label frequencies, for the class-balanced semantic loss of long-tail
datasets (``model.loss.semantic_weight``; docs/training.md "Long-tail training").

``w_c = (n_c / N) ** -power`` for the classes present in the training labels, rescaled to mean 1
over them (``power`` 1: inverse frequency; 0.5, the default: inverse square root, which tempers
the weights of classes with a handful of points); absent classes get weight 0 (they never occur
in the loss).
"""
from typing import Iterable, List

import numpy as np

from sphmask.data.classes import IGNORE_LABEL


def label_counts(dataset) -> np.ndarray:
    """Points per semantic class over the distinct scene files of a :class:`SceneDataset`
    (labels as stored, before augmentation) -> int64 (semantic_classes,)."""
    counts = np.zeros(dataset.semantic_classes, dtype=np.int64)
    for filename in sorted(set(dataset.filenames)):
        sem = dataset.load(filename)[2]
        if sem is not None:
            sem = sem[sem != IGNORE_LABEL].astype(np.int64)
            counts += np.bincount(sem, minlength=dataset.semantic_classes)[:dataset.semantic_classes]
    return counts


def frequency_weights(counts: Iterable[int], power: float = 0.5) -> List[float]:
    """Weights ``(n_c / N) ** -power`` rescaled to mean 1 over present classes; 0 for absent ones."""
    n = np.asarray(list(counts), dtype=np.float64)
    if n.ndim != 1 or (n < 0).any() or not (n > 0).any():
        raise ValueError(f"counts must be non-negative with at least one positive entry, got {n.tolist()}")
    if power < 0:
        raise ValueError(f"power must be >= 0, got {power}")
    present = n > 0
    w = np.zeros_like(n)
    w[present] = (n[present] / n.sum()) ** -power
    w[present] /= w[present].mean()
    return [round(float(v), 4) for v in w]
