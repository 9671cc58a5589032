"""The policy of a live room: who is in it, in which role, who hears whom.

Pure and deterministic (standard library only, no asyncio, aiohttp or aiortc), in the
Sans-I/O style of ``routing``::

    from rooms import Room, events as ev

    room = Room("R-S-1")                                   # a hotline call's room
    actions = room.handle(ev.Joined(ParticipantId("staff-7"), Role.HOST, "Lawyer Li"))

* ``rooms.model``   — ids, roles, modes, kinds of room and their transition tables.
* ``rooms.events``  — what media feeds in: joined, left, hold, mute, recording asked.
* ``rooms.actions`` — what comes out: ``SetRoute`` (one cell of the who-hears-whom
  matrix), ``Notify``, ``StartRecording`` / ``StopRecording``, ``CloseRoom``.
* ``rooms.errors``  — ``RoomPolicyError`` and its subclasses; an event that raises has
  changed nothing.

docs/media.md has the rules in full.
"""

from __future__ import annotations

from rooms.errors import RoomPolicyError
from rooms.model import ParticipantId, Role, RoomKind, kind_of, session_of
from rooms.room import Room

__all__ = ["ParticipantId", "Role", "Room", "RoomKind", "RoomPolicyError", "kind_of", "session_of"]
