"""Input checks shared by every public op wrapper.

Every wrapper validates at the boundary so that a bad call fails with a message naming the
argument, what was expected and what was given, instead of a crash inside a kernel.
"""
import math
from typing import Iterable, Optional, Sequence

import torch

from sphmask import _ext

# Register torch.ops.sphmask.* as soon as the ops are imported (torch is loaded here anyway); a
# missing library is reported by ops() at the first call.
_ext.load()

INT_DTYPES = (torch.int32, torch.int64)
FLOAT_DTYPES = (torch.float32, torch.float64)
# What autocast hands an op (linear layers' outputs under torch.autocast); ops compute in float32.
HALF_DTYPES = (torch.float16, torch.bfloat16)


def ops():
    """``torch.ops.sphmask``, after making sure the compiled library is loaded."""
    _ext.require()
    return torch.ops.sphmask


def _dtype_names(dtypes: Iterable[torch.dtype]) -> str:
    return " or ".join(str(d).replace("torch.", "") for d in dtypes)


def check_tensor(
    name: str,
    t,
    dtypes: Sequence[torch.dtype],
    shape: Optional[Sequence[Optional[int]]] = None,
) -> torch.Tensor:
    """Check type, dtype and shape of one argument; return it contiguous.

    ``shape`` lists the expected size per dimension, ``None`` meaning any size; it also fixes the
    number of dimensions.
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in dtypes:
        raise TypeError(f"{name} must have dtype {_dtype_names(dtypes)}, got {str(t.dtype).replace('torch.', '')}")
    if shape is not None:
        ok = t.dim() == len(shape) and all(e is None or e == s for e, s in zip(shape, t.shape))
        if not ok:
            want = "[" + ", ".join("*" if e is None else str(e) for e in shape) + "]"
            raise ValueError(f"{name} must have shape {want}, got {list(t.shape)}")
    return t.contiguous()


def check_float32(name: str, t, shape: Optional[Sequence[Optional[int]]] = None) -> torch.Tensor:
    """:func:`check_tensor` for an op that computes in float32: float32 passes, float16/bfloat16
    (what autocast produces) are cast to float32 exactly; return it contiguous."""
    if isinstance(t, torch.Tensor) and t.dtype not in (torch.float32,) + HALF_DTYPES:
        raise TypeError(f"{name} must have dtype float32 (float16/bfloat16 are cast to it), got "
                        f"{str(t.dtype).replace('torch.', '')}")
    return check_tensor(name, t, (torch.float32,) + HALF_DTYPES, shape).float()


def check_finite(name: str, t: torch.Tensor) -> None:
    """Raise ``ValueError`` if a floating tensor holds NaN or inf.

    ``aminmax`` reduces without a mask the size of the input (64 MB for a 256 x 250k migration); its
    extremes are finite exactly when every element is (NaN propagates through min and max).
    """
    if t.is_floating_point() and t.numel() and not all(math.isfinite(float(v)) for v in torch.aminmax(t)):
        raise ValueError(f"{name} contains NaN or inf values; expected finite numbers")


def check_same_device(**tensors: torch.Tensor) -> torch.device:
    """Raise ``ValueError`` unless all tensors live on one device; return that device."""
    devices = {n: t.device for n, t in tensors.items()}
    first = next(iter(devices.values()))
    if any(d != first for d in devices.values()):
        listing = ", ".join(f"{n} on {d}" for n, d in devices.items())
        raise ValueError(f"all tensors must be on the same device, got {listing}")
    return first


def check_offsets(name: str, offsets, total: int, total_name: str) -> torch.Tensor:
    """Check a CSR-style offsets vector ``[0, n_0, n_0+n_1, ..., total]``; return it as int64.

    Segment ``b`` of the data is ``[offsets[b], offsets[b+1])``.
    """
    offsets = check_tensor(name, offsets, INT_DTYPES, shape=(None,))
    if offsets.numel() < 1:
        raise ValueError(f"{name} must have at least one entry ([0] for no segments), got none")
    o = offsets.detach().to("cpu", torch.int64)
    if int(o[0]) != 0:
        raise ValueError(f"{name} must start at 0, got {int(o[0])}")
    if o.numel() > 1 and bool((o[1:] < o[:-1]).any()):
        raise ValueError(f"{name} must be non-decreasing, got {o.tolist()[:16]}")
    if int(o[-1]) != total:
        raise ValueError(f"{name} must end at {total_name} = {total}, got {int(o[-1])}")
    return offsets.to(torch.int64)
