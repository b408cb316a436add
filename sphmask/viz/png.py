"""PNG top view of a segmented scene (matplotlib, imported on first use)."""
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np

from sphmask.engine.export import BACKGROUND_RGB, instance_palette, point_instance_index
from sphmask.io.atomic import atomic_path
from sphmask.viz._common import check_xyz, class_name, instance_masks

#: Instances listed in a PNG legend before the rest are summarised as "+ k more".
MAX_LEGEND_ENTRIES = 24


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

    xyz = check_xyz(xyz)
    insts = instance_masks(instances, xyz.shape[0])
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
        handles = [Patch(color=palette[k], label=f"{class_name(insts[k]['label_id'], class_names)} {insts[k]['score']:.2f}")
                   for k in shown[:MAX_LEGEND_ENTRIES]]
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
