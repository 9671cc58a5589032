"""Bad input over real sockets, from an independent client (``websockets``).

Each case sends what a probe sent, checks that it is answered with an ``error`` and a
code, that the socket still works afterwards, and that no session is left in the
router or the engine without a live connection or a grace timer behind it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from signaling import protocol as p
from signaling.router import GRACE_PREFIX, Router
from signaling.web import SIGNALING
from tests.signaling.conftest import Outcomes

SURROGATE = "\\ud800"  # as JSON spells it: a lone UTF-16 surrogate


class Probe:
    """One raw WebSocket client that reads every server message it is sent."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def raw(self, text: str | bytes) -> None:
        await self.ws.send(text)

    async def send(self, type: str, **fields: Any) -> None:
        await self.ws.send(json.dumps({"v": 1, "type": type, **fields}))

    async def recv(self, within: float = 5.0) -> p.ServerMessage:
        raw = await asyncio.wait_for(self.ws.recv(), within)
        return p.parse_server(raw)

    async def expect(self, cls: type[Any], within: float = 5.0) -> Any:
        async with asyncio.timeout(within):
            while True:
                msg = await self.recv(within)
                if isinstance(msg, cls):
                    return msg
                if isinstance(msg, p.Position | p.PresenceChanged | p.Queued | p.Welcome):
                    continue
                raise AssertionError(f"expected {cls.__name__}, got {msg!r}")

    async def error(self) -> p.Error:
        msg: p.Error = await self.expect(p.Error)
        return msg

    async def alive(self) -> None:
        await self.send("ping", nonce="still-there")
        pong = await self.expect(p.Pong)
        assert pong.nonce == "still-there"


Open = Callable[..., Any]


@pytest.fixture
async def open_probe(client: TestClient[Any, Any]) -> AsyncIterator[Open]:
    url = str(client.make_url("/ws")).replace("http://", "ws://", 1)
    opened: list[ClientConnection] = []

    async def open_(who: str, *, hello: bool = True) -> Probe:
        ws = await connect(f"{url}?as={who}", max_size=None)
        opened.append(ws)
        probe = Probe(ws)
        if hello:
            await probe.send("hello")
            await probe.expect(p.Welcome)
        return probe

    yield open_
    for ws in opened:
        await ws.close()


def router_of(client: TestClient[Any, Any]) -> Router:
    router = client.app[SIGNALING].leader.router
    assert router is not None
    return router


def ghosts(router: Router) -> list[str]:
    """Sessions nobody is behind: no live connection, no grace timer, no callback;
    and sessions the router and the engine do not agree on."""
    found = []
    for sid, session in router.sessions.items():
        owner = session.owner
        behind = (
            router.caller_conns.get(owner) is not None
            or GRACE_PREFIX + owner in router.timers
            or session.callback
        )
        if not behind:
            found.append(sid)
    engine_sessions = set(router.engine._sessions)
    found += sorted(engine_sessions ^ set(router.sessions))
    found += [f"agent {a}" for a in router.engine._agents if a not in router.agent_conns]
    return found


async def until(done: Callable[[], bool], within: float = 5.0) -> None:
    """Until ``done()`` holds: records travel the log before the router sees them."""
    async with asyncio.timeout(within):
        while not done():  # noqa: ASYNC110 - the router's state has no event to wait on
            await asyncio.sleep(0.02)


async def no_ghosts(client: TestClient[Any, Any], within: float = 5.0) -> None:
    """The router settles with nobody left behind."""
    router = router_of(client)
    await until(lambda: not ghosts(router), within)


async def close_code(probe: Probe) -> int | None:
    """Read until the server closes the socket; its close code."""
    try:
        while True:
            await probe.recv()
    except ConnectionClosed:
        pass
    return probe.ws.close_code


async def queue(probe: Probe, **fields: Any) -> p.Queued:
    await probe.send("join_queue", category="labour_wages", language="zh", **fields)
    msg: p.Queued = await probe.expect(p.Queued)
    return msg


class TestLoneSurrogates:
    @pytest.mark.parametrize(
        ("type_", "fields"),
        [
            ("ping", {"nonce": SURROGATE}),
            ("join_queue", {"category": "labour_wages", "language": SURROGATE}),
            ("join_queue", {"category": "labour_wages", "language": "zh", "phone": SURROGATE}),
            ("end", {"session_id": "S-" + SURROGATE}),
            ("request_voicemail", {"message": "工资 " + SURROGATE}),
            ("hello", {"resume_token": "a" * 20 + SURROGATE}),
        ],
    )
    async def test_in_a_caller_field(
        self, client: TestClient[Any, Any], open_probe: Open, type_: str, fields: Any
    ) -> None:
        """``bad_field``, the socket lives; hanging up still ends the session."""
        caller: Probe = await open_probe("caller:u1")
        queued = await queue(caller)
        body = ", ".join(f'"{k}": "{v}"' for k, v in fields.items())
        await caller.raw(f'{{"v": 1, "type": "{type_}", {body}}}')
        error = await caller.error()
        assert (error.code, error.ref) == (p.ErrorCode.BAD_FIELD, type_)
        await caller.alive()
        await no_ghosts(client)
        await caller.send("end")
        ended = await caller.expect(p.Ended)
        assert (ended.session_id, ended.outcome) == (queued.session_id, p.Outcome.ABANDONED)

    async def test_in_the_type_and_a_field_name(
        self, client: TestClient[Any, Any], open_probe: Open
    ) -> None:
        """A surrogate ``type`` is not echoed in ``ref``; a surrogate key is unknown."""
        caller: Probe = await open_probe("caller:u1")
        await caller.raw(f'{{"v": 1, "type": "{SURROGATE}"}}')
        error = await caller.error()
        assert (error.code, error.ref) == (p.ErrorCode.UNKNOWN_TYPE, None)
        await caller.raw(f'{{"v": 1, "type": "ping", "{SURROGATE}": 1}}')
        assert (await caller.error()).code is p.ErrorCode.UNKNOWN_FIELD
        await caller.alive()

    async def test_in_an_agent_break_reason(
        self, client: TestClient[Any, Any], open_probe: Open
    ) -> None:
        """The reason would have been echoed in ``presence_changed`` and killed the
        writer, leaving an agent who keeps getting offers with nobody behind."""
        agent: Probe = await open_probe("agent:A1")
        await agent.raw('{"v": 1, "type": "presence", "state": "break", "reason": "lunch \\ud83d"}')
        assert (await agent.error()).code is p.ErrorCode.BAD_FIELD
        await agent.alive()
        await agent.ws.close()
        router = router_of(client)
        await until(lambda: "A1" not in router.engine._agents)

    async def test_the_probe_sequence_leaves_no_ghost(
        self, client: TestClient[Any, Any], open_probe: Open, outcomes: Outcomes
    ) -> None:
        """hello, join_queue, a ping with a surrogate nonce, close: the caller's session
        is abandoned after the grace period, never later offered or answered."""
        caller: Probe = await open_probe("caller:u1")
        queued = await queue(caller)
        await caller.raw(f'{{"v": 1, "type": "ping", "nonce": "{SURROGATE}"}}')
        assert (await caller.error()).code is p.ErrorCode.BAD_FIELD
        await caller.ws.close()
        (recorded,) = await outcomes.wait_for(1)
        assert (recorded.session, recorded.outcome) == (queued.session_id, p.Outcome.ABANDONED)
        assert router_of(client).sessions == {}


class TestMalformedFrames:
    async def test_invalid_utf8_in_a_binary_frame(self, open_probe: Open) -> None:
        probe: Probe = await open_probe("caller:u1")
        await probe.raw(b'\xff\xfe{"v": 1, "type": "ping"}')
        assert (await probe.error()).code is p.ErrorCode.BAD_JSON
        await probe.alive()

    async def test_deeply_nested_frame(self, open_probe: Open) -> None:
        probe: Probe = await open_probe("caller:u1")
        await probe.raw("[" * 5000 + "]" * 5000)
        assert (await probe.error()).code in (p.ErrorCode.BAD_JSON, p.ErrorCode.TOO_LARGE)
        await probe.raw('{"v": 1, "type": "ping", "nonce": ' + "[" * 50 + "]" * 50 + "}")
        assert (await probe.error()).code is p.ErrorCode.BAD_FIELD
        await probe.alive()

    async def test_a_one_megabyte_message_is_too_large_not_a_close(
        self, client: TestClient[Any, Any], open_probe: Open
    ) -> None:
        """Frames up to 2 MiB are answered ``too_large`` (it was a 1009 close)."""
        caller: Probe = await open_probe("caller:u1")
        queued = await queue(caller)
        await caller.send("request_voicemail", message="x" * 1_000_000)
        assert (await caller.error()).code is p.ErrorCode.TOO_LARGE
        await caller.alive()
        assert queued.session_id in router_of(client).sessions

    async def test_beyond_the_frame_limit_the_socket_closes_and_leaves_no_ghost(
        self, client: TestClient[Any, Any], open_probe: Open, outcomes: Outcomes
    ) -> None:
        caller: Probe = await open_probe("caller:u1")
        await queue(caller)
        await caller.raw("x" * (p.MAX_FRAME_BYTES + 1))
        assert await close_code(caller) == 1009
        (recorded,) = await outcomes.wait_for(1)
        assert recorded.outcome is p.Outcome.ABANDONED
        await no_ghosts(client)

    async def test_a_burst_does_not_close_a_client_that_reads(self, open_probe: Open) -> None:
        """300 frames at once: the reading client is slowed down and told
        ``rate_limited``, never closed (it was closed 4008, with a warning a frame)."""
        probe: Probe = await open_probe("caller:u1")
        for i in range(300):
            await probe.send("ping", nonce=str(i))
        seen: list[p.ServerMessage] = []
        try:
            while True:
                seen.append(await probe.recv(within=0.5))
        except TimeoutError:
            pass
        pongs = [m for m in seen if isinstance(m, p.Pong)]
        limited = [m for m in seen if isinstance(m, p.Error)]
        assert len(pongs) >= 30  # the burst allowance, less what hello took
        assert limited
        assert all(m.code is p.ErrorCode.RATE_LIMITED for m in limited)
        await asyncio.sleep(1.1)
        await probe.alive()


class TestOtherPeoplesThings:
    async def test_messages_of_another_role(self, open_probe: Open) -> None:
        caller: Probe = await open_probe("caller:u1")
        await caller.send("accept", offer_id="S-1.1")
        error = await caller.error()
        assert (error.code, error.ref) == (p.ErrorCode.NOT_ALLOWED, "accept")
        agent: Probe = await open_probe("agent:A1")
        await agent.send("join_queue", category="labour_wages", language="zh")
        assert (await agent.error()).code is p.ErrorCode.NOT_ALLOWED
        await caller.alive()
        await agent.alive()

    async def test_another_agents_offer_and_session(
        self, client: TestClient[Any, Any], open_probe: Open
    ) -> None:
        """B cannot accept A's offer nor end A's session; A's are unchanged."""
        a: Probe = await open_probe("agent:A1")
        await a.send("presence", state="available")
        caller: Probe = await open_probe("caller:u1")
        queued = await queue(caller)
        offer: p.Offer = await a.expect(p.Offer)
        b: Probe = await open_probe("agent:A2")
        await b.send("accept", offer_id=offer.offer_id)
        error = await b.error()
        assert (error.code, error.ref) == (p.ErrorCode.BAD_STATE, "accept")
        await a.send("accept", offer_id=offer.offer_id)
        assert (await a.expect(p.Connected)).session_id == queued.session_id
        await b.send("end", session_id=queued.session_id)
        error = await b.error()
        assert (error.code, error.ref) == (p.ErrorCode.BAD_STATE, "end")
        await b.send("transfer", session_id=queued.session_id, to_queue="general")
        assert (await b.error()).code is p.ErrorCode.BAD_STATE
        assert router_of(client).sessions[queued.session_id].agent == "A1"
        await no_ghosts(client)

    async def test_join_twice_and_a_second_socket_on_the_same_token(
        self, client: TestClient[Any, Any], open_probe: Open
    ) -> None:
        """One token, one session: joining twice is refused; a second socket takes the
        session over (the first is closed 4001 and what it still sends is refused)."""
        first: Probe = await open_probe("caller:u1")
        queued = await queue(first)
        await first.send("join_queue", category="labour_wages", language="zh")
        assert (await first.error()).code is p.ErrorCode.BAD_STATE
        second: Probe = await open_probe("caller:u1")
        again: p.Queued = await second.expect(p.Queued)
        assert again.session_id == queued.session_id
        assert await close_code(first) == 4001
        assert len(router_of(client).sessions) == 1
        await second.send("end")
        assert (await second.expect(p.Ended)).outcome is p.Outcome.ABANDONED
        await no_ghosts(client)
