"""Turning frozen dataclasses into JSON-able dicts and back, driven by type hints.

Only the shapes the routing types use are supported: ``str``/``int``/``float``/``bool``,
``None`` unions, enums, ``tuple[X, ...]``, ``frozenset[X]``, ``Mapping[str, X]`` /
``dict[str, X]``, and nested dataclasses with the same support. ``NewType`` ids are
strings at run time and need nothing.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any

from routing.errors import SerializationError


def to_jsonable(value: Any) -> Any:
    """Convert a value made of dataclasses, enums and containers into plain JSON data."""
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted(to_jsonable(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in sorted(value.items())}
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _supertype(tp: Any) -> Any:
    while hasattr(tp, "__supertype__"):  # NewType
        tp = tp.__supertype__
    return tp


def from_jsonable(tp: Any, data: Any) -> Any:
    """Convert plain JSON data back into a value of type ``tp``."""
    tp = _supertype(tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        if data is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return from_jsonable(inner, data)
    if origin is tuple:
        return tuple(from_jsonable(args[0], v) for v in data)
    if origin is frozenset:
        return frozenset(from_jsonable(args[0], v) for v in data)
    if origin in (dict, Mapping) or origin is typing.Mapping:
        return {str(k): from_jsonable(args[1], v) for k, v in data.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(data)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return build(tp, data)
    if tp is float:
        return float(data)
    return data


def build(cls: type, data: Mapping[str, Any]) -> Any:
    """Build dataclass ``cls`` from a dict, ignoring a ``kind`` tag."""
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    try:
        for f in dataclasses.fields(cls):
            if f.name in data:
                kwargs[f.name] = from_jsonable(hints[f.name], data[f.name])
        return cls(**kwargs)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise SerializationError(f"bad {cls.__name__}: {exc}") from exc
