"""STPLS3D point files -> blocks in the common preprocessed format.

Raw input: the folder of ``Synthetic_v3_InstanceSegmentation.zip``, files ``<k>_points_GTv3.txt``
with comma-separated ``x, y, z, r, g, b, semantic, instance`` rows (test files without the last two
columns are prepared unlabelled). Processing follows ISBNet's
``dataset/stpls3d/prepare_data_inst_instance_stpls3d.py`` (spec §1.10):

* split by the file's leading number: multiples of 5 are validation, the others training;
* training files are also used ``aug_times`` more times, each copy rotated about z by a random
  whole number of degrees and restricted to the classes in :data:`AUGMENT_CLASSES` (random but
  deterministic here: seeded by ``seed``, file and copy);
* coordinates are shifted to start at 0 and cut into square blocks (50 m for training, 250 m for
  validation, no overlap); blocks with at most 10000 points are dropped;
* semantic ids 0..14 are kept (others -100); ground (0) carries no instance; instance ids become
  0..K-1 per block;
* training blocks with fewer than 10 instances, or with nearly as many classes as instances, are
  dropped (the official filter).

Unlike the official script, no padding point is appended to flat blocks (it worked around an old
spconv crash) and names use ``<file>_<copy>_<block>``. STPLS3D has no superpoints: the dataset
treats every point as one.
"""
import math
import os
import re
from typing import List, Sequence, Tuple

import numpy as np

from sphmask.data.classes import IGNORE_LABEL, STPLS3D
from sphmask.data.prepared import PreparedScene
from sphmask.io.errors import DataFormatError
from sphmask.io.text import read_text_table

AUGMENT_CLASSES = (0, 2, 3, 7, 8, 9, 12, 13)
MIN_BLOCK_POINTS = 10000


def split_of(filename: str) -> str:
    m = re.match(r"(\d+)", os.path.basename(filename))
    if m is None:
        raise DataFormatError(filename, "STPLS3D file names start with the scene number (e.g. 5_points_GTv3.txt)")
    return "val" if int(m.group(1)) % 5 == 0 else "train"


def blocks(points: np.ndarray, size: float) -> List[np.ndarray]:
    """Row masks of the ``size`` x ``size`` m blocks covering ``points`` (xy from 0), closed intervals."""
    hi = points[:, :2].max(0)
    nx = int(np.ceil((hi[0] - size) / size)) + 1
    ny = int(np.ceil((hi[1] - size) / size)) + 1
    out = []
    for i in range(max(nx, 1)):
        for j in range(max(ny, 1)):
            x, y = i * size, j * size
            out.append((points[:, 0] >= x) & (points[:, 0] <= x + size) & (points[:, 1] >= y) & (points[:, 1] <= y + size))
    return out


def _block_scene(block: np.ndarray, name: str, prefix: str, labelled: bool) -> PreparedScene:
    xyz = block[:, :3]
    coords = (xyz - xyz.mean(0)).astype(np.float32)
    colors = (block[:, 3:6] / 127.5 - 1).astype(np.float32)
    scene = PreparedScene(name=name, prefix=prefix, coords=coords, colors=colors)
    if not labelled:
        return scene
    raw_sem = block[:, 6].astype(np.int64)
    sem = np.where((raw_sem >= 0) & (raw_sem < STPLS3D.semantic_classes), raw_sem, IGNORE_LABEL)
    raw_inst = block[:, 7].astype(np.int64)
    has_inst = sem >= STPLS3D.label_shift
    inst = np.full(sem.shape, IGNORE_LABEL, dtype=np.int64)
    _, first, inverse = np.unique(raw_inst[has_inst], return_index=True, return_inverse=True)
    inst[has_inst] = inverse.reshape(-1)
    classes = [STPLS3D.semantic_names[int(c)] for c in sem[has_inst][first]]
    scene.semantic, scene.instance = sem, inst
    scene.gt = np.where(inst >= 0, np.asarray(STPLS3D.benchmark_ids)[np.maximum(sem, 0)] * 1000 + inst + 1, 0)
    scene.instance_classes = tuple(classes)
    return scene


def prepare_stpls3d_file(path: str, prefix: str, aug: int = 0, seed: int = 0, block_size: float = 50.0
                         ) -> List[PreparedScene]:
    """Blocks of one STPLS3D file (copy ``aug``: 0 = original, >0 = rotated augmented copy)."""
    table = read_text_table(path)
    if table.shape[1] not in (6, 8):
        raise DataFormatError(path, f"expected 8 columns (x,y,z,r,g,b,semantic,instance) or 6 (unlabelled), "
                                    f"got {table.shape[1]}")
    labelled = table.shape[1] == 8
    if aug:
        if not labelled:
            raise DataFormatError(path, "augmented copies need labelled points")
        rng = np.random.default_rng([seed, int(re.match(r"\d+", os.path.basename(path)).group()), aug])
        a = math.radians(int(rng.integers(1, 360)))
        rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
        table = table[np.isin(table[:, 6], AUGMENT_CLASSES)]
        table[:, :3] = table[:, :3] @ rot
    if table.shape[0] == 0:
        raise DataFormatError(path, "no points")
    table[:, :3] -= table[:, :3].min(0)
    stem = os.path.splitext(os.path.basename(path))[0]
    scenes = []
    for b, mask in enumerate(blocks(table, block_size)):
        if mask.sum() <= MIN_BLOCK_POINTS:
            continue
        scene = _block_scene(table[mask], f"{stem}_{aug}_{b}", prefix, labelled)
        if labelled and prefix == "train":
            n_inst = len(scene.instance_classes)
            n_sem = np.unique(scene.semantic[scene.semantic >= STPLS3D.label_shift]).shape[0]
            if n_inst < 10 or n_sem >= n_inst - 2:
                continue
        scenes.append(scene)
    return scenes


def plan_stpls3d(raw: str, splits: Sequence[Tuple[str, str]] = (), aug_times: int = 6, seed: int = 0,
                 train_block: float = 50.0, val_block: float = 250.0):
    """Jobs for a folder of STPLS3D point files. Split files list file names (with or without
    ``.txt``); the official train/val rule applies when no split file (or prefix) says otherwise."""
    from sphmask.data.prepare import Job, read_split_file

    folder = raw
    nested = os.path.join(raw, "Synthetic_v3_InstanceSegmentation")
    if os.path.isdir(nested):
        folder = nested
    files = sorted(f for f in os.listdir(folder) if f.endswith(".txt") and f[:1].isdigit())
    if not files:
        raise DataFormatError(raw, "no STPLS3D point files (<k>_points_GTv3.txt) found")
    assignment = []
    if splits:
        for prefix, path in splits:
            for entry in read_split_file(path):
                name = entry if entry.endswith(".txt") else entry + ".txt"
                if name not in files:
                    raise DataFormatError(path, f"lists {entry!r}, which is not in {folder}")
                assignment.append((prefix or split_of(name), name))
    else:
        assignment = [(split_of(f), f) for f in files]
    jobs = []
    for prefix, name in assignment:
        path = os.path.join(folder, name)
        copies = aug_times if prefix == "train" else 0
        for aug in range(copies + 1):
            jobs.append(Job(f"{prefix}/{name}#{aug}", prepare_stpls3d_file,
                            dict(path=path, prefix=prefix, aug=aug, seed=seed,
                                 block_size=train_block if prefix == "train" else val_block)))
    return jobs
