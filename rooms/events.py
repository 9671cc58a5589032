"""Events fed to :meth:`rooms.room.Room.handle`: frozen dataclasses, one per happening.

``by`` is the participant who asks (already known to be in the room's seat by the
caller, or refused by the room with ``NotInRoom``).
"""

from __future__ import annotations

import dataclasses

from rooms.model import ParticipantId, Role


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """Base of all events."""


@dataclasses.dataclass(frozen=True, slots=True)
class Joined(Event):
    """``participant`` entered the room (again, if a reconnect: same seat, same role)."""

    participant: ParticipantId
    role: Role
    name: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Left(Event):
    """``participant`` left (or its connection dropped)."""

    participant: ParticipantId


@dataclasses.dataclass(frozen=True, slots=True)
class HoldAsked(Event):
    """``by`` puts the callers and parties on hold (``on``) or takes them off it."""

    by: ParticipantId
    on: bool


@dataclasses.dataclass(frozen=True, slots=True)
class MuteAsked(Event):
    """``by`` mutes or unmutes ``participant``'s ``kind`` ("audio" or "video")."""

    by: ParticipantId
    participant: ParticipantId
    kind: str
    muted: bool


@dataclasses.dataclass(frozen=True, slots=True)
class RecordingAsked(Event):
    """``by`` starts (``on``) or stops the room's recording."""

    by: ParticipantId
    on: bool


@dataclasses.dataclass(frozen=True, slots=True)
class RecordingLimitReached(Event):
    """The recording has run for its kind's limit (``Room.recording_limit_s``); media's
    clock says so, the room has none."""
