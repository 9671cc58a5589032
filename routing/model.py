"""Configuration of the routing engine: queues, priority classes, agents and their rota.

Everything here is a frozen dataclass with ``to_dict()`` / ``from_dict()`` so the driver
can load it from settings or the database and put it in a snapshot.

Times of day in a rota are in the centre's time zone, given as a fixed UTC offset
(China has no daylight saving time: Asia/Shanghai is always UTC+8). The engine's
``now`` is seconds since the Unix epoch.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any, Self

from routing import _codec
from routing.errors import ConfigError
from routing.ids import AgentId, Language, QueueId, Skill

SECONDS_PER_DAY = 86_400.0


def mask_number(number: str) -> str:
    """Mask a phone number for screens: ``13812345678`` → ``138****5678``."""
    if len(number) < 8:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


class AgentChoice(enum.StrEnum):
    """How a queue picks among several free eligible agents of the same tier."""

    LONGEST_IDLE = "longest_idle"
    FEWEST_TODAY = "fewest_today"
    BEST_PROFICIENCY = "best_proficiency"


class LongWaitAction(enum.StrEnum):
    """What happens when a caller has waited a queue's ``max_wait_s``."""

    CALLBACK = "callback"
    """Offer a callback (the session keeps its place) or a voicemail ticket."""
    VOICEMAIL = "voicemail"
    """Take a voicemail ticket and end the session."""


class Category(enum.StrEnum):
    """Service categories of a 12348 hotline (DOMAIN.md); queue ids default to these."""

    MARRIAGE_FAMILY = "marriage_family"
    LABOUR_WAGES = "labour_wages"
    TRAFFIC = "traffic"
    CONTRACT_DEBT = "contract_debt"
    PROPERTY_HOUSING = "property_housing"
    CONSUMER = "consumer"
    CRIMINAL = "criminal"
    ADMINISTRATIVE = "administrative"
    NOTARIZATION = "notarization"
    LEGAL_AID = "legal_aid"
    MEDIATION_INTAKE = "mediation_intake"
    GENERAL = "general"


class _Codec:
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of this object."""
        result: dict[str, Any] = _codec.to_jsonable(self)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild an object from :meth:`to_dict` output."""
        result: Self = _codec.build(cls, data)
        return result


@dataclasses.dataclass(frozen=True, slots=True)
class TierRule(_Codec):
    """Agents of ``tier`` may take a session once it has waited ``opens_after_s``."""

    tier: int
    opens_after_s: float


@dataclasses.dataclass(frozen=True, slots=True)
class QueueConfig(_Codec):
    """One queue of waiting sessions and how it is served."""

    id: QueueId
    required_skill: Skill
    min_proficiency: int = 1
    tiers: tuple[TierRule, ...] = (TierRule(1, 0.0),)
    # FreeSWITCH tier-rule-no-agent-no-wait: a tier with nobody staffing it (signed in,
    # on shift and not on a break) does not hold back the tiers after it.
    skip_empty_tiers: bool = False
    agent_choice: AgentChoice = AgentChoice.LONGEST_IDLE
    ring_timeout_s: float = 20.0
    # ``None``: wrap-up lasts until the agent ends it (the hotline's disposition).
    wrap_up_s: float | None = 30.0
    max_wait_s: float | None = None
    long_wait_action: LongWaitAction = LongWaitAction.CALLBACK
    callback_expires_s: float = SECONDS_PER_DAY
    # A callback that reached nobody may be tried again after ``callback_retry_s``, up
    # to ``callback_attempts`` attempts in all (signaling.router carries this out).
    callback_retry_s: float = 600.0
    callback_attempts: int = 3
    overflow_queue: QueueId | None = None
    overflow_after_s: float | None = None
    weight: float = 1.0
    named_agent_fallback_s: float = 60.0
    initial_aht_s: float = 300.0
    name: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.min_proficiency <= 5:
            raise ConfigError(f"queue {self.id}: min_proficiency must be 1..5")
        if not self.tiers:
            raise ConfigError(f"queue {self.id}: needs at least one tier")
        waits = [t.opens_after_s for t in self.tiers]
        if waits != sorted(waits) or len({t.tier for t in self.tiers}) != len(self.tiers):
            raise ConfigError(f"queue {self.id}: tiers must be distinct, by opening time")
        wrap_up = 0.0 if self.wrap_up_s is None else self.wrap_up_s
        if self.ring_timeout_s <= 0 or wrap_up < 0 or self.weight <= 0:
            raise ConfigError(f"queue {self.id}: ring timeout, wrap-up and weight out of range")
        if self.callback_retry_s < 0 or self.callback_attempts < 1:
            raise ConfigError(f"queue {self.id}: callback retries out of range")
        if (self.overflow_queue is None) != (self.overflow_after_s is None):
            raise ConfigError(f"queue {self.id}: overflow needs both a queue and a delay")
        if self.overflow_queue == self.id:
            raise ConfigError(f"queue {self.id}: cannot overflow to itself")


@dataclasses.dataclass(frozen=True, slots=True)
class Shift(_Codec):
    """A rota shift: on the given weekdays (0 = Monday), from ``start`` to ``end``.

    Times are ``"HH:MM"`` in the centre's time zone. A shift whose end is not after its
    start runs past midnight (night duty: ``"18:00"``–``"08:00"`` starting that day).
    """

    start: str
    end: str
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
    night_duty: bool = False

    def __post_init__(self) -> None:
        for text in (self.start, self.end):
            hh, sep, mm = text.partition(":")
            if not sep or not (hh.isdigit() and mm.isdigit()):
                raise ConfigError(f"shift time {text!r} is not HH:MM")
            if not (0 <= int(hh) < 24 and 0 <= int(mm) < 60) and text != "24:00":
                raise ConfigError(f"shift time {text!r} is out of range")
        if not self.weekdays or any(not 0 <= d <= 6 for d in self.weekdays):
            raise ConfigError("shift weekdays must be 0..6")

    @property
    def start_s(self) -> float:
        """Start as seconds after local midnight."""
        hh, _, mm = self.start.partition(":")
        return int(hh) * 3600.0 + int(mm) * 60.0

    @property
    def end_s(self) -> float:
        """End as seconds after the start day's local midnight (past 24 h for night duty)."""
        hh, _, mm = self.end.partition(":")
        end = int(hh) * 3600.0 + int(mm) * 60.0
        return end if end > self.start_s else end + SECONDS_PER_DAY


@dataclasses.dataclass(frozen=True, slots=True)
class AgentProfile(_Codec):
    """Who an agent is, for routing: skills, tiers, languages, rota.

    ``skills`` maps a skill to a proficiency 1–5. ``tiers`` gives the agent's tier per
    queue (1 when a queue is not listed). An agent with no ``shifts`` has no rota and is
    on duty whenever signed in.
    """

    id: AgentId
    skills: Mapping[Skill, int]
    tiers: Mapping[QueueId, int] = dataclasses.field(default_factory=dict)
    languages: frozenset[Language] = frozenset({Language("zh")})
    shifts: tuple[Shift, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        if any(not 1 <= p <= 5 for p in self.skills.values()):
            raise ConfigError(f"agent {self.id}: proficiency must be 1..5")

    def __hash__(self) -> int:
        return hash(self.id)


@dataclasses.dataclass(frozen=True, slots=True)
class PriorityClass(_Codec):
    """A class of callers; a higher ``level`` is served first (green channel)."""

    name: str
    level: int


DEFAULT_PRIORITY_CLASSES: tuple[PriorityClass, ...] = (
    PriorityClass("ordinary", 0),
    # 绿色通道: migrant workers claiming unpaid wages, elderly and disabled callers.
    PriorityClass("wage_claim", 10),
    PriorityClass("elderly", 10),
    PriorityClass("disabled", 10),
)


def default_queues() -> tuple[QueueConfig, ...]:
    """One queue per service category, each requiring the skill of the same name."""
    return tuple(
        QueueConfig(id=QueueId(c.value), required_skill=Skill(c.value), name=c.value)
        for c in Category
    )


@dataclasses.dataclass(frozen=True, slots=True)
class RoutingConfig(_Codec):
    """Everything the engine is configured with."""

    queues: tuple[QueueConfig, ...] = dataclasses.field(default_factory=default_queues)
    priority_classes: tuple[PriorityClass, ...] = DEFAULT_PRIORITY_CLASSES
    # The rota: agents known before they sign in, used to tell "outside all shifts".
    roster: tuple[AgentProfile, ...] = ()
    # Asia/Shanghai, no DST.
    utc_offset_s: float = 8 * 3600.0
    max_missed_offers: int = 2
    abandon_return_s: float = 60.0
    position_interval_s: float = 5.0
    # How long an agent who rejected or missed a session is skipped for that session.
    reoffer_after_s: float = 30.0
    # Send a caller voicemail when no rostered agent for the queue is on shift.
    voicemail_outside_shifts: bool = True
    # A caller's position/estimate are rounded to this many seconds, so that small
    # changes in the estimate do not count as a change worth telling.
    estimate_granularity_s: float = 15.0

    def __post_init__(self) -> None:
        ids = [q.id for q in self.queues]
        if len(set(ids)) != len(ids):
            raise ConfigError("queue ids must be unique")
        for q in self.queues:
            if q.overflow_queue is not None and q.overflow_queue not in ids:
                raise ConfigError(f"queue {q.id} overflows to unknown {q.overflow_queue}")
        names = [p.name for p in self.priority_classes]
        if len(set(names)) != len(names) or "ordinary" not in names:
            raise ConfigError("priority classes must be unique and include 'ordinary'")
        if self.max_missed_offers < 1 or self.position_interval_s < 0:
            raise ConfigError("max_missed_offers must be >= 1, position interval >= 0")

    def queue(self, queue_id: QueueId) -> QueueConfig | None:
        """The queue with this id, if configured."""
        for q in self.queues:
            if q.id == queue_id:
                return q
        return None
