"""Loading and saving model checkpoints (docs/checkpoints.md).

Formats read:

* official Spherical Mask / ISBNet: ``{"net": state_dict, "epoch": int, "optimizer"?: ...}``;
* sphmask: the official layout plus ``meta``: ``{"net": state_dict, "epoch", "optimizer"?,
  "meta": {"format": "sphmask", "version": 1, "config"?}}`` (training adds scheduler, scaler and
  random-generator states for exact resumption, see sphmask/engine/trainer.py), so official tools
  read our files too;
* a bare state dict (every value a tensor).

Files are read with ``torch.load(..., weights_only=True)`` (no code execution). Keys starting with
``criterion.`` (the official model registers its criterion as a submodule) are dropped, as is a
``module.`` prefix on every key (DistributedDataParallel). Loading never silently drops a tensor:

* ``mode="full"`` with ``strict=True`` (default, for evaluation): one :class:`CheckpointError`
  lists every missing, unexpected and shape-mismatched key; ``strict=False`` loads what matches
  and reports the rest in the returned :class:`LoadReport`.
* ``mode="backbone"``: loads exactly the backbone and the point-wise heads (an ISBNet
  ``isbnet_pretrain.pth``-style file); all of them must be present with the right shapes, and the
  report lists every other key of the file as skipped.

Weights holding NaN or inf are refused (:func:`check_finite`), in every mode.

:func:`load_segmentation_model` builds the model a checkpoint was trained as (its stored config or
a given one) and returns it with the test settings of that config, for segmenting raw clouds.
"""
import dataclasses
import os
import warnings
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from sphmask.errors import SphmaskError

if TYPE_CHECKING:
    from sphmask.data.transforms import VoxelConfig

FORMAT = "sphmask"
VERSION = 1


class CheckpointError(SphmaskError, RuntimeError):
    """A checkpoint that cannot be read or does not fit the model; the message lists every problem."""


@dataclasses.dataclass
class LoadReport:
    """What :func:`load_checkpoint` did.

    Attributes:
        loaded: keys copied into the model.
        missing: model keys the file lacks (left at their current values).
        unexpected: file keys the model does not have.
        mismatched: ``(key, file shape, model shape)`` of keys with different shapes (not loaded).
        skipped: file keys deliberately not loaded (``mode="backbone"``: everything else).
        dropped: ``criterion.*`` keys removed before matching.
        epoch: the file's epoch, if any.
    """

    loaded: List[str]
    missing: List[str]
    unexpected: List[str]
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]]
    skipped: List[str]
    dropped: List[str]
    epoch: Optional[int]

    def summary(self) -> str:
        """One line per category that is not empty."""
        parts = [f"loaded {len(self.loaded)} tensors" + (f" (epoch {self.epoch})" if self.epoch is not None else "")]
        for name in ("missing", "unexpected", "skipped", "dropped"):
            keys = getattr(self, name)
            if keys:
                parts.append(f"{name} ({len(keys)}): {', '.join(keys)}")
        if self.mismatched:
            parts.append(f"shape mismatch ({len(self.mismatched)}): " + ", ".join(
                f"{k} file {list(a)} vs model {list(b)}" for k, a, b in self.mismatched))
        return "\n".join(parts)


def read_checkpoint(source: Union[str, os.PathLike, Mapping[str, Any]], map_location="cpu") -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """Return ``(state_dict, meta)`` from a file path or an already loaded checkpoint object.

    ``meta`` holds ``epoch`` and ``optimizer`` when present. Raises :class:`CheckpointError` for
    unreadable files and unknown layouts.
    """
    if isinstance(source, (str, os.PathLike)):
        if not os.path.isfile(source):
            raise CheckpointError(f"checkpoint file not found: {source}")
        try:
            obj = torch.load(source, map_location=map_location, weights_only=True)
        except Exception as exc:  # torch raises several types (pickle, zip, unpickling policy)
            raise CheckpointError(f"cannot read checkpoint {source} with weights_only=True: {exc}") from None
    else:
        obj = source
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"a checkpoint must be a dict, got {type(obj).__name__}")
    if "net" in obj:
        state, meta = obj["net"], {k: obj.get(k) for k in ("epoch", "optimizer")}
    elif obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state, meta = obj, {"epoch": None, "optimizer": None}
    else:
        raise CheckpointError("unknown checkpoint layout: expected {'net': state_dict, ...} (official and sphmask) "
                              f"or a bare state dict; top-level keys: {sorted(obj)[:10]}")
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError("the checkpoint's state dict must map names to tensors")
    state = dict(state)
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state, meta


def check_finite(state: Mapping[str, torch.Tensor]) -> None:
    """Raise :class:`CheckpointError` naming the first tensor (in file order) with a NaN or inf.

    A diverged training run saves such weights, and they load silently: every score becomes NaN
    and segmentation returns no instances with no word.
    """
    for key, value in state.items():
        if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(f"checkpoint tensor {key} {list(value.shape)} holds {bad} NaN or inf values "
                                  "(a diverged training run?); refusing to load non-finite weights")


def load_checkpoint(model: nn.Module, source, *, strict: bool = True, mode: str = "full",
                    map_location="cpu") -> LoadReport:
    """Load a checkpoint into ``model`` (see the module docstring for formats and modes).

    Args:
        model: a :class:`~sphmask.models.SphericalMask` (any ``nn.Module`` for ``mode="full"``).
        source: path or loaded checkpoint object.
        strict: ``mode="full"`` only; raise unless keys and shapes match exactly.
        mode: ``"full"`` or ``"backbone"``.
    Returns:
        a :class:`LoadReport`.
    """
    if mode not in ("full", "backbone"):
        raise ValueError(f"mode must be 'full' or 'backbone', got {mode!r}")
    state, meta = read_checkpoint(source, map_location)
    dropped = sorted(k for k in state if k.startswith("criterion."))
    state = {k: v for k, v in state.items() if not k.startswith("criterion.")}
    target = model.state_dict()
    if mode == "backbone":
        from sphmask.models.spherical_mask import BACKBONE_MODULES

        wanted = {k for k in target if k.split(".", 1)[0] in BACKBONE_MODULES}
        skipped = sorted(k for k in state if k not in wanted)
        state = {k: v for k, v in state.items() if k in wanted}
        strict_keys = wanted
    else:
        skipped = []
        strict_keys = set(target)
    missing = sorted(strict_keys - set(state))
    unexpected = sorted(k for k in state if k not in target)
    mismatched = [(k, tuple(v.shape), tuple(target[k].shape)) for k, v in state.items()
                  if k in target and tuple(v.shape) != tuple(target[k].shape)]
    if (strict or mode == "backbone") and (missing or unexpected or mismatched):
        lines = [f"checkpoint does not fit the model ({'backbone' if mode == 'backbone' else 'strict'} loading):"]
        lines += [f"  missing: {k} {list(target[k].shape)}" for k in missing]
        lines += [f"  unexpected: {k} {list(state[k].shape)}" for k in unexpected]
        lines += [f"  shape mismatch: {k} file {list(a)} vs model {list(b)}" for k, a, b in mismatched]
        raise CheckpointError("\n".join(lines))
    if missing or unexpected or mismatched:
        warnings.warn(f"non-strict checkpoint load: {len(missing)} missing, {len(unexpected)} unexpected, "
                      f"{len(mismatched)} shape-mismatched keys (see the returned LoadReport)", stacklevel=2)
    bad = {k for k, _, _ in mismatched} | set(unexpected)
    to_load = {k: v for k, v in state.items() if k not in bad}
    check_finite(to_load)
    model.load_state_dict(to_load, strict=False)
    epoch = meta.get("epoch")
    return LoadReport(loaded=sorted(to_load), missing=missing, unexpected=unexpected, mismatched=mismatched,
                      skipped=skipped, dropped=dropped, epoch=None if epoch is None else int(epoch))


def checkpoint_dict(model: nn.Module, epoch: Optional[int] = None, optimizer: Optional[torch.optim.Optimizer] = None,
                    config: Optional[Mapping[str, Any]] = None, **extra: Any) -> Dict[str, Any]:
    """The sphmask checkpoint object: ``{"net", "epoch", "optimizer"?, "meta": {format, version,
    config?}, **extra}``; loadable with ``weights_only=True`` when ``extra`` holds only tensors,
    numbers, strings and containers of them."""
    from sphmask import __version__

    raw = model.module if hasattr(model, "module") else model  # unwrap DistributedDataParallel
    meta: Dict[str, Any] = {"format": FORMAT, "version": VERSION, "sphmask": __version__}
    if config is not None:
        meta["config"] = dict(config)
    obj: Dict[str, Any] = {"net": raw.state_dict(), "epoch": epoch, "meta": meta}
    if optimizer is not None:
        obj["optimizer"] = optimizer.state_dict()
    obj.update(extra)
    return obj


def save_checkpoint(path: Union[str, os.PathLike], model: nn.Module, epoch: Optional[int] = None,
                    optimizer: Optional[torch.optim.Optimizer] = None, config: Optional[Mapping[str, Any]] = None,
                    **extra: Any) -> None:
    """Write :func:`checkpoint_dict` to ``path`` atomically (temporary file + rename)."""
    from sphmask.io.atomic import save_pth

    save_pth(checkpoint_dict(model, epoch, optimizer, config, **extra), os.fspath(path))


def export_weights(src: Union[str, os.PathLike], dst: Union[str, os.PathLike]) -> Dict[str, Any]:
    """Write the inference part of a training checkpoint to ``dst`` (atomically): ``net``, ``epoch``
    and ``meta`` (with the config), without the optimizer, scheduler, scaler and random states
    (about three quarters of an AdamW checkpoint). Returns the written object.

    Raises:
        CheckpointError: ``src`` is unreadable or has no state dict.
    """
    from sphmask.io.atomic import save_pth

    if not os.path.isfile(src):
        raise CheckpointError(f"checkpoint file not found: {src}")
    try:
        obj = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types (pickle, zip, unpickling policy)
        raise CheckpointError(f"cannot read checkpoint {src} with weights_only=True: {exc}") from None
    state, info = read_checkpoint(obj)
    meta = obj.get("meta")
    out: Dict[str, Any] = {"net": state, "epoch": info.get("epoch")}
    if isinstance(meta, Mapping):
        out["meta"] = dict(meta)
    save_pth(out, os.fspath(dst))
    return out


# ----------------------------------------------------------------------------------------- inference set-up


@dataclasses.dataclass
class SegmentationSetup:
    """What :func:`load_segmentation_model` resolved: the model and the settings from its config.

    Attributes:
        model: the network in eval mode on ``device``.
        config: the config it was built from.
        config_source: ``"--config <path>"`` or ``"checkpoint meta"``.
        voxel: the test ``voxel_cfg`` (defaults when the config has no ``data`` section).
        test_rotation: the test transform's fixed rotation (on unless the config turns it off).
        instance_names, semantic_names: class names of the config's dataset type when they fit the
            model's class counts, else ``None``.
    """

    model: torch.nn.Module
    config: Dict[str, Any]
    config_source: str
    voxel: "VoxelConfig"
    test_rotation: bool
    instance_names: Optional[Tuple[str, ...]]
    semantic_names: Optional[Tuple[str, ...]]


def load_segmentation_model(ckpt: str, config: Optional[str] = None, overrides: Sequence[str] = (),
                            device: str = "cpu") -> SegmentationSetup:
    """Build the model and load a checkpoint strictly (:func:`sphmask.checkpoint.load_checkpoint`).

    The config is ``config`` when given, else the one sphmask training stores in the checkpoint
    (``meta.config``); official checkpoints carry none and need ``config``.

    Raises:
        CheckpointError: unreadable file, no config anywhere, or weights that do not fit the model.
        ConfigError: bad config file, key or override.
    """
    import copy

    from sphmask.config import ConfigError, apply_override, load_config
    from sphmask.data.dataset import DATASET_TYPES, make_voxel_config
    from sphmask.models import build_model
    from sphmask.models.build import config_keys

    if not os.path.isfile(ckpt):
        raise CheckpointError(f"checkpoint file not found: {ckpt}")
    with open(ckpt, "rb") as f:
        head = f.read(4)
    if head[:2] != b"PK" and head[:1] != b"\x80":  # torch.save writes a zip archive (or, legacy, a pickle)
        raise CheckpointError(f"{ckpt} is not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle)")
    try:
        obj = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types (pickle, zip, unpickling policy)
        raise CheckpointError(f"cannot read checkpoint {ckpt} with weights_only=True: {exc}") from None
    if config is not None:
        cfg, source = load_config(config, schema=config_keys), f"--config {config}"
    else:
        meta = obj.get("meta") if isinstance(obj, Mapping) else None
        cfg = meta.get("config") if isinstance(meta, Mapping) else None
        if not isinstance(cfg, Mapping) or "model" not in cfg:
            raise CheckpointError(f"{ckpt} does not record the config it was trained with (official checkpoints "
                                  "do not); pass --config, e.g. configs/scannetv2/spherical_mask.yaml")
        cfg, source = copy.deepcopy(dict(cfg)), "checkpoint meta"
    for item in overrides:
        apply_override(cfg, item, config_keys)
    # build_model checks the model section's keys, types and ranges; the data sections only name
    # the class table here, so a model trained on its own classes still segments (without names).
    model = build_model(cfg)
    if model.in_channels not in (0, 3):
        raise ConfigError(f"the model takes {model.in_channels} feature channels per point; segmenting raw clouds "
                          "provides rgb (in_channels: 3) or nothing (in_channels: 0)")
    load_checkpoint(model, obj, strict=True)
    model.to(device).eval()
    data = cfg.get("data") or {}
    section = data.get("test") or data.get("train") or {}
    voxel = make_voxel_config(section.get("voxel_cfg"), "data.test.voxel_cfg")
    names = None
    kind = DATASET_TYPES.get(section.get("type"))
    if kind is not None and kind.classes.semantic_classes == model.semantic_classes \
            and kind.classes.instance_classes == model.instance_classes:
        names = kind.classes
    return SegmentationSetup(model=model, config=cfg, config_source=source, voxel=voxel,
                             test_rotation=bool(section.get("test_rotation", True)),
                             instance_names=None if names is None else tuple(names.instance_names),
                             semantic_names=None if names is None else tuple(names.semantic_names))
