"""The SFU: rooms on aiortc that forward encoded frames and never transcode.

- ``media.encoded``: the seam over aiortc's receiver and sender (``av.Packet`` in and out).
- ``media.room`` / ``media.manager``: rooms, participants, renegotiation, keyframes.
- ``media.routes``: who hears and sees whom.
- ``media.recording``: WebM per participant and a manifest, reported to a ``RecordingSink``
  (``recordings.model``: the sink interface and the recorded-file types).
- ``media.stats``: loss, jitter, RTT, bitrate per participant.
- ``media.ice``: ICE servers and coturn REST-API TURN credentials.
- ``media.bots``: aiortc bots for tests and benchmarks.
"""

from media.errors import (
    DuplicateParticipant,
    MediaError,
    NegotiationError,
    RecordingError,
    RoomError,
    RoomFullError,
    SeamError,
    UnknownParticipant,
)
from media.ice import IceSettings, TurnCredentials, rtc_configuration, turn_credentials
from media.manager import NodeLoad, RoomManager
from media.recording import NullSink
from media.room import Participant, ParticipantState, Room
from media.stats import ParticipantStats
from recordings.model import RecordedFile, RecordedParticipant, RecordingSink

__all__ = [
    "DuplicateParticipant",
    "IceSettings",
    "MediaError",
    "NegotiationError",
    "NodeLoad",
    "NullSink",
    "Participant",
    "ParticipantState",
    "ParticipantStats",
    "RecordedFile",
    "RecordedParticipant",
    "RecordingError",
    "RecordingSink",
    "Room",
    "RoomError",
    "RoomFullError",
    "RoomManager",
    "SeamError",
    "TurnCredentials",
    "UnknownParticipant",
    "rtc_configuration",
    "turn_credentials",
]
