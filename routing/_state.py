"""The engine's internal records of sessions, agents and queues, with their indexes.

Not public: the driver sees only events, actions and ``Engine.snapshot()``.

Indexes are heaps with lazy deletion. A waiting session sits in one heap per queue,
priority level and language, ordered by ``(since, order)``; a free agent sits in one
heap per queue, tier and language, ordered by the queue's agent-choice key. An entry
carries a token (session) or version (agent); when that no longer matches the record,
the entry is stale and is dropped when it reaches the top.
"""

from __future__ import annotations

import enum
import math
from typing import Any

from routing.ids import AgentId, CallerKey, Language, QueueId, SessionId
from routing.model import AgentChoice, AgentProfile, QueueConfig
from routing.presence import Presence

SessionEntry = tuple[float, int, int, SessionId]
"""(since, order, token, session) in a queue's waiting heap."""

AgentEntry = tuple[tuple[float, float], int, int, AgentId]
"""(choice key, agent order, version, agent) in a queue's free-agent heap."""


class SessionState(enum.StrEnum):
    """Lifecycle of a session inside the engine (terminal sessions are dropped)."""

    WAITING = "waiting"
    OFFERED = "offered"
    IN_SESSION = "in_session"


SESSION_TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    SessionState.WAITING: frozenset({SessionState.OFFERED}),
    SessionState.OFFERED: frozenset({SessionState.WAITING, SessionState.IN_SESSION}),
    # An agent who drops mid-session puts the session back in line.
    SessionState.IN_SESSION: frozenset({SessionState.WAITING}),
}


class SessionRec:
    """A session the engine holds (waiting, offered or in a session)."""

    __slots__ = (
        "agent",
        "answered_at",
        "callback",
        "caller",
        "consult",
        "consult_of",
        "consults",
        "display_number",
        "entered_at",
        "excluded",
        "id",
        "language",
        "level",
        "long_wait_done",
        "named_agent",
        "named_until",
        "offered_at",
        "order",
        "priority",
        "queue",
        "queued_at",
        "resumed_from",
        "since",
        "state",
        "token",
        "told_at",
        "told_est",
        "told_pos",
    )

    def __init__(
        self,
        *,
        id: SessionId,
        queue: QueueId,
        priority: str,
        level: int,
        since: float,
        order: int,
        queued_at: float,
        caller: CallerKey | None = None,
        language: Language | None = None,
        named_agent: AgentId | None = None,
        named_until: float = -math.inf,
        display_number: str | None = None,
        resumed_from: SessionId | None = None,
    ) -> None:
        self.id = id
        self.queue = queue
        self.priority = priority
        self.level = level
        self.since = since  # ordering key and tier clock
        self.order = order  # tie-break: arrival order
        self.queued_at = queued_at
        self.entered_at = queued_at  # entered the current queue (overflow clock)
        self.caller = caller
        self.language = language
        self.named_agent = named_agent
        self.named_until = named_until
        self.display_number = display_number
        self.resumed_from = resumed_from
        self.state = SessionState.WAITING
        self.agent: AgentId | None = None
        self.offered_at: float | None = None
        self.answered_at: float | None = None
        self.callback = False
        # A consult leg names its live session; a live session its open consult leg
        # and how many it has had (legs are numbered ``<id>:c<n>``).
        self.consult_of: SessionId | None = None
        self.consult: SessionId | None = None
        self.consults = 0
        self.long_wait_done = False
        self.excluded: dict[AgentId, float] = {}
        self.token = -1
        self.told_at = -math.inf
        self.told_pos = 0
        self.told_est: float | None = -1.0

    def key(self) -> tuple[int, float, int]:
        """Priority order: higher level first, then earlier ``since``, then arrival."""
        return (-self.level, self.since, self.order)

    def named_pending(self) -> bool:
        """Still waiting only for the agent the caller asked for.

        Until the ``named`` timer fires, not merely until its time: two sessions whose
        fallback falls due at the same instant then join the queue one by one, in order.
        """
        return self.named_agent is not None and self.named_until > -math.inf

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        data = {name: getattr(self, name) for name in self.__slots__}
        data["state"] = self.state.value
        data["excluded"] = dict(sorted(self.excluded.items()))
        for name in ("named_until", "told_at"):
            if math.isinf(data[name]):
                data[name] = None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionRec:
        """Rebuild from :meth:`to_dict`."""
        rec = cls.__new__(cls)
        for name in cls.__slots__:
            setattr(rec, name, data[name])
        rec.state = SessionState(data["state"])
        rec.excluded = dict(data["excluded"])
        for name in ("named_until", "told_at"):
            if data[name] is None:
                setattr(rec, name, -math.inf)
        return rec


class AgentRec:
    """A signed-in agent."""

    __slots__ = (
        "idle_since",
        "missed",
        "offer",
        "on_duty",
        "order",
        "presence",
        "profile",
        "queues",
        "reason",
        "session",
        "version",
    )

    def __init__(
        self,
        profile: AgentProfile,
        order: int,
        queues: dict[QueueId, tuple[int, int]],
        presence: Presence,
        now: float,
        on_duty: bool,
    ) -> None:
        self.profile = profile
        self.order = order
        self.queues = queues  # queue -> (tier, proficiency)
        self.presence = presence
        self.reason: str | None = None
        self.idle_since = now
        self.offer: SessionId | None = None
        self.session: SessionId | None = None
        self.missed = 0
        self.on_duty = on_duty
        self.version = 0

    @property
    def id(self) -> AgentId:
        """The agent's id."""
        return self.profile.id

    def is_free(self) -> bool:
        """May be offered a session right now."""
        return self.presence is Presence.AVAILABLE and self.offer is None and self.on_duty

    def is_staffed(self) -> bool:
        """Counts as staffing its queues (for estimates and skip-empty-tier)."""
        return self.on_duty and self.presence in _STAFFED

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            "profile": self.profile.to_dict(),
            "order": self.order,
            "presence": self.presence.value,
            "reason": self.reason,
            "idle_since": self.idle_since,
            "offer": self.offer,
            "session": self.session,
            "missed": self.missed,
            "on_duty": self.on_duty,
            "version": self.version,
        }


_STAFFED = frozenset({Presence.AVAILABLE, Presence.IN_SESSION, Presence.WRAP_UP})


class QueueRec:
    """A queue's runtime state: waiting heaps, free-agent heaps, staffing counts."""

    __slots__ = (
        "aht",
        "buckets",
        "cfg",
        "delays",
        "free",
        "last_tick",
        "level_counts",
        "members",
        "present",
        "speakers",
        "staffed",
        "tier_order",
    )

    def __init__(self, cfg: QueueConfig) -> None:
        self.cfg = cfg
        self.buckets: dict[tuple[int, Language | None], list[SessionEntry]] = {}
        self.free: dict[tuple[int, Language | None], list[AgentEntry]] = {}
        self.members: set[SessionId] = set()  # in line: waiting or offered
        self.level_counts: dict[int, int] = {}
        self.present: dict[int, int] = {rule.tier: 0 for rule in cfg.tiers}
        self.staffed = 0
        self.speakers: dict[Language, int] = {}  # staffing agents by language spoken
        self.aht = cfg.initial_aht_s
        self.last_tick = -math.inf
        self.tier_order = [rule.tier for rule in cfg.tiers]
        self.delays: dict[int, float] = {}
        self.recompute_delays()

    def recompute_delays(self) -> None:
        """Effective opening delay per tier, skipping empty tiers if configured."""
        prev: float | None = None
        prev_empty = False
        for rule in self.cfg.tiers:
            delay = rule.opens_after_s
            if self.cfg.skip_empty_tiers and prev is not None and prev_empty:
                delay = min(delay, prev)
            self.delays[rule.tier] = delay
            prev = delay
            prev_empty = self.present[rule.tier] == 0

    def choice_key(self, agent: AgentRec, today: int) -> tuple[float, float]:
        """The queue's agent-choice key: smaller is chosen first."""
        choice = self.cfg.agent_choice
        if choice is AgentChoice.FEWEST_TODAY:
            return (float(today), agent.idle_since)
        if choice is AgentChoice.BEST_PROFICIENCY:
            return (float(-agent.queues[self.cfg.id][1]), agent.idle_since)
        return (agent.idle_since, 0.0)

    def levels(self) -> list[int]:
        """Priority levels with sessions in line, highest first."""
        return sorted((lv for lv, n in self.level_counts.items() if n), reverse=True)
