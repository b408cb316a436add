"""Class colours: ScanNet's NYU40 palette, looked up by class name.

The table is the one ScanNet's benchmark scripts colour labels with (``BenchmarkScripts/util.py``
``create_color_palette``, indexed by NYU40 id); ScanNetV2's 20 benchmark classes are NYU40 classes,
so every ScanNetV2 class gets its usual colour. A name that is not an NYU40 class (ScanNet200's
finer classes, S3DIS, STPLS3D) gets the palette's colours in order of its class id, skipping those
already taken by NYU40 names in the same list, so a class list never shows two classes in one
colour while it has at most 40 classes.
"""
from typing import Sequence

import numpy as np

#: ScanNet's colour for NYU40 id ``i`` is row ``i`` (row 0: unlabelled).
NYU40_PALETTE = np.array([
    (0, 0, 0), (174, 199, 232), (152, 223, 138), (31, 119, 180), (255, 187, 120), (188, 189, 34),
    (140, 86, 75), (255, 152, 150), (214, 39, 40), (197, 176, 213), (148, 103, 189), (196, 156, 148),
    (23, 190, 207), (178, 76, 76), (247, 182, 210), (66, 188, 102), (219, 219, 141), (140, 57, 197),
    (202, 185, 52), (51, 176, 203), (200, 54, 131), (92, 193, 61), (78, 71, 183), (172, 114, 82),
    (255, 127, 14), (91, 163, 138), (153, 98, 156), (140, 153, 101), (158, 218, 229), (100, 125, 154),
    (178, 127, 135), (120, 185, 128), (146, 111, 194), (44, 160, 44), (112, 128, 144), (96, 207, 209),
    (227, 119, 194), (213, 92, 176), (94, 106, 211), (82, 84, 163), (100, 85, 144),
], dtype=np.uint8)

#: NYU40 class names by id (1-based), as in ScanNet's label table (``nyu40class``).
NYU40_NAMES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf", "picture",
    "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror", "floor mat", "clothes",
    "ceiling", "books", "refridgerator", "television", "paper", "towel", "shower curtain", "box", "whiteboard",
    "person", "night stand", "toilet", "sink", "lamp", "bathtub", "bag", "otherstructure", "otherfurniture",
    "otherprop",
)

# our class tables spell two NYU40 names the usual way
_ALIASES = {"refrigerator": "refridgerator", "nightstand": "night stand"}


def class_colors(names: Sequence[str]) -> np.ndarray:
    """uint8 [len(names), 3]: ScanNet's colour for each NYU40 name, the unused colours in order for the rest."""
    nyu_id = {n: i + 1 for i, n in enumerate(NYU40_NAMES)}
    ids = [nyu_id.get(_ALIASES.get(str(n), str(n))) for n in names]
    free = [i for i in range(1, len(NYU40_PALETTE)) if i not in set(ids)]
    out = np.zeros((len(names), 3), np.uint8)
    k = 0
    for c, i in enumerate(ids):
        if i is None:
            i = free[k % len(free)]
            k += 1
        out[c] = NYU40_PALETTE[i]
    return out
