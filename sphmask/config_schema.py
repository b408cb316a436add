"""Type and range checks of config values, derived from the constructors they are passed to.

The schema of a config section is the signature of the class it builds: the annotations of its
constructor (or dataclass fields) and, where a parameter is not annotated, the type of its default.
Ranges ride on the annotations with ``typing.Annotated``::

    voxel_scale: PositiveFloat = 50.0          # Annotated[float, Range(gt=0)]
    loss: Union[None, Mapping[str, Any], LossSettings] = None

A parameter whose annotation names a dataclass takes a mapping checked against that dataclass's
fields, so nested sections (``model.loss``) are checked key by key. Every error is one
:class:`~sphmask.config.ConfigError` naming the dotted key, the expected type or range and the
value found.
"""
import collections.abc
import dataclasses
import inspect
import math
import typing
from typing import Any, Dict, List, Mapping, Optional, Tuple

from sphmask.errors import SphmaskError


class ConfigError(SphmaskError, ValueError):
    """A config file, key or value that cannot be used; the message says which and why."""


@dataclasses.dataclass(frozen=True)
class Range:
    """Bounds of a number (``gt``/``ge`` lower, ``lt``/``le`` upper; ``None`` = unbounded)."""

    gt: Optional[float] = None
    ge: Optional[float] = None
    lt: Optional[float] = None
    le: Optional[float] = None

    def holds(self, v: float) -> bool:
        return ((self.gt is None or v > self.gt) and (self.ge is None or v >= self.ge)
                and (self.lt is None or v < self.lt) and (self.le is None or v <= self.le))

    def describe(self) -> str:
        parts = [f"{op} {b:g}" for op, b in ((">", self.gt), (">=", self.ge), ("<", self.lt), ("<=", self.le))
                 if b is not None]
        return " and ".join(parts)


PositiveInt = typing.Annotated[int, Range(gt=0)]
NonNegativeInt = typing.Annotated[int, Range(ge=0)]
PositiveFloat = typing.Annotated[float, Range(gt=0)]
NonNegativeFloat = typing.Annotated[float, Range(ge=0)]
Fraction = typing.Annotated[float, Range(ge=0, le=1)]

_EMPTY = inspect.Parameter.empty


@dataclasses.dataclass
class Param:
    """One key of a section: its annotation (or ``_EMPTY``), default, and whether it is required."""

    annotation: Any
    default: Any
    required: bool


def schema_of(target: Any) -> Tuple[Dict[str, Param], bool]:
    """The keys ``target`` (a class, dataclass or function) accepts, and whether it takes ``**kwargs``.

    Constructor parameters of every class in the MRO are collected, so a subclass that forwards
    ``**kwargs`` to its base accepts the base's keys too.
    """
    if dataclasses.is_dataclass(target) and isinstance(target, type):
        hints = typing.get_type_hints(target, include_extras=True)
        params = {}
        for f in dataclasses.fields(target):
            if not f.init:
                continue
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else _EMPTY)
            params[f.name] = Param(hints.get(f.name, _EMPTY), default, default is _EMPTY)
        return params, False
    if isinstance(target, type):
        # A class accepts the named parameters of its __init__ and, while __init__ forwards
        # **kwargs, of its bases' (never arbitrary keys: the chain ends at a fixed signature).
        funcs = [k.__dict__["__init__"] for k in target.__mro__ if "__init__" in k.__dict__ and k is not object]
    else:
        funcs = [target]
    params: Dict[str, Param] = {}
    forwards = False
    for fn in funcs:
        sig = inspect.signature(fn)
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except (NameError, TypeError):  # annotations that do not resolve: fall back to the raw ones
            hints = {}
        for name, p in sig.parameters.items():
            if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or name in params:
                continue
            params[name] = Param(hints.get(name, p.annotation), p.default, p.default is _EMPTY)
        forwards = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        if not forwards:
            break
    return params, forwards and not isinstance(target, type)


def check_section(target: Any, section: Mapping[str, Any], name: str, provided: Tuple[str, ...] = (),
                  require: bool = True) -> None:
    """Check every key of ``section`` against ``target``'s schema (see the module docstring).

    ``provided`` are keys the caller passes itself (not required in ``section``); ``require=False``
    skips the required-key check (sections completed later, e.g. by command-line options).
    """
    if not isinstance(section, Mapping):
        raise ConfigError(f"config section {name!r} must be a mapping of keys to values, got {_show(section)}")
    params, takes_kwargs = schema_of(target)
    if not takes_kwargs:
        unknown = sorted(set(section) - set(params))
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown} in config section {name!r}; valid keys: {sorted(params)}")
    if require:
        missing = [k for k, p in params.items() if p.required and k not in section and k not in provided]
        if missing:
            raise ConfigError(f"config section {name!r} is missing required key(s) {missing}")
    for key, value in section.items():
        if key in params:
            check_value(value, params[key].annotation, f"{name}.{key}", params[key].default)


def check_value(value: Any, annotation: Any, key: str, default: Any = _EMPTY) -> None:
    """Raise a :class:`ConfigError` naming ``key`` unless ``value`` fits ``annotation``."""
    problem = _mismatch(value, _effective(annotation, default), key)
    if problem is not None:
        raise ConfigError(f"config key {problem[0]!r} must be {problem[1]}, got {_show(problem[2])}")


def _effective(annotation: Any, default: Any) -> Any:
    """The annotation, or for an unannotated parameter the type its default implies."""
    if annotation is not _EMPTY and annotation is not Any:
        return annotation
    if default is _EMPTY or default is None:
        return Any
    if isinstance(default, (bool, int, float, str)):
        return type(default)
    if isinstance(default, (list, tuple)):
        kinds = {type(v) for v in default}
        return typing.Sequence[kinds.pop()] if len(kinds) == 1 else typing.Sequence[Any]
    return Any


def _mismatch(value: Any, ann: Any, key: str) -> Optional[Tuple[str, str, Any]]:
    """``None`` if ``value`` fits ``ann``, else ``(key, what was expected, the offending value)``."""
    if ann is Any or ann is _EMPTY:
        return None
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Annotated:
        inner = _mismatch(value, args[0], key)
        if inner is not None:
            return inner
        for meta in ann.__metadata__:
            if isinstance(meta, Range) and not meta.holds(value):
                return key, f"{_describe(args[0])} {meta.describe()}", value
        return None
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        members = [a for a in args if a is not type(None)]
        settings = [a for a in members if dataclasses.is_dataclass(a) and isinstance(a, type)]
        if settings and isinstance(value, Mapping):  # a nested section: check it key by key
            return _mismatch(value, settings[0], key)
        if len(members) == 1:
            return _mismatch(value, members[0], key)
        if all(_mismatch(value, a, key) is not None for a in members):
            return key, _describe(ann), value
        return None
    if origin is typing.Literal:
        return None if value in args else (key, f"one of {list(args)}", value)
    if ann is type(None):
        return None if value is None else (key, "null", value)
    if ann is bool:
        return None if isinstance(value, bool) else (key, "true or false", value)
    if ann is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else (key, "an integer", value)
    if ann is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else (key, "a finite number", value)
    if ann is str:
        return None if isinstance(value, str) else (key, "a string", value)
    if dataclasses.is_dataclass(ann) and isinstance(ann, type):
        if isinstance(value, ann):
            return None
        if not isinstance(value, Mapping):
            return key, f"a mapping of {ann.__name__} keys", value
        check_section(ann, value, key)
        return None
    if origin in (list, tuple, collections.abc.Sequence, typing.Sequence) or ann in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return key, _describe(ann), value
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                return key, f"a list of {len(args)} values", value
            items = list(zip(value, args))
        else:
            items = [(v, args[0] if args else Any) for v in value]
        for i, (v, a) in enumerate(items):
            bad = _mismatch(v, a, f"{key}[{i}]")
            if bad is not None:
                return bad
        return None
    if origin in (dict, collections.abc.Mapping, typing.Mapping) or ann in (dict, Mapping):
        return None if isinstance(value, Mapping) else (key, "a mapping", value)
    if isinstance(ann, type):
        return None if isinstance(value, ann) else (key, f"a {ann.__name__}", value)
    return None


def _describe(ann: Any) -> str:
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        return _describe(args[0])
    if origin is typing.Union:
        return " or ".join(_describe(a) for a in args)
    names = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string",
             type(None): "null"}
    if ann in names:
        return names[ann]
    if origin is typing.Literal:
        return f"one of {list(args)}"
    if dataclasses.is_dataclass(ann):
        return f"a mapping of {ann.__name__} keys"
    if origin in (list, tuple, collections.abc.Sequence) or ann in (list, tuple):
        inner = {_plain(a) for a in args if a is not Ellipsis}
        plural = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}
        return f"a list of {plural[inner.pop()]}" if len(inner) == 1 and next(iter(inner)) in plural else "a list"
    if origin in (dict, collections.abc.Mapping) or ann in (dict, Mapping):
        return "a mapping"
    return getattr(ann, "__name__", str(ann))


def _plain(ann: Any) -> Any:
    return typing.get_args(ann)[0] if typing.get_origin(ann) is typing.Annotated else ann


def _show(value: Any) -> str:
    text = repr(value)
    return f"{text if len(text) <= 60 else text[:57] + '...'} ({type(value).__name__})"


def child_schema(target: Any, key: str) -> Optional[Any]:
    """The dataclass a key of ``target`` takes as a nested section, if its annotation names one."""
    params, _ = schema_of(target)
    if key not in params:
        return None
    stack: List[Any] = [params[key].annotation]
    while stack:
        ann = stack.pop()
        if typing.get_origin(ann) is typing.Annotated:
            stack.append(typing.get_args(ann)[0])
        elif typing.get_origin(ann) is typing.Union:
            stack.extend(typing.get_args(ann))
        elif dataclasses.is_dataclass(ann) and isinstance(ann, type):
            return ann
    return None


def valid_keys(target: Any) -> List[str]:
    """The keys ``target`` accepts (sorted)."""
    return sorted(schema_of(target)[0])


