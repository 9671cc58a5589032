"""Consult and conference over real sockets: the colleague's offer, the shared room,
leaving, the hand-over, and every refusal (nothing changes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from routing.ids import AgentId
from routing.presence import Presence
from signaling import protocol as p
from signaling.web import SIGNALING
from tests.signaling.conftest import Peer
from tests.signaling.test_calls import call

Connect = Callable[..., Any]


async def colleague(connect: Connect, name: str = "A2") -> Peer:
    peer: Peer = await connect(f"agent:{name}")
    await peer.send("presence", state="available")
    while True:  # applied before anything the test does next
        msg = await peer.recv()
        if isinstance(msg, p.PresenceChanged) and msg.state is p.Presence.AVAILABLE:
            return peer


async def consulting(connect: Connect) -> tuple[Peer, Peer, Peer, str]:
    """A1 is in a call and consults A2, who accepts."""
    a1, caller, connected = await call(connect)
    a2 = await colleague(connect)
    sid = connected.session_id
    await a1.send("consult", session_id=sid, to_agent="A2")
    ringing = await a1.expect(p.ConsultState)
    assert (ringing.state, ringing.side, ringing.consult_id) == (
        p.ConsultPhase.RINGING,
        p.ConsultSide.REQUESTER,
        f"{sid}:c1",
    )
    offer = await a2.expect(p.Offer)
    assert (offer.kind, offer.call_session_id, offer.from_name) == (p.OfferKind.CONSULT, sid, "A1")
    assert offer.category is p.Category.LABOUR_WAGES
    await a2.send("accept", offer_id=offer.offer_id)
    joined = await a2.expect(p.ConsultState)
    assert (joined.state, joined.side, joined.room, joined.agent_name) == (
        p.ConsultPhase.CONNECTED,
        p.ConsultSide.CONSULTANT,
        f"R-{sid}",
        "A1",
    )
    told = await a1.expect(p.ConsultState)
    assert (told.state, told.agent_name) == (p.ConsultPhase.CONNECTED, "A2")
    return a1, a2, caller, sid


async def hang_up(caller: Peer) -> None:
    """End the call before the test ends. (Under Redis, a teardown that races the
    leader's outcome writer while an interrupted call is re-offered to a free colleague
    can hang the leader's shutdown: a driver matter, reported; these tests need not
    exercise it.)"""
    await caller.send("end")
    await caller.expect(p.Ended)


class TestTargets:
    async def test_colleagues_by_name_and_the_queues_they_serve(self, connect: Connect) -> None:
        """get_targets lists who could take the call, never yourself, free or not."""
        a1, caller, connected = await call(connect)
        await colleague(connect)
        await a1.send("get_targets", session_id=connected.session_id)
        targets = await a1.expect(p.Targets)
        assert [(a.agent_id, a.name, a.free) for a in targets.agents] == [("A2", "A2", True)]
        assert p.TargetQueue(category=p.Category.LEGAL_AID, free=True) in targets.queues
        await hang_up(caller)


class TestConsult:
    async def test_the_colleague_joins_the_call_room_and_the_first_agent_hands_over(
        self, client: TestClient[Any, Any], connect: Connect
    ) -> None:
        """The colleague may enter the call's room; after the hand-over the caller's
        session is the consult leg, in the same room, with the colleague's name; the
        first agent's leg ends transferred and the colleague's ends answered."""
        a1, a2, caller, sid = await consulting(connect)
        node = client.app[SIGNALING].node
        a2_conn = next(c for c in node.conns.values() if c.identity.agent_id == "A2")
        assert a2_conn.room_session is not None
        assert a2_conn.room_session.granted(f"R-{sid}")
        await a1.send("hand_over", session_id=sid)
        taken = await a2.expect(p.Connected)
        assert (taken.session_id, taken.room, taken.agent_name) == (f"{sid}:c1", f"R-{sid}", "A2")
        assert (await caller.expect(p.Connected)) == taken
        ended = await a1.expect(p.Ended)
        assert (ended.session_id, ended.outcome) == (sid, p.Outcome.TRANSFERRED)
        await caller.send("end")
        last = await caller.expect(p.Ended)
        assert (last.session_id, last.outcome) == (f"{sid}:c1", p.Outcome.ANSWERED)
        assert (await a2.expect(p.Ended)).session_id == f"{sid}:c1"
        assert not a2_conn.room_session.granted(f"R-{sid}")

    async def test_the_colleague_leaves_and_is_available_again(
        self, client: TestClient[Any, Any], connect: Connect
    ) -> None:
        """end_consult from the colleague ends it for both; the call goes on with A1."""
        a1, a2, caller, sid = await consulting(connect)
        await a2.send("end_consult", session_id=sid)
        mine = await a2.expect(p.ConsultState)
        assert (mine.state, mine.reason) == (p.ConsultPhase.ENDED, p.ConsultEndReason.ENDED)
        theirs = await a1.expect(p.ConsultState)
        assert (theirs.state, theirs.side) == (p.ConsultPhase.ENDED, p.ConsultSide.REQUESTER)
        router = client.app[SIGNALING].leader.router
        assert router is not None
        assert router.engine.presence(AgentId("A2")) is Presence.AVAILABLE
        assert router.sessions[sid].agent == "A1"
        await caller.send("ping", nonce="still")
        assert (await caller.expect(p.Pong)).nonce == "still"
        await hang_up(caller)

    async def test_the_caller_hanging_up_ends_the_consult(self, connect: Connect) -> None:
        """The colleague is told the call is over (call_ended)."""
        _a1, a2, caller, _sid = await consulting(connect)
        await caller.send("end")
        told = await a2.expect(p.ConsultState)
        assert (told.state, told.reason) == (p.ConsultPhase.ENDED, p.ConsultEndReason.CALL_ENDED)


class TestRefused:
    async def expect_error(self, peer: Peer, code: p.ErrorCode, ref: str) -> p.Error:
        error = await peer.expect(p.Error)
        assert (error.code, error.ref) == (code, ref), error
        return error

    async def test_bad_consults_are_refused_and_change_nothing(
        self, client: TestClient[Any, Any], connect: Connect
    ) -> None:
        """A session you do not hold, yourself, nobody eligible, both or no target, a
        caller asking, ending or handing over what is not open: an error with its code,
        and afterwards the consult works as if nothing had been tried."""
        a1, caller, connected = await call(connect)
        sid = connected.session_id
        router = client.app[SIGNALING].leader.router
        assert router is not None
        before = router.snapshot()
        await a1.send("consult", session_id="S-other", to_agent="A2")
        await self.expect_error(a1, p.ErrorCode.BAD_STATE, "consult")
        await a1.send("consult", session_id=sid, to_agent="A1")
        await self.expect_error(a1, p.ErrorCode.BAD_FIELD, "consult")
        await a1.send("consult", session_id=sid, to_agent="A9")
        error = await self.expect_error(a1, p.ErrorCode.NOBODY_ELIGIBLE, "consult")
        assert "A9" in error.detail
        await a1.send("consult", session_id=sid, to_queue="legal_aid")
        error = await self.expect_error(a1, p.ErrorCode.NOBODY_ELIGIBLE, "consult")
        assert "legal_aid" in error.detail
        await a1.send("consult", session_id=sid, to_queue="legal_aid", to_agent="A2")
        await self.expect_error(a1, p.ErrorCode.BAD_FIELD, "consult")
        await a1.send("consult", session_id=sid)
        await self.expect_error(a1, p.ErrorCode.BAD_FIELD, "consult")
        await a1.send("consult", to_agent="A2")
        await self.expect_error(a1, p.ErrorCode.MISSING_FIELD, "consult")
        await a1.send("consult", session_id=sid, to_agent="A 2")
        await self.expect_error(a1, p.ErrorCode.BAD_FIELD, "consult")
        await a1.send("end_consult", session_id=sid)
        await self.expect_error(a1, p.ErrorCode.BAD_STATE, "end_consult")
        await a1.send("hand_over", session_id=sid)
        await self.expect_error(a1, p.ErrorCode.BAD_STATE, "hand_over")
        await a1.send("get_targets", session_id="S-other")
        await self.expect_error(a1, p.ErrorCode.BAD_STATE, "get_targets")
        await caller.send("consult", session_id=sid, to_agent="A1")
        await self.expect_error(caller, p.ErrorCode.NOT_ALLOWED, "consult")
        after = router.snapshot()
        after["router"]["last_now"] = before["router"]["last_now"]
        assert after == before
        a2 = await colleague(connect)
        await a1.send("consult", session_id=sid, to_agent="A2")
        assert (await a1.expect(p.ConsultState)).consult_id == f"{sid}:c1"
        assert (await a2.expect(p.Offer)).kind is p.OfferKind.CONSULT
        await hang_up(caller)

    async def test_hand_over_before_the_colleague_joined_and_a_second_consult(
        self, connect: Connect
    ) -> None:
        """While the consult rings, a hand-over, a transfer and another consult are
        refused; the colleague who was not asked cannot end it."""
        a1, caller, connected = await call(connect)
        sid = connected.session_id
        await colleague(connect)
        a3 = await colleague(connect, "A3")
        await a1.send("consult", session_id=sid, to_agent="A2")
        await a1.expect(p.ConsultState)
        await a1.send("hand_over", session_id=sid)
        await self.expect_error(a1, p.ErrorCode.BAD_STATE, "hand_over")
        await a1.send("transfer", session_id=sid, to_queue="legal_aid")
        await self.expect_error(a1, p.ErrorCode.BAD_STATE, "transfer")
        await a1.send("consult", session_id=sid, to_agent="A3")
        await self.expect_error(a1, p.ErrorCode.BAD_STATE, "consult")
        await a3.send("end_consult", session_id=sid)
        await self.expect_error(a3, p.ErrorCode.BAD_STATE, "end_consult")
        await hang_up(caller)
