"""Datasets: raw formats in (ScanNetV2, ScanNet200, S3DIS, STPLS3D, your own scans, synthetic rooms),
training batches out. See docs/data.md."""
from sphmask.data.classes import DATASETS, S3DIS, SCANNET200, SCANNETV2, STPLS3D, DatasetClasses
from sphmask.data.dataset import (
    DATASET_TYPES, S3DISDataset, ScanNet200Dataset, ScanNetV2Dataset, SceneDataset, STPLS3DDataset, build_dataloader,
    build_dataset, collate,
)
from sphmask.data.pointcloud import PointCloud, PointCloudDataset, load_point_cloud
from sphmask.data.prepare import prepare_dataset
from sphmask.data.synthetic import generate_scene, make_synthetic_dataset
from sphmask.data.transforms import VoxelConfig

__all__ = [
    "DATASETS", "DATASET_TYPES", "DatasetClasses", "PointCloud", "PointCloudDataset", "S3DIS", "S3DISDataset",
    "SCANNET200", "SCANNETV2", "STPLS3D", "STPLS3DDataset", "ScanNet200Dataset", "ScanNetV2Dataset", "SceneDataset",
    "VoxelConfig", "build_dataloader", "build_dataset", "collate", "generate_scene", "load_point_cloud",
    "make_synthetic_dataset", "prepare_dataset",
]
