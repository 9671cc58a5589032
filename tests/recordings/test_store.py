"""Recording metadata on SQLite and PostgreSQL: the sink, integrity checks, audited reads."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cases import audit, staff
from cases.db import Database
from cases.models import (
    Case,
    CaseKind,
    Recording,
    RecordingFile,
    Role,
    SessionChannel,
    SessionRecord,
)
from recordings.errors import (
    RecordingAccessDenied,
    RecordingConflict,
    RecordingNotFound,
    RecordingsError,
)
from recordings.model import RecordedFile, RecordedParticipant
from recordings.store import (
    READ_ACTION,
    READ_DENIED_ACTION,
    DatabaseRecordingSink,
    IntegrityProblem,
    open_recording,
    verify_integrity,
)

STARTED = dt.datetime(2026, 11, 23, 9, 0, 0, tzinfo=dt.UTC)
ENDED = STARTED + dt.timedelta(minutes=12)
RECORDING_ID = "20261123T090000.000000Z"


def _file(path: Path, content: bytes) -> RecordedFile:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return RecordedFile(str(path), len(content), hashlib.sha256(content).hexdigest())


def recorded(
    directory: Path,
    participant: str,
    *,
    name: str | None = None,
    content: bytes | None = None,
    room: str = "mediation-42",
    recording_id: str = RECORDING_ID,
) -> RecordedParticipant:
    """A finished participant file on disk, as media/ would report it."""
    base = directory / room / recording_id
    manifest = base / "manifest.json"
    if not manifest.exists():
        _file(manifest, b'{"participants": []}\n')
    return RecordedParticipant(
        room_id=room,
        recording_id=recording_id,
        participant_id=participant,
        media=_file(base / f"{name or participant}.webm", content or participant.encode() * 100),
        manifest=_file(manifest, manifest.read_bytes()),
        started_at=STARTED,
        ended_at=ENDED,
        tracks={"audio": 100, "video": 60},
    )


def _tamper(changed: RecordedParticipant, deleted: RecordedParticipant) -> None:
    Path(changed.media.path).write_bytes(b"tampered")
    Path(deleted.media.path).unlink()
    Path(changed.manifest.path).unlink()


async def _rows(db: Database) -> tuple[list[Recording], list[RecordingFile]]:
    async with db.session() as session:
        recordings = list(await session.scalars(select(Recording)))
        files = list(await session.scalars(select(RecordingFile).order_by(RecordingFile.path)))
    return recordings, files


class TestDatabaseRecordingSink:
    async def test_writes_the_recording_and_each_file(self, db: Database, tmp_path: Path) -> None:
        """One Recording row per recording id and one RecordingFile row per file, hash kept."""
        sink = DatabaseRecordingSink(db)
        reports = [recorded(tmp_path, name) for name in ("alice", "bob", "carol")]
        for report in reports:
            await sink.recording_finished(report)
        recordings, files = await _rows(db)
        assert [(r.id, r.room_id) for r in recordings] == [(RECORDING_ID, "mediation-42")]
        row = recordings[0]
        assert row.manifest_path == reports[0].manifest.path
        assert row.started_at.replace(tzinfo=dt.UTC) == STARTED
        assert row.ended_at is not None
        assert row.ended_at.replace(tzinfo=dt.UTC) == ENDED
        assert [(f.participant, f.path, f.size_bytes, f.sha256) for f in files] == [
            (r.participant_id, r.media.path, r.media.size, r.media.sha256) for r in reports
        ]

    async def test_a_calls_recording_names_its_session_before_the_session_is_stored(
        self, db: Database, tmp_path: Path
    ) -> None:
        """A call room's recording keeps its session id though no session row exists yet."""
        report = dataclasses.replace(recorded(tmp_path, "staff-1", room="R-S-1"), session_id="S-1")
        await DatabaseRecordingSink(db).recording_finished(report)
        recordings, _ = await _rows(db)
        assert [(r.room_id, r.session_id) for r in recordings] == [("R-S-1", "S-1")]

    async def test_reporting_again_changes_nothing(self, db: Database, tmp_path: Path) -> None:
        """The same participant file reported twice leaves one row (idempotent)."""
        sink = DatabaseRecordingSink(db)
        report = recorded(tmp_path, "alice")
        await sink.recording_finished(report)
        await sink.recording_finished(report)
        recordings, files = await _rows(db)
        assert len(recordings) == 1
        assert [(f.participant, f.sha256) for f in files] == [("alice", report.media.sha256)]

    async def test_a_participant_who_came_back_keeps_both_files(
        self, db: Database, tmp_path: Path
    ) -> None:
        """Left and rejoined during one recording: two files for one participant, both kept."""
        sink = DatabaseRecordingSink(db)
        first = recorded(tmp_path, "alice")
        second = recorded(tmp_path, "alice", name="alice-3", content=b"second" * 50)
        for report in (first, second, first, second):
            await sink.recording_finished(report)
        _, files = await _rows(db)
        assert [(f.participant, Path(f.path).name) for f in files] == [
            ("alice", "alice-3.webm"),
            ("alice", "alice.webm"),
        ]

    async def test_another_hash_for_a_recorded_file_is_refused(
        self, db: Database, tmp_path: Path
    ) -> None:
        """A report that contradicts a stored hash raises and leaves the stored hash as it was."""
        sink = DatabaseRecordingSink(db)
        report = recorded(tmp_path, "alice")
        await sink.recording_finished(report)
        forged = dataclasses.replace(
            report, media=RecordedFile(report.media.path, report.media.size, "0" * 64)
        )
        with pytest.raises(RecordingConflict):
            await sink.recording_finished(forged)
        _, files = await _rows(db)
        assert [f.sha256 for f in files] == [report.media.sha256]

    async def test_a_recording_id_from_another_room_is_refused(
        self, db: Database, tmp_path: Path
    ) -> None:
        """The same recording id reported for a second room is a conflict, not a merge."""
        sink = DatabaseRecordingSink(db)
        await sink.recording_finished(recorded(tmp_path, "alice"))
        with pytest.raises(RecordingConflict):
            await sink.recording_finished(recorded(tmp_path, "bob", room="other-room"))
        _, files = await _rows(db)
        assert [f.participant for f in files] == ["alice"]

    async def test_ids_longer_than_the_columns_are_refused_on_every_database(
        self, db: Database, tmp_path: Path
    ) -> None:
        """A participant id that would not fit is refused before SQLite could store it."""
        sink = DatabaseRecordingSink(db)
        with pytest.raises(RecordingsError, match="participant id"):
            await sink.recording_finished(recorded(tmp_path, "p" * 65, name="long"))
        assert await _rows(db) == ([], [])


class TestVerifyIntegrity:
    async def test_untouched_files_have_no_problems(self, db: Database, tmp_path: Path) -> None:
        """Freshly recorded files match their size and SHA-256 in the record."""
        sink = DatabaseRecordingSink(db)
        for name in ("alice", "bob"):
            await sink.recording_finished(recorded(tmp_path, name))
        assert await verify_integrity(db, RECORDING_ID) == []

    async def test_changed_missing_and_manifest_files_are_reported(
        self, db: Database, tmp_path: Path
    ) -> None:
        """An altered file shows size and SHA-256 problems; a deleted one shows as missing."""
        sink = DatabaseRecordingSink(db)
        alice, bob = recorded(tmp_path, "alice"), recorded(tmp_path, "bob")
        for report in (alice, bob):
            await sink.recording_finished(report)
        _tamper(alice, bob)
        actual = hashlib.sha256(b"tampered").hexdigest()
        problems = await verify_integrity(db, RECORDING_ID)
        assert problems == [
            IntegrityProblem(alice.manifest.path, None, "missing"),
            IntegrityProblem(alice.media.path, "alice", "size", str(alice.media.size), "8"),
            IntegrityProblem(alice.media.path, "alice", "sha256", alice.media.sha256, actual),
            IntegrityProblem(bob.media.path, "bob", "missing"),
        ]

    async def test_unknown_recording(self, db: Database) -> None:
        """Verifying a recording the record does not hold raises RecordingNotFound."""
        with pytest.raises(RecordingNotFound):
            await verify_integrity(db, "nope")


class TestOpenRecording:
    @pytest.fixture
    async def people(self, db: Database) -> dict[str, int]:
        """A supervisor, two lawyers and an inactive supervisor."""
        ids = {}
        async with db.session() as session:
            for name, role in (
                ("sup", Role.SUPERVISOR),
                ("law", Role.LAWYER),
                ("other", Role.LAWYER),
                ("gone", Role.SUPERVISOR),
            ):
                user = await staff.create_user(
                    session=session,
                    username=name,
                    display_name=name.upper(),
                    password_hash="x",
                    roles=[role],
                )
                user.active = name != "gone"
                ids[name] = user.id
        return ids

    @pytest.fixture
    async def stored(self, db: Database, tmp_path: Path, people: dict[str, int]) -> str:
        """A recording of session s-1, answered by 'law'."""
        await DatabaseRecordingSink(db).recording_finished(recorded(tmp_path, "alice"))
        async with db.session() as session:
            session.add(
                SessionRecord(
                    id="s-1",
                    queue="general",
                    channel=SessionChannel.WEB_VIDEO,
                    agent_user_id=people["law"],
                )
            )
            await session.flush()
            row = await session.get(Recording, RECORDING_ID)
            assert row is not None
            row.session_id = "s-1"
        return RECORDING_ID

    async def _audit(self, db: Database) -> list[tuple[str, str, str | None, int | None]]:
        async with db.session() as session:
            entries = await audit.recent(session=session)
        return [
            (e.action, e.actor, e.target, e.actor_user_id)
            for e in reversed(entries)
            if e.action.startswith("recording.")
        ]

    async def test_a_supervisor_reads_and_the_read_is_audited(
        self, db: Database, stored: str, people: dict[str, int]
    ) -> None:
        """A supervisor gets the metadata; a recording.read entry names them and the recording."""
        view = await open_recording(
            db, recording_id=stored, viewer_user_id=people["sup"], viewer_name="SUP"
        )
        assert view.room_id == "mediation-42"
        assert view.session_id == "s-1"
        assert view.started_at == STARTED
        assert view.ended_at == ENDED
        assert [f.participant for f in view.files] == ["alice"]
        assert await self._audit(db) == [(READ_ACTION, "SUP", f"recording:{stored}", people["sup"])]

    async def test_the_sessions_agent_may_read(
        self, db: Database, stored: str, people: dict[str, int]
    ) -> None:
        """The agent who answered the recorded session may read its recording."""
        view = await open_recording(
            db, recording_id=stored, viewer_user_id=people["law"], viewer_name="LAW"
        )
        assert view.recording_id == stored
        assert [a[0] for a in await self._audit(db)] == [READ_ACTION]

    async def test_the_case_owner_may_read(
        self, db: Database, stored: str, people: dict[str, int]
    ) -> None:
        """The owner of a case opened for the recorded session may read its recording."""
        async with db.session() as session:
            session.add(
                Case(
                    kind=CaseKind.MEDIATION,
                    category="family",
                    session_id="s-1",
                    owner_user_id=people["other"],
                )
            )
        view = await open_recording(
            db, recording_id=stored, viewer_user_id=people["other"], viewer_name="OTHER"
        )
        assert view.recording_id == stored

    async def test_other_staff_are_refused_and_the_refusal_is_audited(
        self, db: Database, stored: str, people: dict[str, int]
    ) -> None:
        """Another lawyer is refused; the attempt is in the audit log as read_denied."""
        with pytest.raises(RecordingAccessDenied):
            await open_recording(
                db, recording_id=stored, viewer_user_id=people["other"], viewer_name="OTHER"
            )
        assert await self._audit(db) == [
            (READ_DENIED_ACTION, "OTHER", f"recording:{stored}", people["other"])
        ]

    async def test_inactive_and_unknown_users_are_refused(
        self, db: Database, stored: str, people: dict[str, int]
    ) -> None:
        """A deactivated supervisor or a user id the record does not know reads nothing."""
        for user_id, name in ((people["gone"], "GONE"), (99999, "ghost")):
            with pytest.raises(RecordingAccessDenied):
                await open_recording(
                    db, recording_id=stored, viewer_user_id=user_id, viewer_name=name
                )
        assert await self._audit(db) == [
            (READ_DENIED_ACTION, "GONE", f"recording:{stored}", people["gone"]),
            (READ_DENIED_ACTION, "ghost", f"recording:{stored}", None),
        ]

    async def test_unknown_recording_is_not_found_and_audited(
        self, db: Database, people: dict[str, int]
    ) -> None:
        """Asking for a recording that does not exist is refused and still audited."""
        with pytest.raises(RecordingNotFound):
            await open_recording(
                db, recording_id="missing", viewer_user_id=people["sup"], viewer_name="SUP"
            )
        async with db.session() as session:
            count = await session.scalar(select(func.count(Recording.id)))
        assert count == 0
        assert await self._audit(db) == [
            (READ_DENIED_ACTION, "SUP", "recording:missing", people["sup"])
        ]
