"""``build_model`` and ``check_config``: a :class:`~sphmask.models.SphericalMask` from a YAML config,
and the checks every tool runs on a config before it does any work.

:func:`check_config` checks, with one :class:`~sphmask.config.ConfigError` naming the key(s):

* that there is a ``model`` section (no tool falls back to a default network);
* the type and range of every value, against the constructor or settings dataclass the section
  is passed to (``model``: :class:`SphericalMask` and its settings; ``train``:
  :class:`~sphmask.engine.trainer.TrainSettings`; ``data.<split>``: the dataset class of its
  ``type`` and ``voxel_cfg``; ``dataloader.<split>``; the top-level keys of :class:`RunSettings`);
* that the model fits the data: its semantic/instance class counts against the dataset's class
  table (sphmask/data/classes.py), ``model.voxel_scale`` against every ``data.*.voxel_cfg.scale``,
  and ``model.sem2ins_classes`` / ``model.inference.label_offset`` against the classes the
  dataset's evaluator scores (S3DIS scores ceiling and floor, predicted from semantics).

:func:`config_keys` is the schema :func:`sphmask.config.load_config` uses so that ``--set`` can set a
key the constructor accepts even when the file leaves it at its default.
"""
import dataclasses
from typing import Any, Dict, Iterable, List, Literal, Mapping, Optional, Sequence, Union

from sphmask.config import ConfigError, get_section, instantiate, load_config
from sphmask.config_schema import NonNegativeInt, PositiveInt, check_section, child_schema, schema_of, valid_keys
from sphmask.models.settings import InferenceSettings
from sphmask.models.spherical_mask import SphericalMask

#: Top-level sections and the class each is checked against (``data``/``dataloader`` are per split).
SECTIONS = ("model", "train", "data", "dataloader")


@dataclasses.dataclass
class RunSettings:
    """Top-level keys of a config besides its sections.

    Attributes:
        seed: seed of the run (``tools/train.py --seed`` overrides it).
        pretrain: checkpoint to start from (ignored when resuming).
        pretrain_mode: ``backbone`` loads the backbone and point-wise heads only (the official
            two-stage recipe), ``full`` every weight (strictly).
    """

    seed: NonNegativeInt = 0
    pretrain: Optional[str] = None
    pretrain_mode: Literal["backbone", "full"] = "backbone"


@dataclasses.dataclass
class DataLoaderSettings:
    """``dataloader.<split>`` (sphmask.data.build_dataloader)."""

    batch_size: PositiveInt = 1
    num_workers: NonNegativeInt = 0
    pin_memory: bool = False


def _train_settings():
    from sphmask.engine.trainer import TrainSettings  # the engine imports the model; import it late

    return TrainSettings


def _dataset_class(cfg: Mapping[str, Any], split: str):
    from sphmask.data.dataset import DATASET_TYPES

    section = (cfg.get("data") or {}).get(split)
    kind = section.get("type") if isinstance(section, Mapping) else None
    return DATASET_TYPES.get(kind) if isinstance(kind, str) else None


def _section_target(cfg: Mapping[str, Any], parts: Sequence[str]):
    """The class whose parameters are the keys of section ``parts`` (``None``: not a known section)."""
    if not parts:
        return None
    head, rest = parts[0], list(parts[1:])
    if head == "model":
        target = SphericalMask
    elif head == "train":
        target = _train_settings()
    elif head == "data" and rest:
        target = _dataset_class(cfg, rest.pop(0))
    elif head == "dataloader" and rest:
        rest.pop(0)
        target = DataLoaderSettings
    else:
        return None
    for key in rest:
        if target is None:
            return None
        target = child_schema(target, key)
    return target


def config_keys(cfg: Mapping[str, Any], parts: Sequence[str]) -> Optional[List[str]]:
    """The keys section ``parts`` (``["model", "loss"]``) may hold; ``None`` where there is no schema."""
    if not parts:
        return sorted(set(SECTIONS) | set(valid_keys(RunSettings)))
    target = _section_target(cfg, parts)
    if target is None:
        return None
    keys = valid_keys(target)
    return keys + ["type"] if parts[0] == "data" and len(parts) == 2 else keys


def load_checked_config(path: str, overrides: Optional[Iterable[str]] = None) -> Dict[str, Any]:
    """:func:`~sphmask.config.load_config` with the schema of :func:`config_keys`, then :func:`check_config`."""
    cfg = load_config(path, overrides, schema=config_keys)
    check_config(cfg)
    return cfg


def check_config(cfg: Mapping[str, Any]) -> None:
    """Check a resolved config (see the module docstring); raise :class:`ConfigError` on the first problem."""
    if not isinstance(cfg.get("model"), Mapping):
        got = "" if "model" not in cfg else f" (it is {cfg['model']!r})"
        raise ConfigError(f"the config has no 'model' section{got}: every tool builds the network from it and "
                          "none falls back to a default; start from a complete config such as "
                          "configs/scannetv2/spherical_mask.yaml (e.g. with 'base:')")
    top = {k: v for k, v in cfg.items() if k not in SECTIONS}
    unknown = sorted(set(top) - set(valid_keys(RunSettings)))
    if unknown:
        raise ConfigError(f"unknown top-level config key(s) {unknown}; valid keys: {config_keys(cfg, [])}")
    check_section(RunSettings, top, "config")
    check_section(SphericalMask, cfg["model"], "model")
    if "train" in cfg:
        check_section(_train_settings(), cfg["train"], "train")
    for name in ("data", "dataloader"):
        if name in cfg and not isinstance(cfg[name], Mapping):
            raise ConfigError(f"config section {name!r} must map split names to sections, got {cfg[name]!r}")
    for split, section in (cfg.get("dataloader") or {}).items():
        check_section(DataLoaderSettings, section, f"dataloader.{split}")
    for split in (cfg.get("data") or {}):
        _check_data_section(cfg, split)
    for split in (cfg.get("data") or {}):
        _check_model_fits_data(cfg["model"], cfg["data"][split], f"data.{split}")


def _check_data_section(cfg: Mapping[str, Any], split: str) -> None:
    from sphmask.data.dataset import DATASET_TYPES, check_instance_sampling, make_voxel_config

    name = f"data.{split}"
    section = cfg["data"][split]
    if not isinstance(section, Mapping):
        raise ConfigError(f"config section {name!r} must be a mapping of keys to values, got {section!r}")
    if section.get("type") not in DATASET_TYPES:
        raise ConfigError(f"{name}.type must be one of {sorted(DATASET_TYPES)}, got {section.get('type')!r}")
    rest = {k: v for k, v in section.items() if k != "type"}
    check_section(DATASET_TYPES[section["type"]], rest, name, require=False)
    if "voxel_cfg" in rest:
        make_voxel_config(rest["voxel_cfg"], f"{name}.voxel_cfg")  # its own range checks
    check_instance_sampling(DATASET_TYPES[section["type"]], rest, name)


def _model_value(model: Mapping[str, Any], key: str) -> Any:
    return model[key] if key in model else schema_of(SphericalMask)[0][key].default


def _check_model_fits_data(model: Mapping[str, Any], section: Mapping[str, Any], name: str) -> None:
    from sphmask.data.dataset import DATASET_TYPES
    from sphmask.data.transforms import VoxelConfig

    table = DATASET_TYPES[section["type"]].classes
    own = section.get("semantic_classes")  # a dataset of the user's own with its class count
    n_sem = _model_value(model, "semantic_classes")
    if own is not None:
        if n_sem != own:
            raise ConfigError(f"model.semantic_classes is {n_sem} but {name}.semantic_classes is {own}: "
                              "the network must predict the classes of the data")
    else:
        where = f"{name}.type {section['type']!r} ({table.name} class table, sphmask/data/classes.py)"
        if n_sem != table.semantic_classes:
            raise ConfigError(f"model.semantic_classes is {n_sem} but {where} has {table.semantic_classes} "
                              f"semantic classes; set model.semantic_classes: {table.semantic_classes}")
        n_inst = _model_value(model, "instance_classes")
        if n_inst != table.instance_classes:
            raise ConfigError(f"model.instance_classes is {n_inst} but {where} has {table.instance_classes} "
                              f"instance classes; set model.instance_classes: {table.instance_classes}")
    voxel = section.get("voxel_cfg") or {}
    scale = voxel.get("scale", VoxelConfig.scale) if isinstance(voxel, Mapping) else voxel.scale
    model_scale = _model_value(model, "voxel_scale")
    if float(scale) != float(model_scale):
        raise ConfigError(f"model.voxel_scale is {model_scale:g} but {name}.voxel_cfg.scale is {scale:g}: the "
                          "network's losses and radii assume the data's voxel size; set both to the same value")
    # Classes the evaluator scores below the first instance class are predicted from semantics
    # (sem2ins_classes) and their label ids shift the instance classes' (label_offset).
    stuff = list(range(table.eval_offset, table.label_shift))
    sem2ins = [int(c) for c in _model_value(model, "sem2ins_classes")]
    inference = model.get("inference")
    label_offset = (inference.get("label_offset", InferenceSettings.label_offset) if isinstance(inference, Mapping)
                    else getattr(inference, "label_offset", InferenceSettings.label_offset))
    if sem2ins != stuff:
        names = [table.semantic_names[c] for c in stuff]
        scored = f"scores the stuff classes {names} as instances" if stuff else "scores no stuff classes"
        raise ConfigError(f"model.sem2ins_classes is {sem2ins} but the {table.name} evaluator ({name}.type) {scored}; "
                          f"set model.sem2ins_classes: {stuff} (with model.inference.label_offset: {len(stuff)})")
    if label_offset != len(stuff):
        raise ConfigError(f"model.inference.label_offset is {label_offset} but the {table.name} evaluator "
                          f"({name}.type) numbers the instance classes after {len(stuff)} class(es) predicted from "
                          f"semantics (model.sem2ins_classes {stuff}); set model.inference.label_offset: {len(stuff)}")


def build_model(cfg: Union[str, Mapping[str, Any]], overrides: Optional[Iterable[str]] = None) -> SphericalMask:
    """Build the model from the ``model:`` section of a config.

    Args:
        cfg: a config path (``configs/scannetv2/spherical_mask.yaml``), checked whole with
            :func:`check_config` (so a model that does not fit the config's data is refused), or an
            already loaded config mapping with a top-level ``model`` section (only that section is
            checked; tools run :func:`check_config` themselves).
        overrides: ``"model.channels=16"``-style overrides, only with a path; any key the model
            accepts may be set, also one the file does not spell.
    Raises:
        sphmask.config.ConfigError: no model section, unknown or missing keys, wrong types or
            ranges, a model that does not fit the data; naming the key(s).
    """
    if isinstance(cfg, str):
        cfg = load_checked_config(cfg, overrides)
    elif overrides:
        raise ValueError("overrides are only applied when cfg is a path; apply them to the mapping instead")
    elif not isinstance(cfg.get("model"), Mapping):
        check_config(cfg)  # raises the one-line "no model section" error
    return instantiate(SphericalMask, get_section(cfg, "model"), "model")
