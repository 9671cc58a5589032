"""A hotline call over real sockets: its room, its end, wrap-up until the disposition,
transfers nobody could take."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from routing.model import RoutingConfig
from signaling import protocol as p
from signaling.web import SIGNALING
from tests.signaling.conftest import Peer, make_config

Connect = Callable[..., Any]


async def call(connect: Connect, agent_name: str = "A1") -> tuple[Peer, Peer, p.Connected]:
    agent: Peer = await connect(f"agent:{agent_name}")
    await agent.send("presence", state="available")
    caller: Peer = await connect("caller:u1")
    await caller.send("join_queue", category="labour_wages", language="zh")
    offer = await agent.expect(p.Offer)
    await agent.send("accept", offer_id=offer.offer_id)
    connected = await caller.expect(p.Connected)
    assert (await agent.expect(p.Connected)) == connected
    return agent, caller, connected


class TestTheCallRoom:
    async def test_connected_names_the_room_and_grants_it_until_the_end(
        self, client: TestClient[Any, Any], connect: Connect
    ) -> None:
        agent, caller, connected = await call(connect)
        assert connected.room == f"R-{connected.session_id}"
        assert connected.agent_name == "A1"
        node = client.app[SIGNALING].node
        sessions = [c.room_session for c in node.conns.values()]
        assert all(s is not None and s.granted(connected.room) for s in sessions)
        await caller.send("end")
        assert (await caller.expect(p.Ended)).survey is True
        await agent.expect(p.Ended)
        assert all(s is not None and not s.granted(connected.room) for s in sessions)


class TestWrapUpUntilDisposition:
    @pytest.fixture
    def config(self) -> RoutingConfig:
        base = make_config()
        return dataclasses.replace(
            base, queues=tuple(dataclasses.replace(q, wrap_up_s=None) for q in base.queues)
        )

    async def test_the_next_call_waits_for_the_disposition(
        self, client: TestClient[Any, Any], connect: Connect
    ) -> None:
        """Ended tells the agent a disposition is needed; available is refused until it
        is recorded; recording it ends wrap-up and the next caller is offered."""
        agent, _caller, connected = await call(connect)
        await agent.send("end", session_id=connected.session_id)
        ended = await agent.expect(p.Ended)
        assert ended.disposition is True
        await agent.send("presence", state="available")
        error = await agent.expect(p.Error)
        assert (error.code, error.ref) == (p.ErrorCode.BAD_STATE, "presence")
        assert connected.session_id in error.detail
        other: Peer = await connect("caller:u2")
        await other.send("join_queue", category="labour_wages", language="zh")
        await client.app[SIGNALING].disposed("A1", connected.session_id)
        offer = await agent.expect(p.Offer)
        assert offer.category is p.Category.LABOUR_WAGES


class TestTransfer:
    async def test_refused_with_the_reason_when_nobody_could_take_it(
        self, connect: Connect
    ) -> None:
        """The caller stays with the agent and the agent is told why."""
        agent, caller, connected = await call(connect)
        await agent.send("transfer", session_id=connected.session_id, to_agent="A9")
        error = await agent.expect(p.Error)
        assert (error.code, error.ref) == (p.ErrorCode.NOBODY_ELIGIBLE, "transfer")
        assert "A9" in error.detail
        await caller.send("ping", nonce="still")
        assert (await caller.expect(p.Pong)).nonce == "still"


class TestChannelAndTown:
    async def test_the_offer_says_how_and_where_the_caller_is(self, connect: Connect) -> None:
        agent: Peer = await connect("agent:A1")
        caller: Peer = await connect("caller:u1")
        await caller.send(
            "join_queue",
            category="labour_wages",
            language="zh",
            channel="web_video",
            town="T-qingshan",
        )
        await agent.send("presence", state="available")
        offer = await agent.expect(p.Offer)
        assert (offer.channel, offer.town) == (p.Channel.WEB_VIDEO, "T-qingshan")
        await agent.send("accept", offer_id=offer.offer_id)
        assert (await caller.expect(p.Connected)).channel is p.Channel.WEB_VIDEO


class NumberStore:
    """An in-memory stand-in for the audited store (``cases.callbacks``): the Node keeps
    numbers there and asks it for them; what it is given is what the tests check."""

    def __init__(self) -> None:
        self.kept: dict[str, str] = {}
        self.revealed: list[tuple[str, str]] = []
        self.passes: list[tuple[str, str, str, float]] = []

    def history_pass(self, session: str, agent: str, caller: str, ring_s: float) -> str:
        self.passes.append((session, agent, caller, ring_s))
        return f"history-pass-{len(self.passes):08d}"

    async def keep(self, session: str, number: str) -> None:
        self.kept[session] = number

    async def reveal(self, session: str, identity: Any) -> str | None:
        self.revealed.append((session, identity.user_id))
        return self.kept.get(session)


@pytest.fixture
def numbers() -> NumberStore:
    return NumberStore()


@pytest.fixture
async def number_client(
    aiohttp_client: Callable[..., Any], outcomes: Any, numbers: NumberStore
) -> TestClient[Any, Any]:
    from aiohttp import web

    from signaling.backplane import MemoryBackplane
    from signaling.web import setup_signaling
    from tests.signaling.conftest import SECRET, authenticate

    app = web.Application()
    setup_signaling(
        app,
        backplane_factory=MemoryBackplane,
        authenticate=authenticate,
        record_outcome=outcomes.record,
        engine_config=make_config(),
        resume_secret=SECRET,
        keep_number=numbers.keep,
        reveal_number=numbers.reveal,
        survey_token=lambda session: f"survey-token-for-{session}",
        history_pass=numbers.history_pass,
    )
    client: TestClient[Any, Any] = await aiohttp_client(app)
    await client.app[SIGNALING].leader.leading.wait()
    return client


Open = Callable[[str], Awaitable[Peer]]


@pytest.fixture
def peer(number_client: TestClient[Any, Any]) -> Open:
    """A socket on ``number_client`` that has said hello (``who``: ``agent:A1``, …)."""

    async def open_peer(who: str) -> Peer:
        one = Peer(await number_client.ws_connect(f"/ws?as={who}"))
        await one.send("hello")
        await one.expect(p.Welcome)
        return one

    return open_peer


class TestCallbackNumber:
    async def test_only_the_agent_offered_the_callback_gets_the_full_number(
        self, peer: Open, numbers: NumberStore
    ) -> None:
        caller = await peer("caller:u1")
        await caller.send("join_queue", category="labour_wages", language="zh")
        queued = await caller.expect(p.Queued)
        await caller.send("request_callback", phone="+86 139-1234-5678")
        await caller.expect(p.CallbackKept)
        await caller.send("ping")
        await caller.expect(p.Pong)
        assert numbers.kept == {queued.session_id: "+86 139-1234-5678"}
        agent = await peer("agent:A1")
        await agent.send("presence", state="available")
        offer = await agent.expect(p.Offer)
        assert (offer.kind, offer.phone) == (p.OfferKind.CALLBACK, "139****5678")
        number = await agent.expect(p.CallbackNumber)
        assert (number.offer_id, number.phone) == (offer.offer_id, "+86 139-1234-5678")
        assert numbers.revealed == [(queued.session_id, "user-A1")]
        # Accepted on the same socket: the number is not revealed again.
        await agent.send("accept", offer_id=offer.offer_id)
        await agent.expect(p.Connected)
        await agent.send("ping")
        await agent.expect(p.Pong)
        assert numbers.revealed == [(queued.session_id, "user-A1")]
        # A second tab (or a reload) comes back to the live callback: sent again, once.
        again = await peer("agent:A1")
        assert (await again.expect(p.Connected)).callback
        number = await again.expect(p.CallbackNumber)
        assert (number.offer_id, number.session_id) == (None, queued.session_id)
        assert numbers.revealed == [(queued.session_id, "user-A1")] * 2

    async def test_only_the_offered_agent_gets_a_pass_to_the_callers_history(
        self, number_client: TestClient[Any, Any], peer: Open, numbers: NumberStore
    ) -> None:
        """A caller who gave a number: the agent's offer carries a history pass minted
        for that agent, session and number key (never the key itself); a caller without
        a number brings no pass, and nobody else is given one."""

        agent = await peer("agent:A1")
        other = await peer("agent:A2")
        await other.send("presence", state="break", reason="lunch")
        await agent.send("presence", state="available")
        caller = await peer("caller:u1")
        await caller.send("join_queue", category="labour_wages", language="zh", phone="13812345678")
        offer = await agent.expect(p.Offer)
        assert offer.history_pass == "history-pass-00000001"
        assert offer.caller_ref is None
        ((session, agent_id, key, ring),) = numbers.passes
        assert (session, agent_id) == (offer.session_id, "A1")
        keys = number_client.app[SIGNALING].node.tokens
        assert key == keys.caller_key("13812345678")
        assert 0 < ring <= 20.0
        await caller.send("leave_queue")
        await agent.expect(p.OfferCancelled)
        anonymous = await peer("caller:u2")
        await anonymous.send("join_queue", category="labour_wages", language="zh")
        plain = await agent.expect(p.Offer)
        assert (plain.history_pass, plain.caller_ref) == (None, None)
        assert len(numbers.passes) == 1

    async def test_the_caller_of_an_answered_call_gets_a_survey_token(self, peer: Open) -> None:
        agent = await peer("agent:A1")
        await agent.send("presence", state="available")
        caller = await peer("caller:u1")
        await caller.send("join_queue", category="labour_wages", language="zh")
        offer = await agent.expect(p.Offer)
        await agent.send("accept", offer_id=offer.offer_id)
        await caller.expect(p.Connected)
        await caller.send("end")
        ended = await caller.expect(p.Ended)
        assert (ended.survey, ended.survey_token) == (True, f"survey-token-for-{offer.session_id}")
