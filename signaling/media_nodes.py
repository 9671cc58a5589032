"""Media nodes and the room directory: where each room lives when there are many processes.

Every process is a media node (DESIGN.md: a room never spans processes, and rooms are
placed on the least-loaded media node, as in LiveKit). Over Redis, under one ``prefix``:

* ``{p}:nodes``  a hash, node id → JSON load (rooms, participants, capacity, load) and
  ``expires_at_ms``, the node's heartbeat deadline on the Redis clock. A node whose
  deadline has passed is not live: it is never chosen, and the rooms it was home to are
  free to be placed again;
* ``{p}:rooms``  a hash, room id → home node id, set atomically by ``claim`` (a Lua
  check-and-set: a live home wins over any newcomer) and removed by ``release`` when the
  room closes on its home;
* channel ``{p}:node:{id}``  room requests and replies for that node (``room_forwarding``).

``choose_node`` is the pure placement rule; signaling never imports ``media``: the
composition root publishes this process's load figures with ``publish``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from signaling.backplane.pubsub import subscribe_forever
from signaling.errors import BackplaneError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MediaNodeLoad:
    """What a node publishes about itself (from ``media.RoomManager.load()``)."""

    rooms: int
    participants: int
    capacity: int
    load: float  # rooms / capacity, 0..1+


@dataclass(frozen=True, slots=True)
class MediaNode:
    """A node as the directory last heard of it."""

    node: str
    rooms: int
    participants: int
    capacity: int
    load: float
    expires_at_ms: int

    def live(self, now_ms: int) -> bool:
        return self.expires_at_ms > now_ms

    @property
    def has_capacity(self) -> bool:
        return self.rooms < self.capacity


def choose_node(nodes: Iterable[MediaNode], *, now_ms: int) -> MediaNode | None:
    """The least-loaded live node with a free room, or ``None`` when every node is full.

    Ties go to fewer rooms, then fewer participants, then the node id (deterministic).
    """
    candidates = [n for n in nodes if n.live(now_ms) and n.has_capacity]
    return min(candidates, key=lambda n: (n.load, n.rooms, n.participants, n.node), default=None)


# KEYS: nodes. ARGV: node id, JSON figures, ttl ms.
_PUBLISH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local figures = cjson.decode(ARGV[2])
figures['expires_at_ms'] = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(figures))
return now
"""

# The room's live home; with a candidate, claim the room for it if it has none.
# KEYS: rooms, nodes. ARGV: room, candidate ('' = only look).
_HOME = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local home = redis.call('HGET', KEYS[1], ARGV[1])
if home then
  local raw = redis.call('HGET', KEYS[2], home)
  if raw and tonumber(cjson.decode(raw)['expires_at_ms']) > now then
    return home
  end
  redis.call('HDEL', KEYS[1], ARGV[1])
end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return ARGV[2]
end
return false
"""

# KEYS: rooms. ARGV: room, node.
_RELEASE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""

Handler = Callable[[Mapping[str, Any]], None]


class RedisMediaNodes:
    """This node's view of the others over Redis: loads, the room directory, messages."""

    def __init__(
        self, url: str, *, prefix: str = "hotline:media", node_id: str | None = None
    ) -> None:
        self.node_id = node_id or f"m-{uuid.uuid4().hex[:12]}"
        self.prefix = prefix
        self.nodes_key = f"{prefix}:nodes"
        self.rooms_key = f"{prefix}:rooms"
        self._url = url
        self._redis: aioredis.Redis | None = None
        self._subscribed = asyncio.Event()
        self._send_lock = asyncio.Lock()

    def channel(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}"

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise BackplaneError("media nodes are not started")
        return self._redis

    async def start(self) -> None:
        self._redis = aioredis.Redis.from_url(self._url, decode_responses=True)
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            raise BackplaneError(f"cannot reach Redis: {exc}") from exc
        self._publish = self._redis.register_script(_PUBLISH)
        self._home = self._redis.register_script(_HOME)
        self._release = self._redis.register_script(_RELEASE)

    async def close(self) -> None:
        """Leave the directory (rooms homed here become free at once) and disconnect."""
        if self._redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.hdel(self.nodes_key, self.node_id)
        if self._redis is not None:
            await self._redis.aclose()
        self._redis = None

    # -- loads ------------------------------------------------------------------------

    async def publish(self, load: MediaNodeLoad, *, ttl_ms: int) -> None:
        """Heartbeat: this node's figures, live for ``ttl_ms`` on the Redis clock."""
        figures = {
            "rooms": load.rooms,
            "participants": load.participants,
            "capacity": load.capacity,
            "load": load.load,
        }
        try:
            await self._publish(
                keys=[self.nodes_key], args=[self.node_id, json.dumps(figures), ttl_ms]
            )
        except (RedisError, OSError) as exc:
            raise BackplaneError(f"publishing media load failed: {exc}") from exc

    async def nodes(self) -> tuple[list[MediaNode], int]:
        """Every node the directory knows (live or not) and the Redis clock in ms."""
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.time()
                pipe.hgetall(self.nodes_key)
                (seconds, micros), raw = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BackplaneError(f"reading media nodes failed: {exc}") from exc
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        found = []
        for node, data in raw.items():
            try:
                figures = json.loads(data)
                found.append(
                    MediaNode(
                        node=node,
                        rooms=int(figures["rooms"]),
                        participants=int(figures["participants"]),
                        capacity=int(figures["capacity"]),
                        load=float(figures["load"]),
                        expires_at_ms=int(figures["expires_at_ms"]),
                    )
                )
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring a malformed media node entry for %s", node)
        return found, now_ms

    # -- the room directory -------------------------------------------------------------

    async def home(self, room: str) -> str | None:
        """The room's home if it has a live one (a lapsed home's entry is cleared)."""
        return await self._home_call(room, "")

    async def claim(self, room: str, candidate: str) -> str:
        """Make ``candidate`` the room's home unless it has a live one; returns the home."""
        home = await self._home_call(room, candidate)
        if home is None:  # pragma: no cover - the script always returns with a candidate
            raise BackplaneError(f"claiming room {room} returned nothing")
        return home

    async def _home_call(self, room: str, candidate: str) -> str | None:
        try:
            home = await self._home(keys=[self.rooms_key, self.nodes_key], args=[room, candidate])
        except (RedisError, OSError) as exc:
            raise BackplaneError(f"room directory failed: {exc}") from exc
        return str(home) if home else None

    async def release(self, room: str) -> None:
        """The room closed here: forget it (unless another node has claimed it since)."""
        if self._redis is None:
            return  # shutting down: the entry lapses with this node's heartbeat
        try:
            await self._release(keys=[self.rooms_key], args=[room, self.node_id])
        except (RedisError, OSError) as exc:
            raise BackplaneError(f"releasing room {room} failed: {exc}") from exc

    # -- messages between nodes --------------------------------------------------------

    async def send(self, node: str, message: Mapping[str, Any]) -> None:
        """Publish to ``node``'s channel; sends from this node reach Redis in call order."""
        async with self._send_lock:
            try:
                await self.redis.publish(self.channel(node), json.dumps(message))
            except (RedisError, OSError) as exc:
                raise BackplaneError(f"sending to media node {node} failed: {exc}") from exc

    async def listen(self, handler: Handler, on_gap: Callable[[], None] | None = None) -> None:
        """Hand each message on this node's channel to ``handler``, until cancelled;
        after a lost connection, ``on_gap`` (whatever was sent meanwhile is gone)."""
        if self._redis is None:
            raise BackplaneError("media nodes are not started")

        async def subscribed(lost: bool) -> None:
            if lost and on_gap is not None:
                on_gap()

        def message(_channel: str, raw: str) -> None:
            try:
                data = json.loads(raw)
            except ValueError:
                log.warning("ignoring a malformed media node message")
                return
            if isinstance(data, dict):
                handler(data)

        await subscribe_forever(
            url=self._url,
            client_name=f"{self.prefix}:{self.node_id}:listener",
            channels=(self.channel(self.node_id),),
            on_message=message,
            subscribed=self._subscribed,
            on_subscribed=subscribed,
            decode_responses=True,
            what="media node channel",
        )

    async def wait_ready(self) -> None:
        """Until this node's channel is subscribed."""
        await self._subscribed.wait()

    async def delete_all(self) -> None:
        """Delete the directory's keys (tests)."""
        await self.redis.delete(self.nodes_key, self.rooms_key)
