"""The signaling protocol, version 1: JSON objects over one WebSocket.

Every message is a JSON object with ``"v": 1`` and a ``"type"`` from a closed set.
Each type is a frozen dataclass in the module of its feature (``session``, ``queue``,
``room``; field types in ``types``), all re-exported here; ``ClientMessage`` and
``ServerMessage`` are the tagged unions of the two directions. ``parse()`` is the only
way in from a client and raises only ``ProtocolError``; ``serialize()`` is the only way
out. Inside the server nothing handles raw dicts. ``docs/protocol.md`` has one example
of every message.
"""

from __future__ import annotations

import json
import re
from typing import Any

from signaling.errors import ErrorCode, ProtocolError
from signaling.protocol.queue import (
    Accept as Accept,
)
from signaling.protocol.queue import (
    CallbackNumber as CallbackNumber,
)
from signaling.protocol.queue import (
    CallbackOffered as CallbackOffered,
)
from signaling.protocol.queue import (
    CallbackReason as CallbackReason,
)
from signaling.protocol.queue import (
    CallbackResult as CallbackResult,
)
from signaling.protocol.queue import (
    CallbackUnreached as CallbackUnreached,
)
from signaling.protocol.queue import (
    CancelReason as CancelReason,
)
from signaling.protocol.queue import (
    CancelVoicemail as CancelVoicemail,
)
from signaling.protocol.queue import (
    Channel as Channel,
)
from signaling.protocol.queue import (
    Connected as Connected,
)
from signaling.protocol.queue import (
    Consult as Consult,
)
from signaling.protocol.queue import (
    ConsultEndReason as ConsultEndReason,
)
from signaling.protocol.queue import (
    ConsultPhase as ConsultPhase,
)
from signaling.protocol.queue import (
    ConsultSide as ConsultSide,
)
from signaling.protocol.queue import (
    ConsultState as ConsultState,
)
from signaling.protocol.queue import (
    End as End,
)
from signaling.protocol.queue import (
    EndConsult as EndConsult,
)
from signaling.protocol.queue import (
    Ended as Ended,
)
from signaling.protocol.queue import (
    GetTargets as GetTargets,
)
from signaling.protocol.queue import (
    HandOver as HandOver,
)
from signaling.protocol.queue import (
    JoinQueue as JoinQueue,
)
from signaling.protocol.queue import (
    LeaveQueue as LeaveQueue,
)
from signaling.protocol.queue import (
    Offer as Offer,
)
from signaling.protocol.queue import (
    OfferCancelled as OfferCancelled,
)
from signaling.protocol.queue import (
    OfferKind as OfferKind,
)
from signaling.protocol.queue import (
    Position as Position,
)
from signaling.protocol.queue import (
    PresenceChanged as PresenceChanged,
)
from signaling.protocol.queue import (
    PresenceRequest as PresenceRequest,
)
from signaling.protocol.queue import (
    PriorityClass as PriorityClass,
)
from signaling.protocol.queue import (
    Queued as Queued,
)
from signaling.protocol.queue import (
    QueuedReason as QueuedReason,
)
from signaling.protocol.queue import (
    RecordVoicemail as RecordVoicemail,
)
from signaling.protocol.queue import (
    Reject as Reject,
)
from signaling.protocol.queue import (
    RequestCallback as RequestCallback,
)
from signaling.protocol.queue import (
    RequestVoicemail as RequestVoicemail,
)
from signaling.protocol.queue import (
    SetPresence as SetPresence,
)
from signaling.protocol.queue import (
    TargetAgent as TargetAgent,
)
from signaling.protocol.queue import (
    TargetQueue as TargetQueue,
)
from signaling.protocol.queue import (
    Targets as Targets,
)
from signaling.protocol.queue import (
    Transfer as Transfer,
)
from signaling.protocol.queue import (
    VoicemailRoom as VoicemailRoom,
)
from signaling.protocol.room import (
    GetRoomStats as GetRoomStats,
)
from signaling.protocol.room import (
    Hold as Hold,
)
from signaling.protocol.room import (
    JoinRoom as JoinRoom,
)
from signaling.protocol.room import (
    LeaveRoom as LeaveRoom,
)
from signaling.protocol.room import (
    MediaKind as MediaKind,
)
from signaling.protocol.room import (
    Mute as Mute,
)
from signaling.protocol.room import (
    Muted as Muted,
)
from signaling.protocol.room import (
    Notice as Notice,
)
from signaling.protocol.room import (
    ParticipantJoined as ParticipantJoined,
)
from signaling.protocol.room import (
    ParticipantLeft as ParticipantLeft,
)
from signaling.protocol.room import (
    RecordingStarted as RecordingStarted,
)
from signaling.protocol.room import (
    RecordingStopped as RecordingStopped,
)
from signaling.protocol.room import (
    RoomAnswer as RoomAnswer,
)
from signaling.protocol.room import (
    RoomError as RoomError,
)
from signaling.protocol.room import (
    RoomErrorCode as RoomErrorCode,
)
from signaling.protocol.room import (
    RoomJoined as RoomJoined,
)
from signaling.protocol.room import (
    RoomLeft as RoomLeft,
)
from signaling.protocol.room import (
    RoomNotice as RoomNotice,
)
from signaling.protocol.room import (
    RoomOffer as RoomOffer,
)
from signaling.protocol.room import (
    RoomRole as RoomRole,
)
from signaling.protocol.room import (
    RoomStats as RoomStats,
)
from signaling.protocol.room import (
    SetRecording as SetRecording,
)
from signaling.protocol.session import (
    Error as Error,
)
from signaling.protocol.session import (
    Hello as Hello,
)
from signaling.protocol.session import (
    Ping as Ping,
)
from signaling.protocol.session import (
    Pong as Pong,
)
from signaling.protocol.session import (
    Role as Role,
)
from signaling.protocol.session import (
    Welcome as Welcome,
)
from signaling.protocol.types import (
    Category as Category,
)
from signaling.protocol.types import (
    Count as Count,
)
from signaling.protocol.types import (
    Fraction as Fraction,
)
from signaling.protocol.types import (
    Id as Id,
)
from signaling.protocol.types import (
    Kbps as Kbps,
)
from signaling.protocol.types import (
    Language as Language,
)
from signaling.protocol.types import (
    Millis as Millis,
)
from signaling.protocol.types import (
    Nonce as Nonce,
)
from signaling.protocol.types import (
    Outcome as Outcome,
)
from signaling.protocol.types import (
    Phone as Phone,
)
from signaling.protocol.types import (
    Presence as Presence,
)
from signaling.protocol.types import (
    PriorityName as PriorityName,
)
from signaling.protocol.types import (
    Reason as Reason,
)
from signaling.protocol.types import (
    Sdp as Sdp,
)
from signaling.protocol.types import (
    Seconds as Seconds,
)
from signaling.protocol.types import (
    Token as Token,
)
from signaling.schema import decode, encode

PROTOCOL_VERSION = 1


MAX_MESSAGE_BYTES = 8 * 1024


# Room messages carry a whole SDP (no trickle ICE: candidates included), which a browser
# offering every codec it has makes larger than 8 KiB. Only they may be this large.
MAX_SDP_MESSAGE_BYTES = 64 * 1024


# The WebSocket takes frames up to this size so that an oversized message is answered
# with ``too_large`` (and the socket lives) instead of being closed with 1009.
MAX_FRAME_BYTES = 2 * 1024 * 1024


_ENVELOPE = frozenset({"v", "type"})


ClientMessage = (
    Hello
    | JoinQueue
    | LeaveQueue
    | RequestCallback
    | RequestVoicemail
    | RecordVoicemail
    | CancelVoicemail
    | SetPresence
    | Accept
    | Reject
    | End
    | Transfer
    | Consult
    | EndConsult
    | HandOver
    | GetTargets
    | CallbackUnreached
    | Ping
    | JoinRoom
    | RoomAnswer
    | LeaveRoom
    | Mute
    | SetRecording
    | Hold
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
        RecordVoicemail,
        CancelVoicemail,
        SetPresence,
        Accept,
        Reject,
        End,
        Transfer,
        Consult,
        EndConsult,
        HandOver,
        GetTargets,
        CallbackUnreached,
        Ping,
        JoinRoom,
        RoomAnswer,
        LeaveRoom,
        Mute,
        SetRecording,
        Hold,
        GetRoomStats,
    )
}


ServerMessage = (
    Welcome
    | Queued
    | Position
    | Connected
    | CallbackOffered
    | VoicemailRoom
    | Ended
    | Offer
    | CallbackNumber
    | OfferCancelled
    | PresenceChanged
    | ConsultState
    | Targets
    | Error
    | Pong
    | RoomJoined
    | RoomOffer
    | RoomLeft
    | Muted
    | RecordingStarted
    | RecordingStopped
    | RoomNotice
    | ParticipantJoined
    | ParticipantLeft
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
        VoicemailRoom,
        Ended,
        Offer,
        CallbackNumber,
        OfferCancelled,
        PresenceChanged,
        ConsultState,
        Targets,
        Error,
        Pong,
        RoomJoined,
        RoomOffer,
        RoomLeft,
        Muted,
        RecordingStarted,
        RecordingStopped,
        RoomNotice,
        ParticipantJoined,
        ParticipantLeft,
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
