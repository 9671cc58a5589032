"""The routing log's records, typed: what nodes append and the leader applies.

Like the client protocol, records are frozen dataclasses, written out once
(``to_dict``, JSON-able, as the backplanes store them) and parsed once
(``parse_record``) where the leader reads them; nothing in between handles raw dicts.
A ``Msg`` carries its client message already parsed (``signaling.protocol``).

* ``Attach``   a connection said hello (agents: sign in, with their routing profile);
* ``Msg``      a validated client message, with what the node added (session id, the
  number's keyed hash and mask, the client address's keyed hash);
* ``Drop``     a connection closed;
* ``TimerDue`` a timer fired (an engine timer, or ``grace:<caller key>`` …);
* ``Gone``     a process died holding these connections;
* ``Disposed`` an agent recorded a session's disposition;
* ``TicketTaken`` the leader's writer wrote a voicemail ticket (its caller is told now).

Connection keys are ``a:<agent id>`` and ``c:<caller key>``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from signaling import protocol as p
from signaling.errors import SignalingError
from signaling.schema import encode


class RecordError(SignalingError, ValueError):
    """A log entry that is not a record this version understands."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Attach:
    t: ClassVar[str] = "attach"
    key: str
    conn: str
    now: float
    profile: Mapping[str, Any] | None = None  # agents: ``AgentProfile.to_dict()``


@dataclass(frozen=True, slots=True, kw_only=True)
class Msg:
    t: ClassVar[str] = "msg"
    key: str
    conn: str
    now: float
    m: p.ClientMessage
    sid: str | None = None  # a new session id (join_queue, transfer)
    caller: str | None = None  # ``tel:<keyed hash>`` or ``sub:<token subject>``
    display: str | None = None  # the number masked, as agents see it
    addr: str | None = None  # the client address's keyed hash (limits per address)


@dataclass(frozen=True, slots=True, kw_only=True)
class Drop:
    t: ClassVar[str] = "drop"
    key: str
    conn: str
    now: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerDue:
    t: ClassVar[str] = "timer"
    key: str
    now: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Gone:
    t: ClassVar[str] = "gone"
    key: str  # the process
    now: float
    keys: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True, kw_only=True)
class Disposed:
    t: ClassVar[str] = "disposed"
    key: str  # the agent's connection key
    session: str
    now: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketTaken:
    """The leader's writer has written the voicemail ticket of ``session``."""

    t: ClassVar[str] = "ticket"
    key: str  # ``t:<session>`` (no connection: nothing to answer)
    session: str
    now: float


Record = Attach | Msg | Drop | TimerDue | Gone | Disposed | TicketTaken


def to_dict(record: Record) -> dict[str, Any]:
    """The JSON-able form a backplane stores (``None`` fields left out)."""
    out: dict[str, Any] = {"t": record.t}
    for name in record.__dataclass_fields__:
        value = getattr(record, name)
        if value is None:
            continue
        if name == "m":
            value = {"type": value.type, **encode(value)}
        elif name == "keys":
            value = list(value)
        out[name] = value
    return out


def _text(obj: Mapping[str, Any], name: str, *, optional: bool = False) -> Any:
    value = obj.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise RecordError(f"{name}: a non-empty string is needed")
    return value


def parse_record(obj: Mapping[str, Any]) -> Record:
    """The record a log entry holds. ``RecordError`` if it is malformed; a ``Msg`` whose
    message does not parse raises that message's ``ProtocolError``."""
    if not isinstance(obj, Mapping):
        raise RecordError("a record is an object")
    kind = obj.get("t")
    key = _text(obj, "key")
    now = obj.get("now")
    if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
        raise RecordError("now: a finite number is needed")
    now = float(now)
    if kind == "attach":
        profile = obj.get("profile")
        if profile is not None and not isinstance(profile, Mapping):
            raise RecordError("profile: an object is needed")
        return Attach(key=key, conn=_text(obj, "conn"), now=now, profile=profile)
    if kind == "msg":
        m = obj.get("m")
        if not isinstance(m, Mapping):
            raise RecordError("m: an object is needed")
        message = p.parse(json.dumps({"v": p.PROTOCOL_VERSION, **m}))
        return Msg(
            key=key,
            conn=_text(obj, "conn"),
            now=now,
            m=message,
            sid=_text(obj, "sid", optional=True),
            caller=_text(obj, "caller", optional=True),
            display=_text(obj, "display", optional=True),
            addr=_text(obj, "addr", optional=True),
        )
    if kind == "drop":
        return Drop(key=key, conn=_text(obj, "conn"), now=now)
    if kind == "timer":
        return TimerDue(key=key, now=now)
    if kind == "gone":
        keys = obj.get("keys", [])
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise RecordError("keys: a list of strings is needed")
        return Gone(key=key, now=now, keys=tuple(keys))
    if kind == "disposed":
        return Disposed(key=key, session=_text(obj, "session"), now=now)
    if kind == "ticket":
        return TicketTaken(key=key, session=_text(obj, "session"), now=now)
    raise RecordError(f"unknown record kind {str(kind)[:40]!r}")
