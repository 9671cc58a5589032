"""The signaling protocol, version 1: JSON objects over one WebSocket.

Every message is a JSON object with ``"v": 1`` and a ``"type"`` from a closed set.
Each type is a frozen dataclass below; ``ClientMessage`` and ``ServerMessage`` are the
tagged unions of the two directions. ``parse()`` is the only way in from a client and
raises only ``ProtocolError``; ``serialize()`` is the only way out. Inside the server
nothing handles raw dicts. ``docs/protocol.md`` has one example of every message.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from routing.model import Category as Category  # queue ids are service categories
from signaling.errors import ErrorCode, ProtocolError
from signaling.schema import Num, Text, decode, encode

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 8 * 1024

_ENVELOPE = frozenset({"v", "type"})

# Ids are opaque to clients: letters, digits and a few separators.
Id = Annotated[str, Text(1, 64, r"[A-Za-z0-9][A-Za-z0-9._:-]*")]
# BCP 47-like: "zh", "zh-CN", "zh-yue", "zh-x-sichuan" (dialects as private use).
Language = Annotated[str, Text(2, 35, r"[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}")]
# Digits with an optional leading +, spaces and dashes allowed as typed by people.
Phone = Annotated[str, Text(3, 24, r"\+?[0-9][0-9 -]*[0-9]")]
Reason = Annotated[str, Text(1, 200)]
Token = Annotated[str, Text(16, 512, r"[A-Za-z0-9._~-]+")]
Nonce = Annotated[str, Text(0, 64)]
Seconds = Annotated[float, Num(0, 10 * 365 * 86400)]
Count = Annotated[int, Num(0, 10_000_000)]
# Server side, priority classes are configurable names; clients claim one of the enum.
PriorityName = Annotated[str, Text(1, 40, r"[a-z][a-z0-9_]*")]


class PriorityClass(enum.StrEnum):
    """Green channels (绿色通道) a caller may claim; staff may confirm or downgrade."""

    ORDINARY = "ordinary"
    WAGE_CLAIM = "wage_claim"
    ELDERLY = "elderly"
    DISABLED = "disabled"


class PresenceRequest(enum.StrEnum):
    """The presence states an agent may ask for."""

    AVAILABLE = "available"
    BREAK = "break"
    WRAP_UP = "wrap_up"
    OFFLINE = "offline"


class Presence(enum.StrEnum):
    """The presence states the server reports to an agent."""

    AVAILABLE = "available"
    BREAK = "break"
    WRAP_UP = "wrap_up"
    IN_SESSION = "in_session"
    OFFLINE = "offline"


class Role(enum.StrEnum):
    AGENT = "agent"
    CALLER = "caller"


class Outcome(enum.StrEnum):
    """How a session ended; exactly one per session (issue 3)."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    CALLBACK_DONE = "callback_done"
    VOICEMAIL = "voicemail"
    TRANSFERRED = "transferred"
    EXPIRED = "expired"


class OfferKind(enum.StrEnum):
    CALL = "call"
    CALLBACK = "callback"


class CancelReason(enum.StrEnum):
    TIMEOUT = "timeout"
    CALLER_LEFT = "caller_left"
    AGENT_DISCONNECTED = "agent_disconnected"
    SIGNED_OUT = "signed_out"
    ON_BREAK = "on_break"
    VOICEMAIL = "voicemail"
    OTHER = "other"


# --- client → server --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    """First message on a socket; ``resume_token`` reclaims a dropped connection's place."""

    type: ClassVar[str] = "hello"
    resume_token: Token | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinQueue:
    """A caller asks to be put in line."""

    type: ClassVar[str] = "join_queue"
    category: Category
    language: Language
    priority: PriorityClass = PriorityClass.ORDINARY
    phone: Phone | None = None
    named_agent: Id | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaveQueue:
    """A caller leaves the line (hangs up)."""

    type: ClassVar[str] = "leave_queue"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestCallback:
    """A waiting caller asks to be called back and keeps their place."""

    type: ClassVar[str] = "request_callback"
    phone: Phone | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestVoicemail:
    """A waiting caller leaves a message instead (a ticket answered the next day)."""

    type: ClassVar[str] = "request_voicemail"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetPresence:
    """An agent changes presence; ``reason`` is required for, and only for, a break."""

    type: ClassVar[str] = "presence"
    state: PresenceRequest
    reason: Reason | None = None

    def __post_init__(self) -> None:
        if (self.state is PresenceRequest.BREAK) != (self.reason is not None):
            raise ProtocolError(ErrorCode.BAD_FIELD, "reason: required for break, else absent")


@dataclass(frozen=True, slots=True, kw_only=True)
class Accept:
    type: ClassVar[str] = "accept"
    offer_id: Id


@dataclass(frozen=True, slots=True, kw_only=True)
class Reject:
    type: ClassVar[str] = "reject"
    offer_id: Id
    reason: Reason | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class End:
    """End a live session; an agent names it, a caller ends their own."""

    type: ClassVar[str] = "end"
    session_id: Id | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer:
    """Blind transfer of a live session to a queue or to a named agent (exactly one)."""

    type: ClassVar[str] = "transfer"
    session_id: Id
    to_queue: Category | None = None
    to_agent: Id | None = None

    def __post_init__(self) -> None:
        if (self.to_queue is None) == (self.to_agent is None):
            raise ProtocolError(ErrorCode.BAD_FIELD, "exactly one of to_queue, to_agent")


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    type: ClassVar[str] = "ping"
    nonce: Nonce | None = None


ClientMessage = (
    Hello
    | JoinQueue
    | LeaveQueue
    | RequestCallback
    | RequestVoicemail
    | SetPresence
    | Accept
    | Reject
    | End
    | Transfer
    | Ping
)

CLIENT_TYPES: dict[str, type[ClientMessage]] = {
    cls.type: cls
    for cls in (
        Hello,
        JoinQueue,
        LeaveQueue,
        RequestCallback,
        RequestVoicemail,
        SetPresence,
        Accept,
        Reject,
        End,
        Transfer,
        Ping,
    )
}

# --- server → client --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Welcome:
    """Answer to ``hello``: who you are to us, and the token to resume with."""

    type: ClassVar[str] = "welcome"
    role: Role
    resume_token: Token
    resumed: bool
    grace_s: Seconds
    agent_id: Id | None = None
    session_id: Id | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Queued:
    type: ClassVar[str] = "queued"
    session_id: Id
    category: Category


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """Place in line (1 = next) and estimated wait; at most once every 5 s per caller."""

    type: ClassVar[str] = "position"
    session_id: Id
    position: Count
    estimated_wait_s: Seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected:
    """Sent to both caller and agent when an offer is accepted."""

    type: ClassVar[str] = "connected"
    session_id: Id
    agent_id: Id


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackOffered:
    """The wait is long: the caller may ask for a callback and keep their place."""

    type: ClassVar[str] = "callback_offered"
    session_id: Id


@dataclass(frozen=True, slots=True, kw_only=True)
class Ended:
    type: ClassVar[str] = "ended"
    session_id: Id
    outcome: Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """A session proposed to this agent until ``expires_in_s``; ``phone`` is masked."""

    type: ClassVar[str] = "offer"
    offer_id: Id
    session_id: Id
    category: Category
    priority: PriorityName
    kind: OfferKind
    expires_in_s: Seconds
    waited_s: Seconds = 0.0
    language: Language | None = None
    phone: Annotated[str, Text(1, 24)] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferCancelled:
    type: ClassVar[str] = "offer_cancelled"
    offer_id: Id
    session_id: Id
    reason: CancelReason


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceChanged:
    """The agent's presence as the router sees it (e.g. a break after missed offers)."""

    type: ClassVar[str] = "presence_changed"
    state: Presence
    reason: Reason | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Error:
    """A message was refused; nothing changed. ``ref`` is the refused message's type."""

    type: ClassVar[str] = "error"
    code: ErrorCode
    detail: Annotated[str, Text(0, 500)]
    ref: Annotated[str, Text(0, 40)] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong:
    type: ClassVar[str] = "pong"
    nonce: Nonce | None = None


ServerMessage = (
    Welcome
    | Queued
    | Position
    | Connected
    | CallbackOffered
    | Ended
    | Offer
    | OfferCancelled
    | PresenceChanged
    | Error
    | Pong
)

SERVER_TYPES: dict[str, type[ServerMessage]] = {
    cls.type: cls
    for cls in (
        Welcome,
        Queued,
        Position,
        Connected,
        CallbackOffered,
        Ended,
        Offer,
        OfferCancelled,
        PresenceChanged,
        Error,
        Pong,
    )
}

Message = ClientMessage | ServerMessage


def _load(raw: str | bytes) -> dict[str, Any]:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"messages are at most {MAX_MESSAGE_BYTES} bytes")
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        # UnicodeDecodeError and JSONDecodeError are both ValueErrors.
        raise ProtocolError(ErrorCode.BAD_JSON, "not a JSON document") from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_JSON, "a message is a JSON object")
    if "v" not in obj:
        raise ProtocolError(ErrorCode.MISSING_FIELD, "missing field 'v'")
    version = obj["v"]
    if isinstance(version, bool) or version != PROTOCOL_VERSION:
        raise ProtocolError(ErrorCode.BAD_VERSION, f"this server speaks v{PROTOCOL_VERSION}")
    if "type" not in obj:
        raise ProtocolError(ErrorCode.MISSING_FIELD, "missing field 'type'")
    if not isinstance(obj["type"], str):
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, "type must be a string")
    return obj


def _parse(raw: str | bytes, table: dict[str, type[Any]]) -> Any:
    obj = _load(raw)
    cls = table.get(obj["type"])
    if cls is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown type {obj['type'][:40]!r}")
    return decode(cls, obj, envelope=_ENVELOPE)


def parse(raw: str | bytes) -> ClientMessage:
    """Parse and validate one client message; raises only ``ProtocolError``."""
    msg: ClientMessage = _parse(raw, CLIENT_TYPES)
    return msg


def parse_server(raw: str | bytes) -> ServerMessage:
    """Parse a server message (for clients, tests and benchmarks)."""
    msg: ServerMessage = _parse(raw, SERVER_TYPES)
    return msg


def peek_type(raw: str | bytes) -> str | None:
    """The ``type`` of a raw message if it has a short string one (for ``error.ref``)."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if isinstance(obj, dict) and isinstance(obj.get("type"), str):
        kind: str = obj["type"]
        return kind[:40]
    return None


def serialize(msg: Message) -> str:
    """The wire form of a message: compact JSON with ``v`` and ``type`` first."""
    return json.dumps(
        {"v": PROTOCOL_VERSION, "type": msg.type, **encode(msg)},
        ensure_ascii=False,
        separators=(",", ":"),
    )
