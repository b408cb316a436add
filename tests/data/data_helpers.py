"""Helpers for the data tests: small synthetic rooms in the raw ScanNet layout.

Segmentations written by these fixtures are made here, from the generator's own object ids
(each object cut into 0.6 m cells), so the preprocessing tests do not depend on the segmentation
operator; ``segment_scene`` with the real operator is tested separately.
"""
import os

import numpy as np
from sphmask.data.synthetic import canonical_segments, label_map_text, write_raw_scene

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def cell_segments(scene, cell: float = 0.6) -> np.ndarray:
    """Segments that never cross objects: (object id, 0.6 m cell) -> one segment, ScanNet-style ids."""
    key = np.concatenate([scene.vertex_object[:, None], np.floor(scene.vertices / cell).astype(np.int64)], axis=1)
    _, inverse = np.unique(key, axis=0, return_inverse=True)
    return canonical_segments(inverse.reshape(-1))


def write_raw_dataset(root, scenes, test_scenes=(), label_map="lf"):
    """Write ``scenes`` (labelled) and ``test_scenes`` under ``root`` in ScanNet's layout."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "scannetv2-labels.combined.tsv"), "w", newline="") as f:
        f.write(label_map_text(label_map))
    for s in scenes:
        write_raw_scene(s, os.path.join(root, "scans", s.scene_id), labelled=True, segments=cell_segments(s))
    for s in test_scenes:
        write_raw_scene(s, os.path.join(root, "scans_test", s.scene_id), labelled=False)
    return str(root)
