"""Plain-YAML configuration: load a file, apply ``key=value`` overrides, and map sections onto
constructor arguments explicitly.

A config is a nested ``dict``. Components are built by passing a section as keyword arguments to
a class or function (:func:`instantiate`); a key the constructor does not take is an error that
lists the valid keys, never a silently ignored setting, and every value is checked against the
constructor's annotations first (:mod:`sphmask.config_schema`).
"""
import copy
import os
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

import yaml

from sphmask.config_schema import ConfigError, check_section

#: ``schema(cfg, parent_path) -> valid child keys or None``: the keys a section may hold beyond
#: the ones the file spells, so that an override can set a default-valued key.
Schema = Callable[[Mapping[str, Any], Sequence[str]], Optional[Iterable[str]]]

BASE_KEY = "base"


def load_config(path: str, overrides: Optional[Iterable[str]] = None,
                schema: Optional[Schema] = None) -> Dict[str, Any]:
    """Read a YAML config, compose it over its parent, and apply ``overrides``.

    A config may name one parent file with a top-level ``base:`` key, a path relative to the
    config's own folder. The parent is loaded first (it may have a parent of its own) and the child
    is deep-merged into it: mappings merge key by key, any other value (lists included) replaces the
    parent's. ``overrides`` (``"a.b.c=value"``, value parsed as YAML) apply to the composed config
    and may only set keys that exist in it or that ``schema`` accepts (see :func:`apply_override`).
    """
    cfg = _load_composed(path, [])
    for item in overrides or ():
        apply_override(cfg, item, schema)
    return cfg


def _load_composed(path: str, chain: List[str]) -> Dict[str, Any]:
    real = os.path.realpath(path)
    if real in chain:
        raise ConfigError(f"config {path} is its own base (chain: {' -> '.join(chain + [real])})")
    if not os.path.isfile(path):
        where = f" (base of {chain[-1]})" if chain else ""
        raise ConfigError(f"config file not found: {path}{where}")
    with open(path) as f:
        try:
            cfg = yaml.safe_load(f)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level, got {type(cfg).__name__}")
    parent = cfg.pop(BASE_KEY, None)
    if parent is None:
        return cfg
    if not isinstance(parent, str) or not parent:
        raise ConfigError(f"{path}: '{BASE_KEY}' must be the path of one parent config, got {parent!r}")
    base = _load_composed(os.path.join(os.path.dirname(os.path.abspath(path)), parent), chain + [real])
    return merge_configs(base, cfg)


def merge_configs(base: Mapping[str, Any], child: Mapping[str, Any]) -> Dict[str, Any]:
    """``child`` deep-merged into a copy of ``base``: mappings merge, other values replace."""
    out = copy.deepcopy(dict(base))
    for key, value in child.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_configs(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_override(cfg: Dict[str, Any], item: str, schema: Optional[Schema] = None) -> None:
    """Set one dotted key in place from ``"a.b=value"``.

    The key must exist in ``cfg``, or ``schema`` must list it as a key of its section (a
    constructor parameter the file leaves at its default); missing sections on the way are
    created. Anything else is an error listing the valid keys.
    """
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.path=value")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    node = cfg
    for i, p in enumerate(parts):
        valid = set(node) if isinstance(node, dict) else set()
        extra = schema(cfg, parts[:i]) if schema is not None and isinstance(node, dict) else None
        valid |= set(extra or ())
        if p not in valid:
            raise ConfigError(f"unknown config key {'.'.join(parts[: i + 1])!r}; valid keys here: {sorted(valid)}")
        if i == len(parts) - 1:
            node[p] = yaml.safe_load(raw)
        else:
            if p not in node:
                node[p] = {}
            node = node[p]


def get_section(cfg: Mapping[str, Any], dotted: str) -> Dict[str, Any]:
    """Return a deep copy of a nested section (``"data.train"``), or raise naming what is missing."""
    node: Any = cfg
    for i, p in enumerate(dotted.split(".")):
        if not isinstance(node, Mapping) or p not in node:
            raise ConfigError(f"config has no section {dotted!r} (missing {'.'.join(dotted.split('.')[: i + 1])!r}); "
                              f"valid keys: {sorted(node) if isinstance(node, Mapping) else []}")
        node = node[p]
    return copy.deepcopy(node)


def instantiate(target: Callable[..., Any], section: Mapping[str, Any], name: str, **extra: Any) -> Any:
    """Call ``target(**section, **extra)`` after checking the section against its parameters.

    Every key must be a parameter, every required parameter present and every value of the
    annotated (or default-implied) type and range (:func:`sphmask.config_schema.check_section`).
    A ``ValueError`` the constructor raises about its arguments becomes a :class:`ConfigError`
    naming the section. ``name`` is the section's dotted path, used in the error messages.
    """
    check_section(target, section, name, provided=tuple(extra))
    try:
        return target(**section, **extra)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"config section {name!r}: {exc}") from exc
