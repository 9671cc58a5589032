"""End to end over real WebSockets, against both backplanes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import WSCloseCode, WSMsgType

from signaling import protocol as p
from tests.signaling.conftest import Outcomes, Peer, make_config

Connect = Callable[..., Any]


async def available(agent: Peer) -> None:
    await agent.send("presence", state="available")


async def queue_caller(connect: Connect, name: str, **fields: Any) -> tuple[Peer, p.Queued]:
    caller: Peer = await connect(f"caller:{name}")
    await caller.send(
        "join_queue", category=fields.pop("category", "labour_wages"), language="zh", **fields
    )
    return caller, await caller.expect(p.Queued)


class TestOfferAndAccept:
    async def test_queued_caller_is_offered_to_available_agent_and_connected(
        self, connect: Connect, outcomes: Outcomes
    ) -> None:
        """A caller queues, an agent goes available and gets the offer, accepts, both connect."""
        caller, queued = await queue_caller(connect, "u1", phone="13812345678")
        agent: Peer = await connect("agent:A1")
        await available(agent)
        offer = await agent.expect(p.Offer)
        assert offer.session_id == queued.session_id
        assert offer.category.value == "labour_wages"
        assert offer.language == "zh"
        assert 0 < offer.expires_in_s <= 20
        await agent.send("accept", offer_id=offer.offer_id)
        assert (await agent.expect(p.Connected)).session_id == queued.session_id
        connected = await caller.expect(p.Connected)
        assert connected.agent_id == "A1"
        await agent.send("end", session_id=queued.session_id)
        ended = await caller.expect(p.Ended)
        assert ended.outcome is p.Outcome.ANSWERED
        (recorded,) = await outcomes.wait_for(1)
        assert recorded.session == queued.session_id
        assert recorded.outcome.value == "answered"
        assert recorded.answered_at is not None
        assert str(recorded.caller).startswith("tel:")


class TestBadInput:
    async def test_bad_messages_get_errors_and_change_nothing(self, connect: Connect) -> None:
        """Garbage, unknown types and invalid fields are answered with error; the
        connection stays usable and the flow goes on as if they never came."""
        agent: Peer = await connect("agent:A1")
        for raw, code in [
            ("not json", p.ErrorCode.BAD_JSON),
            ('{"v":1,"type":"fly"}', p.ErrorCode.UNKNOWN_TYPE),
            ('{"v":1,"type":"presence","state":"asleep"}', p.ErrorCode.BAD_FIELD),
            ('{"v":1,"type":"accept","offer_id":"nope"}', p.ErrorCode.BAD_STATE),
            (
                '{"v":1,"type":"join_queue","category":"general","language":"zh"}',
                p.ErrorCode.NOT_ALLOWED,
            ),
            ("x" * 20_000, p.ErrorCode.TOO_LARGE),
            (b"\x00\x01binary", p.ErrorCode.BAD_JSON),
        ]:
            await agent.send_raw(raw)
            error = await agent.expect(p.Error)
            assert error.code is code, raw
        _caller, queued = await queue_caller(connect, "u1")
        await available(agent)
        offer = await agent.expect(p.Offer)
        assert offer.session_id == queued.session_id

    async def test_nothing_but_ping_before_hello(self, connect: Connect) -> None:
        """Until hello, messages are refused with not_allowed; ping is answered."""
        peer: Peer = await connect("caller:u1", hello=False)
        await peer.send("ping", nonce="n1")
        assert await peer.expect(p.Pong) == p.Pong(nonce="n1")
        await peer.send("join_queue", category="general", language="zh")
        assert (await peer.expect(p.Error)).code is p.ErrorCode.NOT_ALLOWED
        await peer.send("hello")
        await peer.expect(p.Welcome)
        await peer.send("hello")
        assert (await peer.expect(p.Error)).code is p.ErrorCode.BAD_STATE

    async def test_unauthenticated_upgrade_is_refused(self, client: Any) -> None:
        """Without an identity the WebSocket upgrade gets 401."""
        response = await client.get("/ws")
        assert response.status == 401

    async def test_staff_without_agent_role_cannot_sign_in(self, connect: Connect) -> None:
        """An admin with no agent id is told not_allowed on hello."""
        peer: Peer = await connect("staff:boss", hello=False)
        await peer.send("hello")
        assert (await peer.expect(p.Error)).code is p.ErrorCode.NOT_ALLOWED

    async def test_caller_cannot_use_agent_messages(self, connect: Connect) -> None:
        """Role checks: a caller may not accept offers."""
        caller: Peer = await connect("caller:u1")
        await caller.send("accept", offer_id="S-1.1")
        error = await caller.expect(p.Error)
        assert (error.code, error.ref) == (p.ErrorCode.NOT_ALLOWED, "accept")

    async def test_bad_resume_token_is_refused(self, connect: Connect) -> None:
        """A forged token is refused with bad_token and the peer may say hello again."""
        peer: Peer = await connect("caller:u1", hello=False)
        await peer.send("hello", resume_token="Yzo0ZjNhfHUxfDE3OTU0NDQ4MDA.forgedforgedforged")
        assert (await peer.expect(p.Error)).code is p.ErrorCode.BAD_TOKEN
        await peer.send("hello")
        assert not (await peer.expect(p.Welcome)).resumed


class TestOffersMoveOn:
    async def test_rejected_offer_goes_to_the_next_agent(self, connect: Connect) -> None:
        """A rejects; the same session is offered to B."""
        a: Peer = await connect("agent:A1")
        await available(a)
        _caller, queued = await queue_caller(connect, "u1")
        offer = await a.expect(p.Offer)
        b: Peer = await connect("agent:A2")
        await available(b)  # free, but the session is ringing A
        await a.send("reject", offer_id=offer.offer_id)
        again = await b.expect(p.Offer)
        assert again.session_id == queued.session_id

    async def test_disconnect_mid_offer_moves_on_at_once(
        self, connect: Connect, outcomes: Outcomes
    ) -> None:
        """The offered agent's socket drops: the session is offered to another agent."""
        a: Peer = await connect("agent:A1")
        await available(a)
        caller, queued = await queue_caller(connect, "u1")
        offer = await a.expect(p.Offer)
        assert offer.session_id == queued.session_id
        await a.close()
        b: Peer = await connect("agent:A2")
        await available(b)
        again = await b.expect(p.Offer)
        assert again.session_id == queued.session_id
        await b.send("accept", offer_id=again.offer_id)
        assert (await caller.expect(p.Connected)).agent_id == "A2"

    async def test_agent_disconnect_in_session_puts_caller_back_at_the_head(
        self, connect: Connect, outcomes: Outcomes
    ) -> None:
        """A live session whose agent drops and is not back within the grace period
        (1 s here): the caller is told they are back in line, at the head, under a new
        session id; the interrupted leg is recorded so; the
        caller can hang up, and that is recorded too."""
        a: Peer = await connect("agent:A1")
        await available(a)
        caller, queued = await queue_caller(connect, "u1")
        offer = await a.expect(p.Offer)
        await a.send("accept", offer_id=offer.offer_id)
        await caller.expect(p.Connected)
        _, _later = await queue_caller(connect, "u2")
        await a.close()
        back = await caller.expect(p.Queued)
        assert back.reason is p.QueuedReason.AGENT_LOST
        assert back.session_id == f"{queued.session_id}:r1"
        b: Peer = await connect("agent:A2")
        await available(b)
        again = await b.expect(p.Offer)
        assert again.session_id == back.session_id
        await b.send("reject", offer_id=again.offer_id)
        await caller.send("end")
        ended = await caller.expect(p.Ended)
        assert (ended.session_id, ended.outcome) == (back.session_id, p.Outcome.ABANDONED)
        legs = await outcomes.wait_for(2)
        assert [(r.session, r.outcome, r.agent) for r in legs] == [
            (queued.session_id, p.Outcome.INTERRUPTED, "A1"),
            (back.session_id, p.Outcome.ABANDONED, None),
        ]
        assert legs[0].transferred_to == back.session_id


class TestRingTimeout:
    @pytest.fixture
    def config(self) -> Any:
        return make_config(ring_timeout_s=0.3)

    async def test_unanswered_offer_times_out_and_moves_on(self, connect: Connect) -> None:
        """An offer not answered within the ring timeout is cancelled and re-offered;
        the timer is armed by the driver and fires through the log."""
        a: Peer = await connect("agent:A1")
        await available(a)
        _caller, queued = await queue_caller(connect, "u1")
        await a.expect(p.Offer)
        b: Peer = await connect("agent:A2")
        await available(b)
        cancelled = await a.expect(p.OfferCancelled, within=3)
        assert cancelled.reason is p.CancelReason.TIMEOUT
        assert (await b.expect(p.Offer, within=3)).session_id == queued.session_id


class TestResume:
    async def test_caller_reconnecting_within_grace_keeps_place(
        self, connect: Connect, outcomes: Outcomes
    ) -> None:
        """A caller who drops and comes back with the resume token is still in line."""
        caller: Peer = await connect("caller:u1", hello=False)
        await caller.send("hello")
        token = (await caller.expect(p.Welcome)).resume_token
        await caller.send("join_queue", category="general", language="zh")
        queued = await caller.expect(p.Queued)
        await caller.close()
        back: Peer = await connect("caller:u1", hello=False)
        await back.send("hello", resume_token=token)
        assert (await back.expect(p.Welcome)).resumed
        assert (await back.expect(p.Queued)).session_id == queued.session_id
        agent: Peer = await connect("agent:A1")
        await available(agent)
        offer = await agent.expect(p.Offer)
        assert offer.session_id == queued.session_id
        await agent.send("accept", offer_id=offer.offer_id)
        await back.expect(p.Connected)
        assert outcomes.recorded == []

    async def test_agent_reconnecting_within_grace_keeps_the_call(
        self, connect: Connect, outcomes: Outcomes
    ) -> None:
        """An agent whose connection drops mid-call and who is back within the grace
        period is told the call again; the caller was never sent back to the line, and
        the call is recorded once, answered."""
        a: Peer = await connect("agent:A1")
        await available(a)
        caller, queued = await queue_caller(connect, "u1")
        offer = await a.expect(p.Offer)
        await a.send("accept", offer_id=offer.offer_id)
        first = await caller.expect(p.Connected)
        await a.close()
        back: Peer = await connect("agent:A1")
        assert (await back.expect(p.PresenceChanged)).state is p.Presence.IN_SESSION
        again = await back.expect(p.Connected)
        assert (again.session_id, again.room) == (first.session_id, first.room)
        await back.send("end", session_id=queued.session_id)
        assert (await caller.expect(p.Ended)).outcome is p.Outcome.ANSWERED
        assert not [m for m in caller.seen if isinstance(m, p.Queued) and m.reason]
        (leg,) = await outcomes.wait_for(1)
        assert (leg.session, leg.outcome) == (queued.session_id, p.Outcome.ANSWERED)

    async def test_token_of_another_caller_is_refused(self, connect: Connect) -> None:
        """A resume token only works for the identity it was issued to."""
        caller: Peer = await connect("caller:u1", hello=False)
        await caller.send("hello")
        token = (await caller.expect(p.Welcome)).resume_token
        thief: Peer = await connect("caller:u2", hello=False)
        await thief.send("hello", resume_token=token)
        assert (await thief.expect(p.Error)).code is p.ErrorCode.BAD_TOKEN

    async def test_caller_gone_past_grace_is_abandoned(
        self, connect: Connect, outcomes: Outcomes
    ) -> None:
        """Not back within the grace period (1 s here): recorded as abandoned."""
        caller, queued = await queue_caller(connect, "u1")
        await caller.close()
        (recorded,) = await outcomes.wait_for(1, within=5)
        assert recorded.session == queued.session_id
        assert recorded.outcome.value == "abandoned"


class TestCallbackAndTransfer:
    async def test_callback_keeps_place_after_hangup(
        self, connect: Connect, outcomes: Outcomes
    ) -> None:
        """A caller who asked for a callback hangs up; the agent is offered a callback
        with the masked number, and no abandonment is recorded."""
        caller, queued = await queue_caller(connect, "u1", phone="138 1234 5678")
        await caller.send("request_callback")
        await caller.close()
        agent: Peer = await connect("agent:A1")
        await available(agent)
        offer = await agent.expect(p.Offer, within=5)
        assert offer.session_id == queued.session_id
        assert offer.kind is p.OfferKind.CALLBACK
        assert offer.phone == "138****5678"
        await agent.send("accept", offer_id=offer.offer_id)
        await agent.expect(p.Connected)
        await agent.send("end", session_id=queued.session_id)
        (recorded,) = await outcomes.wait_for(1)
        assert recorded.outcome.value == "callback_done"

    async def test_transfer_to_queue_requeues_the_caller(
        self, connect: Connect, outcomes: Outcomes
    ) -> None:
        """A blind transfer records the leg as transferred and queues the caller anew."""
        caller, queued = await queue_caller(connect, "u1")
        agent: Peer = await connect("agent:A1")
        await available(agent)
        offer = await agent.expect(p.Offer)
        await agent.send("accept", offer_id=offer.offer_id)
        await caller.expect(p.Connected)
        other: Peer = await connect("agent:A2")
        await other.expect(p.PresenceChanged)  # signed in, on a break: could take it
        await agent.send("transfer", session_id=queued.session_id, to_queue="legal_aid")
        requeued = await caller.expect(p.Queued)
        assert requeued.session_id != queued.session_id
        assert requeued.category.value == "legal_aid"
        (recorded,) = await outcomes.wait_for(1)
        assert recorded.outcome.value == "transferred"
        assert recorded.transferred_to == requeued.session_id

    async def test_leave_queue_is_recorded_abandoned(
        self, connect: Connect, outcomes: Outcomes
    ) -> None:
        """Leaving the line ends the session as abandoned and tells the caller."""
        caller, _queued = await queue_caller(connect, "u1")
        await caller.send("leave_queue")
        ended = await caller.expect(p.Ended)
        assert ended.outcome is p.Outcome.ABANDONED
        await caller.send("leave_queue")
        assert (await caller.expect(p.Error)).code is p.ErrorCode.BAD_STATE
        assert len(await outcomes.wait_for(1)) == 1


class TestShutdown:
    async def test_open_sockets_are_closed_going_away(self, client: Any, connect: Connect) -> None:
        """Stopping the server closes every socket with 1001 GOING_AWAY."""
        peer: Peer = await connect("caller:u1")
        await client.server.close()
        msg = await peer.ws.receive(timeout=5)
        assert msg.type is WSMsgType.CLOSE
        assert msg.data == WSCloseCode.GOING_AWAY


class TestWaitingCaller:
    @pytest.fixture
    def config(self) -> Any:
        base = make_config()
        queues = tuple(dataclasses.replace(q, max_wait_s=0.3) for q in base.queues)
        return dataclasses.replace(base, queues=queues)

    async def test_caller_hears_position_then_is_offered_a_callback(self, connect: Connect) -> None:
        """A waiting caller is told their place and wait; after the queue's maximum
        wait they are offered a callback, and may take a voicemail instead."""
        caller: Peer = await connect("caller:u1")
        await caller.send("join_queue", category="consumer", language="zh")
        queued = await caller.recv()
        assert isinstance(queued, p.Queued)
        position = await caller.recv()
        assert isinstance(position, p.Position)
        assert position.session_id == queued.session_id
        assert position.position == 1
        offered = await caller.expect(p.CallbackOffered, within=3)
        assert offered.session_id == queued.session_id
        await caller.send("request_voicemail", message="工资拖欠三个月，请回电")
        ended = await caller.expect(p.Ended)
        assert ended.outcome is p.Outcome.VOICEMAIL


class TestRateLimit:
    async def test_flood_is_refused_with_rate_limited(self, connect: Connect) -> None:
        """Beyond the burst, messages are not acted on, and the client is told
        ``rate_limited`` once (not once per frame: that would flood it in turn)."""
        peer: Peer = await connect("caller:u1")
        for i in range(60):
            await peer.send("ping", nonce=str(i))
        await peer.send("ping", nonce="end")  # also refused: the bucket is still empty
        codes = []
        with contextlib.suppress(TimeoutError):
            while True:
                msg = await peer.recv(within=0.5)
                codes.append("pong" if isinstance(msg, p.Pong) else msg.code)  # type: ignore[union-attr]
        assert 39 <= codes.count("pong") < 60
        assert 1 <= codes.count(p.ErrorCode.RATE_LIMITED) <= 3
        await asyncio.sleep(1.1)
        await peer.send("ping", nonce="after")
        assert (await peer.expect(p.Pong)).nonce == "after"  # the socket lives on


class TestSignOut:
    async def test_offline_then_available_on_the_same_socket(self, connect: Connect) -> None:
        """An agent who goes offline is signed out, and signs in again by asking for
        available on the same socket."""
        agent: Peer = await connect("agent:A1")
        await available(agent)
        await agent.send("presence", state="offline")
        changed = await agent.recv()
        while not (isinstance(changed, p.PresenceChanged) and changed.state is p.Presence.OFFLINE):
            changed = await agent.recv()
        _, queued = await queue_caller(connect, "u1")
        await available(agent)
        assert (await agent.expect(p.Offer)).session_id == queued.session_id


class TestLiveCallerDrop:
    async def test_caller_gone_from_live_session_ends_it_after_grace(
        self, connect: Connect, outcomes: Outcomes
    ) -> None:
        """A connected caller who drops and does not return within the grace period
        ends the session (answered); the agent is told it ended."""
        caller, queued = await queue_caller(connect, "u1")
        agent: Peer = await connect("agent:A1")
        await available(agent)
        offer = await agent.expect(p.Offer)
        await agent.send("accept", offer_id=offer.offer_id)
        await caller.expect(p.Connected)
        await agent.expect(p.Connected)
        await caller.close()
        ended = await agent.expect(p.Ended, within=5)
        assert ended.session_id == queued.session_id
        (recorded,) = await outcomes.wait_for(1)
        assert recorded.outcome.value == "answered"


@pytest.mark.redis
@pytest.mark.parametrize("backplane_kind", ["redis"])  # this one is about Redis alone
class TestRedisListener:
    async def test_lost_pubsub_connection_makes_clients_resume(
        self, client: Any, connect: Connect, backplane_kind: str, redis_url: str
    ) -> None:
        """If Redis drops this process's pub/sub connection, messages sent meanwhile are
        lost: the listener resubscribes and asks its clients to reconnect (1012), and a
        caller who resumes is told its place again; routing goes on."""
        import redis.asyncio as aioredis

        from signaling.web import SIGNALING

        backplane = client.server.app[SIGNALING].backplane
        caller: Peer = await connect("caller:u1", hello=False)
        await caller.send("hello")
        token = (await caller.expect(p.Welcome)).resume_token
        await caller.send("join_queue", category="general", language="zh")
        queued = await caller.expect(p.Queued)
        name = f"{backplane.prefix}:{backplane.process_id}:listener"
        admin = aioredis.Redis.from_url(redis_url)
        try:
            (mine,) = [c for c in await admin.client_list() if c["name"] == name]
            await admin.client_kill_filter(_id=mine["id"])
        finally:
            await admin.aclose()
        while True:
            frame = await caller.ws.receive(timeout=5)
            if frame.type is WSMsgType.CLOSE:
                break
        assert frame.data == WSCloseCode.SERVICE_RESTART
        back: Peer = await connect("caller:u1", hello=False)
        await back.send("hello", resume_token=token)
        assert (await back.expect(p.Queued)).session_id == queued.session_id
        agent: Peer = await connect("agent:A1")
        await available(agent)
        assert (await agent.expect(p.Offer)).session_id == queued.session_id
