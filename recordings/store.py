"""Recording metadata in the record: the sink media/ reports to, integrity, audited reads.

- ``DatabaseRecordingSink``: ``media/`` calls ``recording_finished`` once per participant
  file when a recording stops; it writes one ``cases.models.Recording`` row per recording
  (room, start, end, manifest path) and one ``RecordingFile`` row per file (participant,
  path, size, SHA-256). Calling it again with the same file changes nothing; a second
  call that disagrees (another room for the recording id, another hash for the file) is a
  ``RecordingConflict``, never a silent overwrite of an integrity hash.
- ``verify_integrity``: recompute each file's size and SHA-256 and list what differs.
- ``open_recording``: the one way to read a recording's metadata (and so find its files).
  Every attempt is audited (DESIGN.md "Security": every read of a recording is audited):
  ``recording.read`` when granted, ``recording.read_denied`` when refused.

Files are keyed by their path within a recording rather than by participant alone: a
participant who leaves and comes back during one recording gets a second file
(``media.recording.RoomRecording.add``), and both must be kept.

Who may read a recording: active supervisors and admins; the agent of the session the
recording belongs to; the owner of a case opened for that session; back-office staff,
the recordings of a session that left a voicemail ticket (the voice message they
answer: the session was never answered, so it has no call recording).

``recordings_of_rooms``: the recordings of some rooms (the voicemail rooms of the
tickets a page lists), newest first, for a page to link to.

``discard_room``: delete a room's recordings, files and rows (a voice message its caller
cancelled or hung up on: nobody is to hear it), audited as ``recording.discarded``; a
file outside the recordings directory is never touched.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from cases import audit, staff
from cases.db import Database
from cases.models import (
    SUPERVISOR_ROLES,
    Case,
    Recording,
    RecordingFile,
    Role,
    SessionRecord,
    Ticket,
    TicketKind,
)
from recordings.errors import (
    RecordingAccessDenied,
    RecordingConflict,
    RecordingNotFound,
    RecordingsError,
    RecordingStoreError,
)
from recordings.model import RecordedParticipant

log = logging.getLogger("recordings.store")

DISCARD_ACTION = "recording.discarded"
READ_ACTION = "recording.read"
READ_DENIED_ACTION = "recording.read_denied"
READ_ANY = SUPERVISOR_ROLES

# Column widths in cases.models (checked here so SQLite and PostgreSQL behave alike:
# SQLite would store a longer value, PostgreSQL would refuse it).
ID_MAX = 64
PATH_MAX = 512


# ---------------------------------------------------------------- the sink
class DatabaseRecordingSink:
    """``media``'s ``RecordingSink``, writing recording metadata to the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def recording_finished(self, recording: RecordedParticipant) -> None:
        _check_lengths(recording)
        for attempt in (1, 2):
            try:
                async with self.db.session() as session:
                    await _store(session, recording)
            except IntegrityError as exc:
                # Another writer inserted the same recording row between our read and
                # our insert: the second attempt finds it.
                if attempt == 2:
                    raise RecordingStoreError(f"cannot store {_describe(recording)}") from exc
                continue
            except SQLAlchemyError as exc:
                log.error("recording_not_stored", extra={"recording": _describe(recording)})
                raise RecordingStoreError(f"cannot store {_describe(recording)}: {exc}") from exc
            break
        log.info(
            "recording_stored",
            extra={
                "recording": recording.recording_id,
                "room": recording.room_id,
                "participant": recording.participant_id,
                "bytes": recording.media.size,
            },
        )


def _describe(recording: RecordedParticipant) -> str:
    return f"recording {recording.recording_id} ({recording.participant_id})"


def _check_lengths(recording: RecordedParticipant) -> None:
    for name, value, limit in (
        ("recording id", recording.recording_id, ID_MAX),
        ("room id", recording.room_id, ID_MAX),
        ("participant id", recording.participant_id, ID_MAX),
        ("file path", recording.media.path, PATH_MAX),
        ("manifest path", recording.manifest.path, PATH_MAX),
    ):
        if len(value) > limit:
            raise RecordingsError(f"{name} longer than {limit} characters: {value[:80]!r}…")


async def _store(session: AsyncSession, recording: RecordedParticipant) -> None:
    row = await session.get(Recording, recording.recording_id)
    if row is None:
        row = Recording(
            id=recording.recording_id,
            room_id=recording.room_id,
            session_id=recording.session_id,
            started_at=recording.started_at,
            ended_at=recording.ended_at,
            manifest_path=recording.manifest.path,
            files=[],
        )
        session.add(row)
        await session.flush()
    elif row.room_id != recording.room_id:
        raise RecordingConflict(
            f"recording {row.id} belongs to room {row.room_id}, not {recording.room_id}"
        )
    else:
        if row.ended_at is None or _utc(row.ended_at) < recording.ended_at:
            row.ended_at = recording.ended_at
        if row.manifest_path is None:
            row.manifest_path = recording.manifest.path
    for existing in row.files:
        if existing.path != recording.media.path:
            continue
        if (existing.participant, existing.size_bytes, existing.sha256) != (
            recording.participant_id,
            recording.media.size,
            recording.media.sha256,
        ):
            raise RecordingConflict(
                f"{existing.path} is already recorded for {existing.participant} with "
                f"{existing.size_bytes} bytes, SHA-256 {existing.sha256}"
            )
        return  # the same file reported again: nothing to do
    row.files.append(
        RecordingFile(
            participant=recording.participant_id,
            path=recording.media.path,
            size_bytes=recording.media.size,
            sha256=recording.media.sha256,
        )
    )


# ---------------------------------------------------------------- integrity
@dataclass(frozen=True)
class IntegrityProblem:
    """One way a recording on disk differs from the record."""

    path: str
    participant: str | None  # None: the recording's manifest
    problem: str  # "missing", "size" or "sha256"
    expected: str | None = None
    actual: str | None = None


def _size_and_sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return path.stat().st_size, digest.hexdigest()


def _check_file(row: RecordingFile) -> list[IntegrityProblem]:
    path = Path(row.path)
    try:
        size, sha256 = _size_and_sha256(path)
    except FileNotFoundError:
        return [IntegrityProblem(row.path, row.participant, "missing")]
    problems = []
    if size != row.size_bytes:
        problems.append(
            IntegrityProblem(row.path, row.participant, "size", str(row.size_bytes), str(size))
        )
    if sha256 != row.sha256:
        problems.append(IntegrityProblem(row.path, row.participant, "sha256", row.sha256, sha256))
    return problems


async def verify_integrity(db: Database, recording_id: str) -> list[IntegrityProblem]:
    """Recompute every file's size and SHA-256; an empty list means all match the record."""
    async with db.session() as session:
        row = await session.get(Recording, recording_id)
        if row is None:
            raise RecordingNotFound(f"no recording {recording_id}")
        files = list(row.files)
        manifest = row.manifest_path
    problems: list[IntegrityProblem] = []
    if manifest is not None and not await asyncio.to_thread(Path(manifest).is_file):
        problems.append(IntegrityProblem(manifest, None, "missing"))
    for file in files:
        problems.extend(await asyncio.to_thread(_check_file, file))
    return problems


# ---------------------------------------------------------------- audited reads
@dataclass(frozen=True)
class RecordedFileView:
    participant: str
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class RecordingView:
    """What a viewer who may read a recording is given: its metadata and file paths."""

    recording_id: str
    room_id: str
    session_id: str | None
    started_at: dt.datetime
    ended_at: dt.datetime | None
    manifest_path: str | None
    files: tuple[RecordedFileView, ...]


async def open_recording(
    db: Database, *, recording_id: str, viewer_user_id: int, viewer_name: str
) -> RecordingView:
    """Check the viewer may read the recording, audit the read, return its metadata.

    A refusal (no such recording, unknown or inactive user, no right to it) is audited as
    ``recording.read_denied`` and raises ``RecordingNotFound`` or ``RecordingAccessDenied``.
    """
    target = f"recording:{recording_id}"[:200]
    refusal: RecordingsError | None = None
    view: RecordingView | None = None
    try:
        async with db.session() as session:
            row = await session.get(Recording, recording_id)
            user = await staff.user_by_id(session=session, user_id=viewer_user_id)
            if row is None:
                refusal = RecordingNotFound(f"no recording {recording_id}")
            elif user is None or not user.active:
                refusal = RecordingAccessDenied("unknown or inactive user")
            elif not await _may_read(session, row, user.id, user.role_set):
                refusal = RecordingAccessDenied(
                    f"{viewer_name} may not read recording {recording_id}"
                )
            await audit.record(
                session=session,
                actor=viewer_name,
                actor_user_id=user.id if user is not None else None,
                action=READ_DENIED_ACTION if refusal is not None else READ_ACTION,
                target=target,
                detail={"reason": str(refusal)}
                if refusal is not None
                else {"room": row.room_id if row else None},
            )
            if refusal is None:
                assert row is not None
                view = _view(row)
    except SQLAlchemyError as exc:
        raise RecordingStoreError(f"cannot read recording {recording_id}: {exc}") from exc
    if refusal is not None:
        raise refusal
    assert view is not None
    return view


async def _may_read(
    session: AsyncSession, row: Recording, user_id: int, roles: frozenset[Role]
) -> bool:
    if roles & READ_ANY:
        return True
    if row.session_id is None:
        return False
    if Role.BACK_OFFICE in roles:
        voicemail = await session.scalar(
            select(Ticket.id).where(
                Ticket.session_id == row.session_id, Ticket.kind == TicketKind.VOICEMAIL.value
            )
        )
        if voicemail is not None:
            return True
    live = await session.get(SessionRecord, row.session_id)
    if live is not None and live.agent_user_id == user_id:
        return True
    owner = await session.scalar(
        select(Case.id).where(Case.session_id == row.session_id, Case.owner_user_id == user_id)
    )
    return owner is not None


@dataclass(frozen=True)
class RecordingRef:
    """A recording a page may link to (reading it is ``open_recording``'s, audited)."""

    recording_id: str
    room_id: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    files: int


async def recordings_of_rooms(
    *, session: AsyncSession, rooms: list[str]
) -> dict[str, list[RecordingRef]]:
    """Each room's recordings, newest first (rooms without any are left out)."""
    if not rooms:
        return {}
    rows = await session.scalars(
        select(Recording).where(Recording.room_id.in_(rooms)).order_by(Recording.started_at.desc())
    )
    found: dict[str, list[RecordingRef]] = {}
    for row in rows:
        found.setdefault(row.room_id, []).append(
            RecordingRef(
                recording_id=row.id,
                room_id=row.room_id,
                started_at=_utc(row.started_at),
                ended_at=_utc(row.ended_at) if row.ended_at is not None else None,
                files=len(row.files),
            )
        )
    return found


async def discard_room(db: Database, *, room_id: str, recording_dir: Path, actor: str) -> int:
    """Delete every recording of ``room_id`` (files first, then rows); how many."""
    root = await asyncio.to_thread(recording_dir.resolve)
    try:
        async with db.session() as session:
            rows = list(
                await session.scalars(select(Recording).where(Recording.room_id == room_id))
            )
            for row in rows:
                paths = [Path(f.path) for f in row.files]
                if row.manifest_path:
                    paths.append(Path(row.manifest_path))
                for path in paths:
                    await asyncio.to_thread(_unlink_inside, path, root)
                await session.delete(row)
                await audit.record(
                    session=session,
                    actor=actor[:100],
                    action=DISCARD_ACTION,
                    target=f"recording:{row.id}"[:200],
                    detail={"room": room_id, "session": row.session_id, "files": len(paths)},
                )
    except SQLAlchemyError as exc:
        raise RecordingStoreError(f"cannot discard the recordings of {room_id}: {exc}") from exc
    return len(rows)


def _unlink_inside(path: Path, root: Path) -> None:
    path = path.resolve()
    if path.is_relative_to(root):
        path.unlink(missing_ok=True)
        if path.parent != root and not any(path.parent.iterdir()):
            path.parent.rmdir()  # the recording's own directory, now empty
    else:
        log.warning("recording_file_outside", extra={"path": str(path)})


def _view(row: Recording) -> RecordingView:
    return RecordingView(
        recording_id=row.id,
        room_id=row.room_id,
        session_id=row.session_id,
        started_at=_utc(row.started_at),
        ended_at=_utc(row.ended_at) if row.ended_at is not None else None,
        manifest_path=row.manifest_path,
        files=tuple(
            RecordedFileView(f.participant, f.path, f.size_bytes, f.sha256)
            for f in sorted(row.files, key=lambda f: (f.participant, f.path))
        ),
    )


def _utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


__all__ = [
    "DISCARD_ACTION",
    "READ_ACTION",
    "READ_DENIED_ACTION",
    "DatabaseRecordingSink",
    "IntegrityProblem",
    "RecordedFileView",
    "RecordingRef",
    "RecordingView",
    "discard_room",
    "open_recording",
    "recordings_of_rooms",
    "verify_integrity",
]
