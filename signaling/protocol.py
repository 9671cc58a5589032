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
import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from routing.actions import Outcome as Outcome  # how a session ended, one per session
from routing.model import Category as Category  # queue ids are service categories
from routing.presence import Presence as Presence  # reported to agents as routing sees it
from signaling.errors import ErrorCode, ProtocolError
from signaling.schema import Num, Text, decode, encode

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 8 * 1024
# Room messages carry a whole SDP (no trickle ICE: candidates included), which a browser
# offering every codec it has makes larger than 8 KiB. Only they may be this large.
MAX_SDP_MESSAGE_BYTES = 64 * 1024
# The WebSocket takes frames up to this size so that an oversized message is answered
# with ``too_large`` (and the socket lives) instead of being closed with 1009.
MAX_FRAME_BYTES = 2 * 1024 * 1024

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
# A session description, candidates included (aiortc gathers before answering).
Sdp = Annotated[str, Text(1, 60_000)]
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


class Role(enum.StrEnum):
    AGENT = "agent"
    CALLER = "caller"


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


class CallbackReason(enum.StrEnum):
    """Why a callback (or a message) is offered to a waiting caller."""

    LONG_WAIT = "long_wait"  # the caller has waited the queue's maximum
    OFF_DUTY = "off_duty"  # nobody is on duty for the queue now


class QueuedReason(enum.StrEnum):
    """Why a caller is (back) in line under a new session id."""

    TRANSFERRED = "transferred"  # the agent transferred the call
    AGENT_LOST = "agent_lost"  # the agent's connection was lost: back at the head


class MediaKind(enum.StrEnum):
    AUDIO = "audio"
    VIDEO = "video"


class RoomErrorCode(enum.StrEnum):
    """Why a room message was refused (``room_error``); the room is otherwise unchanged."""

    NOT_ALLOWED = "not_allowed"  # not your room, or not for your role
    ROOM_FULL = "room_full"  # the room or every media node is at capacity
    NEGOTIATION_FAILED = "negotiation_failed"  # the SDP could not be used (VP8 + Opus only)
    NOT_IN_ROOM = "not_in_room"  # you, or the participant named, are not in the room
    BAD_STATE = "bad_state"  # e.g. already recording, or an answer nobody asked for
    UNAVAILABLE = "unavailable"  # no media on this server; try again


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
    """A waiting caller leaves a message instead (a ticket answered the next day).

    The message is required: a ticket without one helps nobody.
    """

    type: ClassVar[str] = "request_voicemail"
    message: Annotated[str, Text(1, 2000)]


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


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinRoom:
    """Join a media room with an SDP offer (VP8 + Opus, max-bundle, candidates included)."""

    type: ClassVar[str] = "join_room"
    room: Id
    sdp: Sdp


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomAnswer:
    """The client's answer to the server's ``room_offer`` with the same ``seq``."""

    type: ClassVar[str] = "room_answer"
    room: Id
    seq: Count
    sdp: Sdp


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaveRoom:
    type: ClassVar[str] = "leave_room"
    room: Id


@dataclass(frozen=True, slots=True, kw_only=True)
class Mute:
    """Server-enforced mute of one participant's audio or video for everyone in the room.

    Anyone may mute or unmute themselves; staff may mute anyone.
    """

    type: ClassVar[str] = "mute"
    room: Id
    participant: Id
    kind: MediaKind
    muted: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SetRecording:
    """Staff start (``on``) or stop recording; everyone is told before it starts."""

    type: ClassVar[str] = "set_recording"
    room: Id
    on: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class GetRoomStats:
    """Staff in the room, supervisors and admins ask for its quality figures (``room_stats``)."""

    type: ClassVar[str] = "get_room_stats"
    room: Id


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
    | JoinRoom
    | RoomAnswer
    | LeaveRoom
    | Mute
    | SetRecording
    | GetRoomStats
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
        JoinRoom,
        RoomAnswer,
        LeaveRoom,
        Mute,
        SetRecording,
        GetRoomStats,
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
    reason: QueuedReason | None = None


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
    reason: CallbackReason = CallbackReason.LONG_WAIT


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


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomJoined:
    """Answer to ``join_room``: the server's SDP answer and your id in the room.

    Each stream the client then receives has the sending participant's id as its id.
    """

    type: ClassVar[str] = "room_joined"
    room: Id
    participant: Id
    sdp: Sdp


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomOffer:
    """A server re-offer (someone joined or left); answer with ``room_answer``, same ``seq``."""

    type: ClassVar[str] = "room_offer"
    room: Id
    seq: Count
    sdp: Sdp


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomLeft:
    """You are no longer in the room (you left, or the room closed)."""

    type: ClassVar[str] = "room_left"
    room: Id


@dataclass(frozen=True, slots=True, kw_only=True)
class Muted:
    """Sent to everyone in the room when a participant's audio or video is (un)muted."""

    type: ClassVar[str] = "muted"
    room: Id
    participant: Id
    kind: MediaKind
    muted: bool
    by: Id | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStarted:
    """Recording is about to start: sent to everyone, and to whoever joins, before it does."""

    type: ClassVar[str] = "recording_started"
    room: Id


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStopped:
    type: ClassVar[str] = "recording_stopped"
    room: Id


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomError:
    """A room message was refused; ``ref`` is its type."""

    type: ClassVar[str] = "room_error"
    room: Id
    code: RoomErrorCode
    detail: Annotated[str, Text(0, 500)]
    ref: Annotated[str, Text(0, 40)] | None = None


Fraction = Annotated[float, Num(0, 1)]
Millis = Annotated[float, Num(0, 3_600_000)]
Kbps = Annotated[float, Num(0, 10_000_000)]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomStats:
    """One participant's quality, from the server's side of its connection.

    Answers ``get_room_stats`` with one message per participant (``index`` 1..``count``).
    ``uplink_loss`` and ``jitter_ms`` are on what the participant sends us (the worst
    kind); ``downlink_loss`` and ``rtt_ms`` come from its receiver reports on what we
    send it; bitrates are over the time since the previous sample (absent on the first).
    """

    type: ClassVar[str] = "room_stats"
    room: Id
    participant: Id
    index: Count
    count: Count
    packets_received: Count
    packets_lost: Count
    uplink_loss: Fraction
    jitter_ms: Millis
    downlink_loss: Fraction | None = None
    rtt_ms: Millis | None = None
    bitrate_in_kbps: Kbps | None = None
    bitrate_out_kbps: Kbps | None = None


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
    | RoomJoined
    | RoomOffer
    | RoomLeft
    | Muted
    | RecordingStarted
    | RecordingStopped
    | RoomError
    | RoomStats
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
        RoomJoined,
        RoomOffer,
        RoomLeft,
        Muted,
        RecordingStarted,
        RecordingStopped,
        RoomError,
        RoomStats,
    )
}

# The only types that may exceed MAX_MESSAGE_BYTES (up to MAX_SDP_MESSAGE_BYTES).
SDP_TYPES = frozenset({"join_room", "room_answer", "room_joined", "room_offer"})

Message = ClientMessage | ServerMessage


def _load(raw: str | bytes) -> dict[str, Any]:
    large = len(raw) > MAX_MESSAGE_BYTES
    if len(raw) > MAX_SDP_MESSAGE_BYTES:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"messages are at most {MAX_MESSAGE_BYTES} bytes")
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        # UnicodeDecodeError and JSONDecodeError are both ValueErrors.
        if large:
            raise ProtocolError(ErrorCode.TOO_LARGE, "too large") from None
        raise ProtocolError(ErrorCode.BAD_JSON, "not a JSON document") from None
    if large and not (isinstance(obj, dict) and obj.get("type") in SDP_TYPES):
        raise ProtocolError(
            ErrorCode.TOO_LARGE,
            f"messages are at most {MAX_MESSAGE_BYTES} bytes "
            f"({MAX_SDP_MESSAGE_BYTES} for those carrying an SDP)",
        )
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


_TYPE_NAME = re.compile(r"[a-z][a-z_]{0,39}")


def peek_type(raw: str | bytes) -> str | None:
    """The ``type`` of a raw message for ``error.ref``, if it looks like a type name.

    Only a name of letters and underscores is echoed: whatever else a client put there
    (a lone surrogate, markup) stays out of the reply."""
    if len(raw) > MAX_MESSAGE_BYTES:
        return None
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if isinstance(obj, dict) and isinstance(obj.get("type"), str):
        kind: str = obj["type"]
        if _TYPE_NAME.fullmatch(kind):
            return kind
    return None


def serialize(msg: Message) -> str:
    """The wire form of a message: compact JSON with ``v`` and ``type`` first."""
    return json.dumps(
        {"v": PROTOCOL_VERSION, "type": msg.type, **encode(msg)},
        # ASCII out: whatever text is inside, the frame can always be written.
        ensure_ascii=True,
        separators=(",", ":"),
    )
