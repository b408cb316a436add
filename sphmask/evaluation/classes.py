"""Class tables of the evaluated datasets, as data.

Every dataset has a list of *semantic* classes (the network's semantic train ids 0..S-1) and a
contiguous tail of them that is evaluated as *instance* classes ("evaluation classes"). The
in-memory API numbers evaluation classes 1..K (``label_id``, the model's 1-based instance class);
the benchmark files name them by their benchmark label id (NYU40 ids for ScanNetV2, the ScanNet200
ids for ScanNet200). Datasets without an official id table (S3DIS, STPLS3D) use ``label_id`` as
file id.

Sources: ScanNetV2 classes and NYU40 ids as in ScanNet's benchmark and spec §1.1/§1.3; ScanNet200
ids, names and the head/common/tail split from ScanNet's ``BenchmarkScripts/ScanNet200``
constants; the ScanNet200 semantic order (wall, floor first) is ISBNet's; S3DIS and STPLS3D from
the data-preparation tables of the official repositories (spec §1.10).
"""
import dataclasses
from typing import Dict, FrozenSet, Mapping, Optional, Tuple, Union

import numpy as np


@dataclasses.dataclass(frozen=True)
class DatasetClasses:
    """One dataset's class table.

    Attributes:
        name: registry key (``"scannetv2"``, ``"scannet200"``, ``"s3dis"``, ``"stpls3d"``).
        semantic_names: class name per semantic train id, length S.
        semantic_ids: benchmark file label id per semantic train id, length S.
        eval_offset: semantic train id of evaluation class 1; semantic ids below it (e.g. wall and
            floor) are not evaluated as instances.
        min_region_size: GT instances and predictions with fewer points are not evaluated.
        splits: for ScanNet200, split name -> names of its evaluation classes.
    """

    name: str
    semantic_names: Tuple[str, ...]
    semantic_ids: Tuple[int, ...]
    eval_offset: int
    min_region_size: int = 100
    splits: Optional[Mapping[str, FrozenSet[str]]] = None

    def __post_init__(self):
        if len(self.semantic_names) != len(self.semantic_ids):
            raise ValueError(f"{self.name}: {len(self.semantic_names)} names but {len(self.semantic_ids)} ids")
        ids = self.eval_ids
        if len(set(ids)) != len(ids) or min(ids) < 1:
            raise ValueError(f"{self.name}: evaluation class ids must be distinct and positive")

    @property
    def num_semantic(self) -> int:
        """Number of semantic classes S."""
        return len(self.semantic_names)

    @property
    def eval_names(self) -> Tuple[str, ...]:
        """Names of the evaluation classes, ``label_id`` 1..K in order."""
        return self.semantic_names[self.eval_offset:]

    @property
    def eval_ids(self) -> Tuple[int, ...]:
        """Benchmark file label id of each evaluation class, ``label_id`` 1..K in order."""
        return self.semantic_ids[self.eval_offset:]

    @property
    def num_eval(self) -> int:
        """Number of evaluation classes K."""
        return len(self.semantic_names) - self.eval_offset

    def label_ids_from_file_ids(self, file_ids: np.ndarray) -> np.ndarray:
        """Map benchmark file label ids (any int array) to ``label_id`` 1..K, 0 where not evaluated."""
        file_ids = np.asarray(file_ids, dtype=np.int64)
        order = np.argsort(np.asarray(self.eval_ids, dtype=np.int64))
        sorted_ids = np.asarray(self.eval_ids, dtype=np.int64)[order]
        pos = np.clip(np.searchsorted(sorted_ids, file_ids), 0, len(sorted_ids) - 1)
        hit = sorted_ids[pos] == file_ids
        return np.where(hit, order[pos] + 1, 0)


SCANNETV2 = DatasetClasses(
    name="scannetv2",
    semantic_names=(
        "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
        "picture", "counter", "desk", "curtain", "refrigerator", "shower curtain", "toilet", "sink",
        "bathtub", "otherfurniture",
    ),
    semantic_ids=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39),
    eval_offset=2,
)

# (ScanNet200 id, name, split) in the benchmark's id order.
_SCANNET200_ROWS = (
    (1, 'wall', 'head'),
    (2, 'chair', 'head'),
    (3, 'floor', 'head'),
    (4, 'table', 'head'),
    (5, 'door', 'head'),
    (6, 'couch', 'head'),
    (7, 'cabinet', 'head'),
    (8, 'shelf', 'head'),
    (9, 'desk', 'head'),
    (10, 'office chair', 'head'),
    (11, 'bed', 'head'),
    (13, 'pillow', 'head'),
    (14, 'sink', 'head'),
    (15, 'picture', 'head'),
    (16, 'window', 'head'),
    (17, 'toilet', 'head'),
    (18, 'bookshelf', 'head'),
    (19, 'monitor', 'head'),
    (21, 'curtain', 'head'),
    (22, 'book', 'head'),
    (23, 'armchair', 'head'),
    (24, 'coffee table', 'head'),
    (26, 'box', 'head'),
    (27, 'refrigerator', 'head'),
    (28, 'lamp', 'head'),
    (29, 'kitchen cabinet', 'head'),
    (31, 'towel', 'head'),
    (32, 'clothes', 'head'),
    (33, 'tv', 'head'),
    (34, 'nightstand', 'head'),
    (35, 'counter', 'head'),
    (36, 'dresser', 'head'),
    (38, 'stool', 'head'),
    (39, 'cushion', 'common'),
    (40, 'plant', 'head'),
    (41, 'ceiling', 'head'),
    (42, 'bathtub', 'head'),
    (44, 'end table', 'common'),
    (45, 'dining table', 'common'),
    (46, 'keyboard', 'common'),
    (47, 'bag', 'common'),
    (48, 'backpack', 'head'),
    (49, 'toilet paper', 'common'),
    (50, 'printer', 'common'),
    (51, 'tv stand', 'head'),
    (52, 'whiteboard', 'head'),
    (54, 'blanket', 'common'),
    (55, 'shower curtain', 'head'),
    (56, 'trash can', 'head'),
    (57, 'closet', 'head'),
    (58, 'stairs', 'head'),
    (59, 'microwave', 'common'),
    (62, 'stove', 'head'),
    (63, 'shoe', 'common'),
    (64, 'computer tower', 'common'),
    (65, 'bottle', 'common'),
    (66, 'bin', 'common'),
    (67, 'ottoman', 'common'),
    (68, 'bench', 'common'),
    (69, 'board', 'head'),
    (70, 'washing machine', 'head'),
    (71, 'mirror', 'head'),
    (72, 'copier', 'head'),
    (73, 'basket', 'common'),
    (74, 'sofa chair', 'head'),
    (75, 'file cabinet', 'head'),
    (76, 'fan', 'common'),
    (77, 'laptop', 'common'),
    (78, 'shower', 'head'),
    (79, 'paper', 'tail'),
    (80, 'person', 'common'),
    (82, 'paper towel dispenser', 'common'),
    (84, 'oven', 'common'),
    (86, 'blinds', 'head'),
    (87, 'rack', 'common'),
    (88, 'plate', 'tail'),
    (89, 'blackboard', 'head'),
    (90, 'piano', 'common'),
    (93, 'suitcase', 'common'),
    (95, 'rail', 'common'),
    (96, 'radiator', 'head'),
    (97, 'recycling bin', 'head'),
    (98, 'container', 'common'),
    (99, 'wardrobe', 'head'),
    (100, 'soap dispenser', 'tail'),
    (101, 'telephone', 'common'),
    (102, 'bucket', 'tail'),
    (103, 'clock', 'tail'),
    (104, 'stand', 'common'),
    (105, 'light', 'common'),
    (106, 'laundry basket', 'common'),
    (107, 'pipe', 'common'),
    (110, 'clothes dryer', 'head'),
    (112, 'guitar', 'tail'),
    (115, 'toilet paper holder', 'tail'),
    (116, 'seat', 'common'),
    (118, 'speaker', 'tail'),
    (120, 'column', 'common'),
    (121, 'bicycle', 'common'),
    (122, 'ladder', 'common'),
    (125, 'bathroom stall', 'head'),
    (128, 'shower wall', 'head'),
    (130, 'cup', 'tail'),
    (131, 'jacket', 'common'),
    (132, 'storage bin', 'common'),
    (134, 'coffee maker', 'common'),
    (136, 'dishwasher', 'common'),
    (138, 'paper towel roll', 'tail'),
    (139, 'machine', 'common'),
    (140, 'mat', 'common'),
    (141, 'windowsill', 'common'),
    (145, 'bar', 'tail'),
    (148, 'toaster', 'tail'),
    (154, 'bulletin board', 'common'),
    (155, 'ironing board', 'tail'),
    (156, 'fireplace', 'common'),
    (157, 'soap dish', 'tail'),
    (159, 'kitchen counter', 'head'),
    (161, 'doorframe', 'head'),
    (163, 'toilet paper dispenser', 'tail'),
    (165, 'mini fridge', 'common'),
    (166, 'fire extinguisher', 'tail'),
    (168, 'ball', 'tail'),
    (169, 'hat', 'tail'),
    (170, 'shower curtain rod', 'tail'),
    (177, 'water cooler', 'common'),
    (180, 'paper cutter', 'tail'),
    (185, 'tray', 'tail'),
    (188, 'shower door', 'common'),
    (191, 'pillar', 'common'),
    (193, 'ledge', 'common'),
    (195, 'toaster oven', 'tail'),
    (202, 'mouse', 'tail'),
    (208, 'toilet seat cover dispenser', 'tail'),
    (213, 'furniture', 'common'),
    (214, 'cart', 'common'),
    (221, 'storage container', 'tail'),
    (229, 'scale', 'tail'),
    (230, 'tissue box', 'tail'),
    (232, 'light switch', 'tail'),
    (233, 'crate', 'tail'),
    (242, 'power outlet', 'tail'),
    (250, 'decoration', 'common'),
    (261, 'sign', 'tail'),
    (264, 'projector', 'tail'),
    (276, 'closet door', 'common'),
    (283, 'vacuum cleaner', 'common'),
    (286, 'candle', 'tail'),
    (300, 'plunger', 'tail'),
    (304, 'stuffed animal', 'tail'),
    (312, 'headphones', 'tail'),
    (323, 'dish rack', 'common'),
    (325, 'broom', 'tail'),
    (331, 'guitar case', 'tail'),
    (342, 'range hood', 'common'),
    (356, 'dustpan', 'tail'),
    (370, 'hair dryer', 'tail'),
    (392, 'water bottle', 'tail'),
    (395, 'handicap bar', 'tail'),
    (399, 'purse', 'tail'),
    (408, 'vent', 'tail'),
    (417, 'shower floor', 'tail'),
    (488, 'water pitcher', 'tail'),
    (540, 'mailbox', 'head'),
    (562, 'bowl', 'tail'),
    (570, 'paper bag', 'tail'),
    (572, 'alarm clock', 'tail'),
    (581, 'music stand', 'tail'),
    (609, 'projector screen', 'common'),
    (748, 'divider', 'common'),
    (776, 'laundry detergent', 'tail'),
    (1156, 'bathroom counter', 'common'),
    (1163, 'object', 'head'),
    (1164, 'bathroom vanity', 'head'),
    (1165, 'closet wall', 'head'),
    (1166, 'laundry hamper', 'common'),
    (1167, 'bathroom stall door', 'common'),
    (1168, 'ceiling light', 'common'),
    (1169, 'trash bin', 'common'),
    (1170, 'dumbbell', 'tail'),
    (1171, 'stair rail', 'head'),
    (1172, 'tube', 'tail'),
    (1173, 'bathroom cabinet', 'common'),
    (1174, 'cd case', 'tail'),
    (1175, 'closet rod', 'tail'),
    (1176, 'coffee kettle', 'tail'),
    (1178, 'structure', 'common'),
    (1179, 'shower head', 'tail'),
    (1180, 'keyboard piano', 'tail'),
    (1181, 'case of water bottles', 'tail'),
    (1182, 'coat rack', 'tail'),
    (1183, 'storage organizer', 'common'),
    (1184, 'folded chair', 'tail'),
    (1185, 'fire alarm', 'tail'),
    (1186, 'power strip', 'tail'),
    (1187, 'calendar', 'tail'),
    (1188, 'poster', 'tail'),
    (1189, 'potted plant', 'common'),
    (1190, 'luggage', 'tail'),
    (1191, 'mattress', 'common'),
)


def _scannet200() -> DatasetClasses:
    # The network's semantic order puts wall (id 1) and floor (id 3) first; the other 198 classes
    # follow in id order and are the evaluation classes.
    stuff = [r for r in _SCANNET200_ROWS if r[1] in ("wall", "floor")]
    things = [r for r in _SCANNET200_ROWS if r[1] not in ("wall", "floor")]
    rows = stuff + things
    splits: Dict[str, FrozenSet[str]] = {
        s: frozenset(r[1] for r in things if r[2] == s) for s in ("head", "common", "tail")
    }
    return DatasetClasses(
        name="scannet200",
        semantic_names=tuple(r[1] for r in rows),
        semantic_ids=tuple(r[0] for r in rows),
        eval_offset=2,
        splits=splits,
    )


SCANNET200 = _scannet200()

# Names follow the data-preparation id table (7 table, 8 chair, 9 sofa, 10 bookcase); the display
# tuple of the official S3DIS dataset/evaluator classes swaps those two pairs (spec §10.3 item 34).
S3DIS = DatasetClasses(
    name="s3dis",
    semantic_names=(
        "ceiling", "floor", "wall", "beam", "column", "window", "door", "table", "chair", "sofa",
        "bookcase", "board", "clutter",
    ),
    semantic_ids=tuple(range(1, 14)),
    eval_offset=0,
)

STPLS3D = DatasetClasses(
    name="stpls3d",
    semantic_names=(
        "ground", "building", "low vegetation", "med. vegetation", "high vegetation", "vehicle",
        "truck", "aircraft", "militaryVehicle", "bike", "motorcycle", "light pole", "street sign",
        "clutter", "fence",
    ),
    semantic_ids=tuple(range(15)),
    eval_offset=1,
    min_region_size=10,
)

DATASETS: Dict[str, DatasetClasses] = {d.name: d for d in (SCANNETV2, SCANNET200, S3DIS, STPLS3D)}


def get_dataset(dataset: Union[str, DatasetClasses]) -> DatasetClasses:
    """Return the class table for a registry name, or ``dataset`` itself if it already is one."""
    if isinstance(dataset, DatasetClasses):
        return dataset
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(DATASETS)}")
    return DATASETS[dataset]
