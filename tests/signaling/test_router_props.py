"""Property tests of the leader's state machine over random record sequences.

The router must never raise on any sequence of records (a crash would wedge the leader
in a replay loop), every message it produces must be a valid protocol message, and the
same log replayed from scratch — or from a snapshot taken halfway — must give the same
effects and the same state (that is how a new leader catches up).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from routing.model import RoutingConfig
from signaling import protocol as p
from signaling.router import Effects, Router
from tests.signaling.conftest import make_config, profile

AGENTS = ("A1", "A2", "A3")
CALLERS = ("c:u1", "c:u2", "c:u3", "c:u4")
CONFIG: RoutingConfig = make_config(ring_timeout_s=5.0)

op = st.one_of(
    st.tuples(st.just("attach"), st.sampled_from(AGENTS + CALLERS)),
    st.tuples(st.just("drop"), st.sampled_from(AGENTS + CALLERS)),
    st.tuples(st.just("join"), st.sampled_from(CALLERS), st.sampled_from(["general", "traffic"])),
    st.tuples(st.sampled_from(["leave", "callback", "voicemail", "end"]), st.sampled_from(CALLERS)),
    st.tuples(
        st.just("presence"),
        st.sampled_from(AGENTS),
        st.sampled_from(["available", "break", "offline", "wrap_up"]),
    ),
    st.tuples(
        st.sampled_from(["accept", "accept", "reject", "agent_end", "transfer"]),
        st.sampled_from(AGENTS),
    ),
    st.tuples(st.sampled_from(["accept", "agent_end"]), st.sampled_from(AGENTS)),
    st.tuples(st.just("timer")),
    st.tuples(st.just("advance"), st.floats(0.1, 40.0)),
)


class Generator:
    """Turns abstract operations into concrete log records, using the router's state
    only to pick plausible ids (the records themselves are then fixed)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.now = 1_800_000_000.0
        self.conns: dict[str, int] = {}
        self.seq = 0

    def conn(self, key: str) -> str:
        return f"{key}#{self.conns.get(key, 0)}"

    def record(self, step: tuple[Any, ...]) -> dict[str, Any] | None:
        kind = step[0]
        self.seq += 1
        now = self.now
        if kind == "advance":
            self.now += step[1]
            return None
        if kind == "attach":
            key = step[1] if step[1].startswith("c:") else f"a:{step[1]}"
            self.conns[key] = self.conns.get(key, 0) + 1
            record = {"t": "attach", "key": key, "conn": self.conn(key), "now": now}
            if key.startswith("a:"):
                record["profile"] = profile(key[2:]).to_dict()
            return record
        if kind == "drop":
            key = step[1] if step[1].startswith("c:") else f"a:{step[1]}"
            return {"t": "drop", "key": key, "conn": self.conn(key), "now": now}
        if kind == "timer":
            if not self.router.timers:
                return None
            key, at = min(self.router.timers.items(), key=lambda kv: kv[1])
            self.now = max(self.now, at)
            return {"t": "timer", "key": key, "now": at}
        if kind in ("join", "leave", "callback", "voicemail", "end"):
            key = step[1]
            m: dict[str, Any] = {
                "join": {"type": "join_queue", "category": step[-1], "language": "zh"},
                "leave": {"type": "leave_queue"},
                "callback": {"type": "request_callback"},
                "voicemail": {"type": "request_voicemail"},
                "end": {"type": "end"},
            }[kind]
            record = {"t": "msg", "key": key, "conn": self.conn(key), "now": now, "m": m}
            if kind == "join":
                record["sid"] = f"S-{self.seq}"
                record["display"] = "138****5678"
            return record
        agent = step[1]
        key = f"a:{agent}"
        base = {"t": "msg", "key": key, "conn": self.conn(key), "now": now}
        if kind == "presence":
            state = step[2]
            m = {"type": "presence", "state": state}
            if state == "break":
                m["reason"] = "lunch"
            return {**base, "m": m}
        offer = self.router.offers.get(agent)
        live = next(
            (sid for sid, s in self.router.sessions.items() if s.agent == agent and s.live), None
        )
        if kind in ("accept", "reject"):
            return {**base, "m": {"type": kind, "offer_id": offer[0] if offer else "S-0.0"}}
        if kind == "agent_end":
            return {**base, "m": {"type": "end", "session_id": live or "S-0"}}
        return {
            **base,
            "m": {"type": "transfer", "session_id": live or "S-0", "to_queue": "legal_aid"},
            "sid": f"S-t{self.seq}",
        }


class Failures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


FAILURES = Failures()
logging.getLogger("signaling.router").addHandler(FAILURES)
SEEN: dict[str, int] = {}


def wire(fx: Effects) -> list[tuple[str, str]]:
    out = []
    for key, msg in fx.deliveries:
        SEEN[msg.type] = SEEN.get(msg.type, 0) + 1
        text = p.serialize(msg)
        assert p.parse_server(text) == msg
        out.append((key, text))
    out += [("timer", json.dumps(t)) for t in fx.start_timers]
    out += [("cancel", k) for k in fx.cancel_timers]
    out += [("outcome", json.dumps(o.to_dict())) for o in fx.outcomes]
    return out


# One explicit sequence that offers, connects, ends, times out and refuses, so the
# coverage check below never depends on what the random examples happened to be.
COVERING = [
    ("join", "c:u1", "general"),
    ("accept", "A1"), ("accept", "A2"), ("accept", "A3"),
    ("agent_end", "A1"), ("agent_end", "A2"), ("agent_end", "A3"),
    ("join", "c:u2", "general"),
    ("advance", 40.0), ("timer",), ("advance", 40.0), ("timer",),
    ("reject", "A1"),
]  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(st.lists(op, max_size=60), st.integers(0, 60))
@example(COVERING, 5)
def test_router_never_raises_and_replays_identically(
    steps: list[tuple[Any, ...]], cut: int
) -> None:
    """Any record sequence is applied without raising; replaying the log (from the
    start, or from a snapshot plus the tail) gives the same effects and state."""
    FAILURES.records.clear()
    live = Router.new(CONFIG, grace_s=3.0)
    gen = Generator(live)
    log: list[dict[str, Any]] = []
    effects: list[list[tuple[str, str]]] = []
    opening = [("attach", a) for a in AGENTS + CALLERS] + [
        ("presence", a, "available") for a in AGENTS
    ]
    for step in opening + steps:
        record = gen.record(step)
        if record is None:
            continue
        log.append(json.loads(json.dumps(record)))
        effects.append(wire(live.apply(record)))
    assert not FAILURES.records, FAILURES.records[0].getMessage()
    final = json.dumps(live.snapshot(), sort_keys=True)
    outcomes = [e for fx in effects for e in fx if e[0] == "outcome"]
    sessions = [json.loads(o[1])["session"] for o in outcomes]
    assert len(sessions) == len(set(sessions)), "a session recorded twice"

    replay = Router.new(CONFIG, grace_s=3.0)
    assert [wire(replay.apply(r)) for r in log] == effects
    assert json.dumps(replay.snapshot(), sort_keys=True) == final

    cut = min(cut, len(log))
    first = Router.new(CONFIG, grace_s=3.0)
    for record in log[:cut]:
        first.apply(record)
    restored = Router.restore(json.loads(json.dumps(first.snapshot())), grace_s=3.0)
    assert [wire(restored.apply(r)) for r in log[cut:]] == effects[cut:]
    assert json.dumps(restored.snapshot(), sort_keys=True) == final


def test_the_generator_reaches_the_interesting_states() -> None:
    """The property above is only as good as its sequences: they must offer, connect,
    end, time out and refuse."""
    test_router_never_raises_and_replays_identically()
    for kind in ("offer", "connected", "ended", "offer_cancelled", "error", "queued"):
        assert SEEN.get(kind, 0) > 0, (kind, SEEN)
