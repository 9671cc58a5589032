"""Limits a public hotline needs against anonymous abuse, and configuration checks.

Over real sockets where the behaviour is the client's (callbacks, messages); on the
router itself where what matters is the leader's bookkeeping (tickets per address, a
failing action in a batch, queue ids checked at load).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from routing import actions as act
from routing.ids import AgentId, QueueId, SessionId, Skill
from signaling import protocol as p
from signaling.router import Effects, Router, check_config
from signaling.web import setup_signaling
from tests.signaling.conftest import SECRET, Outcomes, Peer, authenticate, make_config

Connect = Callable[..., Any]


async def queue_caller(connect: Connect, name: str, **fields: Any) -> tuple[Peer, p.Queued]:
    caller: Peer = await connect(f"caller:{name}")
    await caller.send("join_queue", category="labour_wages", language="zh", **fields)
    return caller, await caller.expect(p.Queued)


class TestCallbacks:
    async def test_a_callback_needs_a_number(self, connect: Connect) -> None:
        """A caller who gave no number is refused (the agent was offered a callback to
        the masked caller key); giving the number with the request works."""
        caller, _queued = await queue_caller(connect, "u1")
        await caller.send("request_callback")
        error = await caller.expect(p.Error)
        assert (error.code, error.ref) == (p.ErrorCode.MISSING_FIELD, "request_callback")
        await caller.send("request_callback", phone="139 1234 5678")
        assert (await caller.expect(p.CallbackKept)).session_id == _queued.session_id
        await caller.send("ping", nonce="after")
        assert (await caller.expect(p.Pong)).nonce == "after"
        agent: Peer = await connect("agent:A1")
        await agent.send("presence", state="available")
        offer = await agent.expect(p.Offer)
        assert (offer.kind, offer.phone) == (p.OfferKind.CALLBACK, "139****5678")

    async def test_the_number_must_be_a_phone_number(self, connect: Connect) -> None:
        """Validated with ``cases.phone``: rubbish is refused, full-width digits are fine."""
        caller, _queued = await queue_caller(connect, "u1")
        await caller.send("request_callback", phone="123-45")
        error = await caller.expect(p.Error)
        assert (error.code, error.ref) == (p.ErrorCode.BAD_FIELD, "request_callback")
        await caller.send("request_callback", phone="１３９ １２３４ ５６７８")
        agent: Peer = await connect("agent:A1")
        await agent.send("presence", state="available")
        assert (await agent.expect(p.Offer)).phone == "139****5678"

    async def test_one_waiting_callback_per_number(self, connect: Connect) -> None:
        """Thirty phone-less callbacks on one token stayed in line; now a number may
        have one callback waiting, and a token has one session."""
        first, _ = await queue_caller(connect, "u1", phone="13912345678")
        await first.send("request_callback")
        await first.close()
        second, _ = await queue_caller(connect, "u2")
        await second.send("request_callback", phone="139-1234-5678")
        error = await second.expect(p.Error)
        assert (error.code, error.ref) == (p.ErrorCode.BAD_STATE, "request_callback")


class TestMessages:
    async def test_a_message_needs_its_text(self, connect: Connect, outcomes: Outcomes) -> None:
        caller, queued = await queue_caller(connect, "u1")
        await caller.send("request_voicemail")
        assert (await caller.expect(p.Error)).code is p.ErrorCode.MISSING_FIELD
        await caller.send("request_voicemail", message="")
        assert (await caller.expect(p.Error)).code is p.ErrorCode.BAD_FIELD
        await caller.send("request_voicemail", message="拖欠工资，请回电")
        ended = await caller.expect(p.Ended)
        assert (ended.session_id, ended.outcome) == (queued.session_id, p.Outcome.VOICEMAIL)


def _records(key: str, sid: str, now: float, addr: str = "booth") -> list[dict[str, Any]]:
    conn = f"{key}#1"
    return [
        {"t": "attach", "key": key, "conn": conn, "now": now},
        {
            "t": "msg",
            "key": key,
            "conn": conn,
            "now": now,
            "sid": sid,
            "m": {"type": "join_queue", "category": "general", "language": "zh"},
        },
        {
            "t": "msg",
            "key": key,
            "conn": conn,
            "now": now,
            "addr": addr,
            "m": {"type": "request_voicemail", "message": f"留言 {sid}"},
        },
    ]


class TestTicketsPerAddress:
    def test_an_address_leaves_a_bounded_number_of_messages_an_hour(self) -> None:
        """72,000 tickets came from 100 sockets in 80 s; now one address may leave
        ``tickets_per_hour`` messages an hour, counted on the leader (every process)."""
        router = Router.new(make_config(), tickets_per_hour=2)
        now = 1_800_000_000.0
        tickets: list[act.CreateVoicemailTicket] = []
        refusals: list[str] = []
        errors: list[p.Error] = []
        for i in range(4):
            for record in _records(f"c:u{i}", f"S-{i}", now + i):
                fx = router.apply(record)
                tickets += fx.tickets
                refusals += fx.refusals
                errors += [m for _, m in fx.deliveries if isinstance(m, p.Error)]
        assert [t.reason for t in tickets] == ["留言 S-0", "留言 S-1"]  # the caller's words
        assert refusals == ["tickets_per_address", "tickets_per_address"]
        assert [(e.code, e.ref) for e in errors] == [
            (p.ErrorCode.RATE_LIMITED, "request_voicemail")
        ] * 2
        # Another address is not affected, and an hour later this one may again.
        fx = Router.apply(router, _records("c:x", "S-x", now + 10, addr="other")[0])
        for record in _records("c:x", "S-x", now + 10, addr="other")[1:]:
            fx = router.apply(record)
        assert len(fx.tickets) == 1
        for record in _records("c:later", "S-later", now + 3700):
            fx = router.apply(record)
        assert len(fx.tickets) == 1
        restored = Router.restore(router.snapshot(), tickets_per_hour=2)
        assert restored.ticket_times == router.ticket_times


class TestConfiguration:
    def test_queue_ids_are_checked_when_the_config_loads(self) -> None:
        """An overflow to a queue the routing config allows but the protocol cannot name
        made ``Router.apply`` raise half-way; now such a config does not load."""
        base = make_config()
        queues = list(base.queues)
        night = dataclasses.replace(
            queues[-1], id=QueueId("night_desk"), required_skill=Skill("general")
        )
        queues[0] = dataclasses.replace(queues[0], overflow_queue=night.id, overflow_after_s=10.0)
        bad = dataclasses.replace(base, queues=(*queues, night))
        with pytest.raises(ValueError, match="night_desk"):
            check_config(bad)
        with pytest.raises(ValueError, match="night_desk"):
            Router.new(bad)
        app = web.Application()
        with pytest.raises(ValueError, match="night_desk"):
            setup_signaling(
                app,
                backplane_factory=lambda: None,  # type: ignore[arg-type, return-value]
                authenticate=authenticate,
                record_outcome=Outcomes().record,
                engine_config=bad,
                resume_secret=SECRET,
            )

    def test_one_failing_action_does_not_stop_the_others(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The engine has changed when its actions come back: each is carried out even
        if one before it fails (a bug is logged, not a half-applied batch)."""
        router = Router.new(make_config())
        fx = Effects()
        bad = act.OfferSession(
            agent=AgentId("A1"), session=SessionId("S-1"), queue=QueueId("nowhere"), expires_at=0
        )
        with caplog.at_level(logging.ERROR, "signaling.router"):
            router._perform([bad, act.StartTimer(key="ring:S-1", at=5.0)], 0.0, fx)
        assert fx.start_timers == [("ring:S-1", 5.0)]
        assert "offer_session" in caplog.text
