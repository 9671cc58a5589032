"""Outcomes reach a real database: SQLite through SQLAlchemy and the cases models."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from cases.db import Database
from cases.models import Base, SessionRecord
from hotline import keys
from hotline.contact import Contact
from routing import actions as act
from signaling import protocol as p
from signaling.backplane import MemoryBackplane
from signaling.web import SIGNALING, setup_signaling
from tests.signaling.conftest import SECRET, Peer, authenticate, make_config


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'hotline.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield db
    await db.close()


def recorder(db: Database, written: asyncio.Event) -> Callable[[Any], Any]:
    """The composition root's own ``record_outcome``, noting when it has written."""
    app = web.Application()
    app[keys.DB] = db
    contact = Contact(app, ())

    async def record_outcome(action: act.SessionRecorded) -> None:
        await contact.record_outcome(action)
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
