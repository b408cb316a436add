"""Pictures of segmented scenes: a PNG top view (:mod:`~sphmask.viz.png`, matplotlib) and an
interactive HTML viewer (:mod:`~sphmask.viz.viewer`, three.js bundled into the page; docs/viewer.md).

Both take the cloud's coordinates and a list of instances (``{"mask" or "indices", "label_id",
"score"}``); instance ``k`` has colour ``k`` of :func:`sphmask.engine.export.instance_palette`, the
colour the instance PLY uses, and points of no shown instance are grey. Where masks overlap the
higher score wins. Files are written atomically. matplotlib is imported on first use, so
``import sphmask`` does not need it.
"""
import os
from typing import Optional, Sequence

from sphmask.viz._common import rgb_uint8
from sphmask.viz.png import render_top_view
from sphmask.viz.viewer import write_viewer

__all__ = ["render_segmentation", "render_top_view", "rgb_uint8", "write_viewer"]


def render_segmentation(out_dir: str, name: str, cloud, instances: Sequence, class_names: Optional[Sequence[str]],
                        title: str, *, superpoints=None, semantic=None,
                        semantic_names: Optional[Sequence[str]] = None, score_threshold: float = 0.0) -> None:
    """``<out_dir>/<name>_top.png`` and ``<out_dir>/<name>_viewer.html`` of a segmented cloud.

    Args:
        cloud: a :class:`~sphmask.data.PointCloud` (its colours are shown in the viewer if it has any).
        instances: :class:`~sphmask.engine.segment.Instance` objects (``indices``, ``label_id``,
            ``score``), in the order of the scene's other outputs (instance ``k`` is the same object
            in the NPZ, the PLY, the summary JSON and the viewer).
        superpoints: int [N] superpoint id per point, the ones the model ran with; default
            ``cloud.superpoints``. Without either the viewer has no superpoint level.
        semantic: int [N] semantic class per point (``SceneSegmentation.semantic``), with
            ``semantic_names`` its names; shown at the viewer's class level.
        score_threshold: where the viewer's score slider starts.
    """
    shown = [{"indices": i.indices, "label_id": i.label_id, "score": i.score} for i in instances]
    render_top_view(os.path.join(out_dir, f"{name}_top.png"), cloud.xyz, shown, class_names, title=title)
    source = "as segmented" if superpoints is not None else "of the input cloud"
    if superpoints is None:
        superpoints = cloud.superpoints
    write_viewer(os.path.join(out_dir, f"{name}_viewer.html"), cloud.xyz, shown,
                 rgb=rgb_uint8(cloud.rgb) if cloud.has_color else None, superpoints=superpoints, semantic=semantic,
                 class_names=class_names, semantic_names=semantic_names, title=title, name=name,
                 score_threshold=score_threshold, superpoint_source=source if superpoints is not None else "")
