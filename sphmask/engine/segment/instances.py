"""What a segmentation returns: :class:`Instance` (one object as point indices) and
:class:`SceneSegmentation` (all of them, the semantic classes, blocks, timing), and their order."""
import dataclasses
from typing import Dict, List, Sequence

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
        timing: seconds per stage (``superpoints``, ``inference``, ``merge``).
        warnings: things the user should know (implausible extent, blocks over the budget, ...).
    """

    num_points: int
    instances: List[Instance]
    semantic: np.ndarray
    blocks: List[Block]
    timing: Dict[str, float]
    warnings: List[str]

    def above(self, score_thresh: float) -> List[Instance]:
        """Instances whose score is at least ``score_thresh``, in the same order."""
        return [inst for inst in self.instances if inst.score >= score_thresh]


def sort_instances(instances: Sequence[Instance]) -> List[Instance]:
    """Best score first; ties broken by the first point index, then the class (deterministic)."""
    def key(inst):
        return (-inst.score, int(inst.indices[0]) if inst.indices.size else -1, inst.label_id)

    return sorted(instances, key=key)
