"""Actions returned by :meth:`rooms.room.Room.handle` for ``media/`` to carry out, in order.

``SetRoute`` is one cell of the who-hears-whom matrix: whether ``destination`` receives
``source``'s audio and video. Mutes, hold and the silent roles are all folded into it, so
the matrix is the only thing media enforces. ``Notify`` is a notice for one participant.
"""

from __future__ import annotations

import dataclasses
import enum

from rooms.model import ParticipantId, Role


@dataclasses.dataclass(frozen=True, slots=True)
class Action:
    """Base of all actions."""


@dataclasses.dataclass(frozen=True, slots=True)
class SetRoute(Action):
    source: ParticipantId
    destination: ParticipantId
    audio: bool
    video: bool


class Notice(enum.StrEnum):
    PARTICIPANT_JOINED = "participant_joined"  # about ``participant`` (role, name)
    PARTICIPANT_LEFT = "participant_left"  # about ``participant``
    MUTED = "muted"  # ``participant``'s ``kind`` (un)muted ``by``
    ON_HOLD = "on_hold"  # ``participant`` (the addressee or another) is on hold
    RESUMED = "resumed"  # ``participant`` is off hold
    RECORDED = "recording"  # this room is recorded while it lasts; it cannot be stopped
    RECORDING_STOPPED = "recording_stopped"
    RECORDING_LIMIT = "recording_limit"  # the recording reached its limit and stopped


@dataclasses.dataclass(frozen=True, slots=True)
class Notify(Action):
    """Tell ``to`` something (``notice``) about ``participant``."""

    to: ParticipantId
    notice: Notice
    participant: ParticipantId | None = None
    role: Role | None = None
    name: str | None = None
    kind: str | None = None
    muted: bool | None = None
    by: ParticipantId | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class StartRecording(Action):
    """Record everyone (media announces it to them before the files start).

    ``limit_s``: feed ``RecordingLimitReached`` after this many seconds (None: no limit).
    """

    limit_s: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class StopRecording(Action):
    """Finish the recording's files."""


@dataclasses.dataclass(frozen=True, slots=True)
class CloseRoom(Action):
    """Everyone left: the room is over."""
