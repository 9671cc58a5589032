"""Actions returned by :meth:`routing.engine.Engine.handle` for the driver to carry out.

Frozen dataclasses tagged by ``kind``, with ``to_dict()`` and :func:`action_from_dict`.
Timers: ``StartTimer(key, at)`` asks the driver to feed ``TimerFired(now=at, key)`` back
at ``at`` (a later ``StartTimer`` with the same key replaces it); ``CancelTimer(key)``
withdraws it. A timer that fires anyway after being cancelled is ignored by the engine.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any, ClassVar

from routing import _codec
from routing.errors import SerializationError
from routing.ids import AgentId, CallerKey, QueueId, SessionId, TimerKey
from routing.presence import Presence


class Outcome(enum.StrEnum):
    """The one way each session ends."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    CALLBACK_DONE = "callback_done"
    # A callback attempt that did not reach the caller (it may be tried again).
    CALLBACK_FAILED = "callback_failed"
    VOICEMAIL = "voicemail"
    TRANSFERRED = "transferred"
    EXPIRED = "expired"
    # The agent's connection was lost mid-call: the caller goes on as a new session.
    INTERRUPTED = "interrupted"


@dataclasses.dataclass(frozen=True, slots=True)
class Action:
    """Base of all actions."""

    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict tagged by ``kind``."""
        data: dict[str, Any] = _codec.to_jsonable(self)
        return {"kind": self.kind, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Action:
        """Rebuild any action from :meth:`to_dict` output (dispatching on ``kind``)."""
        return action_from_dict(data)


@dataclasses.dataclass(frozen=True, slots=True)
class OfferSession(Action):
    """Ring ``agent`` with ``session`` until ``expires_at``.

    For a callback, ``callback_number`` is the (masked) number the agent is to call back.
    """

    kind: ClassVar[str] = "offer_session"
    agent: AgentId
    session: SessionId
    queue: QueueId
    expires_at: float
    priority: str = "ordinary"
    callback_number: str | None = None
    waited_s: float = 0.0
    # A consult leg: the live session whose agent asks for this one (ConsultRequested).
    consult_of: SessionId | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class CancelOffer(Action):
    """Stop ringing ``agent`` with ``session`` (timeout, caller gone, agent on break …)."""

    kind: ClassVar[str] = "cancel_offer"
    agent: AgentId
    session: SessionId
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectSession(Action):
    """The offer was accepted: bridge the caller and the agent."""

    kind: ClassVar[str] = "connect_session"
    agent: AgentId
    session: SessionId
    queue: QueueId


@dataclasses.dataclass(frozen=True, slots=True)
class StartTimer(Action):
    """Feed ``TimerFired(key)`` back at time ``at`` (replacing any timer with that key)."""

    kind: ClassVar[str] = "start_timer"
    key: TimerKey
    at: float


@dataclasses.dataclass(frozen=True, slots=True)
class CancelTimer(Action):
    """The timer ``key`` is no longer needed."""

    kind: ClassVar[str] = "cancel_timer"
    key: TimerKey


@dataclasses.dataclass(frozen=True, slots=True)
class TellPosition(Action):
    """Tell a waiting caller their place in line (1: next) and an estimated wait."""

    kind: ClassVar[str] = "tell_position"
    session: SessionId
    position: int
    estimated_wait_s: float | None  # None: nobody who could take it is on duty now


OFF_DUTY = "off_duty"


@dataclasses.dataclass(frozen=True, slots=True)
class OfferCallback(Action):
    """The caller has waited long: offer a callback (keeping the place) or voicemail."""

    kind: ClassVar[str] = "offer_callback"
    session: SessionId
    waited_s: float
    reason: str = "long_wait"  # or OFF_DUTY: nobody is on duty for the queue now


@dataclasses.dataclass(frozen=True, slots=True)
class CreateVoicemailTicket(Action):
    """Take a message: a ticket a lawyer answers the next day."""

    kind: ClassVar[str] = "create_voicemail_ticket"
    session: SessionId
    queue: QueueId
    caller: CallerKey | None
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class SessionMoved(Action):
    """A waiting session moved to another queue (overflow)."""

    kind: ClassVar[str] = "session_moved"
    session: SessionId
    from_queue: QueueId
    to_queue: QueueId
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class AgentPresenceChanged(Action):
    """An agent's presence changed (tell the agent's console and the supervisor wall)."""

    kind: ClassVar[str] = "agent_presence_changed"
    agent: AgentId
    presence: Presence
    reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SessionRecorded(Action):
    """The single terminal outcome of a session, for the driver to write to the database.

    ``resumed_from`` names the abandoned session whose place a returning caller got;
    ``transferred_to`` the session a transfer (or an ``INTERRUPTED`` leg) continues as.
    """

    kind: ClassVar[str] = "session_recorded"
    session: SessionId
    queue: QueueId
    outcome: Outcome
    queued_at: float
    ended_at: float
    offered_at: float | None = None
    answered_at: float | None = None
    agent: AgentId | None = None
    priority: str = "ordinary"
    caller: CallerKey | None = None
    resumed_from: SessionId | None = None
    transferred_to: SessionId | None = None


class ConsultState(enum.StrEnum):
    """Where a consult stands (``ConsultChanged``)."""

    RINGING = "ringing"  # asked for; offered, or waiting for an agent to be free
    CONNECTED = "connected"  # the consulted agent accepted: three in the call
    ENDED = "ended"  # withdrawn, left, or the call is over
    HANDED_OVER = "handed_over"  # the consult leg goes on as the call


@dataclasses.dataclass(frozen=True, slots=True)
class ConsultChanged(Action):
    """The consult ``consult`` of live session ``session`` changed state.

    On ``HANDED_OVER`` the consult leg goes on as the caller's session (in ``queue``),
    and the session's ``SessionRecorded`` (transferred to it) follows.

    ``requester`` is the session's agent, ``consultant`` the consulted agent once one
    accepted; ``reason`` says why it ended (withdrawn, left, call ended, agent lost).
    """

    kind: ClassVar[str] = "consult_changed"
    session: SessionId
    consult: SessionId
    state: ConsultState
    queue: QueueId  # the consult leg's: the queue asked for, or the call's
    requester: AgentId | None
    consultant: AgentId | None = None
    reason: str | None = None


ACTION_TYPES: dict[str, type[Action]] = {
    cls.kind: cls
    for cls in (
        OfferSession,
        CancelOffer,
        ConnectSession,
        StartTimer,
        CancelTimer,
        TellPosition,
        OfferCallback,
        CreateVoicemailTicket,
        SessionMoved,
        AgentPresenceChanged,
        SessionRecorded,
        ConsultChanged,
    )
}


def action_from_dict(data: Mapping[str, Any]) -> Action:
    """Rebuild an action from its ``to_dict()`` form."""
    cls = ACTION_TYPES.get(str(data.get("kind")))
    if cls is None:
        raise SerializationError(f"unknown action kind {data.get('kind')!r}")
    action: Action = _codec.build(cls, data)
    return action
