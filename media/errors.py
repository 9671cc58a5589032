"""Errors raised by ``media/``.

The tree::

    MediaError                  root of everything media/ raises on purpose
    ├── SeamError               aiortc's internals no longer look the way media/encoded.py
    │                           relies on (an aiortc upgrade moved the seam)
    ├── RoomError               a room operation that cannot be done
    │   ├── RoomFullError       the room or the media node has no capacity left
    │   ├── UnknownParticipant  no such participant in the room
    │   └── DuplicateParticipant
    ├── NegotiationError        an SDP offer/answer could not be applied (wraps aiortc's)
    └── RecordingError          recording cannot start or stop in the room's current state

Only the web layer turns these into HTTP statuses or signaling ``error`` messages.
"""

from __future__ import annotations


class MediaError(Exception):
    """Root of the errors raised by ``media/``."""


class SeamError(MediaError):
    """aiortc's internals moved: the encoded-frame seam must be revisited."""


class RoomError(MediaError):
    """A room operation that cannot be done in the room's current state."""


class RoomFullError(RoomError):
    """The room, or the media node, has no capacity left."""


class UnknownParticipant(RoomError):
    """The participant is not in the room."""


class DuplicateParticipant(RoomError):
    """The participant is already in the room."""


class NegotiationError(MediaError):
    """An SDP offer or answer could not be applied."""


class RecordingError(MediaError):
    """Recording cannot start or stop in the room's current state."""
