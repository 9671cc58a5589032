"""A small, strict decoder from JSON objects to frozen message dataclasses.

Every message class is a ``kw_only`` frozen dataclass with a ``type`` class variable.
Field constraints ride on the annotations (``Annotated[str, Text(1, 64)]``), so the
dataclass *is* the schema: ``decode(cls, obj)`` checks each field's JSON type, its
length or range and its enum membership, rejects unknown and missing fields, and
raises ``ProtocolError`` with a code — never anything else.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from signaling.errors import ErrorCode, ProtocolError

T = TypeVar("T")

MAX_ITEMS = 500
"""The longest list a message may carry."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def is_text(value: str) -> bool:
    """Whether ``value`` is encodable Unicode text (no lone UTF-16 surrogate)."""
    return _SURROGATE.search(value) is None


@dataclass(frozen=True, slots=True)
class Text:
    """A string of ``min_len``..``max_len`` characters, optionally matching ``pattern``."""

    min_len: int
    max_len: int
    pattern: str | None = None

    def check(self, name: str, value: str) -> str:
        if not is_text(value):
            # JSON may spell a lone UTF-16 surrogate (``"\\ud800"``); no encoder can
            # write it out again, so it never enters the server.
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{name}: not valid Unicode text")
        if not self.min_len <= len(value) <= self.max_len:
            raise ProtocolError(
                ErrorCode.BAD_FIELD,
                f"{name}: length must be {self.min_len}..{self.max_len}",
            )
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{name}: bad format")
        return value


@dataclass(frozen=True, slots=True)
class Num:
    """A number (int or float as annotated) within ``lo``..``hi`` inclusive."""

    lo: float
    hi: float

    def check(self, name: str, value: float) -> float:
        if not self.lo <= value <= self.hi:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{name}: must be {self.lo}..{self.hi}")
        return value


@dataclass(frozen=True, slots=True)
class _FieldSpec:
    name: str
    base: type
    optional: bool
    required: bool
    constraint: Text | Num | None
    item: type | None = None  # ``tuple[Item, ...]``: a list of ``Item`` message objects


_specs: dict[type, tuple[_FieldSpec, ...]] = {}


def _spec_for(cls: type) -> tuple[_FieldSpec, ...]:
    cached = _specs.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls, include_extras=True)
    out: list[_FieldSpec] = []
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        optional = False
        constraint: Text | Num | None = None
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            if len(args) != 1:
                raise TypeError(f"{cls.__name__}.{field.name}: only X | None unions")
            optional = True
            hint = args[0]
        if typing.get_origin(hint) is typing.Annotated:
            hint, *extras = typing.get_args(hint)
            for extra in extras:
                if isinstance(extra, Text | Num):
                    constraint = extra
        item: type | None = None
        if typing.get_origin(hint) is tuple:
            parts = typing.get_args(hint)
            if len(parts) != 2 or parts[1] is not Ellipsis or not isinstance(parts[0], type):
                raise TypeError(f"{cls.__name__}.{field.name}: only tuple[Item, ...] of objects")
            item, hint = parts[0], tuple
        if not isinstance(hint, type):
            raise TypeError(f"{cls.__name__}.{field.name}: unsupported annotation {hint!r}")
        required = (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        out.append(_FieldSpec(field.name, hint, optional, required, constraint, item))
    spec = tuple(out)
    _specs[cls] = spec
    return spec


def _decode_value(spec: _FieldSpec, value: Any) -> Any:
    name, base = spec.name, spec.base
    if value is None:
        if spec.optional:
            return None
        raise ProtocolError(ErrorCode.BAD_FIELD, f"{name}: must not be null")
    if spec.item is not None:
        if not isinstance(value, list):
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{name}: must be a list")
        if len(value) > MAX_ITEMS:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{name}: at most {MAX_ITEMS} items")
        if not all(isinstance(v, dict) for v in value):
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{name}: items must be objects")
        return tuple(decode(spec.item, v, envelope=frozenset()) for v in value)
    if issubclass(base, enum.Enum):
        if not isinstance(value, str):
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{name}: must be a string")
        try:
            return base(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in base)
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{name}: must be one of {allowed}") from None
    if base is bool:
        if not isinstance(value, bool):
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{name}: must be a boolean")
        return value
    if base is str:
        if not isinstance(value, str):
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{name}: must be a string")
        if isinstance(spec.constraint, Text):
            spec.constraint.check(name, value)
        elif not is_text(value):
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{name}: not valid Unicode text")
        return value
    if base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{name}: must be an integer")
        if isinstance(spec.constraint, Num):
            spec.constraint.check(name, value)
        return value
    if base is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{name}: must be a number")
        number = float(value)
        if not math.isfinite(number):
            raise ProtocolError(ErrorCode.BAD_FIELD, f"{name}: must be finite")
        if isinstance(spec.constraint, Num):
            spec.constraint.check(name, number)
        return number
    raise TypeError(f"unsupported field type {base!r}")  # a bug in a message class


def decode(cls: type[T], obj: Mapping[str, Any], *, envelope: frozenset[str]) -> T:
    """Build ``cls`` from ``obj``; keys in ``envelope`` (``v``, ``type``) are skipped."""
    spec = _spec_for(cls)
    known = {s.name for s in spec}
    for key in obj:
        if key not in known and key not in envelope:
            raise ProtocolError(ErrorCode.UNKNOWN_FIELD, f"unknown field {key[:40]!r}")
    kwargs: dict[str, Any] = {}
    for s in spec:
        if s.name in obj:
            kwargs[s.name] = _decode_value(s, obj[s.name])
        elif s.required:
            raise ProtocolError(ErrorCode.MISSING_FIELD, f"missing field {s.name!r}")
    return cls(**kwargs)


def encode(msg: object) -> dict[str, Any]:
    """The JSON object for a message dataclass: enums as values, ``None`` fields left out."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(msg):  # type: ignore[arg-type]
        value = getattr(msg, field.name)
        if value is None:
            continue
        if isinstance(value, tuple):
            out[field.name] = [encode(item) for item in value]
        else:
            out[field.name] = value.value if isinstance(value, enum.Enum) else value
    return out
