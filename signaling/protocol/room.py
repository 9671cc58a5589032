"""Media rooms: join with an SDP offer, renegotiate, leave, mute, record, quality
figures. Every room page (hotline call, mediation, notary) speaks these."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, ClassVar

from signaling.protocol.types import Count, Fraction, Id, Kbps, Millis, Sdp
from signaling.schema import Text


class MediaKind(enum.StrEnum):
    AUDIO = "audio"
    VIDEO = "video"


class RoomRole(enum.StrEnum):
    """A participant's part in a room (``rooms.model.Role``)."""

    HOST = "host"
    CALLER = "caller"
    PARTY = "party"
    OBSERVER = "observer"
    INTERPRETER = "interpreter"
    SUPERVISOR = "supervisor"


class Notice(enum.StrEnum):
    """What a ``room_notice`` tells."""

    ON_HOLD = "on_hold"  # ``participant`` (you, or someone else) is on hold
    RESUMED = "resumed"  # ``participant`` is back from hold
    RECORDING = "recording"  # this room is recorded until it ends; it cannot be stopped
    RECORDING_LIMIT = "recording_limit"  # the recording reached its limit and stopped


class RoomErrorCode(enum.StrEnum):
    """Why a room message was refused (``room_error``); the room is otherwise unchanged."""

    NOT_ALLOWED = "not_allowed"  # not your room, or not for your role
    ROOM_FULL = "room_full"  # the room or every media node is at capacity
    NEGOTIATION_FAILED = "negotiation_failed"  # the SDP could not be used (VP8 + Opus only)
    NOT_IN_ROOM = "not_in_room"  # you, or the participant named, are not in the room
    BAD_STATE = "bad_state"  # e.g. already recording, or an answer nobody asked for
    UNAVAILABLE = "unavailable"  # no media on this server; try again


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
class Hold:
    """The host puts the room's caller (or parties) on hold (``on``) or takes them off.

    Whoever is on hold receives nothing of the room and is heard by nobody.
    """

    type: ClassVar[str] = "hold"
    room: Id
    on: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class GetRoomStats:
    """Staff in the room, supervisors and admins ask for its quality figures (``room_stats``)."""

    type: ClassVar[str] = "get_room_stats"
    room: Id


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
class RoomNotice:
    """Something about the room: a hold (of ``participant``) began or ended, or it is recorded."""

    type: ClassVar[str] = "room_notice"
    room: Id
    notice: Notice
    participant: Id | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantJoined:
    """``participant`` is in the room (sent about each one already there, and each newcomer)."""

    type: ClassVar[str] = "participant_joined"
    room: Id
    participant: Id
    role: RoomRole
    name: Annotated[str, Text(0, 120)]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantLeft:
    type: ClassVar[str] = "participant_left"
    room: Id
    participant: Id


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomError:
    """A room message was refused; ``ref`` is its type."""

    type: ClassVar[str] = "room_error"
    room: Id
    code: RoomErrorCode
    detail: Annotated[str, Text(0, 500)]
    ref: Annotated[str, Text(0, 40)] | None = None


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
