"""The scale-out backplane: a Redis Stream, a renewable lease, pub/sub per process.

Keys, all under one ``prefix``:

* ``{p}:log``      the Stream every process appends routing records to (``XADD``);
* ``{p}:lease``    the leader's token, ``SET NX PX`` and renewed by a Lua check-and-extend;
* ``{p}:cursor``, ``{p}:ocursor``  how far the leader has acted / written outcomes;
* ``{p}:snap``     a hash with the latest snapshot and the entry id it covers;
* ``{p}:conns``    connection key → process id (the connection registry);
* channels ``{p}:proc:{process}`` (deliveries), ``{p}:released`` (lease given up) and
  ``{p}:broadcast`` (to every process).

Fencing: the leader's writes that act on the world (delivering messages, moving the
cursors, saving a snapshot) run in Lua scripts that first check the lease still holds
its token, so a leader that stalled past its lease cannot act after a takeover.
A follower waits for the lease with a timer set to the lease's remaining time, or for
the ``released`` notice; nothing polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from signaling.backplane.base import (
    Backplane,
    BroadcastReceiver,
    Checkpoint,
    Delivery,
    LogEntry,
    Receiver,
    Term,
)
from signaling.backplane.pubsub import blocking_options, subscribe_forever
from signaling.errors import BackplaneError, LeaseLost
from signaling.records import Gone, to_dict

log = logging.getLogger(__name__)

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', KEYS[2], ARGV[1])
  return 1
end
return 0
"""

# KEYS: lease, cursor, conns. ARGV: token, cursor, channel prefix, then key/payload pairs.
_COMMIT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local sent = 0
for i = 4, #ARGV, 2 do
  local proc = redis.call('HGET', KEYS[3], ARGV[i])
  if proc then
    redis.call('PUBLISH', ARGV[3] .. proc, ARGV[i] .. '\\n' .. ARGV[i + 1])
    sent = sent + 1
  end
end
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2]) end
return sent
"""

# KEYS: lease, target. ARGV: token, then field/value pairs for HSET.
_FENCED_HSET = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
return 1
"""

_FENCED_SET = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""

_UNREGISTER = """
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""

# A node's heartbeat: its deadline (Redis clock, ms) in the nodes sorted set.
# KEYS: nodes. ARGV: process id, ttl ms.
_HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return now
"""

# Processes whose heartbeat lapsed, with the connection keys still registered to them;
# they are forgotten as they are reported. KEYS: lease, nodes, conns. ARGV: token,
# key-set prefix.
_REAP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, proc in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  local keys = {}
  for _, key in ipairs(redis.call('SMEMBERS', ARGV[2] .. proc)) do
    if redis.call('HGET', KEYS[3], key) == proc then
      redis.call('HDEL', KEYS[3], key)
      table.insert(keys, key)
    end
  end
  redis.call('DEL', ARGV[2] .. proc)
  redis.call('ZREM', KEYS[2], proc)
  table.insert(out, proc)
  table.insert(out, cjson.encode(keys))
end
return out
"""


class RedisBackplane(Backplane):
    """Backplane over one Redis server (or a primary with replicas for failover)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "hotline:routing",
        lease_ms: int = 3000,
        read_count: int = 1000,
        log_retain: int = 100_000,
        process_id: str | None = None,
    ) -> None:
        self.process_id = process_id or f"p-{uuid.uuid4().hex[:12]}"
        self.prefix = prefix
        self.lease_ms = lease_ms
        self.read_count = read_count
        # The newest entries kept whatever the snapshots allow: a bounded log that still
        # shows recent history to an operator (and to tests).
        self.log_retain = log_retain
        self._url = url
        self.keys = _Keys(prefix)
        self._redis: aioredis.Redis | None = None
        self._reader: aioredis.Redis | None = None
        self._on_gap: Callable[[], None] | None = None
        self._receiver: Receiver | None = None
        self._on_broadcast: BroadcastReceiver | None = None
        self._released = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._local: set[str] = set()

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise BackplaneError("backplane is not started")
        return self._redis

    async def start(
        self,
        receiver: Receiver,
        on_gap: Callable[[], None] | None = None,
        on_broadcast: BroadcastReceiver | None = None,
    ) -> None:
        self._receiver = receiver
        self._on_gap = on_gap
        self._on_broadcast = on_broadcast
        # Ordinary commands fail fast (redis-py's 5 s socket timeout); the blocking XREAD
        # and the pub/sub listener wait indefinitely on their own pool.
        self._redis = aioredis.Redis.from_url(self._url)
        self._reader = aioredis.Redis.from_url(self._url, **blocking_options(self._url))
        try:
            await self._redis.ping()
        except RedisError as exc:
            raise BackplaneError(f"cannot reach Redis: {exc}") from exc
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)
        self._commit = self._redis.register_script(_COMMIT)
        self._fenced_hset = self._redis.register_script(_FENCED_HSET)
        self._fenced_set = self._redis.register_script(_FENCED_SET)
        self._unregister = self._redis.register_script(_UNREGISTER)
        self._heartbeat = self._redis.register_script(_HEARTBEAT)
        self._reap = self._redis.register_script(_REAP)
        await self._beat()

    async def _beat(self) -> None:
        try:
            await self._heartbeat(keys=[self.keys.nodes], args=[self.process_id, 3 * self.lease_ms])
        except RedisError as exc:
            log.warning("heartbeat failed: %s", exc)

    async def _beats(self) -> None:
        """This process is alive: the leader reaps the connections of those that are not."""
        while True:
            await asyncio.sleep(self.lease_ms / 1000)
            await self._beat()

    async def run(self) -> None:
        """Send heartbeats and listen for deliveries until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._beats(), name="backplane-heartbeat")
            await self._listen()

    async def _listen(self) -> None:
        """Listen on this process's channel; resubscribe (and re-register) after errors.

        After a lost connection whatever was sent meanwhile is gone: ``on_gap`` then
        tells the node, which asks its clients to reconnect and resume (they are sent
        their state again).
        """
        channel = self.keys.proc(self.process_id).encode()
        released = self.keys.released.encode()
        broadcast = self.keys.broadcast.encode()

        async def subscribed(lost: bool) -> None:
            if self._local:
                await self.redis.hset(
                    self.keys.conns, mapping=dict.fromkeys(self._local, self.process_id)
                )
                await self.redis.sadd(self.keys.proc_keys(self.process_id), *self._local)
            if lost and self._on_gap is not None:
                self._on_gap()

        def message(source: bytes, data: bytes) -> None:
            if source == released:
                self._released.set()
                return
            if source == broadcast:
                if self._on_broadcast is not None:
                    self._on_broadcast(data.decode())
                return
            key, _, payload = data.decode().partition("\n")
            if self._receiver is not None:
                self._receiver(key, payload)

        await subscribe_forever(
            url=self._url,
            client_name=f"{self.prefix}:{self.process_id}:listener",
            channels=(channel, released, broadcast),
            on_message=message,
            subscribed=self._subscribed,
            on_subscribed=subscribed,
        )

    async def wait_ready(self) -> None:
        """Until the pub/sub listener is subscribed (tests and benchmarks use this)."""
        await self._subscribed.wait()

    async def close(self) -> None:
        self._receiver = None
        self._on_broadcast = None
        if self._redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.zrem(self.keys.nodes, self.process_id)
        for client in (self._redis, self._reader):
            if client is not None:
                await client.aclose()
        self._redis = self._reader = None

    async def append(self, record: Mapping[str, Any]) -> str:
        try:
            entry_id = await self.redis.xadd(self.keys.log, {"r": json.dumps(record)})
        except RedisError as exc:
            raise BackplaneError(f"append failed: {exc}") from exc
        return str(entry_id.decode() if isinstance(entry_id, bytes) else entry_id)

    async def broadcast(self, payload: str) -> None:
        try:
            await self.redis.publish(self.keys.broadcast, payload)
        except RedisError as exc:
            raise BackplaneError(f"broadcast failed: {exc}") from exc

    async def register(self, key: str) -> None:
        self._local.add(key)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(self.keys.conns, key, self.process_id)
                pipe.sadd(self.keys.proc_keys(self.process_id), key)
                await pipe.execute()
        except RedisError as exc:
            raise BackplaneError(f"register failed: {exc}") from exc

    async def unregister(self, key: str) -> None:
        self._local.discard(key)
        try:
            await self._unregister(
                keys=[self.keys.conns, self.keys.proc_keys(self.process_id)],
                args=[key, self.process_id],
            )
        except RedisError as exc:
            raise BackplaneError(f"unregister failed: {exc}") from exc

    async def acquire(self) -> Term:
        loop = asyncio.get_running_loop()
        while True:
            token = f"{self.process_id}:{uuid.uuid4().hex[:8]}"
            started = loop.time()
            try:
                won = await self.redis.set(self.keys.lease, token, nx=True, px=self.lease_ms)
                if won:
                    return _RedisTerm(self, token, valid_until=started + self.lease_ms / 1000)
                remaining = await self.redis.pttl(self.keys.lease)
            except RedisError as exc:
                log.warning("lease attempt failed: %s", exc)
                remaining = self.lease_ms
            # Wake when the holder's lease would lapse, or at once if it is given up.
            self._released.clear()
            delay = max(remaining, 1) / 1000 if remaining >= 0 else 0.001
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), delay)

    async def read_all(self) -> list[LogEntry]:
        """The whole log (tests and tools)."""
        raw: Any = await self.redis.xrange(self.keys.log)
        return [_entry(entry_id, fields) for entry_id, fields in raw]

    async def delete_all(self) -> None:
        """Delete every key under the prefix (tests)."""
        await self.redis.delete(
            self.keys.log,
            self.keys.lease,
            self.keys.cursor,
            self.keys.ocursor,
            self.keys.snap,
            self.keys.conns,
            self.keys.nodes,
        )


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _stream_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _raise_if_cancelled() -> None:
    """Re-raise a cancellation that redis-py swallowed (it can retry a cancelled call)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class _Keys:
    def __init__(self, prefix: str) -> None:
        self.log = f"{prefix}:log"
        self.lease = f"{prefix}:lease"
        self.cursor = f"{prefix}:cursor"
        self.ocursor = f"{prefix}:ocursor"
        self.snap = f"{prefix}:snap"
        self.conns = f"{prefix}:conns"
        self.nodes = f"{prefix}:nodes"
        self.released = f"{prefix}:released"
        self.broadcast = f"{prefix}:broadcast"
        self._proc = f"{prefix}:proc:"
        self.keys_prefix = f"{prefix}:keys:"

    def proc(self, process_id: str) -> str:
        return self._proc + process_id

    def proc_keys(self, process_id: str) -> str:
        return self.keys_prefix + process_id


def _entry(entry_id: bytes | str, fields: Mapping[bytes, bytes]) -> LogEntry:
    ident = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    try:
        record = json.loads(fields[b"r"])
    except (KeyError, ValueError):
        record = {}
    if not isinstance(record, dict):
        record = {}
    return LogEntry(ident, record)


class _RedisTerm(Term):
    def __init__(self, backplane: RedisBackplane, token: str, *, valid_until: float) -> None:
        self._bp = backplane
        self.token = token
        loop = asyncio.get_running_loop()
        self.lost = loop.create_future()
        self._valid_until = valid_until
        self._renewer = loop.create_task(self._keep(), name=f"lease-renewal {token}")

    async def _keep(self) -> None:
        """Renew every third of the lease; give up once it may have lapsed."""
        bp = self._bp
        loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(bp.lease_ms / 3000)
                started = loop.time()
                try:
                    ok = await bp._renew(keys=[bp.keys.lease], args=[self.token, bp.lease_ms])
                except RedisError as exc:
                    log.warning("lease renewal failed: %s", exc)
                    ok = None
                if ok:
                    self._valid_until = started + bp.lease_ms / 1000
                    await self._reap_dead()
                elif ok is not None or loop.time() >= self._valid_until:
                    break
        finally:
            if not self.lost.done():
                self.lost.set_result(None)

    async def _reap_dead(self) -> None:
        """Report the connections of processes whose heartbeat lapsed as ``gone``.

        A process killed outright appends no ``drop`` for its sockets; this does it
        for them, so their callers get the grace period and their agents are signed
        out. It rides on the lease renewal timer rather than a loop of its own.
        """
        bp = self._bp
        try:
            found = await bp._reap(
                keys=[bp.keys.lease, bp.keys.nodes, bp.keys.conns],
                args=[self.token, bp.keys.keys_prefix],
            )
            if not isinstance(found, list):
                return
            for proc, keys in zip(found[::2], found[1::2], strict=True):
                names = json.loads(keys) if keys not in (b"{}", "{}") else []
                process = proc.decode() if isinstance(proc, bytes) else str(proc)
                log.warning("process %s is gone with %d connections", process, len(names))
                if names:
                    await bp.append(to_dict(Gone(key=process, keys=tuple(names), now=time.time())))
        except RedisError as exc:
            log.warning("reaping dead processes failed: %s", exc)

    async def load(self) -> Checkpoint:
        r = self._bp.redis
        keys = self._bp.keys
        results: Any = await asyncio.gather(
            r.get(keys.cursor), r.get(keys.ocursor), r.hmget(keys.snap, ["id", "data"])
        )
        cursor, ocursor, snap = results
        snapshot = json.loads(snap[1]) if snap[1] else None
        return Checkpoint(
            snapshot=snapshot,
            snapshot_id=snap[0].decode() if snap[0] and snapshot is not None else None,
            cursor=cursor.decode() if cursor else None,
            outcomes_cursor=ocursor.decode() if ocursor else None,
        )

    async def read(self, after: str | None) -> AsyncIterator[list[LogEntry]]:
        reader = self._bp._reader
        if reader is None:
            raise BackplaneError("backplane is not started")
        last = after or "0-0"
        key = self._bp.keys.log
        while True:
            _raise_if_cancelled()
            # The blocking read runs in its own task: redis-py can swallow a cancellation
            # that lands mid-read and retry the command, so on cancel we also drop the
            # reader's connections, which ends the read for certain.
            pending: asyncio.Task[Any] = asyncio.create_task(
                _await(reader.xread({key: last}, count=self._bp.read_count, block=0))
            )
            try:
                result: Any = await asyncio.shield(pending)
            except asyncio.CancelledError:
                pending.cancel()
                await reader.connection_pool.disconnect()
                await asyncio.wait([pending], timeout=1.0)
                raise
            except RedisError as exc:
                raise BackplaneError(f"reading the log failed: {exc}") from exc
            for _stream, entries in result:
                batch = [_entry(entry_id, fields) for entry_id, fields in entries]
                if batch:
                    last = batch[-1].id
                    yield batch

    async def commit(self, deliveries: Sequence[Delivery], cursor: str) -> None:
        bp = self._bp
        args: list[str] = [self.token, cursor, bp.keys.proc("")]
        for d in deliveries:
            args.append(d.key)
            args.append(d.payload)
        try:
            sent = await bp._commit(keys=[bp.keys.lease, bp.keys.cursor, bp.keys.conns], args=args)
        except RedisError as exc:
            raise BackplaneError(f"commit failed: {exc}") from exc
        _raise_if_cancelled()
        if sent == -1:
            self._lose()
            raise LeaseLost("lease lost before commit")

    async def commit_outcomes(self, cursor: str) -> None:
        await self._fenced(self._bp._fenced_set, self._bp.keys.ocursor, [cursor])

    async def save_snapshot(self, snapshot: Mapping[str, Any], entry_id: str) -> None:
        data = json.dumps(snapshot, separators=(",", ":"))
        await self._fenced(
            self._bp._fenced_hset, self._bp.keys.snap, ["id", entry_id, "data", data]
        )
        await self._trim(entry_id)

    async def _trim(self, snapshot_id: str) -> None:
        """Drop the log before what a new leader could still need: the snapshot's entry
        and the outcome writer's cursor, whichever is older, but always keep the newest
        ``log_retain`` entries. Without this the Stream grows for ever. Trimming only
        older entries is harmless even from a leader that has just been deposed: the
        newest snapshot is never older than its own."""
        r = self._bp.redis
        try:
            ocursor = await r.get(self._bp.keys.ocursor)
            if not ocursor:
                return  # no outcome written yet: the writer may need the whole log
            written = ocursor.decode() if isinstance(ocursor, bytes) else str(ocursor)
            floor = min(snapshot_id, written, key=_stream_id)
            if self._bp.log_retain > 0:
                newest = await r.xrevrange(self._bp.keys.log, count=self._bp.log_retain) or []
                if len(newest) < self._bp.log_retain:
                    return  # the whole log is within what we keep anyway
                oldest_kept = newest[-1][0] or floor
                kept = oldest_kept.decode() if isinstance(oldest_kept, bytes) else str(oldest_kept)
                floor = min(floor, kept, key=_stream_id)
            await r.xtrim(self._bp.keys.log, minid=floor, approximate=False)
        except RedisError as exc:  # the next snapshot trims again
            log.warning("trimming the routing log failed: %s", exc)

    async def _fenced(self, script: Any, key: str, args: list[str]) -> None:
        try:
            ok = await script(keys=[self._bp.keys.lease, key], args=[self.token, *args])
        except RedisError as exc:
            raise BackplaneError(f"fenced write failed: {exc}") from exc
        if ok == -1:
            self._lose()
            raise LeaseLost("lease lost")

    def _lose(self) -> None:
        if not self.lost.done():
            self.lost.set_result(None)

    async def release(self) -> None:
        self._renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._renewer
        self._lose()
        bp = self._bp
        if bp._redis is None:
            return
        try:
            await bp._release(keys=[bp.keys.lease, bp.keys.released], args=[self.token])
        except RedisError as exc:
            log.warning("lease release failed: %s", exc)
