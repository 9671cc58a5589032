"""What a finished recording is, and where ``media/`` hands it over.

``media/`` writes one WebM per participant and a manifest per recording, then calls a
``RecordingSink`` once per file. These types are the contract between the two packages;
they live here (``recordings/`` owns recording metadata) and import nothing but the
standard library, so ``media/`` may use them without touching the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RecordedFile:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class RecordedParticipant:
    """One participant's recording, as handed to the ``RecordingSink``."""

    room_id: str
    recording_id: str
    participant_id: str
    media: RecordedFile  # the WebM file
    manifest: RecordedFile  # the room's manifest (shared by the participants' entries)
    started_at: dt.datetime
    ended_at: dt.datetime
    tracks: dict[str, int]  # kind -> packets written
    session_id: str | None = None  # the hotline session of a call's room (R-<session>)


class RecordingSink(Protocol):
    """Receives finished recordings (``recordings.store.DatabaseRecordingSink`` in the app)."""

    async def recording_finished(self, recording: RecordedParticipant) -> None: ...


__all__ = ["RecordedFile", "RecordedParticipant", "RecordingSink"]
