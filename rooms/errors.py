"""Errors raised by a room's policy.

``Room.handle`` validates an event before it changes anything, so an event that raises
leaves the room exactly as it was; the caller turns the error into a ``room_error``.

Exception tree::

    RoomPolicyError             root of every error raised by ``rooms``
    ├── NotAllowed              the participant's role may not do this
    ├── NotInRoom               the event names someone who is not in the room
    ├── BadState                the room is not in a state where this makes sense
    │   └── RecordingRequired   stopping a recording the room must keep (a hotline call)
    └── IllegalTransition       a lifecycle change the transition table forbids (a bug)
"""

from __future__ import annotations


class RoomPolicyError(Exception):
    """Root of every error raised by ``rooms``."""


class NotAllowed(RoomPolicyError):
    """The participant's role may not do this."""


class NotInRoom(RoomPolicyError):
    """The event names a participant who is not in the room."""


class BadState(RoomPolicyError):
    """The event makes no sense in the room's current state."""


class RecordingRequired(BadState):
    """The room must stay recorded while it lasts (a hotline call)."""


class IllegalTransition(RoomPolicyError):
    """A state change that the transition table forbids."""
