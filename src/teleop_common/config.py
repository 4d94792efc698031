"""Typed configuration: YAML -> dataclasses validated at start-up.

A configuration is a (nested) dataclass.  Fields carry their accepted values in metadata
(`choice`, `bounded`), so one loader validates every key and a bad value fails at start-up
with a message naming the key and what is accepted.  ROS parameters are the flattened form
(`one_euro.min_cutoff`), which is also how rclpy flattens nested YAML.  Configuration classes
derive from `Validated`, so an instance built any other way (a CLI flag, `dataclasses.replace`,
a test) is checked the same way as one loaded from YAML.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration key holds a value outside what is accepted."""

    def __init__(self, key: str, value: Any, accepted: str) -> None:
        super().__init__(f"invalid configuration '{key}': got {value!r}; accepted: {accepted}")
        self.key = key
        self.value = value
        self.accepted = accepted


def choice(default: str, *choices: str) -> Any:
    """A string field that must be one of `choices` (default first)."""
    return dataclasses.field(default=default, metadata={"choices": (default, *choices)})


def bounded(default: float, low: float | None = None, high: float | None = None) -> Any:
    """A numeric field that must lie in [low, high]."""
    return dataclasses.field(default=default, metadata={"low": low, "high": high})


def _accepted_range(low: float | None, high: float | None) -> str:
    return f"a number in [{'-inf' if low is None else low}, {'inf' if high is None else high}]"


def _nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """Turn dotted keys ('a.b': 1) into nested dicts ({'a': {'b': 1}})."""
    nested: dict[str, Any] = {}
    for key, value in values.items():
        node = nested
        *parents, leaf = str(key).split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        if isinstance(value, Mapping) and isinstance(node.get(leaf), dict):
            node[leaf].update(_nest(value))
        else:
            node[leaf] = _nest(value) if isinstance(value, Mapping) else value
    return nested


def _convert(key: str, value: Any, kind: Any, meta: Mapping[str, Any]) -> Any:
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, Mapping):
            raise ConfigError(key, value, f"a mapping with keys {[f.name for f in dataclasses.fields(kind)]}")
        return from_mapping(kind, value, prefix=f"{key}.")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, value, f"a list of {typing.get_args(kind)[0].__name__}")
        item_kind = typing.get_args(kind)[0]
        items = [_convert(f"{key}[{i}]", v, item_kind, {}) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, value, "true or false")
        return value
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
            raise ConfigError(key, value, "an integer" if kind is int else "a number")
        number = kind(value)
        low, high = meta.get("low"), meta.get("high")
        if math.isnan(number) or (low is not None and number < low) or (high is not None and number > high):
            raise ConfigError(key, value, _accepted_range(low, high))
        return number
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(key, value, "a string")
        choices = meta.get("choices")
        if choices and value not in choices:
            raise ConfigError(key, value, " | ".join(choices))
        return value
    raise TypeError(f"unsupported configuration type {kind!r} for '{key}'")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _checked(key: str, value: Any, kind: Any, meta: Mapping[str, Any]) -> Any:
    """`value` converted to `kind` like a loaded one; nested configuration instances checked themselves."""
    if dataclasses.is_dataclass(kind) and isinstance(value, kind):
        return value
    if typing.get_origin(kind) in (tuple, list) and isinstance(value, (list, tuple)):
        item_kind = typing.get_args(kind)[0]
        items = [_checked(f"{key}[{i}]", v, item_kind, {}) for i, v in enumerate(value)]
        return tuple(items) if typing.get_origin(kind) is tuple else items
    return _convert(key, value, kind, meta)


def validate(config: Any) -> None:
    """Check every field of a configuration instance (types, bounds, choices), then its `check()`."""
    hints = _hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        checked = _checked(f.name, value, hints[f.name], f.metadata)
        if checked is not value:
            object.__setattr__(config, f.name, checked)   # e.g. 10 -> 10.0, list -> tuple (frozen too)
    check = getattr(config, "check", None)
    if check is not None:
        check()


class Validated:
    """Base of configuration dataclasses: an instance validates itself when it is created."""

    def __post_init__(self) -> None:
        validate(self)


def from_mapping(cls: type[T], values: Mapping[str, Any], prefix: str = "") -> T:
    """Build and validate dataclass `cls` from nested or dotted keys; unknown keys are errors."""
    values = _nest(values)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            raise ConfigError(prefix + key, values[key], "known keys " + ", ".join(prefix + k for k in fields))
    kwargs = {name: _convert(prefix + name, values[name], hints[name], f.metadata)
              for name, f in fields.items() if name in values}
    config = cls(**kwargs)
    if not isinstance(config, Validated):
        validate(config)
    return config


def field_of(config_cls: type, dotted: str) -> tuple[dataclasses.Field, Any]:
    """The dataclass field a dotted key names, and its resolved type (e.g. 'one_euro.beta')."""
    owner: Any = config_cls
    for part in dotted.split("."):
        field = {f.name: f for f in dataclasses.fields(owner)}[part]
        owner = typing.get_type_hints(owner)[part]
    return field, owner


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted-key view of a dataclass instance (the ROS parameter names and defaults)."""
    flat: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            flat.update(flatten(value, prefix=f"{prefix}{f.name}."))
        else:
            flat[prefix + f.name] = list(value) if isinstance(value, tuple) else value
    return flat


def ros_parameters(path: str | Path) -> dict[str, Any]:
    """The `/**: ros__parameters:` mapping of a ROS 2 parameter file."""
    document = yaml.safe_load(Path(path).read_text()) or {}
    try:
        return dict(document["/**"]["ros__parameters"])
    except (KeyError, TypeError):
        raise ConfigError(str(path), document, "a ROS 2 parameter file with '/**: ros__parameters:'") from None


def load(cls: type[T], path: str | Path) -> T:
    """Load and validate a dataclass from a ROS 2 parameter file."""
    return from_mapping(cls, ros_parameters(path))
