"""Consult and conference (warm transfer): a second agent asked into a live call."""

from __future__ import annotations

import pytest
from routing_harness import GENERAL, Harness, of

from routing.actions import (
    CancelOffer,
    ConnectSession,
    ConsultChanged,
    ConsultState,
    OfferSession,
    Outcome,
    SessionRecorded,
)
from routing.engine import Engine
from routing.errors import InvalidRequest, NobodyEligible
from routing.events import (
    AgentDisconnected,
    AgentStateChanged,
    CallbackRequested,
    ConsultEnded,
    ConsultRequested,
    HandOverRequested,
    OfferAccepted,
    OfferRejected,
    SessionAbandoned,
    SessionEnded,
    TransferRequested,
    VoicemailRequested,
)
from routing.ids import AgentId, CallerKey, Language, SessionId
from routing.presence import Presence

S1 = SessionId("s1")
C1 = SessionId("s1:c1")
A1, A2 = AgentId("a1"), AgentId("a2")


def in_call(h: Harness, **kw: object) -> None:
    """a1 answers s1 (a labour caller); a2 (labour too) signs in on a break."""
    h.sign_in("a1", **kw)  # type: ignore[arg-type]
    h.sign_in("a2", presence=Presence.BREAK, **kw)  # type: ignore[arg-type]
    h.enqueue("s1", caller=CallerKey("tel:x"))
    h.send(OfferAccepted, agent=A1, session=S1)


def consult_states(actions: list) -> list[tuple[str, ConsultState, str | None]]:
    return [(a.consult, a.state, a.consultant) for a in of(actions, ConsultChanged)]


def consulting(h: Harness) -> None:
    """a1 consults a2, who accepts: three in the call."""
    in_call(h)
    h.send(AgentStateChanged, agent=A2, presence=Presence.AVAILABLE)
    h.send(ConsultRequested, session=S1, to_agent=A2)
    h.send(OfferAccepted, agent=A2, session=C1)


class TestConsult:
    def test_named_colleague_is_offered_a_consult_and_reserved_while_in_it(self) -> None:
        """The consult is offered as one (marked with its call), ringing is told first;
        once in, the colleague is offered nothing else; no session is recorded for it."""
        h = Harness()
        in_call(h)
        h.send(AgentStateChanged, agent=A2, presence=Presence.AVAILABLE)
        acts = h.send(ConsultRequested, session=S1, to_agent=A2)
        assert consult_states(acts) == [(C1, ConsultState.RINGING, None)]
        offer = of(acts, OfferSession)[0]
        assert (offer.agent, offer.session, offer.consult_of) == (A2, C1, S1)
        assert acts.index(of(acts, ConsultChanged)[0]) < acts.index(offer)
        acts = h.send(OfferAccepted, agent=A2, session=C1)
        assert consult_states(acts) == [(C1, ConsultState.CONNECTED, A2)]
        assert of(acts, ConnectSession) == []
        assert h.engine.presence(A2) is Presence.IN_SESSION
        assert "a2" not in h.engine.snapshot()["today"]  # a consult is not a call answered
        acts = h.enqueue("s2")
        assert of(acts, OfferSession) == []
        acts = h.send(ConsultEnded, session=S1)
        assert consult_states(acts) == [(C1, ConsultState.ENDED, A2)]
        assert of(acts, SessionRecorded) == []
        assert [(o.agent, o.session) for o in of(acts, OfferSession)] == [(A2, SessionId("s2"))]
        assert h.engine.session_state(S1) == "in_session"
        assert h.engine.session_state(C1) is None

    def test_anyone_in_a_queue_gets_it_before_the_callers_of_that_queue(self) -> None:
        """A consult to a queue (a mediator, an interpreter) goes ahead of its callers,
        who are not told a position for it."""
        h = Harness()
        in_call(h)
        h.sign_in("g1", skills={"general": 3}, presence=Presence.BREAK)
        h.enqueue("w1", "general")
        h.advance(60)
        acts = h.send(ConsultRequested, session=S1, to_queue=GENERAL)
        assert consult_states(acts) == [(C1, ConsultState.RINGING, None)]
        assert h.engine.waiting(GENERAL) == [C1, SessionId("w1")]
        acts = h.send(AgentStateChanged, agent=AgentId("g1"), presence=Presence.AVAILABLE)
        assert [(o.agent, o.session) for o in of(acts, OfferSession)] == [(AgentId("g1"), C1)]
        acts = h.advance(400)  # ring timeouts, re-offers and position ticks: never a callback
        assert all(getattr(a, "session", None) != C1 or a.kind != "offer_callback" for a in acts)

    def test_a_colleague_who_rejects_is_asked_again_and_never_falls_back(self) -> None:
        """A named consult waits for that colleague only, however long it takes."""
        h = Harness()
        in_call(h)
        h.sign_in("a3")
        h.send(AgentStateChanged, agent=A2, presence=Presence.AVAILABLE)
        h.send(ConsultRequested, session=S1, to_agent=A2)
        acts = h.send(OfferRejected, agent=A2, session=C1)
        assert of(acts, OfferSession) == []
        acts = h.advance(120)
        assert {o.agent for o in of(acts, OfferSession)} == {A2}

    def test_hand_over_makes_the_consult_leg_the_call(self) -> None:
        """The first agent's leg ends transferred to the consult leg, which goes on with
        the colleague as the caller's session and ends as an answered call."""
        h = Harness()
        consulting(h)
        h.advance(30)
        acts = h.send(HandOverRequested, session=S1)
        assert consult_states(acts) == [(C1, ConsultState.HANDED_OVER, A2)]
        rec = of(acts, SessionRecorded)[0]
        assert (rec.session, rec.outcome, rec.agent, rec.transferred_to) == (
            S1,
            Outcome.TRANSFERRED,
            A1,
            C1,
        )
        assert h.engine.presence(A1) is Presence.WRAP_UP
        assert h.engine.session_state(C1) == "in_session"
        acts = h.send(SessionEnded, session=C1)
        rec = of(acts, SessionRecorded)[0]
        assert (rec.session, rec.outcome, rec.agent, rec.caller) == (
            C1,
            Outcome.ANSWERED,
            A2,
            "tel:x",
        )
        assert h.engine.presence(A2) is Presence.WRAP_UP

    def test_the_new_agent_lost_after_a_hand_over_puts_the_caller_back_at_the_head(
        self,
    ) -> None:
        """After the hand-over the leg is an ordinary call: its agent's drop interrupts it
        and the caller waits with the original arrival, not a consult's precedence."""
        h = Harness()
        consulting(h)
        h.send(HandOverRequested, session=S1)
        acts = h.send(AgentDisconnected, agent=A2)
        assert of(acts, SessionRecorded)[0].outcome is Outcome.INTERRUPTED
        assert h.engine.snapshot()["sessions"]["s1:c1:r1"]["level"] == 0


class TestConsultEnds:
    def test_withdrawn_while_ringing(self) -> None:
        """A consult withdrawn while it rings stops the ringing; the colleague is free."""
        h = Harness()
        in_call(h)
        h.send(AgentStateChanged, agent=A2, presence=Presence.AVAILABLE)
        h.send(ConsultRequested, session=S1, to_agent=A2)
        acts = h.send(ConsultEnded, session=S1)
        assert [(c.agent, c.session) for c in of(acts, CancelOffer)] == [(A2, C1)]
        assert consult_states(acts) == [(C1, ConsultState.ENDED, None)]
        assert h.engine.presence(A2) is Presence.AVAILABLE
        assert not any(k.endswith(C1) for k in h.engine.pending_timers)

    def test_withdrawn_while_nobody_is_free(self) -> None:
        """A consult still waiting for a free agent is simply withdrawn."""
        h = Harness()
        in_call(h)
        h.send(ConsultRequested, session=S1, to_agent=A2)
        acts = h.send(ConsultEnded, session=S1)
        assert of(acts, CancelOffer) == []
        assert consult_states(acts) == [(C1, ConsultState.ENDED, None)]
        assert h.engine.waiting(h.engine.config.queues[0].id) == []

    def test_the_call_ending_ends_the_consult(self) -> None:
        """The caller hanging up (or the agent ending the call) lets the colleague go."""
        h = Harness()
        consulting(h)
        acts = h.send(SessionAbandoned, session=S1)
        assert [(a.state, a.reason) for a in of(acts, ConsultChanged)] == [
            (ConsultState.ENDED, "call ended")
        ]
        assert h.engine.presence(A2) is Presence.AVAILABLE

    def test_the_colleague_lost_ends_the_consult_and_the_call_goes_on(self) -> None:
        """The consulted agent's drop ends the consult only; another may be asked."""
        h = Harness()
        consulting(h)
        acts = h.send(AgentDisconnected, agent=A2)
        assert [(a.state, a.consultant, a.reason) for a in of(acts, ConsultChanged)] == [
            (ConsultState.ENDED, A2, "agent lost")
        ]
        assert h.engine.session_state(S1) == "in_session"
        h.sign_in("a3")
        acts = h.send(ConsultRequested, session=S1, to_agent=AgentId("a3"))
        assert of(acts, OfferSession)[0].session == "s1:c2"

    def test_the_first_agent_lost_ends_the_consult(self) -> None:
        """The requesting agent's drop interrupts the call and withdraws the consult."""
        h = Harness()
        in_call(h)
        h.send(AgentStateChanged, agent=A2, presence=Presence.AVAILABLE)
        h.send(ConsultRequested, session=S1, to_agent=A2)
        acts = h.send(AgentDisconnected, agent=A1)
        assert next((c.agent, c.session) for c in of(acts, CancelOffer)) == (A2, C1)
        assert of(acts, SessionRecorded)[0].outcome is Outcome.INTERRUPTED
        # The caller goes back to the head of the line: a2, now free, is offered it.
        assert [o.session for o in of(acts, OfferSession)] == ["s1:r1"]


class TestConsultRefused:
    def snapshot_unchanged(self, h: Harness, event: type, **fields: object) -> None:
        before = h.engine.snapshot()
        with pytest.raises(InvalidRequest) as info:
            h.send(event, **fields)
        assert h.engine.snapshot() == before
        self.last = info.value

    def test_bad_consults_change_nothing(self) -> None:
        """A waiting session, yourself, no target or two, a second consult, nobody who
        could take it: refused with the reason, and the engine is unchanged."""
        h = Harness()
        in_call(h, languages=("zh", "zh-x-sichuan"))
        h.enqueue("w", "general")
        self.snapshot_unchanged(h, ConsultRequested, session=SessionId("w"), to_agent=A2)
        self.snapshot_unchanged(h, ConsultRequested, session=S1, to_agent=A1)
        assert "themselves" in str(self.last)
        self.snapshot_unchanged(h, ConsultRequested, session=S1)
        self.snapshot_unchanged(h, ConsultRequested, session=S1, to_agent=A2, to_queue=GENERAL)
        self.snapshot_unchanged(h, ConsultRequested, session=S1, to_agent=AgentId("nobody"))
        assert isinstance(self.last, NobodyEligible)
        self.snapshot_unchanged(h, ConsultRequested, session=S1, to_queue=GENERAL)
        assert isinstance(self.last, NobodyEligible)
        assert "anyone for general" in str(self.last)

    def test_language_counts(self) -> None:
        """A colleague who does not speak the caller's dialect cannot be consulted."""
        h = Harness()
        h.sign_in("a1", languages=("zh", "zh-x-sichuan"))
        h.sign_in("a2")
        h.enqueue("s1", language=Language("zh-x-sichuan"))
        h.send(OfferAccepted, agent=A1, session=S1)
        self.snapshot_unchanged(h, ConsultRequested, session=S1, to_agent=A2)
        assert "zh-x-sichuan" in str(self.last)

    def test_one_consult_at_a_time_and_no_blind_transfer_meanwhile(self) -> None:
        """A second consult, a transfer or a hand-over before anyone joined are refused."""
        h = Harness()
        in_call(h)
        h.send(ConsultRequested, session=S1, to_agent=A2)
        self.snapshot_unchanged(h, ConsultRequested, session=S1, to_agent=A2)
        self.snapshot_unchanged(
            h, TransferRequested, session=S1, new_session=SessionId("t"), to_queue=GENERAL
        )
        self.snapshot_unchanged(h, HandOverRequested, session=S1)

    def test_no_consult_to_end_or_hand_over(self) -> None:
        """Ending or handing over a consult that is not open is refused."""
        h = Harness()
        in_call(h)
        self.snapshot_unchanged(h, ConsultEnded, session=S1)
        self.snapshot_unchanged(h, HandOverRequested, session=S1)

    def test_a_consult_leg_is_not_a_callers_session(self) -> None:
        """Caller events, end, transfer or a consult naming a consult leg are refused."""
        h = Harness()
        consulting(h)
        for event, fields in [
            (SessionAbandoned, {}),
            (SessionEnded, {}),
            (CallbackRequested, {}),
            (VoicemailRequested, {}),
            (ConsultRequested, {"to_agent": A1}),
            (TransferRequested, {"new_session": SessionId("t"), "to_queue": GENERAL}),
        ]:
            self.snapshot_unchanged(h, event, session=C1, **fields)


class TestTargets:
    def test_who_could_take_a_live_call(self) -> None:
        """Colleagues signed in, on duty and speaking the caller's dialect, with the
        queues they serve; never the call's own agent; free or busy told apart."""
        from routing.model import Shift

        h = Harness()
        both = ("zh", "zh-x-sichuan")
        h.sign_in("a1", languages=both)
        h.sign_in("a2", presence=Presence.BREAK, languages=both)
        h.enqueue("s1", language=Language("zh-x-sichuan"))
        h.send(OfferAccepted, agent=A1, session=S1)
        h.sign_in("g1", skills={"general": 3}, languages=both)
        h.sign_in("m1", skills={"general": 3})  # Mandarin only
        h.sign_in("n1", languages=("zh-x-sichuan",), shifts=(Shift("03:00", "04:00"),))
        h.enqueue("s2", language=Language("zh-x-sichuan"))
        agents, queues = h.engine.targets(S1)
        assert agents == [(A2, False), (AgentId("g1"), True)]
        assert queues == [(GENERAL, True), (h.engine.config.queues[0].id, False)]
        with pytest.raises(InvalidRequest):
            h.engine.targets(SessionId("s2"))


class TestConsultSnapshot:
    def test_an_open_consult_survives_a_snapshot(self) -> None:
        """A rebuilt engine holds the same consults, ringing or connected."""
        h = Harness()
        in_call(h)
        h.sign_in("g1", skills={"general": 3}, presence=Presence.BREAK)
        h.send(ConsultRequested, session=S1, to_queue=GENERAL)
        snap = h.engine.snapshot()
        assert Engine.restore(snap).snapshot() == snap
        restored = Engine.restore(snap)
        acts = restored.handle(
            AgentStateChanged(now=h.now, agent=AgentId("g1"), presence=Presence.AVAILABLE)
        )
        assert [o.session for o in of(acts, OfferSession)] == [C1]
