"""A fake driver for routing tests: a fake clock (just ``now`` values) and the timers.

``Harness.send(EventType, **fields)`` stamps the event with the fake clock, feeds the
engine and keeps the timers it asked for; ``advance(s)`` moves the clock, firing due
timers in order, exactly as the asyncio driver would.
"""

from __future__ import annotations

from typing import Any, TypeVar

from routing.actions import Action, CancelTimer, StartTimer
from routing.engine import Engine
from routing.events import AgentSignedIn, Event, SessionQueued, TimerFired
from routing.ids import AgentId, Language, QueueId, SessionId, Skill, TimerKey
from routing.model import AgentProfile, QueueConfig, RoutingConfig, Shift, TierRule
from routing.presence import Presence

# Monday 2026-11-23 00:00 UTC, which is 08:00 in Beijing.
T0 = 1_795_392_000.0

A = TypeVar("A", bound=Action)

LABOUR = QueueId("labour")
GENERAL = QueueId("general")


def queue(qid: str = "labour", **kw: Any) -> QueueConfig:
    """A queue requiring the skill of the same name, with test-friendly defaults."""
    kw.setdefault("wrap_up_s", 10.0)
    return QueueConfig(id=QueueId(qid), required_skill=Skill(qid), **kw)


def config(*queues: QueueConfig, **kw: Any) -> RoutingConfig:
    """A config with the given queues (labour and general by default)."""
    kw.setdefault("voicemail_outside_shifts", False)
    return RoutingConfig(queues=queues or (queue("labour"), queue("general")), **kw)


def profile(
    agent: str,
    skills: dict[str, int] | None = None,
    tiers: dict[str, int] | None = None,
    languages: tuple[str, ...] = ("zh",),
    shifts: tuple[Shift, ...] = (),
) -> AgentProfile:
    """An agent profile; by default labour at proficiency 3."""
    return AgentProfile(
        id=AgentId(agent),
        skills={Skill(k): v for k, v in (skills or {"labour": 3}).items()},
        tiers={QueueId(k): v for k, v in (tiers or {}).items()},
        languages=frozenset(Language(x) for x in languages),
        shifts=shifts,
    )


def of(actions: list[Action], kind: type[A]) -> list[A]:
    """The actions of one kind, in order."""
    return [a for a in actions if isinstance(a, kind)]


def tiers(*pairs: tuple[int, float]) -> tuple[TierRule, ...]:
    """A tier table from (tier, opens_after_s) pairs."""
    return tuple(TierRule(t, s) for t, s in pairs)


class Harness:
    """The engine plus a fake clock and the timers it asked for."""

    def __init__(self, cfg: RoutingConfig | None = None, start: float = T0) -> None:
        self.engine = Engine(cfg or config())
        self.now = start
        self.timers: dict[str, float] = {}
        self.log: list[Event] = []

    def feed(self, event: Event) -> list[Action]:
        """Feed one event (already stamped) and track timers."""
        actions = self.engine.handle(event)
        self.log.append(event)
        for action in actions:
            if isinstance(action, StartTimer):
                self.timers[action.key] = action.at
            elif isinstance(action, CancelTimer):
                self.timers.pop(action.key, None)
        return actions

    def send(self, kind: type[Event], **fields: Any) -> list[Action]:
        """Build an event of ``kind`` at the current fake time and feed it."""
        return self.feed(kind(now=self.now, **fields))

    def advance(self, seconds: float) -> list[Action]:
        """Move the clock on, firing every due timer in time order; all actions returned."""
        end = self.now + seconds
        out: list[Action] = []
        while True:
            due = [(at, key) for key, at in self.timers.items() if at <= end]
            if not due:
                break
            at, key = min(due)
            del self.timers[key]
            self.now = max(self.now, at)
            out += self.feed(TimerFired(now=self.now, key=TimerKey(key)))
        self.now = end
        return out

    def sign_in(
        self, agent: str, presence: Presence = Presence.AVAILABLE, **kw: Any
    ) -> list[Action]:
        """Sign an agent in (profile built by :func:`profile`)."""
        return self.send(AgentSignedIn, profile=profile(agent, **kw), presence=presence)

    def enqueue(self, session: str, queue_id: str = "labour", **kw: Any) -> list[Action]:
        """Queue a session."""
        return self.send(SessionQueued, session=SessionId(session), queue=QueueId(queue_id), **kw)
