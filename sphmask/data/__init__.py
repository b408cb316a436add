"""Datasets: raw formats in (ScanNetV2, ScanNet200, S3DIS, STPLS3D, your own scans, synthetic rooms),
training batches out. See docs/data.md."""
import importlib

from sphmask.data.classes import DATASETS, S3DIS, SCANNET200, SCANNETV2, STPLS3D, DatasetClasses

# The rest is imported on first access: it loads torch and scipy, while the class tables above are
# also what the torch-free sphmask.evaluation reads.
_LAZY = {
    "DATASET_TYPES": "dataset", "S3DISDataset": "dataset", "ScanNet200Dataset": "dataset",
    "ScanNetV2Dataset": "dataset", "SceneDataset": "dataset", "STPLS3DDataset": "dataset",
    "build_dataloader": "dataset", "build_dataset": "dataset", "collate": "dataset",
    "PointCloud": "pointcloud", "PointCloudDataset": "pointcloud", "load_point_cloud": "pointcloud",
    "prepare_dataset": "prepare",
    "generate_scene": "synthetic", "make_synthetic_dataset": "synthetic",
    "VoxelConfig": "transforms",
}

__all__ = [
    "DATASETS", "DATASET_TYPES", "DatasetClasses", "PointCloud", "PointCloudDataset", "S3DIS", "S3DISDataset",
    "SCANNET200", "SCANNETV2", "STPLS3D", "STPLS3DDataset", "ScanNet200Dataset", "ScanNetV2Dataset", "SceneDataset",
    "VoxelConfig", "build_dataloader", "build_dataset", "collate", "generate_scene", "load_point_cloud",
    "make_synthetic_dataset", "prepare_dataset",
]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"sphmask.data.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
