"""Reader for ScanNet's ``scannetv2-labels.combined.tsv`` (raw annotation category -> class ids).

Two copies of the file are in circulation: one with LF line ends that spells the NYU40 class
``refridgerator``, one with CRLF line ends and the spelling fixed (see the reference SOURCE.md).
Loaders that key on the NYU40 class *name* silently lose the refrigerator class on one of them,
and loaders that split lines themselves keep a ``\\r`` in the last column of the other. This reader
uses only the numeric columns (``nyu40id`` for ScanNetV2, ``id`` for ScanNet200) looked up by header
name, and strips line ends, byte-order marks and surrounding blanks, so both copies give the same map.
"""
import dataclasses
import os
from typing import Dict

from sphmask.io.errors import DataFormatError

REQUIRED_COLUMNS = ("id", "raw_category", "nyu40id")


@dataclasses.dataclass(frozen=True)
class LabelMap:
    """Raw annotation category -> ids. ``nyu40[raw]`` is the NYU40 id (1..40), ``raw_id[raw]`` the
    raw-category id used by ScanNet200. ``path`` is the file it came from (for error messages)."""

    nyu40: Dict[str, int]
    raw_id: Dict[str, int]
    path: str

    def __contains__(self, raw_category: str) -> bool:
        return raw_category in self.nyu40


def read_label_map(path: str) -> LabelMap:
    """Parse ``scannetv2-labels.combined.tsv``; raises :class:`DataFormatError` naming the file and
    line for a missing file, missing columns or a non-integer id."""
    path = str(path)
    if not os.path.isfile(path):
        raise DataFormatError(path, "label map (scannetv2-labels.combined.tsv) not found")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, f"not UTF-8 text ({exc})") from None
    lines = text.splitlines()
    if not lines:
        raise DataFormatError(path, "empty label map")
    header = [h.strip() for h in lines[0].split("\t")]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataFormatError(path, f"header lacks column(s) {missing}; found {header}")
    col = {c: header.index(c) for c in REQUIRED_COLUMNS}
    nyu40: Dict[str, int] = {}
    raw_id: Dict[str, int] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split("\t")]
        if len(cells) <= max(col.values()):
            need = max(col.values()) + 1
            raise DataFormatError(path, f"line {lineno} has {len(cells)} columns, expected at least {need}")
        name = cells[col["raw_category"]]
        try:
            nyu40[name] = int(cells[col["nyu40id"]])
            raw_id[name] = int(cells[col["id"]])
        except ValueError:
            raise DataFormatError(
                path, f"line {lineno}: id {cells[col['id']]!r} / nyu40id {cells[col['nyu40id']]!r} is not an integer"
            ) from None
    if not nyu40:
        raise DataFormatError(path, "label map has a header but no rows")
    return LabelMap(nyu40=nyu40, raw_id=raw_id, path=path)
