"""Instance-sampling augmentation for long-tail training (``data.train.instance_sampling``).

The ScanNet200 paper (Rozenberszki et al., "Language-Grounded Indoor 3D Semantic Segmentation in
the Wild", ECCV 2022) balances rare classes by pasting instances cut from other training
scenes into the current one. Here: instances of the chosen classes are collected once from the
dataset's own scene files (the *bank*: which file and instance id, not the points); each training
sample, with probability ``prob``, receives up to ``max_instances`` of them from the other scenes,
drawn with weight ``n_c ** -power`` (``n_c``: instances of class ``c`` in the bank). A pasted instance gets a random
yaw, rests on the scene's floor (its lowest point at the scene's minimum z) at a random xy position
inside the scene's xy bounds, and is rejected if its box overlaps the box of an instance already
in the scene (``tries`` positions, then it is skipped). It keeps its semantic label and gets a new
instance id and new superpoint ids. See docs/training.md "Long-tail training".
"""
import dataclasses
from typing import List, Literal, Optional, Sequence, Tuple, Union

import numpy as np

from sphmask.config import ConfigError
from sphmask.config_schema import Fraction, NonNegativeFloat, NonNegativeInt, PositiveInt
from sphmask.data.classes import IGNORE_LABEL, DatasetClasses


@dataclasses.dataclass
class InstanceSampling:
    """Settings of the augmentation (see the module docstring).

    Attributes:
        prob: probability that a training sample receives pasted instances.
        max_instances: instances drawn per receiving sample (each placed or skipped).
        classes: ``"all"`` (every instance class), ``"tail"`` (the ScanNet200 tail split; datasets
            with a head/common/tail split only) or a list of semantic train ids.
        power: instance weight ``n_c ** -power``; 1 draws every class equally often, 0 as often as
            it occurs.
        min_points: instances with fewer points are not in the bank.
        tries: random positions tried per instance before it is skipped.
    """

    prob: Fraction = 0.5
    max_instances: PositiveInt = 3
    classes: Union[Literal["all", "tail"], List[NonNegativeInt]] = "all"
    power: NonNegativeFloat = 1.0
    min_points: NonNegativeInt = 100
    tries: PositiveInt = 10

    def class_ids(self, table: DatasetClasses, semantic_classes: int) -> List[int]:
        """The semantic ids whose instances may be pasted; ``ValueError`` naming ``classes`` if unusable."""
        if self.classes == "all":
            return list(range(table.label_shift, semantic_classes))
        if self.classes == "tail":
            if table.splits is None:
                raise ValueError(f"classes 'tail' needs a dataset with a head/common/tail split (scannet200); "
                                 f"{table.name} has none: give a list of semantic ids")
            return sorted(table.semantic_names.index(n) for n in table.splits["tail"])
        bad = [c for c in self.classes if not table.label_shift <= c < semantic_classes]
        if bad or not self.classes:
            raise ValueError(f"classes must be a non-empty list of instance-class semantic ids "
                             f"({table.label_shift}..{semantic_classes - 1}), got {list(self.classes)}")
        return sorted(set(self.classes))


def instance_label(sem: np.ndarray) -> int:
    """The semantic label of an instance: the most frequent valid label of its points (-100 if none)."""
    sem = sem[sem != IGNORE_LABEL].astype(np.int64)
    return int(np.bincount(sem).argmax()) if sem.size else IGNORE_LABEL


def scan_bank(files: Sequence[str], load, class_ids: Sequence[int], min_points: int) -> List[Tuple[str, int, int]]:
    """``(file, instance id, semantic label)`` of every instance of ``class_ids`` with enough points.

    ``load(file)`` returns the dataset's ``(xyz, rgb, sem, inst, spp)``.
    """
    wanted = set(int(c) for c in class_ids)
    bank = []
    for f in files:
        _, _, sem, inst, _ = load(f)
        if sem is None:
            continue
        ids, counts = np.unique(inst[inst != IGNORE_LABEL], return_counts=True)
        for i, n in zip(ids.tolist(), counts.tolist()):
            label = instance_label(sem[inst == i])
            if n >= min_points and label in wanted:
                bank.append((f, int(i), label))
    return bank


def bank_weights(labels: np.ndarray, power: float) -> np.ndarray:
    """Draw probability of each bank entry: ``n_c ** -power`` normalised (``labels``: class per entry)."""
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    w = counts[inverse.reshape(-1)].astype(np.float64) ** -power
    return w / w.sum()


def instance_boxes(xyz: np.ndarray, inst: np.ndarray) -> np.ndarray:
    """Axis-aligned box ``[min_xyz, max_xyz]`` of each instance -> float64 (K, 2, 3)."""
    ids = np.unique(inst[inst != IGNORE_LABEL])
    return np.array([[xyz[inst == i].min(0), xyz[inst == i].max(0)] for i in ids], dtype=np.float64).reshape(-1, 2, 3)


def overlaps(box: np.ndarray, boxes: np.ndarray) -> bool:
    """Whether ``box`` (2, 3) intersects any of ``boxes`` (K, 2, 3) with positive volume."""
    if boxes.shape[0] == 0:
        return False
    return bool(np.any(np.all((box[0] < boxes[:, 1]) & (box[1] > boxes[:, 0]), axis=1)))


def place(points: np.ndarray, scene_xyz: np.ndarray, boxes: np.ndarray, rng: np.random.Generator,
          tries: int) -> Optional[np.ndarray]:
    """``points`` yawed at random and moved onto the scene's floor without box overlap, or ``None``."""
    lo, hi = scene_xyz.min(0), scene_xyz.max(0)
    for _ in range(tries):
        theta = rng.uniform(0, 2 * np.pi)
        c, s = np.cos(theta), np.sin(theta)
        p = points.astype(np.float64) @ np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]])
        pmin, pmax = p.min(0), p.max(0)
        half = (pmax[:2] - pmin[:2]) / 2
        if np.any(hi[:2] - lo[:2] < 2 * half):
            return None  # the instance is wider than the scene whatever the position
        centre = rng.uniform(lo[:2] + half, hi[:2] - half)
        p[:, :2] += centre - (pmin[:2] + pmax[:2]) / 2
        p[:, 2] += lo[2] - pmin[2]
        if not overlaps(np.stack([p.min(0), p.max(0)]), boxes):
            return p
    return None


class InstanceSampler:
    """Pastes bank instances into training scenes (built by :class:`SceneDataset`; bank built lazily)."""

    def __init__(self, settings: InstanceSampling, files: Sequence[str], load, class_ids: Sequence[int]):
        self.settings, self.files, self.load, self.class_ids = settings, sorted(set(files)), load, list(class_ids)
        self._bank: Optional[List[Tuple[str, int, int]]] = None
        self._weights: Optional[np.ndarray] = None

    @property
    def bank(self) -> List[Tuple[str, int, int]]:
        if self._bank is None:
            bank = scan_bank(self.files, self.load, self.class_ids, self.settings.min_points)
            if not bank:
                raise ConfigError(f"instance_sampling: the training scenes hold no instance of classes "
                                  f"{self.class_ids} with at least min_points={self.settings.min_points} points")
            self._bank = bank
            self._weights = bank_weights(np.array([b[2] for b in bank]), self.settings.power)
        return self._bank

    def __call__(self, filename: str, xyz, rgb, sem, inst, spp, rng: np.random.Generator):
        """The arrays of scene ``filename`` with instances of the other scenes appended (inputs
        unchanged if none is pasted)."""
        s = self.settings
        if sem is None or rng.random() >= s.prob:
            return xyz, rgb, sem, inst, spp
        bank = self.bank
        weights = np.where(np.array([b[0] != filename for b in bank]), self._weights, 0.0)
        if weights.sum() == 0:
            return xyz, rgb, sem, inst, spp
        picks = rng.choice(len(bank), size=s.max_instances, p=weights / weights.sum())
        boxes = instance_boxes(xyz, inst)
        parts = [(xyz, rgb, sem, inst, spp)]
        next_inst = int(inst.max(initial=-1)) + 1
        next_spp = int(spp.max(initial=-1)) + 1
        for k in picks.tolist():
            filename, inst_id, label = bank[k]
            oxyz, orgb, _, oinst, ospp = self.load(filename)
            mask = oinst == inst_id
            moved = place(oxyz[mask], xyz, boxes, rng, s.tries)
            if moved is None:
                continue
            n = moved.shape[0]
            boxes = np.concatenate([boxes, np.stack([moved.min(0), moved.max(0)])[None]], 0)
            new_spp = np.unique(ospp[mask], return_inverse=True)[1].reshape(-1) + next_spp
            parts.append((moved.astype(xyz.dtype), orgb[mask], np.full(n, label, dtype=sem.dtype),
                          np.full(n, next_inst, dtype=inst.dtype), new_spp.astype(spp.dtype)))
            next_inst += 1
            next_spp = int(new_spp.max()) + 1
        if len(parts) == 1:
            return xyz, rgb, sem, inst, spp
        return tuple(np.concatenate(arrays, 0) for arrays in zip(*parts))
