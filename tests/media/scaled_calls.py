"""A hotline call across two ``hotline serve`` processes on one Redis and one PostgreSQL.

``python -m tests.media.scenarios two_node_call '{…}'`` runs ``two_node_call`` in a
network namespace: Redis and PostgreSQL are reached through Unix sockets the test relays
to them (the file system is shared), each forwarded to a TCP port in the namespace. Two
real server processes, A and B, share the Redis (a prefix of the test's own) and the
database. The caller's page is on A, the agent's desk on B: the offer crosses Redis, both
join the call's room wherever it was placed, media flows both ways and is recorded; the
caller's socket drops and comes back on A with its resume token (``hello
{resume_token}`` → ``connected`` again), rejoins the room, and media flows again; the
caller hangs up and the room's recording is read back from the database.

The pieces come from bench/calls.py, which drives the same calls for ``hotline bench
calls``.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from bench.calls import (
    CallPeer,
    hotline_server,
    join_both,
    make_bot,
    open_agent,
    open_caller,
    place_call,
    seed_agents,
    tcp_forward,
    until,
)
from cases.db import Database
from cases.models import Recording
from media.bots import encode_opus_clip, encode_vp8_clip

KINDS = ("audio", "video")


async def _ready(http: aiohttp.ClientSession, base: str) -> bool:
    try:
        async with http.get(f"{base}/readyz") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def _until_ready(http: aiohttp.ClientSession, base: str) -> None:
    for _ in range(200):
        if await _ready(http, base):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{base} never ready")


def _flowing(caller: CallPeer, agent: CallPeer, marks: dict[str, int], more: int = 20) -> bool:
    return all(
        caller.inbound(k) > marks.get(f"caller.{k}", 0) + more
        and agent.inbound(k) > marks.get(f"agent.{k}", 0) + more
        for k in KINDS
    )


async def two_node_call(
    redis_socket: str, postgres_socket: str, database: str, prefix: str, db: int = 0
) -> dict[str, Any]:
    async with tcp_forward(redis_socket) as redis_port, tcp_forward(postgres_socket) as pg_port:
        database_url = f"postgresql://postgres@127.0.0.1:{pg_port}/{database}"
        with tempfile.TemporaryDirectory(prefix="two-node-call-") as scratch:
            return await _two_node_call(
                Path(scratch), database_url, f"redis://127.0.0.1:{redis_port}/{db}", prefix
            )


async def _two_node_call(
    scratch: Path, database_url: str, redis_url: str, prefix: str
) -> dict[str, Any]:
    agent_name = f"agent-{uuid.uuid4().hex[:8]}"  # the database is shared between runs
    await seed_agents(database_url, [agent_name])
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "HOTLINE_REDIS_PREFIX": prefix}
    clips = {"audio": encode_opus_clip(), "video": encode_vp8_clip(320, 240, 30)}
    result: dict[str, Any] = {}
    peers: list[CallPeer] = []
    async with (
        hotline_server(scratch / "A", env) as a,
        hotline_server(scratch / "B", env) as b,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as callers,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as desk,
    ):
        try:
            for server in (a, b):
                await _until_ready(callers, server.base)
            agent = await open_agent(desk, b.base, agent_name)
            peers.append(agent)
            call = await place_call(callers, a.base, agent, "caller", "web_video")
            peers.append(call.caller)
            result["connected"] = call.connected
            result["agent_connected"] = agent.last("connected")
            await join_both(call, clips, "first")
            await until(lambda: _flowing(call.caller, agent, {}), "media both ways", within=30)
            result["first"] = {
                f"{end}.{k}": getattr(call, end).inbound(k)
                for end in ("caller", "agent")
                for k in KINDS
            }

            # The caller's socket drops; a new one on A resumes the call and rejoins.
            await call.caller.close()
            marks = {f"agent.{k}": agent.inbound(k) for k in KINDS}
            caller = await open_caller(callers, a.base, call.token, "caller-again")
            peers.append(caller)
            await caller.send(type="hello", resume_token=call.resume_token)
            result["resumed_welcome"] = await caller.expect("welcome")
            result["resumed_connected"] = await caller.expect("connected")
            result["rejoined"] = await caller.join_room(call.room, make_bot("again", clips))
            await until(lambda: _flowing(caller, agent, marks), "media after resume", within=30)
            result["after_resume"] = {
                **{f"caller.{k}": caller.inbound(k) for k in KINDS},
                **{f"agent.{k}": agent.inbound(k) - marks[f"agent.{k}"] for k in KINDS},
            }

            await caller.send(type="end")
            result["caller_ended"] = await caller.expect("ended")
            result["agent_ended"] = await agent.expect("ended")
            await agent.expect("room_left")
            result["caller_types"] = [m["type"] for m in caller.received]
            result["agent_types"] = [m["type"] for m in agent.received]
            result["recordings"] = await _recordings(database_url, call.room, scratch)
        finally:
            for peer in peers:
                await peer.close()
    result["webm_files"] = {
        name: sorted(_webm_files(scratch / name, "*.webm")) for name in ("A", "B")
    }
    return result


def _webm_files(directory: Path, pattern: str) -> set[str]:
    return {str(path) for path in directory.rglob(pattern)}


async def _recordings(database_url: str, room: str, scratch: Path) -> list[dict[str, Any]]:
    """The room's recording rows once every file its home wrote is in them (the room
    closes when both have left; the files are reported one by one)."""
    db = Database(database_url)
    found: list[dict[str, Any]] = []
    try:
        for _ in range(100):
            on_disk = await asyncio.to_thread(_webm_files, scratch, f"{room}/*/*.webm")
            async with db.session() as session:
                rows = await session.scalars(select(Recording).where(Recording.room_id == room))
                found = [
                    {"id": r.id, "session_id": r.session_id, "ended": r.ended_at is not None,
                     "files": sorted((f.participant, f.path, f.size_bytes) for f in r.files)}
                    for r in rows
                ]  # fmt: skip
            recorded = {path for r in found for _, path, _ in r["files"]}
            if found and recorded == on_disk:
                break
            await asyncio.sleep(0.1)
        return found
    finally:
        await db.close()
