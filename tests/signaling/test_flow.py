"""End to end over real WebSockets, against both backplanes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from signaling import protocol as p
from tests.signaling.conftest import Outcomes, Peer

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
