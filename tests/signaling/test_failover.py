"""Two real processes on Redis: kill -9 the leader under load; the other takes over.

Both processes run ``tests.signaling.failover_node``. Agents and callers talk to the
process that survives; the routing engine runs in the other until it is killed. The
survivor must lead within 5 s, and every session queued must end answered, recorded
exactly once — checked from the Redis Stream and the outcome hash, from outside.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from signaling import protocol as p
from tests.signaling.conftest import delete_prefix

pytestmark = pytest.mark.redis

ROOT = Path(__file__).parents[2]
CALLERS = 30
AGENTS = 4
KILL_AFTER = 10
STRANDED = 4  # callers on the process that dies
RESUMING = 2  # of whom this many reconnect to the survivor


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Node:
    def __init__(self, redis_url: str, prefix: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.signaling.failover_node",
                "--redis",
                redis_url,
                "--prefix",
                prefix,
                "--port",
                str(self.port),
                "--lease-ms",
                "1000",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        self.url = f"http://127.0.0.1:{self.port}"

    async def status(self, http: aiohttp.ClientSession) -> dict[str, Any] | None:
        try:
            async with http.get(f"{self.url}/ready") as response:
                data: dict[str, Any] = await response.json()
                return data
        except aiohttp.ClientError:
            return None

    async def wait(
        self, http: aiohttp.ClientSession, *, leading: bool | None, within: float
    ) -> float:
        """Seconds until /ready answers (and, if asked, leads)."""
        start = time.monotonic()
        async with asyncio.timeout(within):
            while True:
                status = await self.status(http)
                if status is not None and (leading is None or status["leading"] is leading):
                    return time.monotonic() - start
                await asyncio.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def agent_bot(http: aiohttp.ClientSession, url: str, name: str) -> None:
    """Accepts every offer and ends each session as soon as it is connected."""
    async with http.ws_connect(f"{url}/ws?as=agent:{name}") as ws:
        await ws.send_str(json.dumps({"v": 1, "type": "hello"}))
        await ws.send_str(json.dumps({"v": 1, "type": "presence", "state": "available"}))
        async for frame in ws:
            msg = p.parse_server(frame.data)
            if isinstance(msg, p.Offer):
                await ws.send_str(json.dumps({"v": 1, "type": "accept", "offer_id": msg.offer_id}))
            elif isinstance(msg, p.Connected):
                await ws.send_str(json.dumps({"v": 1, "type": "end", "session_id": msg.session_id}))


async def caller_bot(
    http: aiohttp.ClientSession, url: str, name: str, joined: asyncio.Event
) -> tuple[str, list[p.ServerMessage]]:
    """Queues once; returns its session id and every message once the session ended."""
    seen: list[p.ServerMessage] = []
    async with http.ws_connect(f"{url}/ws?as=caller:{name}") as ws:
        await ws.send_str(json.dumps({"v": 1, "type": "hello"}))
        await ws.send_str(
            json.dumps({"v": 1, "type": "join_queue", "category": "general", "language": "zh"})
        )
        session = ""
        async for frame in ws:
            msg = p.parse_server(frame.data)
            seen.append(msg)
            if isinstance(msg, p.Queued):
                session = msg.session_id
                joined.set()
            if isinstance(msg, p.Ended):
                return session, seen
    raise AssertionError(f"{name}: socket closed before the session ended")


async def stranded_caller(
    http: aiohttp.ClientSession,
    dying: str,
    survivor: str | None,
    name: str,
    queued: asyncio.Event,
) -> tuple[str, list[p.ServerMessage]]:
    """Queues on the process that will die; when its socket goes, resumes on the
    survivor with the resume token (or, with ``survivor=None``, never comes back)."""
    seen: list[p.ServerMessage] = []
    session = ""
    async with http.ws_connect(f"{dying}/ws?as=caller:{name}") as ws:
        await ws.send_str(json.dumps({"v": 1, "type": "hello"}))
        await ws.send_str(
            json.dumps({"v": 1, "type": "join_queue", "category": "criminal", "language": "zh"})
        )
        token = ""
        async for frame in ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                break
            msg = p.parse_server(frame.data)
            seen.append(msg)
            if isinstance(msg, p.Welcome):
                token = msg.resume_token
            if isinstance(msg, p.Queued):
                session = msg.session_id
                queued.set()
    if survivor is None:
        return session, seen
    async with http.ws_connect(f"{survivor}/ws?as=caller:{name}") as ws:
        await ws.send_str(json.dumps({"v": 1, "type": "hello", "resume_token": token}))
        async for frame in ws:
            msg = p.parse_server(frame.data)
            seen.append(msg)
            if isinstance(msg, p.Ended):
                return session, seen
    raise AssertionError(f"{name}: socket closed before the session ended")


async def wait_outcomes(redis_url: str, prefix: str, sessions: set[str], within: float) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with asyncio.timeout(within):
            while True:
                done = {k.decode() for k in await client.hkeys(f"{prefix}:outcomes")}
                if sessions <= done:
                    return
                await asyncio.sleep(0.1)
    finally:
        await client.aclose()


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    name = f"test:failover:{uuid.uuid4().hex[:8]}"
    yield name
    await delete_prefix(redis_url, name)


async def test_leader_killed_under_load_is_replaced_without_losing_sessions(
    redis_url: str, prefix: str
) -> None:
    """kill -9 of the leading process mid-load: the survivor leads within 5 s and
    every queued session ends exactly once — answered, or abandoned for callers who
    were on the dead process and never came back."""
    leader = Node(redis_url, prefix)
    survivor: Node | None = None
    tasks: list[asyncio.Task[Any]] = []
    try:
        async with aiohttp.ClientSession() as http:
            await leader.wait(http, leading=True, within=20)
            survivor = Node(redis_url, prefix)
            await survivor.wait(http, leading=False, within=20)
            agents = [
                asyncio.create_task(agent_bot(http, survivor.url, f"A{i}"))
                for i in range(1, AGENTS + 1)
            ]
            tasks.extend(agents)
            # Callers in a queue nobody serves yet, connected to the process that dies.
            stranded_events = [asyncio.Event() for _ in range(STRANDED)]
            stranded = [
                asyncio.create_task(
                    stranded_caller(
                        http,
                        leader.url,
                        survivor.url if i < RESUMING else None,
                        f"s{i}",
                        stranded_events[i],
                    )
                )
                for i in range(STRANDED)
            ]
            tasks.extend(stranded)
            for event in stranded_events:
                await asyncio.wait_for(event.wait(), 5)
            callers: list[asyncio.Task[tuple[str, list[p.ServerMessage]]]] = []
            takeover = None
            for i in range(CALLERS):
                joined = asyncio.Event()
                callers.append(asyncio.create_task(caller_bot(http, survivor.url, f"c{i}", joined)))
                if i == KILL_AFTER:
                    await asyncio.wait_for(joined.wait(), 5)
                    leader.proc.send_signal(signal.SIGKILL)
                    leader.proc.wait()
                    takeover = await survivor.wait(http, leading=True, within=10)
                await asyncio.sleep(0.02)
            tasks.extend(callers)
            results = await asyncio.wait_for(asyncio.gather(*callers), 30)
            # Those who never came back are abandoned once the dead process is noticed
            # and their grace period (2 s) is over; then A9 answers those who resumed.
            gone = await asyncio.wait_for(asyncio.gather(*stranded[RESUMING:]), 5)
            await wait_outcomes(redis_url, prefix, {s for s, _ in gone}, within=15)
            tasks.append(asyncio.create_task(agent_bot(http, survivor.url, "A9")))
            resumed = await asyncio.wait_for(asyncio.gather(*stranded[:RESUMING]), 15)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        leader.stop()
        if survivor is not None:
            survivor.stop()

    assert takeover is not None
    print(f"takeover after kill -9: {takeover:.2f}s")
    assert takeover <= 5.0, f"takeover took {takeover:.2f}s"
    for session, seen in results + resumed:
        ended = [m for m in seen if isinstance(m, p.Ended)]
        assert [e.outcome for e in ended] == [p.Outcome.ANSWERED], (session, seen)
        assert any(isinstance(m, p.Connected) for m in seen)
    for _session, seen in resumed:
        assert any(isinstance(m, p.Welcome) and m.resumed for m in seen)

    client = aioredis.Redis.from_url(redis_url)
    try:
        outcomes = await client.hgetall(f"{prefix}:outcomes")
        writes = [w.decode() for w in await client.lrange(f"{prefix}:writes", 0, -1)]
        log = await client.xrange(f"{prefix}:log")
    finally:
        await client.aclose()
    recorded = {k.decode(): json.loads(v)["outcome"] for k, v in outcomes.items()}
    answered = {s for s, _ in results + resumed}
    abandoned = {s for s, _ in gone}
    assert len(answered) == CALLERS + RESUMING
    assert recorded == {
        **dict.fromkeys(answered, "answered"),
        **dict.fromkeys(abandoned, "abandoned"),
    }
    # At-least-once writes: a leader killed between writing an outcome and moving the
    # outcome cursor has it written again by the next; the record stays one per session.
    assert set(writes) == answered | abandoned
    assert len(writes) - len(set(writes)) <= 2
    print(f"outcome writes {len(writes)} for {len(set(writes))} sessions; log {len(log)}")
    queued = {
        json.loads(fields[b"r"])["sid"]
        for _id, fields in log
        if json.loads(fields[b"r"]).get("m", {}).get("type") == "join_queue"
    }
    assert queued == answered | abandoned
