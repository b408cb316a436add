"""The colour rule shared by every input format (PLY, NPY, text), docs/segment.md "Input formats".

Files in the wild store colour in one of four ways: 8-bit integers 0..255 (ScanNet, MeshLab,
CloudCompare, Open3D), floats 0..1 (PLY writers that normalise, numpy pipelines), floats 0..255
(text exports such as S3DIS, tools that cast to float without rescaling), and 16-bit integers
0..65535 (LAS colour; PDAL's PLY writer keeps the ``ushort`` type). Anything else, e.g. colours
already mapped to [-1, 1] or 0..1000, has no reading we could guess, so it is refused instead of
reaching the network as features far outside the [-1, 1] it was trained on.
"""
import numpy as np

from sphmask.io.errors import DataFormatError

RULE = ("colours must be 0..255, or floats in 0..1 (scaled by 255), "
        "or a 16-bit unsigned type in 0..65535 (scaled by 255/65535)")


def colors_to_255(path: str, rgb: np.ndarray, dtype: np.dtype, what: str = "colours") -> np.ndarray:
    """Map colours stored as ``dtype`` to float64 [N, 3] in 0..255, or raise :class:`DataFormatError`.

    Args:
        rgb: [N, 3] colour values (any numeric dtype; ``dtype`` says how the file stored them).
        dtype: the stored type: floats all within [0, 1] are scaled by 255; a 16-bit unsigned type
            with a value above 255 is 16-bit colour; every other colour must lie in [0, 255].
        what: how the message names the colours (e.g. "colour columns 4-6").
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "iuf":
        raise DataFormatError(path, f"{what} have type {dtype}; {RULE}")
    rgb = np.asarray(rgb, dtype=np.float64)
    if not rgb.size:
        return rgb
    if not np.isfinite(rgb).all():
        raise DataFormatError(path, f"{what} contain NaN or inf")
    lo, hi = float(rgb.min()), float(rgb.max())
    if dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
        return rgb * 255.0
    if dtype.kind == "u" and dtype.itemsize == 2 and hi > 255.0:
        return rgb * (255.0 / 65535.0)
    if lo < 0.0 or hi > 255.0:
        raise DataFormatError(path, f"{what} range over [{lo:g}, {hi:g}]; {RULE}")
    return rgb
