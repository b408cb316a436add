"""Numeric text tables (``x y z r g b ...`` per line): S3DIS rooms, STPLS3D files, XYZ/XYZRGB scans."""
import io
import warnings

import numpy as np

from sphmask.io.errors import DataFormatError, require_file


def read_text_table(path: str) -> np.ndarray:
    """Read a table of numbers, one row per line, whitespace- or comma-separated, as float64[N, C].

    ``#`` starts a comment; one leading header line is skipped. ASCII control characters inside a
    line are dropped (S3DIS v1.2 has one inside a number in Area_5). Rows of different lengths,
    a missing path or a directory, non-numeric rows and empty files raise :class:`DataFormatError` naming the file and line.
    """
    require_file(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise DataFormatError(path, f"cannot read the file ({exc.strerror or exc})") from None
    text = raw.decode("utf-8", errors="replace")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an empty file warns in loadtxt
            sample = next((ln for ln in text.splitlines() if ln.split("#", 1)[0].strip()), "")
            arr = np.loadtxt(io.StringIO(text), comments="#", delimiter="," if "," in sample else None, ndmin=2,
                             dtype=np.float64)
        if arr.size:
            return arr
    except (ValueError, UserWarning):
        pass
    return _read_slow(path, text)


def _read_slow(path: str, text: str) -> np.ndarray:
    rows = []
    width = None
    header_skipped = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        body = line.split("#", 1)[0]
        body = "".join(ch for ch in body if ch.isprintable()).replace(",", " ").strip()
        if not body:
            continue
        try:
            values = [float(v) for v in body.split()]
        except ValueError:
            if not rows and not header_skipped:
                header_skipped = True
                continue
            raise DataFormatError(path, f"line {lineno}: not a row of numbers: {line.strip()[:80]!r}") from None
        if width is None:
            width = len(values)
        elif len(values) != width:
            raise DataFormatError(path, f"line {lineno} has {len(values)} values, earlier lines have {width}")
        rows.append(values)
    if not rows:
        raise DataFormatError(path, "no points (empty file)")
    return np.asarray(rows, dtype=np.float64)
