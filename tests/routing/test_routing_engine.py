"""Behaviour of the routing engine, one class per behaviour, with a fake clock."""

from __future__ import annotations

import pytest
from routing_harness import (
    GENERAL,
    LABOUR,
    T0,
    Harness,
    config,
    of,
    profile,
    queue,
    tiers,
)

from routing.actions import (
    OFF_DUTY,
    AgentPresenceChanged,
    CancelOffer,
    ConnectSession,
    CreateVoicemailTicket,
    OfferCallback,
    OfferSession,
    Outcome,
    SessionMoved,
    SessionRecorded,
    StartTimer,
    TellPosition,
)
from routing.errors import InvalidRequest
from routing.events import (
    AgentDisconnected,
    AgentSignedIn,
    AgentSignedOut,
    AgentStateChanged,
    CallbackRequested,
    CallerReturned,
    OfferAccepted,
    OfferRejected,
    SessionAbandoned,
    SessionEnded,
    TimerFired,
    TransferRequested,
    VoicemailRequested,
)
from routing.ids import AgentId, CallerKey, Language, QueueId, SessionId, TimerKey
from routing.model import AgentChoice, LongWaitAction, RoutingConfig, Shift
from routing.presence import Presence


def offers(actions: list) -> list[tuple[str, str]]:
    return [(o.agent, o.session) for o in of(actions, OfferSession)]


def answer(h: Harness, agent: str, session: str) -> list:
    return h.send(OfferAccepted, agent=AgentId(agent), session=SessionId(session))


class TestQueues:
    def test_default_queues_cover_the_service_categories(self) -> None:
        """The default config has one queue per DOMAIN.md category, general included."""
        from routing.model import RoutingConfig

        ids = {q.id for q in RoutingConfig().queues}
        assert {"labour_wages", "marriage_family", "notarization", "general"} <= ids
        assert len(ids) == 12

    def test_session_in_one_queue_is_not_offered_to_another_queues_agent(self) -> None:
        """An agent with only the general skill is not offered a labour session."""
        h = Harness()
        h.sign_in("g1", skills={"general": 5})
        assert offers(h.enqueue("s1")) == []
        assert offers(h.enqueue("s2", "general")) == [("g1", "s2")]


class TestIndexes:
    def test_callers_who_hang_up_do_not_pile_up_in_the_index(self) -> None:
        """Many callers leaving from behind an old one keep the waiting index small."""
        h = Harness()
        h.enqueue("old", language=Language("yue"))
        for i in range(300):
            h.enqueue(f"s{i}", language=Language("yue"))
            h.send(SessionAbandoned, session=SessionId(f"s{i}"))
        bucket = h.engine._queues[LABOUR].buckets[(0, Language("yue"))]
        assert len(bucket) < 100
        assert offers(h.sign_in("a1", languages=("yue",))) == [("a1", "old")]


class TestEventDriven:
    def test_arrival_with_free_agent_is_offered_in_the_same_call(self) -> None:
        """A session that arrives while an eligible agent is free is offered at once."""
        h = Harness()
        h.sign_in("a1")
        acts = h.enqueue("s1")
        assert offers(acts) == [("a1", "s1")]
        assert of(acts, OfferSession)[0].expires_at == T0 + 20.0

    def test_a_long_line_with_busy_agents_needs_no_timers(self) -> None:
        """While every agent is busy, waiting callers cost no tier timers: nothing polls."""
        h = Harness(config(queue("labour", tiers=tiers((1, 0), (2, 30), (3, 60)))))
        h.sign_in("a1")
        h.enqueue("s0")
        answer(h, "a1", "s0")
        for i in range(1, 200):
            h.enqueue(f"s{i}")
        assert [k for k in h.timers if not k.startswith("pos:")] == []

    def test_agent_becoming_free_is_offered_in_the_same_call(self) -> None:
        """An agent who turns available gets the waiting session in that same call."""
        h = Harness()
        h.sign_in("a1", presence=Presence.BREAK)
        h.enqueue("s1")
        acts = h.send(AgentStateChanged, agent=AgentId("a1"), presence=Presence.AVAILABLE)
        assert offers(acts) == [("a1", "s1")]


class TestEligibility:
    def test_minimum_proficiency(self) -> None:
        """An agent below the queue's minimum proficiency is never offered its sessions."""
        h = Harness(config(queue("labour", min_proficiency=4)))
        h.sign_in("weak", skills={"labour": 3})
        assert offers(h.enqueue("s1")) == []
        assert offers(h.sign_in("strong", skills={"labour": 4})) == [("strong", "s1")]

    def test_language(self) -> None:
        """A Cantonese-speaking caller waits for an agent who speaks Cantonese."""
        h = Harness()
        h.sign_in("zh")
        assert offers(h.enqueue("s1", language=Language("yue"))) == []
        assert offers(h.sign_in("yue", languages=("zh", "yue"))) == [("yue", "s1")]

    def test_off_shift_agent_is_not_offered(self) -> None:
        """A signed-in agent outside their shift gets nothing until the shift starts."""
        h = Harness()
        # T0 is 08:00 local; the shift starts at 09:00.
        acts = h.sign_in("a1", shifts=(Shift("09:00", "17:00"),))
        assert of(acts, StartTimer)[0].at == T0 + 3600
        assert offers(h.enqueue("s1")) == []
        assert offers(h.advance(3600)) == [("a1", "s1")]

    def test_shift_end_stops_offers(self) -> None:
        """When the shift ends the agent is no longer offered sessions."""
        h = Harness()
        h.sign_in("a1", shifts=(Shift("07:00", "09:00"),))
        h.advance(3600)
        assert offers(h.enqueue("s1")) == []


class TestNamedAgent:
    def test_named_agent_gets_the_session_first(self) -> None:
        """A caller who asks for a named lawyer is offered to that lawyer only."""
        h = Harness()
        h.sign_in("a1")
        h.sign_in("a2", presence=Presence.BREAK)
        assert offers(h.enqueue("s1", named_agent=AgentId("a2"))) == []
        acts = h.send(AgentStateChanged, agent=AgentId("a2"), presence=Presence.AVAILABLE)
        assert offers(acts) == [("a2", "s1")]

    def test_falls_back_to_the_queue_after_the_wait(self) -> None:
        """After the queue's named-agent fallback, any eligible agent may take it."""
        h = Harness(config(queue("labour", named_agent_fallback_s=45)))
        h.sign_in("a1")
        h.enqueue("s1", named_agent=AgentId("absent"))
        assert offers(h.advance(44)) == []
        assert offers(h.advance(1)) == [("a1", "s1")]

    def test_named_agent_ringing_at_fallback_keeps_the_offer(self) -> None:
        """If the named agent is being rung when the fallback is due, the offer stands."""
        h = Harness(config(queue("labour", named_agent_fallback_s=10)))
        h.sign_in("a2", presence=Presence.BREAK)
        h.enqueue("s1", named_agent=AgentId("a2"))
        h.advance(5)
        h.send(AgentStateChanged, agent=AgentId("a2"), presence=Presence.AVAILABLE)
        h.sign_in("a1")
        assert of(h.advance(5), CancelOffer) == []
        acts = h.send(OfferRejected, agent=AgentId("a2"), session=SessionId("s1"))
        assert offers(acts) == [("a1", "s1")]


class TestTiers:
    def cfg(self, skip: bool = False):
        return config(queue("labour", tiers=tiers((1, 0), (2, 30), (3, 60)), skip_empty_tiers=skip))

    def test_higher_tier_waits_until_its_tier_opens(self) -> None:
        """A tier-2 agent is offered a session only once it has waited 30 s."""
        h = Harness(self.cfg())
        h.sign_in("t1", presence=Presence.BREAK, tiers={"labour": 1})
        h.sign_in("t2", tiers={"labour": 2})
        assert offers(h.enqueue("s1")) == []
        assert offers(h.advance(29)) == []
        assert offers(h.advance(1)) == [("t2", "s1")]

    def test_lower_tier_preferred_when_both_free(self) -> None:
        """With tiers 1 and 2 both open and free, tier 1 is chosen."""
        h = Harness(self.cfg())
        h.sign_in("t2", tiers={"labour": 2})
        h.sign_in("t1", tiers={"labour": 1})
        assert offers(h.enqueue("s1")) == [("t1", "s1")]

    def test_free_higher_tier_agent_takes_an_old_session(self) -> None:
        """A tier-3 agent who becomes free is offered a session that waited over 60 s."""
        h = Harness(self.cfg())
        h.sign_in("t1", presence=Presence.BREAK, tiers={"labour": 1})
        h.enqueue("s1")
        h.advance(61)
        assert offers(h.sign_in("t3", tiers={"labour": 3})) == [("t3", "s1")]

    def test_idle_agent_is_woken_when_a_tier_opens(self) -> None:
        """A free tier-2 agent with only young sessions waiting is woken at 30 s."""
        h = Harness(self.cfg())
        h.sign_in("t1", presence=Presence.BREAK, tiers={"labour": 1})
        h.enqueue("s1")
        h.advance(10)
        assert offers(h.sign_in("t2", tiers={"labour": 2})) == []
        assert "idle:t2" in h.timers
        assert offers(h.advance(20)) == [("t2", "s1")]

    def test_session_keeps_its_place_as_tiers_open(self) -> None:
        """As tiers open, the older session is still offered before the newer one."""
        h = Harness(self.cfg())
        h.sign_in("t1", presence=Presence.BREAK, tiers={"labour": 1})
        h.enqueue("old")
        h.advance(5)
        h.enqueue("new")
        h.advance(60)
        assert offers(h.sign_in("t3", tiers={"labour": 3})) == [("t3", "old")]

    def test_skip_empty_tier(self) -> None:
        """With skip-empty-tiers, an empty tier 1 lets tier 2 take the session at once."""
        h = Harness(self.cfg(skip=True))
        h.sign_in("t2", tiers={"labour": 2})
        assert offers(h.enqueue("s1")) == [("t2", "s1")]

    def test_without_skip_an_empty_tier_still_waits(self) -> None:
        """Without skip-empty-tiers the tier-2 agent waits the full 30 s."""
        h = Harness(self.cfg())
        h.sign_in("t2", tiers={"labour": 2})
        assert offers(h.enqueue("s1")) == []

    def test_tier_emptied_opens_the_next(self) -> None:
        """When the last tier-1 agent goes on a break, a free tier-2 agent takes the work."""
        h = Harness(self.cfg(skip=True))
        h.sign_in("t1", tiers={"labour": 1})
        h.enqueue("s0")
        answer(h, "t1", "s0")
        h.sign_in("t2", tiers={"labour": 2})
        assert offers(h.enqueue("s1")) == []
        h.send(SessionEnded, session=SessionId("s0"))
        acts = h.send(AgentStateChanged, agent=AgentId("t1"), presence=Presence.BREAK)
        assert offers(acts) == [("t2", "s1")]


class TestPriority:
    def test_green_channel_before_ordinary(self) -> None:
        """A wage claimant who arrives later is still offered before an ordinary caller."""
        h = Harness()
        h.enqueue("ordinary")
        h.advance(5)
        h.enqueue("wages", priority="wage_claim")
        assert offers(h.sign_in("a1")) == [("a1", "wages")]

    def test_oldest_first_within_a_class(self) -> None:
        """Within a priority class the longest-waiting session goes first."""
        h = Harness()
        for i in range(3):
            h.enqueue(f"s{i}", priority="elderly")
            h.advance(1)
        assert offers(h.sign_in("a1")) == [("a1", "s0")]

    def test_queue_weight_between_queues(self) -> None:
        """An agent serving two queues takes the session with the larger weighted wait."""
        cfg = config(queue("labour", weight=3.0), queue("general"))
        h = Harness(cfg)
        h.enqueue("general-old", "general")
        h.advance(20)
        h.enqueue("labour-new")
        h.advance(11)  # general has waited 31 s (weight 1), labour 11 s (weight 3: 33)
        acts = h.sign_in("a1", skills={"labour": 3, "general": 3})
        assert offers(acts) == [("a1", "labour-new")]

    def test_unknown_priority_class_is_refused(self) -> None:
        """A priority class that is not configured is an error, and nothing changes."""
        from routing.errors import InvalidRequest

        h = Harness()
        with pytest.raises(InvalidRequest):
            h.enqueue("s1", priority="vip")
        assert h.engine.session_state(SessionId("s1")) is None


class TestAgentChoice:
    def test_longest_idle_by_default(self) -> None:
        """The agent who has been idle longest is offered first."""
        h = Harness()
        h.sign_in("early")
        h.advance(5)
        h.sign_in("late")
        assert offers(h.enqueue("s1")) == [("early", "s1")]

    def test_signing_in_again_counts_idle_time_afresh(self) -> None:
        """An agent who signs out and in again is idle only since the new sign-in."""
        h = Harness()
        h.sign_in("a1")
        h.advance(5)
        h.sign_in("a2")
        h.advance(5)
        h.send(AgentSignedOut, agent=AgentId("a1"))
        h.advance(5)
        h.sign_in("a1")
        assert offers(h.enqueue("s1")) == [("a2", "s1")]

    def test_fewest_sessions_today(self) -> None:
        """With fewest-today, the agent who answered fewer sessions today is chosen."""
        h = Harness(config(queue("labour", agent_choice=AgentChoice.FEWEST_TODAY, wrap_up_s=0)))
        h.sign_in("busy")
        h.enqueue("s1")
        answer(h, "busy", "s1")
        h.send(SessionEnded, session=SessionId("s1"))
        h.advance(5)
        h.sign_in("fresh")
        assert offers(h.enqueue("s2")) == [("fresh", "s2")]

    def test_best_proficiency(self) -> None:
        """With best-proficiency, the most proficient free agent is chosen."""
        h = Harness(config(queue("labour", agent_choice=AgentChoice.BEST_PROFICIENCY)))
        h.sign_in("p2", skills={"labour": 2})
        h.sign_in("p5", skills={"labour": 5})
        h.sign_in("p3", skills={"labour": 3})
        assert offers(h.enqueue("s1")) == [("p5", "s1")]


class TestRingNoAnswer:
    def test_timeout_moves_to_the_next_agent(self) -> None:
        """After the ring timeout the offer is cancelled and the next agent is offered."""
        h = Harness()
        h.sign_in("a1")
        h.advance(1)
        h.sign_in("a2")
        h.enqueue("s1")
        acts = h.advance(20)
        assert [(c.agent, c.reason) for c in of(acts, CancelOffer)] == [("a1", "ring timeout")]
        assert offers(acts) == [("a2", "s1")]

    def test_missed_agent_is_skipped_for_that_session(self) -> None:
        """An agent who let a session ring out is not offered it again at once."""
        h = Harness()
        h.sign_in("a1")
        h.enqueue("s1")
        acts = h.advance(20)
        assert offers(acts) == []
        assert offers(h.advance(30)) == [("a1", "s1")]  # reoffer_after_s

    def test_consecutive_misses_put_the_agent_on_break(self) -> None:
        """After two consecutive missed offers the agent goes to break, 'missed offers'."""
        h = Harness()
        h.sign_in("a1")
        h.enqueue("s1")
        h.enqueue("s2")
        first = h.advance(20)
        assert offers(first) == [("a1", "s2")]
        second = h.advance(20)
        changes = of(second, AgentPresenceChanged)
        assert (changes[-1].presence, changes[-1].reason) == (Presence.BREAK, "missed offers")
        assert h.engine.presence(AgentId("a1")) is Presence.BREAK

    def test_accept_resets_the_miss_count(self) -> None:
        """An accepted offer between two misses means no break."""
        h = Harness(config(queue("labour", wrap_up_s=0)))
        h.sign_in("a1")
        h.enqueue("s1")
        h.enqueue("s2")
        h.advance(20)  # missed s1, offered s2
        answer(h, "a1", "s2")
        h.send(SessionEnded, session=SessionId("s2"))
        h.advance(40)  # s1 re-offered and missed again
        assert h.engine.presence(AgentId("a1")) is Presence.AVAILABLE

    def test_reject_moves_on_without_counting_a_miss(self) -> None:
        """A rejected offer goes to the next agent; the rejecting agent stays available."""
        h = Harness()
        h.sign_in("a1")
        h.sign_in("a2")
        h.enqueue("s1")
        acts = h.send(OfferRejected, agent=AgentId("a1"), session=SessionId("s1"))
        assert offers(acts) == [("a2", "s1")]
        assert h.engine.presence(AgentId("a1")) is Presence.AVAILABLE


class TestAcceptAndWrapUp:
    def test_accept_connects_and_records_on_end(self) -> None:
        """Accept connects the call; the end records it as answered with its timestamps."""
        h = Harness()
        h.sign_in("a1")
        h.enqueue("s1", caller=CallerKey("13812345678"))
        h.advance(3)
        acts = answer(h, "a1", "s1")
        assert of(acts, ConnectSession)[0].agent == "a1"
        h.advance(100)
        rec = of(h.send(SessionEnded, session=SessionId("s1")), SessionRecorded)[0]
        assert (rec.outcome, rec.queued_at, rec.offered_at, rec.answered_at, rec.ended_at) == (
            Outcome.ANSWERED,
            T0,
            T0,
            T0 + 3,
            T0 + 103,
        )

    def test_wrap_up_per_queue(self) -> None:
        """After a session the agent wraps up for the queue's wrap-up time, then is offered."""
        h = Harness(config(queue("labour", wrap_up_s=45)))
        h.sign_in("a1")
        h.enqueue("s1")
        answer(h, "a1", "s1")
        h.enqueue("s2")
        h.send(SessionEnded, session=SessionId("s1"))
        assert h.engine.presence(AgentId("a1")) is Presence.WRAP_UP
        assert offers(h.advance(44)) == []
        assert offers(h.advance(1)) == [("a1", "s2")]

    def test_agent_may_end_wrap_up_early(self) -> None:
        """An agent who says available during wrap-up is offered work at once."""
        h = Harness()
        h.sign_in("a1")
        h.enqueue("s1")
        answer(h, "a1", "s1")
        h.enqueue("s2")
        h.send(SessionEnded, session=SessionId("s1"))
        acts = h.send(AgentStateChanged, agent=AgentId("a1"), presence=Presence.AVAILABLE)
        assert offers(acts) == [("a1", "s2")]
        assert "wrap:a1" not in h.timers

    def test_zero_wrap_up_offers_at_once(self) -> None:
        """With no wrap-up the agent is offered the next session as the call ends."""
        h = Harness(config(queue("labour", wrap_up_s=0)))
        h.sign_in("a1")
        h.enqueue("s1")
        answer(h, "a1", "s1")
        h.enqueue("s2")
        assert offers(h.send(SessionEnded, session=SessionId("s1"))) == [("a1", "s2")]

    def test_caller_hanging_up_an_answered_call_ends_it(self) -> None:
        """An abandon of an answered session is recorded as answered."""
        h = Harness()
        h.sign_in("a1")
        h.enqueue("s1")
        answer(h, "a1", "s1")
        rec = of(h.send(SessionAbandoned, session=SessionId("s1")), SessionRecorded)
        assert rec[0].outcome is Outcome.ANSWERED


class TestPresence:
    def test_break_with_reason_and_back(self) -> None:
        """An agent may go on a break with a reason and come back."""
        h = Harness()
        h.sign_in("a1")
        acts = h.send(
            AgentStateChanged, agent=AgentId("a1"), presence=Presence.BREAK, reason="lunch"
        )
        assert of(acts, AgentPresenceChanged)[0].reason == "lunch"
        assert h.engine.presence(AgentId("a1")) is Presence.BREAK

    def test_break_while_ringing_moves_the_offer_on(self) -> None:
        """Going on a break while offered cancels the offer and offers it elsewhere."""
        h = Harness()
        h.sign_in("a1")
        h.advance(1)
        h.sign_in("a2")
        h.enqueue("s1")
        acts = h.send(AgentStateChanged, agent=AgentId("a1"), presence=Presence.BREAK)
        assert [c.agent for c in of(acts, CancelOffer)] == ["a1"]
        assert offers(acts) == [("a2", "s1")]

    def test_break_in_session_is_illegal(self) -> None:
        """An agent in a session cannot go on a break: the transition table forbids it."""
        from routing.errors import IllegalTransition

        h = Harness()
        h.sign_in("a1")
        h.enqueue("s1")
        answer(h, "a1", "s1")
        with pytest.raises(IllegalTransition):
            h.send(AgentStateChanged, agent=AgentId("a1"), presence=Presence.BREAK)

    def test_asking_for_in_session_is_refused(self) -> None:
        """Presences only the engine sets cannot be asked for."""
        from routing.errors import InvalidRequest

        h = Harness()
        h.sign_in("a1")
        with pytest.raises(InvalidRequest):
            h.send(AgentStateChanged, agent=AgentId("a1"), presence=Presence.WRAP_UP)

    def test_same_presence_is_a_no_op(self) -> None:
        """Asking for the presence one already has changes nothing."""
        h = Harness()
        h.sign_in("a1")
        assert h.send(AgentStateChanged, agent=AgentId("a1"), presence=Presence.AVAILABLE) == []

    def test_offline_request_signs_out(self) -> None:
        """Asking for OFFLINE is a sign-out."""
        h = Harness()
        h.sign_in("a1")
        h.send(AgentStateChanged, agent=AgentId("a1"), presence=Presence.OFFLINE)
        assert h.engine.presence(AgentId("a1")) is Presence.OFFLINE

    def test_sign_in_twice_is_refused(self) -> None:
        """A second sign-in of a signed-in agent is an error."""
        from routing.errors import InvalidRequest

        h = Harness()
        h.sign_in("a1")
        with pytest.raises(InvalidRequest):
            h.sign_in("a1")
        with pytest.raises(InvalidRequest):
            h.send(AgentSignedIn, profile=profile("a2"), presence=Presence.WRAP_UP)


class TestDisconnect:
    def test_disconnect_while_offered_moves_on_at_once(self) -> None:
        """An agent who drops while ringing: the offer goes to the next agent immediately."""
        h = Harness()
        h.sign_in("a1")
        h.advance(1)
        h.sign_in("a2")
        h.enqueue("s1")
        acts = h.send(AgentDisconnected, agent=AgentId("a1"))
        assert offers(acts) == [("a2", "s1")]
        assert h.timers.get("ring:s1") == h.now + 20

    def test_disconnect_in_session_returns_the_session_to_the_head(self) -> None:
        """A live session whose agent drops: that leg is recorded interrupted and the
        caller goes on as a new session at the head, with the original arrival time."""
        h = Harness()
        h.sign_in("a1")
        h.enqueue("s1")
        answer(h, "a1", "s1")
        h.advance(5)
        h.enqueue("s2")
        h.advance(5)
        acts = h.send(AgentDisconnected, agent=AgentId("a1"))
        leg = of(acts, SessionRecorded)[0]
        assert (leg.session, leg.outcome, leg.agent) == ("s1", Outcome.INTERRUPTED, "a1")
        assert leg.transferred_to == "s1:r1"
        assert h.engine.waiting(LABOUR) == ["s1:r1", "s2"]
        assert offers(h.sign_in("a2")) == [("a2", "s1:r1")]
        answer(h, "a2", "s1:r1")
        acts = h.send(AgentSignedOut, agent=AgentId("a2"))
        assert of(acts, SessionRecorded)[0].transferred_to == "s1:r2"
        assert offers(h.sign_in("a3")) == [("a3", "s1:r2")]
        answer(h, "a3", "s1:r2")
        rec = of(h.send(SessionEnded, session=SessionId("s1:r2")), SessionRecorded)[0]
        assert (rec.queued_at, rec.agent, rec.resumed_from) == (T0, "a3", "s1:r1")

    def test_an_interrupted_callback_still_expires(self) -> None:
        """A callback whose agent drops mid-call is waiting again, and still expires."""
        h = Harness()
        h.sign_in("a1")
        h.enqueue("s1", caller=CallerKey("13812345678"))
        h.send(CallbackRequested, session=SessionId("s1"))
        answer(h, "a1", "s1")
        h.send(AgentDisconnected, agent=AgentId("a1"))
        assert "cbx:s1:r1" in h.timers

    def test_sign_out_while_offered(self) -> None:
        """Signing out while ringing cancels the offer with the reason 'signed out'."""
        h = Harness()
        h.sign_in("a1")
        h.enqueue("s1")
        acts = h.send(AgentSignedOut, agent=AgentId("a1"))
        assert [c.reason for c in of(acts, CancelOffer)] == ["signed out"]
        assert h.engine.session_state(SessionId("s1")) == "waiting"


class TestLongWait:
    def test_callback_offered_after_max_wait(self) -> None:
        """After the queue's maximum wait the caller is offered a callback."""
        h = Harness(config(queue("labour", max_wait_s=120)))
        h.enqueue("s1", caller=CallerKey("13812345678"))
        acts = h.advance(120)
        assert of(acts, OfferCallback) == [OfferCallback(SessionId("s1"), 120.0)]

    def test_callback_keeps_place_and_shows_the_masked_number(self) -> None:
        """A callback session keeps its place; the agent sees the number to call back."""
        h = Harness(config(queue("labour", max_wait_s=120)))
        h.enqueue("s1", caller=CallerKey("13812345678"))
        h.advance(1)
        h.enqueue("s2", caller=CallerKey("13900000000"))
        h.advance(120)
        h.send(CallbackRequested, session=SessionId("s1"))
        assert h.engine.waiting(LABOUR) == ["s1", "s2"]
        offer = of(h.sign_in("a1"), OfferSession)[0]
        assert (offer.session, offer.callback_number) == ("s1", "138****5678")
        answer(h, "a1", "s1")
        rec = of(h.send(SessionEnded, session=SessionId("s1")), SessionRecorded)[0]
        assert rec.outcome is Outcome.CALLBACK_DONE

    def test_a_callback_that_reached_nobody(self) -> None:
        """An unreached callback is recorded ``callback_failed``; the agent is free at
        once (no wrap-up) and takes the next caller; the handle-time average is kept."""
        h = Harness(config(queue("labour", max_wait_s=120)))
        h.sign_in("a1")
        h.enqueue("s1", caller=CallerKey("13812345678"))
        h.send(CallbackRequested, session=SessionId("s1"))
        answer(h, "a1", "s1")
        h.enqueue("s2")
        h.advance(30)
        aht = h.engine.snapshot()["queues"]["labour"]["aht"]
        acts = h.send(SessionEnded, session=SessionId("s1"), reached=False)
        (rec,) = of(acts, SessionRecorded)
        assert (rec.session, rec.outcome, rec.agent) == ("s1", Outcome.CALLBACK_FAILED, "a1")
        assert offers(acts) == [("a1", "s2")]
        assert h.engine.presence(AgentId("a1")) is Presence.AVAILABLE
        assert h.engine.snapshot()["queues"]["labour"]["aht"] == aht

    def test_queued_as_a_callback_from_the_start(self) -> None:
        """A callback tried again arrives as a callback: offered as one (masked number),
        told no position, expiring like any callback; without a number it is refused."""
        h = Harness()
        acts = h.enqueue("s1:b2", caller=CallerKey("13812345678"), callback=True)
        assert of(acts, TellPosition) == []
        assert "cbx:s1:b2" in h.timers
        offer = of(h.sign_in("a1"), OfferSession)[0]
        assert (offer.session, offer.callback_number) == ("s1:b2", "138****5678")
        with pytest.raises(InvalidRequest):
            h.enqueue("s2", callback=True)
        assert h.engine.session_state(SessionId("s2")) is None

    def test_only_a_callback_can_be_unreached(self) -> None:
        """A caller on the line was reached by definition: refused, nothing changes."""
        h = Harness()
        h.sign_in("a1")
        h.enqueue("s1")
        answer(h, "a1", "s1")
        with pytest.raises(InvalidRequest):
            h.send(SessionEnded, session=SessionId("s1"), reached=False)
        assert h.engine.session_state(SessionId("s1")) == "in_session"

    def test_callback_session_gets_no_position_updates(self) -> None:
        """A caller who hung up for a callback is not told positions any more."""
        h = Harness(config(queue("labour", max_wait_s=10)))
        h.enqueue("s0", caller=CallerKey("13800000000"))
        h.enqueue("s1", caller=CallerKey("13812345678"))
        h.advance(10)
        h.send(CallbackRequested, session=SessionId("s1"))
        assert h.send(CallbackRequested, session=SessionId("s1")) == []
        acts = h.send(SessionAbandoned, session=SessionId("s0"))
        assert [t.session for t in of(acts, TellPosition)] == []

    def test_unanswered_callback_expires(self) -> None:
        """A callback nobody took within its expiry ends as expired with a ticket."""
        h = Harness(config(queue("labour", max_wait_s=10, callback_expires_s=3600)))
        h.enqueue("s1", caller=CallerKey("13812345678"))
        h.advance(10)
        h.send(CallbackRequested, session=SessionId("s1"))
        acts = h.advance(3600)
        assert of(acts, SessionRecorded)[0].outcome is Outcome.EXPIRED
        assert of(acts, CreateVoicemailTicket)[0].reason == "callback expired"

    def test_caller_may_choose_voicemail(self) -> None:
        """A caller who chooses voicemail gets a ticket and the session ends as voicemail."""
        h = Harness()
        h.enqueue("s1", caller=CallerKey("13812345678"))
        acts = h.send(VoicemailRequested, session=SessionId("s1"))
        assert of(acts, CreateVoicemailTicket)[0].caller == "13812345678"
        assert of(acts, SessionRecorded)[0].outcome is Outcome.VOICEMAIL
        assert h.engine.waiting(LABOUR) == []

    def test_queue_configured_for_voicemail(self) -> None:
        """A queue whose long-wait action is voicemail takes a ticket at the maximum wait."""
        h = Harness(
            config(queue("labour", max_wait_s=60, long_wait_action=LongWaitAction.VOICEMAIL))
        )
        h.enqueue("s1", caller=CallerKey("13812345678"))
        acts = h.advance(60)
        assert of(acts, SessionRecorded)[0].outcome is Outcome.VOICEMAIL

    def test_voicemail_while_offered_cancels_the_offer(self) -> None:
        """Choosing voicemail while an agent is being rung withdraws the offer."""
        h = Harness()
        h.sign_in("a1")
        h.enqueue("s1")
        acts = h.send(VoicemailRequested, session=SessionId("s1"))
        assert [c.agent for c in of(acts, CancelOffer)] == ["a1"]

    def test_callback_needs_a_number(self) -> None:
        """A session without a caller number cannot take a callback."""
        from routing.errors import InvalidRequest

        h = Harness()
        h.enqueue("s1")
        with pytest.raises(InvalidRequest):
            h.send(CallbackRequested, session=SessionId("s1"))

    def test_callback_number_given_with_the_request(self) -> None:
        """A caller who gave no number on arrival gives it with the request: the agent
        is offered the callback to that number, masked."""
        h = Harness()
        h.enqueue("s1")
        h.send(
            CallbackRequested,
            session=SessionId("s1"),
            caller=CallerKey("tel:abc"),
            display_number="139****5678",
        )
        offer = of(h.sign_in("a1"), OfferSession)[0]
        assert (offer.session, offer.callback_number) == ("s1", "139****5678")


class TestOutsideShifts:
    def cfg(self):
        night = Shift("18:00", "08:00", night_duty=True)
        return config(
            queue("labour"),
            roster=(profile("n1", shifts=(night,)),),
            voicemail_outside_shifts=True,
        )

    def test_outside_all_shifts_offers_a_message_or_callback(self) -> None:
        """At 10:00 with only night duty on the rota the caller is told at once and
        offered a callback or a message; no empty ticket is made."""
        h = Harness(self.cfg(), start=T0 + 2 * 3600)
        acts = h.enqueue("s1", caller=CallerKey("13812345678"))
        assert [(o.session, o.reason) for o in of(acts, OfferCallback)] == [("s1", OFF_DUTY)]
        assert of(acts, CreateVoicemailTicket) == []
        assert of(acts, SessionRecorded) == []
        assert h.engine.session_state(SessionId("s1")) == "waiting"

    def test_night_duty_crosses_midnight(self) -> None:
        """At 02:00 local the night-duty shift that began at 18:00 is on: callers wait."""
        h = Harness(self.cfg(), start=T0 - 6 * 3600)  # Monday 02:00 Beijing
        acts = h.enqueue("s1")
        assert of(acts, SessionRecorded) == []
        assert h.engine.session_state(SessionId("s1")) == "waiting"

    def test_no_rota_at_all_offers_a_message_or_callback(self) -> None:
        """With nobody on the rota or signed in for the queue, callers are told so."""
        h = Harness(config(queue("labour"), voicemail_outside_shifts=True))
        assert [o.reason for o in of(h.enqueue("s1"), OfferCallback)] == [OFF_DUTY]
        assert offers(h.sign_in("a1")) == [("a1", "s1")]
        assert offers(h.enqueue("s2")) == []


class TestAbandon:
    def test_abandon_is_recorded(self) -> None:
        """A caller who hangs up leaves the line and is recorded as abandoned."""
        h = Harness()
        h.enqueue("s1", caller=CallerKey("13812345678"))
        h.advance(7)
        rec = of(h.send(SessionAbandoned, session=SessionId("s1")), SessionRecorded)[0]
        assert (rec.outcome, rec.ended_at - rec.queued_at) == (Outcome.ABANDONED, 7)
        assert h.engine.waiting(LABOUR) == []

    def test_return_within_the_window_gets_the_old_place(self) -> None:
        """A caller back within 60 s is placed ahead of those who came after."""
        h = Harness()
        h.enqueue("s1", caller=CallerKey("13812345678"))
        h.advance(1)
        h.enqueue("s2", caller=CallerKey("13900000000"))
        h.send(SessionAbandoned, session=SessionId("s1"))
        h.advance(59)
        h.send(
            CallerReturned, session=SessionId("s1b"), queue=LABOUR, caller=CallerKey("13812345678")
        )
        assert h.engine.waiting(LABOUR) == ["s1b", "s2"]
        answer_rec = of(h.sign_in("a1"), OfferSession)[0]
        assert answer_rec.session == "s1b"

    def test_return_after_the_window_is_a_new_arrival(self) -> None:
        """After 60 s the returning caller joins the back of the line."""
        h = Harness()
        h.enqueue("s1", caller=CallerKey("13812345678"))
        h.enqueue("s2", caller=CallerKey("13900000000"))
        h.send(SessionAbandoned, session=SessionId("s1"))
        h.advance(61)
        h.enqueue("s1b", caller=CallerKey("13812345678"))
        assert h.engine.waiting(LABOUR) == ["s2", "s1b"]

    def test_resumed_session_names_the_abandoned_one(self) -> None:
        """The record of a resumed session says whose place it took."""
        h = Harness(config(queue("labour", wrap_up_s=0)))
        h.enqueue("s1", caller=CallerKey("13812345678"))
        h.send(SessionAbandoned, session=SessionId("s1"))
        h.enqueue("s1b", caller=CallerKey("13812345678"))
        h.sign_in("a1")
        answer(h, "a1", "s1b")
        rec = of(h.send(SessionEnded, session=SessionId("s1b")), SessionRecorded)[0]
        assert (rec.resumed_from, rec.queued_at) == ("s1", h.now)

    def test_abandon_while_offered_frees_the_agent(self) -> None:
        """A caller hanging up while ringing cancels the offer; the agent takes the next."""
        h = Harness()
        h.sign_in("a1")
        h.enqueue("s1")
        h.enqueue("s2")
        acts = h.send(SessionAbandoned, session=SessionId("s1"))
        assert [c.reason for c in of(acts, CancelOffer)] == ["caller hung up"]
        assert offers(acts) == [("a1", "s2")]


class TestPositions:
    def test_told_on_arrival(self) -> None:
        """A new caller is told the position and an estimate at once."""
        h = Harness()
        h.enqueue("s1")
        acts = h.enqueue("s2")
        assert [(t.session, t.position) for t in of(acts, TellPosition)] == [("s2", 2)]

    def test_estimate_from_handle_time_and_staff(self) -> None:
        """The estimate is position times AHT over staffed agents, in 15 s steps."""
        h = Harness(config(queue("labour", initial_aht_s=300)))
        h.sign_in("a1")
        h.enqueue("s0")
        answer(h, "a1", "s0")  # a1 is busy, and staffs the queue
        h.enqueue("s1")
        t = of(h.enqueue("s2"), TellPosition)[0]
        assert t.estimated_wait_s == 600.0  # 2 * 300 / 1 staffed

    def test_no_minutes_promised_when_nobody_could_answer(self) -> None:
        """Nobody staffing (signed out, or on a break), or nobody who speaks the
        caller's language: no estimate at all (it said 5 min before)."""
        h = Harness(config(queue("labour", initial_aht_s=300)))
        h.sign_in("a1", presence=Presence.BREAK)
        assert of(h.enqueue("s1"), TellPosition)[0].estimated_wait_s is None
        h.sign_in("a2")
        answer(h, "a2", "s1")  # offered to a2 as it signed in
        yue = of(h.enqueue("s2", language=Language("yue")), TellPosition)[0]
        assert yue.estimated_wait_s is None  # a2 speaks only Mandarin
        zh = of(h.enqueue("s3", language=Language("zh")), TellPosition)[0]
        assert zh.estimated_wait_s == 600.0

    def test_a_ringing_session_waits_no_longer(self) -> None:
        """While an agent is being rung for the caller the estimate is 0."""
        h = Harness()
        h.enqueue("s1")
        h.advance(10)
        acts = h.sign_in("a1")
        assert offers(acts) == [("a1", "s1")]
        told = [t for t in of(acts, TellPosition) if t.session == "s1"]
        assert [(t.position, t.estimated_wait_s) for t in told] == [(1, 0.0)]

    def test_throttled_to_once_per_five_seconds(self) -> None:
        """A caller whose position changes twice within 5 s is told only after 5 s."""
        h = Harness()
        for i in range(4):
            h.enqueue(f"s{i}")
        h.advance(5)
        first = h.send(SessionAbandoned, session=SessionId("s0"))
        assert {(t.session, t.position) for t in of(first, TellPosition)} == {
            ("s1", 1),
            ("s2", 2),
            ("s3", 3),
        }
        h.advance(1)
        second = h.send(SessionAbandoned, session=SessionId("s1"))
        assert of(second, TellPosition) == []
        later = h.advance(4)
        assert {(t.session, t.position) for t in of(later, TellPosition)} == {("s2", 1), ("s3", 2)}

    def test_only_on_change(self) -> None:
        """A caller whose position and estimate did not change is not told again."""
        h = Harness()
        h.enqueue("s1")
        h.enqueue("s2")
        h.advance(10)
        acts = h.send(SessionAbandoned, session=SessionId("s2"))
        assert of(acts, TellPosition) == []


class TestWrapUpUntilDisposition:
    def test_wrap_up_lasts_until_the_agent_ends_it(self) -> None:
        """With ``wrap_up_s=None`` (the hotline: a disposition ends it) the agent stays in
        wrap-up, with no timer, until asking for available; then the next call comes."""
        cfg = config(queue("labour", wrap_up_s=None))
        assert RoutingConfig.from_dict(cfg.to_dict()) == cfg
        h = Harness(cfg)
        h.sign_in("a1")
        h.enqueue("s1")
        answer(h, "a1", "s1")
        h.send(SessionEnded, session=SessionId("s1"))
        h.enqueue("s2")
        h.advance(3600)
        assert h.engine.presence(AgentId("a1")) is Presence.WRAP_UP
        assert not any(k.startswith("wrap:") for k in h.timers)
        acts = h.send(AgentStateChanged, agent=AgentId("a1"), presence=Presence.AVAILABLE)
        assert offers(acts) == [("a1", "s2")]


class TestTransfer:
    def test_blind_transfer_to_a_queue(self) -> None:
        """A transfer records the leg as transferred and queues the caller afresh."""
        h = Harness()
        h.sign_in("a1")
        h.sign_in("g1", skills={"general": 3}, presence=Presence.BREAK)
        h.enqueue("s1", priority="elderly")
        answer(h, "a1", "s1")
        h.advance(30)
        acts = h.send(
            TransferRequested,
            session=SessionId("s1"),
            new_session=SessionId("s1-t"),
            to_queue=GENERAL,
        )
        rec = of(acts, SessionRecorded)[0]
        assert (rec.outcome, rec.transferred_to) == (Outcome.TRANSFERRED, "s1-t")
        assert h.engine.waiting(GENERAL) == ["s1-t"]
        assert h.engine.presence(AgentId("a1")) is Presence.WRAP_UP
        h.enqueue("other", "general")
        acts = h.send(AgentStateChanged, agent=AgentId("g1"), presence=Presence.AVAILABLE)
        offer = of(acts, OfferSession)[0]
        assert (offer.session, offer.priority, offer.waited_s) == ("s1-t", "elderly", 0.0)

    def test_transfer_refused_when_nobody_could_take_it(self) -> None:
        """A Sichuanese caller sent to a Mandarin-only queue, or to an agent who is not
        signed in, was stranded without a word: the transfer is refused with the reason
        and the call goes on."""
        h = Harness()
        h.sign_in("a1", languages=("zh", "zh-x-sichuan"))
        h.sign_in("g1", skills={"general": 3})  # Mandarin only
        h.enqueue("s1", language=Language("zh-x-sichuan"))
        answer(h, "a1", "s1")
        with pytest.raises(InvalidRequest, match="zh-x-sichuan"):
            h.send(
                TransferRequested,
                session=SessionId("s1"),
                new_session=SessionId("t1"),
                to_queue=GENERAL,
            )
        with pytest.raises(InvalidRequest, match="agent nobody"):
            h.send(
                TransferRequested,
                session=SessionId("s1"),
                new_session=SessionId("t2"),
                to_agent=AgentId("nobody"),
            )
        assert h.engine.session_state(SessionId("s1")) == "in_session"

    def test_blind_transfer_to_an_agent(self) -> None:
        """A transfer to a named agent waits for that agent."""
        h = Harness()
        h.sign_in("a1")
        h.sign_in("a2", presence=Presence.BREAK)
        h.enqueue("s1")
        answer(h, "a1", "s1")
        h.send(
            TransferRequested,
            session=SessionId("s1"),
            new_session=SessionId("t"),
            to_agent=AgentId("a2"),
        )
        acts = h.send(AgentStateChanged, agent=AgentId("a2"), presence=Presence.AVAILABLE)
        assert offers(acts) == [("a2", "t")]

    def test_transfer_needs_a_live_session_and_a_target(self) -> None:
        """Transfers of waiting sessions, without a target, or to a used id are refused."""
        from routing.errors import DuplicateSession, InvalidRequest, UnknownQueue

        h = Harness()
        h.enqueue("s1")
        with pytest.raises(InvalidRequest):
            h.send(
                TransferRequested,
                session=SessionId("s1"),
                new_session=SessionId("t"),
                to_queue=GENERAL,
            )
        h.sign_in("a1")
        answer(h, "a1", "s1")
        with pytest.raises(InvalidRequest):
            h.send(TransferRequested, session=SessionId("s1"), new_session=SessionId("t"))
        with pytest.raises(DuplicateSession):
            h.send(
                TransferRequested,
                session=SessionId("s1"),
                new_session=SessionId("s1"),
                to_queue=GENERAL,
            )
        with pytest.raises(UnknownQueue):
            h.send(
                TransferRequested,
                session=SessionId("s1"),
                new_session=SessionId("t"),
                to_queue=QueueId("x"),
            )


class TestOverflow:
    def cfg(self):
        return config(
            queue("labour", overflow_queue=GENERAL, overflow_after_s=90),
            queue("general"),
        )

    def test_overflow_after_the_delay(self) -> None:
        """A labour session not taken in 90 s moves to general and is offered there."""
        h = Harness(self.cfg())
        h.sign_in("g1", skills={"general": 3})
        h.enqueue("s1")
        assert offers(h.advance(89)) == []
        acts = h.advance(1)
        assert of(acts, SessionMoved) == [
            SessionMoved(SessionId("s1"), LABOUR, GENERAL, "overflow")
        ]
        assert offers(acts) == [("g1", "s1")]

    def test_overflow_waits_while_offered(self) -> None:
        """A session being rung when its overflow is due stays; it overflows if it waits again."""
        h = Harness(self.cfg())
        h.enqueue("s1")
        h.advance(80)
        h.sign_in("a1")  # offered at 80 s, rings until 100 s
        acts = h.advance(15)
        assert of(acts, SessionMoved) == []
        acts = h.advance(5)  # ring timeout: waits again and overflows at once
        assert [m.to_queue for m in of(acts, SessionMoved)] == ["general"]


class TestTimers:
    def test_stale_timer_is_ignored(self) -> None:
        """A timer that was cancelled or never asked for changes nothing."""
        h = Harness()
        assert h.send(TimerFired, key=TimerKey("ring:nobody")) == []

    def test_early_timer_is_ignored(self) -> None:
        """A timer fired before its time (an old one replaced) changes nothing."""
        h = Harness()
        h.sign_in("a1")
        h.enqueue("s1")
        assert h.send(TimerFired, key=TimerKey("ring:s1")) == []
        assert h.engine.pending_timers == {"ring:s1": T0 + 20}


class TestErrors:
    def test_not_a_routing_event(self) -> None:
        """The bare Event base class (or any foreign type) is refused."""
        from routing.errors import InvalidRequest
        from routing.events import Event

        with pytest.raises(InvalidRequest):
            Harness().feed(Event(now=T0))

    def test_unknown_names_raise_and_change_nothing(self) -> None:
        """Events naming unknown agents, sessions or queues raise and leave no trace."""
        from routing.errors import (
            DuplicateSession,
            StaleOffer,
            UnknownAgent,
            UnknownQueue,
            UnknownSession,
        )

        h = Harness()
        h.sign_in("a1")
        h.enqueue("s1")
        before = h.engine.snapshot()
        with pytest.raises(UnknownAgent):
            h.send(AgentSignedOut, agent=AgentId("ghost"))
        with pytest.raises(UnknownSession):
            h.send(SessionEnded, session=SessionId("ghost"))
        with pytest.raises(UnknownQueue):
            h.enqueue("s2", "nowhere")
        with pytest.raises(DuplicateSession):
            h.enqueue("s1")
        with pytest.raises(StaleOffer):
            h.send(OfferAccepted, agent=AgentId("a1"), session=SessionId("s9"))
        with pytest.raises(StaleOffer):
            h.send(OfferRejected, agent=AgentId("a1"), session=SessionId("s9"))
        from routing.errors import InvalidRequest

        with pytest.raises(InvalidRequest):
            h.send(SessionEnded, session=SessionId("s1"))
        answer(h, "a1", "s1")
        with pytest.raises(InvalidRequest):
            h.send(VoicemailRequested, session=SessionId("s1"))
        h2 = Harness()
        h2.sign_in("a1")
        h2.enqueue("s1")
        assert h2.engine.snapshot() == before
