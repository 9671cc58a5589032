"""Explicit examples of paths the random property tests reach only by chance.

The pure core must be covered completely on every run (STYLE.md); these make sure the
coverage check never depends on what Hypothesis happened to generate.
"""

from __future__ import annotations

from routing_harness import Harness, config, of, queue, tiers

from routing.actions import OfferSession
from routing.engine import Engine
from routing.events import AgentStateChanged, OfferAccepted, OfferRejected
from routing.ids import AgentId, SessionId
from routing.presence import Presence


def test_restore_with_a_session_on_offer_and_one_in_a_call() -> None:
    """A snapshot taken while one session rings and another is live restores both:
    the ringing one is still in line (not indexed as waiting), the live one is not."""
    h = Harness()
    h.sign_in("a1")
    h.sign_in("a2")
    (first,) = of(h.enqueue("s1"), OfferSession)
    h.send(OfferAccepted, agent=AgentId(first.agent), session=SessionId("s1"))
    assert len(of(h.enqueue("s2"), OfferSession)) == 1
    restored = Engine.restore(h.engine.snapshot())
    assert restored.session_state(SessionId("s1")) == "in_session"
    assert restored.session_state(SessionId("s2")) == "offered"
    assert restored.snapshot() == h.engine.snapshot()


def test_a_rejected_head_and_a_session_its_tier_cannot_see_yet() -> None:
    """A tier-2 agent rejects the head of the line; the one behind it is too young for
    tier 2: nothing is offered (the scan past an excluded head stops at the cutoff)."""

    h = Harness(config(queue("labour", tiers=tiers((1, 0), (2, 20)))))
    h.enqueue("s1")
    h.advance(24)
    h.enqueue("s2")
    h.advance(1)
    (offer,) = of(h.sign_in("a1", tiers={"labour": 2}), OfferSession)
    assert offer.session == "s1"
    acts = h.send(OfferRejected, agent=AgentId("a1"), session=SessionId("s1"))
    assert of(acts, OfferSession) == []


def test_a_caller_asks_for_an_agent_who_is_not_free() -> None:
    """Named for an agent on a break: nobody else is offered it before the fallback."""
    h = Harness()
    h.sign_in("a1")
    h.send(AgentStateChanged, agent=AgentId("a1"), presence=Presence.BREAK)
    h.sign_in("a2")
    assert of(h.enqueue("s1", named_agent=AgentId("a1")), OfferSession) == []


def test_an_older_caller_in_line_goes_before_a_younger_one_who_named_the_agent() -> None:
    """Free again, the agent takes whoever has waited longer: the caller in line, not
    the later caller who asked for this agent by name (the named one is weighed, and
    loses)."""
    h = Harness()
    h.sign_in("a1")
    h.send(AgentStateChanged, agent=AgentId("a1"), presence=Presence.BREAK)
    h.enqueue("s1")
    h.advance(10)
    h.enqueue("s2", named_agent=AgentId("a1"))
    h.advance(1)
    acts = h.send(AgentStateChanged, agent=AgentId("a1"), presence=Presence.AVAILABLE)
    assert [o.session for o in of(acts, OfferSession)] == ["s1"]
