"""Instance segmentation of your own point clouds: no labels, no preprocessing (docs/segment.md).

:func:`segment_scene` runs a model on a :class:`~sphmask.data.PointCloud` the way the test
pipeline runs it on a ScanNet scene (coordinates centred, official test rotation, rgb in [-1, 1],
superpoints), and returns instances as sorted point indices into the cloud's own point order.

Clouds with more points than the model should see at once are processed in overlapping blocks
(vertical columns over an xy grid, :func:`plan_blocks`); the instances of all blocks are mapped
back to the whole cloud and merged (:func:`merge_block_instances`): two instances of the same
class from two blocks are one object when their masks agree on the points both blocks saw (IoU
restricted to the shared points >= ``merge_iou``). Merged masks are then made superpoint-consistent
(:func:`superpoint_cleanup`). Everything is deterministic: same inputs, same outputs.

:func:`write_segmentation` writes ``<name>_instances.npz``, ``<name>_instances.ply`` and
``<name>_summary.json``, each atomically; :func:`read_instances` reads the NPZ back.

:class:`Segmenter` (also ``sphmask.Segmenter``) is the Python API over all of it: arrays or files
in, :class:`SegmentationResult` out.

The parts: ``blocks`` (planning), ``merge`` (across blocks), ``run`` (superpoints, model passes),
``instances`` (result types), ``io`` (files, output sets), ``api`` (the Segmenter); model and
config loading is :func:`sphmask.checkpoint.load_segmentation_model`.
"""
from sphmask.checkpoint import SegmentationSetup, load_segmentation_model
from sphmask.engine.segment.api import SegmentationResult, Segmenter, SegmentInputError
from sphmask.engine.segment.blocks import MIN_CELL, Block, CropSettings, block_owners, plan_blocks
from sphmask.engine.segment.instances import Instance, InstanceView, SceneSegmentation, class_name, sort_instances
from sphmask.engine.segment.io import output_paths, output_set, read_instances, write_segmentation
from sphmask.engine.segment.merge import merge_block_instances, superpoint_cleanup
from sphmask.engine.segment.run import PLAUSIBLE_EXTENT, extent_warning, run_block, segment_scene

__all__ = [
    "MIN_CELL", "PLAUSIBLE_EXTENT", "Block", "CropSettings", "Instance", "InstanceView", "SceneSegmentation",
    "SegmentInputError", "SegmentationResult", "SegmentationSetup", "Segmenter", "block_owners", "class_name",
    "extent_warning", "load_segmentation_model", "merge_block_instances", "output_paths", "output_set", "plan_blocks", "read_instances", "run_block", "segment_scene", "sort_instances",
    "superpoint_cleanup", "write_segmentation",
]
