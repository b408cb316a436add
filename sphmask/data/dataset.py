"""Datasets over preprocessed scenes, the batch collate, and the dataloader built from a config.

A sample (one scene after its transform) is a dict::

    scan_id        str
    coord          int64[n, 3]    voxel coordinates (>= 0), truncated from the transformed xyz
    coord_float    float32[n, 3]  metric coordinates after rotation/flip/jitter (or the test rotation)
    feat           float32[n, 3]  rgb in [-1, 1] (+ one random colour shift per scene in training)
    superpoints    int64[n]       0..S-1
    semantic       int64[n] | None   train ids, -100 ignored (None for unlabelled scenes)
    instance       int64[n] | None   0..K-1, -100 none
    num_instances  int

and :func:`collate` turns a list of samples into the batch the model consumes (the batch contract
in the project brief). Augmentation randomness comes from ``numpy.random.default_rng([seed, epoch,
index])``, so a sample is the same whatever the number of workers; call :meth:`SceneDataset.set_epoch`
each epoch (before iterating; the loader does not use persistent workers).
"""
import functools
import glob
import inspect
import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from sphmask.config import ConfigError, get_section, instantiate
from sphmask.data.classes import IGNORE_LABEL, S3DIS, SCANNET200, SCANNETV2, STPLS3D
from sphmask.data.instance_sampling import InstanceSampler, InstanceSampling
from sphmask.data.prepared import SCENE_SUFFIX, load_scene_file, load_superpoints
from sphmask.data.transforms import VoxelConfig, compact_instance_ids, transform_test, transform_train
from sphmask.io.errors import DataFormatError

log = logging.getLogger("sphmask.data")


def make_voxel_config(voxel_cfg: Union[None, Mapping[str, Any], VoxelConfig], name: str = "voxel_cfg") -> VoxelConfig:
    """A :class:`VoxelConfig` from a config mapping (unknown keys are an error)."""
    if voxel_cfg is None:
        return VoxelConfig()
    if isinstance(voxel_cfg, VoxelConfig):
        return voxel_cfg
    cfg = dict(voxel_cfg)
    if "spatial_shape" in cfg:
        cfg["spatial_shape"] = tuple(cfg["spatial_shape"])
    return instantiate(VoxelConfig, cfg, name)


def make_instance_sampling(cfg: Union[None, Mapping[str, Any], InstanceSampling],
                           name: str = "instance_sampling") -> Optional[InstanceSampling]:
    """An :class:`InstanceSampling` from a config mapping (``None``: the augmentation is off)."""
    if cfg is None or isinstance(cfg, InstanceSampling):
        return cfg
    return instantiate(InstanceSampling, dict(cfg), name)


def check_instance_sampling(cls, section: Mapping[str, Any], name: str) -> Optional[InstanceSampling]:
    """The checked ``instance_sampling`` of a data section for dataset class ``cls`` (``name``: the
    section's dotted path); its classes must be instance classes of the dataset's class table."""
    settings = make_instance_sampling(section.get("instance_sampling"), f"{name}.instance_sampling")
    if settings is not None:
        try:
            settings.class_ids(cls.classes, int(section.get("semantic_classes") or cls.classes.semantic_classes))
        except ValueError as exc:
            raise ConfigError(f"{name}.instance_sampling.classes: {exc}") from exc
    return settings


class SceneDataset(Dataset):
    """Preprocessed scenes ``<data_root>/<prefix>/*<suffix>`` with the official transforms.

    Args:
        data_root: output folder of ``tools/prepare_data.py``.
        prefix: split folder(s): a name (``"train"``), ``"trainval"`` (train + val) or a list of names.
        suffix: scene file suffix.
        training: training transform (augmentation, crop, colour noise) instead of the test transform.
        repeat: each scene appears ``repeat`` times per epoch (consecutively, as officially).
        voxel_cfg: :class:`VoxelConfig` keys.
        test_rotation: apply the official fixed test-time rotation Rz(0.35 pi) (on by default;
            needed to reproduce the official checkpoint's numbers).
        superpoints: read ``<data_root>/superpoints/<scan>.pth``; ``False`` makes every point its own
            superpoint.
        jitter, flip, rotate, elastic, color_noise: training augmentation (official values by default;
            ``elastic`` is a list of ``[granularity, magnitude]`` steps in voxel units).
        seed: augmentation seed.
        semantic_classes: number of semantic classes in the files (labels must be ``0..C-1`` or
            -100); default: the dataset type's class list. Set it for datasets of your own.
        instance_sampling: :class:`~sphmask.data.instance_sampling.InstanceSampling` keys; pastes
            instances of rare classes from this dataset's scenes into training samples (off by
            default; training only).
    """

    crop_step = 32
    classes = SCANNETV2

    def __init__(self, data_root: str, prefix: Union[str, Sequence[str]] = "train", suffix: str = SCENE_SUFFIX,
                 training: bool = True, repeat: int = 1,
                 voxel_cfg: Union[None, Mapping[str, Any], VoxelConfig] = None,
                 test_rotation: bool = True, superpoints: bool = True, jitter: float = 0.1, flip: bool = True,
                 rotate: bool = True, elastic: Sequence[Sequence[float]] = ((10, 60), (30, 180)),
                 color_noise: float = 0.1, seed: int = 0, semantic_classes: Optional[int] = None,
                 instance_sampling: Union[None, Mapping[str, Any], InstanceSampling] = None):
        self.data_root, self.prefix, self.suffix = data_root, prefix, suffix
        self.training, self.repeat = training, int(repeat)
        self.voxel = make_voxel_config(voxel_cfg)
        self.test_rotation, self.use_superpoints = bool(test_rotation), bool(superpoints)
        self.jitter, self.flip, self.rotate = float(jitter), bool(flip), bool(rotate)
        self.elastic = tuple(tuple(float(v) for v in e) for e in elastic)
        self.color_noise, self.seed, self.epoch = float(color_noise), int(seed), 0
        self.semantic_classes = int(semantic_classes or self.classes.semantic_classes)
        self.filenames = self.get_filenames()
        self.instance_sampler = self._make_sampler(make_instance_sampling(instance_sampling))

    def _make_sampler(self, settings: Optional[InstanceSampling]) -> Optional[InstanceSampler]:
        if settings is None or not self.training:
            return None
        try:
            class_ids = settings.class_ids(self.classes, self.semantic_classes)
        except ValueError as exc:
            raise ConfigError(f"instance_sampling.classes: {exc}") from exc
        return InstanceSampler(settings, self.filenames, self.load, class_ids)

    def paste_instances(self, xyz, rgb, sem, inst, spp, index: int):
        """Instance-sampling augmentation, before any crop; its own stream ``[seed, epoch, index, 1]``
        leaves every other augmentation draw as it is without it."""
        if self.instance_sampler is None:
            return xyz, rgb, sem, inst, spp
        rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        return self.instance_sampler(self.filenames[index], xyz, rgb, sem, inst, spp, rng)

    # ---------------------------------------------------------------------------------- files
    def _prefixes(self) -> List[str]:
        if isinstance(self.prefix, str):
            return ["train", "val"] if self.prefix == "trainval" else [self.prefix]
        return list(self.prefix)

    def _pattern(self, prefix: str) -> str:
        return os.path.join(self.data_root, prefix, "*" + self.suffix)

    def get_filenames(self) -> List[str]:
        files = []
        for p in self._prefixes():
            found = glob.glob(self._pattern(p))
            if not found:
                raise DataFormatError(self._pattern(p), "no preprocessed scene matches (run tools/prepare_data.py, "
                                                        "or check data_root/prefix/suffix in the config)")
            files += found
        return sorted(files * self.repeat)

    def scan_id(self, filename: str) -> str:
        return os.path.basename(filename)[: -len(self.suffix)]

    # ---------------------------------------------------------------------------------- loading
    def load(self, filename: str):
        """``(xyz, rgb, semantic | None, instance | None, superpoints)`` of one scene file."""
        xyz, rgb, sem, inst = load_scene_file(filename)
        if sem is not None:
            self._check_labels(filename, sem, inst)
        if self.use_superpoints:
            path = os.path.join(self.data_root, "superpoints", self.scan_id(filename) + ".pth")
            spp = load_superpoints(path, xyz.shape[0])
        else:
            spp = np.arange(xyz.shape[0], dtype=np.int64)
        return xyz, rgb, sem, inst, spp

    def _check_labels(self, filename: str, sem: np.ndarray, inst: np.ndarray) -> None:
        c = self.semantic_classes
        bad = (sem != IGNORE_LABEL) & ((sem < 0) | (sem >= c))
        if bad.any():
            raise DataFormatError(filename, f"semantic label {int(sem[bad][0])} is outside the class map of {c} "
                                            f"classes (0..{c - 1}, or {IGNORE_LABEL} for ignored)")
        bad = (inst != IGNORE_LABEL) & (inst < 0)
        if bad.any():
            raise DataFormatError(filename, f"instance id {int(inst[bad][0])} is negative (use {IGNORE_LABEL} for none)")

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of ``epoch`` (samples are reproducible per (seed, epoch, index))."""
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def __len__(self) -> int:
        return len(self.filenames)

    def __getitem__(self, index: int) -> Optional[Dict[str, Any]]:
        filename = self.filenames[index]
        xyz, rgb, sem, inst, spp = self.paste_instances(*self.load(filename), index)
        rng = self.rng(index)
        return self.transform(self.scan_id(filename), xyz, rgb, sem, inst, spp, rng)

    def transform(self, scan_id, xyz, rgb, sem, inst, spp, rng) -> Optional[Dict[str, Any]]:
        """Apply the training or test transform and build the sample dict (``None`` if cropping failed)."""
        if self.training:
            out = transform_train(xyz, rng, self.voxel, jitter=self.jitter, flip=self.flip, rotate=self.rotate,
                                  elastic_params=self.elastic, crop_step=self.crop_step)
            if out is None:
                return None
            xyz_voxel, xyz_middle, keep = out
            rgb, spp = rgb[keep], spp[keep]
            if sem is not None:
                sem, inst = sem[keep], inst[keep]
        else:
            xyz_voxel, xyz_middle = transform_test(xyz, self.voxel, self.test_rotation)
        feat = rgb.astype(np.float32)
        if self.training and self.color_noise:
            feat = feat + (rng.standard_normal(3) * self.color_noise).astype(np.float32)
        num_instances = 0
        if inst is not None:
            inst = compact_instance_ids(inst)
            num_instances = int(inst.max(initial=-1)) + 1
        return {
            "scan_id": scan_id,
            "coord": torch.from_numpy(xyz_voxel.astype(np.int64)),
            "coord_float": torch.from_numpy(xyz_middle.astype(np.float32)),
            "feat": torch.from_numpy(np.ascontiguousarray(feat)),
            "superpoints": torch.from_numpy(np.unique(spp, return_inverse=True)[1].reshape(-1).astype(np.int64)),
            "semantic": None if sem is None else torch.from_numpy(sem.astype(np.int64)),
            "instance": None if inst is None else torch.from_numpy(inst.astype(np.int64)),
            "num_instances": num_instances,
        }


class ScanNetV2Dataset(SceneDataset):
    """ScanNetV2 (20 classes): the base behaviour."""


class ScanNet200Dataset(SceneDataset):
    """ScanNet200: points of wall/floor (train ids 0, 1) carry no instance, as in ISBNet's loader."""

    classes = SCANNET200

    def load(self, filename):
        xyz, rgb, sem, inst, spp = super().load(filename)
        if sem is not None:
            inst = inst.copy()
            inst[(sem >= 0) & (sem <= 1)] = IGNORE_LABEL
        return xyz, rgb, sem, inst, spp


class S3DISDataset(SceneDataset):
    """S3DIS rooms ``<data_root>/preprocess/<Area>_<room>_inst_nostuff.pth``; ``prefix`` lists areas.

    As in ISBNet: training keeps a random ``subsample`` fraction of the points (0.25), crops step by
    64 voxels; at test, rooms above 5e6 points keep every 4th point.
    """

    crop_step = 64
    classes = S3DIS

    def __init__(self, *args, subsample: float = 0.25, **kwargs):
        self.subsample = float(subsample)
        super().__init__(*args, **kwargs)

    def _prefixes(self):
        return [self.prefix] if isinstance(self.prefix, str) else list(self.prefix)

    def _pattern(self, prefix):
        return os.path.join(self.data_root, "preprocess", prefix + "*" + self.suffix)

    def __getitem__(self, index):
        filename = self.filenames[index]
        xyz, rgb, sem, inst, spp = self.paste_instances(*self.load(filename), index)
        rng = self.rng(index)
        n = xyz.shape[0]
        keep = None
        if self.training and self.subsample < 1:
            keep = np.sort(rng.choice(n, int(n * self.subsample), replace=False))
        elif not self.training and n > 5_000_000:
            keep = np.arange(0, n, 4)
        if keep is not None:
            xyz, rgb, spp = xyz[keep], rgb[keep], spp[keep]
            if sem is not None:
                sem, inst = sem[keep], compact_instance_ids(inst[keep])
        return self.transform(self.scan_id(filename), xyz, rgb, sem, inst, spp, rng)


class STPLS3DDataset(SceneDataset):
    """STPLS3D blocks: no superpoint files, every point is its own superpoint (as in ISBNet)."""

    classes = STPLS3D

    def __init__(self, *args, superpoints: bool = False, **kwargs):
        super().__init__(*args, superpoints=superpoints, **kwargs)


DATASET_TYPES = {
    "scannetv2": ScanNetV2Dataset,
    "synthetic": ScanNetV2Dataset,
    "scannet200": ScanNet200Dataset,
    "s3dis": S3DISDataset,
    "stpls3d": STPLS3DDataset,
}


# ---------------------------------------------------------------------------------- batches


def collate(samples: Sequence[Optional[Dict[str, Any]]], min_spatial_shape: int = 128) -> Dict[str, Any]:
    """Concatenate samples into one batch (scene-major) and voxelize it.

    Returns the batch contract: ``scan_ids`` list[str]; ``coords_float`` float32[N,3]; ``feats``
    float32[N,F]; ``point_offsets`` int64[B+1]; ``voxel_coords`` int32[M,4] (batch, x, y, z) and
    ``point2voxel`` int64[N] from :func:`sphmask.ops.voxelize` (voxels numbered by first appearance);
    ``spatial_shape`` list of 3 ints (per-axis max + 1, at least ``min_spatial_shape``);
    ``batch_size``; ``superpoints`` int64[N] unique over the batch and increasing with the scene;
    and, when the scenes are labelled, ``semantic_labels`` int64[N] and ``instance_labels`` int64[N]
    (instance ids unique over the batch, -100 none). ``None`` samples (failed crops) are skipped.
    """
    from sphmask.ops import voxelize

    kept = [s for s in samples if s is not None]
    if not kept:
        raise ValueError(f"every scene of the batch ({len(samples)}) was dropped: no training crop reached "
                         "voxel_cfg.min_npoint points; lower min_npoint or check the scenes")
    if len(kept) < len(samples):
        log.info("batch truncated from %d to %d scenes (crops below min_npoint)", len(samples), len(kept))
    labelled = [s["semantic"] is not None for s in kept]
    if any(labelled) and not all(labelled):
        raise ValueError("cannot batch labelled and unlabelled scenes together: "
                         f"{[s['scan_id'] for s in kept if s['semantic'] is None]} have no labels")
    coords, spps, insts = [], [], []
    offsets = [0]
    spp_bias = inst_bias = 0
    for b, s in enumerate(kept):
        n = s["coord"].shape[0]
        coords.append(torch.cat([torch.full((n, 1), b, dtype=torch.int64), s["coord"].long()], 1))
        spps.append(s["superpoints"] + spp_bias)
        spp_bias += int(s["superpoints"].max()) + 1
        if all(labelled):
            inst = s["instance"].clone()
            inst[inst != IGNORE_LABEL] += inst_bias
            inst_bias += s["num_instances"]
            insts.append(inst)
        offsets.append(offsets[-1] + n)
    coords = torch.cat(coords, 0)
    voxel_coords, point2voxel = voxelize(coords)
    spatial = (coords[:, 1:].max(0).values + 1).clamp(min=min_spatial_shape)
    batch = {
        "scan_ids": [s["scan_id"] for s in kept],
        "coords_float": torch.cat([s["coord_float"] for s in kept], 0).float(),
        "feats": torch.cat([s["feat"] for s in kept], 0).float(),
        "point_offsets": torch.tensor(offsets, dtype=torch.int64),
        "voxel_coords": voxel_coords.to(torch.int32),
        "point2voxel": point2voxel.to(torch.int64),
        "spatial_shape": [int(v) for v in spatial.tolist()],
        "batch_size": len(kept),
        "superpoints": torch.cat(spps, 0).long(),
    }
    if all(labelled):
        batch["semantic_labels"] = torch.cat([s["semantic"] for s in kept], 0).long()
        batch["instance_labels"] = torch.cat(insts, 0).long()
    return batch


_LOADER_KEYS = {"batch_size", "num_workers", "pin_memory"}


def _accepted_keys(cls) -> set:
    """Named constructor parameters of ``cls`` and its bases (subclasses forward ``**kwargs``)."""
    keys = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object or klass is Dataset:
            continue
        for name, p in inspect.signature(init).parameters.items():
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                keys.add(name)
    return keys


def build_dataset(cfg: Mapping[str, Any], split: str = "train", **overrides) -> SceneDataset:
    """The dataset of ``cfg["data"][split]``; its ``type`` picks the class (:data:`DATASET_TYPES`)."""
    section = get_section(cfg, f"data.{split}")
    kind = section.pop("type", None)
    if kind not in DATASET_TYPES:
        raise ConfigError(f"data.{split}.type must be one of {sorted(DATASET_TYPES)}, got {kind!r}")
    section.update(overrides)
    if "voxel_cfg" in section:
        section["voxel_cfg"] = make_voxel_config(section["voxel_cfg"], f"data.{split}.voxel_cfg")
    cls = DATASET_TYPES[kind]
    if section.get("instance_sampling") is not None:
        section["instance_sampling"] = check_instance_sampling(cls, section, f"data.{split}")
    valid = _accepted_keys(cls)
    unknown = sorted(set(section) - valid)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in config section 'data.{split}'; valid keys: {sorted(valid)}")
    return cls(**section)


def build_dataloader(cfg: Mapping[str, Any], split: str = "train", seed: Optional[int] = None, rank: int = 0,
                     world_size: int = 1) -> DataLoader:
    """DataLoader for ``split`` from ``cfg["data"][split]`` and ``cfg["dataloader"][split]``.

    Training shuffles and drops the last incomplete batch; test keeps order. The shuffle order is a
    function of (seed, epoch) only (a ``DistributedSampler`` seeded with the dataset seed; call
    ``loader.sampler.set_epoch`` and ``loader.dataset.set_epoch`` each epoch), so a resumed run
    sees the same batches as an uninterrupted one, and with ``world_size > 1`` each ``rank`` gets
    its own shard. ``seed`` overrides ``data.<split>.seed``.
    """
    dataset = build_dataset(cfg, split, **({"seed": seed} if seed is not None else {}))
    loader_cfg = get_section(cfg, f"dataloader.{split}")
    unknown = sorted(set(loader_cfg) - _LOADER_KEYS)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in config section 'dataloader.{split}'; "
                          f"valid keys: {sorted(_LOADER_KEYS)}")
    sampler = None
    if dataset.training or world_size > 1:
        sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=dataset.training,
                                     seed=dataset.seed, drop_last=dataset.training)
    return DataLoader(
        dataset,
        batch_size=int(loader_cfg.get("batch_size", 1)),
        num_workers=int(loader_cfg.get("num_workers", 0)),
        pin_memory=bool(loader_cfg.get("pin_memory", False)),
        sampler=sampler,
        drop_last=dataset.training,
        collate_fn=functools.partial(collate, min_spatial_shape=dataset.voxel.spatial_shape[0]),
    )
