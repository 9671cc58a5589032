"""What a room is made of: ids, roles, modes, the kind of room and its states.

Every lifecycle here is an enum with an explicit table of allowed transitions
(STYLE.md); ``check`` raises on an illegal one instead of letting it pass.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, NewType

from rooms.errors import IllegalTransition

RoomId = NewType("RoomId", str)
ParticipantId = NewType("ParticipantId", str)

KINDS = ("audio", "video")
"""The media kinds a participant sends; routes and mutes are per kind."""


class Role(enum.StrEnum):
    """A participant's part in the room (DESIGN.md "Packages": rooms/)."""

    HOST = "host"  # the lawyer, mediator or notary who runs it
    CALLER = "caller"  # the person who called the hotline
    PARTY = "party"  # a party to a mediation or a notary act
    OBSERVER = "observer"  # watches and listens; heard by nobody
    INTERPRETER = "interpreter"  # heard by everyone, like a party
    SUPERVISOR = "supervisor"  # monitors: hears everyone, heard by nobody


STAFF = frozenset({Role.HOST, Role.SUPERVISOR})
"""Roles that may mute others and run the room."""

HOLDABLE = frozenset({Role.CALLER, Role.PARTY})
"""Who is put on hold when the host holds the room."""

SILENT = frozenset({Role.OBSERVER, Role.SUPERVISOR})
"""Roles that are heard by nobody (an observer; a monitoring supervisor)."""


class RoomKind(enum.StrEnum):
    """What the room is for, told by its id's prefix."""

    CALL = "call"  # R-<session id>: a hotline call (signaling.router.call_room)
    VOICEMAIL = "voicemail"  # V-<session id>: a waiting caller's recorded message
    MEETING = "meeting"  # any other room: mediation, notary, a staff meeting


CALL_PREFIX = "R-"
VOICEMAIL_PREFIX = "V-"
_PREFIXES = {RoomKind.CALL: CALL_PREFIX, RoomKind.VOICEMAIL: VOICEMAIL_PREFIX}

RECORDING_REQUIRED = frozenset({RoomKind.CALL, RoomKind.VOICEMAIL})
"""Rooms recorded from their first join until they close (12348 calls are recorded;
a voice message is nothing but its recording)."""

RECORDING_LIMIT_S: Mapping[RoomKind, float] = {RoomKind.VOICEMAIL: 120.0}
"""How long a kind's recording may run before the room stops it (issue 8: a message
of up to 2 minutes)."""

SEATS: Mapping[RoomKind, int] = {RoomKind.VOICEMAIL: 1}
"""How many participants a kind of room holds at most (no entry: no limit here)."""

ROLES: Mapping[RoomKind, frozenset[Role]] = {RoomKind.VOICEMAIL: frozenset({Role.CALLER})}
"""The only roles a kind of room admits (no entry: any)."""


def kind_of(room: str) -> RoomKind:
    """The kind of room ``room`` is, from its id."""
    for kind, prefix in _PREFIXES.items():
        if room.startswith(prefix):
            return kind
    return RoomKind.MEETING


def session_of(room: str) -> str | None:
    """The hotline session a call or voicemail room belongs to (``R-``/``V-<session>``)."""
    prefix = _PREFIXES.get(kind_of(room))
    if prefix is not None and len(room) > len(prefix):
        return room[len(prefix) :]
    return None


def voicemail_room(session: str) -> str:
    """The room a waiting caller of ``session`` records a voice message in."""
    return f"{VOICEMAIL_PREFIX}{session}"


class Mode(enum.IntEnum):
    """Who may talk to whom, room-wide."""

    JOINT = 0  # everyone hears everyone (but the silent roles)
    HOLD = 1  # the callers and parties hear nothing and are heard by nobody


class Lifecycle(enum.IntEnum):
    OPEN = 0  # somebody is (or was just about to be) in the room
    CLOSED = 1  # everyone left; the room is gone


class Recording(enum.IntEnum):
    OFF = 0
    ON = 1
    DONE = 2  # stopped at its limit: the room records no more (a full voice message)


_MODES = {
    Mode.JOINT: frozenset({Mode.HOLD}),
    Mode.HOLD: frozenset({Mode.JOINT}),
}
_LIFECYCLE = {
    Lifecycle.OPEN: frozenset({Lifecycle.CLOSED}),
    Lifecycle.CLOSED: frozenset[Lifecycle](),
}
_RECORDING = {
    Recording.OFF: frozenset({Recording.ON}),
    Recording.ON: frozenset({Recording.OFF, Recording.DONE}),
    Recording.DONE: frozenset[Recording](),
}
TRANSITIONS: dict[type[enum.IntEnum], Mapping[Any, frozenset[Any]]] = {
    Mode: _MODES,
    Lifecycle: _LIFECYCLE,
    Recording: _RECORDING,
}


def check(old: enum.IntEnum, new: enum.IntEnum) -> None:
    """Raise ``IllegalTransition`` unless ``old -> new`` is in its enum's table."""
    if new not in TRANSITIONS[type(old)][old]:
        raise IllegalTransition(f"{type(old).__name__}: {old.name} -> {new.name}")
