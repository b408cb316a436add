"""ScanNet benchmark file formats: readers, writers, RLE masks, atomic writes.

Formats (ScanNet ``BenchmarkScripts/3d_evaluation``; spec §7.5):

* ground truth ``<scene>.txt``: one integer per mesh vertex and line, ``label_id * 1000 + instance``
  (``label_id`` the benchmark class id, e.g. NYU40), 0 for unannotated vertices;
* predictions ``<scene>.txt`` in the prediction directory: one line per instance,
  ``<mask path relative to the directory> <label id> <confidence>`` separated by single spaces, and
  one mask file per instance holding one integer per vertex and line (non-zero = inside);
* RLE (the official code's in-memory mask encoding): ``{"length": N, "counts": [start_1, len_1,
  start_2, len_2, ...]}`` with 1-based run starts.

Every reader error names the file and, where it applies, the 1-based line.
"""
import dataclasses
import os
from typing import Any, List, Mapping, Optional, Sequence, Union

import numpy as np

from sphmask.data.classes import DatasetClasses, get_dataset
from sphmask.errors import SphmaskError
from sphmask.io.atomic import write_bytes

_MAX_DIGITS = 18  # 10**18 - 1 still fits int64


class EvaluationInputError(SphmaskError, ValueError):
    """An evaluation input file or array that cannot be used; the message says where and why."""


# ----------------------------------------------------------------------------------------------
# atomic writes


def atomic_write(path: str, data: Union[bytes, str]) -> None:
    """Write ``data`` (``str`` as UTF-8) to ``path`` through a temporary file in the same directory
    and a rename (:mod:`sphmask.io.atomic`): readers find the old file or the complete new one."""
    write_bytes(data.encode() if isinstance(data, str) else data, path)


# ----------------------------------------------------------------------------------------------
# RLE


def _as_numpy(x: Any) -> np.ndarray:
    """numpy view of a numpy array, torch tensor (any device) or sequence, without importing torch."""
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def rle_encode(mask: Any) -> dict:
    """Run-length encode a 1-D mask (bool/int numpy array or tensor [N], non-zero = inside).

    Returns ``{"length": N, "counts": int64[2R]}``: for each of the R runs of inside points, its
    1-based start and its length (spec App. C.5: ``0110011101`` -> ``[2, 2, 6, 3, 10, 1]``).
    """
    m = _as_numpy(mask)
    if m.ndim != 1:
        raise ValueError(f"rle_encode: mask must be 1-D, got shape {m.shape}")
    inside = np.concatenate([[False], m != 0, [False]])
    edges = np.flatnonzero(inside[1:] != inside[:-1])  # 0-based run starts and run ends, alternating
    counts = edges.astype(np.int64)
    counts[1::2] -= counts[::2]
    counts[::2] += 1
    return {"length": int(m.shape[0]), "counts": counts}


def rle_decode(rle: Mapping[str, Any]) -> np.ndarray:
    """Decode an RLE dict (``counts`` as an int sequence or a space-separated string) to bool[length].

    Raises ``ValueError`` for an odd number of counts, a start below 1, a non-positive length,
    runs that overlap or are out of order, or a run past ``length``.
    """
    try:
        length, counts = int(rle["length"]), rle["counts"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"RLE must be a dict with 'length' and 'counts', got {rle!r:.80}") from exc
    if isinstance(counts, str):
        counts = [int(c) for c in counts.split()]
    counts = _as_numpy(counts).astype(np.int64).ravel()
    if counts.size % 2:
        raise ValueError(f"RLE counts must hold (start, length) pairs, got {counts.size} numbers")
    starts, lens = counts[::2] - 1, counts[1::2]
    ends = starts + lens
    if counts.size and (starts.min() < 0 or lens.min() < 1 or ends.max() > length
                        or np.any(starts[1:] < ends[:-1])):
        raise ValueError(f"RLE runs must be 1-based, positive, ordered, disjoint and within length {length}")
    marks = np.zeros(length + 1, np.int32)
    np.add.at(marks, starts, 1)
    np.add.at(marks, ends, -1)
    return np.cumsum(marks[:-1]) > 0


# ----------------------------------------------------------------------------------------------
# integer-per-line files


def _slow_int_lines(text: str, path: str) -> np.ndarray:
    lines = text.splitlines()
    out = np.empty(len(lines), np.int64)
    for i, line in enumerate(lines):
        try:
            out[i] = int(line)
        except (ValueError, OverflowError):
            raise EvaluationInputError(f"{path}:{i + 1}: expected one integer per line, got {line!r:.60}") from None
    return out


def _parse_int_lines(data: bytes, path: str) -> np.ndarray:
    """Parse one integer per line (as Python's ``int`` does; ``\\n`` or ``\\r\\n`` line ends).

    When every line is an optional ``-`` and 1 to 18 digits (checked vectorised), numpy's C
    parser reads the values; anything else goes through ``int()`` line by line, which names the
    first bad line.
    """
    if not data:
        return np.empty(0, np.int64)
    buf = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(buf == 10)
    if buf[-1] != 10:
        ends = np.append(ends, buf.size)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lens = ends - starts
    odd = np.flatnonzero((buf - np.uint8(48) > 9) & (buf != 10))  # neither digit nor newline
    simple = lens.min() >= 1
    if simple and odd.size:
        line = np.searchsorted(ends, odd)
        simple = bool(np.all((buf[odd] == 45) & (odd == starts[line]) & (lens[line] >= 2)))
        lens = lens.copy()
        lens[line] -= 1
    if simple and lens.max() <= _MAX_DIGITS:
        return np.fromstring(data, dtype=np.int64, sep="\n")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise EvaluationInputError(f"{path}: not a text file of integers (undecodable bytes)") from None
    return _slow_int_lines(text, path)


def _read_bytes(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise EvaluationInputError(f"cannot read {what} {path}: {exc.strerror}") from None


def read_gt_file(path: str) -> np.ndarray:
    """Read a ground-truth file: int64[N], one ``label_id * 1000 + instance`` per vertex."""
    return _parse_int_lines(_read_bytes(path, "ground-truth file"), path)


def read_mask_file(path: str, num_vertices: int) -> np.ndarray:
    """Read a predicted mask file with ``num_vertices`` lines; returns bool[num_vertices] (non-zero)."""
    data = _read_bytes(path, "mask file")
    # The common case, written by every exporter: exactly "0\n" / "1\n" per vertex, i.e. the
    # little-endian 16-bit words 0x0A30 / 0x0A31.
    if len(data) == 2 * num_vertices:
        words = np.frombuffer(data, "<u2")
        if np.all((words | 1) == 0x0A31):
            return words == 0x0A31
    values = _parse_int_lines(data, path)
    if values.size != num_vertices:
        raise EvaluationInputError(f"{path}: {values.size} lines, but the ground truth has {num_vertices} vertices "
                                   "(one line per mesh vertex of *_vh_clean_2.ply expected)")
    return values != 0


@dataclasses.dataclass
class PredictionLine:
    """One parsed line of a prediction file (``line`` is 1-based)."""

    mask_path: str
    label_id: int
    confidence: float
    line: int


def read_prediction_file(path: str, pred_dir: Optional[str] = None) -> List[PredictionLine]:
    """Parse a prediction file into its lines (mask files are not opened here).

    Each line must be ``<relative mask path> <label id> <confidence>`` separated by single
    spaces; the mask path must resolve inside ``pred_dir`` (default: the file's directory). The
    label id is parsed like the official script does (``int(float(x))``); the confidence must be
    finite. Raises :class:`EvaluationInputError` naming the file and line.
    """
    text = _read_bytes(path, "prediction file")
    try:
        lines = text.decode().splitlines()
    except UnicodeDecodeError:
        raise EvaluationInputError(f"{path}: not a text file (undecodable bytes)") from None
    base = os.path.dirname(os.path.abspath(path))
    root = os.path.abspath(pred_dir) if pred_dir is not None else base
    out = []
    for i, line in enumerate(lines, 1):
        where = f"{path}:{i}"
        parts = line.split(" ")
        if len(parts) != 3:
            raise EvaluationInputError(f"{where}: expected '<relative mask path> <label id> <confidence>' separated "
                                       f"by single spaces, got {line!r:.100}")
        rel, label, conf = parts
        if os.path.isabs(rel):
            raise EvaluationInputError(f"{where}: mask path must be relative to the prediction directory, got {rel!r}")
        mask_path = os.path.abspath(os.path.join(base, rel))
        if os.path.commonpath([mask_path, root]) != root:
            raise EvaluationInputError(f"{where}: mask path {rel!r} points outside the prediction directory {root}")
        try:
            label_id = int(float(label))
        except (ValueError, OverflowError):
            raise EvaluationInputError(f"{where}: label id must be a number, got {label!r}") from None
        try:
            confidence = float(conf)
        except ValueError:
            raise EvaluationInputError(f"{where}: confidence must be a number, got {conf!r}") from None
        if not np.isfinite(confidence):
            raise EvaluationInputError(f"{where}: confidence must be finite, got {conf!r}")
        out.append(PredictionLine(mask_path, label_id, confidence, i))
    return out


# ----------------------------------------------------------------------------------------------
# writers


def mask_to_text(mask: Any) -> bytes:
    """The mask-file bytes of a 1-D mask: ``b"0\\n"`` / ``b"1\\n"`` per vertex."""
    m = _as_numpy(mask).ravel() != 0
    buf = np.empty(2 * m.size, np.uint8)
    buf[0::2] = 48 + m
    buf[1::2] = 10
    return buf.tobytes()


def ids_to_text(ids: Any) -> bytes:
    """The bytes of an integer-per-line file (ground truth format) for int array [N]."""
    a = _as_numpy(ids)
    if a.ndim != 1 or a.dtype.kind not in "iub":
        raise ValueError(f"ids must be a 1-D integer array, got dtype {a.dtype} shape {a.shape}")
    if a.size == 0:
        return b""
    return ("\n".join(map(str, a.astype(np.int64).tolist())) + "\n").encode()


def write_gt_file(path: str, ids: Any) -> None:
    """Write a ground-truth file (one ``label_id * 1000 + instance`` per line), atomically."""
    atomic_write(path, ids_to_text(ids))


def encode_gt_ids(semantic_labels: Any, instance_labels: Any,
                  dataset: Union[str, DatasetClasses] = "scannetv2") -> np.ndarray:
    """Benchmark ground-truth ids from per-point labels, int64[N].

    Args:
        semantic_labels: int [N], semantic train ids (0..S-1; negative = ignored).
        instance_labels: int [N], instance index per point, negative = no instance (-100).

    A point gets ``file_id(class) * 1000 + instance + 1`` when it belongs to an instance of an
    evaluation class, else 0 (wall/floor, ignored and unannotated points are all "void" to the
    evaluator, so their distinction is not kept). Instance numbers must stay below 999 so the
    encoding cannot spill into the class digits.
    """
    table = get_dataset(dataset)
    sem = _as_numpy(semantic_labels).astype(np.int64)
    ins = _as_numpy(instance_labels).astype(np.int64)
    if sem.shape != ins.shape or sem.ndim != 1:
        raise ValueError(f"semantic_labels and instance_labels must be 1-D of one length, "
                         f"got {sem.shape} and {ins.shape}")
    if sem.size and sem.max() >= table.semantic_classes:
        raise ValueError(f"semantic label {sem.max()} out of range for {table.name} ({table.semantic_classes} classes)")
    if ins.size and ins.max() >= 999:
        raise ValueError(f"instance label {ins.max()} too large for the label*1000+instance encoding (max 998)")
    ids = np.asarray(table.benchmark_ids, np.int64)
    keep = (sem >= table.eval_offset) & (ins >= 0)
    out = np.zeros(sem.shape, np.int64)
    out[keep] = ids[sem[keep]] * 1000 + ins[keep] + 1
    return out


def write_submission(out_dir: str, scan_id: str, instances: Sequence[Mapping[str, Any]],
                     dataset: Union[str, DatasetClasses] = "scannetv2") -> str:
    """Write one scene in the ScanNet submission format; returns the path of ``<scan_id>.txt``.

    ``instances``: the model's per-scene list of ``{mask: bool[N] (array, tensor or RLE dict),
    label_id: 1-based evaluation class, score: float}``. Writes
    ``out_dir/predicted_masks/<scan_id>_<iii>.txt`` (one 0/1 per vertex) for each instance, then
    ``out_dir/<scan_id>.txt`` with lines ``predicted_masks/<scan_id>_<iii>.txt <file label id>
    <score with 4 decimals>`` (the file label id is the NYU40 id for ScanNetV2). All files are
    written atomically, the scene file last, so it never lists a missing mask.
    """
    table = get_dataset(dataset)
    mask_dir = os.path.join(out_dir, "predicted_masks")
    os.makedirs(mask_dir, exist_ok=True)
    lines = []
    for i, inst in enumerate(instances):
        mask, label_id, score = _instance_fields(inst, i, scan_id, table)
        rel = f"predicted_masks/{scan_id}_{i:03d}.txt"
        atomic_write(os.path.join(out_dir, rel), mask_to_text(mask))
        lines.append(f"{rel} {table.eval_ids[label_id - 1]} {score:.4f}\n")
    path = os.path.join(out_dir, f"{scan_id}.txt")
    atomic_write(path, "".join(lines))
    return path


def _instance_fields(inst: Mapping[str, Any], index: int, scan_id: str, table: DatasetClasses):
    """Validated ``(mask, label_id, score)`` of one predicted instance of the model's output."""
    where = f"scene {scan_id!r}, instance {index}"
    missing = {"mask", "label_id", "score"} - set(inst)
    if missing:
        raise ValueError(f"{where}: missing key(s) {sorted(missing)}; expected mask, label_id, score")
    mask = inst["mask"]
    mask = rle_decode(mask) if isinstance(mask, Mapping) else _as_numpy(mask)
    if mask.ndim != 1:
        raise ValueError(f"{where}: mask must be 1-D [N], got shape {mask.shape}")
    label_id = int(inst["label_id"])
    if not 1 <= label_id <= table.num_eval:
        raise ValueError(f"{where}: label_id {label_id} outside 1..{table.num_eval} ({table.name} evaluation classes)")
    score = float(inst["score"])
    if not np.isfinite(score):
        raise ValueError(f"{where}: score must be finite, got {score}")
    return mask, label_id, score


def iter_files(directory: str, suffix: str = ".txt") -> List[str]:
    """Sorted names of the regular files in ``directory`` ending with ``suffix``."""
    return sorted(f for f in os.listdir(directory)
                  if f.endswith(suffix) and os.path.isfile(os.path.join(directory, f)))
