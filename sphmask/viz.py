"""Pictures of segmented scenes: a PNG top view (matplotlib) and an interactive HTML viewer (plotly).

Both take the cloud's coordinates and a list of instances (``{"mask" or "indices", "label_id",
"score"}``); instances are coloured with :func:`sphmask.engine.export.instance_palette` in list
order, the same colours the instance PLY uses, and points of no shown instance are grey. Where
masks overlap the higher score wins. Files are written atomically. matplotlib and plotly are
imported on first use, so ``import sphmask`` does not need them.
"""
import os
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np

from sphmask.engine.export import BACKGROUND_RGB, instance_palette, point_instance_index
from sphmask.io.atomic import atomic_path

#: Instances listed in a PNG legend before the rest are summarised as "+ k more".
MAX_LEGEND_ENTRIES = 24


def rgb_uint8(unit_rgb: np.ndarray) -> np.ndarray:
    """Colours in [-1, 1] (the model input convention, :class:`~sphmask.data.PointCloud` ``rgb``) as
    uint8 [N, 3]."""
    return np.clip(np.rint((np.asarray(unit_rgb, np.float64) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _masks(instances: Sequence[Mapping], num_points: int) -> list:
    """Instances as ``{"mask", "label_id", "score"}`` (``indices`` are expanded to a boolean mask)."""
    out = []
    for inst in instances:
        if "mask" in inst:
            mask = np.asarray(inst["mask"], dtype=bool)
        else:
            mask = np.zeros(num_points, dtype=bool)
            mask[np.asarray(inst["indices"], dtype=np.int64)] = True
        if mask.shape != (num_points,):
            raise ValueError(f"instance mask has shape {mask.shape}, expected ({num_points},)")
        out.append({"mask": mask, "label_id": int(inst["label_id"]), "score": float(inst["score"])})
    return out


def _label(inst: Mapping, class_names: Optional[Sequence[str]]) -> str:
    k = inst["label_id"]
    name = class_names[k - 1] if class_names is not None and 1 <= k <= len(class_names) else f"class_{k}"
    return f"{name} {inst['score']:.2f}"


def _check_xyz(xyz: np.ndarray) -> np.ndarray:
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or xyz.shape[0] == 0:
        raise ValueError(f"xyz must be a non-empty [N, 3] array, got shape {xyz.shape}")
    if not np.isfinite(xyz).all():
        raise ValueError("xyz contains NaN or inf")
    return xyz


def render_top_view(path: str, xyz: np.ndarray, instances: Sequence[Mapping],
                    class_names: Optional[Sequence[str]] = None, title: str = "",
                    size_inches: Tuple[float, float] = (10.0, 7.0), dpi: int = 120) -> None:
    """Write a PNG of the cloud seen from above (+z), instances coloured, with a legend.

    Points are drawn from low to high z so that tops of objects cover the floor beneath them.

    Args:
        xyz: float [N, 3] coordinates (metres).
        instances: ``{"mask": bool [N] or "indices": int [M], "label_id": 1-based class, "score"}``.
        class_names: instance class names indexed by ``label_id - 1`` (else ``class_<id>``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    xyz = _check_xyz(xyz)
    insts = _masks(instances, xyz.shape[0])
    owner = point_instance_index(xyz.shape[0], insts)
    palette = instance_palette(len(insts)).astype(np.float64) / 255.0
    colors = np.tile(np.asarray(BACKGROUND_RGB, np.float64) / 255.0, (xyz.shape[0], 1))
    colors[owner >= 0] = palette[owner[owner >= 0]]
    order = np.argsort(xyz[:, 2], kind="stable")

    fig, ax = plt.subplots(figsize=size_inches, dpi=dpi)
    try:
        # marker area shrinks with the point count so that dense and sparse clouds both read well
        marker = float(np.clip(60000.0 / xyz.shape[0], 0.5, 8.0))
        ax.scatter(xyz[order, 0], xyz[order, 1], c=colors[order], s=marker, linewidths=0, rasterized=True)
        ax.set_aspect("equal")
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
        ax.set_title(title or f"{len(insts)} instances")
        shown = [k for k in range(len(insts)) if (owner == k).any()]
        handles = [Patch(color=palette[k], label=_label(insts[k], class_names)) for k in shown[:MAX_LEGEND_ENTRIES]]
        if len(shown) > MAX_LEGEND_ENTRIES:
            handles.append(Patch(color="white", label=f"+ {len(shown) - MAX_LEGEND_ENTRIES} more"))
        if len(shown) < len(insts):
            handles.append(Patch(color="white", label=f"({len(insts) - len(shown)} covered by higher scores)"))
        if handles:
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                fig.savefig(f, format="png")
    finally:
        plt.close(fig)


def write_html_viewer(path: str, xyz: np.ndarray, rgb: Optional[np.ndarray], instances: Sequence[Mapping],
                      class_names: Optional[Sequence[str]] = None, title: str = "",
                      plotly_js: str = "directory") -> None:
    """Write an interactive 3D viewer (rotate, zoom, click legend entries to hide instances).

    One trace per instance (named by class and score), one for the remaining points in their own
    colour (``rgb`` uint8 [N, 3]) or grey. ``plotly_js="directory"`` writes ``plotly.min.js`` once
    next to the HTML and references it (several viewers in one folder share it); ``"inline"``
    embeds it (one self-contained file, ~4.8 MB more). Both open from disk without a network.
    """
    import plotly.graph_objects as go

    if plotly_js not in ("directory", "inline"):
        raise ValueError(f"plotly_js must be 'directory' or 'inline', got {plotly_js!r}")
    xyz = _check_xyz(xyz)
    insts = _masks(instances, xyz.shape[0])
    owner = point_instance_index(xyz.shape[0], insts)
    palette = instance_palette(len(insts))

    def trace(sel: np.ndarray, color, name: str):
        return go.Scatter3d(x=xyz[sel, 0], y=xyz[sel, 1], z=xyz[sel, 2], mode="markers", name=name,
                            marker=dict(size=2, color=color), hoverinfo="name")

    rest = owner < 0
    if rgb is not None:
        rgb = np.asarray(rgb)
        if rgb.shape != xyz.shape:
            raise ValueError(f"rgb must have shape {xyz.shape}, got {rgb.shape}")
        rest_color = [f"rgb({r},{g},{b})" for r, g, b in np.asarray(rgb[rest], dtype=np.int64)]
    else:
        rest_color = "rgb({},{},{})".format(*BACKGROUND_RGB)
    traces = [trace(rest, rest_color, "no instance")]
    for k, inst in enumerate(insts):
        sel = owner == k
        if sel.any():
            traces.append(trace(sel, "rgb({},{},{})".format(*palette[k]), _label(inst, class_names)))
    fig = go.Figure(traces)
    fig.update_layout(title=title, scene=dict(aspectmode="data"), legend=dict(itemsizing="constant"),
                      margin=dict(l=0, r=0, t=40, b=0))
    html = fig.to_html(include_plotlyjs="directory" if plotly_js == "directory" else True, full_html=True,
                       default_height="95vh")
    if plotly_js == "directory":
        js = os.path.join(os.path.dirname(os.path.abspath(path)), "plotly.min.js")
        if not os.path.isfile(js):
            from plotly.offline import get_plotlyjs

            with atomic_path(js) as tmp:
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(get_plotlyjs())
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(html)


def render_segmentation(out_dir: str, name: str, cloud, instances: Sequence, class_names: Optional[Sequence[str]],
                        title: str) -> None:
    """``<out_dir>/<name>_top.png`` and ``<out_dir>/<name>_viewer.html`` of a segmented cloud.

    Args:
        cloud: a :class:`~sphmask.data.PointCloud` (its colours are shown in the viewer if it has any).
        instances: :class:`~sphmask.engine.segment.Instance` objects (``indices``, ``label_id``, ``score``).
    """
    shown = [{"indices": i.indices, "label_id": i.label_id, "score": i.score} for i in instances]
    render_top_view(os.path.join(out_dir, f"{name}_top.png"), cloud.xyz, shown, class_names, title=title)
    rgb = rgb_uint8(cloud.rgb) if cloud.has_color else None
    write_html_viewer(os.path.join(out_dir, f"{name}_viewer.html"), cloud.xyz, rgb, shown, class_names, title=title)
