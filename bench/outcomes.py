"""Benchmark: how fast the outcome writer drains a burst into the database.

A burst of ``sessions`` callers who each join a queue and leave it again (every
``voicemail_every``-th leaves a voicemail instead: an outcome and a ticket) is put in
the log of a memory backplane; the real ``Leader`` acts on it and its outcome writer
writes the rows through the composition root's ``OutcomeWriter`` into a fresh database,
``batch_size`` rows per transaction. The figure is rows written per second, timed from
the writer's first write to its last (the routing engine's replay of the log is not
counted; ``log_s`` reports it), the median over ``repeats`` runs. ``cpu_percent`` is
this process's CPU over the same window.

SQLite is a new file in a temporary folder; PostgreSQL (``DATABASE_URL``) is a new
schema in that database, dropped at the end: the benchmark never touches its tables.

    hotline bench outcomes --sessions 5000 --batch-size 1 500
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from cases.db import Database
from cases.models import Base, SessionRecord, Ticket
from hotline.contact import OutcomeWriter
from routing.model import RoutingConfig, default_queues
from signaling.backplane import MemoryBackplane
from signaling.driver import Leader, Recorded

_T0 = 1_795_392_000.0


def burst(sessions: int, *, voicemail_every: int = 3, now: float = _T0) -> Iterator[dict[str, Any]]:
    """Log records of ``sessions`` callers who join a queue and at once leave it (every
    ``voicemail_every``-th asks for voicemail instead): one outcome each, and a ticket
    for each voicemail."""
    categories = [q.id for q in default_queues()]
    for i in range(sessions):
        key = f"c:burst{i}"
        at = now + i * 0.001
        yield {"t": "attach", "key": key, "conn": f"conn-{i}", "now": at}  # as nodes do
        base = {"t": "msg", "key": key, "conn": f"conn-{i}", "now": at}
        join = {"type": "join_queue", "category": categories[i % len(categories)], "language": "zh"}
        yield {**base, "sid": f"S-burst{i}", "m": join}
        voicemail = voicemail_every > 0 and i % voicemail_every == voicemail_every - 1
        if voicemail:
            yield {**base, "m": {"type": "request_voicemail", "message": f"留言 {i}"}}
        else:
            yield {**base, "m": {"type": "leave_queue"}}


def expected_rows(sessions: int, *, voicemail_every: int = 3) -> int:
    """Outcomes plus tickets that ``burst(sessions, voicemail_every=…)`` produces."""
    tickets = sessions // voicemail_every if voicemail_every > 0 else 0
    return sessions + tickets


class TimedWriter(OutcomeWriter):
    """The real writer, noting when it first started and last finished writing; ``done``
    is set once ``expected`` rows are written."""

    def __init__(self, database: Database, expected: int) -> None:
        super().__init__(lambda: database)
        self.expected = expected
        self.done = asyncio.Event()
        self.first: float | None = None
        self.last = 0.0
        self.cpu_first = 0.0
        self.cpu_last = 0.0
        self.rows = 0
        self.batches = 0

    async def write_batch(self, items: Sequence[Recorded]) -> None:
        if self.first is None:
            self.first, self.cpu_first = time.perf_counter(), time.process_time()
        await super().write_batch(items)
        self.rows += len(items)
        self.batches += 1
        self.last, self.cpu_last = time.perf_counter(), time.process_time()
        if self.rows >= self.expected:
            self.done.set()


@contextlib.asynccontextmanager
async def fresh_database(kind: str, url: str | None) -> AsyncIterator[Database]:
    """An empty database with the current schema, gone afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-outcomes-") as scratch:
            db = Database(f"sqlite:///{Path(scratch) / 'hotline.sqlite3'}")
            try:
                async with db.engine.begin() as conn:
                    await conn.run_sync(Base.metadata.create_all)
                yield db
            finally:
                await db.close()
        return
    assert url is not None
    schema = f"bench_outcomes_{uuid.uuid4().hex[:12]}"
    admin = Database(url)
    try:
        async with admin.engine.begin() as conn:
            await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        db = Database(url, connect_args={"server_settings": {"search_path": schema}})
        try:
            async with db.engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            yield db
        finally:
            await db.close()
    finally:
        async with admin.engine.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


async def _count(db: Database) -> int:
    from sqlalchemy import func, select

    async with db.session() as session:
        sessions = await session.scalar(select(func.count()).select_from(SessionRecord))
        tickets = await session.scalar(select(func.count()).select_from(Ticket))
    return int(sessions or 0) + int(tickets or 0)


async def drain(
    db: Database, *, sessions: int, batch_size: int, voicemail_every: int = 3
) -> dict[str, Any]:
    """One burst through a real leader into ``db``; the figures of that run."""
    backplane = MemoryBackplane()
    await backplane.start(lambda key, payload: None)
    for record in burst(sessions, voicemail_every=voicemail_every):
        await backplane.append(record)
    expected = expected_rows(sessions, voicemail_every=voicemail_every)
    writer = TimedWriter(db, expected)
    config = RoutingConfig(queues=default_queues(), voicemail_outside_shifts=False)
    leader = Leader(backplane, config=config, record_outcome=writer, batch_size=batch_size)
    started = time.perf_counter()
    task = asyncio.create_task(leader.run(), name="bench-leader")
    try:
        async with asyncio.timeout(3600):
            await writer.done.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    written = await _count(db)
    if written != expected:
        raise RuntimeError(f"{written} rows written, {expected} expected")
    assert writer.first is not None
    # The memory log is read as one batch: the engine has acted on all of it before the
    # writer's first write.
    log_s = writer.first - started
    window = writer.last - writer.first
    return {
        "rows": writer.rows,
        "batches": writer.batches,
        "write_s": round(window, 3),
        "rows_per_s": round(writer.rows / window, 1),
        "cpu_percent": round((writer.cpu_last - writer.cpu_first) / window * 100, 1),
        "log_s": round(log_s, 3),
    }


async def _run(
    kind: str,
    url: str | None,
    *,
    sessions: int,
    batch_sizes: Sequence[int],
    repeats: int,
    voicemail_every: int,
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for batch_size in batch_sizes:
        runs = []
        for _ in range(repeats):
            async with fresh_database(kind, url) as db:
                runs.append(
                    await drain(
                        db,
                        sessions=sessions,
                        batch_size=batch_size,
                        voicemail_every=voicemail_every,
                    )
                )
        figures[f"batch_{batch_size}"] = {
            "batch_size": batch_size,
            "rows_per_s_median": statistics.median(r["rows_per_s"] for r in runs),
            "cpu_percent_median": statistics.median(r["cpu_percent"] for r in runs),
            "runs": runs,
        }
    return figures


def run(
    *,
    database_url: str | None = None,
    sessions: int = 5000,
    batch_sizes: Sequence[int] = (1, 500),
    repeats: int = 3,
    voicemail_every: int = 3,
) -> dict[str, Any]:
    """Rows/s of the outcome writer per batch size on SQLite and, when ``database_url``
    names PostgreSQL, on PostgreSQL; one JSON-able dict."""
    options: dict[str, Any] = {
        "sessions": sessions,
        "batch_sizes": list(batch_sizes),
        "repeats": repeats,
        "voicemail_every": voicemail_every,
    }
    result: dict[str, Any] = {
        "benchmark": "outcomes",
        **options,
        "rows_per_burst": expected_rows(sessions, voicemail_every=voicemail_every),
        "sqlite": asyncio.run(_run("sqlite", None, **options)),
    }
    if database_url and database_url.startswith("postgresql"):
        result["postgres"] = asyncio.run(_run("postgres", database_url, **options))
    else:
        result["postgres"] = {"skipped": "DATABASE_URL / --database-url is not PostgreSQL"}
    return result
