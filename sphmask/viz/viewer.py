"""The interactive HTML viewer: one self-contained page per scene (docs/viewer.md).

The page holds the viewer script (three.js bundled with ``js/viewer/src/viewer.js``, built into
``static/sphmask-viewer.min.js``) and the scene as zlib-compressed, base64-encoded typed arrays, so
it opens from disk with no network and no other file. Arrays (``meta["arrays"]`` names each one's
element id, dtype and length):

* ``xyz`` float32 [N*3]: coordinates minus ``meta["origin"]`` (the bounding-box centre, float64),
  so that large georeferenced coordinates keep float32 precision; exports add the origin back;
* ``owner`` int32 [N]: the highest-scoring instance holding each point, -1 for none
  (:func:`sphmask.engine.export.point_instance_index`). Since the score slider hides instances
  below a threshold, a point's highest-scoring instance is shown whenever any of its instances is;
* ``inst_offsets`` int32 [K+1], ``inst_points`` int32: every instance's full mask (CSR, ascending
  point indices), which selections and exports use, so overlapping masks are exported whole;
* optional ``rgb`` uint8 [N*3], ``superpoints`` int32 [N] (ids renumbered 0..S-1), ``semantic``
  int16 [N] (-1: no class), ``display`` int32 [D] (the points drawn when N is above
  ``max_display_points``: a seeded uniform sample; picking maps a drawn point back to its index).
"""
import base64
import functools
import html
import json
import os
import re
import zlib
from typing import Mapping, Optional, Sequence

import numpy as np

from sphmask.engine.export import BACKGROUND_RGB, instance_palette, point_instance_index
from sphmask.io.atomic import atomic_path
from sphmask.viz._common import check_xyz, class_name, instance_masks
from sphmask.viz.palette import class_colors

#: Points drawn at most; above it a seeded uniform sample is drawn (selection uses all points).
MAX_DISPLAY_POINTS = 200_000

LEVELS = ("superpoints", "instances", "classes")

_STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


@functools.lru_cache(maxsize=1)
def _assets():
    with open(os.path.join(_STATIC, "viewer.html"), encoding="utf-8") as f:
        template = f.read()
    with open(os.path.join(_STATIC, "sphmask-viewer.min.js"), encoding="utf-8") as f:
        script = f.read()
    if "</script" in script.lower():  # would end the inline <script> element early
        raise RuntimeError("sphmask-viewer.min.js contains '</script'; it cannot be inlined")
    return template, script


def _ids(values, n: int, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ValueError(f"{what} must have shape ({n},) (one per point), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what} must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _encode(name: str, arr: np.ndarray, dtype: str) -> tuple:
    arr = np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("<")).reshape(-1)
    element = f"sphmask-{name}"
    text = base64.b64encode(zlib.compress(arr.tobytes(), 6)).decode("ascii")
    spec = {"element": element, "dtype": dtype, "length": int(arr.size)}
    return spec, f'<script type="application/octet-stream" id="{element}">{text}</script>'


def write_viewer(path: str, xyz: np.ndarray, instances: Sequence[Mapping], *, rgb: Optional[np.ndarray] = None,
                 superpoints: Optional[np.ndarray] = None, semantic: Optional[np.ndarray] = None,
                 class_names: Optional[Sequence[str]] = None, semantic_names: Optional[Sequence[str]] = None,
                 title: str = "", name: Optional[str] = None, score_threshold: float = 0.0,
                 superpoint_source: str = "", max_display_points: int = MAX_DISPLAY_POINTS, seed: int = 0) -> dict:
    """Write the viewer page of one segmented scene, atomically.

    Instance ``k`` is ``instances[k]`` (its id on the page, in exports and in the instance list,
    where instances are listed best score first); its colour is ``instance_palette`` row ``k`` (the
    PLY's), its class colour ScanNet's (:func:`sphmask.viz.palette.class_colors`).

    Args:
        xyz: float [N, 3] coordinates.
        instances: ``{"mask": bool [N] or "indices": int [M], "label_id": 1-based class, "score"}``.
        rgb: uint8 [N, 3] scan colours (shown outside instances on request; exported with the points).
        superpoints: int [N] superpoint id per point (any integers); without it the superpoint
            level is disabled and instances show no superpoint count.
        semantic: int [N] semantic class per point (index into ``semantic_names``; negative or
            out of range: none); coloured at the class level where no shown instance covers a point.
        class_names: instance class names by ``label_id - 1``; semantic_names: names by semantic id.
        name: file-name stem of the exports (default: ``path``'s stem without ``_viewer``).
        score_threshold: initial position of the score slider.
        superpoint_source: where the superpoints came from, shown under the view.
        max_display_points: draw a seeded uniform sample of this many points when N is larger.
    Returns:
        ``{"num_points", "num_displayed", "num_instances", "bytes"}``.
    """
    xyz = check_xyz(xyz)
    n = xyz.shape[0]
    insts = instance_masks(instances, n)
    if not 0.0 <= score_threshold <= 1.0:
        raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
    if max_display_points < 1:
        raise ValueError(f"max_display_points must be at least 1, got {max_display_points}")
    if name is None:
        name = re.sub(r"_viewer$", "", os.path.splitext(os.path.basename(path))[0]) or "scene"

    origin = (xyz.min(0) + xyz.max(0)) / 2.0
    rel = (xyz - origin).astype(np.float32)
    radius = float(max(np.linalg.norm(xyz.max(0) - xyz.min(0)) / 2.0, 1e-3))
    owner = point_instance_index(n, insts)
    members = [np.flatnonzero(inst["mask"]) for inst in insts]
    offsets = np.concatenate([[0], np.cumsum([m.size for m in members])]).astype(np.int64)
    arrays = [("xyz", rel, "float32"), ("owner", owner, "int32"), ("inst_offsets", offsets, "int32"),
              ("inst_points", np.concatenate(members) if members else np.zeros(0, np.int64), "int32")]

    sp_compact = None
    if superpoints is not None:
        sp_compact = np.unique(_ids(superpoints, n, "superpoints"), return_inverse=True)[1].reshape(-1)
        arrays.append(("superpoints", sp_compact, "int32"))
    semantic_colors = None
    if semantic is not None:
        sem = _ids(semantic, n, "semantic")
        num_sem = len(semantic_names) if semantic_names is not None else int(max(sem.max(initial=-1) + 1, 0))
        sem = np.where((sem >= 0) & (sem < num_sem), sem, -1)
        arrays.append(("semantic", sem, "int16"))
        names = list(semantic_names) if semantic_names is not None else [f"class {s}" for s in range(num_sem)]
        semantic_names, semantic_colors = names, class_colors(names).tolist()
    if rgb is not None:
        rgb = np.asarray(rgb)
        if rgb.shape != xyz.shape or rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be uint8 with shape {xyz.shape}, got {rgb.dtype} {rgb.shape}")
        arrays.append(("rgb", rgb, "uint8"))
    num_displayed = n
    if n > max_display_points:
        display = np.sort(np.random.default_rng(seed).choice(n, max_display_points, replace=False))
        arrays.append(("display", display, "int32"))
        num_displayed = max_display_points

    names_k = [class_name(i["label_id"], class_names) for i in insts]
    # class colours: instance classes by name in the same table as the semantic classes when both are known
    table = list(semantic_names or [])
    extra = sorted({nm for nm in names_k if nm not in table})
    colour_of = dict(zip(table + extra, class_colors(table + extra).tolist()))
    palette = instance_palette(len(insts)).tolist()
    meta_insts = []
    for k, inst in enumerate(insts):
        meta_insts.append({
            "id": k, "label_id": inst["label_id"], "class": names_k[k], "score": round(inst["score"], 6),
            "num_points": int(members[k].size),
            "num_superpoints": None if sp_compact is None else int(np.unique(sp_compact[members[k]]).size),
            "color": palette[k], "class_color": colour_of[names_k[k]],
        })

    encoded = [_encode(nm, arr, dt) for nm, arr, dt in arrays]
    meta = {
        "name": name, "title": title, "num_points": n, "origin": origin.tolist(), "radius": radius,
        "score_threshold": float(score_threshold), "background": list(BACKGROUND_RGB),
        "num_superpoints": None if sp_compact is None else int(sp_compact.max(initial=-1) + 1),
        "superpoint_source": superpoint_source, "semantic_names": semantic_names,
        "semantic_colors": semantic_colors, "instances": meta_insts,
        "arrays": {nm: spec for (nm, _, _), (spec, _) in zip(arrays, encoded)},
    }
    template, script = _assets()
    parts = {
        "TITLE": html.escape(title or name),
        # "<" escaped so that no string in the metadata can close the <script> element
        "META": json.dumps(meta, separators=(",", ":")).replace("<", "\\u003c"),
        "ARRAYS": "\n".join(block for _, block in encoded),
        "SCRIPT": script,
    }
    page = re.sub(r"\{\{(TITLE|META|ARRAYS|SCRIPT)\}\}", lambda m: parts[m.group(1)], template)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(page)
    return {"num_points": n, "num_displayed": num_displayed, "num_instances": len(insts),
            "bytes": len(page.encode("utf-8"))}
