"""Outcomes reach a real database: SQLite through SQLAlchemy and the cases models."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from cases.db import Database
from cases.models import Base, SessionChannel, SessionRecord
from routing import actions as act
from signaling import protocol as p
from signaling.backplane import MemoryBackplane
from signaling.web import SIGNALING, setup_signaling
from tests.signaling.conftest import SECRET, Peer, authenticate, make_config


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'hotline.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield db
    await db.close()


def recorder(db: Database, written: asyncio.Event) -> Callable[[Any], Any]:
    """An idempotent ``record_outcome`` like the one the composition root passes."""

    async def record_outcome(action: act.SessionRecorded) -> None:
        async with db.session() as session:
            if await session.get(SessionRecord, action.session) is None:
                session.add(
                    SessionRecord(
                        id=action.session,
                        queue=action.queue,
                        channel=SessionChannel.WEB_VOICE,
                        priority_class=action.priority,
                        queued_at=_ts(action.queued_at),
                        offered_at=_ts(action.offered_at),
                        answered_at=_ts(action.answered_at),
                        ended_at=_ts(action.ended_at),
                        outcome=action.outcome.value,
                    )
                )
        written.set()

    return record_outcome


async def test_answered_session_is_written_with_its_timestamps(
    aiohttp_client: Callable[..., Any], database: Database
) -> None:
    """A session answered over real sockets lands in the sessions table once, with
    queued ≤ offered ≤ answered ≤ ended."""
    written = asyncio.Event()
    app = web.Application()
    setup_signaling(
        app,
        backplane_factory=MemoryBackplane,
        authenticate=authenticate,
        record_outcome=recorder(database, written),
        engine_config=make_config(),
        resume_secret=SECRET,
    )
    client = await aiohttp_client(app)
    await asyncio.wait_for(app[SIGNALING].leader.leading.wait(), 5)
    caller = Peer(await client.ws_connect("/ws?as=caller:u1"))
    await caller.send("hello")
    await caller.send("join_queue", category="traffic", language="zh", priority="elderly")
    queued = await caller.expect(p.Queued)
    agent = Peer(await client.ws_connect("/ws?as=agent:A1"))
    await agent.send("hello")
    await agent.send("presence", state="available")
    offer = await agent.expect(p.Offer)
    await agent.send("accept", offer_id=offer.offer_id)
    await caller.expect(p.Connected)
    await caller.send("end")
    await caller.expect(p.Ended)
    await asyncio.wait_for(written.wait(), 5)
    async with database.session() as session:
        rows = (await session.scalars(select(SessionRecord))).all()
    assert [(r.id, r.outcome, r.queue, r.priority_class) for r in rows] == [
        (queued.session_id, "answered", "traffic", "elderly")
    ]
    (row,) = rows
    assert row.offered_at is not None
    assert row.answered_at is not None
    assert row.ended_at is not None
    assert row.queued_at <= row.offered_at <= row.answered_at <= row.ended_at
