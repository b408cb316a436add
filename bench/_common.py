"""Shared pieces of the benchmarks: timing statistics, peak-memory measurement, synthetic scenes.

Each ``bench/ops_<group>.py`` module exposes ``run(sizes, repeats) -> list[Row]``; ``bench/ops.py``
runs them all in one process and prints (or writes) one table, so every ratio compares
implementations measured side by side on the same machine state.
"""
import dataclasses
import datetime
import math
import os
import platform
import statistics
import time
from typing import Callable, List, Optional, Tuple

import numpy as np

from sphmask.io.atomic import write_text


@dataclasses.dataclass
class Row:
    """One measured implementation on one case. Times in milliseconds, memory in MiB."""

    group: str
    case: str
    impl: str
    median_ms: float
    min_ms: float
    max_ms: float
    peak_mib: Optional[float] = None
    note: str = ""


def timeit(fn: Callable[[], object], repeats: int = 5, warmup: int = 1):
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times; return (median, min, max) in ms."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times), max(times)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_rss_mib(fn: Callable[[], object]) -> float:
    """Peak resident memory that ``fn`` adds on top of the current RSS, in MiB (Linux only).

    Resets the kernel's high-water mark (``/proc/self/clear_refs``), runs ``fn`` once, and reads
    ``VmHWM``; this sees every allocation (torch's CPU allocator included), unlike tracemalloc.
    """
    import ctypes
    import gc

    gc.collect()
    # Freed heap pages stay resident and would be reused silently; hand them back first so the
    # high-water mark measures what fn itself needs.
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kib("VmRSS")
    out = fn()
    peak = _status_kib("VmHWM")
    del out
    return (peak - before) / 1024.0


def row(group, case, impl, fn, repeats, memory=False, note="") -> Row:
    """Time ``fn`` (and optionally measure its peak memory) into a :class:`Row`."""
    med, lo, hi = timeit(fn, repeats)
    peak = peak_rss_mib(fn) if memory else None
    return Row(group, case, impl, med, lo, hi, peak, note)


def indoor_scene(n_points: int, seed: int = 0):
    """A synthetic room as ``(xyz float32 [N,3] metres, rgb float32 [N,3] in [-1,1])``.

    Points are sampled on a floor, four walls and a few boxes (furniture-like), with 2 mm noise,
    in a room of about 8 x 6 x 3 m centred at the origin like ScanNet's preprocessed scenes. The
    density is what matters for the ops: surfaces, not volumes, as in real scans.
    """
    rng = np.random.default_rng(seed)
    lx, ly, lz = 8.0, 6.0, 3.0
    surfaces = [  # (origin, edge u, edge v)
        ((0, 0, 0), (lx, 0, 0), (0, ly, 0)),
        ((0, 0, 0), (lx, 0, 0), (0, 0, lz)),
        ((0, ly, 0), (lx, 0, 0), (0, 0, lz)),
        ((0, 0, 0), (0, ly, 0), (0, 0, lz)),
        ((lx, 0, 0), (0, ly, 0), (0, 0, lz)),
    ]
    for _ in range(24):
        sx, sy, sz = rng.uniform(0.3, 1.6), rng.uniform(0.3, 1.2), rng.uniform(0.4, 1.2)
        ox, oy = rng.uniform(0.2, lx - sx - 0.2), rng.uniform(0.2, ly - sy - 0.2)
        o = (ox, oy, 0.0)
        surfaces += [
            ((ox, oy, sz), (sx, 0, 0), (0, sy, 0)),
            (o, (sx, 0, 0), (0, 0, sz)),
            ((ox, oy + sy, 0), (sx, 0, 0), (0, 0, sz)),
            (o, (0, sy, 0), (0, 0, sz)),
            ((ox + sx, oy, 0), (0, sy, 0), (0, 0, sz)),
        ]
    o = np.array([s[0] for s in surfaces], np.float64)
    u = np.array([s[1] for s in surfaces], np.float64)
    v = np.array([s[2] for s in surfaces], np.float64)
    area = np.linalg.norm(np.cross(u, v), axis=1)
    which = rng.choice(len(surfaces), size=n_points, p=area / area.sum())
    a, b = rng.random((n_points, 1)), rng.random((n_points, 1))
    xyz = o[which] + a * u[which] + b * v[which] + rng.normal(0, 0.002, (n_points, 3))
    xyz -= xyz.mean(0)
    rgb = np.clip(rng.normal(0, 0.4, (len(surfaces), 3))[which] + rng.normal(0, 0.05, (n_points, 3)), -1, 1)
    return xyz.astype(np.float32), rgb.astype(np.float32)


def format_table(rows: List[Row]) -> str:
    """Markdown table; ``time / first`` is each median over the median of the case's first impl
    (sphmask by convention), so 10.0 means that alternative took ten times as long."""
    out = ["| group | case | impl | median ms | min ms | max ms | peak MiB | time / first | note |",
           "|---|---|---|---:|---:|---:|---:|---:|---|"]
    first = {}
    for r in rows:
        key = (r.group, r.case)
        base = first.setdefault(key, r.median_ms)
        ratio = r.median_ms / base if base > 0 else math.nan
        peak = "" if r.peak_mib is None else f"{r.peak_mib:.1f}"
        out.append(f"| {r.group} | {r.case} | {r.impl} | {r.median_ms:.2f} | {r.min_ms:.2f} | "
                   f"{r.max_ms:.2f} | {peak} | {ratio:.2f} | {r.note} |")
    return "\n".join(out)


def machine_info(*versions: str) -> str:
    """``"<date>: <CPU model>, <n> cores, <versions...>, Python <version>"``, the line printed
    above a results table; ``versions`` are entries such as ``"numpy 2.4.0"``."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    fields = [cpu, f"{os.cpu_count()} cores", *versions, f"Python {platform.python_version()}"]
    return f"{datetime.date.today()}: " + ", ".join(fields)


def torch_machine_info() -> str:
    """:func:`machine_info` with the versions of torch (and its thread count), numpy and sphmask."""
    import torch

    import sphmask

    return machine_info(f"torch {torch.__version__} ({torch.get_num_threads()} threads)", f"numpy {np.__version__}",
                        f"sphmask {sphmask.__version__} ({sphmask.compiler_version()})")


def report(table: str, info: str, note: str, path: Optional[str], markers: Tuple[str, str],
           heading: str) -> None:
    """Print ``info`` (see :func:`machine_info`) and the markdown ``table``.

    With ``path``, also write ``Measured <info>; <note>.`` and the table between the two ``markers``
    of that markdown file, or, when it has no such section yet, append them under ``## heading``
    (a missing file starts as ``# Benchmarks``). The file is replaced atomically.
    """
    print(info)
    print(table)
    if not path:
        return
    begin, end = markers
    section = f"{begin}\nMeasured {info}; {note}.\n\n{table}\n{end}"
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmarks\n\n"
    if begin in text and end in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + f"\n\n## {heading}\n\n" + section + "\n"
    write_text(text, path)
