"""The leader driver without sockets: replay, snapshots, timers and the Redis lease."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from routing.model import RoutingConfig
from signaling import protocol as p
from signaling.backplane import MemoryBackplane
from signaling.backplane.base import Delivery
from signaling.backplane.redis import RedisBackplane
from signaling.driver import Leader
from signaling.errors import LeaseLost
from tests.signaling.conftest import Outcomes, delete_prefix, make_config, profile


class Inbox:
    """Receives deliveries, parsed, per connection key."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, p.ServerMessage]] = []
        self.arrived = asyncio.Event()

    def __call__(self, key: str, payload: str) -> None:
        self.messages.append((key, p.parse_server(payload)))
        self.arrived.set()

    def of(self, cls: type[Any]) -> list[tuple[str, Any]]:
        return [(k, m) for k, m in self.messages if isinstance(m, cls)]

    async def wait_for(self, cls: type[Any], count: int = 1, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while len(self.of(cls)) < count:
                self.arrived.clear()
                await self.arrived.wait()


def attach_agent(agent: str, now: float) -> dict[str, Any]:
    return {
        "t": "attach",
        "key": f"a:{agent}",
        "conn": f"conn-a:{agent}",
        "now": now,
        "profile": profile(agent).to_dict(),
    }


def attach_caller(key: str, now: float) -> dict[str, Any]:
    return {"t": "attach", "key": key, "conn": f"conn-{key}", "now": now}


def msg(key: str, now: float, **m: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"t": "msg", "key": key, "conn": f"conn-{key}", "now": now, "m": m}
    if m["type"] == "join_queue":
        record["sid"] = f"S-{key[2:]}"
    return record


class Harness:
    """A memory backplane and a leader task that can be stopped and started again."""

    def __init__(self, config: RoutingConfig, *, snapshot_every: int = 0) -> None:
        self.bp = MemoryBackplane()
        self.inbox = Inbox()
        self.outcomes = Outcomes()
        self.config = config
        self.snapshot_every = snapshot_every
        self.task: asyncio.Task[None] | None = None
        self.leader: Leader | None = None

    async def start(self) -> Leader:
        if self.task is None:
            await self.bp.start(self.inbox)
        self.leader = Leader(
            self.bp,
            config=self.config,
            record_outcome=self.outcomes.record,
            snapshot_every=self.snapshot_every,
            grace_s=1.0,
        )
        self.task = asyncio.create_task(self.leader.run())
        await asyncio.wait_for(self.leader.leading.wait(), 5)
        return self.leader

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def register(self, *keys: str) -> None:
        for key in keys:
            await self.bp.register(key)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness(make_config(ring_timeout_s=0.4))
    yield h
    await h.stop()


class TestReplay:
    async def test_new_leader_rebuilds_state_without_acting_again(self, harness: Harness) -> None:
        """A restarted leader replays the log silently (no message is sent twice) and
        carries on from the same state: the open offer can be accepted."""
        await harness.register("a:A1", "c:u1")
        await harness.start()
        now = time.time()
        await harness.bp.append(attach_agent("A1", now))
        await harness.bp.append(attach_caller("c:u1", now))
        await harness.bp.append(
            msg("c:u1", now, type="join_queue", category="general", language="zh")
        )
        await harness.bp.append(msg("a:A1", now, type="presence", state="available"))
        await harness.inbox.wait_for(p.Offer)
        before = list(harness.inbox.messages)
        first = harness.leader
        assert first is not None
        assert first.router is not None
        state = first.router.snapshot()
        await harness.stop()

        second = await harness.start()
        await asyncio.sleep(0.05)
        assert harness.inbox.messages == before
        assert second.router is not None
        assert second.router.snapshot()["router"]["offers"] == state["router"]["offers"]
        ((_, offer),) = harness.inbox.of(p.Offer)
        await harness.bp.append(msg("a:A1", time.time(), type="accept", offer_id=offer.offer_id))
        await harness.inbox.wait_for(p.Connected, 2)

    async def test_timer_survives_a_change_of_leader(self, harness: Harness) -> None:
        """A ring timer started by one leader is re-armed by the next and fires once."""
        await harness.register("a:A1", "c:u1")
        await harness.start()
        now = time.time()
        await harness.bp.append(attach_agent("A1", now))
        await harness.bp.append(attach_caller("c:u1", now))
        await harness.bp.append(
            msg("c:u1", now, type="join_queue", category="general", language="zh")
        )
        await harness.bp.append(msg("a:A1", now, type="presence", state="available"))
        await harness.inbox.wait_for(p.Offer)
        await harness.stop()
        await harness.start()
        await harness.inbox.wait_for(p.OfferCancelled, within=3)
        ((_, cancelled),) = harness.inbox.of(p.OfferCancelled)
        assert cancelled.reason is p.CancelReason.TIMEOUT
        timers = [e for e in harness.bp.log if e.record["t"] == "timer"]
        assert len({e.record["key"] for e in timers}) == len(timers)

    async def test_outcomes_are_written_once_across_leaders(self, harness: Harness) -> None:
        """An outcome written by one leader is not written again after a restart."""
        await harness.register("c:u1")
        await harness.start()
        now = time.time()
        await harness.bp.append(attach_caller("c:u1", now))
        await harness.bp.append(
            msg("c:u1", now, type="join_queue", category="general", language="zh")
        )
        await harness.bp.append(msg("c:u1", now + 1, type="leave_queue"))
        await harness.outcomes.wait_for(1)
        await asyncio.sleep(0.05)
        await harness.stop()
        await harness.start()
        await asyncio.sleep(0.1)
        assert [o.outcome.value for o in harness.outcomes.recorded] == ["abandoned"]

    async def test_bad_record_is_skipped_not_fatal(self, harness: Harness) -> None:
        """A malformed record in the log is logged and skipped; routing goes on."""
        await harness.register("c:u1")
        await harness.start()
        await harness.bp.append({"t": "msg", "key": "c:u1"})
        await harness.bp.append({"nonsense": True})
        await harness.bp.append(attach_caller("c:u1", time.time()))
        await harness.bp.append(
            msg("c:u1", time.time(), type="join_queue", category="general", language="zh")
        )
        await harness.inbox.wait_for(p.Queued)


class TestSnapshots:
    async def test_snapshot_plus_tail_equals_full_replay(self) -> None:
        """A leader restored from a snapshot and the log's tail reaches the same state
        as one that replays the whole log."""
        h = Harness(make_config(), snapshot_every=3)
        await h.register("a:A1", "a:A2")
        await h.start()
        now = time.time()
        await h.bp.append(attach_agent("A1", now))
        await h.bp.append(attach_agent("A2", now))
        for i in range(6):
            await h.bp.append(attach_caller(f"c:u{i}", now + i))
            await h.bp.append(
                msg(f"c:u{i}", now + i, type="join_queue", category="general", language="zh")
            )
        await h.bp.append(msg("a:A1", now + 7, type="presence", state="available"))
        await h.inbox.wait_for(p.Offer)
        await asyncio.sleep(0.05)
        assert h.bp.snapshot is not None
        await h.stop()
        restored = await h.start()
        assert restored.router is not None
        from_snapshot = json.dumps(restored.router.snapshot(), sort_keys=True)
        await h.stop()
        h.bp.snapshot = None
        replayed = await h.start()
        assert replayed.router is not None
        assert json.dumps(replayed.router.snapshot(), sort_keys=True) == from_snapshot
        await h.stop()


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    prefix = f"test:lease:{uuid.uuid4().hex[:8]}"
    yield prefix
    await delete_prefix(redis_url, prefix)


@pytest.mark.redis
class TestLease:
    async def _started(self, url: str, prefix: str, tasks: list[asyncio.Task[None]]) -> Any:
        bp = RedisBackplane(url, prefix=prefix, lease_ms=600)
        await bp.start(lambda key, payload: None)
        tasks.append(asyncio.create_task(bp.run()))
        await bp.wait_ready()
        return bp

    async def test_one_leader_and_immediate_handover_on_release(
        self, redis_url: str, redis_prefix: str
    ) -> None:
        """While A holds the lease B waits; when A releases it B leads at once."""
        tasks: list[asyncio.Task[None]] = []
        a = await self._started(redis_url, redis_prefix, tasks)
        b = await self._started(redis_url, redis_prefix, tasks)
        try:
            term_a = await a.acquire()
            waiting = asyncio.create_task(b.acquire())
            await asyncio.sleep(1.0)  # longer than the lease: A keeps renewing it
            assert not waiting.done()
            started = time.monotonic()
            await term_a.release()
            term_b = await asyncio.wait_for(waiting, 2)
            assert time.monotonic() - started < 0.3
            await term_b.release()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await a.close()
            await b.close()

    async def test_deposed_leader_cannot_act(self, redis_url: str, redis_prefix: str) -> None:
        """Once another process holds the lease, the old term's commit raises LeaseLost,
        delivers nothing and moves no cursor (fencing)."""
        tasks: list[asyncio.Task[None]] = []
        a = await self._started(redis_url, redis_prefix, tasks)
        try:
            term = await a.acquire()
            await term.commit([], "1-0")
            await a.redis.set(a.keys.lease, "someone-else")
            with pytest.raises(LeaseLost):
                await term.commit([Delivery("a:A1", "{}")], "2-0")
            assert term.lost.done()
            assert (await a.redis.get(a.keys.cursor)) == b"1-0"
            await term.release()
            assert (await a.redis.get(a.keys.lease)) == b"someone-else"
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await a.close()

    async def test_lapsed_lease_is_taken_over(self, redis_url: str, redis_prefix: str) -> None:
        """A holder that stops renewing (a frozen process) loses the lease to a waiter
        within the lease time."""
        tasks: list[asyncio.Task[None]] = []
        a = await self._started(redis_url, redis_prefix, tasks)
        b = await self._started(redis_url, redis_prefix, tasks)
        try:
            term_a = await a.acquire()
            term_a._renewer.cancel()  # frozen: no more renewals
            started = time.monotonic()
            term_b = await asyncio.wait_for(b.acquire(), 3)
            assert time.monotonic() - started < 1.0
            await term_b.release()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await a.close()
            await b.close()


@pytest.mark.redis
class TestLogTrimming:
    async def test_snapshot_trims_what_no_leader_needs(
        self, redis_url: str, redis_prefix: str
    ) -> None:
        """Saving a snapshot drops log entries older than both the snapshot and the
        outcome writer's cursor, and nothing newer; the newest ``log_retain`` stay."""
        bp = RedisBackplane(redis_url, prefix=redis_prefix, lease_ms=2000, log_retain=2)
        await bp.start(lambda key, payload: None)
        listener = asyncio.create_task(bp.run())
        try:
            await bp.wait_ready()
            ids = [await bp.append({"t": "probe", "i": i}) for i in range(10)]
            term = await bp.acquire()
            await term.save_snapshot({"state": 1}, ids[6])  # no outcomes yet: keep all
            assert await bp.redis.xlen(bp.keys.log) == 10
            await term.commit_outcomes(ids[4])
            await term.save_snapshot({"state": 2}, ids[6])  # the writer is further back
            remaining = [e[0].decode() for e in await bp.redis.xrange(bp.keys.log)]
            assert remaining == ids[4:]
            await term.commit_outcomes(ids[8])
            await term.save_snapshot({"state": 3}, ids[7])  # now the snapshot is older
            remaining = [e[0].decode() for e in await bp.redis.xrange(bp.keys.log)]
            assert remaining == ids[7:]
            bp.log_retain = 5  # the newest five are kept whatever the snapshot allows
            await term.save_snapshot({"state": 4}, ids[9])
            assert await bp.redis.xlen(bp.keys.log) == 3  # fewer than five: nothing dropped
            checkpoint = await term.load()
            assert checkpoint.snapshot == {"state": 4}
            await term.release()
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            await bp.close()


class TestMemoryLog:
    async def test_log_is_trimmed_and_stays_bounded_over_rounds(self) -> None:
        """Round after round of callers who join and leave, the embedded log holds no
        more than a snapshot interval and a round (it grew for ever before), the router
        forgets them, and a restarted leader still rebuilds from what is left."""
        h = Harness(make_config(), snapshot_every=100)
        await h.start()
        sizes = []
        try:
            for round_ in range(5):
                now = time.time()
                for i in range(60):
                    key = f"c:r{round_}-{i}"
                    join = msg(key, now, type="join_queue", category="general", language="zh")
                    await h.bp.append(
                        {"t": "attach", "key": key, "conn": f"conn-{key}", "now": now}
                    )
                    await h.bp.append(join)
                    await h.bp.append(msg(key, now, type="leave_queue"))
                    await h.bp.append({"t": "drop", "key": key, "conn": f"conn-{key}", "now": now})
                await h.outcomes.wait_for(60 * (round_ + 1))
                async with asyncio.timeout(5):
                    while h.bp.cursor != f"0-{h.bp.trimmed + len(h.bp.log)}":  # noqa: ASYNC110
                        await asyncio.sleep(0.01)
                sizes.append(len(h.bp.log))
            assert h.bp.trimmed > 0
            assert max(sizes) <= 100 + 4 * 60
            assert h.leader is not None
            assert h.leader.router is not None
            assert h.leader.router.sessions == {}
            assert h.leader.router.caller_conns == {}
            await h.stop()
            second = await h.start()  # from the snapshot and the log that is left
            assert second.router is not None
            assert second.router.sessions == {}
        finally:
            await h.stop()
