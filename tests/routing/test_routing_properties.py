"""Invariants of the engine over random event sequences (Hypothesis).

A random program of operations (callers arriving, agents signing in, accepting,
rejecting, ending, hanging up, going on breaks, dropping, transfers, time passing) is
turned into concrete events against the engine's current state; after every event the
invariants are checked. The event log is then replayed, whole and from a snapshot.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from routing_harness import T0, config, profile, queue, tiers

from routing import rota
from routing._state import SessionState
from routing.actions import (
    Action,
    AgentPresenceChanged,
    CancelOffer,
    CancelTimer,
    ConnectSession,
    ConsultChanged,
    ConsultState,
    OfferSession,
    Outcome,
    SessionRecorded,
    StartTimer,
    action_from_dict,
)
from routing.engine import Engine
from routing.errors import RoutingError
from routing.events import (
    AgentDisconnected,
    AgentSignedIn,
    AgentStateChanged,
    CallbackRequested,
    CallerReturned,
    ConsultEnded,
    ConsultRequested,
    Event,
    HandOverRequested,
    OfferAccepted,
    OfferRejected,
    SessionAbandoned,
    SessionEnded,
    SessionQueued,
    TimerFired,
    TransferRequested,
    VoicemailRequested,
    event_from_dict,
)
from routing.ids import AgentId, CallerKey, Language, QueueId, SessionId, TimerKey
from routing.model import AgentProfile, RoutingConfig, Shift
from routing.presence import Presence

QUEUES = ("labour", "general")
PRIORITIES = ("ordinary", "elderly", "wage_claim")
CALLERS = ("13800000001", "13800000002", "13800000003", None)


def make_profiles(variant: int) -> list[AgentProfile]:
    """Six agents; in variant 1 some work shifts that start or end during a run."""
    shifts = {
        4: (Shift("08:00", "08:10"),),  # T0 is 08:00 local: goes off duty after 10 min
        5: (Shift("08:05", "09:00"),),  # comes on duty after 5 min
        3: (Shift("20:00", "08:20", night_duty=True),),  # night duty ending at 08:20
    }
    return [
        profile(
            f"a{i}",
            skills={"labour": 1 + i % 5, "general": 3} if i % 3 else {"labour": 4},
            tiers={"labour": 1 + i % (3 if variant else 2)},
            languages=("zh", "yue") if i % 2 else ("zh",),
            shifts=shifts.get(i, ()) if variant else (),
        )
        for i in range(6)
    ]


PROFILES = (make_profiles(0), make_profiles(1))


def make_config(variant: int = 0) -> RoutingConfig:
    """Variant 0: plain tiers, no rota. Variant 1: skip empty tiers, shifts, a roster."""
    return config(
        queue(
            "labour",
            tiers=tiers((1, 0), (2, 20), (3, 40)) if variant else tiers((1, 0), (2, 20)),
            skip_empty_tiers=bool(variant),
            max_wait_s=100,
            overflow_queue=QueueId("general"),
            overflow_after_s=150,
            named_agent_fallback_s=30,
            ring_timeout_s=15,
        ),
        queue("general", wrap_up_s=5, ring_timeout_s=10, max_wait_s=200, callback_expires_s=300),
        reoffer_after_s=25,
        roster=tuple(PROFILES[1]) if variant else (),
        voicemail_outside_shifts=bool(variant),
    )


op = st.one_of(
    st.tuples(
        st.just("queue"),
        st.integers(0, 1),
        st.integers(0, 2),
        st.integers(0, 3),
        st.integers(0, 9),
        st.integers(0, 7),
    ),
    st.tuples(st.just("sign_in"), st.integers(0, 5), st.booleans()),
    st.tuples(st.sampled_from(["accept", "accept", "reject"]), st.integers(0, 9)),
    st.tuples(st.sampled_from(["end", "transfer"]), st.integers(0, 9), st.integers(0, 1)),
    st.tuples(st.sampled_from(["abandon", "callback", "voicemail", "return"]), st.integers(0, 9)),
    st.tuples(st.just("advance"), st.floats(0, 45)),
    st.tuples(st.sampled_from(["available", "break", "disconnect"]), st.integers(0, 5)),
    # A consult from a live call: to an agent (a0..a5, themselves too) or a queue.
    st.tuples(st.just("consult"), st.integers(0, 9), st.integers(0, 7)),
    st.tuples(st.sampled_from(["end_consult", "hand_over"]), st.integers(0, 9)),
)


class Run:
    """Turns operations into events, feeds them, and checks invariants after each."""

    def __init__(self, variant: int = 0) -> None:
        self.variant = variant
        self.engine = Engine(make_config(variant))
        self.cfg = self.engine.config
        self.now = T0
        self.timers: dict[str, float] = {}
        self.log: list[Event] = []
        self.outputs: list[list[Action]] = []
        self.offers: dict[str, str] = {}  # agent -> session being offered
        self.live: dict[str, str] = {}  # agent -> session in progress
        self.profiles: dict[str, AgentProfile] = {}
        self.created: set[str] = set()
        self.recorded: set[str] = set()
        self.abandoned: list[tuple[str, str]] = []  # (caller, queue)
        self.dropped: set[str] = set()  # consult legs that ended without a hand-over
        self.counter = 0

    # --- feeding

    def feed(self, event: Event) -> None:
        waiting_before = {
            sid for sid, s in self.engine._sessions.items() if s.state is SessionState.WAITING
        }
        before = self.engine.snapshot()
        try:
            actions = self.engine.handle(event)
        except RoutingError:
            assert self.engine.snapshot() == before, "a failed event changed the state"
            return
        self.log.append(event)
        self.outputs.append(actions)
        if isinstance(event, OfferRejected):
            assert self.offers.pop(event.agent) == event.session
        assert event_from_dict(json.loads(json.dumps(event.to_dict()))) == event
        for action in actions:
            assert action_from_dict(json.loads(json.dumps(action.to_dict()))) == action
            self.observe(action, event)
        for action in of_kind(actions, OfferSession):
            self.check_priority(action, waiting_before, event.now)
        self.check_consistency()

    def observe(self, action: Action, event: Event) -> None:
        if isinstance(action, StartTimer):
            self.timers[action.key] = action.at
        elif isinstance(action, CancelTimer):
            self.timers.pop(action.key, None)
        elif isinstance(action, OfferSession):
            # No agent holds two offers or sessions; no session goes to two agents.
            assert action.agent not in self.offers
            assert action.agent not in self.live
            assert action.session not in self.offers.values()
            assert action.session not in self.live.values()
            self.check_eligible(action, event.now)
            self.offers[action.agent] = action.session
        elif isinstance(action, CancelOffer):
            assert self.offers.pop(action.agent) == action.session
        elif isinstance(action, ConnectSession):
            assert self.offers.pop(action.agent) == action.session
            self.live[action.agent] = action.session
        elif isinstance(action, SessionRecorded):
            assert action.session in self.created
            assert action.session not in self.recorded, "recorded twice"
            self.recorded.add(action.session)
            if action.outcome is Outcome.INTERRUPTED:
                # The agent was lost mid-call: the caller goes on as a new session.
                assert action.transferred_to is not None
                self.created.add(action.transferred_to)
            if action.agent is not None and self.live.get(action.agent) == action.session:
                del self.live[action.agent]
            assert action.session not in self.offers.values()
        elif isinstance(action, ConsultChanged):
            self.observe_consult(action)
        elif isinstance(action, AgentPresenceChanged) and action.presence is Presence.OFFLINE:
            self.offers.pop(action.agent, None)
            self.live.pop(action.agent, None)

    def observe_consult(self, action: ConsultChanged) -> None:
        """A consult leg is created by the engine; it ends dropped (never recorded) or,
        handed over, as an ordinary session that is recorded once."""
        consult = action.consult
        if action.state is ConsultState.RINGING:
            assert consult not in self.created
            self.created.add(consult)
        elif action.state is ConsultState.CONNECTED:
            assert action.consultant is not None
            assert self.offers.pop(action.consultant) == consult
            self.live[action.consultant] = consult
        elif action.state is ConsultState.ENDED:
            self.dropped.add(consult)
            if action.consultant is not None and self.live.get(action.consultant) == consult:
                del self.live[action.consultant]
        else:
            assert action.consultant is not None
            assert self.live.get(action.consultant) == consult

    def eligible(self, agent: str, sid: str, now: float) -> bool:
        s = self.engine._sessions[SessionId(sid)]
        prof = self.profiles[agent]
        if s.named_pending():
            return s.named_agent == agent
        q = self.cfg.queue(s.queue)
        assert q is not None
        if prof.skills.get(q.required_skill, 0) < q.min_proficiency:
            return False
        if s.language is not None and s.language not in prof.languages:
            return False
        tier = prof.tiers.get(q.id, 1)
        # With skip_empty_tiers the opening depends on who staffs the tiers now.
        opens = self.engine._queues[q.id].delays[tier]
        if q.skip_empty_tiers:
            assert opens <= next(r.opens_after_s for r in q.tiers if r.tier == tier)
        else:
            assert opens == next(r.opens_after_s for r in q.tiers if r.tier == tier)
        if not rota.on_duty(prof.shifts, now, self.cfg.utc_offset_s):
            return False
        return now - s.since >= opens and s.excluded.get(AgentId(agent), -math.inf) <= now

    def check_eligible(self, offer: OfferSession, now: float) -> None:
        assert self.eligible(offer.agent, offer.session, now), f"ineligible offer {offer}"

    def check_priority(self, offer: OfferSession, waiting_before: set[str], now: float) -> None:
        """No session that was waiting and still waits, eligible, ranks before the offer."""
        sessions = self.engine._sessions
        offered = sessions[SessionId(offer.session)]
        for sid in waiting_before:
            other = sessions.get(SessionId(sid))
            if other is None or other.state is not SessionState.WAITING:
                continue
            if other.queue != offered.queue or other.named_pending():
                continue
            if self.eligible(offer.agent, sid, now) and not offered.named_pending():
                assert other.key() > offered.key(), f"{sid} outranks {offer.session}"

    def check_consistency(self) -> None:
        held = set(self.engine._sessions)
        # No session disappears: everything created is held or recorded (or a consult
        # leg that ended), only one of them.
        assert held | self.recorded | self.dropped == self.created
        assert not held & self.recorded
        assert not held & self.dropped
        assert not self.recorded & self.dropped
        for agent, rec in self.engine._agents.items():
            assert rec.offer is None or rec.session is None
            if rec.offer is not None:
                assert self.offers.get(agent) == rec.offer
            if rec.session is not None:
                assert self.live.get(agent) == rec.session

    # --- operations

    def sid(self) -> SessionId:
        self.counter += 1
        return SessionId(f"s{self.counter}")

    def held(self, *states: SessionState) -> list[str]:
        return sorted(s for s, rec in self.engine._sessions.items() if rec.state in states)

    def apply(self, operation: tuple[Any, ...]) -> None:
        kind = operation[0]
        now = self.now
        if kind == "queue":
            _, qi, pi, ci, li, ni = operation
            sid = self.sid()
            self.created.add(sid)
            caller = CALLERS[ci]
            self.feed(
                SessionQueued(
                    now=now,
                    session=sid,
                    queue=QueueId(QUEUES[qi]),
                    caller=CallerKey(caller) if caller else None,
                    priority=PRIORITIES[pi],
                    language=Language("yue") if li == 0 else None,
                    named_agent=AgentId(f"a{ni}") if ni < 6 and li == 1 else None,
                )
            )
            if self.engine.session_state(sid) is None and sid not in self.recorded:
                self.created.discard(sid)  # refused (an error): never existed
        elif kind == "sign_in":
            prof = PROFILES[self.variant][operation[1]]
            if prof.id not in self.engine._agents:
                self.profiles[prof.id] = prof
                presence = Presence.AVAILABLE if operation[2] else Presence.BREAK
                self.feed(AgentSignedIn(now=now, profile=prof, presence=presence))
        elif kind in ("accept", "reject") and self.offers:
            agent, sid = sorted(self.offers.items())[operation[1] % len(self.offers)]
            cls = OfferAccepted if kind == "accept" else OfferRejected
            self.feed(cls(now=now, agent=AgentId(agent), session=SessionId(sid)))
        elif kind in ("end", "transfer") and self.live:
            agent, sid = sorted(self.live.items())[operation[1] % len(self.live)]
            if kind == "end":
                self.feed(SessionEnded(now=now, session=SessionId(sid)))
            else:
                new = self.sid()
                self.created.add(new)
                self.feed(
                    TransferRequested(
                        now=now,
                        session=SessionId(sid),
                        new_session=new,
                        to_queue=QueueId(QUEUES[operation[2]]),
                    )
                )
                if self.engine.session_state(new) is None and new not in self.recorded:
                    self.created.discard(new)  # refused: nobody could take it
        elif kind in ("abandon", "callback", "voicemail"):
            waiting = self.held(SessionState.WAITING, SessionState.OFFERED)
            if waiting:
                sid = SessionId(waiting[operation[1] % len(waiting)])
                rec = self.engine._sessions[sid]
                if kind == "abandon":
                    if rec.caller is not None:
                        self.abandoned.append((rec.caller, rec.queue))
                    self.feed(SessionAbandoned(now=now, session=sid))
                elif kind == "callback":
                    self.feed(CallbackRequested(now=now, session=sid))
                else:
                    self.feed(VoicemailRequested(now=now, session=sid))
        elif kind == "return" and self.abandoned:
            caller, qid = self.abandoned[operation[1] % len(self.abandoned)]
            sid = self.sid()
            self.created.add(sid)
            self.feed(
                CallerReturned(now=now, session=sid, queue=QueueId(qid), caller=CallerKey(caller))
            )
        elif kind == "consult" and self.live:
            agent, sid = sorted(self.live.items())[operation[1] % len(self.live)]
            target = operation[2]
            to = (
                {"to_agent": AgentId(f"a{target}")}
                if target < 6
                else {"to_queue": QueueId(QUEUES[target - 6])}
            )
            self.feed(ConsultRequested(now=now, session=SessionId(sid), **to))  # type: ignore[arg-type]
        elif kind in ("end_consult", "hand_over") and self.live:
            agent, sid = sorted(self.live.items())[operation[1] % len(self.live)]
            cls = ConsultEnded if kind == "end_consult" else HandOverRequested
            self.feed(cls(now=now, session=SessionId(sid)))
        elif kind == "advance":
            self.advance(operation[1])
        elif kind in ("available", "break", "disconnect"):
            agent = AgentId(f"a{operation[1]}")
            if agent in self.engine._agents:
                if kind == "disconnect":
                    self.feed(AgentDisconnected(now=now, agent=agent))
                else:
                    presence = Presence.AVAILABLE if kind == "available" else Presence.BREAK
                    self.feed(AgentStateChanged(now=now, agent=agent, presence=presence))

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = [(at, key) for key, at in self.timers.items() if at <= end]
            if not due:
                break
            at, key = min(due)
            del self.timers[key]
            self.now = max(self.now, at)
            self.feed(TimerFired(now=self.now, key=TimerKey(key)))
        self.now = end


def of_kind(actions: list[Action], kind: type[OfferSession]) -> list[OfferSession]:
    return [a for a in actions if isinstance(a, kind)]


def dicts(actions: list[Action]) -> list[dict[str, Any]]:
    return [a.to_dict() for a in actions]


programs = st.lists(op, min_size=30, max_size=80)
# An explicit program through every consult state (a named colleague rung, joined and
# handed over; a queue's agent joined and let go), so coverage never depends on chance.
CONSULTING = [
    *[("sign_in", i, True) for i in range(6)],
    ("queue", 0, 0, 1, 9, 0), ("accept", 0), ("consult", 0, 2), ("accept", 0),
    ("hand_over", 0), ("end", 0, 0),
    ("queue", 1, 0, 1, 9, 0), ("accept", 0), ("consult", 0, 7), ("accept", 0),
    ("end_consult", 0), ("consult", 0, 0), ("end_consult", 0), ("advance", 30.0),
]  # fmt: skip
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class TestInvariants:
    @SETTINGS
    @given(programs, st.sampled_from([0, 1]))
    @example(CONSULTING, 0)
    @example(CONSULTING, 1)
    def test_invariants_hold_after_every_event(
        self, program: list[tuple[Any, ...]], variant: int
    ) -> None:
        """No double offers, no ineligible offers, priority order, no lost sessions."""
        run = Run(variant)
        for operation in program:
            run.apply(operation)
        run.advance(3600)

    def test_the_programs_reach_every_consult_state(self) -> None:
        """The property is only as good as its programs: they ring, connect, end and
        hand over consults."""
        run = Run(0)
        for operation in CONSULTING:
            run.apply(operation)
        seen = {a.state for acts in run.outputs for a in acts if isinstance(a, ConsultChanged)}
        assert seen == set(ConsultState)


class TestReplay:
    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(programs, st.integers(0, 10_000), st.sampled_from([0, 1]))
    def test_same_log_same_actions_and_snapshot_then_tail(
        self, program: list[tuple[Any, ...]], cut_seed: int, variant: int
    ) -> None:
        """Replaying the log gives the same actions; so does a snapshot plus the tail."""
        run = Run(variant)
        for operation in program:
            run.apply(operation)
        replay = Engine(make_config(variant))
        assert [dicts(replay.handle(e)) for e in run.log] == [dicts(a) for a in run.outputs]
        assert replay.snapshot() == run.engine.snapshot()

        cut = cut_seed % (len(run.log) + 1)
        head = Engine(make_config(variant))
        for event in run.log[:cut]:
            head.handle(event)
        restored = Engine.restore(json.loads(json.dumps(head.snapshot())))
        assert restored.snapshot() == head.snapshot()
        tail = [dicts(restored.handle(e)) for e in run.log[cut:]]
        assert tail == [dicts(a) for a in run.outputs[cut:]]
        assert restored.snapshot() == run.engine.snapshot()


DIGEST_SCRIPT = """
import hashlib, json, sys
from bench.routing_engine import _populate
driver = _populate(120, 300, 6, 3, 5, True)
digest = hashlib.sha256()
handle = driver.engine.handle
def recording(event):
    actions = handle(event)
    digest.update(json.dumps([a.to_dict() for a in actions]).encode())
    return actions
driver.engine.handle = recording
while driver.handled < 3000 and driver.heap:
    driver.step()
digest.update(json.dumps(driver.engine.snapshot(), sort_keys=True).encode())
print(digest.hexdigest())
"""


class TestDeterminismAcrossProcesses:
    def test_hash_seed_does_not_change_decisions(self) -> None:
        """Two processes with different hash seeds make the same decisions (leader takeover)."""
        import os
        import subprocess
        import sys
        from pathlib import Path

        root = Path(__file__).resolve().parents[2]
        digests = set()
        for seed in ("1", "2"):
            env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}
            out = subprocess.run(
                [sys.executable, "-c", DIGEST_SCRIPT],
                env=env,
                cwd=root,
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            )
            digests.add(out.stdout.strip())
        assert len(digests) == 1
