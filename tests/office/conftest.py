"""Fixtures of the office tests."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from cases.db import Database
from cases.models import (
    Disposition,
    Recording,
    RecordingFile,
    Role,
    ServicePoint,
    ServicePointLevel,
    SessionChannel,
    SessionRecord,
    utcnow,
)
from tests.office.helpers import add_session, add_user


@pytest.fixture
async def calls(seeded: Database, tmp_path: Path) -> Database:
    """wang took S-1 (a video call from 石门镇, referred to legal aid, recorded) and S-3
    (answered by voice); li took S-2 (recorded)."""
    wang = await add_user(seeded, "wang", Role.LAWYER)
    li = await add_user(seeded, "li", Role.LAWYER)
    await add_user(seeded, "wu", Role.BACK_OFFICE)
    now = utcnow()
    await add_session(seeded, "S-1", agent_user_id=wang, detail={"town": "T-01"})
    await add_session(seeded, "S-2", agent_user_id=li)
    await add_session(seeded, "S-3", agent_user_id=wang, ended_at=now - timedelta(days=1))
    folder = tmp_path / "recordings"
    folder.mkdir()
    async with seeded.session() as session:
        session.add(ServicePoint(code="T-01", name="石门镇", level=ServicePointLevel.TOWN))
        first = await session.get(SessionRecord, "S-1")
        assert first is not None
        first.channel = SessionChannel.WEB_VIDEO
        first.answered_at = now - timedelta(minutes=4, seconds=5)
        session.add(
            Disposition(
                session_id="S-1",
                agent_user_id=wang,
                kind="referred_legal_aid",
                category="labour_wages",
            )
        )
        for rid, sid in (("R-1", "S-1"), ("R-2", "S-2")):
            path = folder / f"{rid}.webm"
            path.write_bytes(b"webm " + rid.encode())
            session.add(Recording(id=rid, room_id=f"R-{sid}", session_id=sid))
            session.add(
                RecordingFile(
                    recording_id=rid,
                    participant="caller",
                    path=str(path),
                    size_bytes=path.stat().st_size,
                    sha256="0" * 64,
                )
            )
    return seeded
