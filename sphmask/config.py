"""Plain-YAML configuration: load a file, apply ``key=value`` overrides, and map sections onto
constructor arguments explicitly.

A config is a nested ``dict``. Components are built by passing a section as keyword arguments to
a class or function (:func:`instantiate`); a key the constructor does not take is an error that
lists the valid keys, never a silently ignored setting.
"""
import copy
import inspect
import os
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

import yaml

from sphmask.errors import SphmaskError


class ConfigError(SphmaskError, ValueError):
    """A config file, key or value that cannot be used; the message says which and why."""


BASE_KEY = "base"


def load_config(path: str, overrides: Optional[Iterable[str]] = None) -> Dict[str, Any]:
    """Read a YAML config, compose it over its parent, and apply ``overrides``.

    A config may name one parent file with a top-level ``base:`` key, a path relative to the
    config's own folder. The parent is loaded first (it may have a parent of its own) and the child
    is deep-merged into it: mappings merge key by key, any other value (lists included) replaces the
    parent's. ``overrides`` (``"a.b.c=value"``, value parsed as YAML) apply to the composed config
    and may only set keys that exist in it.
    """
    cfg = _load_composed(path, [])
    for item in overrides or ():
        apply_override(cfg, item)
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


def apply_override(cfg: Dict[str, Any], item: str) -> None:
    """Set one dotted key in place from ``"a.b=value"``; the key must already exist."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.path=value")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    node = cfg
    for i, p in enumerate(parts[:-1]):
        if not isinstance(node, dict) or p not in node:
            raise ConfigError(_unknown(".".join(parts[: i + 1]), node))
        node = node[p]
    if not isinstance(node, dict) or parts[-1] not in node:
        raise ConfigError(_unknown(key.strip(), node))
    node[parts[-1]] = yaml.safe_load(raw)


def _unknown(key: str, node: Any) -> str:
    valid = sorted(node) if isinstance(node, dict) else []
    return f"unknown config key {key!r}; valid keys here: {valid}"


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
    """Call ``target(**section, **extra)`` after checking every key is one of its parameters.

    ``name`` is the section's dotted path, used in the error message.
    """
    params = inspect.signature(target).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    valid = [n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and n != "self"]
    if not takes_kwargs:
        unknown = sorted(set(section) - set(valid))
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown} in config section {name!r}; valid keys: {sorted(valid)}")
    required = [n for n in valid if params[n].default is inspect.Parameter.empty and n not in section and n not in extra]
    if required:
        raise ConfigError(f"config section {name!r} is missing required key(s) {required}")
    return target(**section, **extra)
