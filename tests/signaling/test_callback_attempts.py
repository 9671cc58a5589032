"""Calling a callback back: the caller's open page rings; an unreached callback is
recorded with its result and tried again after the retry delay, or closed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from routing.model import RoutingConfig
from signaling import protocol as p
from tests.signaling.conftest import Outcomes, Peer, make_config

Connect = Callable[..., Any]


@pytest.fixture
def config() -> RoutingConfig:
    base = make_config()
    queues = tuple(
        dataclasses.replace(q, callback_retry_s=0.5, callback_attempts=2) for q in base.queues
    )
    return dataclasses.replace(base, queues=queues)


async def callback_waiting(connect: Connect, name: str, *, stay: bool) -> tuple[Peer, str]:
    caller: Peer = await connect(f"caller:{name}")
    await caller.send("join_queue", category="labour_wages", language="zh", phone="13812345678")
    queued = await caller.expect(p.Queued)
    await caller.send("request_callback")
    if not stay:
        await caller.close()
    return caller, queued.session_id


async def take(agent: Peer) -> tuple[p.Offer, p.Connected]:
    await agent.send("presence", state="available")
    offer = await agent.expect(p.Offer, within=5)
    assert offer.kind is p.OfferKind.CALLBACK
    await agent.send("accept", offer_id=offer.offer_id)
    return offer, await agent.expect(p.Connected)


async def test_an_open_page_rings_and_is_told_the_attempt(connect: Connect) -> None:
    """The caller kept the page open: both learn it is a callback, the agent that the
    caller's page rings; the caller gets the call's room."""
    caller, sid = await callback_waiting(connect, "u1", stay=True)
    agent: Peer = await connect("agent:A1")
    _offer, connected = await take(agent)
    assert (connected.callback, connected.caller_online) == (True, True)
    assert (connected.attempt, connected.attempts) == (1, 2)
    ringing = await caller.expect(p.Connected)
    assert (ringing.session_id, ringing.callback, ringing.room) == (sid, True, f"R-{sid}")


async def test_unreached_is_recorded_and_tried_again_then_closed(
    connect: Connect, outcomes: Outcomes
) -> None:
    """Page closed: the agent dials, nobody answers, asks for a retry; the agent is free
    at once. After the delay the callback is offered again (attempt 2 of 2, the same
    number); that last attempt cannot be retried, only closed."""
    _caller, sid = await callback_waiting(connect, "u1", stay=False)
    agent: Peer = await connect("agent:A1")
    _offer, connected = await take(agent)
    assert connected.caller_online is False
    await agent.send("callback_unreached", session_id=sid, result="no_answer", retry=True)
    ended = await agent.expect(p.Ended)
    assert (ended.outcome, ended.disposition) == (p.Outcome.CALLBACK_FAILED, None)
    (first,) = await outcomes.wait_for(1)
    assert (first.session, first.outcome.value) == (sid, "callback_failed")
    again = await agent.expect(p.Offer, within=5)
    assert (again.session_id, again.kind) == (f"{sid}:b2", p.OfferKind.CALLBACK)
    assert again.phone == "138****5678"  # the full one follows from the sealed store
    await agent.send("accept", offer_id=again.offer_id)
    second = await agent.expect(p.Connected)
    assert (second.attempt, second.attempts) == (2, 2)
    await agent.send("callback_unreached", session_id=again.session_id, result="busy", retry=True)
    refused = await agent.expect(p.Error)
    assert refused.code is p.ErrorCode.BAD_STATE
    await agent.send("callback_unreached", session_id=again.session_id, result="busy")
    assert (await agent.expect(p.Ended)).outcome is p.Outcome.CALLBACK_FAILED
    recorded = await outcomes.wait_for(2)
    assert [r.session for r in recorded] == [sid, f"{sid}:b2"]


async def test_reached_by_phone_after_a_retry_is_done(connect: Connect, outcomes: Outcomes) -> None:
    """The second attempt reaches the caller: it ends as an ordinary callback."""
    _caller, sid = await callback_waiting(connect, "u1", stay=False)
    agent: Peer = await connect("agent:A1")
    await take(agent)
    await agent.send("callback_unreached", session_id=sid, result="no_answer", retry=True)
    await agent.expect(p.Ended)
    again = await agent.expect(p.Offer, within=5)
    await agent.send("accept", offer_id=again.offer_id)
    await agent.expect(p.Connected)
    await agent.send("end", session_id=again.session_id)
    assert (await agent.expect(p.Ended)).outcome is p.Outcome.CALLBACK_DONE
    outcomes_seen = [r.outcome.value for r in await outcomes.wait_for(2)]
    assert outcomes_seen == ["callback_failed", "callback_done"]


async def test_bad_unreached_requests_change_nothing(connect: Connect) -> None:
    """Not a callback, not yours, a retried wrong number, from a caller: each refused
    with a code; the live call goes on and ends normally."""
    caller: Peer = await connect("caller:u1")
    await caller.send("join_queue", category="labour_wages", language="zh")
    queued = await caller.expect(p.Queued)
    agent: Peer = await connect("agent:A1")
    await agent.send("presence", state="available")
    offer = await agent.expect(p.Offer)
    await agent.send("accept", offer_id=offer.offer_id)
    await agent.expect(p.Connected)
    await caller.expect(p.Connected)
    other: Peer = await connect("agent:A2")
    sid = queued.session_id
    for peer, fields, code in [
        (agent, {"result": "no_answer"}, p.ErrorCode.BAD_STATE),  # not a callback
        (other, {"result": "no_answer"}, p.ErrorCode.BAD_STATE),  # not yours
        (agent, {"result": "wrong_number", "retry": True}, p.ErrorCode.BAD_FIELD),
        (agent, {"result": "asleep"}, p.ErrorCode.BAD_FIELD),
        (caller, {"result": "no_answer"}, p.ErrorCode.NOT_ALLOWED),
    ]:
        await peer.send("callback_unreached", session_id=sid, **fields)
        assert (await peer.expect(p.Error)).code is code, fields
    await agent.send("end", session_id=sid)
    assert (await caller.expect(p.Ended)).outcome is p.Outcome.ANSWERED
