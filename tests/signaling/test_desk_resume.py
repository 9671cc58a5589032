"""A desk that drops mid-call (a reload, a network blip) keeps its call for the grace
period, as a caller does: back in time, it is told where it stands (presence, the call,
its consult, the disposition it owes); not back, the caller goes to the head of the
line. An idle desk is signed out at once, so its offers move on.

The router alone, over typed records: no clock, no sockets (tests/calls has the desk
reloaded in Chromium)."""

from __future__ import annotations

import dataclasses
from typing import Any

from routing.ids import AgentId, QueueId
from routing.model import RoutingConfig
from routing.presence import Presence
from signaling import protocol as p
from signaling import records as rec
from signaling.router import GRACE_PREFIX, Effects, Router
from tests.signaling.conftest import make_config, profile

T0 = 1_800_000_000.0


class Desk:
    """Drives one router through records, as the nodes would write them."""

    def __init__(self, config: RoutingConfig | None = None) -> None:
        self.router = Router.new(config or make_config(), grace_s=30.0)
        self.conns: dict[str, int] = {}
        self.now = T0
        self.seq = 0

    def conn(self, key: str) -> str:
        return f"{key}#{self.conns.get(key, 0)}"

    def apply(self, record: rec.Record) -> Effects:
        return self.router.apply(record)

    def attach(self, key: str) -> Effects:
        self.conns[key] = self.conns.get(key, 0) + 1
        prof = profile(key[2:]).to_dict() if key.startswith("a:") else None
        return self.apply(rec.Attach(key=key, conn=self.conn(key), now=self.now, profile=prof))

    def drop(self, key: str) -> Effects:
        return self.apply(rec.Drop(key=key, conn=self.conn(key), now=self.now))

    def send(self, key: str, msg: p.ClientMessage, **extra: Any) -> Effects:
        self.seq += 1
        return self.apply(rec.Msg(key=key, conn=self.conn(key), now=self.now, m=msg, **extra))

    def fire(self, key: str) -> Effects:
        at = self.router.timers[key]
        self.now = max(self.now, at)
        return self.apply(rec.TimerDue(key=key, now=at))

    def call(self) -> str:
        """A1 on duty takes u1's call; the session id."""
        self.attach("a:A1")
        self.send("a:A1", p.SetPresence(state=p.PresenceRequest.AVAILABLE))
        self.attach("c:u1")
        fx = self.send(
            "c:u1",
            p.JoinQueue(category=p.Category.GENERAL, language="zh"),
            sid="S-1",
            caller="tel:k-u1",  # a caller who gave a number (its keyed hash)
        )
        (offer,) = [m for k, m in fx.deliveries if isinstance(m, p.Offer)]
        self.send("a:A1", p.Accept(offer_id=offer.offer_id))
        return offer.session_id


def to(fx: Effects, key: str) -> list[p.ServerMessage]:
    return [m for k, m in fx.deliveries if k == key]


def test_a_desk_back_within_grace_gets_its_call_back() -> None:
    desk = Desk()
    sid = desk.call()
    fx = desk.drop("a:A1")
    assert to(fx, "c:u1") == []  # the caller is not sent back to the line
    assert GRACE_PREFIX + "a:A1" in desk.router.timers
    assert fx.outcomes == []
    desk.now += 10
    fx = desk.attach("a:A1")
    presence, connected = to(fx, "a:A1")
    assert presence == p.PresenceChanged(state=p.Presence.IN_SESSION)
    assert isinstance(connected, p.Connected)
    assert (connected.session_id, connected.room, connected.agent_id) == (sid, f"R-{sid}", "A1")
    assert (connected.category, connected.channel) == (p.Category.GENERAL, p.Channel.WEB_VOICE)
    assert connected.caller_ref == "tel:k-u1"  # the node turns it into the desk's history pass
    assert GRACE_PREFIX + "a:A1" in fx.cancel_timers
    # The call goes on: the agent ends it, and it is recorded answered, once.
    fx = desk.send("a:A1", p.End(session_id=sid))
    assert [o.outcome.value for o in fx.outcomes] == ["answered"]


def test_a_desk_not_back_in_time_sends_the_caller_to_the_head_of_the_line() -> None:
    desk = Desk()
    sid = desk.call()
    desk.drop("a:A1")
    fx = desk.fire(GRACE_PREFIX + "a:A1")
    (queued,) = [m for m in to(fx, "c:u1") if isinstance(m, p.Queued)]
    assert (queued.session_id, queued.reason) == (f"{sid}:r1", p.QueuedReason.AGENT_LOST)
    assert [(o.session, o.outcome.value) for o in fx.outcomes] == [(sid, "interrupted")]
    # Back later, the desk signs in afresh (on a break), with no call.
    fx = desk.attach("a:A1")
    assert to(fx, "a:A1")[0] == p.PresenceChanged(state=p.Presence.BREAK, reason="signed in")
    assert not [m for m in to(fx, "a:A1") if isinstance(m, p.Connected)]


def test_an_idle_desk_is_signed_out_at_once_and_its_offer_moves_on() -> None:
    desk = Desk()
    desk.attach("a:A1")
    desk.send("a:A1", p.SetPresence(state=p.PresenceRequest.AVAILABLE))
    desk.attach("c:u1")
    desk.send(
        "c:u1", p.JoinQueue(category=p.Category.GENERAL, language="zh"), sid="S-1", caller="sub:u1"
    )
    assert "A1" in desk.router.offers
    desk.drop("a:A1")
    assert not [k for k in desk.router.timers if k.startswith(GRACE_PREFIX + "a:")]
    assert desk.router.engine.presence(AgentId("A1")) is Presence.OFFLINE
    assert "A1" not in desk.router.offers
    assert desk.router.engine.waiting(QueueId("general")) == ["S-1"]  # still in line


def test_a_call_that_ends_while_the_desk_is_away_asks_its_disposition_on_return() -> None:
    queues = tuple(dataclasses.replace(q, wrap_up_s=None) for q in make_config().queues)
    desk = Desk(dataclasses.replace(make_config(), queues=queues))
    sid = desk.call()
    desk.drop("a:A1")
    desk.send("c:u1", p.End())  # the caller hangs up meanwhile
    assert GRACE_PREFIX + "a:A1" in desk.router.timers  # the disposition still holds the desk
    fx = desk.attach("a:A1")
    assert to(fx, "a:A1") == [
        p.PresenceChanged(state=p.Presence.WRAP_UP),
        p.Ended(session_id=sid, outcome=p.Outcome.ANSWERED, disposition=True),
    ]
    # Recorded (over HTTP): wrap-up is over.
    fx = desk.apply(rec.Disposed(key="a:A1", session=sid, now=desk.now))
    assert to(fx, "a:A1")[-1].state is p.Presence.AVAILABLE  # type: ignore[union-attr]


def test_a_disposition_recorded_while_the_desk_is_away_signs_it_out() -> None:
    """Nothing is offered to a socket that is not there: once the disposition that held
    the desk is in, the absent desk is signed out."""
    queues = tuple(dataclasses.replace(q, wrap_up_s=None) for q in make_config().queues)
    desk = Desk(dataclasses.replace(make_config(), queues=queues))
    sid = desk.call()
    desk.send("c:u1", p.End())
    desk.drop("a:A1")
    desk.attach("c:u2")
    desk.send(
        "c:u2", p.JoinQueue(category=p.Category.GENERAL, language="zh"), sid="S-2", caller="sub:u2"
    )
    fx = desk.apply(rec.Disposed(key="a:A1", session=sid, now=desk.now))
    assert desk.router.engine.presence(AgentId("A1")) is Presence.OFFLINE
    assert GRACE_PREFIX + "a:A1" in fx.cancel_timers
    assert "A1" not in desk.router.offers


def test_signed_in_again_after_the_grace_period_the_disposition_is_still_asked() -> None:
    queues = tuple(dataclasses.replace(q, wrap_up_s=None) for q in make_config().queues)
    desk = Desk(dataclasses.replace(make_config(), queues=queues))
    sid = desk.call()
    desk.send("a:A1", p.End(session_id=sid))
    desk.drop("a:A1")
    desk.fire(GRACE_PREFIX + "a:A1")
    fx = desk.attach("a:A1")
    assert to(fx, "a:A1")[-1] == p.Ended(
        session_id=sid, outcome=p.Outcome.ANSWERED, disposition=True
    )


def test_a_second_tab_is_told_of_the_call_and_the_consult() -> None:
    desk = Desk()
    sid = desk.call()
    desk.attach("a:A2")
    desk.send("a:A2", p.SetPresence(state=p.PresenceRequest.AVAILABLE))
    fx = desk.send("a:A1", p.Consult(session_id=sid, to_agent="A2"))
    (offer,) = [m for m in to(fx, "a:A2") if isinstance(m, p.Offer)]
    desk.send("a:A2", p.Accept(offer_id=offer.offer_id))
    requester = desk.attach("a:A1")  # a second tab takes the desk over
    assert [type(m) for m in to(requester, "a:A1")] == [
        p.PresenceChanged,
        p.Connected,
        p.ConsultState,
    ]
    state = to(requester, "a:A1")[2]
    assert isinstance(state, p.ConsultState)
    assert (state.side, state.state, state.agent_name) == (
        p.ConsultSide.REQUESTER,
        p.ConsultPhase.CONNECTED,
        "A2",
    )
    desk.drop("a:A2")
    consultant = desk.attach("a:A2")
    (presence, joined) = to(consultant, "a:A2")
    assert presence == p.PresenceChanged(state=p.Presence.IN_SESSION)
    assert isinstance(joined, p.ConsultState)
    assert (joined.side, joined.room, joined.agent_name, joined.channel) == (
        p.ConsultSide.CONSULTANT,
        f"R-{sid}",
        "A1",
        p.Channel.WEB_VOICE,
    )


def test_a_snapshot_keeps_the_owed_disposition_and_reads_an_older_one() -> None:
    queues = tuple(dataclasses.replace(q, wrap_up_s=None) for q in make_config().queues)
    desk = Desk(dataclasses.replace(make_config(), queues=queues))
    sid = desk.call()
    desk.send("a:A1", p.End(session_id=sid))
    snap = desk.router.snapshot()
    assert Router.restore(snap).awaiting == {"A1": (sid, "answered")}
    snap["router"]["awaiting"] = {"A1": sid}  # as written before outcomes were kept
    assert Router.restore(snap).awaiting == {"A1": (sid, "answered")}
