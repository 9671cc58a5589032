"""A discrete-event simulator that drives the real :class:`~routing.engine.Engine`.

Callers arrive as Poisson streams, each stream into one queue with its own arrival
rate, handle time (exponential by default, or fixed) and optional patience
(exponential; a caller whose patience runs out before being answered hangs up).
Agents accept every offer at once. The engine's timers run on the simulated clock.

``simulate(...)`` runs one queue from plain numbers; ``simulate_scenario(...)`` runs
a multi-queue, multi-skill scenario given as a dict (or a JSON file)::

    {
      "queues": [{"id": "labour", "required_skill": "labour", "wrap_up_s": 0}, ...],
      "agents": [{"count": 5, "skills": {"labour": 3, "general": 2},
                  "tiers": {"general": 2}, "languages": ["zh"]}, ...],
      "streams": [{"queue": "labour", "arrival_rate": 0.02, "aht": 300,
                   "patience": 120, "priority": "ordinary", "language": null,
                   "handle": "exponential"}, ...],
      "calls": 10000, "seed": 1, "sl_threshold": 15,
      "config": {"max_missed_offers": 2, ...}
    }

Results are one dict: ``calls``, ``answered``, ``abandoned``, ``other`` (voicemail …),
``asa``, ``service_level`` (answered within the threshold, over calls that were
answered or abandoned), ``p_wait`` (share of those that waited at all), ``occupancy``,
``max_wait``, ``abandon_rate``, per-queue figures under ``queues``, and
``engine_events`` (how many events the engine handled).
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from routing.actions import (
    Action,
    CancelTimer,
    ConnectSession,
    OfferSession,
    Outcome,
    SessionRecorded,
    StartTimer,
)
from routing.engine import Engine
from routing.errors import ConfigError
from routing.events import (
    AgentSignedIn,
    Event,
    OfferAccepted,
    SessionAbandoned,
    SessionEnded,
    SessionQueued,
    TimerFired,
)
from routing.ids import AgentId, Language, QueueId, SessionId, Skill, TimerKey
from routing.model import AgentProfile, QueueConfig, RoutingConfig

# Simulated clock starts at a fixed epoch second: Monday 2026-11-23 00:00 UTC.
_EPOCH = 1_795_392_000.0

_ARRIVE, _END, _PATIENCE, _TIMER = 0, 1, 2, 3


class _Stats:
    __slots__ = (
        "abandoned",
        "answered",
        "calls",
        "max_wait",
        "other",
        "wait_sum",
        "waited",
        "within",
    )

    def __init__(self) -> None:
        self.calls = 0
        self.answered = 0
        self.abandoned = 0
        self.other = 0
        self.wait_sum = 0.0
        self.within = 0
        self.waited = 0
        self.max_wait = 0.0

    def result(self) -> dict[str, Any]:
        judged = self.answered + self.abandoned
        return {
            "calls": self.calls,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "other": self.other,
            "asa": self.wait_sum / self.answered if self.answered else 0.0,
            "service_level": self.within / judged if judged else 0.0,
            "p_wait": self.waited / judged if judged else 0.0,
            "max_wait": self.max_wait,
            "abandon_rate": self.abandoned / judged if judged else 0.0,
        }


def _check_positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0")


class _Sim:
    """One run: an event heap on a simulated clock, feeding the engine."""

    def __init__(
        self,
        config: RoutingConfig,
        profiles: list[AgentProfile],
        streams: list[dict[str, Any]],
        calls: int,
        seed: int,
        sl_threshold: float,
    ) -> None:
        _check_positive("sl_threshold", sl_threshold)
        if calls < 1:
            raise ConfigError("calls must be >= 1")
        for stream in streams:
            _check_positive("arrival_rate", float(stream["arrival_rate"]), allow_zero=True)
            _check_positive("aht", float(stream["aht"]))
            if stream.get("patience") is not None:
                _check_positive("patience", float(stream["patience"]))
        self.engine = Engine(config)
        self.rng = random.Random(seed)
        self.profiles = profiles
        self.streams = streams
        self.calls = calls
        self.sl_threshold = sl_threshold
        self.heap: list[tuple[float, int, int, str]] = []
        self.seq = 0
        self.timers: dict[str, float] = {}
        self.session_stream: dict[str, int] = {}
        self.busy_time = 0.0
        self.events = 0
        self.total = _Stats()
        self.per_queue: dict[str, _Stats] = {}
        self.answer_at: dict[str, float] = {}

    def push(self, at: float, kind: int, payload: str) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, payload))

    def feed(self, event: Event) -> None:
        pending = [event]
        while pending:
            self.events += 1
            for action in self.engine.handle(pending.pop()):
                self.act(action, pending, event.now)

    def act(self, action: Action, pending: list[Event], now: float) -> None:
        if isinstance(action, StartTimer):
            self.timers[action.key] = action.at
            self.push(action.at, _TIMER, action.key)
        elif isinstance(action, CancelTimer):
            self.timers.pop(action.key, None)
        elif isinstance(action, OfferSession):
            pending.append(OfferAccepted(now=now, agent=action.agent, session=action.session))
        elif isinstance(action, ConnectSession):
            stream = self.streams[self.session_stream[action.session]]
            if stream.get("handle", "exponential") == "fixed":
                handle = float(stream["aht"])
            else:
                handle = self.rng.expovariate(1.0 / float(stream["aht"]))
            self.busy_time += handle
            self.answer_at[action.session] = now
            self.push(now + handle, _END, action.session)
        elif isinstance(action, SessionRecorded):
            self.record(action)

    def record(self, rec: SessionRecorded) -> None:
        stats = self.per_queue.setdefault(rec.queue, _Stats())
        for s in (self.total, stats):
            if rec.outcome is Outcome.ANSWERED:
                assert rec.answered_at is not None
                wait = rec.answered_at - rec.queued_at
                s.answered += 1
                s.wait_sum += wait
                s.within += wait <= self.sl_threshold
                s.waited += wait > 0
                s.max_wait = max(s.max_wait, wait)
            elif rec.outcome is Outcome.ABANDONED:
                wait = rec.ended_at - rec.queued_at
                s.abandoned += 1
                s.waited += 1
                s.max_wait = max(s.max_wait, wait)
            else:
                s.other += 1

    def run(self) -> dict[str, Any]:
        now = _EPOCH
        for profile in self.profiles:
            self.feed(AgentSignedIn(now=now, profile=profile))
        rates = [float(s["arrival_rate"]) for s in self.streams]
        total_rate = sum(rates)
        if total_rate <= 0:
            raise ConfigError("the arrival rate must be positive")
        arrived = 0
        self.push(now + self.rng.expovariate(total_rate), _ARRIVE, "")
        while self.heap:
            now, _, kind, payload = heapq.heappop(self.heap)
            if kind == _ARRIVE:
                arrived += 1
                index = (
                    self.rng.choices(range(len(rates)), weights=rates)[0] if len(rates) > 1 else 0
                )
                stream = self.streams[index]
                sid = SessionId(f"c{arrived}")
                self.session_stream[sid] = index
                for s in (self.total, self.per_queue.setdefault(stream["queue"], _Stats())):
                    s.calls += 1
                self.feed(
                    SessionQueued(
                        now=now,
                        session=sid,
                        queue=QueueId(stream["queue"]),
                        priority=stream.get("priority", "ordinary"),
                        language=stream.get("language"),
                    )
                )
                patience = stream.get("patience")
                if patience:
                    self.push(now + self.rng.expovariate(1.0 / float(patience)), _PATIENCE, sid)
                if arrived < self.calls:
                    self.push(now + self.rng.expovariate(total_rate), _ARRIVE, "")
            elif kind == _END:
                self.answer_at.pop(payload, None)
                self.feed(SessionEnded(now=now, session=SessionId(payload)))
            elif kind == _PATIENCE:
                if payload not in self.answer_at and self.engine.session_state(SessionId(payload)):
                    self.feed(SessionAbandoned(now=now, session=SessionId(payload)))
            elif self.timers.get(payload) == now:
                del self.timers[payload]
                self.feed(TimerFired(now=now, key=TimerKey(payload)))
        duration = now - _EPOCH
        result = self.total.result()
        agents = len(self.profiles)
        result["occupancy"] = self.busy_time / (agents * duration) if duration > 0 else 0.0
        result["agents"] = agents
        result["sl_threshold"] = self.sl_threshold
        result["simulated_s"] = duration
        result["engine_events"] = self.events
        result["queues"] = {q: s.result() for q, s in sorted(self.per_queue.items())}
        return result


def simulate(
    *,
    agents: int,
    arrival_rate: float,
    aht: float,
    calls: int,
    seed: int = 1,
    sl_threshold: float = 15.0,
    patience: float | None = None,
    wrap_up_s: float = 0.0,
) -> dict[str, Any]:
    """One queue, FIFO, ``agents`` identical agents: the M/M/c(+M) case.

    ``arrival_rate`` in calls per second; ``aht``, ``patience`` and ``sl_threshold`` in
    seconds. Wrap-up defaults to zero so that the result is comparable with Erlang C.
    """
    if agents < 1 or calls < 1:
        raise ConfigError("agents and calls must be >= 1")
    queue = QueueConfig(
        id=QueueId("general"),
        required_skill=Skill("general"),
        wrap_up_s=wrap_up_s,
        initial_aht_s=aht,
    )
    config = RoutingConfig(queues=(queue,))
    profiles = [
        AgentProfile(id=AgentId(f"a{i}"), skills={Skill("general"): 3}) for i in range(agents)
    ]
    stream = {"queue": "general", "arrival_rate": arrival_rate, "aht": aht, "patience": patience}
    result = _Sim(config, profiles, [stream], calls, seed, sl_threshold).run()
    result.update(arrival_rate=arrival_rate, aht=aht, seed=seed, patience=patience)
    return result


def simulate_scenario(
    scenario: Mapping[str, Any] | str | Path,
    *,
    calls: int | None = None,
    seed: int | None = None,
    sl_threshold: float | None = None,
) -> dict[str, Any]:
    """Run a multi-queue, multi-skill scenario (a dict, or the path of a JSON file).

    ``calls``, ``seed`` and ``sl_threshold`` override the scenario's own values.
    """
    if not isinstance(scenario, Mapping):
        scenario = json.loads(Path(scenario).read_text(encoding="utf-8"))
    assert isinstance(scenario, Mapping)
    try:
        queues = tuple(QueueConfig.from_dict(q) for q in scenario["queues"])
        config = RoutingConfig.from_dict({**scenario.get("config", {}), "queues": []})
        config = RoutingConfig(
            **{
                **{f: getattr(config, f) for f in config.__dataclass_fields__},
                "queues": queues,
            }
        )
        profiles: list[AgentProfile] = []
        for group_no, group in enumerate(scenario["agents"]):
            for i in range(int(group.get("count", 1))):
                profiles.append(
                    AgentProfile(
                        id=AgentId(f"g{group_no}a{i}"),
                        skills={Skill(k): int(v) for k, v in group["skills"].items()},
                        tiers={QueueId(k): int(v) for k, v in group.get("tiers", {}).items()},
                        languages=frozenset(Language(x) for x in group.get("languages", ["zh"])),
                    )
                )
        streams = [dict(s) for s in scenario["streams"]]
        known = {q.id for q in queues}
        if not profiles or not streams or any(s["queue"] not in known for s in streams):
            raise ConfigError("a scenario needs agents, and streams into configured queues")
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"bad scenario: {exc}") from exc
    k = int(calls if calls is not None else scenario.get("calls", 10_000))
    r = int(seed if seed is not None else scenario.get("seed", 1))
    t = float(sl_threshold if sl_threshold is not None else scenario.get("sl_threshold", 15.0))
    result = _Sim(config, profiles, streams, k, r, t).run()
    result["seed"] = r
    return result


__all__ = ["simulate", "simulate_scenario"]
