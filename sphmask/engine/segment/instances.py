"""What a segmentation returns: :class:`Instance` (one object as point indices),
:class:`SceneSegmentation` (all of them, the semantic classes, blocks, timing), their order, and
:class:`InstanceView`, an instance as a ``{mask, label, label_id, score}`` mapping."""
import dataclasses
from typing import Dict, Iterator, List, Mapping, Optional, Sequence

import numpy as np

from sphmask.engine.segment.blocks import Block


@dataclasses.dataclass
class Instance:
    """One predicted object.

    Attributes:
        indices: int64 [n] ascending indices of its points in the input cloud.
        label_id: 1-based instance class (class ``label_id - 1`` of the model's instance classes).
        score: confidence in [0, 1].
    """

    indices: np.ndarray
    label_id: int
    score: float

    @property
    def num_points(self) -> int:
        return int(self.indices.shape[0])


@dataclasses.dataclass
class SceneSegmentation:
    """Result of :func:`segment_scene`.

    Attributes:
        num_points: points of the input cloud (``N``).
        instances: best score first (ties: lower first point index first).
        semantic: int64 [N] semantic class (train id) per point, from the block whose core holds it.
        blocks: the blocks that were run (one covering everything when there was no cropping).
        timing: seconds per stage: ``superpoints``, ``voxelise`` (block planning, test transform,
            batching), ``network`` (the model passes) and ``postprocess`` (results to NumPy,
            merging blocks).
        warnings: things the user should know (implausible extent, blocks over the budget, ...).
        superpoints: int [N] superpoint id per point, the ones the masks were built on.
    """

    num_points: int
    instances: List[Instance]
    semantic: np.ndarray
    blocks: List[Block]
    timing: Dict[str, float]
    warnings: List[str]
    superpoints: Optional[np.ndarray] = None

    def above(self, score_thresh: float) -> List[Instance]:
        """Instances whose score is at least ``score_thresh``, in the same order."""
        return [inst for inst in self.instances if inst.score >= score_thresh]


def sort_instances(instances: Sequence[Instance]) -> List[Instance]:
    """Best score first; ties broken by the first point index, then the class (deterministic)."""
    def key(inst):
        return (-inst.score, int(inst.indices[0]) if inst.indices.size else -1, inst.label_id)

    return sorted(instances, key=key)


def class_name(label_id: int, instance_names: Optional[Sequence[str]]) -> str:
    """Name of a 1-based instance class, ``class_<label_id>`` when the names are unknown."""
    if instance_names is not None and 1 <= label_id <= len(instance_names):
        return str(instance_names[label_id - 1])
    return f"class_{label_id}"


class InstanceView(Mapping):
    """An instance as a read-only mapping ``{mask: bool [N], label: str, label_id: int, score: float}``.

    The boolean mask is built each time ``["mask"]`` is read, so a list of views costs K index
    arrays, not K x N booleans; ``indices`` (int64 [n], ascending) and ``num_points`` are attributes.
    ``dict(view)`` gives a plain dict with the mask.
    """

    KEYS = ("mask", "label", "label_id", "score")

    def __init__(self, inst: Instance, num_points: int, instance_names: Optional[Sequence[str]] = None):
        self.instance = inst
        self.indices = inst.indices
        self.num_points = inst.num_points
        self._n = num_points
        self._names = instance_names

    def __getitem__(self, key):
        if key == "mask":
            mask = np.zeros(self._n, dtype=bool)
            mask[self.indices] = True
            return mask
        if key == "label":
            return class_name(self.instance.label_id, self._names)
        if key == "label_id":
            return self.instance.label_id
        if key == "score":
            return self.instance.score
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.KEYS)

    def __len__(self) -> int:
        return len(self.KEYS)

    def __repr__(self) -> str:
        return (f"InstanceView(label={self['label']!r}, label_id={self.instance.label_id}, "
                f"score={self.instance.score:.4f}, num_points={self.num_points})")
