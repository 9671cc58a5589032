"""Outcomes reach a real database: SQLite through SQLAlchemy and the cases models; a
burst of them, in batches, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import event, select

from bench.outcomes import burst, expected_rows
from cases.db import Database
from cases.models import Base, SessionRecord, Ticket
from hotline import keys
from hotline.contact import Contact, OutcomeWriter
from routing import actions as act
from signaling import protocol as p
from signaling.backplane import MemoryBackplane
from signaling.driver import BATCH_SIZE, Leader, Recorded
from signaling.router import RecordedCall
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

    async def record_outcome(action: RecordedCall) -> None:
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


async def test_a_video_call_is_stored_as_web_video_with_its_town(
    aiohttp_client: Callable[..., Any], db: Database
) -> None:
    """The channel and town the caller joined with reach the stored session (the engine
    routes neither; the router carries them to the writer): a video call from a town is
    ``web_video`` with its town, a voice call beside it ``web_voice`` without one."""
    written = asyncio.Event()
    app = web.Application()
    setup_signaling(
        app,
        backplane_factory=MemoryBackplane,
        authenticate=authenticate,
        record_outcome=recorder(db, written),
        engine_config=make_config(),
        resume_secret=SECRET,
    )
    client = await aiohttp_client(app)
    await asyncio.wait_for(app[SIGNALING].leader.leading.wait(), 5)
    agent = Peer(await client.ws_connect("/ws?as=agent:A1"))
    await agent.send("hello")
    await agent.send("presence", state="available")
    sessions = {}
    for caller_id, fields in (
        ("u1", {"channel": "web_video", "town": "T-0102"}),
        ("u2", {}),
    ):
        written.clear()
        caller = Peer(await client.ws_connect(f"/ws?as=caller:{caller_id}"))
        await caller.send("hello")
        await caller.send("join_queue", category="traffic", language="zh", **fields)
        sessions[caller_id] = (await caller.expect(p.Queued)).session_id
        offer = await agent.expect(p.Offer)
        await agent.send("accept", offer_id=offer.offer_id)
        await caller.expect(p.Connected)
        await agent.expect(p.Connected)
        await caller.send("end")
        await caller.expect(p.Ended)
        await agent.expect(p.Ended)  # no wrap-up: free for the next call
        await asyncio.wait_for(written.wait(), 5)
    async with db.session() as session:
        rows = {r.id: r for r in await session.scalars(select(SessionRecord))}
    video, voice = rows[sessions["u1"]], rows[sessions["u2"]]
    assert (video.channel, video.detail.get("town")) == ("web_video", "T-0102")
    assert (voice.channel, voice.detail.get("town")) == ("web_voice", None)


async def test_a_transferred_video_call_keeps_its_channel_and_town(
    aiohttp_client: Callable[..., Any], db: Database
) -> None:
    """The leg a transfer starts is the same caller on the same channel: both stored
    sessions are ``web_video`` from the caller's town, and the new leg's offer says so
    too."""
    written = asyncio.Event()
    app = web.Application()
    setup_signaling(
        app,
        backplane_factory=MemoryBackplane,
        authenticate=authenticate,
        record_outcome=recorder(db, written),
        engine_config=make_config(),
        resume_secret=SECRET,
    )
    client = await aiohttp_client(app)
    await asyncio.wait_for(app[SIGNALING].leader.leading.wait(), 5)
    first = Peer(await client.ws_connect("/ws?as=agent:A1"))
    await first.send("hello")
    await first.send("presence", state="available")
    caller = Peer(await client.ws_connect("/ws?as=caller:u1"))
    await caller.send("hello")
    await caller.send(
        "join_queue", category="traffic", language="zh", channel="web_video", town="T-0102"
    )
    queued = await caller.expect(p.Queued)
    offer = await first.expect(p.Offer)
    await first.send("accept", offer_id=offer.offer_id)
    await caller.expect(p.Connected)
    await first.expect(p.Connected)
    second = Peer(await client.ws_connect("/ws?as=agent:A2"))
    await second.send("hello")
    await second.expect(p.PresenceChanged)  # signed in, on a break: could take it
    await first.send("transfer", session_id=queued.session_id, to_queue="legal_aid")
    leg = await caller.expect(p.Queued)
    await first.expect(p.Ended)  # no wrap-up: A1 is free again, A2 on a break
    again = await first.expect(p.Offer)
    assert (again.session_id, again.channel, again.town) == (
        leg.session_id,
        p.Channel.WEB_VIDEO,
        "T-0102",
    )
    await first.send("accept", offer_id=again.offer_id)
    await caller.expect(p.Connected)
    await caller.send("end")
    await caller.expect(p.Ended)
    async with asyncio.timeout(10):
        while True:
            async with db.session() as session:
                rows = {r.id: r for r in await session.scalars(select(SessionRecord))}
            if len(rows) == 2:
                break
            await asyncio.sleep(0.05)
    for sid in (queued.session_id, leg.session_id):
        assert (rows[sid].channel, rows[sid].detail.get("town")) == ("web_video", "T-0102"), sid


# -- a burst, batched, on SQLite and PostgreSQL ------------------------------------------

BURST = 1200  # callers; every third leaves a voicemail: 1,200 outcomes and 400 tickets
ROWS = expected_rows(BURST)


class CountingWriter(OutcomeWriter):
    """The composition root's writer, noting each batch it is given; ``done`` once
    ``expected`` rows have been written (a failed batch does not count)."""

    def __init__(self, db: Database, expected: int) -> None:
        super().__init__(lambda: db)
        self.expected = expected
        self.batches: list[int] = []
        self.written = 0
        self.done = asyncio.Event()

    async def write_batch(self, items: Sequence[Recorded]) -> None:
        self.batches.append(len(items))
        await super().write_batch(items)
        self.written += len(items)
        if self.written >= self.expected:
            self.done.set()


async def burst_log(sessions: int) -> tuple[MemoryBackplane, str]:
    """A memory backplane whose log already holds the whole burst; its last entry id."""
    bp = MemoryBackplane()
    await bp.start(lambda key, payload: None)
    last = ""
    for record in burst(sessions):
        last = await bp.append(record)
    return bp, last


async def lead_until_written(bp: MemoryBackplane, writer: CountingWriter, **options: Any) -> None:
    """Run a leader over ``bp`` until ``writer`` has written what it expects, then stop it."""
    leader = Leader(bp, config=make_config(), record_outcome=writer, **options)
    task = asyncio.create_task(leader.run())
    try:
        await asyncio.wait_for(writer.done.wait(), 60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def stored(db: Database) -> tuple[list[str], list[str | None]]:
    async with db.session() as session:
        sessions = list(await session.scalars(select(SessionRecord.id)))
        tickets = list(await session.scalars(select(Ticket.session_id)))
    return sessions, tickets


def assert_burst_stored_once(sessions: list[str], tickets: list[str | None]) -> None:
    assert sorted(sessions) == sorted(f"S-burst{i}" for i in range(BURST))
    assert sorted(t or "" for t in tickets) == sorted(f"S-burst{i}" for i in range(2, BURST, 3))


class TestBurst:
    async def test_written_completely_once_in_batches(self, db: Database) -> None:
        """A burst queued all at once reaches the database whole, each row once, in
        batches of at most 500 rows (whole log entries), and the outcome cursor ends
        at the last entry."""
        bp, last = await burst_log(BURST)
        writer = CountingWriter(db, ROWS)
        await lead_until_written(bp, writer)
        assert_burst_stored_once(*await stored(db))
        assert sum(writer.batches) == ROWS
        assert max(writer.batches) <= BATCH_SIZE
        assert len(writer.batches) == 4  # 1,600 rows: 500 + 500 + 500 + 100, give or take one
        assert bp.outcomes_cursor == last  # timers the leader appended since have none

    async def test_batch_size_one_writes_entry_by_entry(self, db: Database) -> None:
        """``batch_size=1`` writes one log entry (its outcome, and its ticket) at a time."""
        bp, _ = await burst_log(30)
        writer = CountingWriter(db, expected_rows(30))
        await lead_until_written(bp, writer, batch_size=1)
        assert writer.batches == [1, 1, 2] * 10  # leave, leave, voicemail (outcome + ticket)
        sessions, tickets = await stored(db)
        assert (len(sessions), len(tickets)) == (30, 10)

    async def test_a_failure_mid_batch_loses_nothing(self, db: Database) -> None:
        """The database refuses a statement halfway through a batch (its sessions are
        inserted, its tickets fail): the batch is rolled back, retried whole, and in the
        end every row is there exactly once."""
        failures: list[str] = []

        def refuse_tickets_once(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if not failures and statement.lstrip().upper().startswith("INSERT INTO TICKETS"):
                failures.append(statement)
                raise ConnectionResetError("the database went away mid-batch")

        event.listen(db.engine.sync_engine, "before_cursor_execute", refuse_tickets_once)
        try:
            bp, last = await burst_log(BURST)
            writer = CountingWriter(db, ROWS)
            await lead_until_written(bp, writer)
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", refuse_tickets_once)
        assert len(failures) == 1
        assert sum(writer.batches) == ROWS + writer.batches[0]  # the first batch, twice
        assert_burst_stored_once(*await stored(db))
        assert bp.outcomes_cursor == last  # timers the leader appended since have none

    async def test_a_batch_written_again_changes_nothing(self, db: Database) -> None:
        """A writer that died after writing but before moving the outcome cursor has its
        batches written again by the next leader: nothing is stored twice."""
        bp, _ = await burst_log(BURST)
        await lead_until_written(bp, CountingWriter(db, ROWS))
        bp.outcomes_cursor = None  # the cursor move was lost: the next leader rewrites all
        again = CountingWriter(db, ROWS)
        await lead_until_written(bp, again)
        assert sum(again.batches) == ROWS
        assert_burst_stored_once(*await stored(db))


async def test_every_outcome_routing_can_end_with_is_stored(db: Database) -> None:
    """Each of routing's outcomes has a stored value: an interrupted leg (the agent was
    lost mid-call) made the writer retry for ever before."""
    from routing.ids import AgentId, QueueId, SessionId

    writer = OutcomeWriter(lambda: db)
    legs = [
        RecordedCall(
            session=SessionId(f"S-{outcome.value}"),
            queue=QueueId("general"),
            outcome=outcome,
            queued_at=1_800_000_000.0,
            ended_at=1_800_000_060.0,
            agent=AgentId("nobody") if outcome is act.Outcome.INTERRUPTED else None,
            transferred_to=SessionId("S-next") if outcome is act.Outcome.INTERRUPTED else None,
        )
        for outcome in act.Outcome
    ]
    await writer.write_batch(legs)
    async with db.session() as session:
        stored = set(await session.scalars(select(SessionRecord.outcome)))
    assert {o.value for o in stored} == {o.value for o in act.Outcome}
