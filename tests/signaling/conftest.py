"""Fixtures for signaling: an app over either backplane, and WebSocket peers.

``backplane_kind`` is parametrized over ``memory`` and ``redis``; the Redis variant
uses the shared ``redis_url`` fixture (skipped, or failed under HOTLINE_REQUIRE) with
a fresh key prefix per test, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient

from routing import actions as act
from routing.ids import AgentId, Skill
from routing.model import AgentProfile, Category, RoutingConfig, default_queues
from signaling import protocol as p
from signaling.backplane import Backplane, MemoryBackplane
from signaling.backplane.redis import RedisBackplane
from signaling.identity import Identity
from signaling.web import SIGNALING, setup_signaling

M = TypeVar("M")

SECRET = b"test-secret-of-enough-length-000"


def profile(agent: str, *, skills: tuple[str, ...] | None = None) -> AgentProfile:
    names = skills if skills is not None else tuple(c.value for c in Category)
    return AgentProfile(id=AgentId(agent), skills={Skill(s): 3 for s in names}, name=agent)


def make_config(*, ring_timeout_s: float = 20.0, agents: int = 6) -> RoutingConfig:
    queues = tuple(
        dataclasses.replace(q, ring_timeout_s=ring_timeout_s, wrap_up_s=0.0)
        for q in default_queues()
    )
    roster = tuple(profile(f"A{i}") for i in range(1, agents + 1))
    return RoutingConfig(queues=queues, roster=roster)


async def authenticate(request: web.Request) -> Identity | None:
    """Tests say who they are with ``?as=agent:A1`` or ``?as=caller:u1``."""
    kind, _, name = request.query.get("as", "").partition(":")
    if kind == "agent" and name:
        return Identity(
            kind="staff",
            user_id=f"user-{name}",
            display_name=name,
            agent_id=name,
            roles=frozenset({"agent", "lawyer"}),
        )
    if kind == "staff" and name:
        return Identity(kind="staff", user_id=name, display_name=name, roles=frozenset({"admin"}))
    if kind == "caller" and name:
        return Identity(kind="caller", user_id=name, display_name="caller", subject=name)
    return None


class Outcomes:
    """A recording fake of ``record_outcome``."""

    def __init__(self) -> None:
        self.recorded: list[act.SessionRecorded] = []
        self.changed = asyncio.Event()

    async def record(self, action: act.SessionRecorded) -> None:
        self.recorded.append(action)
        self.changed.set()

    async def wait_for(self, count: int, within: float = 5.0) -> list[act.SessionRecorded]:
        async with asyncio.timeout(within):
            while len(self.recorded) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.recorded


class Peer:
    """A real WebSocket client speaking the protocol."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[p.ServerMessage] = []

    async def send(self, type: str, **fields: Any) -> None:
        await self.ws.send_str(json.dumps({"v": 1, "type": type, **fields}))

    async def send_raw(self, raw: str | bytes) -> None:
        if isinstance(raw, bytes):
            await self.ws.send_bytes(raw)
        else:
            await self.ws.send_str(raw)

    async def recv(self, within: float = 5.0) -> p.ServerMessage:
        raw = await self.ws.receive_str(timeout=within)
        msg = p.parse_server(raw)
        self.seen.append(msg)
        return msg

    async def expect(self, cls: type[M], within: float = 5.0) -> M:
        """The next message of type ``cls``, skipping position and presence updates."""
        async with asyncio.timeout(within):
            while True:
                msg = await self.recv(within)
                if isinstance(msg, cls):
                    return msg
                if isinstance(msg, p.Position | p.PresenceChanged | p.Queued | p.Welcome):
                    continue
                raise AssertionError(f"expected {cls.__name__}, got {msg!r}")

    async def close(self) -> None:
        await self.ws.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backplane_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def backplane_factory(
    backplane_kind: str, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[], Backplane]]:
    if backplane_kind == "memory":
        yield MemoryBackplane
        return
    url = request.getfixturevalue("redis_url")
    prefix = f"test:{uuid.uuid4().hex[:10]}"
    made: list[RedisBackplane] = []

    def factory() -> Backplane:
        bp = RedisBackplane(url, prefix=prefix, lease_ms=1500)
        made.append(bp)
        return bp

    yield factory
    await delete_prefix(url, prefix)


async def delete_prefix(url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def outcomes() -> Outcomes:
    return Outcomes()


@pytest.fixture
def config() -> RoutingConfig:
    return make_config()


@pytest.fixture
async def client(
    backplane_factory: Callable[[], Backplane],
    aiohttp_client: Callable[..., Any],
    outcomes: Outcomes,
    config: RoutingConfig,
) -> TestClient[Any, Any]:
    app = web.Application()
    setup_signaling(
        app,
        backplane_factory=backplane_factory,
        authenticate=authenticate,
        record_outcome=outcomes.record,
        engine_config=config,
        resume_secret=SECRET,
        grace_s=1.0,
    )
    test_client: TestClient[Any, Any] = await aiohttp_client(app)
    state = app[SIGNALING]
    await asyncio.wait_for(state.backplane.wait_ready(), 5)
    await asyncio.wait_for(state.leader.leading.wait(), 5)
    return test_client


@pytest.fixture
def connect(client: TestClient[Any, Any]) -> Callable[..., Any]:
    async def open_peer(who: str, *, hello: bool = True, **hello_fields: Any) -> Peer:
        ws = await client.ws_connect(f"/ws?as={who}")
        peer = Peer(ws)
        if hello:
            await peer.send("hello", **hello_fields)
            await peer.expect(p.Welcome)
        return peer

    return open_peer
