"""Retention and purge: rows and recording files past their period go; dry runs only list."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from cases import audit, callbacks, tickets
from cases.db import Database
from cases.models import (
    CallbackNumber,
    Office,
    Recording,
    RecordingFile,
    SessionRecord,
    Ticket,
    TicketKind,
    TicketStatus,
)
from cases.retention import Retention, purge
from tests.office.helpers import add_session

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=400)
RETENTION = Retention(recordings_days=365, sessions_days=365, tickets_days=365)


async def _seed(db: Database, root: Path) -> list[Path]:
    """An old and a new session, each with a recording on disk, a callback number and a
    closed ticket; plus a file outside the recordings directory that must stay."""
    files = []
    for sid, when in (("S-old", OLD), ("S-new", NOW - timedelta(days=1))):
        await add_session(db, sid, agent_user_id=None, ended_at=when)
        path = root / sid / "caller.webm"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"webm")
        manifest = root / sid / "manifest.json"
        manifest.write_text("{}")
        files += [path, manifest]
        async with db.session() as session:
            session.add(
                Recording(
                    id=f"R-{sid}",
                    room_id=sid,
                    session_id=sid,
                    started_at=when,
                    manifest_path=str(manifest.relative_to(root)),
                    files=[
                        RecordingFile(
                            participant="caller", path=str(path), size_bytes=4, sha256="0" * 64
                        )
                    ],
                )
            )
            await callbacks.store(
                session=session,
                seal=callbacks.NumberSeal("k" * 40),
                session_id=sid,
                number="13912345678",
                retention=RETENTION.callback_numbers,
                now=when,
            )
            ticket = await tickets.open_ticket(
                session=session, kind=TicketKind.REFERRAL, office=Office.NOTARY, actor="t", now=when
            )
            ticket.status = TicketStatus.DONE
            ticket.resolved_at = when
    return files


async def _counts(db: Database) -> dict[str, int]:
    async with db.session() as session:
        return {
            model.__tablename__: int(
                await session.scalar(select(func.count()).select_from(model)) or 0
            )
            for model in (SessionRecord, Recording, RecordingFile, CallbackNumber, Ticket)
        }


class TestPurge:
    async def test_dry_run_lists_and_purge_deletes(self, db: Database, tmp_path: Path) -> None:
        """A dry run changes nothing; the purge deletes the old rows and files only."""
        root = tmp_path / "recordings"
        old_file, old_manifest, new_file, new_manifest = await _seed(db, root)
        before = await _counts(db)
        dry = await purge(db, retention=RETENTION, recording_dir=root, dry_run=True, now=NOW)
        assert dry.counts == {"callback_numbers": 1, "recordings": 1, "sessions": 1, "tickets": 1}
        assert sorted(dry.files) == sorted([str(old_file), str(old_manifest)])
        assert await _counts(db) == before
        assert old_file.exists()

        done = await purge(db, retention=RETENTION, recording_dir=root, now=NOW)
        assert done.to_json()["deleted"]["recording_files"] == 2
        assert not old_file.exists()
        assert not old_manifest.exists()
        assert new_file.exists()
        assert new_manifest.exists()
        assert await _counts(db) == {k: v - 1 for k, v in before.items()}
        async with db.session() as session:
            entries = await audit.recent(session=session, action="retention.purge")
            left = await session.scalar(select(SessionRecord.id))
        assert left == "S-new"
        assert entries[0].detail["sessions"] == 1
        again = await purge(db, retention=RETENTION, recording_dir=root, now=NOW)
        assert not any(again.counts.values())

    async def test_files_outside_the_recordings_directory_are_never_touched(
        self, db: Database, tmp_path: Path
    ) -> None:
        stray = tmp_path / "elsewhere.webm"
        stray.write_bytes(b"keep")
        async with db.session() as session:
            session.add(
                Recording(
                    id="R-x",
                    room_id="x",
                    started_at=OLD,
                    files=[
                        RecordingFile(
                            participant="p", path=str(stray), size_bytes=4, sha256="0" * 64
                        )
                    ],
                )
            )
        report = await purge(
            db, retention=RETENTION, recording_dir=tmp_path / "recordings", now=NOW
        )
        assert report.skipped == [str(stray)]
        assert stray.exists()

    async def test_command_line(self, db: Database, tmp_path: Path) -> None:
        """`hotline purge --dry-run` prints JSON and deletes nothing; `hotline purge` deletes."""
        root = tmp_path / "recordings"
        old_file, *_ = await _seed(db, root)
        env = {
            **os.environ,
            "DATABASE_URL": db.url,
            "HOTLINE_SECRET_KEY": "k" * 40,
            "HOTLINE_DATA_DIR": str(tmp_path),
            "HOTLINE_RETAIN_RECORDINGS_DAYS": "365",
            "HOTLINE_RETAIN_SESSIONS_DAYS": "365",
        }
        dry = json.loads(await _hotline(env, "purge", "--dry-run"))
        assert dry["would_delete"]["sessions"] == 1
        assert old_file.exists()
        report = json.loads(await _hotline(env, "purge"))
        assert report["deleted"]["recording_files"] == 2
        assert report["deleted"]["sessions"] == 1
        assert not old_file.exists()


async def _hotline(env: dict[str, str], *args: str) -> str:
    """Run the real command line in a child process; its standard output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline.cli", *args, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    return out.decode()
