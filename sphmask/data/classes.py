"""Class lists, label conventions and benchmark ids of the supported datasets.

This is the one class table of the package: preprocessing, training targets, exports and evaluation
(``sphmask.evaluation`` re-exports it) all read the :class:`DatasetClasses` of a dataset:

* ``semantic_names[s]`` is the name of train id ``s`` (0..semantic_classes-1; -100 = ignored);
* instance classes are the semantic ids ``label_shift..semantic_classes-1``; instance class ``c``
  (0-based) is semantic id ``c + label_shift``;
* evaluation classes are the semantic ids ``eval_offset..semantic_classes-1``, numbered ``label_id``
  1..K in the evaluation API and in model outputs. ``eval_offset`` is ``label_shift`` except for
  S3DIS, where the model also turns the stuff classes ceiling and floor into instances
  (``sem2ins_classes``, output ``label_id = c + 3``) and all 13 classes are evaluated (spec §1.10);
* ``benchmark_ids[s]`` is the id the dataset's benchmark uses for train id ``s`` in ground-truth and
  submission files (NYU40 ids for ScanNetV2, raw-category ids for ScanNet200; S3DIS and STPLS3D
  have no official id table and use their evaluation ``label_id``).

Sources: ScanNetV2 classes and NYU40 ids from ScanNet's benchmark and spec §1.1/§1.3; ScanNet200 ids,
names and the head/common/tail split from ScanNet's ``BenchmarkScripts/ScanNet200`` constants; the
ScanNet200 train-id order (wall, floor first) is ISBNet's; S3DIS and STPLS3D from the
data-preparation tables of the official repositories (spec §1.10).
"""
import dataclasses
from typing import Dict, FrozenSet, Optional, Tuple, Union

import numpy as np

IGNORE_LABEL = -100


@dataclasses.dataclass(frozen=True)
class DatasetClasses:
    """Label conventions of one dataset (see the module docstring).

    Attributes:
        name: registry key (``"scannetv2"``, ``"scannet200"``, ``"s3dis"``, ``"stpls3d"``).
        semantic_names: class name per semantic train id, length S.
        benchmark_ids: benchmark file label id per semantic train id, length S.
        label_shift: semantic id of instance class 0 (the number of stuff classes).
        min_region_size: GT instances and predictions with fewer points are not evaluated.
        frequency_split: for ScanNet200, class name -> ``"head"``, ``"common"`` or ``"tail"``.
        eval_offset: semantic id of evaluation class ``label_id`` 1; ``None`` means ``label_shift``.
    """

    name: str
    semantic_names: Tuple[str, ...]
    benchmark_ids: Tuple[int, ...]
    label_shift: int
    min_region_size: int
    frequency_split: Optional[Dict[str, str]] = None
    eval_offset: Optional[int] = None

    def __post_init__(self):
        if self.eval_offset is None:
            object.__setattr__(self, "eval_offset", self.label_shift)
        if len(self.semantic_names) != len(self.benchmark_ids):
            raise ValueError(f"{self.name}: {len(self.semantic_names)} names but {len(self.benchmark_ids)} ids")
        ids = self.eval_ids
        if len(set(ids)) != len(ids) or min(ids) < 1:
            raise ValueError(f"{self.name}: evaluation class ids must be distinct and positive")

    @property
    def semantic_classes(self) -> int:
        """Number of semantic classes S."""
        return len(self.semantic_names)

    @property
    def num_semantic(self) -> int:
        """Number of semantic classes S (the evaluation API's name for :attr:`semantic_classes`)."""
        return len(self.semantic_names)

    @property
    def semantic_ids(self) -> Tuple[int, ...]:
        """The evaluation API's name for :attr:`benchmark_ids`."""
        return self.benchmark_ids

    @property
    def instance_classes(self) -> int:
        return len(self.semantic_names) - self.label_shift

    @property
    def instance_names(self) -> Tuple[str, ...]:
        return self.semantic_names[self.label_shift:]

    @property
    def eval_names(self) -> Tuple[str, ...]:
        """Names of the evaluation classes, ``label_id`` 1..K in order."""
        return self.semantic_names[self.eval_offset:]

    @property
    def eval_ids(self) -> Tuple[int, ...]:
        """Benchmark file label id of each evaluation class, ``label_id`` 1..K in order."""
        return self.benchmark_ids[self.eval_offset:]

    @property
    def num_eval(self) -> int:
        """Number of evaluation classes K."""
        return len(self.semantic_names) - self.eval_offset

    @property
    def splits(self) -> Optional[Dict[str, FrozenSet[str]]]:
        """For ScanNet200: ``"head"``, ``"common"``, ``"tail"`` -> names of its evaluation classes."""
        if self.frequency_split is None:
            return None
        return {split: frozenset(n for n in self.eval_names if self.frequency_split[n] == split)
                for split in ("head", "common", "tail")}

    def label_ids_from_file_ids(self, file_ids: np.ndarray) -> np.ndarray:
        """Map benchmark file label ids (any int array) to ``label_id`` 1..K, 0 where not evaluated."""
        file_ids = np.asarray(file_ids, dtype=np.int64)
        order = np.argsort(np.asarray(self.eval_ids, dtype=np.int64))
        sorted_ids = np.asarray(self.eval_ids, dtype=np.int64)[order]
        pos = np.clip(np.searchsorted(sorted_ids, file_ids), 0, len(sorted_ids) - 1)
        hit = sorted_ids[pos] == file_ids
        return np.where(hit, order[pos] + 1, 0)

    def to_json(self) -> dict:
        """Plain-data description written next to preprocessed files (``meta.json``)."""
        out = {
            "dataset": self.name,
            "semantic_names": list(self.semantic_names),
            "benchmark_ids": list(self.benchmark_ids),
            "label_shift": self.label_shift,
            "instance_names": list(self.instance_names),
            "ignore_label": IGNORE_LABEL,
            "min_region_size": self.min_region_size,
        }
        if self.frequency_split is not None:
            out["frequency_split"] = dict(self.frequency_split)
        return out


# ScanNetV2 benchmark: 20 NYU40 classes; wall and floor are stuff (spec 1.1, 1.3).
SCANNETV2 = DatasetClasses(
    name="scannetv2",
    semantic_names=(
        "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
        "picture", "counter", "desk", "curtain", "refrigerator", "shower curtain", "toilet", "sink",
        "bathtub", "otherfurniture",
    ),
    benchmark_ids=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39),
    label_shift=2,
    min_region_size=100,
)

# ScanNet200 benchmark classes as "raw-category id|name|frequency split;" (ScanNet
# BenchmarkScripts/ScanNet200 constants and head/common/tail lists, reformatted).
_SCANNET200_TABLE = """
1|wall|head;2|chair|head;3|floor|head;4|table|head;5|door|head;6|couch|head;7|cabinet|head;
8|shelf|head;9|desk|head;10|office chair|head;11|bed|head;13|pillow|head;14|sink|head;
15|picture|head;16|window|head;17|toilet|head;18|bookshelf|head;19|monitor|head;
21|curtain|head;22|book|head;23|armchair|head;24|coffee table|head;26|box|head;
27|refrigerator|head;28|lamp|head;29|kitchen cabinet|head;31|towel|head;32|clothes|head;
33|tv|head;34|nightstand|head;35|counter|head;36|dresser|head;38|stool|head;39|cushion|common;
40|plant|head;41|ceiling|head;42|bathtub|head;44|end table|common;45|dining table|common;
46|keyboard|common;47|bag|common;48|backpack|head;49|toilet paper|common;50|printer|common;
51|tv stand|head;52|whiteboard|head;54|blanket|common;55|shower curtain|head;56|trash can|head;
57|closet|head;58|stairs|head;59|microwave|common;62|stove|head;63|shoe|common;
64|computer tower|common;65|bottle|common;66|bin|common;67|ottoman|common;68|bench|common;
69|board|head;70|washing machine|head;71|mirror|head;72|copier|head;73|basket|common;
74|sofa chair|head;75|file cabinet|head;76|fan|common;77|laptop|common;78|shower|head;
79|paper|tail;80|person|common;82|paper towel dispenser|common;84|oven|common;86|blinds|head;
87|rack|common;88|plate|tail;89|blackboard|head;90|piano|common;93|suitcase|common;
95|rail|common;96|radiator|head;97|recycling bin|head;98|container|common;99|wardrobe|head;
100|soap dispenser|tail;101|telephone|common;102|bucket|tail;103|clock|tail;104|stand|common;
105|light|common;106|laundry basket|common;107|pipe|common;110|clothes dryer|head;
112|guitar|tail;115|toilet paper holder|tail;116|seat|common;118|speaker|tail;
120|column|common;121|bicycle|common;122|ladder|common;125|bathroom stall|head;
128|shower wall|head;130|cup|tail;131|jacket|common;132|storage bin|common;
134|coffee maker|common;136|dishwasher|common;138|paper towel roll|tail;139|machine|common;
140|mat|common;141|windowsill|common;145|bar|tail;148|toaster|tail;154|bulletin board|common;
155|ironing board|tail;156|fireplace|common;157|soap dish|tail;159|kitchen counter|head;
161|doorframe|head;163|toilet paper dispenser|tail;165|mini fridge|common;
166|fire extinguisher|tail;168|ball|tail;169|hat|tail;170|shower curtain rod|tail;
177|water cooler|common;180|paper cutter|tail;185|tray|tail;188|shower door|common;
191|pillar|common;193|ledge|common;195|toaster oven|tail;202|mouse|tail;
208|toilet seat cover dispenser|tail;213|furniture|common;214|cart|common;
221|storage container|tail;229|scale|tail;230|tissue box|tail;232|light switch|tail;
233|crate|tail;242|power outlet|tail;250|decoration|common;261|sign|tail;264|projector|tail;
276|closet door|common;283|vacuum cleaner|common;286|candle|tail;300|plunger|tail;
304|stuffed animal|tail;312|headphones|tail;323|dish rack|common;325|broom|tail;
331|guitar case|tail;342|range hood|common;356|dustpan|tail;370|hair dryer|tail;
392|water bottle|tail;395|handicap bar|tail;399|purse|tail;408|vent|tail;417|shower floor|tail;
488|water pitcher|tail;540|mailbox|head;562|bowl|tail;570|paper bag|tail;572|alarm clock|tail;
581|music stand|tail;609|projector screen|common;748|divider|common;776|laundry detergent|tail;
1156|bathroom counter|common;1163|object|head;1164|bathroom vanity|head;1165|closet wall|head;
1166|laundry hamper|common;1167|bathroom stall door|common;1168|ceiling light|common;
1169|trash bin|common;1170|dumbbell|tail;1171|stair rail|head;1172|tube|tail;
1173|bathroom cabinet|common;1174|cd case|tail;1175|closet rod|tail;1176|coffee kettle|tail;
1178|structure|common;1179|shower head|tail;1180|keyboard piano|tail;
1181|case of water bottles|tail;1182|coat rack|tail;1183|storage organizer|common;
1184|folded chair|tail;1185|fire alarm|tail;1186|power strip|tail;1187|calendar|tail;
1188|poster|tail;1189|potted plant|common;1190|luggage|tail;1191|mattress|common;
"""


def _scannet200() -> DatasetClasses:
    rows = [r.split("|") for r in _SCANNET200_TABLE.replace("\n", "").split(";") if r.strip()]
    ids = [int(r[0]) for r in rows]
    names = [r[1] for r in rows]
    # Train ids: wall, floor first (the stuff classes), then the other 198 in benchmark-id order,
    # as in ISBNet's ScanNet200 preprocessing.
    order = [ids.index(1), ids.index(3)] + [i for i, x in enumerate(ids) if x not in (1, 3)]
    return DatasetClasses(
        name="scannet200",
        semantic_names=tuple(names[i] for i in order),
        benchmark_ids=tuple(ids[i] for i in order),
        label_shift=2,
        min_region_size=100,
        frequency_split={r[1]: r[2] for r in rows},
    )


SCANNET200 = _scannet200()

# S3DIS: the 13 classes in the id order of the official preprocessing (spec 1.10, pitfall 34: the
# display tuple of the official S3DIS dataset/evaluator classes swaps table/chair and sofa/bookcase);
# ceiling and floor are stuff for the instance head (label_shift 2) but, predicted from semantics,
# evaluated like every other class (eval_offset 0). Ground-truth class ids are train id + 1 (spec
# 1.10 "eval GT class").
S3DIS = DatasetClasses(
    name="s3dis",
    semantic_names=(
        "ceiling", "floor", "wall", "beam", "column", "window", "door", "table", "chair", "sofa",
        "bookcase", "board", "clutter",
    ),
    benchmark_ids=tuple(range(1, 14)),
    label_shift=2,
    min_region_size=100,
    eval_offset=0,
)

# STPLS3D: semantic 0 is ground (stuff), 1..14 the instance classes; ground-truth class ids are the
# train ids (spec 1.10).
STPLS3D = DatasetClasses(
    name="stpls3d",
    semantic_names=(
        "ground", "building", "low vegetation", "med. vegetation", "high vegetation", "vehicle", "truck",
        "aircraft", "militaryVehicle", "bike", "motorcycle", "light pole", "street sign", "clutter", "fence",
    ),
    benchmark_ids=tuple(range(15)),
    label_shift=1,
    min_region_size=10,
)

DATASETS: Dict[str, DatasetClasses] = {c.name: c for c in (SCANNETV2, SCANNET200, S3DIS, STPLS3D)}


def get_dataset(dataset: Union[str, DatasetClasses]) -> DatasetClasses:
    """Return the class table for a registry name, or ``dataset`` itself if it already is one."""
    if isinstance(dataset, DatasetClasses):
        return dataset
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(DATASETS)}")
    return DATASETS[dataset]

# The official ScanNetV2 validation scenes (ScanNet Tasks/Benchmark/scannetv2_val.txt) as
# "scene-number:sub-scans"; used to split scans/ into train and val when no split file is given.
_SCANNETV2_VAL = """
0011:00,01 0015:00 0019:00,01 0025:00,01,02 0030:00,01,02 0046:00,01,02 0050:00,01,02 0063:00
0064:00,01 0077:00,01 0081:00,01,02 0084:00,01,02 0086:00,01,02 0088:00,01,02,03 0095:00,01
0100:00,01,02 0131:00,01,02 0139:00 0144:00,01 0146:00,01,02 0149:00 0153:00,01
0164:00,01,02,03 0169:00,01 0187:00,01 0193:00,01 0196:00 0203:00,01,02 0207:00,01,02 0208:00
0217:00 0221:00,01 0222:00,01 0231:00,01,02 0246:00 0249:00 0251:00 0256:00,01,02 0257:00
0277:00,01,02 0278:00,01 0300:00,01 0304:00 0307:00,01,02 0314:00 0316:00 0328:00
0329:00,01,02 0334:00,01,02 0338:00,01,02 0342:00 0343:00 0351:00,01 0353:00,01,02 0354:00
0355:00,01 0356:00,01,02 0357:00,01 0377:00,01,02 0378:00,01,02 0382:00,01 0389:00
0406:00,01,02 0412:00,01 0414:00 0423:00,01,02 0426:00,01,02,03 0427:00 0430:00,01 0432:00,01
0435:00,01,02,03 0441:00 0458:00,01 0461:00 0462:00 0474:00,01,02,03,04,05 0488:00,01 0490:00
0494:00 0496:00 0500:00,01 0518:00 0527:00 0535:00 0549:00,01 0550:00 0552:00,01 0553:00,01,02
0558:00,01,02 0559:00,01,02 0565:00 0568:00,01,02 0574:00,01,02 0575:00,01,02 0578:00,01,02
0580:00,01 0583:00,01,02 0591:00,01,02 0593:00,01 0595:00 0598:00,01,02 0599:00,01,02
0606:00,01,02 0607:00,01 0608:00,01,02 0609:00,01,02,03 0616:00,01 0618:00 0621:00
0629:00,01,02 0633:00,01 0643:00 0644:00 0645:00,01,02 0647:00,01 0648:00,01 0651:00,01,02
0652:00 0653:00,01 0655:00,01,02 0658:00 0660:00 0663:00,01,02 0664:00,01,02 0665:00,01
0670:00,01 0671:00,01 0678:00,01,02 0684:00,01 0685:00,01,02 0686:00,01,02 0689:00 0690:00,01
0693:00,01,02 0695:00,01,02,03 0696:00,01,02 0697:00,01,02,03 0699:00 0700:00,01,02
0701:00,01,02 0702:00,01,02 0704:00,01
"""


def scannetv2_val_scenes() -> frozenset:
    """The 312 official ScanNetV2 validation scene ids (``sceneXXXX_YY``)."""
    out = set()
    for tok in _SCANNETV2_VAL.split():
        num, subs = tok.split(":")
        out.update(f"scene{num}_{s}" for s in subs.split(","))
    return frozenset(out)
