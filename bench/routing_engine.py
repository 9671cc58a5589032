"""Benchmark: pure routing-engine decisions per second at hotline scale.

``run()`` builds an engine with ``agents`` agents and ``waiting`` waiting sessions over
``queues`` queues of ``tiers`` tiers, then drives it through a closed loop (every call
that ends brings a new caller, so the line stays at ``waiting``): offers are accepted
two seconds later, sessions last an exponential 300 s, wrap-up and tier timers fire on
the simulated clock. Only the time spent inside ``Engine.handle`` is counted; one
handled event is one decision. The figure is the median over ``repeats`` runs.

``hotline bench routing`` prints the returned dict as JSON.
"""

from __future__ import annotations

import gc
import heapq
import random
import statistics
import time
from typing import Any

from routing.actions import CancelTimer, ConnectSession, OfferSession, StartTimer, TellPosition
from routing.engine import Engine
from routing.events import (
    AgentSignedIn,
    AgentStateChanged,
    Event,
    OfferAccepted,
    SessionEnded,
    SessionQueued,
    TimerFired,
)
from routing.ids import AgentId, Language, QueueId, SessionId, Skill
from routing.model import AgentChoice, AgentProfile, QueueConfig, RoutingConfig, TierRule
from routing.presence import Presence

_T0 = 1_795_392_000.0
_LANGS = (Language("yue"), Language("sichuan"))
_PRIORITIES = ("ordinary",) * 8 + ("elderly", "wage_claim")


def _config(queues: int, tiers: int, positions: bool) -> RoutingConfig:
    choices = list(AgentChoice)
    return RoutingConfig(
        queues=tuple(
            QueueConfig(
                id=QueueId(f"q{i}"),
                required_skill=Skill(f"q{i}"),
                tiers=tuple(TierRule(t + 1, 20.0 * t) for t in range(tiers)),
                agent_choice=choices[i % len(choices)],
                wrap_up_s=10.0,
                weight=1.0 + (i % 3) * 0.5,
            )
            for i in range(queues)
        ),
        # Without positions, the first tell per queue happens at start and never again.
        position_interval_s=5.0 if positions else 1e12,
    )


class _Driver:
    """A minimal driver: a timer heap on a simulated clock, timing only ``handle``."""

    def __init__(self, engine: Engine, rng: random.Random, queues: int) -> None:
        self.engine = engine
        self.rng = rng
        self.queues = queues
        self.heap: list[tuple[float, int, Event]] = []
        self.seq = 0
        self.timers: dict[str, float] = {}
        self.sessions = 0
        self.handled = 0
        self.busy = 0.0
        self.offers = 0
        self.tells = 0
        self.now = _T0

    def at(self, when: float, event: Event) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (when, self.seq, event))

    def new_session(self, now: float) -> Event:
        self.sessions += 1
        rng = self.rng
        return SessionQueued(
            now=now,
            session=SessionId(f"s{self.sessions}"),
            queue=QueueId(f"q{rng.randrange(self.queues)}"),
            priority=rng.choice(_PRIORITIES),
            language=rng.choice(_LANGS) if rng.random() < 0.1 else None,
        )

    def feed(self, event: Event) -> None:
        start = time.perf_counter()
        actions = self.engine.handle(event)
        self.busy += time.perf_counter() - start
        self.handled += 1
        now = self.now = event.now
        for action in actions:
            if isinstance(action, StartTimer):
                self.timers[action.key] = action.at
                self.at(action.at, TimerFired(now=action.at, key=action.key))
            elif isinstance(action, CancelTimer):
                self.timers.pop(action.key, None)
            elif isinstance(action, OfferSession):
                self.offers += 1
                self.at(
                    now + 2.0,
                    OfferAccepted(now=now + 2.0, agent=action.agent, session=action.session),
                )
            elif isinstance(action, TellPosition):
                self.tells += 1
            elif isinstance(action, ConnectSession):
                end = now + self.rng.expovariate(1 / 300.0)
                self.at(end, SessionEnded(now=end, session=action.session))
        if isinstance(event, SessionEnded):
            self.feed(self.new_session(now))

    def step(self) -> None:
        when, _, event = heapq.heappop(self.heap)
        if isinstance(event, TimerFired):
            if self.timers.get(event.key) != when:
                return
            del self.timers[event.key]
        self.feed(event)


def _populate(
    agents: int, waiting: int, queues: int, tiers: int, seed: int, positions: bool
) -> _Driver:
    rng = random.Random(seed)
    engine = Engine(_config(queues, tiers, positions))
    driver = _Driver(engine, rng, queues)
    now = _T0
    ids = []
    for i in range(agents):
        served = rng.sample(range(queues), k=rng.randint(1, 3))
        profile = AgentProfile(
            id=AgentId(f"a{i}"),
            skills={Skill(f"q{q}"): rng.randint(1, 5) for q in served},
            tiers={QueueId(f"q{q}"): rng.randint(1, tiers) for q in served},
            languages=frozenset(
                {Language("zh")} | ({rng.choice(_LANGS)} if rng.random() < 0.3 else set())
            ),
        )
        driver.feed(AgentSignedIn(now=now, profile=profile, presence=Presence.BREAK))
        ids.append(profile.id)
    for _ in range(waiting + agents):
        driver.feed(driver.new_session(now))
    for agent in ids:
        driver.feed(AgentStateChanged(now=now, agent=agent, presence=Presence.AVAILABLE))
    return driver


def _measure(
    agents: int, waiting: int, queues: int, tiers: int, events: int, seed: int, positions: bool
) -> dict[str, float]:
    driver = _populate(agents, waiting, queues, tiers, seed, positions)
    driver.busy = 0.0
    driver.handled = 0
    driver.offers = 0
    driver.tells = 0
    start_clock = driver.heap[0][0] if driver.heap else _T0
    gc.collect()
    while driver.handled < events and driver.heap:
        driver.step()
    simulated = max(1e-9, driver.now - start_clock)
    return {
        "rate": driver.handled / driver.busy,
        "us": 1e6 * driver.busy / driver.handled,
        "offers": driver.offers,
        "tells": driver.tells,
        "simulated_s": simulated,
        "cpu_share": driver.busy / simulated,
    }


def run(
    *,
    agents: int = 1000,
    waiting: int = 5000,
    queues: int = 12,
    tiers: int = 3,
    events: int = 20_000,
    repeats: int = 5,
    seed: int = 1,
) -> dict[str, Any]:
    """Measure engine decisions per second; returns parameters and figures as a dict.

    ``decisions_per_s`` is routing alone (position telling switched off);
    ``with_positions`` repeats the run with every waiting caller told position and
    estimate at most every 5 s, which is work per simulated second rather than per
    event, so it is also given as the share of one core the engine needs in real time.
    """
    plain = [
        _measure(agents, waiting, queues, tiers, events, seed + r, False) for r in range(repeats)
    ]
    told = [
        _measure(agents, waiting, queues, tiers, events, seed + r, True) for r in range(repeats)
    ]

    def med(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    return {
        "benchmark": "routing",
        "agents": agents,
        "waiting": waiting,
        "queues": queues,
        "tiers": tiers,
        "events_per_run": events,
        "repeats": repeats,
        "decisions_per_s": med(plain, "rate"),
        "decisions_per_s_min": min(r["rate"] for r in plain),
        "decisions_per_s_max": max(r["rate"] for r in plain),
        "decision_us_median": med(plain, "us"),
        "offers_per_run": med(plain, "offers"),
        "target_decisions_per_s": 20_000,
        "with_positions": {
            "decisions_per_s": med(told, "rate"),
            "decision_us_median": med(told, "us"),
            "position_updates_per_run": med(told, "tells"),
            "simulated_s_per_run": med(told, "simulated_s"),
            "engine_core_share_in_real_time": med(told, "cpu_share"),
        },
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
