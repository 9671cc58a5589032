"""The asyncio driver of the routing engine: the leader loop.

One ``Leader`` runs in every process; it waits for the backplane's lease, rebuilds the
engine (snapshot plus replay of the log), then feeds each new log record to the
``Router`` and carries out the effects: messages go out through ``term.commit`` (which
also advances the acted-upon cursor), timers are armed with ``loop.call_at`` and fire
as ``timer`` records appended to the log, outcomes and voicemail tickets are written
by a writer task in log order (a written ticket is appended as a ``ticket`` record, so
its caller is told the message was taken only once it exists). Nothing polls.

The writer takes whatever has queued up, whole log entries at a time, up to
``batch_size`` rows: a ``record_outcome`` that ``RecordsBatches`` writes each batch in
one transaction, and the outcome cursor moves once per batch, so a burst costs one
commit per few hundred rows instead of one per row. A batch that fails is retried whole
and the cursor stays behind it until it is written.

Delivery is at least once across a failover: a leader that dies between acting and
committing has its last batch acted on again by the next one. Outcomes too (a writer
that dies between writing a batch and moving the cursor writes it again): the
``record_outcome`` callable and ``write_batch`` must be idempotent per session id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from routing import actions as act
from routing.model import RoutingConfig
from signaling import protocol as p
from signaling import records as rec
from signaling.backplane.base import Backplane, Delivery, Term, entry_order
from signaling.errors import BackplaneError, LeaseLost
from signaling.router import Effects, RecordedCall, Router, check_config

log = logging.getLogger(__name__)

RecordOutcome = Callable[[RecordedCall], Awaitable[None]]
CreateTicket = Callable[[act.CreateVoicemailTicket], Awaitable[None]]
Clock = Callable[[], float]
Recorded = RecordedCall | act.CreateVoicemailTicket

BATCH_SIZE = 500


@runtime_checkable
class RecordsBatches(Protocol):
    """A ``record_outcome`` that can also write many at once: outcomes and tickets in log
    order, all in one transaction or none. Given one, the driver writes only batches."""

    def write_batch(self, items: Sequence[Recorded], /) -> Awaitable[None]: ...


async def _no_ticket(action: act.CreateVoicemailTicket) -> None:
    log.info("voicemail ticket for session %s (no ticket writer configured)", action.session)


def _after(entry_id: str, mark: str | None) -> bool:
    return mark is None or entry_order(entry_id) > entry_order(mark)


class Leader:
    """Leads while this process holds the lease; waits for it otherwise."""

    def __init__(
        self,
        backplane: Backplane,
        *,
        config: RoutingConfig,
        record_outcome: RecordOutcome,
        create_ticket: CreateTicket | None = None,
        grace_s: float = 30.0,
        snapshot_every: int = 0,
        clock: Clock = time.time,
        tickets_per_hour: int = 30,
        refused: Callable[[str], None] | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        check_config(config)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.backplane = backplane
        self.config = config
        self.record_outcome = record_outcome
        self.create_ticket = create_ticket or _no_ticket
        self.write_batch = (
            record_outcome.write_batch if isinstance(record_outcome, RecordsBatches) else None
        )
        self.batch_size = batch_size
        self.grace_s = grace_s
        self.snapshot_every = snapshot_every
        self.clock = clock
        self.tickets_per_hour = tickets_per_hour
        self.refused = refused or (lambda reason: None)
        self.leading = asyncio.Event()
        self.router: Router | None = None
        self.terms = 0

    async def run(self) -> None:
        """Lead whenever possible, forever (until cancelled by the owner)."""
        while True:
            term = await self.backplane.acquire()
            self.terms += 1
            work = asyncio.create_task(self._lead(term), name="routing-leader")
            try:
                await asyncio.wait([work, term.lost], return_when=asyncio.FIRST_COMPLETED)
                if work.done() and not work.cancelled() and work.exception() is not None:
                    log.error("leader stopped: %r", work.exception())
                elif term.lost.done():
                    log.warning("routing lease lost; standing down")
            finally:
                self.leading.clear()
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await work
                await term.release()
            await asyncio.sleep(0.2)  # back off before trying to lead again

    async def _lead(self, term: Term) -> None:
        checkpoint = await term.load()
        router: Router | None = None
        after = None
        if checkpoint.snapshot is not None:
            try:
                router = Router.restore(
                    checkpoint.snapshot,
                    grace_s=self.grace_s,
                    tickets_per_hour=self.tickets_per_hour,
                )
                after = checkpoint.snapshot_id
            except Exception:
                log.exception("snapshot unusable; replaying the whole log")
        if router is None:
            router = Router.new(
                self.config, grace_s=self.grace_s, tickets_per_hour=self.tickets_per_hour
            )
        self.router = router
        run = _Run(self, term, router, checkpoint.cursor, checkpoint.outcomes_cursor)
        if checkpoint.cursor is None or (
            after is not None and entry_order(checkpoint.cursor) <= entry_order(after)
        ):
            run.go_live()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(run.write_outcomes(), name="outcome-writer")
            tasks.create_task(run.append_timers(), name="timer-appender")
            await run.consume(after)


class _Run:
    """The state of one term: armed timers, outcome queue, cursors."""

    def __init__(
        self, leader: Leader, term: Term, router: Router, cursor: str | None, ocursor: str | None
    ) -> None:
        self.leader = leader
        self.term = term
        self.router = router
        self.cursor = cursor
        self.ocursor = ocursor
        self.live = False
        self.loop = asyncio.get_running_loop()
        self.handles: dict[str, asyncio.TimerHandle] = {}
        self.fired: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
        self.outcomes: asyncio.Queue[tuple[str, list[Recorded]]] = asyncio.Queue()
        self.carried: tuple[str, list[Recorded]] | None = None
        self.pending_outcomes = 0
        self.since_snapshot = 0
        self.snapshots = leader.snapshot_every > 0
        self.applied: str | None = None  # the last entry the router has applied

    # -- timers -----------------------------------------------------------------------

    def go_live(self) -> None:
        self.live = True
        for key, at in self.router.timers.items():
            self._arm(key, at)
        self.leader.leading.set()

    def _arm(self, key: str, at: float) -> None:
        old = self.handles.pop(key, None)
        if old is not None:
            old.cancel()
        delay = max(0.0, at - self.leader.clock())
        self.handles[key] = self.loop.call_at(self.loop.time() + delay, self._fire, key, at)

    def _disarm(self, key: str) -> None:
        handle = self.handles.pop(key, None)
        if handle is not None:
            handle.cancel()

    def _fire(self, key: str, at: float) -> None:
        self.handles.pop(key, None)
        self.fired.put_nowait((key, at))

    async def append_timers(self) -> None:
        try:
            while True:
                key, at = await self.fired.get()
                due = rec.TimerDue(key=key, now=at)
                await self.leader.backplane.append(rec.to_dict(due))
        finally:
            for handle in self.handles.values():
                handle.cancel()
            self.handles.clear()

    # -- the log ----------------------------------------------------------------------

    async def consume(self, after: str | None) -> None:
        batches = self.term.read(after)
        try:
            async for batch in batches:
                await self._batch(batch)
        finally:
            if isinstance(batches, AsyncGenerator):
                await batches.aclose()

    async def _batch(self, batch: list[Any]) -> None:
        deliveries: list[Delivery] = []
        for entry in batch:
            fx = self.router.apply(entry.record)
            if _after(entry.id, self.ocursor):
                self._queue_outcomes(entry.id, fx)
            if not _after(entry.id, self.cursor):
                continue  # acted upon by an earlier term: state only
            for reason in fx.refusals:
                self.leader.refused(reason)
            if not self.live:
                self.go_live()  # arms the router's timers, this entry's included
            else:
                for key in fx.cancel_timers:
                    self._disarm(key)
                for key, at in fx.start_timers:
                    self._arm(key, at)
            deliveries.extend(Delivery(k, p.serialize(m)) for k, m in fx.deliveries)
        last = batch[-1].id
        self.applied = last
        if not _after(last, self.cursor):
            if not self.live and self.cursor is not None and last == self.cursor:
                self.go_live()
            return
        await self.term.commit(deliveries, last)
        self.cursor = last
        self.since_snapshot += len(batch)
        await self._snapshot_if_due()

    async def _snapshot_if_due(self) -> None:
        """Snapshot (which lets the log be trimmed) once enough entries have been acted
        on; called after each batch and whenever the outcome writer catches up, so a
        burst followed by silence is snapshotted too."""
        if (
            self.snapshots
            and self.since_snapshot >= self.leader.snapshot_every
            and self.cursor is not None
            and self.applied == self.cursor  # no batch half-way between apply and commit
        ):
            await self._snapshot(self.cursor)

    async def _snapshot(self, last: str) -> None:
        if self.pending_outcomes:
            return  # a snapshot must not skip outcomes still to be written
        try:
            snapshot = self.router.snapshot()
        except NotImplementedError:
            log.warning("engine has no snapshot(); replaying the whole log on takeover")
            self.snapshots = False
            return
        await self.term.save_snapshot(snapshot, last)
        self.since_snapshot = 0

    # -- outcomes ---------------------------------------------------------------------

    def _queue_outcomes(self, entry_id: str, fx: Effects) -> None:
        items: list[Recorded] = [*fx.outcomes, *fx.tickets]
        if items:
            self.outcomes.put_nowait((entry_id, items))
            self.pending_outcomes += len(items)

    async def _next_batch(self) -> tuple[str, list[Recorded]]:
        """Whole entries in log order, as many as have queued up to ``batch_size`` rows
        (one entry at least, however many rows it has); the last entry's id and the rows."""
        if self.carried is not None:
            (entry_id, batch), self.carried = self.carried, None
        else:
            entry_id, batch = await self.outcomes.get()
        batch = list(batch)
        while not self.outcomes.empty():
            next_id, more = self.outcomes.get_nowait()
            if len(batch) + len(more) > self.leader.batch_size:
                self.carried = (next_id, more)  # the first entry of the next batch
                break
            entry_id = next_id
            batch.extend(more)
        return entry_id, batch

    async def _write(self, items: list[Recorded]) -> None:
        """Write ``items``, removing them from the list as they are written (so a retry
        after a failure writes only what is left)."""
        if self.leader.write_batch is not None:
            await self.leader.write_batch(items)
            items.clear()
            return
        while items:
            item = items[0]
            if isinstance(item, RecordedCall):
                await self.leader.record_outcome(item)
            else:
                await self.leader.create_ticket(item)
            del items[0]

    async def write_outcomes(self) -> None:
        task = asyncio.current_task()
        while True:
            if task is not None and task.cancelling():
                # redis-py may swallow a cancellation (it retries a cancelled call): the
                # writer must still stop, or the leader's shutdown waits on it for ever.
                raise asyncio.CancelledError
            entry_id, items = await self._next_batch()
            count = len(items)
            taken = [i.session for i in items if isinstance(i, act.CreateVoicemailTicket)]
            delay = 0.1
            while items:
                try:
                    await self._write(items)
                except (asyncio.CancelledError, LeaseLost):
                    raise
                except Exception:
                    log.exception("writing %d outcomes failed; retrying in %.1fs", count, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            try:
                await self.term.commit_outcomes(entry_id)
            except BackplaneError as exc:
                log.warning("could not move the outcome cursor: %s", exc)
            self.ocursor = entry_id
            self.pending_outcomes -= count
            for session in taken:  # now its caller may be told (a replay tells once)
                now = self.leader.clock()
                record = rec.TicketTaken(key=f"t:{session}", session=session, now=now)
                try:
                    await self.leader.backplane.append(rec.to_dict(record))
                except BackplaneError as exc:
                    log.warning("could not tell %s its message was taken: %s", session, exc)
            if not self.pending_outcomes:
                await self._snapshot_if_due()
